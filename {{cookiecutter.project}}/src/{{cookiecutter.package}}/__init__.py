"""{{ cookiecutter.project_name }}: a retrieval-augmented support bot that answers from knowledge/*.md."""

__version__ = "0.1.0"
