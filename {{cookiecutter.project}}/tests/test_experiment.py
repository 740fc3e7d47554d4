"""Eval runs as LangSmith experiments (real SDK, loopback stand-in): the dataset is synced once, each run is an
experiment whose runs link to their examples and carry every metric score as feedback, the link reaches
summary.json and report.md, and an outage leaves results and exit codes exactly as without LangSmith."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from evalharness.experiment import example_id
from evalharness.results import read_jsonl

from tests.conftest import SAMPLE_CASES
from tests.fake_langsmith import FakeLangSmith
from tests.test_eval_run import run, summary

DATASET = "{{ cookiecutter.langsmith_project }}"


def _experiments(server: FakeLangSmith) -> list[dict]:
    return [s for s in server.sessions.values() if s.get("reference_dataset_id")]


@pytest.mark.slow
def test_two_runs_sync_the_dataset_once_and_log_two_experiments(eval_project: Path, langsmith: FakeLangSmith) -> None:
    for results in ("results/base", "results/head"):
        done = run(eval_project, "run", EVAL_RESULTS=results)
        assert done.returncode == 0, done.stderr
        assert "LangSmith" not in done.stderr

    (dataset,) = langsmith.datasets.values()
    assert dataset["name"] == DATASET
    assert langsmith.calls("POST", "/examples/bulk") == 1 and langsmith.calls("PATCH", "/examples/bulk") == 0
    assert sorted(langsmith.examples) == sorted(
        example_id(DATASET, row["suite"], row["case"])
        for row in read_jsonl(eval_project / "results/head/outputs.jsonl")
    )
    experiments = _experiments(langsmith)
    assert len(experiments) == 2 and {e["reference_dataset_id"] for e in experiments} == {dataset["id"]}
    assert all(e.get("end_time") for e in experiments)

    head = summary(eval_project, "results/head")
    (experiment,) = [e for e in experiments if e["id"] in head["langsmith_url"]]
    assert head["langsmith_url"].endswith(f"/datasets/{dataset['id']}/compare?selectedSessions={experiment['id']}")
    roots = {
        r["extra"]["metadata"]["case"]: r
        for r in langsmith.runs.values()
        if r.get("session_name") == experiment["name"] and not r.get("parent_run_id")
    }
    assert len(roots) == SAMPLE_CASES
    for case, root in roots.items():
        assert root["reference_example_id"] == example_id(DATASET, root["extra"]["metadata"]["suite"], case)
        assert root["extra"]["metadata"]["eval_run_id"] == experiment["id"] and "eval" in root["tags"]
    turns = [
        r
        for r in langsmith.runs.values()
        if r["name"] == "chat turn" and r.get("parent_run_id") in {root["id"] for root in roots.values()}
    ]
    assert len(turns) == SAMPLE_CASES and all("eval" in t["tags"] for t in turns)  # eval traffic is told from users'

    # Every score in results.jsonl is feedback on its case's run, with the same value.
    scored = {(fb["run_id"], fb["key"]): fb["score"] for fb in langsmith.feedback}
    rows = [r for r in read_jsonl(eval_project / "results/head/results.jsonl") if r["status"] == "ok"]
    assert rows and all(scored[(roots[r["case"]]["id"], r["metric"])] == pytest.approx(r["score"]) for r in rows)

    gate = run(eval_project, "gate", "--baseline", "results/base", "--results", "results/head")
    assert gate.returncode == 0, gate.stdout
    assert head["langsmith_url"] in (eval_project / "results/head/report.md").read_text()


def test_a_changed_case_is_updated_and_a_resumed_run_keeps_its_experiment(
    eval_project: Path, langsmith: FakeLangSmith
) -> None:
    assert run(eval_project, "run", "-k", "password", EVAL_RESULTS="results/a").returncode == 0
    assert 0 < summary(eval_project, "results/a")["cases"] < SAMPLE_CASES  # `-k` (make eval SELECT=...) picks cases
    dataset = eval_project / "evals/datasets/support.yaml"
    dataset.write_text(dataset.read_text().replace('facts: ["60 minutes"]', 'facts: ["60 minutes", "email"]'))
    assert run(eval_project, "run", "-k", "password", EVAL_RESULTS="results/b").returncode == 0
    assert run(eval_project, "run", "-k", "password", EVAL_RESULTS="results/b").returncode == 0  # a resume

    assert len(langsmith.examples) == SAMPLE_CASES and langsmith.calls("PATCH", "/examples/bulk") == 1
    changed = langsmith.examples[example_id(DATASET, "support", "password-reset-link-expiry")]
    assert changed["outputs"]["facts"] == ["60 minutes", "email"]
    assert len(_experiments(langsmith)) == 2
    remembered = json.loads((eval_project / "results/b/langsmith.json").read_text())
    assert remembered["id"] in summary(eval_project, "results/b")["langsmith_url"]


@pytest.mark.slow
def test_the_shards_of_one_run_share_one_experiment(eval_project: Path, langsmith: FakeLangSmith) -> None:
    for index in (1, 2):
        done = run(
            eval_project,
            "run",
            EVAL_RESULTS=f"results/shard{index}",
            EVAL_SHARD=f"{index}/2",
            EVAL_RUN_ID="4242-1-head",
        )
        assert done.returncode == 0, done.stderr
    (experiment,) = _experiments(langsmith)
    assert experiment["name"].endswith(":4242-1-head")
    assert run(eval_project, "merge", "results/all", "results/shard1", "results/shard2").returncode == 0
    assert experiment["id"] in summary(eval_project, "results/all")["langsmith_url"]
    roots = [
        r for r in langsmith.runs.values() if r.get("session_name") == experiment["name"] and "parent_run_id" not in r
    ]
    assert len(roots) == SAMPLE_CASES


@pytest.mark.slow
def test_an_outage_leaves_results_and_exit_codes_unchanged(eval_project: Path) -> None:
    key = "lsv2_pt_0utage0utage0utage0utage0utage00_0123456789"
    started = time.monotonic()
    assert run(eval_project, "run", EVAL_RESULTS="results/untraced").returncode == 0
    untraced_s = time.monotonic() - started  # a cold cache, so if anything the traced runs have it easier
    reference = summary(eval_project, "results/untraced")

    for outage in ("down", "503", "hang"):
        with FakeLangSmith("ok" if outage == "down" else outage) as server:
            endpoint = "http://127.0.0.1:9" if outage == "down" else server.url  # port 9: nothing listens
            env = {"LANGSMITH_ENDPOINT": endpoint, "LANGSMITH_API_KEY": key, "EVAL_RESULTS": f"results/{outage}"}
            started = time.monotonic()
            done = run(eval_project, "run", **env)
            elapsed = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        result = summary(eval_project, f"results/{outage}")
        assert result["metrics"] == reference["metrics"] and result["units"] == reference["units"], outage
        assert result["langsmith_url"] is None
        lines = [line for line in done.stderr.splitlines() if "LangSmith" in line or "langsmith" in line]
        assert len(lines) == 1 and lines[0].startswith("warning: LangSmith at"), (outage, done.stderr)
        assert key not in done.stdout + done.stderr
        # A bounded few seconds (the probe's timeouts), never a wait per case: with a 3 s read timeout per
        # trace a hang would cost minutes. The slack absorbs a loaded CI machine's run-to-run noise.
        assert elapsed - untraced_s <= 8.0, (outage, elapsed, untraced_s)
        gate = run(eval_project, "gate", "--baseline", "results/untraced", "--results", f"results/{outage}")
        assert gate.returncode == 0, (outage, gate.stdout)
    assert os.environ.get("LANGSMITH_API_KEY") is None  # the test itself never had a key
