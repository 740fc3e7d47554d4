"""junit.xml: the verdict as test results, for CI test-report views (GitLab, Jenkins, GitHub test reporters).

One testcase per metric comparison, threshold and budget; an `error` testcase per infrastructure error; and
one `verdict` testcase that carries the exit code, because in release mode an INCONCLUSIVE metric (reported as
skipped) still fails the job, and a report that shows only skips for a red job would mislead.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from evalharness.report import fmt

SUITE = "eval-gate"
ERRORS_SHOWN = 50
# XML 1.0 cannot carry most control characters at all (not even escaped); model output sometimes has them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Case = tuple[str, str, str | None, str, str]  # classname, name, outcome (None: passed), message, detail


def junit(verdict: dict[str, Any]) -> str:
    cases = [
        _verdict_case(verdict),
        *_metric_cases(verdict),
        *_threshold_cases(verdict),
        *_limit_cases(verdict),
        *_must_pass_cases(verdict),
        *_budget_cases(verdict),
        *_promptfoo_cases(verdict),
    ]
    cases += _error_cases(verdict)
    outcomes = [outcome for _, _, outcome, _, _ in cases]
    counts = {
        "tests": len(cases),
        "failures": outcomes.count("failure"),
        "errors": outcomes.count("error"),
        "skipped": outcomes.count("skipped"),
    }
    root = ET.Element("testsuites", name=SUITE, **{k: str(v) for k, v in counts.items()})
    suite = ET.SubElement(root, "testsuite", name=SUITE, time="0", **{k: str(v) for k, v in counts.items()})
    properties = ET.SubElement(suite, "properties")
    for key in ("verdict", "mode", "exit_code", "alpha"):
        ET.SubElement(properties, "property", name=key, value=_text(verdict.get(key)))
    for classname, name, outcome, message, detail in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=_text(name), time="0")
        if outcome:
            element = ET.SubElement(case, outcome, message=_text(message))
            if outcome == "error":
                element.set("type", "infrastructure")
            element.text = _text(detail) or None
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", fmt.clip(value, 2000))


def _verdict_case(verdict: dict[str, Any]) -> Case:
    outcome = {1: "failure", 3: "error"}.get(verdict.get("exit_code"))  # 0 passes, whatever the verdict word
    return f"{SUITE}", "verdict", outcome, f"{verdict.get('verdict')}: {fmt.meaning(verdict)}", ""


def _metric_cases(verdict: dict[str, Any]) -> list[Case]:
    cases = []
    for m in verdict.get("metrics") or []:
        name, result, tolerance = str(m.get("name")), m.get("verdict"), m.get("tolerance")
        detail = (
            f"base {fmt.score(m.get('base_mean'))}, head {fmt.score(m.get('head_mean'))}, "
            f"delta {fmt.signed(m.get('delta'))}, interval {fmt.interval(m.get('lower'), m.get('upper'))}, "
            f"tolerance {fmt.score(tolerance)}, pairs {m.get('n_pairs', 0)}, head cases {m.get('n_head', 0)}"
        )
        if result == "FAIL":
            message = (
                f"{name} dropped by more than its tolerance {fmt.score(tolerance)}: delta {fmt.signed(m.get('delta'))}"
            )
            cases.append(("eval-gate.metrics", name, "failure", message, detail))
        elif result == "WORSE?":
            message = (
                f"{name} is proven worse than the baseline (delta {fmt.signed(m.get('delta'))}, "
                f"{m.get('worse')} case(s) worse, {m.get('better')} better), beyond its tolerance at face value"
            )
            outcome = None if verdict.get("accepted") else "failure"
            cases.append(("eval-gate.metrics", name, outcome, message if outcome else "", detail))
        elif result == "PASS":
            cases.append(("eval-gate.metrics", name, None, "", detail))
        else:
            cases.append(("eval-gate.metrics", name, "skipped", _skip_reason(m), detail))
    return cases


def _skip_reason(m: dict[str, Any]) -> str:
    if m.get("skipped_reason"):
        return f"not measured: {m['skipped_reason']}"
    if m.get("verdict") == "NO_BASELINE":
        return f"no baseline to compare with (head mean {fmt.score(m.get('head_mean'))})"
    return (
        f"inconclusive: the interval {fmt.interval(m.get('lower'), m.get('upper'))} straddles "
        f"-{fmt.score(m.get('tolerance'))}; drops below {fmt.score(m.get('mde'))} are not reliably detected"
    )


def _threshold_cases(verdict: dict[str, Any]) -> list[Case]:
    cases = []
    for t in verdict.get("thresholds") or []:
        kind = str(t.get("kind", "")).replace("_", " ")
        name = f"{t.get('metric')} {kind} >= {fmt.score(t.get('minimum'))}"
        detail = (
            f"value {fmt.score(t.get('value'))}, bounds {fmt.score(t.get('lower'))} .. {fmt.score(t.get('upper'))}, "
            f"cases {t.get('n')}"
        )
        outcome = {"PASS": None, "FAIL": "failure"}.get(t.get("verdict"), "skipped")
        message = {
            "failure": f"{kind} {fmt.score(t.get('value'))} is confidently below {fmt.score(t.get('minimum'))}",
            "skipped": f"inconclusive: the interval includes the minimum {fmt.score(t.get('minimum'))}",
        }.get(outcome or "", "")
        cases.append(("eval-gate.thresholds", name, outcome, message, detail))
    return cases


def _limit_cases(verdict: dict[str, Any]) -> list[Case]:
    cases = []
    for r in verdict.get("failure_limits") or []:
        failing = ", ".join(r.get("cases") or []) or "none"
        outcome = {"PASS": None, "FAIL": "failure"}.get(r.get("verdict"), "skipped")
        message = f"{r.get('failed')} case(s) failed, the limit is {r.get('limit')}: {failing}" if outcome else ""
        name = f"{r.get('metric')} failures <= {r.get('limit')}"
        cases.append(("eval-gate.failure-limits", name, outcome, message, f"failing: {failing}"))
    return cases


def _must_pass_cases(verdict: dict[str, Any]) -> list[Case]:
    cases = []
    for r in verdict.get("must_pass") or []:
        outcome = "failure" if r.get("blocks") else "skipped"
        message = f"must-pass case {r.get('status')}: fails {', '.join(r.get('metrics') or [])}"
        cases.append(("eval-gate.must-pass", str(r.get("case")), outcome, message, f"input: {r.get('input')}"))
    return cases


def _promptfoo_cases(verdict: dict[str, Any]) -> list[Case]:
    summary = verdict.get("promptfoo")
    if not summary:
        return []
    outcome = {"PASS": None, "FAIL": "failure", "ERROR": "error"}.get(summary.get("status"), "skipped")
    line = fmt.promptfoo(summary).replace("**", "")
    return [("eval-gate.promptfoo", "promptfoo pass rate", outcome, line if outcome else "", line)]


def _budget_cases(verdict: dict[str, Any]) -> list[Case]:
    cases = []
    for b in verdict.get("budgets") or []:
        name = str(b.get("name"))
        value, limit = fmt.budget_value(name, b.get("value")), fmt.budget_value(name, b.get("limit"))
        outcome = {"PASS": None, "FAIL": "failure"}.get(b.get("verdict"), "skipped")
        message = {"failure": f"{value} exceeds the limit {limit}", "skipped": "no measurement to check"}.get(
            outcome or "", ""
        )
        cases.append(("eval-gate.budgets", name, outcome, message, f"value {value}, limit {limit}"))
    return cases


def _error_cases(verdict: dict[str, Any]) -> list[Case]:
    cases = []
    for e in (verdict.get("errors") or [])[:ERRORS_SHOWN]:
        name = f"{e.get('case')} repeat {e.get('repeat')}" + (f" {e['metric']}" if e.get("metric") else "")
        reason = str(e.get("reason") or "unknown error")
        cases.append(
            ("eval-gate.errors", name, "error", fmt.clip(reason, 500), "infrastructure error, not a quality verdict")
        )
    return cases
