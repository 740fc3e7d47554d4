"""Choosing cases with -k (EVAL_SELECT, `make eval SELECT=`): words match suite names, case ids and tags, as
pytest's -k matches test names; suites left with no case are not run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalharness.options import RunOptions
from evalharness.pytest_plugin import matching_cases
from evalharness.run import prepare

from tests.conftest import SAMPLE_CASES


@pytest.fixture
def inputs(eval_project: Path):
    return prepare(RunOptions.from_env())


def test_words_match_ids_tags_and_suites_case_insensitively(inputs) -> None:
    support = {case.id for case in inputs.datasets["support"].cases}
    by_tag = {c.id for c in inputs.datasets["support"].cases if "account-and-login" in c.tags}
    assert {i for s, i in matching_cases("account-and-login", inputs) if s == "support"} == by_tag
    assert {s for s, _ in matching_cases("PROBES", inputs)} == {"probes"}  # a suite name picks its cases
    password = matching_cases("password", inputs)
    assert password and all("password" in i or any("password" in t for t in _tags(inputs, s, i)) for s, i in password)
    everything = {(s, c.id) for s, d in inputs.datasets.items() for c in d.cases}
    assert matching_cases("not password", inputs) == everything - password  # negation is per case, not per suite
    assert matching_cases("support and not in-scope", inputs) < {("support", i) for i in support}
    assert matching_cases("no-such-word-anywhere", inputs) == set()


def _tags(inputs, suite: str, case_id: str) -> list[str]:
    return next(c.tags for c in inputs.datasets[suite].cases if c.id == case_id)


@pytest.mark.slow
def test_plain_pytest_k_selects_cases_and_deselects_empty_suites(eval_project: Path) -> None:
    """`pytest evals -k` and `evalharness run` are the same run: -k picks cases, the results say which."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "evals", "-q", "-p", "no:cacheprovider", "-k", "probes and inject"],
        capture_output=True, text=True, env={**os.environ, "EVAL_RESULTS": "results/k"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "deselected" in proc.stdout, proc.stdout
    outputs = (eval_project / "results/k/outputs.jsonl").read_text(encoding="utf-8").splitlines()
    assert 0 < len(outputs) < SAMPLE_CASES
    assert all('"suite": "probes"' in line and "inject" in line for line in outputs)
