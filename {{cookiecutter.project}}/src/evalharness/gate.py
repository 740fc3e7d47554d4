"""The gate: compare a results dir with a baseline and decide PASS / FAIL / WORSE? / INCONCLUSIVE (or ERROR).

Exit codes (the contract CI relies on): 0 pass, 1 quality fail, 2 bad input or config, 3 infrastructure error
(model, judge, network). INCONCLUSIVE passes in PR mode; WORSE? (proven worse than the baseline, beyond the
tolerance at face value but not proven beyond it) blocks a PR until a maintainer accepts it. An infrastructure
error is never shown as a quality failure: if any unit errored, the verdict is ERROR and the exit code 3.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

from evalharness import changes, stats
from evalharness.case_table import case_table
from evalharness.exits import EXIT_BAD_INPUT, EXIT_FAIL, EXIT_INFRA, EXIT_PASS
from evalharness.results import PROMPTFOO_SUMMARY
from evalharness.settings import EvalSettings
from evalharness.sides import Side, read_side
from evalharness.stats.bounds import percentile, t_interval, threshold_verdict, wilson_interval
from evalharness.stats.paired import decide, paired
from evalharness.stats.sequential import nominal_levels
from yamlcheck import FileError

Mode = Literal["pr", "release", "nightly"]
ERROR = "ERROR"
NO_BASELINE = "NO_BASELINE"
SKIPPED = "SKIPPED"  # a gated metric nobody could measure (no judge): left out of a PR's verdict, named once
REGRESSIONS_SHOWN = 8
LIMIT_EXAMPLES = 3  # failing cases per failure limit shown with their answers

__all__ = ["ERROR", "EXIT_BAD_INPUT", "EXIT_FAIL", "EXIT_INFRA", "EXIT_PASS", "Side", "evaluate", "read_side"]


def gated_metrics(settings: EvalSettings) -> list[str]:
    return [m for m in _used_metrics(settings) if settings.metric(m).gate]


def _used_metrics(settings: EvalSettings) -> list[str]:
    """Every metric some suite uses, once, in the order eval.yaml names them."""
    return list(dict.fromkeys(m for suite in settings.suites.values() for m in suite.metrics))


def evaluate(
    settings: EvalSettings, head_path: Path, base_path: Path | None, mode: Mode = "pr", accept_worse: bool = False
) -> dict[str, Any]:
    head = read_side(head_path)
    base = read_side(base_path) if base_path else None
    gated = gated_metrics(settings)
    level, looks = _level(settings, head)
    metrics = compare(settings, gated, head, base, mode, level)
    thresholds = _thresholds(settings, gated, head)
    limits = failure_limit_rows(settings, gated, head)
    must_pass = must_pass_rows(gated, head, base, mode)
    promptfoo = _promptfoo(head_path, head.summary)
    budgets = _budgets(settings, head)
    stopped = head.summary.get("stopped") or None
    notes = _skipped_notes(metrics, mode) + head.notes + (base.notes if base else [])
    partial = bool(head.not_evaluated) or bool(stopped)
    if partial:
        # Replay misses or a stopped run leave a subset of the cases: it may not fail an absolute bar for the
        # whole dataset. Paired comparisons stay valid on the cases both sides have.
        for row in thresholds + budgets:
            if row["verdict"] == stats.FAIL:
                row["verdict"] = stats.INCONCLUSIVE
                notes.append(f"{row.get('metric') or row.get('name')}: below its bar on the evaluated subset only")
    coverage = []  # why this run covers fewer cases than planned: the terminal summary always shows it
    if head.not_evaluated:
        coverage.append(
            f"{len(head.not_evaluated)} case(s) were not evaluated (cache misses in replay mode): "
            "the verdict needs a maintainer-approved live run"
        )
    if stopped:
        coverage.append(_stop_note(stopped))
    notes += coverage
    verdicts = [m["verdict"] for m in metrics if m["verdict"] not in (NO_BASELINE, SKIPPED)]
    verdicts += [r["verdict"] for r in thresholds + limits + budgets]
    verdicts += [stats.FAIL for r in must_pass if r["blocks"]]
    if promptfoo:  # promptfoo's outcome counts like one more check (ERROR as an infrastructure error)
        verdicts.append(promptfoo["status"])
        if promptfoo["status"] in (ERROR, stats.INCONCLUSIVE):
            notes.append(f"promptfoo: {promptfoo.get('reason')}")
    errors = head.errors + (base.errors if base else [])
    if errors or ERROR in verdicts:
        overall = ERROR
    elif stats.FAIL in verdicts:
        overall = stats.FAIL
    elif stats.WORSE in verdicts:
        overall = stats.WORSE
    elif (
        head.not_evaluated
        or (stopped and stopped.get("kind") != "early_stop")
        or any(v != stats.PASS for v in verdicts)
    ):
        overall = stats.INCONCLUSIVE
    else:
        overall = stats.PASS
    accepted = overall == stats.WORSE and accept_worse and mode == "pr"
    exit_code = {ERROR: EXIT_INFRA, stats.FAIL: EXIT_FAIL, stats.PASS: EXIT_PASS}.get(overall)
    if exit_code is None:
        blocking = mode == "release" or (overall == stats.WORSE and not accepted)
        exit_code = EXIT_FAIL if blocking else EXIT_PASS
    changed = changes.inputs(base, head) if base else {"files": [], "hashes": {}}
    regressions, counts = changes.regressions(gated, base, head, REGRESSIONS_SHOWN) if base else ([], {})
    by_metric = {m["name"]: {"worse": m.get("worse", 0)} for m in metrics if m["verdict"] not in (SKIPPED, NO_BASELINE)}
    return {
        "schema": 2,
        "mode": mode,
        "verdict": overall,
        "exit_code": exit_code,
        "accepted": accepted,
        "alpha": settings.alpha,
        "level": level,
        "looks": looks,
        "headline": changes.headline(counts, regressions, changed, by_metric) if base else None,
        "changed": changed,
        "head": _side_info(head),
        "baseline": _side_info(base) if base else None,
        "metrics": metrics,
        "thresholds": thresholds,
        "failure_limits": limits,
        "must_pass": must_pass,
        "budgets": budgets,
        "promptfoo": promptfoo,
        "stopped": stopped,
        "only_in_head": sorted(head.outputs.keys() - base.outputs.keys()) if base else [],
        "only_in_baseline": sorted(base.outputs.keys() - head.outputs.keys()) if base and not stopped else [],
        "not_evaluated": sorted(head.not_evaluated),
        "coverage": coverage,
        "errors": errors[:50],
        "error_count": len(errors),
        "skipped": {metric: dict(reasons) for metric, reasons in head.skipped.items()},
        "case_counts": counts,
        "regressions": regressions,
        "cases": case_table(_used_metrics(settings), head, base),
        "notes": notes,
    }


def _level(settings: EvalSettings, head: Side) -> tuple[float, list[float]]:
    """α, or for a run that looked at its comparison while running, the nominal level of its last look: the
    looks already spent part of α (stats/sequential.py)."""
    sequential = head.summary.get("sequential") or {}
    fractions = [float(f) for f in sequential.get("looks") or []]
    if not fractions:
        return settings.alpha, []
    if not sequential.get("stopped") and fractions[-1] < 1.0:
        fractions.append(1.0)  # this analysis of the finished run is one more look
    return nominal_levels(settings.alpha, fractions)[-1], fractions


def compare(
    settings: EvalSettings, gated: list[str], head: Side, base: Side | None, mode: Mode, level: float
) -> list[dict[str, Any]]:
    """One row per gated metric: means, the paired comparison and its verdict."""
    rows = []
    for name in gated:
        head_scores = head.scores.get(name, {})
        row: dict[str, Any] = {
            "name": name,
            "tolerance": settings.metric(name).tolerance,
            "head_mean": _mean_of_cases(head_scores),
            "n_head": len(head_scores),
        }
        if not head_scores:
            reasons = head.skipped.get(name)
            row["skipped_reason"] = "; ".join(reasons) if reasons else "no case measured it"
        elif base is not None and not base.scores.get(name):
            row["skipped_reason"] = "not measured on the baseline"
        rows.append(row)
    measured = [r for r in rows if "skipped_reason" not in r]
    for row in rows:
        if "skipped_reason" in row:
            row["verdict"] = stats.INCONCLUSIVE if mode == "release" else SKIPPED
        elif base is None:
            row["verdict"] = NO_BASELINE
    if base is None or not measured:
        return rows
    comparisons = [paired(base.scores.get(r["name"], {}), head.scores.get(r["name"], {})) for r in measured]
    decisions = decide(comparisons, [r["tolerance"] for r in measured], alpha=settings.alpha, level=level)
    counts = changes.case_changes([r["name"] for r in measured], base, head)
    for row, p, d in zip(measured, comparisons, decisions, strict=True):
        row.update(
            n_pairs=p.n,
            base_mean=_finite(p.base_mean),
            delta=_finite(p.delta),
            se=_finite(p.se),
            lower=_finite(d.lower),
            upper=_finite(d.upper),
            p_fail=_finite(d.p_fail),
            p_pass=_finite(d.p_pass),
            p_worse=_finite(d.p_worse),
            mde=_finite(d.mde),
            verdict=d.verdict,
            **counts[row["name"]],
        )
        if d.reason:
            row["verdict_reason"] = d.reason
    return rows


def _skipped_notes(metrics: list[dict[str, Any]], mode: Mode) -> list[str]:
    """Each reason a gated metric could not run, once, with the metrics it kept out."""
    by_reason: dict[str, list[str]] = {}
    for m in metrics:
        if m.get("skipped_reason"):
            by_reason.setdefault(m["skipped_reason"], []).append(m["name"])
    consequence = (
        "release mode requires every gated metric, so this blocks the release"
        if mode == "release"
        else "left out of this verdict (release mode requires them)"
    )
    return [f"{', '.join(names)}: not measured ({reason}); {consequence}" for reason, names in by_reason.items()]


def _stop_note(stopped: dict[str, Any]) -> str:
    ran, planned = stopped.get("cases_run"), stopped.get("cases_planned")
    saved = f"; about {stopped.get('calls_saved', 0)} model calls and ${stopped.get('usd_saved', 0):.4f} saved"
    if stopped.get("kind") == "cost_cap":
        return (
            f"the run stopped at its cost cap (${stopped.get('limit_usd')}) after {ran} of {planned} cases: "
            "the rest were not evaluated, so the verdict cannot pass as complete"
        )
    decision = f"{stopped.get('decision')} was certain after {ran} of {planned} cases"
    return f"stopped early at look {stopped.get('look')}: {decision}{saved}"


def must_pass_rows(gated: list[str], head: Side, base: Side | None, mode: Mode) -> list[dict[str, Any]]:
    """Must-pass cases that fail on the head. One that passed on the base blocks whatever the statistics say;
    one already failing there blocks only a release (a PR did not break it)."""
    rows = []
    for case in sorted(head.must_pass):
        if head.case_passed(case, gated) is not False:
            continue
        before = base.case_passed(case, gated) if base else None
        failing = sorted(m for m in gated if min(head.passes.get(m, {}).get(case, [1.0])) < 1.0)
        output = head.outputs.get(case, {})
        rows.append(
            {
                "case": case,
                "base": before,
                "metrics": failing,
                "blocks": before is not False or mode == "release",
                "status": "broken by this change"
                if before
                else "failing on the baseline too"
                if before is False
                else "failing",
                "input": output.get("input", ""),
                "answer": output.get("answer", ""),
            }
        )
    return rows


def _thresholds(settings: EvalSettings, gated: list[str], head: Side) -> list[dict[str, Any]]:
    rows = []
    for name in gated:
        metric = settings.metric(name)
        if metric.min_pass_rate is not None:
            per_case = [fmean(v) for v in head.passes.get(name, {}).values()]
            lower, upper = wilson_interval(sum(per_case), len(per_case), settings.alpha)
            value = fmean(per_case) if per_case else None
            verdict = threshold_verdict(lower, upper, metric.min_pass_rate) if per_case else stats.INCONCLUSIVE
            rows.append(
                _threshold_row(name, "pass_rate", value, metric.min_pass_rate, lower, upper, verdict, len(per_case))
            )
        if metric.min_mean is not None:
            per_case = [fmean(v) for v in head.scores.get(name, {}).values()]
            lower, upper = t_interval(per_case, settings.alpha)
            value = fmean(per_case) if per_case else None
            verdict = threshold_verdict(lower, upper, metric.min_mean) if len(per_case) >= 2 else stats.INCONCLUSIVE
            rows.append(_threshold_row(name, "mean", value, metric.min_mean, lower, upper, verdict, len(per_case)))
    return rows


def failure_limit_rows(settings: EvalSettings, gated: list[str], head: Side) -> list[dict[str, Any]]:
    """Hard limits on the number of failing cases (a case fails if any repeat does). A failure seen is a
    failure even when some cases were not evaluated, so these are never softened to INCONCLUSIVE."""
    rows = []
    for name in gated:
        limit = settings.metric(name).max_failures
        if limit is None:
            continue
        passes = head.passes.get(name, {})
        failing = sorted(case for case, repeats in passes.items() if min(repeats) < 1.0)
        verdict = stats.FAIL if len(failing) > limit else stats.PASS if passes else stats.INCONCLUSIVE
        examples = [  # the evidence: what was asked, and what the bot said
            {"case": case, "input": head.outputs[case].get("input", ""), "answer": head.outputs[case].get("answer", "")}
            for case in failing[:LIMIT_EXAMPLES]
            if case in head.outputs
        ]
        rows.append(
            {
                "metric": name,
                "failed": len(failing),
                "limit": limit,
                "n": len(passes),
                "cases": failing,
                "examples": examples,
                "verdict": verdict,
            }
        )
    return rows


def _promptfoo(results: Path, evaluated: dict[str, Any]) -> dict[str, Any] | None:
    """promptfoo's outcome, when `make promptfoo` ran into this results dir: a FAIL or ERROR there counts here."""
    path = results / PROMPTFOO_SUMMARY
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise FileError(path, None, f"not valid JSON ({exc}); rerun `make promptfoo`") from None
    if summary.get("status") not in (stats.PASS, stats.FAIL, stats.INCONCLUSIVE, ERROR):
        raise FileError(path, None, f"unknown status {summary.get('status')!r}; rerun `make promptfoo`")
    head_versions = (evaluated.get("hashes") or {}).get("versions")
    if summary.get("versions") and head_versions and summary["versions"] != head_versions:
        raise FileError(path, None, "promptfoo ran another version of the bot than the evals: rerun `make promptfoo`")
    return {**summary, "failed": (summary.get("failed") or [])[:REGRESSIONS_SHOWN]}


def _threshold_row(
    metric: str, kind: str, value: float | None, minimum: float, lower: float, upper: float, verdict: str, n: int
) -> dict[str, Any]:
    return {
        "metric": metric,
        "kind": kind,
        "value": value,
        "minimum": minimum,
        "lower": _finite(lower),
        "upper": _finite(upper),
        "n": n,
        "verdict": verdict,
    }


def _budgets(settings: EvalSettings, head: Side) -> list[dict[str, Any]]:
    """Budgets are point checks on the head run (a mean and a percentile), not statistical comparisons."""
    measured = {
        "cost_per_case_usd": (settings.budgets.cost_per_case_usd, fmean(head.costs) if head.costs else None),
        "p95_latency_ms": (settings.budgets.p95_latency_ms, _finite(percentile(head.latencies, 95))),
    }
    rows = []
    for name, (limit, value) in measured.items():
        if limit is None:
            continue
        verdict = stats.INCONCLUSIVE if value is None else stats.PASS if value <= limit else stats.FAIL
        rows.append({"name": name, "value": value, "limit": limit, "verdict": verdict})
    return rows


def _side_info(side: Side) -> dict[str, Any]:
    summary = side.summary
    return {
        "path": str(side.path),
        "cases": len(side.outputs),
        "git_sha": summary.get("git_sha"),
        "provider": summary.get("provider"),
        "model": summary.get("model"),
        "judge": summary.get("judge"),
        "hashes": summary.get("hashes"),
        "cost_usd": summary.get("cost_usd"),
        "latency_ms": {
            "p50": _finite(percentile(side.latencies, 50)),
            "p95": _finite(percentile(side.latencies, 95)),
        },
        "langsmith_url": summary.get("langsmith_url"),
    }


def _mean_of_cases(scores: dict[str, list[float]]) -> float | None:
    return fmean(fmean(v) for v in scores.values()) if scores else None


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else round(x, 6)
