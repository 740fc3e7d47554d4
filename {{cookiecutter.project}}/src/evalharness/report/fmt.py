"""Formatting shared by every report, so the same value reads the same in markdown, JUnit and HTML."""

from __future__ import annotations

import json
import math
from typing import Any

MISSING = "—"  # None, nan and inf (an unbounded interval side) all read as "no number here"
VERDICT_COLORS = {
    "PASS": "#1a7f37",
    "FAIL": "#cf222e",
    "WORSE?": "#bc4c00",
    "INCONCLUSIVE": "#9a6700",
    "ERROR": "#8250df",
}
ACCEPT_LABEL = "eval-accepted"  # the PR label with which a maintainer accepts a WORSE? verdict (pr.yml reads it)
NEUTRAL_COLOR = "#57606a"
MODE_LABELS = {"pr": "PR", "release": "release", "nightly": "nightly"}


def number(x: Any) -> float | None:
    """The value as a finite float, or None: reports never print nan or inf."""
    if x is None or isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def score(x: Any) -> str:
    v = number(x)
    return MISSING if v is None else f"{v:.3f}"


def signed(x: Any) -> str:
    v = number(x)
    if v is None:
        return MISSING
    return f"{round(v, 3) + 0.0:+.3f}"  # + 0.0 turns -0.0 into 0.0: no "-0.000"


def usd(x: Any) -> str:
    v = number(x)
    if v is None:
        return MISSING
    return f"${v:.4f}" if abs(v) >= 0.01 or v == 0 else f"${v:.6f}"  # cents need 4 decimals, fractions 6


def ms(x: Any) -> str:
    v = number(x)
    return MISSING if v is None else f"{v:.0f} ms"


def p(x: Any) -> str:
    v = number(x)
    return MISSING if v is None else f"{v:.3g}"


def value(x: Any) -> str:
    """A config value as written: strings bare, the rest as JSON (so null, lists and numbers read as in YAML)."""
    if x is None:
        return "null"
    return clip(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False), 80)


def interval(lower: Any, upper: Any) -> str:
    if number(lower) is None and number(upper) is None:
        return MISSING
    return f"{signed(lower)} .. {signed(upper)}"


def budget_value(name: str, x: Any) -> str:
    if name.endswith("_usd"):
        return usd(x)
    if name.endswith("_ms"):
        return ms(x)
    return score(x)


def clip(text: Any, limit: int = 300) -> str:
    """Long answers would drown the report (and a PR comment has a size limit): keep the start, say what was cut."""
    text = "" if text is None else text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters cut]"


def meaning(verdict: dict[str, Any]) -> str:
    """One sentence on what the verdict means for the pipeline (the exit code is what CI acts on)."""
    overall, mode, code = verdict.get("verdict"), verdict.get("mode", "pr"), verdict.get("exit_code")
    if overall == "PASS":
        return f"Every gated comparison, threshold and budget passed (exit code {code})."
    if overall == "FAIL":
        return (
            "At least one metric is proven worse than its tolerance, or a must-pass case broke, or a threshold, "
            f"failure limit, budget or promptfoo failed (exit code {code})."
        )
    if overall == "WORSE?":
        if verdict.get("accepted"):
            return f"Proven worse than the baseline, and accepted by a maintainer: passes (exit code {code})."
        return (
            "At least one metric is proven worse than the baseline and below its tolerance at face value, but the "
            f"data cannot prove it beyond the tolerance. It blocks (exit code {code}) until a maintainer accepts it "
            f"(in a PR: the label `{ACCEPT_LABEL}`)."
        )
    if overall == "ERROR":
        return (
            f"Infrastructure errors (model, judge or network) stopped some cases: this is not a quality verdict "
            f"(exit code {code}); re-run to resume."
        )
    if mode == "release":
        return f"The data cannot tell a regression from noise yet, and release mode requires PASS (exit code {code})."
    return (
        f"The data cannot tell a regression from noise yet; INCONCLUSIVE passes in "
        f"{MODE_LABELS.get(mode, mode)} mode (exit code {code})."
    )


def promptfoo(summary: dict[str, Any]) -> str:
    """One line on the promptfoo run: its status, pass rate against the minimum, and the grader."""
    status = summary.get("status")
    if summary.get("tests") is None:
        return f"**{status}**: {summary.get('reason') or 'no results'}"
    rate, minimum = summary.get("pass_rate"), summary.get("min_pass_rate")
    line = (
        f"**{status}**: {summary.get('successes')} of {summary.get('tests')} tests passed "
        f"({'n/a' if rate is None else f'{rate:.1%}'}, minimum {minimum:.0%}), {summary.get('failures')} failed, "
        f"{summary.get('errors')} errored"
    )
    if summary.get("not_evaluated"):
        line += f", {summary['not_evaluated']} not evaluated"
    if summary.get("reason"):
        line += f": {summary['reason']}"
    return f"{line}. llm-rubric: {summary.get('judge') or MISSING}."


def judge(info: Any) -> str:
    if not isinstance(info, dict):
        return MISSING
    model, status, reason = info.get("model"), info.get("status"), info.get("reason")
    if status and status != "on":
        return f"{status}: {reason}" if reason else str(status)
    return str(model or status or MISSING)


def model(side: dict[str, Any]) -> str:
    provider, name = side.get("provider"), side.get("model")
    return "/".join(str(p) for p in (provider, name) if p) or MISSING


def cost(info: Any) -> str:
    """summary.json's cost block: answers (with how many were priced) and the judge, when known."""
    if info is None:
        return MISSING
    if not isinstance(info, dict):
        return usd(info)
    parts = []
    if number(info.get("answers")) is not None:
        priced, total = info.get("answers_priced"), info.get("answers_total")
        coverage = f" ({priced}/{total} priced)" if priced is not None and total is not None and priced != total else ""
        parts.append(f"answers {usd(info['answers'])}{coverage}")
    if number(info.get("judge_this_invocation")) is not None:
        parts.append(f"judge {usd(info['judge_this_invocation'])}")
    return ", ".join(parts) or MISSING


def safe_url(url: Any) -> str | None:
    """Only web links are rendered as links: a results dir is data, and data may say `javascript:`."""
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


def side_rows(verdict: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    sides = [("head", verdict.get("head"))]
    if verdict.get("baseline"):
        sides.append(("baseline", verdict["baseline"]))
    return [(label, side) for label, side in sides if isinstance(side, dict)]


def run_cells(side: dict[str, Any]) -> list[str]:
    """commit | model | judge | cases | cost | p50 | p95: the same columns in markdown and HTML."""
    latency = side.get("latency_ms") or {}
    sha = side.get("git_sha")
    return [
        str(sha)[:12] if sha else MISSING,
        model(side),
        judge(side.get("judge")),
        str(side.get("cases", MISSING)),
        cost(side.get("cost_usd")),
        ms(latency.get("p50")),
        ms(latency.get("p95")),
    ]


RUN_HEADER = ["run", "commit", "model", "judge", "cases", "cost", "p50 latency", "p95 latency"]
