"""Whole eval runs on a copy of this project (offline bot; the judge is a loopback server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CASES
from tests.fake_openai import FakeOpenAI, judge_reply


def run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalharness", *args],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def summary(project: Path, results: str) -> dict:
    return json.loads((project / results / "summary.json").read_text(encoding="utf-8"))


def test_second_run_makes_no_model_calls_and_gates_pass(eval_project: Path) -> None:
    first = run(eval_project, "run", RESULTS="results/base")
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

    second = run(eval_project, "run", RESULTS="results/head")
    assert second.returncode == 0, second.stderr
    head = summary(eval_project, "results/head")
    assert head["model_calls"] == {**head["model_calls"], "live": 0, "cached": SAMPLE_CASES}
    assert head["metrics"] == base["metrics"]

    gate = run(eval_project, "gate", "--baseline", "results/base", "--results", "results/head")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    verdict = json.loads((eval_project / "results/head/verdict.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] in ("PASS", "INCONCLUSIVE")  # judged metrics were skipped: never a silent PASS
    assert all(m["verdict"] in ("PASS", "INCONCLUSIVE") for m in verdict["metrics"])
    for name in ("report.md", "report.html", "junit.xml"):
        assert (eval_project / "results/head" / name).is_file()


@pytest.mark.slow
def test_replay_without_cache_is_not_evaluated_and_inconclusive(eval_project: Path) -> None:
    assert run(eval_project, "run", RESULTS="results/base").returncode == 0
    replay = run(
        eval_project, "run", RESULTS="results/fork", MODEL_MODE="replay", EVAL_CACHE=str(eval_project / "empty.sqlite")
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
            RESULTS="results/judged",
            SHARD="1/10",
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
        eval_project, "run", RESULTS="results/down", SHARD="1/10", JUDGE_BASE_URL=closed, JUDGE_API_KEY="sk-test"
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "infrastructure errors" in result.stderr
    gate = run(eval_project, "gate", "--results", "results/down")
    assert gate.returncode == 3


@pytest.mark.slow
def test_shards_merged_equal_the_unsharded_run(eval_project: Path) -> None:
    assert run(eval_project, "run", RESULTS="results/all").returncode == 0
    for index in (1, 2, 3):
        assert run(eval_project, "run", RESULTS=f"results/shard{index}", SHARD=f"{index}/3").returncode == 0
    merged = run(eval_project, "merge", "results/merged", "results/shard1", "results/shard2", "results/shard3")
    assert merged.returncode == 0, merged.stderr
    whole, joined = summary(eval_project, "results/all"), summary(eval_project, "results/merged")
    for key in ("cases", "units", "metrics", "tokens", "providers"):  # not latency: measured anew each run
        assert joined[key] == whole[key], key
