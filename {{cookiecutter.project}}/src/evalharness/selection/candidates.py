"""evals/candidates.yaml: the models a team could use, each a set of overrides of bot.yaml.

A candidate's bot.yaml is bot.yaml's own text with only the overridden values changed (comments and order
kept), so the file evaluated is the file a switch to that candidate would commit. The project's own loader
validates it, and its problems are reported at the lines of candidates.yaml that caused them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from evalharness.settings import Price
from yamlcheck import FileError, Location, line_of, load_yaml, parse_yaml, validate_file

CURRENT = "current"  # the contestant that is bot.yaml as committed
NAME = re.compile(r"^(?!.*\.\.)[a-z0-9][a-z0-9._-]{0,62}(?<![.])(?<!\.lock)$")  # also a file, artifact, branch name


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    price: Price | None = None  # USD per million tokens; default: eval.yaml's prices for the model
    overrides: dict[str, Any] = Field(min_length=1)  # bot.yaml keys, nested as there


class CandidatesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    candidates: dict[str, Candidate] = Field(min_length=1)


def load_candidates(path: Path) -> tuple[dict[str, Candidate], dict[Location, int]]:
    data, lines = load_yaml(path)
    candidates = validate_file(path, CandidatesFile, data, lines).candidates
    problems = []
    for name in candidates:
        if name == CURRENT:
            problems.append((lines.get(("candidates", name)), f"candidates.{name}: reserved for bot.yaml as committed"))
        elif not NAME.match(name):
            problems.append(
                (lines.get(("candidates", name)), f"candidates.{name}: use lowercase letters, digits, '.', '-', '_'")
            )
    if problems:
        raise FileError(path, *problems[0], *problems[1:])
    return candidates, lines


def candidate_text(base_text: str, overrides: dict[str, Any]) -> str:
    """bot.yaml's text with `overrides` applied: each overridden scalar changed on its own line (its comment
    kept), a new key inserted under its parent. Anything that cannot be edited in place (a block scalar, a
    flow mapping) falls back to a plain dump of the merged data, which loses the comments but not the meaning."""
    expected = deep_merge(yaml.safe_load(base_text) or {}, overrides)
    try:
        text = base_text
        for path, value in _leaves(overrides):
            text = _set(text, path, value)
        if yaml.safe_load(text) == expected:
            return text
    except (_CannotEdit, yaml.YAMLError, FileError, TypeError, ValueError):
        pass  # a layout this line editor does not handle (multi-line values, anchors, ...): dump instead
    return yaml.safe_dump(expected, sort_keys=False, allow_unicode=True)


def write_candidate_config(base: Path, candidate: Candidate, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(candidate_text(base.read_text(encoding="utf-8"), candidate.overrides), encoding="utf-8")
    return out


def check_candidates(
    path: Path,
    candidates: dict[str, Candidate],
    lines: dict[Location, int],
    base: Path,
    out_dir: Path,
    check_config: Callable[[Path], None] | None,
) -> dict[str, Path]:
    """Write every candidate's bot.yaml into out_dir and validate it with the project's loader; all problems
    of all candidates become one FileError located in candidates.yaml."""
    written, problems = {}, []
    for name, candidate in candidates.items():
        config = write_candidate_config(base, candidate, out_dir / f"{name}.bot.yaml")
        written[name] = config
        if check_config is None:
            continue
        try:
            check_config(config)
        except FileError as exc:
            where = _key_at_line(config)
            for line, message in exc.problems:
                key = where.get(line, ())
                loc = ("candidates", name, "overrides", *key)
                problems.append((line_of(lines, loc), f"candidates.{name}: {message}"))
    if problems:
        raise FileError(path, *problems[0], *problems[1:])
    return written


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------- editing YAML text in place


class _CannotEdit(Exception):
    pass


# `key: value  # comment` on one line. The value is a quoted string (which may hold '#'), or a plain one,
# where '#' starts a comment only after whitespace.
_ENTRY = re.compile(
    r"""^(\s*(?:-\s+)?[^\s:#][^:#]*?)\s*:(\s*)"""
    r"""("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|(?:[^\s#]|(?<=\S)#)(?:[^\n#]|(?<=\S)#)*?)?"""
    r"""(\s+#.*)?(\n?)$"""
)


def _leaves(overrides: dict[str, Any], prefix: tuple[str, ...] = ()):
    for key, value in overrides.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, str(key)))
        else:
            yield (*prefix, str(key)), value


def _scalar(value: Any) -> str:
    # JSON is YAML: strings quoted, null, true/false, numbers, lists and mappings in flow style.
    return json.dumps(value, ensure_ascii=False)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][\w-]*", key) else _scalar(key)


def _set(text: str, path: tuple[str, ...], value: Any) -> str:
    lines = text.splitlines(keepends=True)
    _, index = parse_yaml(text, Path("bot.yaml"))
    if path in index:
        number = index[path] - 1
        match = _ENTRY.match(lines[number])
        if not match or match.group(1).strip() not in (path[-1], _scalar(path[-1])):
            raise _CannotEdit(path)
        if not match.group(3) or match.group(3).strip() in ("|", ">", "|-", ">-"):
            raise _CannotEdit(path)
        lines[number] = f"{match.group(1)}: {_scalar(value)}{match.group(4) or ''}{match.group(5)}"
        return "".join(lines)
    # A new key: under its deepest existing parent, after that parent's last line, one level deeper.
    depth = max(d for d in range(len(path)) if path[:d] in index or d == 0)
    parent = path[:depth]
    children = [line for key, line in index.items() if key[:depth] == parent and len(key) > depth]
    if not children:  # an empty document, or a parent that is not a mapping
        raise _CannotEdit(path)
    after = max(children)
    siblings = [line for key, line in index.items() if key[:depth] == parent and len(key) == depth + 1]
    indent = len(lines[min(siblings) - 1]) - len(lines[min(siblings) - 1].lstrip(" "))
    nested = path[depth:]
    block = "".join(f"{' ' * (indent + 2 * i)}{_key(key)}:\n" for i, key in enumerate(nested[:-1]))
    block += f"{' ' * (indent + 2 * (len(nested) - 1))}{_key(nested[-1])}: {_scalar(value)}\n"
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.insert(_end_of_entry(lines, after), block)
    return "".join(lines)


def _end_of_entry(lines: list[str], line: int) -> int:
    """The index after the last line of the entry starting at 1-based `line` (its nested lines and comments
    that are indented deeper belong to it)."""
    start = lines[line - 1]
    indent = len(start) - len(start.lstrip(" "))
    end = line
    while end < len(lines):
        nxt = lines[end]
        stripped = nxt.strip()
        if stripped and (len(nxt) - len(nxt.lstrip(" "))) <= indent:
            break
        end += 1
    while end > line and not lines[end - 1].strip():  # keep the blank line that separates sections
        end -= 1
    return end


def _key_at_line(config: Path) -> dict[int, tuple[str, ...]]:
    """Line -> the deepest key path on it, to map a problem in a written config back to an override."""
    _, index = load_yaml(config)
    at: dict[int, tuple[str, ...]] = {}
    for key, line in index.items():
        if all(isinstance(part, str) for part in key) and len(key) >= len(at.get(line, ())):
            at[line] = key
    return at
