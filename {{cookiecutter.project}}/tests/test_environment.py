"""Every variable the harness reads is EVAL_-prefixed and listed in README "Environment", and the table lists
nothing the code no longer reads (read from the source itself, so a new variable cannot go undocumented)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIABLE = re.compile(r"\bEVAL_[A-Z][A-Z_]*[A-Z]\b")


def _used() -> set[str]:
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / ".github").rglob("*.yml"), ROOT / "Makefile"]
    return {name for path in files for name in VARIABLE.findall(path.read_text(encoding="utf-8"))}


def _documented() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Environment\n") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| `EVAL_")]
    return {name for row in rows for name in VARIABLE.findall(row.split("|")[1])}


def test_every_harness_variable_is_documented_and_every_documented_one_is_read() -> None:
    used, documented = _used(), _documented()
    assert len(used) > 15
    assert used - documented == set(), "read by the code but missing from README 'Environment'"
    assert documented - used == set(), "listed in README 'Environment' but read nowhere"


def test_run_options_name_only_documented_variables() -> None:
    from evalharness.options import VARIABLES

    assert set(VARIABLES) <= _documented()


def test_the_make_short_names_become_eval_variables() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    short = re.search(r"^SHORT_NAMES := (.+)$", makefile, re.M).group(1).split()
    assert {f"EVAL_{name}" for name in short} <= _documented()
