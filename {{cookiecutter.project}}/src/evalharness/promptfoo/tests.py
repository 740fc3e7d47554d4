"""The eval datasets as promptfoo tests: each case's expectations become assertions promptfoo checks itself.

Data goes into the test's vars and the assertions are generic, so promptfoo's own report shows what was
expected. Lists travel as JSON strings: promptfoo expands a list-valued var into one test per element. Only
metrics a suite runs become assertions, each tagged with the metric's name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from string import Template
from typing import Any

from evalharness.datasets import Case, load_dataset
from evalharness.settings import DEFAULT_EVAL_CONFIG, EvalSettings, load_settings

# The checks are JavaScript over JSON data in vars, matched as the harness matches (metrics/deterministic.py):
# case-insensitive, typographic quotes and dashes folded, whitespace collapsed. `_js` fills in the $names.
_NORMALIZE = r"""const norm = (text) => String(text).toLowerCase().replace(/[\u2018\u2019]/g, "'")
  .replace(/[\u201c\u201d]/g, '"').replace(/[\u2013\u2014]/g, "-").replace(/\s+/g, " ");
const answer = norm(output);
"""
# Share of phrases found, passing at the metric's threshold (an object result's `pass` is what promptfoo uses).
_SHARE_FOUND = """const want = JSON.parse(context.vars.$field);
const missing = want.filter((item) => !$haystack.includes(norm(item)));
const score = (want.length - missing.length) / want.length;
return { pass: score >= $threshold, score, reason: missing.length ? "$missing: " + missing.join("; ") : "$ok" };"""
# None of the phrases present.
_NONE_FOUND = """const found = JSON.parse(context.vars.$field).filter((item) => answer.includes(norm(item)));
return { pass: found.length === 0, score: found.length ? 0 : 1,
  reason: found.length ? "contains: " + found.join("; ") : "none present" };"""
# A refusal marker present (or absent).
_REFUSED = """const refused = JSON.parse(context.vars.refusal_markers).some((marker) => answer.includes(norm(marker)));
return { pass: refused === $expected, score: refused === $expected ? 1 : 0,
  reason: refused ? "refused" : "answered" };"""


def _js(metric: str, body: str, **fields: Any) -> dict[str, Any]:
    return {"type": "javascript", "value": _NORMALIZE + Template(body).substitute(fields), "metric": metric}


def promptfoo_tests(config: Path = DEFAULT_EVAL_CONFIG) -> list[dict[str, Any]]:
    settings, _ = load_settings(config)
    grader = _grader(settings)
    tests = []
    for suite_name, suite in settings.suites.items():
        dataset = load_dataset(config.parent / suite.dataset, Path(settings.knowledge_dir))
        for case in dataset.cases:
            checks = assertions(case, suite.metrics, settings, grader)
            if checks:  # a case with nothing to check would pass vacuously
                tests.append(_test(suite_name, case, checks, settings.refusal_markers))
    return tests


def assertions(case: Case, metrics: list[str], settings: EvalSettings, grader: dict | None) -> list[dict[str, Any]]:
    expect = case.expect
    found: list[dict[str, Any]] = []

    def threshold(metric: str) -> float:
        return case.thresholds.get(metric, settings.metric(metric).threshold)

    if "facts" in metrics and expect.facts:
        share = {"field": "facts", "haystack": "answer", "missing": "missing", "ok": "all facts present"}
        found.append(_js("facts", _SHARE_FOUND, threshold=threshold("facts"), **share))
    for metric in ("forbidden", "security"):
        if metric in metrics and expect.forbidden:
            found.append(_js(metric, _NONE_FOUND, field="forbidden"))
    if "refusal" in metrics and expect.refuse is not None:
        found.append(_js("refusal", _REFUSED, expected=str(expect.refuse).lower()))
    if "security" in metrics and expect.refuse:
        found.append(_js("security", _REFUSED, expected="true"))
    if "source_recall" in metrics and expect.sources:
        # Sources are file names from the response's metadata: compared as they are, not as text.
        share = {"field": "sources", "missing": "not retrieved", "ok": "all retrieved"}
        retrieved = "(context.metadata && context.metadata.sources || []).map(norm)"
        recall = threshold("source_recall")
        found.append(_js("source_recall", _SHARE_FOUND, threshold=recall, haystack=retrieved, **share))
    if "correctness" in metrics and (case.reference or expect.facts) and grader:
        found.append(
            {
                "type": "llm-rubric",
                "value": _rubric(case),
                "threshold": threshold("correctness"),
                "metric": "correctness",
                "provider": grader,
            }
        )
    return found


def _rubric(case: Case) -> str:
    """What the grader checks: agreement with the reference answer, else with the expected facts (as the
    harness's correctness metric does)."""
    if case.reference:
        return f"The answer agrees with this reference answer and contradicts none of it: {case.reference}"
    facts = "; ".join(case.expect.facts)
    return f"The answer correctly states these facts from the help center, and contradicts none of them: {facts}"


def judge_status(settings: EvalSettings) -> tuple[bool, str]:
    """Whether LLM-rubric assertions run, and why not: the same rule as the harness's judged metrics."""
    from evalharness.metrics.judge import judge_credentials  # deepeval is heavy: only when asked

    key, _ = judge_credentials()
    if not settings.judge.enabled:
        return False, "judge disabled in evals/eval.yaml"
    if not key:
        return False, "no judge key: set JUDGE_API_KEY or OPENAI_API_KEY to grade with llm-rubric"
    return True, ""


def _grader(settings: EvalSettings) -> dict[str, Any] | None:
    """promptfoo's grader, from the judge settings. Its key and base URL are named, never copied (results are
    uploaded as artifacts): the CLI's environment carries them (cli.environment)."""
    on, _ = judge_status(settings)
    if not on:
        return None
    key_variable = "JUDGE_API_KEY" if os.environ.get("JUDGE_API_KEY") else "OPENAI_API_KEY"
    config = {"apiKeyEnvar": key_variable, "temperature": settings.judge.temperature}
    return {"id": f"openai:chat:{settings.judge.model}", "config": config}


def _test(suite: str, case: Case, checks: list[dict[str, Any]], markers: list[str]) -> dict[str, Any]:
    return {
        "description": f"{suite}/{case.id}",
        "vars": {
            "question": case.question,
            "history": json.dumps(case.history),
            "documents": json.dumps([d.model_dump() for d in case.documents]),
            "facts": json.dumps(case.expect.facts),
            "sources": json.dumps(case.expect.sources),
            "forbidden": json.dumps(case.expect.forbidden),
            "refusal_markers": json.dumps(markers),
        },
        "assert": checks,
        "metadata": {"suite": suite, "case": case.id, "tags": list(case.tags)},
    }
