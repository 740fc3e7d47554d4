"""report.md: the verdict as a GitHub PR comment and job summary.

A PR comment holds at most 65,536 characters, so every list and long text is cut (saying how much), and the
report is assembled block by block under MAX_BYTES: a block is a whole table or <details>, so a cut never
leaves a half-open code fence behind.
"""

from __future__ import annotations

import html
import re
from typing import Any

from evalharness.report import fmt, tables

MARKER = "<!-- eval-gate-report -->"  # the sticky-comment workflow finds (and updates) its comment by this line
MAX_BYTES = 60_000
ROWS_SHOWN = 60
IDS_SHOWN = 20
ERRORS_SHOWN = 20
ANSWER_CHARS = 300
REGRESSIONS_SHOWN = 10


def markdown(verdict: dict[str, Any]) -> str:
    errors_first = verdict.get("verdict") == "ERROR"  # then the errors are the news, not the metrics
    blocks = [
        _headline(verdict),
        _errors(verdict) if errors_first else "",
        _changed(verdict),
        _section("Must-pass cases", tables.must_pass(verdict), "Cases marked `must_pass` that fail on the head."),
        _metrics(verdict),
        _section("Absolute thresholds", tables.thresholds(verdict)),
        _section("Failure limits", tables.failure_limits(verdict), "Hard limits: any failing case beyond them fails."),
        *_limit_examples(verdict),
        _section("Budgets", tables.budgets(verdict)),
        *_promptfoo(verdict),
        "" if errors_first else _errors(verdict),
        *_regressions(verdict),
        _section("Runs: cost and latency", tables.runs(verdict)),
        _section("Skipped metrics", tables.skipped(verdict), "Not measured on these units, so not in the comparison."),
        *_cases(verdict),
        _notes(verdict),
        f"<sub>alpha = {verdict.get('alpha')}; full data in verdict.json and report.html next to this report.</sub>",
    ]
    return _fit([b for b in blocks if b])


def _fit(blocks: list[str]) -> str:
    """Keep whole blocks in order while they fit; a block too big for the rest is left out, smaller later ones stay."""
    kept: list[str] = []
    budget = MAX_BYTES - len(MARKER) - 300  # room for the note below
    for block in blocks:
        size = len(block.encode()) + 2
        if size <= budget:
            kept.append(block)
            budget -= size
    if len(kept) < len(blocks):
        left_out = len(blocks) - len(kept)
        kept.append(f"_Report cut to fit {MAX_BYTES // 1000} KB: {left_out} section(s) left out; see report.html._")
    return "\n\n".join([MARKER, *kept]) + "\n"


def cell(text: Any) -> str:
    """A table cell: `|` would end the cell and a newline the row; raw HTML would be interpreted."""
    text = html.escape(fmt.MISSING if text is None else fmt.clip(text, ANSWER_CHARS), quote=False)
    return re.sub(r"\r\n|\r|\n", "<br>", text).replace("|", "\\|")


def table(header: list[str], rows: list[list[Any]], limit: int = ROWS_SHOWN) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more row(s) cut; see report.html._")
    return "\n".join(lines)


def fence(text: Any) -> str:
    """A code block that the text cannot close early (the fence is longer than any backtick run in it)."""
    body = fmt.clip(text, ANSWER_CHARS) or "(empty)"
    ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", body)), default=0))
    return f"{ticks}text\n{body}\n{ticks}"


def _section(title: str, content: tables.Table, intro: str = "") -> str:
    header, rows = content
    if not rows:
        return ""
    return "\n\n".join(part for part in (f"### {title}", intro, table(header, rows)) if part)


def _headline(verdict: dict[str, Any]) -> str:
    overall, mode = verdict.get("verdict", "?"), verdict.get("mode", "?")
    lines = [
        f"## Eval gate: {overall}",
        f"**{overall}** in {fmt.MODE_LABELS.get(mode, mode)} mode. " + html.escape(fmt.meaning(verdict), quote=False),
    ]
    if verdict.get("headline"):
        lines.append(html.escape(fmt.clip(verdict["headline"], 1000), quote=False))
    if not verdict.get("baseline"):
        lines.append("No baseline: only the absolute thresholds and budgets decide.")
    for label, side in fmt.side_rows(verdict):
        url = fmt.safe_url(side.get("langsmith_url"))
        if url:  # percent-encode what would end the markdown link early
            lines.append(
                f"LangSmith experiment ({label}): [{cell(url)}]({url.replace(')', '%29').replace(' ', '%20')})"
            )
    return "\n\n".join(lines)


def _changed(verdict: dict[str, Any]) -> str:
    lines = tables.changed(verdict)
    if not lines:
        return ""
    text = "### Changed\n\n" + "\n".join(f"- {cell(line)}" for line in lines[:ROWS_SHOWN])
    diffs = [f for f in (verdict.get("changed") or {}).get("files") or [] if f.get("diff")]
    for f in diffs:
        body = "\n".join(f["diff"])
        ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", body)), default=0))
        summary = f"<summary>diff of {html.escape(str(f.get('name')))}</summary>"
        text += f"\n\n<details>{summary}\n\n{ticks}diff\n{body}\n{ticks}\n\n</details>"
    return text


def _metrics(verdict: dict[str, Any]) -> str:
    header, rows = tables.metrics(verdict)
    if not rows:
        return ""
    if not verdict.get("baseline"):
        return "### Metrics (head only)\n\n" + table(header, rows)
    text = f"### Metrics\n\n{table(header, rows)}\n\n<sub>{tables.metric_note(verdict)}</sub>"
    power = tables.power_notes(verdict)
    return text + ("\n\n" + "\n".join(f"- {cell(n)}" for n in power[:ROWS_SHOWN]) if power else "")


def _errors(verdict: dict[str, Any]) -> str:
    header, rows = tables.errors(verdict)
    count = verdict.get("error_count") or len(rows)
    if not count:
        return ""
    text = f"### Infrastructure errors ({count})\n\n{tables.ERRORS_EXPLAINED}\n\n{table(header, rows, ERRORS_SHOWN)}"
    shown = min(len(rows), ERRORS_SHOWN)
    return text + (f"\n\n_Showing {shown} of {count} errors._" if count > shown else "")


def _regressions(verdict: dict[str, Any]) -> list[str]:
    regressions = verdict.get("regressions") or []
    if not regressions:
        return []
    counts = verdict.get("case_counts") or {}
    total = counts.get("worse", len(regressions))
    shown = min(len(regressions), REGRESSIONS_SHOWN)
    blocks = [f"### Regressed cases ({f'worst {shown} of ' if total > shown else ''}{total})"]
    for r in regressions[:REGRESSIONS_SHOWN]:  # one block each: the size cap drops whole cases, never half a fence
        parts = [f"<details><summary>{html.escape(tables.regression_summary(r))}</summary>"]
        parts.append(cell(tables.regression_sources(r)))
        for title, key in tables.REGRESSION_TEXTS:
            parts += [f"**{title}**", fence(r.get(key))]
        blocks.append("\n\n".join([*parts, "</details>"]))
    return blocks


def _limit_examples(verdict: dict[str, Any]) -> list[str]:
    blocks = []
    for title, example in tables.limit_examples(verdict):
        parts = [f"<details><summary>{html.escape(title)}</summary>", "**Input**", fence(example.get("input"))]
        blocks.append("\n\n".join([*parts, "**Answer**", fence(example.get("answer")), "</details>"]))
    return blocks


def _promptfoo(verdict: dict[str, Any]) -> list[str]:
    summary = verdict.get("promptfoo")
    if not summary:
        return []
    return [
        "### promptfoo (second engine, same datasets)\n\n" + html.escape(fmt.promptfoo(summary), quote=False),
        table(*tables.promptfoo_metrics(verdict)) if summary.get("metrics") else "",
        _section("promptfoo: failed tests", tables.promptfoo_failed(verdict)),
    ]


def _cases(verdict: dict[str, Any]) -> list[str]:
    blocks = []
    for title, key, why in tables.CASE_LISTS:
        ids = verdict.get(key) or []
        if ids:
            shown = ", ".join(cell(i) for i in ids[:IDS_SHOWN])
            more = f" … and {len(ids) - IDS_SHOWN} more" if len(ids) > IDS_SHOWN else ""
            blocks.append(f"**{title} ({len(ids)})** ({why}): {shown}{more}")
    return blocks


def _notes(verdict: dict[str, Any]) -> str:
    notes = verdict.get("notes") or []
    lines = [f"- {cell(n)}" for n in notes[:IDS_SHOWN]]
    if len(notes) > IDS_SHOWN:
        lines.append(f"- … and {len(notes) - IDS_SHOWN} more")
    return "### Notes\n\n" + "\n".join(lines) if lines else ""
