"""What a person reads on a terminal. After `make eval`: one table of suites x metrics (mean, passed/total)
with each suite's cases, cost and latency. After `make gate`: at most MAX_LINES lines (the verdict, one line
per metric with its delta, interval and verdict, what else failed, the worst regressed cases, where the
reports are). The full story is report.md (the PR comment) and report.html, written next to verdict.json."""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

from evalharness.report import fmt, tables
from evalharness.stats.percentile import percentile

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
    story = _story(verdict) + [line for note in verdict.get("coverage") or [] for line in _wrap(f"note: {note}")]
    fixed = 1 + len(story) + len(tail) + (1 if others else 0) + (len(cases) + 1 if cases else 0)
    lines = [head, *story]
    lines += _metric_lines(verdict, room=MAX_LINES - fixed, colour=colour)
    if others:
        lines.append(_clip("  also: " + "; ".join(others)))
    if cases:
        lines.append(f"  worst regressed cases ({_regressed_count(verdict)} in all):")
        lines += cases
    return "\n".join([*lines, *tail][:MAX_LINES])


def _story(verdict: dict[str, Any]) -> list[str]:
    """What happened, in the report's own words: how many cases got worse and how, then what changed (the
    worst case's details are left to the case lines below). Without a headline: what the verdict means."""
    parts = re.split(r"(?<=[.!?]) (?=Worst:|Changed:|Inputs |No input)", str(verdict.get("headline") or ""))
    story = [part for part in parts if part and not part.startswith("Worst:")] or [fmt.meaning(verdict)]
    return [*_wrap(story[0]), *(_clip("  " + part) for part in story[1:2])]


def _wrap(text: str) -> list[str]:
    """At most two indented lines: enough for one sentence that matters."""
    lines = textwrap.wrap(text, WIDTH - 2, max_lines=2, placeholder=" …", break_on_hyphens=False)
    return ["  " + line for line in lines]


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
    broken = [str(row[0]) for row in tables.must_pass(verdict)[1] if row[-1] == "FAIL"]
    if broken:  # one broken must-pass case can be the whole reason for a FAIL: name it
        found.append(f"{len(broken)} must-pass case(s) broke ({', '.join(broken[:2])}{', …' * (len(broken) > 2)})")
    for label, (_, rows) in (
        ("threshold(s) failed", tables.thresholds(verdict)),
        ("failure limit(s) exceeded", tables.failure_limits(verdict)),
        ("budget(s) exceeded", tables.budgets(verdict)),
    ):
        count = sum(1 for row in rows if "FAIL" in (str(c) for c in row))
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


def run_table(outputs: dict[Any, dict[str, Any]], rows: list[dict[str, Any]], results: Path) -> str:
    """The suites x metrics of one results dir: what a run measured, before any comparison."""
    by_suite: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_suite[row["suite"]][row["metric"]].append(row)
    width = max([6, *(len(m) for metrics in by_suite.values() for m in metrics)])
    lines = [f"  {'suite / metric':<{width + 2}}  {'mean':>6}  {'passed':>9}"]
    for suite in sorted(by_suite):
        done = [o for o in outputs.values() if o.get("suite") == suite]
        latency = [o["latency_ms"] for o in done if isinstance(o.get("latency_ms"), int | float)]
        cost = sum(o.get("cost_usd") or 0.0 for o in done)
        p50, p95 = (fmt.ms(percentile(latency, q)) if latency else fmt.MISSING for q in (50, 95))
        lines.append(f"  {suite}: {len(done)} answers, {fmt.usd(cost)}, latency p50 {p50}, p95 {p95}")
        skipped: dict[str, list[str]] = defaultdict(list)
        for name, metric_rows in sorted(by_suite[suite].items()):
            measured = [r for r in metric_rows if r.get("status") == "ok"]
            if not measured:
                reason = next((r.get("reason") for r in metric_rows if r.get("reason")), "not measured")
                skipped[str(reason)].append(name)
                continue
            mean = sum(r["score"] for r in measured) / len(measured)
            passed = sum(1 for r in measured if r.get("passed"))
            lines.append(f"    {name:<{width}}  {fmt.score(mean):>6}  {f'{passed}/{len(measured)}':>9}")
        lines += [_clip(f"    skipped {', '.join(names)}: {reason}") for reason, names in skipped.items()]
    lines.append(f"  results: {results} · compare: make gate BASELINE=<dir> RESULTS={results}")
    return "\n".join(lines)
