"""The eval gate end to end on a baked project, through its Makefile, offline.

Slow: one bake and install shared by the module's tests; each `make eval` starts deepeval (seconds).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CASES, TEMPLATE_DIR, run_cookiecutter
from tests.test_baked_project import make

pytestmark = pytest.mark.slow
TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project}}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run_cookiecutter(tmp_path_factory.mktemp("e2e") / "out", {})
    assert result.exit_code == 0, result.output
    config = result.project_dir / "evals/eval.yaml"  # loopback models need no rate limit: do not wait for them
    config.write_text(config.read_text("utf-8").replace("requests_per_minute: 600 ", "requests_per_minute: 60000 "))
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


def gate(project: Path, head: str, base: str = "results/base", mode: str = "pr") -> tuple[int, dict, str]:
    """The gate CLI itself (make would turn its exit code into 2): exit code, verdict.json, what it printed."""
    proc = subprocess.run(
        [
            str(project / ".venv/bin/python"),
            "-m",
            "evalharness",
            "gate",
            "--baseline",
            base,
            "--results",
            head,
            "--mode",
            mode,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    verdict = json.loads((project / head / "verdict.json").read_text(encoding="utf-8"))
    assert verdict["exit_code"] == proc.returncode
    return proc.returncode, verdict, proc.stdout


@pytest.fixture(scope="module")
def baseline(project: Path) -> str:
    base = make(project, "eval", RESULTS="results/base", BOT_PROVIDER="offline")
    assert base.returncode == 0, base.stdout[-3000:] + base.stderr[-3000:]
    return "results/base"


def verdicts(verdict: dict) -> dict[str, str]:
    return {m["name"]: m["verdict"] for m in verdict["metrics"]}


def test_a_no_op_passes_and_makes_no_model_call(project: Path, baseline: str) -> None:
    noop = make(project, "eval", RESULTS="results/noop", BOT_PROVIDER="offline")
    assert noop.returncode == 0 and f"0 live, {CASES} cached" in noop.stdout, noop.stdout[-2000:]
    code, verdict, _ = gate(project, "results/noop")
    assert (code, verdict["verdict"]) == (0, "PASS"), verdict["notes"]
    assert verdict["headline"].startswith("No case changed") and verdict["must_pass"] == []
    report = make(project, "report", BASELINE=baseline, RESULTS="results/noop")
    assert report.returncode == 0 and (project / "results/noop/report.html").is_file()


def test_fewer_passages_fail_with_the_regressed_cases_and_the_cause(project: Path, baseline: str) -> None:
    """The textbook case: retrieval.top_k 4 -> 1 (through SET: bot.yaml itself is not edited)."""
    broken = make(project, "eval", RESULTS="results/top1", BOT_PROVIDER="offline", SET="retrieval.top_k=1")
    assert broken.returncode == 0, broken.stderr[-3000:]  # a finished run; the verdict is the gate's job
    code, verdict, printed = gate(project, "results/top1")
    assert (code, verdict["verdict"]) == (1, "FAIL")
    assert {"facts", "source_recall"} <= {name for name, v in verdicts(verdict).items() if v == "FAIL"}
    assert "Changed: bot.yaml retrieval.top_k 4 → 1" in verdict["headline"]
    assert "retrieval lost an expected source in" in verdict["headline"]
    worst = verdict["regressions"][0]
    assert worst["lost"] and worst["input"] and worst["case"] in printed
    assert any(
        item["why"].startswith(("lost the fact", "retrieval lost"))
        for case in verdict["regressions"]
        for item in case["lost"]
    )


@pytest.mark.parametrize("document", sorted(p.name for p in (TEMPLATE / "knowledge").glob("*.md")))
def test_any_one_knowledge_document_emptied_fails(project: Path, baseline: str, document: str, tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(project / "knowledge", knowledge)
    (knowledge / document).write_text("", encoding="utf-8")
    results = f"results/empty-{document}"
    run = make(project, "eval", RESULTS=results, BOT_PROVIDER="offline", SET=f"retrieval.knowledge_dir={knowledge}")
    assert run.returncode == 0, run.stderr[-3000:]
    code, verdict, _ = gate(project, results)
    assert (code, verdict["verdict"]) == (1, "FAIL"), verdicts(verdict)
    assert verdicts(verdict)["source_recall"] == "FAIL"
    assert f"retrieval lost {document}" in {item["why"] for case in verdict["regressions"] for item in case["lost"]}


def test_removing_the_citation_rule_from_the_prompt_fails_on_citations(project: Path, tmp_path: Path) -> None:
    """A loopback model that cites only while the prompt asks it to: the prompt edit breaks citations alone."""
    fake = load_fake_openai(project)
    rule = "- Cite every fact with the number of its passage in square brackets, like [1] or [2][3].\n"
    prompt = project / "prompts/system.md.j2"
    assert rule in prompt.read_text(encoding="utf-8")
    edited = tmp_path / "no-citations.md.j2"
    edited.write_text(prompt.read_text(encoding="utf-8").replace(rule, ""), encoding="utf-8")
    citing, judge = fake.citing_model("Cite every fact"), fake.judge_reply(score=8)

    def reply(body: dict):  # the bot sends a system prompt; the judge sends one user message
        return citing(body) if body["messages"][0]["role"] == "system" else judge(body)

    with fake.FakeOpenAI(default=reply) as model:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": model.base_url, "PROVIDER": "openai"}
        env["EVAL_CACHE"] = str(tmp_path / "calls.sqlite")
        env["SHARD"] = "1/4"  # a quarter of the cases is plenty when every answer loses its citations
        before = make(project, "eval", RESULTS="results/cite-base", **env)
        after = make(project, "eval", RESULTS="results/cite-head", SET=f"prompt.system={edited}", **env)
    assert before.returncode == 0 and after.returncode == 0, before.stderr[-2000:] + after.stderr[-2000:]
    code, verdict, _ = gate(project, "results/cite-head", "results/cite-base")
    assert (code, verdict["verdict"]) == (1, "FAIL")
    assert verdicts(verdict)["citations"] == "FAIL"
    assert {name for name, v in verdicts(verdict).items() if v == "FAIL"} == {"citations"}  # only what it broke
    assert "answers lost their citations" in verdict["headline"]


def test_one_broken_must_pass_case_blocks_alone(project: Path, baseline: str, tmp_path: Path) -> None:
    """Emptying the one section a must-pass case rests on costs a single case: no statistics would notice."""
    knowledge = tmp_path / "knowledge"
    shutil.copytree(project / "knowledge", knowledge)
    page = knowledge / "account-and-login.md"
    page.write_text(
        page.read_text(encoding="utf-8").replace("valid for 60 minutes", "valid for a while"), encoding="utf-8"
    )
    run = make(
        project, "eval", RESULTS="results/mustpass", BOT_PROVIDER="offline", SET=f"retrieval.knowledge_dir={knowledge}"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    code, verdict, printed = gate(project, "results/mustpass")
    assert verdict["case_counts"]["worse"] <= 2  # the must-pass case and one other that quotes the same fact
    assert all(v != "FAIL" for v in verdicts(verdict).values())
    assert (code, verdict["verdict"]) == (1, "FAIL")
    assert [r["case"] for r in verdict["must_pass"] if r["blocks"]] == ["support/password-reset-link-expiry"]
    assert "must-pass case(s) broke (support/password-reset-link-expiry)" in printed  # named on the terminal
    assert "broken by this change" in (project / "results/mustpass/report.md").read_text(encoding="utf-8")


def test_kill_9_mid_run_then_resume_runs_exactly_the_rest(project: Path) -> None:
    fake = load_fake_openai(project)
    judge = fake.judge_reply(score=7)

    def reply(body: dict):  # the bot sends a system prompt; the judge sends one user message
        if body["messages"][0]["role"] == "system":
            return fake.Text("Use Forgot password? on the sign-in page [1].", delay_s=0.5)
        return judge(body)

    with fake.FakeOpenAI(default=reply) as server:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.base_url, "EVAL_RESULTS": "results/killed"}
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

        fresh = make(project, "eval", **{**env, "EVAL_RESULTS": "results/uninterrupted"})
        assert fresh.returncode == 0, fresh.stderr[-3000:]
    killed = json.loads((project / "results/killed/summary.json").read_text(encoding="utf-8"))
    whole = json.loads((project / "results/uninterrupted/summary.json").read_text(encoding="utf-8"))
    assert killed["metrics"] == whole["metrics"] and killed["units"] == whole["units"] == {"ok": CASES}
    assert whole["model_calls"]["live"] == 0  # the same questions again: all from the cache
