"""report.html's case table: every case as a row that opens to the question, both answers, both source
lists and each metric's score with its reason, filtered by what changed, a metric, a tag or a search.
The filters are one small inline script over data attributes, kept in the address so a link shows the same
cases (report.html#change=worse&metric=facts); without scripts every case simply shows."""

from __future__ import annotations

from html import escape
from typing import Any

from evalharness.report import fmt

CASES_SHOWN = 2000  # a page a browser opens at once; verdict.json has every case
CHANGES = {
    "worse": "got worse",
    "failing": "fails (unchanged)",
    "better": "got better",
    "new": "new (not in the baseline)",
    "same": "passes, unchanged",
}

SCRIPT = """
(() => {
  const form = document.getElementById("case-filter");
  const rows = [...document.querySelectorAll("#cases > details")];
  const count = document.getElementById("case-count");
  const apply = () => {
    const q = form.q.value.trim().toLowerCase(), change = form.change.value;
    const metric = form.metric.value, tag = form.tag.value;
    let shown = 0;
    for (const row of rows) {
      const d = row.dataset;
      const hit = (!change || d.change === change)
        && (!metric || d.failed.split("|").includes(metric) || d.moved.split("|").includes(metric))
        && (!tag || d.tags.split("|").includes(tag))
        && (!q || row.textContent.toLowerCase().includes(q));
      row.hidden = !hit;
      shown += hit;
    }
    count.textContent = `${shown} of ${rows.length} cases`;
  };
  // The filters live in the address (#change=worse&metric=facts): a link shows a reviewer the same cases.
  for (const [key, value] of new URLSearchParams(location.hash.slice(1))) {
    if (form[key]) form[key].value = value;
  }
  form.addEventListener("input", () => {
    const state = new URLSearchParams();
    for (const field of form.elements) if (field.name && field.value) state.set(field.name, field.value);
    history.replaceState(null, "", "#" + state);
    apply();
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  apply();
})();
"""

CSS = """
#case-filter { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0; }
#case-filter input[type=search] { flex: 1 1 220px; padding: 4px 8px; }
#cases > details { border: 1px solid #d0d7de; border-radius: 6px; padding: 4px 10px; margin: 4px 0; }
#cases .side { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
#cases .src { color: #57606a; font-size: 12px; }
"""


def case_table(verdict: dict[str, Any]) -> str:
    cases = verdict.get("cases") or []
    if not cases:
        return ""
    shown = cases[:CASES_SHOWN]
    metrics = list(dict.fromkeys(s["metric"] for case in cases for s in case.get("scores") or []))
    tags = sorted({tag for case in cases for tag in case.get("tags") or []})
    counts = {change: sum(1 for case in cases if case.get("change") == change) for change in CHANGES}
    change_options = "".join(
        f'<option value="{key}">{escape(label)} ({counts[key]})</option>'
        for key, label in CHANGES.items()
        if counts[key]
    )
    form = (
        '<form id="case-filter" role="search">'
        '<input type="search" name="q" placeholder="search questions, answers, sources, reasons" aria-label="search">'
        f'<select name="change" aria-label="change"><option value="">any change</option>{change_options}</select>'
        f'<select name="metric" aria-label="metric"><option value="">any metric</option>{_options(metrics)}</select>'
        f'<select name="tag" aria-label="tag"><option value="">any tag</option>{_options(tags)}</select>'
        f'<span id="case-count" class="note">{len(cases)} cases</span></form>'
    )
    more = len(cases) - len(shown)
    tail = f'<p class="note">… and {more} more in verdict.json</p>' if more > 0 else ""
    rows = "\n".join(_row(case, with_base=bool(verdict.get("baseline"))) for case in shown)
    intro = '<p class="note">Worst first. Open a case for both answers, the sources and why each metric scored it.</p>'
    return (
        f'<section><h2>All cases ({len(cases)})</h2>{intro}{form}<div id="cases">\n{rows}\n</div>{tail}'
        f"<style>{CSS}</style><script>{SCRIPT}</script></section>"
    )


def _row(case: dict[str, Any], with_base: bool) -> str:
    scores = case.get("scores") or []
    failed = [s["metric"] for s in scores if not s.get("passed")]
    moved = [s["metric"] for s in scores if s.get("base") is not None and s["base"] != s["head"]]
    change = str(case.get("change"))
    label = CHANGES.get(change, change)
    flags = (" · must-pass" if case.get("must_pass") else "") + (f" · fails {', '.join(failed)}" if failed else "")
    summary = f"<summary><b>{escape(str(case.get('case')))}</b> · {escape(label)}{escape(flags)}</summary>"
    answers = _side("head answer", case.get("answer"), case.get("sources"))
    if with_base:
        answers += _side("baseline answer", case.get("base_answer"), case.get("base_sources"))
    table = "".join(
        f"<tr><td>{escape(s['metric'])}</td>"
        + (f'<td class="n">{fmt.score(s.get("base"))}</td>' if with_base else "")
        + f'<td class="n">{fmt.score(s.get("head"))}</td><td>{"pass" if s.get("passed") else "fail"}</td>'
        f"<td>{escape(str(s.get('reason') or ''))}</td></tr>"
        for s in scores
    )
    base_head = "<th>base</th>" if with_base else ""
    score_table = f"<table><tr><th>metric</th>{base_head}<th>head</th><th></th><th>reason</th></tr>{table}</table>"
    attrs = " ".join(
        f'data-{key}="{escape("|".join(values))}"'
        for key, values in (("failed", failed), ("moved", moved), ("tags", case.get("tags") or []))
    )
    tags = f'<p class="src">tags: {escape(", ".join(case.get("tags") or []))}</p>' if case.get("tags") else ""
    return (
        f'<details data-change="{escape(change)}" {attrs}>{summary}'
        f"<h4>question</h4><pre>{escape(str(case.get('input') or ''))}</pre>"
        f'<div class="side">{answers}</div>{score_table}{tags}</details>'
    )


def _side(title: str, answer: Any, sources: Any) -> str:
    if answer is None:
        return f'<div><h4>{title}</h4><p class="note">not in this run</p></div>'
    listed = ", ".join(str(s) for s in sources or []) or "none"
    return f'<div><h4>{title}</h4><pre>{escape(str(answer))}</pre><p class="src">sources: {escape(listed)}</p></div>'


def _options(values: list[str]) -> str:
    return "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
