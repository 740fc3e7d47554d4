"""YAML files checked against pydantic models, with every problem reported as `path:line: message`.

Shared by the bot (bot.yaml) and the eval harness (datasets, eval config); depends on neither.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

# libyaml's parser when PyYAML has it (its wheels do): ten times faster on a dataset of a thousand cases.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Location = tuple[str | int, ...]
Model = TypeVar("Model", bound=BaseModel)


class FileError(Exception):
    """Problems in one user file, each located as `path:line: message` so editors and CI can jump to it."""

    exit_code = 2  # bad input: the user must fix the file

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


def load_yaml(path: Path) -> tuple[Any, dict[Location, int]]:
    """Return the parsed document and a map from key path (e.g. ("retrieval", "top_k")) to 1-based line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise FileError(path, None, f"not UTF-8 text ({exc.reason})") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> tuple[Any, dict[Location, int]]:
    """`load_yaml` for text already in hand (`path` only names it in errors)."""
    loader = _LOADER(text)
    try:  # one parse gives both the data and the line of every key
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise FileError(path, line, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise FileError(path, None, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[Location, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


def _index_lines(node: yaml.Node, where: Location, lines: dict[Location, int]) -> None:
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*where, str(key_node.value))
            _index_lines(value_node, key, lines)
            lines[key] = key_node.start_mark.line + 1  # the key's own line reads best in messages
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*where, index), lines)


def line_of(lines: dict[Location, int], loc: Location) -> int | None:
    """The line of the deepest known prefix of `loc` (a missing key is reported at its parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def validate_file(path: Path, model: type[Model], data: Any, lines: dict[Location, int]) -> Model:
    """Validate `data` with a pydantic model; every error becomes a located problem of one FileError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            field = ".".join(str(part) for part in loc) or "(top level)"
            problems.append((line_of(lines, loc), f"{field}: {_plain(error)}"))
        raise FileError(path, *problems[0], *problems[1:]) from None


def _plain(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see the commented example file)"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"])


def display_path(path: Path) -> str:
    """Relative to the working directory when possible: short, and what CI annotations expect."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def report(error: FileError) -> int:
    """Print a FileError for people (and, under GitHub Actions, as annotations); return its exit code."""
    print(error, file=sys.stderr)
    if under_github_actions():
        print(error.github_annotations(), file=sys.stderr)
    return error.exit_code


def under_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape_annotation(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
