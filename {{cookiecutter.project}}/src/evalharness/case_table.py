"""Every case of a gated run, side by side with the baseline: the question, both answers, both source lists
and each metric's score and reason. report.html turns it into a table a reviewer can filter and search; the
verdict carries it so `make report` re-renders the same page."""

from __future__ import annotations

from statistics import fmean
from typing import Any

from evalharness.sides import Side
from evalharness.stats.paired import CHANGE_TOLERANCE

TEXT_CHARS = 2000  # per answer: enough to judge it, bounded so verdict.json stays small at any dataset size

# The order a reviewer reads them in: what broke first, then what fails anyway, then the rest.
CHANGE_ORDER = ("worse", "failing", "better", "new", "same")


def case_table(metrics: list[str], head: Side, base: Side | None) -> list[dict[str, Any]]:
    cases = sorted(set(head.outputs) | {c for m in metrics for c in head.scores.get(m, {})})
    table = [_case(case, metrics, head, base) for case in cases]
    table.sort(key=lambda row: (CHANGE_ORDER.index(row["change"]), row["case"]))
    return table


def _case(case: str, metrics: list[str], head: Side, base: Side | None) -> dict[str, Any]:
    output, base_output = head.outputs.get(case, {}), (base.outputs.get(case, {}) if base else {})
    scores = [_score(case, name, head, base) for name in metrics if case in head.scores.get(name, {})]
    deltas = [s["head"] - s["base"] for s in scores if s["base"] is not None]
    passed = head.case_passed(case, metrics)
    if base is None or not deltas:
        change = "failing" if passed is False else "new" if base is not None else "same"
    elif min(deltas) < -CHANGE_TOLERANCE:
        change = "worse"
    elif passed is False:
        change = "failing"
    else:
        change = "better" if max(deltas) > CHANGE_TOLERANCE else "same"
    return {
        "case": case,
        "suite": output.get("suite") or case.split("/", 1)[0],
        "tags": [str(tag) for tag in output.get("tags") or []],
        "must_pass": case in head.must_pass,
        "change": change,
        "passed": passed,
        "input": _text(output.get("input")),
        "answer": _text(output.get("answer")),
        "base_answer": _text(base_output.get("answer")) if base_output else None,
        "sources": list(dict.fromkeys(output.get("sources") or [])),
        "base_sources": list(dict.fromkeys(base_output.get("sources") or [])) if base_output else None,
        "scores": scores,
    }


def _score(case: str, metric: str, head: Side, base: Side | None) -> dict[str, Any]:
    base_scores = base.scores.get(metric, {}).get(case) if base else None
    return {
        "metric": metric,
        "head": round(fmean(head.scores[metric][case]), 4),
        "base": round(fmean(base_scores), 4) if base_scores else None,
        "passed": min(head.passes[metric][case]) >= 1.0,
        "reason": _text(head.rows[metric][case][0].get("reason"), 500),
    }


def _text(value: Any, limit: int = TEXT_CHARS) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
