from {{ cookiecutter.package }}.cli import main

raise SystemExit(main())
