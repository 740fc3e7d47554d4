"""A freshly baked project passes its own `make install lint test` without edits, for every option set.

Slow: each bake installs its dependencies with uv (from uv's cache after the first one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import (
    CASES,
    INSTALLED_SETS,
    OPTION_SETS,
    TEMPLATE_DIR,
    cookiecutter_env,
    run_cookiecutter,
    share_promptfoo_install,
)

pytestmark = pytest.mark.slow


# The Makefile's own variables: a user types them on the make command line (`make eval RESULTS=dir`); the same
# names in the environment are ignored on purpose, so they go on the command line here too.
MAKE_VARIABLES = {"RESULTS", "BASELINE", "GATE_MODE", "CACHE_MODE", "CACHE", "SELECT", "SHARD", "REPEATS",
                  "CANDIDATE", "CANDIDATES", "SET", "ACCEPT_WORSE", "BUMP", "BOT_PROVIDER", "SHARDS"}  # fmt: skip


def make(project_dir: Path, *args: str, timeout: int = 900, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the baked project's Makefile the way a user would, minus their keys (the demo must work without)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGSMITH_", "BOT_"))}
    environment = {k: v for k, v in environment.items() if not k.startswith("EVAL_")}
    environment.pop("VIRTUAL_ENV", None)  # the template's own venv must not leak into the project's
    environment.update({k: v for k, v in env.items() if k not in MAKE_VARIABLES})
    command_line = [f"{k}={v}" for k, v in env.items() if k in MAKE_VARIABLES]
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(project_dir), *args, *command_line],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )


def _python(version: str) -> str | None:
    """An interpreter of this minor version on this machine (uv cannot download one offline)."""
    found = shutil.which(f"python{version}")
    candidates = [*sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")), found]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True)
        if probe.returncode == 0:
            return str(candidate)
    return None


def _junit(path: Path) -> dict[str, int]:
    """The test counts pytest wrote: read from its JUnit file, not from its console output."""
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    return {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}


def _junit_cases(path: Path) -> set[str]:
    """Every test that ran, as `module.Class::name` from the JUnit file (xdist workers report there too)."""
    return {f"{case.get('classname')}::{case.get('name')}" for case in ET.parse(path).getroot().iter("testcase")}


def _slow_tests(project: Path) -> set[str]:
    """The project's slow tests in the JUnit spelling, as its own pytest collects them."""
    proc = subprocess.run(
        [str(project / ".venv/bin/pytest"), "--collect-only", "-q", "-m", "slow", "-p", "no:cacheprovider"],
        capture_output=True, text=True, cwd=project,
    )  # fmt: skip
    node_ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert proc.returncode == 0 and node_ids, proc.stdout[-2000:] + proc.stderr[-2000:]
    spelled = set()
    for node_id in node_ids:  # tests/test_x.py::Class::test_y[p] is classname tests.test_x.Class, name test_y[p]
        file, *classes, name = node_id.split("::")
        spelled.add(".".join([file.removesuffix(".py").replace("/", "."), *classes]) + f"::{name}")
    return spelled


@pytest.mark.parametrize("option_set", INSTALLED_SETS)
def test_baked_project_installs_lints_and_passes_its_tests(
    tmp_path: Path, option_set: str, request: pytest.FixtureRequest
) -> None:
    answers = OPTION_SETS[option_set]
    result = run_cookiecutter(tmp_path / "out", answers)
    assert result.exit_code == 0, result.output
    project = result.project_dir
    if option_set == "default":  # its promptfoo CLI: the one this test run installed with the same make rule
        share_promptfoo_install(project, request.getfixturevalue("promptfoo_modules"))
    env = {}
    if "python_version" in answers and answers["python_version"] != "3.11":
        interpreter = _python(answers["python_version"])
        if interpreter is None:  # a CI machine must have it: this set is the proof that the version works
            assert os.environ.get("CI") != "true", f"no Python {answers['python_version']} on this CI machine"
            pytest.skip(f"no Python {answers['python_version']} here")
        env["UV_PYTHON"] = interpreter

    # The slow tests run whole eval processes through the generic harness (byte-identical in every option set):
    # the full suite runs once, for the default answers; the other option sets run everything else.
    tests = "test-all" if option_set == "default" else "test"
    junit = tmp_path / "junit.xml"
    proc = make(project, "install", "lint", tests, PYTEST_ADDOPTS=f"--junitxml={junit}", **env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    counts = _junit(junit)
    assert counts["tests"] > 100 and counts["failures"] == counts["errors"] == 0, counts
    assert counts["skipped"] <= 2, counts  # the offline tests have nothing to skip; a skip hides a check
    slow, ran = _slow_tests(project), _junit_cases(junit)
    assert slow, "the baked project marks its whole-eval-process tests slow"
    assert (slow & ran) == (slow if tests == "test-all" else set()), sorted(slow - ran or slow & ran)[:5]
    if env:
        version = subprocess.run([str(project / ".venv/bin/python"), "--version"], capture_output=True, text=True)
        assert version.stdout.startswith(f"Python {answers['python_version']}."), version.stdout
    # promptfoo's real runs must not be skipped.
    assert "promptfoo CLI not installed" not in proc.stdout
    with_promptfoo = OPTION_SETS[option_set].get("promptfoo", "yes") == "yes"
    assert (project / "node_modules").is_dir() == (with_promptfoo and tests == "test-all")
    assert (project / "uv.lock").is_file(), "make install must leave a uv.lock to commit"

    help_text = make(project, "help").stdout
    for target in ("install", "demo", "chat", "test", "test-all", "lint", "eval", "gate", "report", "merge", "curate"):
        assert f"make {target} " in help_text
    too_wide = [line for line in help_text.splitlines() if len(line) > 100]
    assert not too_wide, too_wide
    assert ("make promptfoo " in help_text) == with_promptfoo


def test_demo_answers_offline_with_sources(tmp_path: Path) -> None:
    project = run_cookiecutter(tmp_path / "out", {}).project_dir
    proc = make(project, "demo")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Forgot password?" in proc.stdout
    assert "[1] account-and-login.md" in proc.stdout
    assert "answered by offline" in proc.stdout

    # Quotes and shell metacharacters in a question reach the bot intact.
    tricky = 'What does the "Plus" plan cost; $HOME `id`?'
    proc = make(project, "chat", Q=tricky, BOT_PROVIDER="offline")
    assert proc.returncode == 0, proc.stderr
    assert "$8 per member per month" in proc.stdout
    assert '"question": ' not in proc.stdout  # plain output, not JSON

    # Without a key and without PROVIDER, chat still answers, and says once why it is offline.
    proc = make(project, "chat", Q="How do I turn on two-factor authentication?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("OPENAI_API_KEY is not set") == 1


def test_template_demo_target(tmp_path: Path) -> None:
    """The template README's first command: bake the default project and run it offline."""
    env = cookiecutter_env()
    env = {k: v for k, v in env.items() if not k.startswith(("OPENAI_", "LANGSMITH_", "BOT_", "VIRTUAL_ENV"))}
    proc = subprocess.run(
        ["make", "-C", str(TEMPLATE_DIR), "demo", f"DEMO_DIR={tmp_path / 'demo'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Forgot password?" in proc.stdout and "Sources:" in proc.stdout
    demo = tmp_path / "demo" / "my-chatbot"
    assert (demo / "uv.lock").is_file()
    # Then the evals, twice (the second from the cache): the no-op gate PASSes ...
    assert f"model calls: 0 live, {CASES} cached" in proc.stdout
    noop = json.loads((demo / "results" / "demo" / "verdict.json").read_text(encoding="utf-8"))
    assert (noop["verdict"], noop["exit_code"]) == ("PASS", 0)
    # ... and the broken variant FAILs with exit 1, stopped early, its regressed cases named and the cause shown.
    broken = json.loads((demo / "results" / "demo-broken" / "verdict.json").read_text(encoding="utf-8"))
    assert (broken["verdict"], broken["exit_code"]) == ("FAIL", 1)
    assert "Changed: bot.yaml retrieval.top_k 4 → 1" in broken["headline"]
    assert broken["regressions"] and all(case["lost"] for case in broken["regressions"])
    assert "stopped early at look 1: FAIL is certain" in proc.stdout
    assert proc.stdout.index("Eval gate: PASS") < proc.stdout.index("Eval gate: FAIL")
    assert "the gate passed the no-op and failed the broken variant" in proc.stdout
    assert "top_k: 4" in (demo / "bot.yaml").read_text(encoding="utf-8")  # the user's file is untouched
