"""The report tables as plain text rows, built once: markdown and HTML only differ in how they escape and draw them.

Each builder returns (header, rows); a last column named "verdict" holds the verdict word (HTML colors it).
"""

from __future__ import annotations

from typing import Any

from evalharness.report import fmt

CASES_SHOWN = 4  # failing case ids listed per hard limit (all of them are in verdict.json)

Table = tuple[list[str], list[list[Any]]]

CASE_LISTS = [  # (title, verdict key, why it matters)
    ("Not evaluated", "not_evaluated", "cache misses in replay mode: the verdict needs a live run"),
    ("Only in head", "only_in_head", "new cases: not paired, so not in the comparison"),
    ("Only in baseline", "only_in_baseline", "removed cases: not paired, so not in the comparison"),
]
ERRORS_EXPLAINED = (
    "The model, the judge or the network failed on these units. Errors are not a quality verdict: the gate exits "
    "with code 3 so that CI does not read them as a regression. Re-run to resume; finished units are kept."
)


def metrics(verdict: dict[str, Any]) -> Table:
    rows = verdict.get("metrics") or []
    if not verdict.get("baseline"):
        header = ["metric", "head", "cases", "tolerance", "verdict"]
        return header, [
            [m.get("name"), fmt.score(m.get("head_mean")), m.get("n_head", 0), fmt.score(m.get("tolerance")), _word(m)]
            for m in rows
        ]
    header = ["metric", "base", "head", "delta", "interval", "tolerance", "worse / better", "pairs", "verdict"]
    return header, [
        [
            m.get("name"),
            fmt.score(m.get("base_mean")),
            fmt.score(m.get("head_mean")),
            fmt.signed(m.get("delta")),
            fmt.interval(m.get("lower"), m.get("upper")),
            fmt.score(m.get("tolerance")),
            f"{m['worse']} / {m['better']}" if "worse" in m else fmt.MISSING,
            m.get("n_pairs", 0),
            _word(m),
        ]
        for m in rows
    ]


def _word(row: dict[str, Any]) -> str:
    verdict = str(row.get("verdict", fmt.MISSING))
    if row.get("verdict") == "SKIPPED" or not row.get("skipped_reason"):
        return verdict  # a skipped metric's reason is said once, in the notes
    return f"{verdict} ({row['skipped_reason']})"


def metric_note(verdict: dict[str, Any]) -> str:
    level = verdict.get("level") or verdict.get("alpha")
    looks = verdict.get("looks") or []
    spent = f", the level of the last of {len(looks)} sequential looks" if looks else ""
    return (
        "delta = head - base over the cases both runs scored; worse / better = cases that moved; interval = "
        f"sign-flip bounds corrected across the metrics (family alpha = {verdict.get('alpha')}, level {fmt.p(level)}"
        f"{spent}). FAIL when the upper bound is below -tolerance, PASS when the lower bound is at or above it; "
        "WORSE? when the metric is proven worse than the base and below -tolerance at face value, but not proven "
        "beyond it."
    )


def changed(verdict: dict[str, Any]) -> list[str]:
    """Plain lines: each changed key of a config file, each other changed file, each input whose hash moved."""
    info = verdict.get("changed") or {}
    lines = []
    for f in info.get("files") or []:
        keys = f.get("keys") or []
        for k in keys:
            lines.append(f"{f.get('name')}: {k.get('key')}: {fmt.value(k.get('base'))} → {fmt.value(k.get('head'))}")
        if not keys:
            lines.append(f"{f.get('name')}: {f.get('status')}")
    hashes = info.get("hashes") or {}
    moved = [name for name, differs in hashes.items() if differs]
    same = [name for name, differs in hashes.items() if not differs]
    if not lines and not moved:
        return []  # nothing changed: the headline says so
    if moved:
        lines.append("changed content: " + ", ".join(moved))
    if same:
        lines.append("unchanged: " + ", ".join(same))
    return lines


def must_pass(verdict: dict[str, Any]) -> Table:
    rows = [
        [r.get("case"), ", ".join(r.get("metrics") or []), r.get("status"), "FAIL" if r.get("blocks") else "noted"]
        for r in verdict.get("must_pass") or []
    ]
    return ["case", "failing metrics", "status", "verdict"], rows


def power_notes(verdict: dict[str, Any]) -> list[str]:
    """Why an INCONCLUSIVE metric is inconclusive: the smallest drop this many pairs would reliably catch."""
    return [
        f"{m.get('name')}: with {m.get('n_pairs')} pair(s) only drops of {fmt.score(m['mde'])} or more are reliably "
        "caught (80% power); more cases or repeats narrow the interval."
        for m in verdict.get("metrics") or []
        if m.get("verdict") == "INCONCLUSIVE" and fmt.number(m.get("mde")) is not None
    ]


def thresholds(verdict: dict[str, Any]) -> Table:
    header = ["metric", "kind", "value", "minimum", "interval", "cases", "verdict"]
    return header, [
        [
            t.get("metric"),
            str(t.get("kind", "")).replace("_", " "),
            fmt.score(t.get("value")),
            fmt.score(t.get("minimum")),
            f"{fmt.score(t.get('lower'))} .. {fmt.score(t.get('upper'))}",
            t.get("n"),
            t.get("verdict"),
        ]
        for t in verdict.get("thresholds") or []
    ]


def failure_limits(verdict: dict[str, Any]) -> Table:
    header = ["metric", "failed", "limit", "cases", "failing cases", "verdict"]
    rows = []
    for r in verdict.get("failure_limits") or []:
        failing = r.get("cases") or []
        shown = ", ".join(failing[:CASES_SHOWN]) + (
            f" (+{len(failing) - CASES_SHOWN} more)" if failing[CASES_SHOWN:] else ""
        )
        rows.append([r.get("metric"), r.get("failed"), r.get("limit"), r.get("n"), shown, r.get("verdict")])
    return header, rows


def limit_examples(verdict: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The failing cases behind each failed hard limit (a probe that got through): (title, example)."""
    return [
        (f"{row.get('metric')}: {example.get('case')} failed", example)
        for row in verdict.get("failure_limits") or []
        if row.get("verdict") == "FAIL"
        for example in row.get("examples") or []
    ]


def promptfoo_metrics(verdict: dict[str, Any]) -> Table:
    metrics = (verdict.get("promptfoo") or {}).get("metrics") or {}
    rows = [[name, c.get("passed"), c.get("total"), fmt.score(_ratio(c))] for name, c in metrics.items()]
    return ["assertion metric", "passed", "total", "pass rate"], rows


def promptfoo_failed(verdict: dict[str, Any]) -> Table:
    failed = (verdict.get("promptfoo") or {}).get("failed") or []
    return ["test", "kind", "reason"], [[f.get("case"), f.get("kind"), f.get("reason")] for f in failed]


def _ratio(counts: dict[str, Any]) -> float | None:
    return counts["passed"] / counts["total"] if counts.get("total") else None


def budgets(verdict: dict[str, Any]) -> Table:
    rows = []
    for b in verdict.get("budgets") or []:
        name = str(b.get("name"))
        rows.append(
            [name, fmt.budget_value(name, b.get("value")), fmt.budget_value(name, b.get("limit")), b.get("verdict")]
        )
    return ["budget", "value", "limit", "verdict"], rows


def errors(verdict: dict[str, Any]) -> Table:
    rows = [
        [e.get("case"), e.get("repeat"), e.get("metric") or "(answer)", e.get("reason")]
        for e in verdict.get("errors") or []
    ]
    return ["case", "repeat", "metric", "reason"], rows


def runs(verdict: dict[str, Any]) -> Table:
    return fmt.RUN_HEADER, [[label, *fmt.run_cells(side)] for label, side in fmt.side_rows(verdict)]


def skipped(verdict: dict[str, Any]) -> Table:
    """Metrics measured on some units and skipped on others (wholly skipped ones are named in the notes)."""
    unmeasured = {m.get("name") for m in verdict.get("metrics") or [] if m.get("skipped_reason")}
    rows = [
        [metric, reason, count]
        for metric, reasons in sorted((verdict.get("skipped") or {}).items())
        if metric not in unmeasured
        for reason, count in sorted((reasons or {}).items())
    ]
    return ["metric", "reason", "units"], rows


def regression_summary(r: dict[str, Any]) -> str:
    lost = "; ".join(str(item.get("why")) for item in r.get("lost") or [])
    must = " · must-pass" if r.get("must_pass") else ""
    return f"{fmt.clip(r.get('case'), 120)}{must} · {fmt.clip(lost, 200) or r.get('metric')}"


REGRESSION_TEXTS = (("Input", "input"), ("Baseline answer", "base_answer"), ("Head answer", "head_answer"))


def regression_sources(r: dict[str, Any]) -> str:
    base, head = r.get("base_sources") or [], r.get("head_sources") or []
    return f"sources: base {', '.join(base) or 'none'} · head {', '.join(head) or 'none'}"
