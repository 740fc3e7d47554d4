"""The judge as deepeval sees it: a deepeval model over the openai SDK whose calls go through ModelCalls,
and deepeval's GEval correctness, answer relevancy and faithfulness metrics scored with it."""

from __future__ import annotations

from typing import Any

import openai
from deepeval.metrics import AnswerRelevancyMetric, FaithfulnessMetric, GEval
from deepeval.models import DeepEvalBaseLLM
from deepeval.test_case import LLMTestCase, SingleTurnParams

from evalharness.calls import ModelCalls
from evalharness.datasets import Case
from evalharness.settings import JudgeSettings
from evalharness.target import TargetOutput

# Fixed steps: GEval would otherwise ask the judge to write them first (one more call per case, and
# steps that drift between runs, which would make scores drift too).
CORRECTNESS_STEPS = [
    "Read the input question and the expected output, which lists what a correct answer must state.",
    "Check whether the actual output states each expected fact, allowing paraphrase.",
    "Penalize any claim in the actual output that contradicts the expected output.",
    "Do not penalize extra detail that is correct, concise formatting, or citations such as [1].",
]


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
        record = self.calls.call("judge", key, lambda: self._ask(prompt), validate=lambda r: _parsed(r["text"], schema))
        return _parsed(record["text"], schema)

    async def a_generate(self, prompt: str, schema: Any = None) -> Any:
        return self.generate(prompt, schema)  # metrics run with async_mode=False; kept for the interface

    def get_model_name(self) -> str:
        return self.settings.model

    def score(self, metric: str, case: Case, output: TargetOutput, threshold: float) -> tuple[float | None, str]:
        """One case scored by deepeval's metric of that name with this judge: (score or None, reason or error)."""
        measured = _deepeval_metric(metric, threshold, self)
        test_case = LLMTestCase(
            input=case.question,
            actual_output=output.answer,
            expected_output=case.reference or "A correct answer states: " + "; ".join(case.expect.facts),
            retrieval_context=output.contexts or None,
        )
        measured.measure(test_case, _show_indicator=False)
        if measured.score is None:
            return None, str(measured.error)
        return measured.score, measured.reason or ""

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


def _parsed(text: str, schema: Any) -> Any:
    """The judge's reply as deepeval expects it: the JSON object it contains, validated by the schema."""
    if schema is None:
        if not text.strip():
            raise ValueError("the judge sent an empty reply")
        return text
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError(f"the judge did not answer with JSON: {text[:200]!r}")
    return schema.model_validate_json(text[start : end + 1])


DeepevalMetric = GEval | AnswerRelevancyMetric | FaithfulnessMetric


def _deepeval_metric(name: str, threshold: float, judge: CachedJudge) -> DeepevalMetric:
    """A fresh deepeval metric per case: they keep state (score, reason) and are not thread-safe."""
    common = {"threshold": threshold, "model": judge, "async_mode": False, "verbose_mode": False}
    if name == "correctness":
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
    if name == "relevancy":
        return AnswerRelevancyMetric(include_reason=True, **common)
    return FaithfulnessMetric(include_reason=True, **common)
