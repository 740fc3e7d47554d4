"""Refuse answers that would break the generated project, before any file is written.

Cookiecutter renders this file with Jinja, then runs it. Answers land in Python code, paths, YAML, TOML, shell
commands and GitHub workflows, so the rules are strict for identifiers and lenient for free text. `validate()` is pure
so tests can import the rendered module and call it directly.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# `tojson` output is JSON, not always a valid Python literal: `null` is not Python, and characters outside the BMP
# come out as surrogate-pair escapes that Python would keep as two broken code points. json.loads reads it exactly.
# The raw triple-quoted string cannot end early: JSON escapes every quote inside its strings with a backslash.
CONTEXT: dict[str, object] = json.loads(r"""{{ cookiecutter | tojson }}""")


# Written in pieces so that Jinja, which renders this file, does not read them as its own markers.
GITHUB_EXPRESSION = "$" + "{" * 2
TEMPLATE_MARKERS = ("{" * 2, "{" + "%")


def template_dir(context: dict[str, object]) -> Path | None:
    """The template being baked, when this machine has it: cookiecutter names its checkout `_repo_dir`; an
    update tool may give only `_template` (a path, or a URL it cloned elsewhere)."""
    for key in ("_repo_dir", "_template"):
        value = context.get(key)
        if isinstance(value, str) and value and (Path(value) / "cookiecutter.json").is_file():
            return Path(value)
    return None


def template_questions(template: Path | None) -> dict[str, object]:
    """cookiecutter.json's questions (underscore keys are settings, not questions)."""
    if template is None:
        return {}
    document = json.loads((template / "cookiecutter.json").read_text(encoding="utf-8"))
    return {key: value for key, value in document.items() if not key.startswith("_")}


TEMPLATE = template_dir(CONTEXT)
QUESTIONS = template_questions(TEMPLATE)
# Every question is checked; without the template at hand (an update tool replaying recorded answers that
# were checked when the project was made), the answers given are.
FIELDS = tuple(QUESTIONS) or tuple(key for key in CONTEXT if not key.startswith("_"))
ANSWERS: dict[str, object] = {field: CONTEXT.get(field) for field in FIELDS}
# A list in cookiecutter.json is a choice: the answer must be one of its items, read from the file itself.
CHOICES = {field: tuple(map(str, value)) for field, value in QUESTIONS.items() if isinstance(value, list)}

# The packages the project ships next to its own under src/: the bot's package must not take their names.
SRC_PACKAGES = frozenset({"evalharness", "observability", "yamlcheck"})


def src_packages(template: Path | None) -> frozenset[str]:
    """SRC_PACKAGES and whatever else the template has under src/ (its own package's folder is a placeholder)."""
    src = template / ("{" * 2 + "cookiecutter.project" + "}" * 2) / "src" if template else None
    found = {p.name for p in src.iterdir() if p.is_dir() and "{" not in p.name} if src and src.is_dir() else set()
    return SRC_PACKAGES | found


# A package with one of these names would shadow a dependency (or a conventional folder) of the generated project.
CLASHING_IMPORTS = frozenset(
    {
        "annotated_types", "anyio", "bm25s", "certifi", "click", "deepeval", "distro", "fastapi", "h11", "hatchling",
        "httpcore", "httpx", "idna", "jinja2", "jiter", "langsmith", "markupsafe", "numpy", "openai", "promptfoo",
        "pydantic", "pydantic_core", "pytest", "ruff", "scipy", "sniffio", "src", "starlette", "test", "tests", "tqdm",
        "typing_extensions", "uvicorn", "yaml",
    }
)  # fmt: skip
# `type` became a soft keyword in 3.12; listed so the answer is judged the same whichever Python runs cookiecutter.
KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"type"}
STDLIB_MODULES = frozenset(getattr(sys, "stdlib_module_names", ()))

# Line breaks and invisible direction overrides have no place in a one-line name; they can also disguise text.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
FREE_TEXT_LIMITS = {"project_name": 80, "description": 200, "author": 100}


@dataclass(frozen=True)
class Rule:
    """A strict answer: the whole value matches `pattern`, every character matches `char`."""

    pattern: str
    char: str
    max_len: int
    allowed: str
    shape: str = "does not start with a letter or digit"
    min_len: int = 1


MODEL_RULE = Rule(
    pattern=r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*",
    char=r"[A-Za-z0-9._:/@+-]",
    max_len=100,
    allowed="use an ASCII model id of up to 100 letters, digits and . _ : / @ + -, starting with a letter or digit, "
    "like gpt-4o-mini, llama3.1:8b or meta-llama/Llama-3-8B",
)
RULES = {
    "project": Rule(
        pattern=r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*",
        char=r"[a-z0-9-]",
        min_len=2,
        max_len=50,
        allowed="use 2-50 lowercase ASCII letters, digits and single hyphens, starting with a letter, "
        "like acme-support-bot",
        shape="does not start with a letter, or has a hyphen at the end or next to another hyphen",
    ),
    "package": Rule(
        pattern=r"[a-z][a-z0-9_]*",
        char=r"[a-z0-9_]",
        min_len=2,
        max_len=40,
        allowed="use a lowercase identifier of 2-40 ASCII letters, digits and underscores, starting with a letter, "
        "like my_chatbot",
        shape="does not start with a letter",
    ),
    "canary": Rule(
        pattern=r"[a-z0-9][a-z0-9-]*",
        char=r"[a-z0-9-]",
        min_len=12,
        max_len=64,
        allowed="use 12-64 lowercase ASCII letters, digits and hyphens that no answer would contain by chance, "
        "like the default canary-<16 random characters>",
        shape="does not start with a letter or digit",
    ),
    "model": MODEL_RULE,
    "judge_model": MODEL_RULE,
    "langsmith_project": Rule(
        pattern=r"[A-Za-z0-9][A-Za-z0-9._ -]*",
        char=r"[A-Za-z0-9._ -]",
        max_len=100,
        allowed="use up to 100 ASCII letters, digits, spaces and . _ -, starting with a letter or digit and not "
        "ending with a space, like my-chatbot",
    ),
    "model_tag_prefix": Rule(
        pattern=r"[A-Za-z][A-Za-z0-9._/-]*",
        char=r"[A-Za-z0-9._/-]",
        max_len=40,
        allowed="use up to 40 ASCII letters, digits and . _ - /, starting with a letter, such that <prefix>1.2.3 is "
        "a valid git tag, like model-v, v or release/",
        shape="does not start with a letter",
    ),
}


def show(value: str) -> str:
    """Quote a value for a message: one line, invisible characters escaped, long values shortened."""
    text = json.dumps(value, ensure_ascii=False)
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return text if len(text) <= 62 else f'{text[:58]}..."'


def check_rule(value: str, rule: Rule) -> str | None:
    if not value:
        return f"is empty; {rule.allowed}"
    if not value.isascii():
        return f"{show(value)} contains non-ASCII characters; {rule.allowed}"
    if not rule.min_len <= len(value) <= rule.max_len:
        return f"{show(value)} is {len(value)} characters long; {rule.allowed}"
    bad = next((ch for ch in value if not re.fullmatch(rule.char, ch)), None)
    if bad is not None:
        return f"{show(value)} contains {show(bad)}; {rule.allowed}"
    if not re.fullmatch(rule.pattern, value):
        return f"{show(value)} {rule.shape}; {rule.allowed}"
    return None


def check_package(value: str) -> str | None:
    allowed = "use a lowercase identifier like my_chatbot"
    if value in KEYWORDS:
        return f"{show(value)} is a Python keyword; {allowed}"
    if value in STDLIB_MODULES:
        return f"{show(value)} is a Python standard library module and would shadow it; {allowed}"
    if value in src_packages(TEMPLATE):
        return f"{show(value)} is the name of a package the project ships under src/ and would collide; {allowed}"
    if value in CLASHING_IMPORTS:
        return f"{show(value)} is the import name of a dependency or tool of the project and would shadow it; {allowed}"
    return None


def check_model(value: str) -> str | None:
    if any(part in ("", ".", "..") for part in value.split("/")):
        return f"{show(value)} has an empty, '.' or '..' path part; {MODEL_RULE.allowed}"
    return None


def check_langsmith_project(value: str) -> str | None:
    if value.endswith(" "):
        return f"{show(value)} ends with a space; {RULES['langsmith_project'].allowed}"
    return None


def git_ref_problem(name: str) -> str | None:
    """Why `git check-ref-format refs/tags/<name>` would refuse `name`, or None (rules of git-check-ref-format(1))."""
    for ch in name:
        if ord(ch) < 0x20 or ord(ch) == 0x7F or ch in " ~^:?*[\\":
            return f"contains {show(ch)}"
    if ".." in name:
        return "contains '..'"
    if "@{" in name or name == "@":
        return "contains '@{' or is '@'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "has an empty /-separated part"
    if name.endswith("."):
        return "ends with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return f"has a part starting with '.' ({show(part)})"
        if part.endswith(".lock"):
            return f"has a part ending with '.lock' ({show(part)})"
    return None


def check_tag_prefix(value: str) -> str | None:
    tag = f"{value}1.2.3"
    problem = git_ref_problem(tag)
    if problem:
        allowed = RULES["model_tag_prefix"].allowed
        return f"{show(value)} makes tags like {show(tag)}, which git refuses because it {problem}; {allowed}"
    return None


def check_free_text(value: str, max_len: int) -> str | None:
    allowed = f"use one line of up to {max_len} characters without backslashes, double quotes or template markers"
    if not value.strip():
        return f"is empty; {allowed}"
    if len(value) > max_len:
        return f"{show(value)} is {len(value)} characters long; {allowed}"
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in BIDI_CONTROLS:
            return f"{show(value)} contains {show(ch)}, a line break or invisible control character; {allowed}"
    if "\\" in value:
        return f"{show(value)} contains a backslash; {allowed}"
    if '"' in value:
        return f"{show(value)} contains a double quote; {allowed}"
    if any(marker in value for marker in TEMPLATE_MARKERS):
        return f"{show(value)} contains a Jinja template marker; {allowed}"
    return None


EXTRA_CHECKS = {
    "package": check_package,
    "model": check_model,
    "judge_model": check_model,
    "langsmith_project": check_langsmith_project,
    "model_tag_prefix": check_tag_prefix,
}


def check_field(field: str, value: object) -> str | None:
    if not isinstance(value, str):
        return f"has no text answer (got {json.dumps(value)}); answer with a string"
    # Checked first for every field: a workflow that contains the answer would evaluate it with access to secrets.
    if GITHUB_EXPRESSION in value:
        return f"{show(value)} contains a GitHub Actions expression; GitHub expressions are not allowed, use plain text"
    if field in CHOICES:
        if value not in CHOICES[field]:
            return f"{show(value)} is not a choice; use one of {', '.join(CHOICES[field])}"
        return None
    if field in FREE_TEXT_LIMITS:
        return check_free_text(value, FREE_TEXT_LIMITS[field])
    if field not in RULES:
        if not QUESTIONS:  # no cookiecutter.json at hand: a choice, checked when the answers were first given
            return None
        # a new question in cookiecutter.json needs a rule here before anyone can bake
        return "has no check in hooks/pre_gen_project.py; add a rule for it (a bug of the template)"
    problem = check_rule(value, RULES[field])
    if problem is None and field in EXTRA_CHECKS:
        problem = EXTRA_CHECKS[field](value)
    return problem


def validate(answers: dict[str, str]) -> list[str]:
    """Every problem with the answers, as `<field>: <what is wrong>; <what is allowed>`."""
    errors = []
    for field in FIELDS:
        problem = check_field(field, answers.get(field))
        if problem:
            errors.append(f"{field}: {problem}")
    return errors


def main() -> None:
    # Answers may hold any character; never let a narrow terminal encoding turn an error report into a crash.
    if hasattr(sys.stderr, "reconfigure"):
        sys.stderr.reconfigure(errors="backslashreplace")
    errors = validate(ANSWERS)
    if errors:
        for error in errors:
            print(f"ERROR: {error}", file=sys.stderr)
        print("Nothing was generated. Fix the answers above and run cookiecutter again.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
