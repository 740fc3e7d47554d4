"""report.html: one self-contained page (inline CSS and SVG, no external URLs) that opens offline, e.g. as a
CI artifact: the verdict in plain words first, then what changed, the metrics, and every case in a table one
small inline script filters. Every piece of data goes through html.escape: answers are model output, not markup.
"""

from __future__ import annotations

from html import escape
from typing import Any

from evalharness.report import fmt, tables
from evalharness.report.html_case_table import case_table
from evalharness.report.svg import delta_chart

ANSWER_CHARS = 5000  # no comment-size limit here, but a runaway answer should not make the page unusable
IDS_SHOWN = 500
NUMERIC = {
    "base",
    "head",
    "delta",
    "interval",
    "tolerance",
    "pairs",
    "worse / better",
    "value",
    "minimum",
    "limit",
    "failed",
    "passed",
    "total",
    "pass rate",
    "cases",
    "units",
    "p50 latency",
    "p95 latency",
}

CSS = """
body { font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #24292f; margin: 0; }
body { background: #f6f8fa; }
main { max-width: 1040px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 26px; } h2 { font-size: 18px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
header { border-left: 6px solid var(--c); padding: 8px 16px; background: #f6f8fa; }
.meta, .note, .tick { color: #57606a; } .tick { font-size: 11px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; vertical-align: top; }
th { background: #f6f8fa; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.v { font-weight: 600; } .v-PASS { color: #1a7f37; } .v-FAIL { color: #cf222e; } .v-INCONCLUSIVE { color: #9a6700; }
.v-ERROR { color: #8250df; } .v-NO_BASELINE, .v-SKIPPED { color: #57606a; } .v-WORSE { color: #bc4c00; }
.headline { font-size: 16px; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: 8px; border-radius: 6px; }
details { margin: 6px 0; } summary { cursor: pointer; }
svg text { font: 12px sans-serif; } svg .label { fill: #24292f; } svg .verdict { font-weight: 600; }
"""


def page(verdict: dict[str, Any]) -> str:
    notes = verdict.get("notes") or []
    errors_first = verdict.get("verdict") == "ERROR"  # then the errors are the news, not the metrics
    body = [
        _header(verdict),
        _errors(verdict) if errors_first else "",
        _changed(verdict),
        _section("Must-pass cases", _table(*tables.must_pass(verdict))),
        *_metrics(verdict),
        _section("Absolute thresholds", _table(*tables.thresholds(verdict))),
        _section("Failure limits", _table(*tables.failure_limits(verdict)) + _limit_examples(verdict)),
        _section("Budgets", _table(*tables.budgets(verdict))),
        _promptfoo(verdict),
        "" if errors_first else _errors(verdict),
        _regressions(verdict),
        case_table(verdict),
        _section("Runs: cost and latency", _table(*tables.runs(verdict))),
        _section("Skipped metrics", _table(*tables.skipped(verdict))),
        *_cases(verdict),
        _section("Notes", "<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>" if notes else ""),
    ]
    title = f"Eval gate: {e(verdict.get('verdict'))}"
    head = '<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    head += f"<title>{title}</title>\n<style>{CSS}</style>\n"
    main = "\n".join(b for b in body if b)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n{head}</head>\n<body>\n<main>\n{main}\n</main>\n</body>\n</html>\n'
    )


def e(value: Any, limit: int = ANSWER_CHARS) -> str:
    return escape(fmt.MISSING if value is None else fmt.clip(value, limit))


def badge(verdict: Any) -> str:
    """A verdict word, colored; a reason after it ("INCONCLUSIVE (judge disabled)") keeps the word's color."""
    word = str(verdict)
    kind = word.split(" ", 1)[0].rstrip("?")
    return f'<span class="v v-{escape(kind)}">{escape(word)}</span>'


def _promptfoo(verdict: dict[str, Any]) -> str:
    summary = verdict.get("promptfoo")
    if not summary:
        return ""
    line = escape(fmt.promptfoo(summary).replace("**", ""))
    failed = _table(*tables.promptfoo_failed(verdict))
    tables_html = _table(*tables.promptfoo_metrics(verdict)) + (
        f"<h3>promptfoo: failed tests</h3>{failed}" if failed else ""
    )
    return _section("promptfoo (second engine, same datasets)", f"<p>{line}</p>\n{tables_html}")


def _section(title: str, content: str) -> str:
    return f"<section><h2>{escape(title)}</h2>\n{content}\n</section>" if content else ""


def _table(header: list[str], rows: list[list[Any]]) -> str:
    """Plain-text rows, escaped here; a last "verdict" column becomes a colored badge."""
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for name, value in zip(header, row, strict=True):
            content = badge(value) if name == "verdict" else e(value, 1000)
            cells.append(f'<td class="n">{content}</td>' if name in NUMERIC else f"<td>{content}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _header(verdict: dict[str, Any]) -> str:
    overall, mode = str(verdict.get("verdict", "?")), str(verdict.get("mode", "?"))
    color = fmt.VERDICT_COLORS.get(overall, fmt.NEUTRAL_COLOR)
    links = "".join(
        f' · <a href="{escape(url)}">LangSmith experiment ({escape(label)})</a>'
        for label, side in fmt.side_rows(verdict)
        if (url := fmt.safe_url(side.get("langsmith_url")))
    )
    baseline = "" if verdict.get("baseline") else "<p>No baseline: only the absolute thresholds and budgets decide.</p>"
    if verdict.get("headline"):
        baseline += f'<p class="headline">{e(verdict["headline"])}</p>'
    return (
        f'<header style="--c: {color}"><h1>Eval gate: {badge(overall)}</h1>\n'
        f"<p>{e(fmt.meaning(verdict))}</p>{baseline}\n"
        f'<p class="meta">mode {e(fmt.MODE_LABELS.get(mode, mode))} · exit code {e(verdict.get("exit_code"))} · '
        f"alpha = {e(verdict.get('alpha'))}{links}</p></header>"
    )


def _changed(verdict: dict[str, Any]) -> str:
    lines = tables.changed(verdict)
    if not lines:
        return ""
    items = "<ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>"
    for f in (verdict.get("changed") or {}).get("files") or []:
        if f.get("diff"):
            diff = e("\n".join(f["diff"]))
            items += f"<details><summary>diff of {e(f.get('name'))}</summary><pre>{diff}</pre></details>"
    return _section("Changed", items)


def _metrics(verdict: dict[str, Any]) -> list[str]:
    header, rows = tables.metrics(verdict)
    if not rows:
        return []
    if not verdict.get("baseline"):
        return [_section("Metrics (head only)", _table(header, rows))]
    notes = [tables.metric_note(verdict), *tables.power_notes(verdict)]
    text = _table(header, rows) + "".join(f'<p class="note">{e(n)}</p>' for n in notes)
    chart = delta_chart(verdict.get("metrics") or [])
    return [_section("Metrics", text), _section("Deltas and intervals", chart)]


def _errors(verdict: dict[str, Any]) -> str:
    header, rows = tables.errors(verdict)
    count = verdict.get("error_count") or len(rows)
    if not count:
        return ""
    intro = f"<p>{e(tables.ERRORS_EXPLAINED)} Showing {len(rows)} of {e(count)}.</p>"
    return _section(f"Infrastructure errors ({count})", intro + _table(header, rows))


def _limit_examples(verdict: dict[str, Any]) -> str:
    """The failing cases behind a failure limit (a probe that got through): what was asked, what was said."""
    blocks = []
    for title, example in tables.limit_examples(verdict):
        texts = "".join(f"<h4>{t}</h4><pre>{e(example.get(t.lower()))}</pre>" for t in ("Input", "Answer"))
        blocks.append(f"<details><summary>{e(title)}</summary>{texts}</details>")
    return "".join(blocks)


def _regressions(verdict: dict[str, Any]) -> str:
    blocks = []
    for r in verdict.get("regressions") or []:
        texts = f'<p class="note">{e(tables.regression_sources(r))}</p>'
        texts += "".join(f"<h4>{title}</h4><pre>{e(r.get(key))}</pre>" for title, key in tables.REGRESSION_TEXTS)
        blocks.append(f"<details><summary>{e(tables.regression_summary(r))}</summary>{texts}</details>")
    total = (verdict.get("case_counts") or {}).get("worse", len(blocks))
    title = f"Regressed cases ({f'worst {len(blocks)} of ' if total > len(blocks) else ''}{total})"
    return _section(title, "\n".join(blocks)) if blocks else ""


def _cases(verdict: dict[str, Any]) -> list[str]:
    sections = []
    for title, key, why in tables.CASE_LISTS:
        ids = verdict.get(key) or []
        if ids:
            items = "".join(f"<li>{e(i, 300)}</li>" for i in ids[:IDS_SHOWN])
            more = len(ids) - IDS_SHOWN
            tail = f'<p class="note">… and {more} more (see verdict.json)</p>' if more > 0 else ""
            sections.append(_section(f"{title} ({len(ids)})", f'<p class="note">{e(why)}</p><ul>{items}</ul>{tail}'))
    return sections
