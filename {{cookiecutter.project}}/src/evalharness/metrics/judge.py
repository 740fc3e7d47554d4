"""LLM-judged metrics (deepeval GEval correctness, answer relevancy, faithfulness) through any
OpenAI-compatible endpoint, with every judge call cached and rate-limited like the bot's own calls.

No judge (disabled, or no key) -> the metrics are recorded as skipped, with the reason. A judge that fails
-> recorded as an error (infrastructure, exit 3), never as a low score.
"""

from __future__ import annotations

import os
from typing import Any

import openai
from deepeval.metrics import AnswerRelevancyMetric, FaithfulnessMetric, GEval
from deepeval.models import DeepEvalBaseLLM
from deepeval.test_case import LLMTestCase, SingleTurnParams

from evalharness.calls import ModelCalls, NotEvaluated
from evalharness.datasets import Case
from evalharness.metrics import Metric, MetricResult
from evalharness.settings import EvalSettings, JudgeSettings
from evalharness.target import TargetOutput

# Fixed steps: GEval would otherwise ask the judge to write them first (one more call per case, and
# steps that drift between runs, which would make scores drift too).
CORRECTNESS_STEPS = [
    "Read the input question and the expected output, which lists what a correct answer must state.",
    "Check whether the actual output states each expected fact, allowing paraphrase.",
    "Penalize any claim in the actual output that contradicts the expected output.",
    "Do not penalize extra detail that is correct, concise formatting, or citations such as [1].",
]


def judge_credentials() -> tuple[str | None, str | None]:
    """JUDGE_* variables let the judge live elsewhere than the bot's model; else the SDK's own ones."""
    key = os.environ.get("JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
    base_url = os.environ.get("JUDGE_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
    return key, base_url


class CachedJudge(DeepEvalBaseLLM):
    """deepeval's judge model interface over the openai SDK, with calls going through ModelCalls."""

    def __init__(self, settings: JudgeSettings, calls: ModelCalls, api_key: str | None, base_url: str | None):
        self.settings, self.calls = settings, calls
        self._client_args = {"api_key": api_key or "replay-only", "base_url": base_url}
        super().__init__(settings.model)

    def load_model(self) -> openai.OpenAI:
        return openai.OpenAI(
            **self._client_args, timeout=self.settings.timeout_s, max_retries=self.settings.max_retries
        )

    def generate(self, prompt: str, schema: Any = None) -> Any:
        key = {
            "provider": "judge",
            "model": self.settings.model,
            "prompt": prompt,
            "schema": schema.__name__ if schema else None,
            "temperature": self.settings.temperature,
        }
        record = self.calls.call("judge", key, lambda: self._ask(prompt))
        text = record["text"]
        if schema is None:
            return text
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < start:
            raise ValueError(f"the judge did not answer with JSON: {text[:200]!r}")
        return schema.model_validate_json(text[start : end + 1])

    async def a_generate(self, prompt: str, schema: Any = None) -> Any:
        return self.generate(prompt, schema)  # metrics run with async_mode=False; kept for the interface

    def get_model_name(self) -> str:
        return self.settings.model

    def _ask(self, prompt: str) -> dict[str, Any]:
        response = self.model.chat.completions.create(
            model=self.settings.model,
            messages=[{"role": "user", "content": prompt}],
            temperature=self.settings.temperature,
        )
        usage = response.usage
        return {
            "text": response.choices[0].message.content or "",
            "model": response.model or self.settings.model,
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
            if usage
            else {},
        }


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
        metric = self._deepeval_metric(threshold)
        test_case = LLMTestCase(
            input=case.question,
            actual_output=output.answer,
            expected_output=case.reference or "A correct answer states: " + "; ".join(case.expect.facts),
            retrieval_context=output.contexts or None,
        )
        try:
            metric.measure(test_case, _show_indicator=False)
        except NotEvaluated as exc:
            return MetricResult("not_evaluated", threshold=threshold, reason=str(exc))
        except Exception as exc:  # judge down, timed out, or answering nonsense: infrastructure
            return MetricResult("error", threshold=threshold, reason=f"judge failed: {type(exc).__name__}: {exc}")
        if metric.score is None:
            return MetricResult("error", threshold=threshold, reason=f"judge gave no score: {metric.error}")
        score = round(float(metric.score), 6)
        return MetricResult("ok", score, score >= threshold, threshold, metric.reason or "")

    def _deepeval_metric(self, threshold: float) -> GEval | AnswerRelevancyMetric | FaithfulnessMetric:
        """A fresh deepeval metric per case: they keep state (score, reason) and are not thread-safe."""
        common = {"threshold": threshold, "model": self.judge, "async_mode": False, "verbose_mode": False}
        if self.name == "correctness":
            return GEval(
                name="Correctness",
                evaluation_params=[
                    SingleTurnParams.INPUT,
                    SingleTurnParams.ACTUAL_OUTPUT,
                    SingleTurnParams.EXPECTED_OUTPUT,
                ],
                evaluation_steps=CORRECTNESS_STEPS,
                **common,
            )
        if self.name == "relevancy":
            return AnswerRelevancyMetric(include_reason=True, **common)
        return FaithfulnessMetric(include_reason=True, **common)


def judge_metrics(settings: EvalSettings, calls: ModelCalls) -> tuple[dict[str, Metric], dict[str, Any]]:
    """The judge metrics, and what the summary says about the judge (model, on/skipped, reason)."""
    api_key, base_url = judge_credentials()
    judge, reason = None, ""
    if not settings.judge.enabled:
        reason = "judge disabled in evals/eval.yaml"
    elif not api_key and calls.mode != "replay":
        reason = "no judge key: set JUDGE_API_KEY or OPENAI_API_KEY to run judged metrics"
    else:
        judge = CachedJudge(settings.judge, calls, api_key, base_url)  # replay needs no key: cache only
    info = {"model": settings.judge.model, "status": "on" if judge else "skipped", "reason": reason or None}
    metrics = {
        name: JudgeMetric(name, settings, judge, reason) for name in ("correctness", "relevancy", "faithfulness")
    }
    return metrics, info
