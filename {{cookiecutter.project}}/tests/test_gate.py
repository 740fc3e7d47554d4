"""The gate's verdicts and exit codes over hand-made results dirs (no model, no deepeval)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalharness.gate import evaluate
from evalharness.results import OUTPUTS_FILE, RESULTS_FILE, ResultsDir
from evalharness.settings import EvalSettings
from yamlcheck import FileError

SETTINGS = EvalSettings.model_validate(
    {
        "target": "target:make_target",
        "judge": {"model": "judge", "enabled": False},
        "refusal_markers": ["i don't know"],
        "budgets": {"p95_latency_ms": 1000},
        "metrics": {
            "facts": {"tolerance": 0.02, "min_mean": 0.5},
            "refusal": {"tolerance": 0.02, "min_pass_rate": 0.6},
        },
        "suites": {"s": {"dataset": "d.yaml", "metrics": ["facts", "refusal"]}},
    }
)


def results_dir(
    path: Path, scores: dict[str, tuple[float, float]], *, latency: float = 10.0, status: str = "ok"
) -> Path:
    """A results dir whose case i scored (facts, refusal) = scores[i]."""
    store = ResultsDir(path)
    store.start({"test": True})
    for case, (facts, refusal) in scores.items():
        base = {"suite": "s", "case": case, "repeat": 0, "attempt": "a"}
        for metric, score in (("facts", facts), ("refusal", refusal)):
            row = {"metric": metric, "kind": "score", "status": status, "score": score, "passed": score >= 1.0}
            store.append(RESULTS_FILE, {**base, **row, "threshold": 1.0, "reason": "boom" if status == "error" else ""})
        output = {"status": status, "input": f"question {case}", "answer": f"answer {case}", "latency_ms": latency}
        store.append(OUTPUTS_FILE, {**base, **output, "cost_usd": 0.0, "reason": "boom"})
    return path


def good(n: int = 40) -> dict[str, tuple[float, float]]:
    return {f"c{i}": (1.0 if i % 5 else 0.5, 1.0) for i in range(n)}


def test_no_change_passes(tmp_path: Path) -> None:
    verdict = evaluate(SETTINGS, results_dir(tmp_path / "head", good()), results_dir(tmp_path / "base", good()))
    assert verdict["verdict"] == "PASS" and verdict["exit_code"] == 0
    assert {m["name"]: m["verdict"] for m in verdict["metrics"]} == {"facts": "PASS", "refusal": "PASS"}


def test_a_real_regression_fails_and_names_the_metric_and_cases(tmp_path: Path) -> None:
    broken = {case: (0.0, refusal) for case, (_, refusal) in good().items()}
    verdict = evaluate(SETTINGS, results_dir(tmp_path / "head", broken), results_dir(tmp_path / "base", good()))
    assert verdict["verdict"] == "FAIL" and verdict["exit_code"] == 1
    assert {m["name"]: m["verdict"] for m in verdict["metrics"]} == {"facts": "FAIL", "refusal": "PASS"}
    worst = verdict["regressions"][0]
    assert worst["metric"] == "facts" and worst["delta"] == -1.0
    assert worst["input"].startswith("question") and worst["base_answer"].startswith("answer")


def test_too_little_data_is_inconclusive_which_blocks_only_releases(tmp_path: Path) -> None:
    head = results_dir(tmp_path / "head", {"a": (1.0, 1.0), "b": (0.5, 1.0), "c": (1.0, 1.0)})
    base = results_dir(tmp_path / "base", {"a": (1.0, 1.0), "b": (1.0, 1.0), "c": (0.5, 1.0)})
    pr, release = evaluate(SETTINGS, head, base, "pr"), evaluate(SETTINGS, head, base, "release")
    assert pr["metrics"][0]["verdict"] == "INCONCLUSIVE"
    assert (pr["verdict"], pr["exit_code"]) == ("INCONCLUSIVE", 0)
    assert (release["verdict"], release["exit_code"]) == ("INCONCLUSIVE", 1)


def test_infrastructure_errors_are_never_a_quality_failure(tmp_path: Path) -> None:
    broken = {case: (0.0, 0.0) for case in good()}
    head = results_dir(tmp_path / "head", broken)
    store = ResultsDir(head)
    base_row = {"suite": "s", "case": "c-down", "repeat": 0, "attempt": "b"}
    store.append(OUTPUTS_FILE, {**base_row, "status": "error", "reason": "APIConnectionError: refused", "input": "q"})
    verdict = evaluate(SETTINGS, head, results_dir(tmp_path / "base", good()))
    assert (verdict["verdict"], verdict["exit_code"]) == ("ERROR", 3)
    assert verdict["errors"][0]["reason"].startswith("APIConnectionError")


def test_cache_misses_in_replay_make_it_inconclusive_with_a_note(tmp_path: Path) -> None:
    head = results_dir(tmp_path / "head", good())
    ResultsDir(head).append(
        OUTPUTS_FILE,
        {"suite": "s", "case": "new", "repeat": 0, "attempt": "x", "status": "not_evaluated", "reason": "miss"},
    )
    verdict = evaluate(SETTINGS, head, results_dir(tmp_path / "base", good()))
    assert (verdict["verdict"], verdict["exit_code"]) == ("INCONCLUSIVE", 0)
    assert verdict["not_evaluated"] == ["s/new"]
    assert any("maintainer-approved live run" in note for note in verdict["notes"])


def test_absolute_bars_do_not_fail_on_a_replayed_subset(tmp_path: Path) -> None:
    poor = results_dir(tmp_path / "head", {f"c{i}": (0.0, 0.0) for i in range(10)})
    ResultsDir(poor).append(
        OUTPUTS_FILE,
        {"suite": "s", "case": "miss", "repeat": 0, "attempt": "x", "status": "not_evaluated", "reason": "miss"},
    )
    verdict = evaluate(SETTINGS, poor, None)
    assert (verdict["verdict"], verdict["exit_code"]) == ("INCONCLUSIVE", 0)
    assert any("evaluated subset" in note for note in verdict["notes"])


def test_without_baseline_only_absolute_thresholds_count(tmp_path: Path) -> None:
    passing = evaluate(SETTINGS, results_dir(tmp_path / "ok", good()), None)
    assert passing["verdict"] == "PASS" and passing["baseline"] is None
    assert {t["metric"]: t["verdict"] for t in passing["thresholds"]} == {"facts": "PASS", "refusal": "PASS"}
    poor = evaluate(SETTINGS, results_dir(tmp_path / "poor", {f"c{i}": (0.0, 0.0) for i in range(40)}), None)
    assert (poor["verdict"], poor["exit_code"]) == ("FAIL", 1)


def test_latency_budget(tmp_path: Path) -> None:
    verdict = evaluate(
        SETTINGS, results_dir(tmp_path / "head", good(), latency=5000), results_dir(tmp_path / "b", good())
    )
    assert verdict["verdict"] == "FAIL"
    assert verdict["budgets"] == [{"name": "p95_latency_ms", "value": 5000.0, "limit": 1000.0, "verdict": "FAIL"}]


def test_cases_on_one_side_are_listed_not_compared(tmp_path: Path) -> None:
    head = results_dir(tmp_path / "head", {**good(), "only-new": (0.0, 0.0)})
    base = results_dir(tmp_path / "base", {**good(), "only-old": (1.0, 1.0)})
    verdict = evaluate(SETTINGS, head, base)
    assert verdict["only_in_head"] == ["s/only-new"] and verdict["only_in_baseline"] == ["s/only-old"]
    assert verdict["metrics"][0]["n_pairs"] == 40


def test_not_a_results_dir_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="not a results dir"):
        evaluate(SETTINGS, tmp_path, None)
