"""Shared fixtures: the project's own bot.yaml, a loopback OpenAI-compatible server, a clean environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import observability
from evalharness.datasets import load_dataset
from evalharness.settings import load_settings

from tests.fake_langsmith import FakeLangSmith
from tests.fake_openai import FakeOpenAI
from tests.loopback import loopback_guard

loopback_guard.install()  # from here on, this process cannot reach another host
GUARD_SITE = Path(loopback_guard.__file__).parent  # its sitecustomize.py guards the processes tests start

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BOT_YAML = PROJECT_ROOT / "bot.yaml"


def _sample_cases() -> int:
    settings, _ = load_settings(PROJECT_ROOT / "evals/eval.yaml")
    return sum(len(load_dataset(PROJECT_ROOT / "evals" / s.dataset).cases) for s in settings.suites.values())


SAMPLE_CASES = _sample_cases()  # every case of every suite: what one `make eval` evaluates


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A test that tries to reach a non-loopback host fails, whether it tried itself or through a process it
    started (the attempt is refused either way, so nothing leaves the machine)."""
    log = tmp_path / "non-loopback-attempts.log"
    monkeypatch.setenv(loopback_guard.LOG_VARIABLE, str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(GUARD_SITE), os.environ.get("PYTHONPATH")])))
    before = len(loopback_guard.ATTEMPTS)
    yield
    attempts = loopback_guard.ATTEMPTS[before:] + (log.read_text("utf-8").splitlines() if log.is_file() else [])
    del loopback_guard.ATTEMPTS[before:]
    if attempts:
        pytest.fail("tried to reach a host other than this machine:\n  " + "\n  ".join(attempts), pytrace=False)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Tests never see the developer's keys or endpoints: nothing can leave the machine by accident; turns and
    feedback kept without LangSmith go to the test's own directory, never the project's feedback/."""
    monkeypatch.setenv("BOT_FEEDBACK_DIR", str(tmp_path / "feedback"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "BOT_PROVIDER", "BOT_CONFIG", "GITHUB_ACTIONS", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    for name in ("API_KEY", "TRACING", "ENDPOINT", "PROJECT", "TRACING_V2"):
        monkeypatch.delenv(f"LANGSMITH_{name}", raising=False)
        monkeypatch.delenv(f"LANGCHAIN_{name}", raising=False)
    for name in ("BOT_ENVIRONMENT", "BOT_VARIANT", "BOT_RELEASE", "GIT_SHA"):
        monkeypatch.delenv(name, raising=False)
    observability.reset()
    yield
    observability.reset()


@pytest.fixture
def langsmith(monkeypatch: pytest.MonkeyPatch):
    """A running LangSmith stand-in, with the SDK's variables (endpoint and a fake key) pointing at it."""
    with FakeLangSmith() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server
        observability.flush()


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch):
    """A running loopback server, with the SDK's own variables pointing at it."""
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        yield server


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A scratch copy of bot.yaml, prompts/, knowledge/ and evals/ that a test may edit freely."""
    for name in ("prompts", "knowledge", "evals"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(BOT_YAML, tmp_path / "bot.yaml")
    return tmp_path


@pytest.fixture
def eval_project(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project copy as the working directory, evaluated offline, with its own results dir and cache."""
    monkeypatch.chdir(project_copy)
    monkeypatch.setenv("BOT_PROVIDER", "offline")
    monkeypatch.setenv("EVAL_CACHE", str(project_copy / ".eval-cache" / "calls.sqlite"))
    for name in [n for n in os.environ if n.startswith("EVAL_") and n != "EVAL_CACHE"] + [
        "JUDGE_API_KEY",
        "JUDGE_BASE_URL",
    ]:
        monkeypatch.delenv(name, raising=False)  # a run is asked for by the test alone, never by the shell
    return project_copy
