"""Metrics: each scores one case's output in [0, 1] and says whether the case passes it.

Deterministic metrics (deterministic.py) are plain Python; LLM-judged ones (judge.py) are deepeval's.
`Metric` decides where a metric applies and turns every outcome, including a judge that is missing or
failing, into a recorded MetricResult: never a silent pass. `details` says what the score rests on (the
facts found and missing, the sources retrieved), so the gate can say what a regression lost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # annotations only: the datasets and target modules do not need deepeval
    from evalharness.datasets import Case
    from evalharness.target import TargetOutput

# Before deepeval is imported anywhere: no telemetry, and no silent loading of a .env file (it could switch
# the judge on with a key nobody passed to this run).
os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "1")
os.environ.setdefault("DEEPEVAL_DISABLE_DOTENV", "1")

Status = Literal["ok", "skipped", "error", "not_evaluated"]


@dataclass(frozen=True)
class MetricResult:
    status: Status
    score: float | None = None
    passed: bool | None = None
    threshold: float | None = None
    reason: str = ""
    details: dict[str, Any] | None = None


class Metric:
    """Interface: `name`, `kind` ("pass_fail" or "score"), `applies(case)`, `measure(case, output)`."""

    name: str
    kind: Literal["pass_fail", "score"]

    def applies(self, case: Case) -> bool:
        return True

    def measure(self, case: Case, output: TargetOutput) -> MetricResult:
        raise NotImplementedError
