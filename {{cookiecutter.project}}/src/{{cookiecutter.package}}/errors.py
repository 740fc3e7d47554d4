"""Errors the user can act on, with the exit codes shared by the CLI and the eval gate."""

from __future__ import annotations

import os
from pathlib import Path

EXIT_BAD_INPUT = 2  # a user file or argument is wrong: fix it
EXIT_INFRA = 3  # the model, judge or network failed: not a quality verdict


class FileError(Exception):
    """Problems in one user file, each located as `path:line: message` so editors and CI can jump to it."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path: str | Path, line: int | None, message: str, *more: tuple[int | None, str]):
        super().__init__(message)
        self.path = Path(path)
        self.problems: list[tuple[int | None, str]] = [(line, message), *more]

    @property
    def line(self) -> int | None:
        return self.problems[0][0]

    def __str__(self) -> str:
        where = display_path(self.path)
        return "\n".join(f"{where}:{line}: {msg}" if line else f"{where}: {msg}" for line, msg in self.problems)

    def github_annotations(self) -> str:
        """The same problems as GitHub Actions workflow commands, so they show on the PR diff."""
        out = []
        for line, msg in self.problems:
            where = f"file={display_path(self.path)}" + (f",line={line}" if line else "")
            out.append(f"::error {where}::{_escape_annotation(msg)}")
        return "\n".join(out)


class ProviderError(Exception):
    """The model could not answer (timeout, unreachable, HTTP error): an infrastructure failure."""

    exit_code = EXIT_INFRA


class MissingKeyError(ProviderError):
    """A live run without its key: infrastructure, never a quality verdict."""


def display_path(path: Path) -> str:
    """Relative to the working directory when possible: short, and what CI annotations expect."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def under_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape_annotation(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
