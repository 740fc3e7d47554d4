"""Rules that end a run before its last case: a hard cost cap, and sequential looks at the comparison with
the baseline that stop as soon as the verdict is certain. Both leave a seeded random sample evaluated."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalharness.results import write_json
from evalharness.runner import WAIT
from evalharness.settings import EvalSettings
from evalharness.sides import Side, read_side
from evalharness.stats.verdicts import FAIL

LOOKS_FILE = "sequential.json"  # the looks taken so far: a resumed run continues the same schedule


class CostCap:
    """Start no unit that could take the run past `limit_usd` of live model and judge calls. What a unit costs
    is estimated from the finished ones (until one has finished, the first wave starts on trust): a unit
    that would not fit waits for those running; when nothing runs and it still does not fit, the run stops."""

    def __init__(self, limit_usd: float, spent: Callable[[], float]):
        self.limit, self.spent = limit_usd, spent

    def before_start(self, running: int, finished: int) -> dict[str, Any] | None:
        spent = self.spent()
        per_unit = spent / finished if finished else 0.0
        if spent < self.limit and spent + (running + 1) * per_unit <= self.limit:
            return None
        if running and spent < self.limit:
            return WAIT  # the running units may cost less than feared: ask again when one finishes
        return {"kind": "cost_cap", "limit_usd": self.limit, "spent_usd": round(spent, 6)}

    def after_finish(self, finished: int) -> dict[str, Any] | None:
        return None


class SequentialLooks:
    """After the units that must all run, look at the comparison every `batch` units; stop when a FAIL is
    proven (or a must-pass case broke), or when every gated metric is proven PASS. Each look spends part of
    α (stats/sequential.py), so looking often does not inflate false verdicts."""

    def __init__(
        self,
        settings: EvalSettings,
        results: Path,
        baseline: Side,
        planned: int,
        first: int,
        calls: Callable[[], tuple[int, float]],
    ):
        # The comparison and scipy are imported only by runs that look: they take a second to import.
        from evalharness import gate
        from evalharness.stats import sequential

        self.gate, self.sequential = gate, sequential
        self.settings, self.results, self.baseline = settings, results, baseline
        self.planned, self.first, self.calls = planned, first, calls
        self.gated = gate.gated_metrics(settings)
        self.looks: list[dict[str, Any]] = _read_looks(results)

    def before_start(self, running: int, finished: int) -> dict[str, Any] | None:
        return None

    def after_finish(self, finished: int) -> dict[str, Any] | None:
        batch = self.settings.sequential.batch
        if finished >= self.planned or finished < self.first + batch or (finished - self.first) % batch:
            return None
        if self.looks and finished <= self.looks[-1]["cases"]:
            return None  # a resumed run: this look was taken before
        gate = self.gate
        fractions = [look["fraction"] for look in self.looks] + [finished / self.planned]
        level = self.sequential.nominal_levels(self.settings.alpha, fractions)[-1]
        head = read_side(self.results, finished=False)
        rows = gate.compare(self.settings, self.gated, head, self.baseline, "pr", level)
        broken = [r["case"] for r in gate.must_pass_rows(self.gated, head, self.baseline, "pr") if r["blocks"]]
        limits = gate.failure_limit_rows(self.settings, self.gated, head)
        decision = self.sequential.certain([r["verdict"] for r in rows if r["verdict"] != gate.SKIPPED])
        if broken or any(r["verdict"] == FAIL for r in limits):
            decision = FAIL  # a must-pass case broke, or a hard limit is passed: nothing can undo it
        self.looks.append(
            {"cases": finished, "fraction": round(finished / self.planned, 9), "level": level, "decision": decision}
        )
        write_json(self.results / LOOKS_FILE, {"looks": self.looks, "stopped": decision is not None})
        if decision is None:
            return None
        calls, usd = self.calls()
        left = self.planned - finished
        return {
            "kind": "early_stop",
            "decision": decision,
            "look": len(self.looks),
            "cases_run": finished,
            "calls_saved": round(calls / finished * left) if finished else 0,
            "usd_saved": round(usd / finished * left, 6) if finished else 0.0,
        }


def _read_looks(results: Path) -> list[dict[str, Any]]:
    path = results / LOOKS_FILE
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("looks") or [])
    except ValueError:
        return []


def sequential_summary(results: Path) -> dict[str, Any] | None:
    """What summary.json records of the looks (the gate derives its level from it)."""
    path = results / LOOKS_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        "looks": [look["fraction"] for look in data.get("looks") or []],
        "stopped": bool(data.get("stopped")),
        "detail": data.get("looks") or [],
    }
