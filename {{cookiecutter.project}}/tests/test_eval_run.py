"""Whole eval runs on a copy of this project (offline bot; the judge is a loopback server)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE

import pytest

from tests.conftest import SAMPLE_CASES
from tests.fake_openai import FakeOpenAI, Hang, Raw, Text, judge_reply


def run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalharness", *args],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def summary(project: Path, results: str) -> dict:
    return json.loads((project / results / "summary.json").read_text(encoding="utf-8"))


def test_second_run_makes_no_model_calls_and_gates_pass(eval_project: Path) -> None:
    first = run(eval_project, "run", EVAL_RESULTS="results/base")
    assert first.returncode == 0, first.stderr
    base = summary(eval_project, "results/base")
    assert base["cases"] == SAMPLE_CASES and base["model_calls"]["live"] == SAMPLE_CASES
    assert base["providers"] == ["offline:extractive-bm25"]
    assert base["judge"]["status"] == "skipped" and "JUDGE_API_KEY" in base["judge"]["reason"]
    assert base["credentials"] == {"OPENAI_API_KEY": False, "JUDGE_API_KEY": False, "LANGSMITH_API_KEY": False}
    # No LangSmith key: no experiment, and not a word about it.
    assert base["langsmith_url"] is None and not (eval_project / "results/base/langsmith.json").exists()
    assert "LangSmith" not in first.stderr
    assert base["metrics"]["correctness"]["statuses"] == {
        "skipped": base["metrics"]["correctness"]["statuses"]["skipped"]
    }

    # On the terminal: one table of suites x metrics, the skipped judge metrics on one line, no pytest chatter.
    assert "  support: " in first.stdout and "answers, $0.0000, latency p50" in first.stdout
    assert any(line.split()[:1] == ["facts"] and "/" in line.split()[-1] for line in first.stdout.splitlines())
    assert "skipped correctness, faithfulness, relevancy: no judge key" in first.stdout
    assert "results: results/base · compare: make gate" in first.stdout and " passed in " not in first.stdout

    second = run(eval_project, "run", EVAL_RESULTS="results/head")
    assert second.returncode == 0, second.stderr
    head = summary(eval_project, "results/head")
    assert head["model_calls"] == {**head["model_calls"], "live": 0, "cached": SAMPLE_CASES}
    assert head["metrics"] == base["metrics"]

    gate = run(eval_project, "gate", "--baseline", "results/base", "--results", "results/head")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    verdict = json.loads((eval_project / "results/head/verdict.json").read_text(encoding="utf-8"))
    # A no-op passes; the judged metrics that could not run are named, not passed.
    assert verdict["verdict"] == "PASS", verdict["notes"]
    skipped = {m["name"] for m in verdict["metrics"] if m["verdict"] == "SKIPPED"}
    assert skipped == {"correctness", "relevancy", "faithfulness"}
    assert all(m["verdict"] == "PASS" for m in verdict["metrics"] if m["name"] not in skipped)
    assert sum("not measured (no judge key" in note for note in verdict["notes"]) == 1  # said once, not per metric
    for name in ("report.md", "report.html", "junit.xml"):
        assert (eval_project / "results/head" / name).is_file()


@pytest.mark.slow
def test_replay_without_cache_is_not_evaluated_and_inconclusive(eval_project: Path) -> None:
    assert run(eval_project, "run", EVAL_RESULTS="results/base").returncode == 0
    replay = run(
        eval_project,
        "run",
        EVAL_RESULTS="results/fork",
        EVAL_CACHE_MODE="replay",
        EVAL_CACHE=str(eval_project / "empty.sqlite"),
    )
    assert replay.returncode == 0, replay.stderr
    assert summary(eval_project, "results/fork")["units"] == {"not_evaluated": SAMPLE_CASES}
    pr = run(eval_project, "gate", "--baseline", "results/base", "--results", "results/fork", "--mode", "pr")
    release = run(eval_project, "gate", "--baseline", "results/base", "--results", "results/fork", "--mode", "release")
    assert (pr.returncode, release.returncode) == (0, 1)
    assert "maintainer-approved live run" in pr.stdout


def test_judge_metrics_run_against_a_loopback_judge(eval_project: Path) -> None:
    with FakeOpenAI(default=judge_reply(score=8)) as judge:
        result = run(
            eval_project,
            "run",
            EVAL_RESULTS="results/judged",
            EVAL_SHARD="1/10",
            JUDGE_BASE_URL=judge.base_url,
            JUDGE_API_KEY="sk-test",
        )
        assert result.returncode == 0, result.stderr
        judged = summary(eval_project, "results/judged")
        assert judged["judge"]["status"] == "on"
        assert judge.requests and all(r["model"] == "gpt-4o-mini" for r in judge.requests)
    for metric in ("correctness", "relevancy", "faithfulness"):
        statuses = judged["metrics"][metric]["statuses"]
        assert set(statuses) <= {"ok", "skipped"} and statuses.get("ok"), (metric, statuses)
    assert judged["metrics"]["correctness"]["mean"] == pytest.approx(0.8)
    assert not (eval_project / ".deepeval").exists() and not list(eval_project.glob(".deepeval*"))  # nothing stray


@pytest.mark.slow
def test_judge_down_is_an_infrastructure_error_not_a_low_score(eval_project: Path) -> None:
    with FakeOpenAI() as judge:
        closed = judge.base_url
    result = run(
        eval_project,
        "run",
        EVAL_RESULTS="results/down",
        EVAL_SHARD="1/10",
        JUDGE_BASE_URL=closed,
        JUDGE_API_KEY="sk-test",
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "infrastructure errors" in result.stderr
    gate = run(eval_project, "gate", "--results", "results/down")
    assert gate.returncode == 3


@pytest.mark.slow
def test_shards_merged_equal_the_unsharded_run(eval_project: Path) -> None:
    assert run(eval_project, "run", EVAL_RESULTS="results/all").returncode == 0
    for index in (1, 2, 3):
        assert run(eval_project, "run", EVAL_RESULTS=f"results/shard{index}", EVAL_SHARD=f"{index}/3").returncode == 0
    merged = run(eval_project, "merge", "results/merged", "results/shard1", "results/shard2", "results/shard3")
    assert merged.returncode == 0, merged.stderr
    whole, joined = summary(eval_project, "results/all"), summary(eval_project, "results/merged")
    for key in ("cases", "units", "metrics", "tokens", "providers"):  # not latency: measured anew each run
        assert joined[key] == whole[key], key


@pytest.mark.slow
def test_a_run_given_its_baseline_stops_as_soon_as_a_fail_is_certain(eval_project: Path) -> None:
    assert run(eval_project, "run", EVAL_RESULTS="results/base").returncode == 0
    # Retrieval off: every in-scope answer breaks, which the first look sees.
    broken = run(
        eval_project, "run", EVAL_RESULTS="results/broken", EVAL_BASELINE="results/base", EVAL_SET="retrieval.top_k=0"
    )
    assert broken.returncode == 0, broken.stderr
    assert "stopped early at look 1: FAIL is certain" in broken.stdout
    stopped = summary(eval_project, "results/broken")
    assert stopped["stopped"]["kind"] == "early_stop" and stopped["stopped"]["decision"] == "FAIL"
    assert stopped["cases"] < SAMPLE_CASES / 2 and stopped["stopped"]["calls_saved"] > SAMPLE_CASES / 2
    assert stopped["sequential"]["looks"] and stopped["sequential"]["stopped"]
    assert "top_k: 0" in (eval_project / "results/broken/bot.yaml").read_text(encoding="utf-8")
    assert "top_k: 4" in (eval_project / "bot.yaml").read_text(encoding="utf-8")  # the what-if edited no file
    gate = run(eval_project, "gate", "--baseline", "results/base", "--results", "results/broken")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    verdict = json.loads((eval_project / "results/broken/verdict.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == "FAIL" and verdict["level"] < 0.05 and len(verdict["looks"]) == 1
    assert verdict["only_in_baseline"] == []  # cases an early stop never ran are not "removed cases"
    assert any("stopped early at look 1" in note for note in verdict["notes"])


@pytest.mark.slow
def test_the_cost_cap_ends_a_live_run_and_its_gate_never_passes(eval_project: Path) -> None:
    config = eval_project / "evals/eval.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("max_cost_usd: 5.00 ", "max_cost_usd: 0.01 "), encoding="utf-8"
    )
    judge = judge_reply(score=8)

    def reply(body: dict):  # the bot sends a system prompt; the judge one user message (it is paid too)
        return Text("An answer that cites its source [1].") if body["messages"][0]["role"] == "system" else judge(body)

    with FakeOpenAI(default=reply) as model:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": model.base_url, "BOT_PROVIDER": "openai"}
        capped = run(eval_project, "run", EVAL_RESULTS="results/capped", **env)
        calls = len(model.requests)
    assert capped.returncode == 0, capped.stderr
    assert "stopped at the cost cap $0.01" in capped.stdout
    spent = summary(eval_project, "results/capped")
    assert spent["stopped"]["kind"] == "cost_cap" and spent["cases"] < SAMPLE_CASES / 2
    assert calls == spent["model_calls"]["live"] and spent["model_calls"]["live_by_kind"]["model"] < SAMPLE_CASES / 2
    # Over the cap by at most the units already started when it was reached (2 x concurrency of them).
    per_case = spent["cost_usd"]["live_this_invocation"] / spent["cases"]
    assert 0.01 <= spent["cost_usd"]["live_this_invocation"] <= 0.01 + 16 * per_case
    # Against itself nothing is worse, and still the verdict cannot be a pass: the rest was never evaluated.
    run(eval_project, "gate", "--results", "results/capped", "--baseline", "results/capped")
    verdict = json.loads((eval_project / "results/capped/verdict.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] != "PASS", verdict["notes"]
    assert any("stopped at its cost cap" in n for n in verdict["notes"])


@pytest.mark.slow
def test_two_runs_on_one_dir_one_is_refused_and_the_results_equal_a_single_run(eval_project: Path) -> None:
    env = {**os.environ, "EVAL_RESULTS": "results/dup"}
    command = [sys.executable, "-m", "evalharness", "run"]
    procs = [subprocess.Popen(command, cwd=eval_project, env=env, stdout=PIPE, stderr=PIPE, text=True) for _ in "ab"]
    outcomes = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in outcomes)
    assert codes in ([0, 0], [0, 2]), outcomes  # the second either found the lock taken, or the work done
    for code, err in outcomes:
        if code == 2:
            assert "another run is writing this results dir" in err and "results/dup" in err
    assert run(eval_project, "run", EVAL_RESULTS="results/single").returncode == 0
    doubled, single = summary(eval_project, "results/dup"), summary(eval_project, "results/single")
    assert doubled["metrics"] == single["metrics"] and doubled["units"] == {"ok": SAMPLE_CASES}
    gate = run(eval_project, "gate", "--baseline", "results/single", "--results", "results/dup")
    assert gate.returncode == 0, gate.stdout + gate.stderr  # verified: one row per unit


@pytest.mark.slow
def test_a_results_dir_cut_in_half_is_bad_input_not_a_verdict(eval_project: Path) -> None:
    assert run(eval_project, "run", EVAL_RESULTS="results/whole").returncode == 0
    rows = eval_project / "results/whole/results.jsonl"
    data = rows.read_bytes()
    rows.write_bytes(data[: len(data) // 2 + 7])  # an interrupted upload: half the rows, the last one torn
    gate = run(eval_project, "gate", "--results", "results/whole")
    assert gate.returncode == 2, gate.stdout + gate.stderr
    line = data[: len(data) // 2 + 7].count(b"\n") + 1
    assert f"results/whole/results.jsonl:{line}: the last line is cut off" in gate.stderr


@pytest.mark.slow
def test_a_server_that_never_answers_ends_the_run_with_exit_3_soon_after_stall_timeout(eval_project: Path) -> None:
    """No retry, no per-call timeout is waited out: the run gives up once nothing came back for
    stall_timeout_s (40 s by default; 3 s here, so the test is quick)."""
    config = eval_project / "evals" / "eval.yaml"
    text = config.read_text(encoding="utf-8")
    assert "stall_timeout_s: 40" in text
    config.write_text(text.replace("stall_timeout_s: 40", "stall_timeout_s: 3"), encoding="utf-8")
    with FakeOpenAI(default=lambda body: Hang(120)) as model:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": model.base_url, "BOT_PROVIDER": "openai"}
        started = time.monotonic()
        hung = run(eval_project, "run", EVAL_RESULTS="results/hung", **env)
        elapsed = time.monotonic() - started
    assert hung.returncode == 3, hung.stdout + hung.stderr
    assert 3 <= elapsed < 20, elapsed
    assert "stall_timeout_s" in hung.stderr
    assert "stopped answering" in hung.stderr and "127.0.0.1" not in hung.stderr + hung.stdout
    assert summary(eval_project, "results/hung")["aborted"] is True


@pytest.mark.slow
def test_errors_say_what_happened_without_the_server_address(eval_project: Path) -> None:
    replies = iter([Raw(b'{"id": "x", "choices": [oops'), Raw(b'{"id": "x", "choi', promise=500)])
    with FakeOpenAI(default=lambda body: next(replies, Raw(b"{bad"))) as model:
        env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": model.base_url, "BOT_PROVIDER": "openai"}
        run(
            eval_project,
            "run",
            "-k",
            "password-reset-link-expiry or account-lockout",
            EVAL_RESULTS="results/bad",
            **env,
        )
    reasons = {
        row["reason"] for row in read_rows(eval_project / "results/bad/outputs.jsonl") if row["status"] == "error"
    }
    text = " ".join(reasons)
    assert "the server sent invalid JSON" in text or "the connection closed mid-answer" in text, reasons
    assert "127.0.0.1" not in text and "JSONDecodeError:" not in text.split("(")[0]


@pytest.mark.slow
def test_a_judge_reply_that_is_not_json_is_asked_again_on_the_next_run(eval_project: Path) -> None:
    good, bad = judge_reply(score=8), Text("Sure! The answer is great.")
    state = {"broken": True}

    def judge(body: dict):
        return bad if state["broken"] else good(body)

    with FakeOpenAI(default=judge) as server:
        env = {"JUDGE_BASE_URL": server.base_url, "JUDGE_API_KEY": "sk-test", "EVAL_SHARD": "1/20"}
        first = run(eval_project, "run", EVAL_RESULTS="results/judged", **env)
        assert first.returncode == 3, first.stdout + first.stderr  # the judge failed: infrastructure
        asked_before = len(server.requests)
        state["broken"] = False
        second = run(eval_project, "run", EVAL_RESULTS="results/judged", **env)
        assert second.returncode == 0, second.stdout + second.stderr
        asked_again = len(server.requests) - asked_before
    calls = summary(eval_project, "results/judged")["model_calls"]
    assert asked_again > 0 and calls["live_by_kind"].get("judge", 0) == asked_again  # really asked, not replayed
    assert calls["errors"] == 0


@pytest.mark.slow
def test_progress_is_drawn_on_a_terminal_while_cases_run(eval_project: Path) -> None:
    """The bar moves as cases finish, not once at the end: read from a real pseudo-terminal while the run
    is still going (a loopback model that takes 200 ms per answer keeps it going)."""
    leader, follower = pty.openpty()
    answer = Text("I don't know based on the help center.", delay_s=0.2)
    with FakeOpenAI(default=lambda body: answer) as model:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": model.base_url, "BOT_PROVIDER": "openai"}
        env |= {"EVAL_RESULTS": "results/live", "EVAL_SELECT": "probes"}  # 14 cases, graded without a judge
        command = [sys.executable, "-m", "evalharness", "run"]
        proc = subprocess.Popen(command, cwd=eval_project, env=env, stdout=PIPE, stderr=follower, text=True)
        os.close(follower)
        seen_while_running, screen = [], ""
        while True:
            ready, _, _ = select.select([leader], [], [], 30)
            try:
                chunk = os.read(leader, 4096).decode("utf-8", "replace") if ready else ""
            except OSError:  # the run closed its terminal: it is over
                break
            if not chunk:
                break
            screen += chunk
            if proc.poll() is None:
                seen_while_running += re.findall(r"\r\[[#.]+\] eval: (\d+)/(\d+) cases", chunk)
        stdout, _ = proc.communicate(timeout=60)
        os.close(leader)
    assert proc.returncode == 0, stdout + screen
    partial = {int(done) for done, total in seen_while_running if 0 < int(done) < int(total)}
    assert len(partial) >= 3, screen[-500:]  # several distinct positions of the bar before the end
    assert "eval: 14/14 cases" in screen
