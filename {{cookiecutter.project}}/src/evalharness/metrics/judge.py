"""LLM-judged metrics (correctness, answer relevancy, faithfulness) through any OpenAI-compatible endpoint,
with every judge call cached and rate-limited like the bot's own calls.

No judge (disabled, or no key) -> the metrics are recorded as skipped, with the reason. A judge that fails
-> recorded as an error (infrastructure, exit 3), never as a low score. The judge itself is deepeval's
(deepeval_judge.py), imported only when there is one: deepeval alone takes over a second to import.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from evalharness.calls import ModelCalls, NotEvaluated
from evalharness.datasets import Case
from evalharness.failures import describe
from evalharness.metrics import Metric, MetricResult
from evalharness.settings import EvalSettings
from evalharness.target import TargetOutput

if TYPE_CHECKING:
    from evalharness.metrics.deepeval_judge import CachedJudge


def judge_credentials() -> tuple[str | None, str | None]:
    """JUDGE_* variables let the judge live elsewhere than the bot's model; else the SDK's own ones."""
    key = os.environ.get("JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
    base_url = os.environ.get("JUDGE_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
    return key, base_url


class JudgeMetric(Metric):
    kind = "score"

    def __init__(self, name: str, settings: EvalSettings, judge: CachedJudge | None, skip_reason: str):
        self.name = name
        self.threshold = settings.metric(name).threshold
        self.judge, self.skip_reason = judge, skip_reason

    def applies(self, case: Case) -> bool:
        if self.name == "correctness":
            return bool(case.reference or case.expect.facts)
        return case.expect.refuse is False  # an "I don't know" is neither relevant nor grounded by design

    def measure(self, case: Case, output: TargetOutput) -> MetricResult:
        threshold = case.thresholds.get(self.name, self.threshold)
        if self.judge is None:
            return MetricResult("skipped", threshold=threshold, reason=self.skip_reason)
        if self.name == "faithfulness" and not output.contexts:
            return MetricResult("skipped", threshold=threshold, reason="no retrieved context to be faithful to")
        try:
            score, reason = self.judge.score(self.name, case, output, threshold)
        except NotEvaluated as exc:
            return MetricResult("not_evaluated", threshold=threshold, reason=str(exc))
        except Exception as exc:  # judge down, timed out, or answering nonsense: infrastructure
            return MetricResult("error", threshold=threshold, reason=f"judge failed: {describe(exc)}")
        if score is None:
            return MetricResult("error", threshold=threshold, reason=f"judge gave no score: {reason}")
        return MetricResult("ok", round(float(score), 6), score >= threshold, threshold, reason or "")


def judge_metrics(settings: EvalSettings, calls: ModelCalls) -> tuple[dict[str, Metric], dict[str, Any]]:
    """The judge metrics, and what the summary says about the judge (model, on/skipped, reason)."""
    api_key, base_url = judge_credentials()
    judge, reason = None, ""
    if not settings.judge.enabled:
        reason = "judge disabled in evals/eval.yaml"
    elif not api_key and calls.mode != "replay":
        reason = "no judge key: set JUDGE_API_KEY or OPENAI_API_KEY to run judged metrics"
    else:
        from evalharness.metrics.deepeval_judge import CachedJudge

        judge = CachedJudge(settings.judge, calls, api_key, base_url)  # replay needs no key: cache only
    info = {"model": settings.judge.model, "status": "on" if judge else "skipped", "reason": reason or None}
    metrics = {
        name: JudgeMetric(name, settings, judge, reason) for name in ("correctness", "relevancy", "faithfulness")
    }
    return metrics, info
