"""The `evalharness` command (and `python -m evalharness`): `ci STEP` goes to what the workflows run, anything
else to the harness's own commands. Routing here keeps the arrows one way: CI steps build on the commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ci"]:  # before anything else is imported: some steps run with the standard library only
        from evalharness.ci.cli import main as ci

        return ci(argv[1:])
    from evalharness.cli import main as commands

    return commands(argv)


if __name__ == "__main__":
    raise SystemExit(main())
