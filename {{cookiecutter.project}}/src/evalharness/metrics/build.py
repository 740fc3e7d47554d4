"""All metrics of a run, by name."""

from __future__ import annotations

from typing import Any

from evalharness.calls import ModelCalls
from evalharness.metrics import Metric
from evalharness.metrics.deterministic import DeterministicMetric, Measure, deterministic_metrics
from evalharness.metrics.judge import judge_metrics
from evalharness.metrics.registry import Registered, registered
from evalharness.settings import EvalSettings


def build_metrics(settings: EvalSettings, calls: ModelCalls) -> tuple[dict[str, Metric], dict[str, Any]]:
    judged, judge_info = judge_metrics(settings, calls)
    # the modules were imported with the settings (load_settings checks every metric name)
    yours = {name: _yours(r, settings) for name, r in registered(settings.metric_modules).items()}
    return {**deterministic_metrics(settings), **judged, **yours}, judge_info


def _yours(registered: Registered, settings: EvalSettings) -> Metric:
    """A registered check as a metric: its return value read as a Measure, everything else as built-in ones."""

    def check(case, output) -> Measure:
        value = registered.check(case, output)
        if value is None:
            return Measure(None, f"{registered.name}: not measurable for this output")
        if isinstance(value, Measure):
            return value
        score, reason = value if isinstance(value, tuple) else (value, "")
        if isinstance(score, bool):
            score = float(score)
        if not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
            raise ValueError(f"{registered.name} returned {score!r}: a score must be a number in [0, 1]")
        return Measure(float(score), str(reason) or f"{registered.name} = {score:g}")

    return DeterministicMetric(registered.name, registered.kind, settings, check, registered.applies)
