"""The verdict on a terminal: at most MAX_LINES lines a person reads at a glance (the verdict, one line per
metric with its delta, interval and verdict, what else failed, the worst regressed cases, where the reports
are). The full story is report.md (the PR comment) and report.html, written next to verdict.json."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from evalharness.report import fmt, tables

MAX_LINES = 15
CASES_SHOWN = 3
WIDTH = 100
COLOURS = {"PASS": "32", "FAIL": "31", "WORSE?": "33", "INCONCLUSIVE": "33", "ERROR": "35"}


def summary(verdict: dict[str, Any], results: Path, colour: bool | None = None) -> str:
    colour = _wants_colour() if colour is None else colour
    overall = verdict.get("verdict", "?")
    baseline = verdict.get("baseline")
    against = f"against {baseline.get('path')}" if isinstance(baseline, dict) else "no baseline: thresholds only"
    head = (
        f"Eval gate: {_paint(overall, colour)} (exit {verdict.get('exit_code')}), {verdict.get('mode')} mode, {against}"
    )
    tail = [f"  reports: {results / 'report.html'} · PR comment text: {results / 'report.md'}"]
    others = _other_failures(verdict)
    cases = _regressed(verdict)
    fixed = 2 + len(tail) + (1 if others else 0) + (len(cases) + 1 if cases else 0)
    lines = [head, _clip("  " + fmt.meaning(verdict))]
    lines += _metric_lines(verdict, room=MAX_LINES - fixed, colour=colour)
    if others:
        lines.append(_clip("  also: " + "; ".join(others)))
    if cases:
        lines.append(f"  worst regressed cases ({_regressed_count(verdict)} in all):")
        lines += cases
    return "\n".join([*lines, *tail][:MAX_LINES])


def _metric_lines(verdict: dict[str, Any], room: int, colour: bool) -> list[str]:
    rows = [m for m in verdict.get("metrics") or [] if m.get("verdict") != "SKIPPED"]
    rows.sort(key=lambda m: m.get("verdict") == "PASS")  # when rows must be cut, the passing ones go first
    if not rows or room < 2:
        return []
    with_base = bool(verdict.get("baseline"))
    shown = rows if len(rows) <= room - 1 else rows[: room - 2]  # header + rows (+ a "more" line)
    name_width = max(6, *(len(str(m.get("name"))) for m in shown))
    if with_base:
        header = f"  {'metric':<{name_width}}  {'base':>6} {'head':>6} {'delta':>7}  {'interval':<17} verdict"
    else:
        header = f"  {'metric':<{name_width}}  {'head':>6} {'cases':>6}  verdict"
    lines = [header]
    for m in shown:
        name, word = f"{m.get('name')!s:<{name_width}}", _paint(str(m.get("verdict")), colour)
        head = f"{fmt.score(m.get('head_mean')):>6}"
        if with_base:
            base, delta = f"{fmt.score(m.get('base_mean')):>6}", f"{fmt.signed(m.get('delta')):>7}"
            lines.append(f"  {name}  {base} {head} {delta}  {fmt.interval(m.get('lower'), m.get('upper')):<17} {word}")
        else:
            lines.append(f"  {name}  {head} {m.get('n_head', 0):>6}  {word}")
    if len(shown) < len(rows):
        hidden = rows[len(shown) :]
        passing = " (all PASS)" if all(m.get("verdict") == "PASS" for m in hidden) else ""
        lines.append(f"  … {len(hidden)} more metric(s){passing} in report.md")
    return lines


def _other_failures(verdict: dict[str, Any]) -> list[str]:
    """Everything but the metric comparison that can fail a gate, as counts (the report has the rows)."""
    found = []
    for label, (_, rows), word in (
        ("must-pass case(s) broke", tables.must_pass(verdict), None),
        ("threshold(s) failed", tables.thresholds(verdict), "FAIL"),
        ("failure limit(s) exceeded", tables.failure_limits(verdict), "FAIL"),
        ("budget(s) exceeded", tables.budgets(verdict), "FAIL"),
    ):
        count = len(rows) if word is None else sum(1 for row in rows if word in (str(c) for c in row))
        if count:
            found.append(f"{count} {label}")
    errors = verdict.get("error_count") or len(tables.errors(verdict)[1])
    if errors:
        found.append(f"{errors} infrastructure error(s): re-run to resume")
    return found


def _regressed(verdict: dict[str, Any]) -> list[str]:
    return [_clip(f"    - {tables.regression_summary(r)}") for r in (verdict.get("regressions") or [])[:CASES_SHOWN]]


def _regressed_count(verdict: dict[str, Any]) -> int:
    return (verdict.get("case_counts") or {}).get("worse", len(verdict.get("regressions") or []))


def _clip(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def _paint(word: str, colour: bool) -> str:
    code = COLOURS.get(word)
    return f"\033[1;{code}m{word}\033[0m" if colour and code else word


def _wants_colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
