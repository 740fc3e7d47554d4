"""One results dir, read into what a comparison needs: scores per metric and case, what each score rests on,
the answers, and the run's own account of itself (summary.json)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalharness.results import RUN_FILE, SUMMARY_FILE, ResultsDir, verify
from yamlcheck import FileError

Row = dict[str, Any]


@dataclass
class Side:
    path: Path
    scores: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(dict))  # metric -> case
    passes: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(dict))
    rows: dict[str, dict[str, list[Row]]] = field(default_factory=lambda: defaultdict(dict))  # the metric rows
    skipped: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )  # metric -> reason -> n
    errors: list[dict[str, Any]] = field(default_factory=list)
    not_evaluated: set[str] = field(default_factory=set)
    outputs: dict[str, Row] = field(default_factory=dict)  # case -> first repeat's output row
    must_pass: set[str] = field(default_factory=set)
    costs: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what checking the dir found worth saying

    def case_passed(self, case: str, metrics: list[str]) -> bool | None:
        """Whether every repeat of the case passed every one of these metrics it was scored on (None: unscored)."""
        verdicts = [p for m in metrics for p in self.passes.get(m, {}).get(case, [])]
        return None if not verdicts else min(verdicts) >= 1.0


def read_side(path: Path, finished: bool = True) -> Side:
    """A results dir for comparing. `finished` (the gate, the leaderboard): the dir is verified first, so a
    damaged or doubled one is bad input; False for a run still in progress (a sequential look)."""
    results = ResultsDir(path)
    if not (path / RUN_FILE).is_file():
        raise FileError(path, None, f"not a results dir (no {RUN_FILE}); run `make eval RESULTS={path}` first")
    side = Side(path)
    side.summary = _summary(path)
    if finished:
        side.notes = verify(path, side.summary or None)
    outputs, rows = results.read()
    for key, row in outputs.items():
        case = f"{key[0]}/{key[1]}"
        if row.get("must_pass"):
            side.must_pass.add(case)
        if row["status"] == "error":
            side.errors.append({"case": case, "repeat": key[2], "reason": row.get("reason", "")})
        elif row["status"] == "not_evaluated":
            side.not_evaluated.add(case)
        else:
            side.outputs.setdefault(case, row)
            if row.get("cost_usd") is not None:
                side.costs.append(row["cost_usd"])
            side.latencies.append(row["latency_ms"])
    for row in rows:
        case, metric = f"{row['suite']}/{row['case']}", row["metric"]
        if row["status"] == "ok":
            side.scores[metric].setdefault(case, []).append(row["score"])
            side.passes[metric].setdefault(case, []).append(1.0 if row["passed"] else 0.0)
            side.rows[metric].setdefault(case, []).append(row)
        elif row["status"] == "skipped":
            side.skipped[metric][row["reason"]] += 1
        elif row["status"] == "error":
            side.errors.append({"case": case, "repeat": row["repeat"], "metric": metric, "reason": row["reason"]})
        else:
            side.not_evaluated.add(case)
    return side


def _summary(path: Path) -> dict[str, Any]:
    file = path / SUMMARY_FILE
    if not file.is_file():
        return {}
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FileError(file, None, f"not valid JSON ({exc}); run `make eval RESULTS={path}` again") from None
    if not isinstance(summary, dict):
        raise FileError(file, None, "not a summary (a JSON object expected)")
    return summary
