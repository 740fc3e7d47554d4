"""The gate: compare a results dir with a baseline and decide PASS / FAIL / INCONCLUSIVE (or ERROR).

Exit codes (the contract CI relies on): 0 pass (INCONCLUSIVE passes in PR mode), 1 quality fail,
2 bad input or config, 3 infrastructure error (model, judge, network). An infrastructure error is never
shown as a quality failure: if any unit errored, the verdict is ERROR and the exit code 3.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

from evalharness import stats
from evalharness.promptfoo.cli import SUMMARY as PROMPTFOO_SUMMARY
from evalharness.results import RUN_FILE, ResultsDir
from evalharness.settings import EvalSettings
from yamlcheck import FileError

Mode = Literal["pr", "release", "nightly"]
EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INFRA = 0, 1, 2, 3
ERROR = "ERROR"
NO_BASELINE = "NO_BASELINE"
REGRESSIONS_SHOWN = 8
LIMIT_EXAMPLES = 3  # failing cases per failure limit shown with their answers


@dataclass
class Side:
    """One results dir, reduced to what the gate needs."""

    path: Path
    scores: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: defaultdict(dict)
    )  # metric -> case -> repeats
    passes: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(dict))
    skipped: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )  # metric -> reason -> n
    errors: list[dict[str, Any]] = field(default_factory=list)
    not_evaluated: set[str] = field(default_factory=set)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # case -> first repeat's output row
    costs: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def read_side(path: Path) -> Side:
    results = ResultsDir(path)
    if not (path / RUN_FILE).is_file():
        raise FileError(path, None, f"not a results dir (no {RUN_FILE}); run `make eval RESULTS={path}` first")
    side = Side(path)
    for key, row in results.outputs().items():
        case = f"{key[0]}/{key[1]}"
        if row["status"] == "error":
            side.errors.append({"case": case, "repeat": key[2], "reason": row.get("reason", "")})
        elif row["status"] == "not_evaluated":
            side.not_evaluated.add(case)
        else:
            side.outputs.setdefault(case, row)
            if row.get("cost_usd") is not None:
                side.costs.append(row["cost_usd"])
            side.latencies.append(row["latency_ms"])
    for row in results.results():
        case, metric = f"{row['suite']}/{row['case']}", row["metric"]
        if row["status"] == "ok":
            side.scores[metric].setdefault(case, []).append(row["score"])
            side.passes[metric].setdefault(case, []).append(1.0 if row["passed"] else 0.0)
        elif row["status"] == "skipped":
            side.skipped[metric][row["reason"]] += 1
        elif row["status"] == "error":
            side.errors.append({"case": case, "repeat": row["repeat"], "metric": metric, "reason": row["reason"]})
        else:
            side.not_evaluated.add(case)
    summary = path / "summary.json"
    if summary.is_file():
        side.summary = json.loads(summary.read_text(encoding="utf-8"))
    return side


def gated_metrics(settings: EvalSettings) -> list[str]:
    used = [m for suite in settings.suites.values() for m in suite.metrics]
    return [m for m in dict.fromkeys(used) if settings.metric(m).gate]


def evaluate(settings: EvalSettings, head_path: Path, base_path: Path | None, mode: Mode = "pr") -> dict[str, Any]:
    head = read_side(head_path)
    base = read_side(base_path) if base_path else None
    gated = gated_metrics(settings)
    metrics = _compare(settings, gated, head, base)
    thresholds = _thresholds(settings, gated, head)
    limits = _failure_limits(settings, gated, head)
    promptfoo = _promptfoo(head_path, head.summary)
    budgets = _budgets(settings, head)
    notes = []
    if head.not_evaluated:
        # Replay misses leave a biased subset (the cached cases): it may not fail an absolute bar for the
        # whole dataset. Paired comparisons stay valid on the cases both sides have.
        for row in thresholds + budgets:
            if row["verdict"] == stats.FAIL:
                row["verdict"] = stats.INCONCLUSIVE
                notes.append(f"{row.get('metric') or row.get('name')}: below its bar on the evaluated subset only")
    if head.not_evaluated:
        notes.append(
            f"{len(head.not_evaluated)} case(s) were not evaluated (cache misses in replay mode): "
            "the verdict needs a maintainer-approved live run"
        )
    for m in metrics:
        if m["verdict"] == stats.INCONCLUSIVE and m.get("skipped_reason"):
            notes.append(f"{m['name']}: not evaluated ({m['skipped_reason']})")
    compared = [m["verdict"] for m in metrics if m["verdict"] != NO_BASELINE]  # without a baseline: thresholds only
    verdicts = compared + [r["verdict"] for r in thresholds + limits + budgets]
    if promptfoo:  # promptfoo's outcome counts like one more check (ERROR as an infrastructure error)
        verdicts.append(promptfoo["status"])
        if promptfoo["status"] in (ERROR, stats.INCONCLUSIVE):
            notes.append(f"promptfoo: {promptfoo.get('reason')}")
    errors = head.errors + (base.errors if base else [])
    if errors or ERROR in verdicts:
        overall = ERROR
    elif stats.FAIL in verdicts:
        overall = stats.FAIL
    elif head.not_evaluated or any(v != stats.PASS for v in verdicts):
        overall = stats.INCONCLUSIVE
    else:
        overall = stats.PASS
    exit_code = {ERROR: EXIT_INFRA, stats.FAIL: EXIT_FAIL, stats.PASS: EXIT_PASS}.get(
        overall, EXIT_FAIL if mode == "release" else EXIT_PASS
    )
    return {
        "schema": 1,
        "mode": mode,
        "verdict": overall,
        "exit_code": exit_code,
        "alpha": settings.alpha,
        "head": _side_info(head),
        "baseline": _side_info(base) if base else None,
        "metrics": metrics,
        "thresholds": thresholds,
        "failure_limits": limits,
        "budgets": budgets,
        "promptfoo": promptfoo,
        "only_in_head": sorted(head.outputs.keys() - base.outputs.keys()) if base else [],
        "only_in_baseline": sorted(base.outputs.keys() - head.outputs.keys()) if base else [],
        "not_evaluated": sorted(head.not_evaluated),
        "errors": errors[:50],
        "error_count": len(errors),
        "skipped": {metric: dict(reasons) for metric, reasons in head.skipped.items()},
        "regressions": _regressions(gated, head, base) if base else [],
        "notes": notes,
    }


def _compare(settings: EvalSettings, gated: list[str], head: Side, base: Side | None) -> list[dict[str, Any]]:
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
        rows.append(row)
    if base is None:
        for row in rows:
            row["verdict"] = stats.INCONCLUSIVE if "skipped_reason" in row else NO_BASELINE
        return rows
    comparisons = [stats.paired(base.scores.get(r["name"], {}), head.scores.get(r["name"], {})) for r in rows]
    decisions = stats.decide(comparisons, [r["tolerance"] for r in rows], alpha=settings.alpha)
    for row, p, d in zip(rows, comparisons, decisions, strict=True):
        row.update(
            n_pairs=p.n,
            base_mean=_finite(p.base_mean),
            delta=_finite(p.delta),
            se=_finite(p.se),
            lower=_finite(d.lower),
            upper=_finite(d.upper),
            p_fail=d.p_fail,
            p_pass=d.p_pass,
            mde=_finite(d.mde),
            verdict=d.verdict,
        )
    return rows


def _thresholds(settings: EvalSettings, gated: list[str], head: Side) -> list[dict[str, Any]]:
    rows = []
    for name in gated:
        metric = settings.metric(name)
        if metric.min_pass_rate is not None:
            per_case = [fmean(v) for v in head.passes.get(name, {}).values()]
            lower, upper = stats.wilson_interval(sum(per_case), len(per_case), settings.alpha)
            value = fmean(per_case) if per_case else None
            verdict = stats.threshold_verdict(lower, upper, metric.min_pass_rate) if per_case else stats.INCONCLUSIVE
            rows.append(
                _threshold_row(name, "pass_rate", value, metric.min_pass_rate, lower, upper, verdict, len(per_case))
            )
        if metric.min_mean is not None:
            per_case = [fmean(v) for v in head.scores.get(name, {}).values()]
            lower, upper = stats.t_interval(per_case, settings.alpha)
            value = fmean(per_case) if per_case else None
            verdict = (
                stats.threshold_verdict(lower, upper, metric.min_mean) if len(per_case) >= 2 else stats.INCONCLUSIVE
            )
            rows.append(_threshold_row(name, "mean", value, metric.min_mean, lower, upper, verdict, len(per_case)))
    return rows


def _failure_limits(settings: EvalSettings, gated: list[str], head: Side) -> list[dict[str, Any]]:
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
        "p95_latency_ms": (settings.budgets.p95_latency_ms, _finite(stats.percentile(head.latencies, 95))),
    }
    rows = []
    for name, (limit, value) in measured.items():
        if limit is None:
            continue
        verdict = stats.INCONCLUSIVE if value is None else stats.PASS if value <= limit else stats.FAIL
        rows.append({"name": name, "value": value, "limit": limit, "verdict": verdict})
    return rows


def _regressions(gated: list[str], head: Side, base: Side) -> list[dict[str, Any]]:
    """The cases that got worst, with enough context (input, both answers) to see why."""
    drops = []
    for name in gated:
        for case in head.scores.get(name, {}).keys() & base.scores.get(name, {}).keys():
            delta = fmean(head.scores[name][case]) - fmean(base.scores[name][case])
            if delta < 0:
                drops.append((delta, name, case))
    drops.sort()
    shown = []
    for delta, name, case in drops[:REGRESSIONS_SHOWN]:
        head_row, base_row = head.outputs.get(case, {}), base.outputs.get(case, {})
        shown.append(
            {
                "case": case,
                "metric": name,
                "delta": round(delta, 4),
                "base": round(fmean(base.scores[name][case]), 4),
                "head": round(fmean(head.scores[name][case]), 4),
                "input": head_row.get("input", ""),
                "head_answer": head_row.get("answer", ""),
                "base_answer": base_row.get("answer", ""),
            }
        )
    return shown


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
            "p50": _finite(stats.percentile(side.latencies, 50)),
            "p95": _finite(stats.percentile(side.latencies, 95)),
        },
        "langsmith_url": summary.get("langsmith_url"),
    }


def _mean_of_cases(scores: dict[str, list[float]]) -> float | None:
    return fmean(fmean(v) for v in scores.values()) if scores else None


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else round(x, 6)
