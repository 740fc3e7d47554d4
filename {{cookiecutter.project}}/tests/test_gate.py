"""The gate's verdicts and exit codes over hand-made results dirs (no model, no deepeval)."""

from __future__ import annotations

import json
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
    path: Path,
    scores: dict[str, tuple[float, float]],
    *,
    latency: float = 10.0,
    status: str = "ok",
    must_pass: tuple[str, ...] = (),
    summary: dict | None = None,
    snapshot: dict[str, str] | None = None,
) -> Path:
    """A results dir whose case i scored (facts, refusal) = scores[i]; facts rows say which fact is missing."""
    store = ResultsDir(path)
    store.start({"test": True})
    for case, (facts, refusal) in scores.items():
        base = {"suite": "s", "case": case, "repeat": 0, "attempt": "a"}
        for metric, score in (("facts", facts), ("refusal", refusal)):
            row = {"metric": metric, "kind": "score", "status": status, "score": score, "passed": score >= 1.0}
            details = {"missing": [] if score >= 1.0 else [f"fact of {case}"]} if metric == "facts" else None
            store.append(
                RESULTS_FILE,
                {**base, **row, "threshold": 1.0, "reason": "boom" if status == "error" else "", "details": details},
            )
        output = {"status": status, "input": f"question {case}", "answer": f"answer {case}", "latency_ms": latency}
        store.append(
            OUTPUTS_FILE, {**base, **output, "cost_usd": 0.0, "reason": "boom", "must_pass": case in must_pass}
        )
    store.finish(summary or {})
    for name, text in (snapshot or {}).items():
        (path / "snapshot").mkdir(exist_ok=True)
        (path / "snapshot" / name).write_text(text, encoding="utf-8")
    return path


def add_row(path: Path, file: str, row: dict) -> None:
    """One more row in a finished results dir, sealed again (as if the run had written it)."""
    store = ResultsDir(path)
    store.append(file, row)
    store.finish(json.loads((path / "summary.json").read_text(encoding="utf-8")))


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
    base_row = {"suite": "s", "case": "c-down", "repeat": 0, "attempt": "b"}
    add_row(head, OUTPUTS_FILE, {**base_row, "status": "error", "reason": "APIConnectionError: refused", "input": "q"})
    verdict = evaluate(SETTINGS, head, results_dir(tmp_path / "base", good()))
    assert (verdict["verdict"], verdict["exit_code"]) == ("ERROR", 3)
    assert verdict["errors"][0]["reason"].startswith("APIConnectionError")


def test_cache_misses_in_replay_make_it_inconclusive_with_a_note(tmp_path: Path) -> None:
    head = results_dir(tmp_path / "head", good())
    add_row(
        head,
        OUTPUTS_FILE,
        {"suite": "s", "case": "new", "repeat": 0, "attempt": "x", "status": "not_evaluated", "reason": "miss"},
    )
    verdict = evaluate(SETTINGS, head, results_dir(tmp_path / "base", good()))
    assert (verdict["verdict"], verdict["exit_code"]) == ("INCONCLUSIVE", 0)
    assert verdict["not_evaluated"] == ["s/new"]
    assert any("maintainer-approved live run" in note for note in verdict["notes"])


def test_absolute_bars_do_not_fail_on_a_replayed_subset(tmp_path: Path) -> None:
    poor = results_dir(tmp_path / "head", {f"c{i}": (0.0, 0.0) for i in range(10)})
    add_row(
        poor,
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


def drop(n_broken: int, n: int = 200) -> tuple[dict, dict]:
    """base all passing; head with the first n_broken cases' facts broken, nothing better."""
    base = {f"c{i}": (1.0, 1.0) for i in range(n)}
    head = {case: (0.0 if i < n_broken else 1.0, 1.0) for i, case in enumerate(base)}
    return base, head


def test_a_drop_worse_than_base_but_not_proven_beyond_tolerance_is_worse_and_blocks_until_accepted(
    tmp_path: Path,
) -> None:
    base, head = drop(7)  # 7 of 200 broke: certainly worse, by 3.5% at face value, not proven beyond 2%
    head_dir, base_dir = results_dir(tmp_path / "head", head), results_dir(tmp_path / "base", base)
    verdict = evaluate(SETTINGS, head_dir, base_dir, "pr")
    assert {m["name"]: m["verdict"] for m in verdict["metrics"]}["facts"] == "WORSE?"
    assert (verdict["verdict"], verdict["exit_code"], verdict["accepted"]) == ("WORSE?", 1, False)
    accepted = evaluate(SETTINGS, head_dir, base_dir, "pr", accept_worse=True)
    assert (accepted["verdict"], accepted["exit_code"], accepted["accepted"]) == ("WORSE?", 0, True)
    release = evaluate(SETTINGS, head_dir, base_dir, "release", accept_worse=True)
    assert release["exit_code"] == 1  # a release needs PASS: acceptance is for PRs


def test_a_proven_regression_fails_and_the_report_says_what_was_lost(tmp_path: Path) -> None:
    base, head = drop(30)
    verdict = evaluate(SETTINGS, results_dir(tmp_path / "h", head), results_dir(tmp_path / "b", base))
    assert verdict["verdict"] == "FAIL"
    facts = verdict["metrics"][0]
    assert (facts["worse"], facts["better"], facts["same"]) == (30, 0, 170)
    assert verdict["regressions"][0]["lost"][0]["why"] == "lost the fact 'fact of c0'"
    assert verdict["headline"].startswith("30 cases got worse, 0 better (of 200 compared): facts went missing in 30")


def test_a_metric_nobody_could_measure_is_left_out_of_a_pr_and_required_by_a_release(tmp_path: Path) -> None:
    settings = SETTINGS.model_copy(
        update={
            "suites": {"s": SETTINGS.suites["s"].model_copy(update={"metrics": ["facts", "refusal", "correctness"]})}
        }
    )
    head = results_dir(tmp_path / "head", good())
    add_row(
        head,
        RESULTS_FILE,
        {
            "suite": "s",
            "case": "c0",
            "repeat": 0,
            "attempt": "a",
            "metric": "correctness",
            "status": "skipped",
            "reason": "no judge key",
        },
    )
    pr = evaluate(settings, head, results_dir(tmp_path / "base", good()), "pr")
    assert {m["name"]: m["verdict"] for m in pr["metrics"]}["correctness"] == "SKIPPED"
    assert (pr["verdict"], pr["exit_code"]) == ("PASS", 0)
    assert [n for n in pr["notes"] if "correctness" in n] == [
        "correctness: not measured (no judge key); left out of this verdict (release mode requires them)"
    ]
    release = evaluate(settings, head, tmp_path / "base", "release")
    assert (release["verdict"], release["exit_code"]) == ("INCONCLUSIVE", 1)
    assert any("blocks the release" in n for n in release["notes"])


def test_a_broken_must_pass_case_blocks_whatever_the_statistics_say(tmp_path: Path) -> None:
    base, head = drop(1)  # one case of 200: statistically nothing
    verdict = evaluate(
        SETTINGS,
        results_dir(tmp_path / "h", head, must_pass=("c0",)),
        results_dir(tmp_path / "b", base, must_pass=("c0",)),
    )
    assert {m["name"]: m["verdict"] for m in verdict["metrics"]}["facts"] != "FAIL"
    assert (verdict["verdict"], verdict["exit_code"]) == ("FAIL", 1)
    assert verdict["must_pass"][0] | {"input": None, "answer": None} == {
        "case": "s/c0",
        "base": True,
        "metrics": ["facts"],
        "blocks": True,
        "status": "broken by this change",
        "input": None,
        "answer": None,
    }


def test_a_must_pass_case_already_failing_on_the_base_is_noted_in_a_pr_and_blocks_a_release(tmp_path: Path) -> None:
    both = {**good(), "c0": (0.0, 1.0)}
    head, base = results_dir(tmp_path / "h", both, must_pass=("c0",)), results_dir(tmp_path / "b", both)
    pr = evaluate(SETTINGS, head, base, "pr")
    assert pr["must_pass"][0]["status"] == "failing on the baseline too" and not pr["must_pass"][0]["blocks"]
    assert pr["exit_code"] == 0
    assert evaluate(SETTINGS, head, base, "release")["verdict"] == "FAIL"


def test_the_report_shows_which_config_keys_changed(tmp_path: Path) -> None:
    base = results_dir(tmp_path / "b", good(), snapshot={"bot.yaml": "retrieval:\n  top_k: 4  # passages\n"})
    head = results_dir(tmp_path / "h", good(), snapshot={"bot.yaml": "retrieval:\n  top_k: 1  # passages\n"})
    verdict = evaluate(SETTINGS, head, base)
    (changed,) = verdict["changed"]["files"]
    assert changed["keys"] == [{"key": "retrieval.top_k", "base": 4, "head": 1}]
    assert "-  top_k: 4  # passages" in changed["diff"] and "+  top_k: 1  # passages" in changed["diff"]
    assert "Changed: bot.yaml retrieval.top_k 4 → 1." in verdict["headline"]


def test_a_run_stopped_by_its_cost_cap_never_passes(tmp_path: Path) -> None:
    stopped = {"kind": "cost_cap", "limit_usd": 1.0, "spent_usd": 1.0, "cases_run": 40, "cases_planned": 80}
    head = results_dir(tmp_path / "h", good(), summary={"stopped": stopped})
    verdict = evaluate(SETTINGS, head, results_dir(tmp_path / "b", good()))
    assert verdict["verdict"] == "INCONCLUSIVE"
    assert any("cost cap" in n for n in verdict["notes"])


def test_a_sequential_run_is_judged_at_the_level_of_its_last_look(tmp_path: Path) -> None:
    looks = {"looks": [0.25, 0.5], "stopped": False}
    head = results_dir(tmp_path / "h", good(), summary={"sequential": looks})
    verdict = evaluate(SETTINGS, head, results_dir(tmp_path / "b", good()))
    assert verdict["looks"] == [0.25, 0.5, 1.0]  # the finished run's analysis is one more look
    assert 0.03 < verdict["level"] < SETTINGS.alpha


def test_every_case_is_in_the_case_table_worst_first_with_both_answers(tmp_path: Path) -> None:
    base_scores = {"worse": (1.0, 1.0), "fixed": (0.5, 1.0), "broken": (0.5, 1.0), "same": (1.0, 1.0)}
    head_scores = {
        "worse": (0.5, 1.0),
        "fixed": (1.0, 1.0),
        "broken": (0.5, 1.0),
        "same": (1.0, 1.0),
        "new": (1.0, 1.0),
    }
    head = results_dir(tmp_path / "head", head_scores)
    verdict = evaluate(SETTINGS, head, results_dir(tmp_path / "base", base_scores))
    table = verdict["cases"]
    assert [(c["case"], c["change"]) for c in table] == [
        ("s/worse", "worse"),
        ("s/broken", "failing"),  # fails on both sides: not news, but not fine either
        ("s/fixed", "better"),
        ("s/new", "new"),
        ("s/same", "same"),
    ]
    worse = table[0]
    assert (worse["input"], worse["answer"], worse["base_answer"]) == ("question worse", "answer worse", "answer worse")
    assert worse["scores"][0] == {"metric": "facts", "head": 0.5, "base": 1.0, "passed": False, "reason": ""}
    assert table[3]["base_answer"] is None and table[3]["scores"][0]["base"] is None
    alone = evaluate(SETTINGS, head, None)["cases"]  # no baseline: what fails first, nothing "new"
    assert [c["change"] for c in alone] == ["failing", "failing", "same", "same", "same"]
