"""All metrics of a run, by name."""

from __future__ import annotations

from typing import Any

from evalharness.calls import ModelCalls
from evalharness.metrics import Metric
from evalharness.metrics.deterministic import deterministic_metrics
from evalharness.metrics.judge import judge_metrics
from evalharness.settings import EvalSettings


def build_metrics(settings: EvalSettings, calls: ModelCalls) -> tuple[dict[str, Metric], dict[str, Any]]:
    judged, judge_info = judge_metrics(settings, calls)
    return {**deterministic_metrics(settings), **judged}, judge_info
