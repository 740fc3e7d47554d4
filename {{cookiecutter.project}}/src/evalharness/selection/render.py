"""The leaderboard as leaderboard.md (step summary, PR body), leaderboard.json and leaderboard.html (a plot
of quality against cost, each with its interval; self-contained, no scripts, everything escaped)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from evalharness.report import fmt
from evalharness.report.html import CSS
from evalharness.report.markdown import table
from evalharness.results import write_json
from evalharness.selection.plot import plot

STATUS_WORDS = {
    "top": "top group",
    "undecided": "undecided",
    "worse": "worse than the best",
    "disqualified": "fails eval.yaml's bars",
    "error": "run failed",
}


def write_leaderboard(out: Path, board: dict[str, Any]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "leaderboard.json", "md": out / "leaderboard.md", "html": out / "leaderboard.html"}
    write_json(paths["json"], board)
    paths["md"].write_text(markdown(board), encoding="utf-8")
    paths["html"].write_text(page(board), encoding="utf-8")
    return paths


def markdown(board: dict[str, Any]) -> str:
    rec = board["recommendation"]
    metrics = board["metrics"]
    blocks = [f"## Model selection: {rec['kind'].upper()}", "", f"**{rec['message']}**", ""]
    header, rows = _ranking(board)
    blocks += [table(header, rows), ""]
    confidence = f"{1 - board['alpha']:.0%}"
    blocks.append(
        f"Means with their two-sided {confidence} intervals. Gated metrics and tolerances: "
        + ", ".join(f"{m} (Δ {board['tolerances'][m]:g})" for m in metrics)
        + "; leaders: "
        + ", ".join(f"{m}: {name}" for m, name in board["leaders"].items())
        + "."
    )
    if board["skipped_metrics"]:
        blocks.append(f"Not compared (not measured for every contestant): {', '.join(board['skipped_metrics'])}.")
    compared = [r for r in board["contestants"] if r.get("vs_current")]
    if compared:
        blocks += ["", "### Against bot.yaml (the gate a switch PR would face)", ""]
        rows = [
            [r["name"], r["vs_current"]["verdict"], *(_delta(r["vs_current"], m) for m in metrics)] for r in compared
        ]
        blocks.append(table(["contestant", "gate", *metrics], rows))
    undecided = [r for r in board["contestants"] if r["status"] == "undecided"]
    if undecided:
        blocks += ["", "### Undecided against the leaders", ""]
        for r in undecided:
            open_ = [m for m in r["vs_leader"]["metrics"] if m["verdict"] in ("INCONCLUSIVE", "WORSE?")]
            text = "; ".join(
                f"{m['name']}: Δ {fmt.signed(m['delta'])} [{fmt.interval(m['lower'], m['upper'])}] vs {m['leader']}, "
                f"detectable drop {fmt.score(m['mde'])}, "
                + (f"~{m['more_cases']} more cases" if m["more_cases"] else "not separable at this tolerance")
                for m in open_
            )
            blocks.append(f"- **{r['name']}**: {text}")
    problems = [r for r in board["contestants"] if r["reasons"]]
    if problems:
        blocks += ["", "### Not eligible", ""]
        blocks += [f"- **{r['name']}** ({_status(r)}): {'; '.join(r['reasons'])}" for r in problems]
    return "\n".join(blocks) + "\n"


def page(board: dict[str, Any]) -> str:
    rec = board["recommendation"]
    color = {"switch": fmt.VERDICT_COLORS["PASS"], "keep": fmt.NEUTRAL_COLOR, "tie": fmt.VERDICT_COLORS["INCONCLUSIVE"]}
    header, cells = _ranking(board)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in cells)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Model selection</title>'
        f"<style>{CSS}</style></head><body><main>"
        f'<header style="--c:{color.get(rec["kind"], fmt.VERDICT_COLORS["FAIL"])}"><h1>Model selection: '
        f"{escape(rec['kind'].upper())}</h1><p>{escape(rec['message'])}</p></header>"
        f"<h2>Quality against cost</h2>{plot(board)}"
        f"<h2>Leaderboard</h2><table><tr>{head}</tr>{rows}</table>"
        f'<p class="note">Means with two-sided {1 - board["alpha"]:.0%} intervals; full data in leaderboard.json.</p>'
        "</main></body></html>\n"
    )


def _ranking(board: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The leaderboard table, the same in markdown and HTML: header and one row per contestant, best first."""
    metrics = board["metrics"]
    header = ["#", "contestant", "model", "status", "quality", *metrics, "$ / 1000 q", "p50", "p95"]
    rows = [
        [
            row["rank"],
            row["name"],
            row.get("model") or fmt.MISSING,
            _status(row),
            _with_interval(row.get("quality")),
            *(_with_interval(row["metrics"].get(m)) for m in metrics),
            fmt.usd(row.get("cost_per_1000")),
            fmt.ms((row.get("latency_ms") or {}).get("p50")),
            fmt.ms((row.get("latency_ms") or {}).get("p95")),
        ]
        for row in board["contestants"]
    ]
    return header, rows


def _status(row: dict[str, Any]) -> str:
    return STATUS_WORDS.get(row["status"], row["status"] or "")


def _with_interval(value: dict[str, Any] | None) -> str:
    if not value:
        return fmt.MISSING
    if value.get("lower") is None:
        return fmt.score(value["mean"])
    return f"{fmt.score(value['mean'])} [{fmt.score(value['lower'])}, {fmt.score(value['upper'])}]"


def _delta(vs_current: dict[str, Any], metric: str) -> str:
    row = next((m for m in vs_current["metrics"] if m["name"] == metric), None)
    if not row or row.get("delta") is None:
        return fmt.MISSING
    return f"{fmt.signed(row['delta'])} {row['verdict']}"
