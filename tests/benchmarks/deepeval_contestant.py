"""deepeval's side of the race, run with the baked project's Python (where deepeval is installed).

The usual deepeval flow: answer every case with the model (AsyncOpenAI, at most C calls at once), then
`evaluate()` the test cases with the same deterministic check as a custom metric and `max_concurrent=C`.
Standalone on purpose: it reads the cases from JSON and imports nothing of ours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "1")

from deepeval import evaluate  # noqa: E402
from deepeval.evaluate.configs import AsyncConfig, CacheConfig, DisplayConfig  # noqa: E402
from deepeval.metrics import BaseMetric  # noqa: E402
from deepeval.test_case import LLMTestCase  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402


class FactPresent(BaseMetric):
    """Passes when the expected fact is in the answer (case-insensitive): the benchmark's one metric."""

    def __init__(self) -> None:
        self.threshold = 1.0
        self.async_mode = True

    def measure(self, test_case: LLMTestCase, *args: object, **kwargs: object) -> float:
        self.score = float(test_case.expected_output.lower() in test_case.actual_output.lower())
        self.success = self.score >= self.threshold
        self.reason = "fact present" if self.success else "fact missing"
        return self.score

    async def a_measure(self, test_case: LLMTestCase, *args: object, **kwargs: object) -> float:
        return self.measure(test_case)

    def is_successful(self) -> bool:
        return bool(self.success)

    @property
    def __name__(self) -> str:
        return "FactPresent"


async def answer_all(cases: list[dict], base_url: str, model: str, concurrency: int) -> list[str]:
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    limit = asyncio.Semaphore(concurrency)

    async def answer(case: dict) -> str:
        async with limit:
            reply = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": case["question"]}]
            )
            return reply.choices[0].message.content or ""

    try:
        return await asyncio.gather(*(answer(case) for case in cases))
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    cases = json.loads(args.cases.read_text(encoding="utf-8"))
    started = time.perf_counter()
    answers = asyncio.run(answer_all(cases, args.base_url, args.model, args.concurrency))
    answered = time.perf_counter()
    test_cases = [
        LLMTestCase(input=case["question"], actual_output=text, expected_output=case["fact"])
        for case, text in zip(cases, answers, strict=True)
    ]
    result = evaluate(
        test_cases,
        [FactPresent()],
        async_config=AsyncConfig(max_concurrent=args.concurrency),
        display_config=DisplayConfig(show_indicator=False, print_results=False, inspect_after_run=False),
        cache_config=CacheConfig(write_cache=False, use_cache=False),
    )
    passes = sum(1 for test in result.test_results if test.success)
    timing = {"answer_s": answered - started, "evaluate_s": time.perf_counter() - answered}
    args.out.write_text(json.dumps({"passes": passes, **timing}), encoding="utf-8")


if __name__ == "__main__":
    main()
