"""The eval gate end to end on a baked project, through its Makefile, offline.

Slow: one bake and install shared by the module's tests; each `make eval` starts deepeval (seconds).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cookiecutter
from tests.test_baked_project import make

pytestmark = pytest.mark.slow
CASES = 64  # the sample suites: 50 support questions and 14 red-team probes


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run_cookiecutter(tmp_path_factory.mktemp("e2e") / "out", {})
    assert result.exit_code == 0, result.output
    installed = make(result.project_dir, "install")
    assert installed.returncode == 0, installed.stderr[-3000:]
    return result.project_dir


def load_fake_openai(project: Path):
    """The baked project's own loopback OpenAI-compatible server (the same one its unit tests use)."""
    spec = importlib.util.spec_from_file_location("baked_fake_openai", project / "tests" / "fake_openai.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is being built
    spec.loader.exec_module(module)
    return module


def test_gate_catches_broken_retrieval_and_passes_a_no_op(project: Path) -> None:
    base = make(project, "eval", RESULTS="results/base", PROVIDER="offline")
    assert base.returncode == 0, base.stdout[-3000:] + base.stderr[-3000:]

    bot_yaml = project / "bot.yaml"
    original = bot_yaml.read_text(encoding="utf-8")
    bot_yaml.write_text(original.replace("  top_k: 4 ", "  top_k: 0 "), encoding="utf-8")
    try:
        broken = make(project, "eval", RESULTS="results/broken", PROVIDER="offline")
        assert broken.returncode == 0, broken.stderr[-3000:]  # a finished run; the verdict is the gate's job
        gate = make(project, "gate", BASELINE="results/base", RESULTS="results/broken")
    finally:
        bot_yaml.write_text(original, encoding="utf-8")
    # make reports any failed recipe as 2; the gate's own exit code is printed and kept in verdict.json.
    assert gate.returncode != 0 and "verdict: FAIL (exit 1)" in gate.stderr, gate.stdout[-3000:] + gate.stderr[-3000:]
    verdict = json.loads((project / "results/broken/verdict.json").read_text(encoding="utf-8"))
    assert verdict["exit_code"] == 1
    failed = {m["name"] for m in verdict["metrics"] if m["verdict"] == "FAIL"}
    assert {"facts", "source_recall", "refusal"} <= failed
    for name in failed:
        assert name in gate.stdout  # the report names the regressed metrics

    noop = make(project, "eval", RESULTS="results/noop", PROVIDER="offline")
    assert noop.returncode == 0, noop.stderr[-3000:]
    gate = make(project, "gate", BASELINE="results/base", RESULTS="results/noop")
    assert gate.returncode == 0, gate.stdout[-3000:]
    verdict = json.loads((project / "results/noop/verdict.json").read_text(encoding="utf-8"))
    assert all(m["verdict"] != "FAIL" for m in verdict["metrics"])
    assert "live: 0" in noop.stdout or "0 live" in noop.stdout  # nothing changed: no model call was made

    report = make(project, "report", BASELINE="results/base", RESULTS="results/noop")
    assert report.returncode == 0 and (project / "results/noop/report.html").is_file()


def test_kill_9_mid_run_then_resume_runs_exactly_the_rest(project: Path) -> None:
    fake = load_fake_openai(project)
    judge = fake.judge_reply(score=7)

    def reply(body: dict):  # the bot sends a system prompt; the judge sends one user message
        if body["messages"][0]["role"] == "system":
            return fake.Text("Use Forgot password? on the sign-in page [1].", delay_s=0.5)
        return judge(body)

    with fake.FakeOpenAI(default=reply) as server:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.base_url, "RESULTS": "results/killed"}
        environment = {**{k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "VIRTUAL_ENV"))}, **env}
        process = subprocess.Popen(
            ["make", "-C", str(project), "eval"],
            env=environment,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        outputs = project / "results/killed/outputs.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not outputs.exists() or outputs.read_text().count("\n") < 15):
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        done_before = outputs.read_text().count("\n")
        assert 15 <= done_before < CASES, done_before

        resumed = make(project, "eval", **env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert f"({CASES - done_before} run now, {done_before} already done)" in resumed.stdout

        fresh = make(project, "eval", **{**env, "RESULTS": "results/uninterrupted"})
        assert fresh.returncode == 0, fresh.stderr[-3000:]
    killed = json.loads((project / "results/killed/summary.json").read_text(encoding="utf-8"))
    whole = json.loads((project / "results/uninterrupted/summary.json").read_text(encoding="utf-8"))
    assert killed["metrics"] == whole["metrics"] and killed["units"] == whole["units"] == {"ok": CASES}
    assert whole["model_calls"]["live"] == 0  # the same questions again: all from the cache
