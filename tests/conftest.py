"""Fixtures for baking the template: `bake(**answers)` runs the real cookiecutter CLI."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
# Cases of the sample suites (support questions and red-team probes): what one `make eval` evaluates.
CASES = sum(
    line.startswith("  - id: ")
    for name in ("support", "probes")
    for line in (TEMPLATE_DIR / "{{cookiecutter.project}}/evals/datasets" / f"{name}.yaml")
    .read_text("utf-8")
    .splitlines()
)

# Named option combinations that every structural test runs against.
OPTION_SETS: dict[str, dict[str, str]] = {
    "default": {},
    "no-api": {"http_api": "no", "promptfoo": "no"},
    "custom": {
        "project": "acme-help-desk",
        "package": "acme_helpdesk",
        "model": "llama3.1:8b",
        "model_tag_prefix": "bot/",
        "python_version": "3.13",  # the newest minimum: the custom names and the version installed in one run
    },
    "api-only": {"http_api": "yes", "promptfoo": "no"},
    "promptfoo-only": {"http_api": "no", "promptfoo": "yes"},
    "py3.13": {"python_version": "3.13"},
}
# Option sets whose baked project installs, lints and runs its own tests (test_baked_project.py). The others
# differ only in files the bake tests check one by one, and their code runs in the sets listed here
# (py3.13's interpreter too: "custom" asks for it).
INSTALLED_SETS = ("default", "custom", "no-api")


@dataclass
class BakeResult:
    """What one cookiecutter run left behind."""

    exit_code: int
    stdout: str
    stderr: str
    output_dir: Path
    project_dir: Path | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def files(self) -> set[str]:
        """Every file of the baked project, as POSIX paths relative to its root."""
        assert self.project_dir is not None, self.output
        return {p.relative_to(self.project_dir).as_posix() for p in self.project_dir.rglob("*") if p.is_file()}

    def read(self, relative: str) -> str:
        assert self.project_dir is not None, self.output
        return (self.project_dir / relative).read_text(encoding="utf-8")


@functools.cache
def _cookiecutter_home() -> Path:
    """One scratch folder per test run for cookiecutter's config and replay files (never the user's home)."""
    home = Path(tempfile.mkdtemp(prefix="cookiecutter-home-"))
    (home / "config.yaml").write_text(f"replay_dir: {json.dumps(str(home / 'replay'))}\n", encoding="utf-8")
    return home


def cookiecutter_env() -> dict[str, str]:
    """The environment for a test bake: cookiecutter's own files stay out of the user's home and the bake folder."""
    config = _cookiecutter_home() / "config.yaml"
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "COOKIECUTTER_CONFIG": str(config)}


def run_cookiecutter(output_dir: Path, answers: dict[str, str]) -> BakeResult:
    """Bake with the real CLI, as a user would, so hook exit codes and output are real."""
    output_dir.mkdir(parents=True, exist_ok=True)
    extra = [f"{key}={value}" for key, value in answers.items()]
    proc = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output_dir), str(TEMPLATE_DIR), *extra],
        capture_output=True,
        text=True,
        env=cookiecutter_env(),
        timeout=120,
    )
    produced = [p for p in output_dir.iterdir() if p.is_dir()]
    return BakeResult(
        exit_code=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        output_dir=output_dir,
        project_dir=produced[0] if len(produced) == 1 else None,
    )


@pytest.fixture
def bake(tmp_path: Path):
    """`bake(**answers)` → BakeResult; each call bakes into its own empty folder."""
    counter = iter(range(1_000_000))

    def _bake(**answers: str) -> BakeResult:
        return run_cookiecutter(tmp_path / f"bake-{next(counter)}", answers)

    return _bake


@pytest.fixture(scope="session")
def promptfoo_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project's promptfoo CLI, installed once per test run by its own `make promptfoo-install`
    (npm ci: a minute and 1.7 GB), for the tests that need it to share."""
    result = run_cookiecutter(tmp_path_factory.mktemp("promptfoo") / "out", {})
    assert result.exit_code == 0, result.output
    proc = subprocess.run(
        ["make", "-C", str(result.project_dir), "promptfoo-install"], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return result.project_dir / "node_modules"


def share_promptfoo_install(project: Path, node_modules: Path) -> None:
    """Give a freshly baked default project the shared install, up to date in make's eyes (same lock file)."""
    assert (project / "package-lock.json").read_bytes() == (node_modules.parent / "package-lock.json").read_bytes()
    (project / "node_modules").symlink_to(node_modules)
    (node_modules / ".package-lock.json").touch()
