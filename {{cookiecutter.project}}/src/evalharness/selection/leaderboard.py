"""The leaderboard: every contestant's results dir, reduced to intervals, comparisons and a recommendation.

The rule (docs/model-selection.md): among contestants that pass eval.yaml's absolute bars, a contestant
is *in the top group* when, on every gated metric, it is confidently within the metric's tolerance of the
metric's leader (the gate's paired test, Holm-corrected across metrics, against the best mean). The
recommendation is the cheapest of the top group (then the better quality, then the faster). When the data
cannot tell whether a cheaper contestant belongs to the top group, or no contestant does, it is a tie, and
the leaderboard says how many cases would settle it.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist, fmean
from typing import Any

from evalharness import stats
from evalharness.gate import Side, evaluate, gated_metrics, read_side
from evalharness.selection.candidates import CURRENT, Candidate
from evalharness.settings import EvalSettings
from evalharness.stats.bounds import percentile, t_interval
from evalharness.stats.paired import Paired, decide, paired

TOP, UNDECIDED, WORSE, DISQUALIFIED, FAILED = "top", "undecided", "worse", "disqualified", "error"
_ORDER = {TOP: 0, UNDECIDED: 1, WORSE: 2, DISQUALIFIED: 3, FAILED: 4}


def build(
    settings: EvalSettings,
    runs: dict[str, Path],
    candidates: dict[str, Candidate],
    exit_codes: dict[str, int] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """runs: contestant name -> results dir (CURRENT is bot.yaml as committed); exit codes and the errors
    of runs made here, when known (a failed run's own message explains it best)."""
    exit_codes, errors = exit_codes or {}, errors or {}
    rows = {
        name: _contestant(settings, name, path, candidates.get(name), exit_codes.get(name), errors.get(name))
        for name, path in runs.items()
    }
    sides = {name: row.pop("_side") for name, row in rows.items()}
    evaluated = set().union(*(sides[n].outputs.keys() for n, r in rows.items() if r["status"] is None))
    for name, row in rows.items():
        if row["status"] is None and len(sides[name].outputs) < len(evaluated):  # e.g. a run cut off by a timeout
            row.update(status=FAILED, reasons=[f"evaluated {len(sides[name].outputs)} of {len(evaluated)} cases"])
    qualified = [n for n, r in rows.items() if r["status"] is None]
    metrics = [m for m in gated_metrics(settings) if qualified and all(sides[n].scores.get(m) for n in qualified)]
    skipped = [m for m in gated_metrics(settings) if m not in metrics]
    if CURRENT in runs and rows[CURRENT]["status"] != FAILED:
        for name, row in rows.items():
            if name != CURRENT and row["status"] != FAILED:
                row["vs_current"] = _vs_current(settings, runs[name], runs[CURRENT])
    leaders = {m: max(qualified, key=lambda n: (rows[n]["metrics"][m]["mean"], n == CURRENT)) for m in metrics}
    for name in qualified:
        rows[name]["vs_leader"] = _vs_leader(settings, name, sides, leaders, metrics)
        rows[name]["status"] = rows[name]["vs_leader"]["status"]
        rows[name]["quality"] = _quality(sides[name], metrics, settings.alpha)
    ranked = sorted(rows.values(), key=_rank_key)
    for rank, row in enumerate(ranked, start=1):
        row["rank"] = rank
    return {
        "schema": 1,
        "alpha": settings.alpha,
        "power": settings.selection.power,
        "metrics": metrics,
        "tolerances": {m: settings.metric(m).tolerance for m in metrics},
        "skipped_metrics": skipped,
        "leaders": leaders,
        "contestants": ranked,
        "recommendation": recommend(ranked, metrics),
    }


def recommend(ranked: list[dict[str, Any]], metrics: list[str]) -> dict[str, Any]:
    top = [r for r in ranked if r["status"] == TOP]
    undecided = [r for r in ranked if r["status"] == UNDECIDED]
    if not top and not undecided:
        message = (
            "No contestant passed the absolute bars of eval.yaml: none can be recommended."
            if any(r["status"] == DISQUALIFIED for r in ranked)
            else "No contestant has usable results (see why below): none can be recommended."
        )
        return {"kind": "none", "name": None, "contenders": [], "more_cases": None, "message": message}
    if not top:
        more = _more(undecided)
        message = "No contestant is yet shown to be within tolerance of the best on every gated metric" + (
            f": about {more} more cases would tell." if more else "."
        )
        return _tie(None, undecided, message, more)
    best = min(top, key=_choice_key)
    in_play = top + undecided
    unpriced = [r for r in in_play if r.get("cost_per_1000") is None]
    if unpriced and len(unpriced) < len(in_play):  # the cheapest cannot be named
        names = ", ".join(r["name"] for r in unpriced)
        message = f"No price for {names}: add it to eval.yaml's prices or the candidate's `price`."
        return _tie(best, [r for r in unpriced if r is not best], message, None)
    cheaper = [r for r in undecided if _cost(r) < _cost(best)]
    if cheaper:
        more = _more(cheaper)
        message = (
            f"A cheaper contestant may be as good: about {more} more cases would tell."
            if more
            else "A cheaper contestant sits exactly at the tolerance: more cases alone will not tell."
        ) + f" Until then, {best['name']} is the cheapest shown to be as good as the best."
        return _tie(best, cheaper, message, more)
    same = [r for r in top if r is not best and _cost(r) == _cost(best)]
    if same:
        message = (
            "They cost the same" if unpriced == [] else "No contestant has a price"
        ) + " and are within tolerance of the best on every gated metric."
        if CURRENT in {r["name"] for r in [best, *same]}:
            message += " Keep bot.yaml: a switch needs a reason."
        return _tie(best, same, message, None)
    if best["name"] == CURRENT:
        message = "Keep bot.yaml: no cheaper contestant is within tolerance of the best on every gated metric."
        return {"kind": "keep", "name": CURRENT, "contenders": [CURRENT], "more_cases": None, "message": message}
    message = (
        f"Switch to {best['name']}: within tolerance of the best on every gated metric"
        f" ({', '.join(metrics)}), and the cheapest that is."
    )
    return {
        "kind": "switch",
        "name": best["name"],
        "contenders": [best["name"]],
        "more_cases": None,
        "message": message,
    }


def _tie(best: dict[str, Any] | None, others: list[dict[str, Any]], reason: str, more: int | None) -> dict[str, Any]:
    contenders = ([best] if best else []) + others
    names = ", ".join(r["name"] for r in contenders)
    return {
        "kind": "tie",
        "name": best["name"] if best else None,
        "contenders": [r["name"] for r in contenders],
        "more_cases": more,
        "message": f"Tie: the data cannot separate {names}. {reason}",
    }


def _more(rows: list[dict[str, Any]]) -> int | None:
    known = [r["vs_leader"]["more_cases"] for r in rows if r["vs_leader"]["more_cases"] is not None]
    return max(known) if known else None


# ---------------------------------------------------------------- one contestant


def _contestant(
    settings: EvalSettings,
    name: str,
    path: Path,
    candidate: Candidate | None,
    exit_code: int | None,
    error: str | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "description": "bot.yaml as committed" if name == CURRENT else (candidate.description if candidate else ""),
        "overrides": candidate.overrides if candidate else {},
        "results": str(path),
        "exit_code": exit_code,
        "status": None,
        "reasons": [],
        "metrics": {},
        "quality": None,  # {mean, lower, upper, n}: per case, the mean of its gated metric scores
        "_side": None,
    }
    try:
        side = read_side(path)
    except Exception as exc:  # no results at all: the run could not start
        row.update(status=FAILED, reasons=[error or f"no results: {exc}"])
        return row
    row["_side"] = side
    answered = len(side.latencies)
    row.update(
        model=side.summary.get("model"),
        provider=side.summary.get("provider"),
        cases=len(side.outputs),
        cost_per_1000=_round(1000 * fmean(side.costs), 6) if side.costs and len(side.costs) == answered else None,
        latency_ms={
            "p50": _finite(percentile(side.latencies, 50)),
            "p95": _finite(percentile(side.latencies, 95)),
        },
        model_calls=side.summary.get("model_calls"),
    )
    for metric in gated_metrics(settings):
        per_case = [fmean(v) for v in side.scores.get(metric, {}).values()]
        if per_case:
            lower, upper = _interval(per_case, settings.alpha)
            row["metrics"][metric] = {
                "mean": _round(fmean(per_case)),
                "lower": _finite(lower),
                "upper": _finite(upper),
                "n": len(per_case),
            }
    if side.errors or (exit_code not in (None, 0)):
        reason = f"{len(side.errors)} unit(s) hit infrastructure errors" if side.errors else f"run exited {exit_code}"
        row.update(status=FAILED, reasons=[reason, *([error] if error else [])])
        return row
    if side.not_evaluated:
        row.update(status=FAILED, reasons=[f"{len(side.not_evaluated)} case(s) not evaluated (replay misses)"])
        return row
    verdict = evaluate(settings, path, None, "pr")  # eval.yaml's absolute bars: what a switch PR must also pass
    bars = [
        *(
            f"{r['metric']} {r['kind']} {_fmt(r['value'])} below {r['minimum']}"
            for r in verdict["thresholds"]
            if r["verdict"] == stats.FAIL
        ),
        *(
            f"{r['metric']}: {r['failed']} failing case(s), limit {r['limit']}"
            for r in verdict["failure_limits"]
            if r["verdict"] == stats.FAIL
        ),
        *(
            f"{r['name']} {_fmt(r['value'])} over {r['limit']}"
            for r in verdict["budgets"]
            if r["verdict"] == stats.FAIL
        ),
    ]
    if bars:
        row.update(status=DISQUALIFIED, reasons=bars)
    return row


def _vs_current(settings: EvalSettings, head: Path, current: Path) -> dict[str, Any]:
    """What the gate would say of a PR that switches bot.yaml to this contestant."""
    verdict = evaluate(settings, head, current, "pr")
    return {
        "verdict": verdict["verdict"],
        "metrics": [
            {k: m.get(k) for k in ("name", "delta", "lower", "upper", "verdict", "mde", "n_pairs")}
            for m in verdict["metrics"]
        ],
    }


def _vs_leader(
    settings: EvalSettings, name: str, sides: dict[str, Side], leaders: dict[str, str], metrics: list[str]
) -> dict[str, Any]:
    if not metrics:
        return {"status": UNDECIDED, "metrics": [], "more_cases": None}
    comparisons = [paired(sides[leaders[m]].scores[m], sides[name].scores[m]) for m in metrics]
    tolerances = [settings.metric(m).tolerance for m in metrics]
    decisions = decide(comparisons, tolerances, settings.alpha, settings.selection.power)
    rows, more = [], []
    for metric, p, tol, d in zip(metrics, comparisons, tolerances, decisions, strict=True):
        needed = None
        if d.verdict in (stats.INCONCLUSIVE, stats.WORSE):  # undecided against the leader's tolerance
            needed = _more_cases(p, tol, settings.alpha / len(metrics), settings.selection.power)
            more.append(needed)
        rows.append(
            {
                "name": metric,
                "leader": leaders[metric],
                "delta": _finite(p.delta),
                "lower": _finite(d.lower),
                "upper": _finite(d.upper),
                "verdict": d.verdict,
                "mde": _finite(d.mde),
                "more_cases": needed,
            }
        )
    verdicts = {d.verdict for d in decisions}
    status = WORSE if stats.FAIL in verdicts else TOP if verdicts == {stats.PASS} else UNDECIDED
    known = [m for m in more if m is not None]
    return {"status": status, "metrics": rows, "more_cases": max(known) if known and len(known) == len(more) else None}


def _quality(side: Side, metrics: list[str], alpha: float) -> dict[str, Any] | None:
    """One number to plot and rank by: per case, the mean of its gated metric scores; over cases, the mean
    with its two-sided (1 - alpha) interval."""
    per_case: dict[str, list[float]] = {}
    for metric in metrics:
        for case, repeats in side.scores[metric].items():
            per_case.setdefault(case, []).append(fmean(repeats))
    if not per_case:
        return None
    composite = [fmean(v) for v in per_case.values()]
    lower, upper = _interval(composite, alpha)
    return {"mean": _round(fmean(composite)), "lower": _finite(lower), "upper": _finite(upper), "n": len(composite)}


def _interval(values: list[float], alpha: float) -> tuple[float, float]:
    """Two-sided (1 - alpha) t interval of a mean score, within the scores' own range [0, 1]."""
    lower, upper = t_interval(values, alpha / 2)
    return max(0.0, lower), min(1.0, upper)


def _more_cases(p: Paired, tolerance: float, level: float, power: float) -> int | None:
    """Extra paired cases for this comparison to be decided with the given power, if the observed mean
    difference and spread hold: n = ((z_level + z_power) · sd / |d̄ + Δ|)². None when d̄ sits on -Δ."""
    margin = p.delta + tolerance
    if p.n < 2 or math.isnan(p.se) or abs(margin) < 1e-12:
        return None
    sd = p.se * math.sqrt(p.n)
    z = NormalDist().inv_cdf(1 - level) + NormalDist().inv_cdf(power)
    return max(1, math.ceil((z * sd / abs(margin)) ** 2) - p.n)


def _rank_key(row: dict[str, Any]) -> tuple:
    return (_ORDER[row["status"] or FAILED], *_choice_key(row))


def _choice_key(row: dict[str, Any]) -> tuple:
    p95 = (row.get("latency_ms") or {}).get("p95")
    return (
        _cost(row),
        -((row.get("quality") or {}).get("mean") or 0.0),
        p95 if p95 is not None else math.inf,
        row["name"] != CURRENT,
    )


def _cost(row: dict[str, Any]) -> float:
    cost = row.get("cost_per_1000")
    return math.inf if cost is None else round(cost, 6)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or x != x else round(x, digits)


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else round(x, 6)


__all__ = ["DISQUALIFIED", "FAILED", "TOP", "UNDECIDED", "WORSE", "build", "recommend"]
