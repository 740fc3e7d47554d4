"""Errors the user can act on, with the exit codes shared by the CLI and the eval gate."""

from __future__ import annotations

import re

from yamlcheck import FileError, under_github_actions
from yamlcheck import report as report_file_error

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INFRA",
    "FileError",
    "MissingKeyError",
    "ProviderError",
    "report_file_error",
    "under_github_actions",
]

EXIT_BAD_INPUT = 2  # a user file or argument is wrong: fix it
EXIT_INFRA = 3  # the model, judge or network failed: not a quality verdict


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)]+", re.IGNORECASE)


class ProviderError(Exception):
    """The model could not answer (timeout, unreachable, HTTP error): an infrastructure failure."""

    exit_code = EXIT_INFRA

    @property
    def public(self) -> str:
        """The message without server addresses, for people outside (an HTTP client)."""
        return _URL.sub("<model server>", str(self))


class MissingKeyError(ProviderError):
    """A live run without its key: infrastructure, never a quality verdict."""
