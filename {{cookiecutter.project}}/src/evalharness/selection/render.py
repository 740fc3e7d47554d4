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

STATUS_WORDS = {
    "top": "top group",
    "undecided": "undecided",
    "worse": "worse than the best",
    "disqualified": "fails eval.yaml's bars",
    "error": "run failed",
}
W, H, PAD_L, PAD_B, PAD_T, PAD_R = 720, 380, 70, 50, 20, 170


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


def plot(board: dict[str, Any]) -> str:
    """Each contestant a point (quality, cost per 1000 questions) with its quality interval as a bar. Without
    known prices, p95 latency stands in for cost (the axis says so)."""
    rows = [r for r in board["contestants"] if r.get("quality")]
    if not rows:
        return '<p class="note">Nothing to plot: no contestant has gated metric scores.</p>'
    priced = all(r.get("cost_per_1000") is not None for r in rows)
    xs = [r["cost_per_1000"] if priced else (r.get("latency_ms") or {}).get("p95") or 0.0 for r in rows]
    lows = [r["quality"]["lower"] if r["quality"]["lower"] is not None else r["quality"]["mean"] for r in rows]
    highs = [r["quality"]["upper"] if r["quality"]["upper"] is not None else r["quality"]["mean"] for r in rows]
    x_hi = max(xs) * 1.1 or 1.0
    y_lo, y_hi = max(0.0, min(lows) - 0.05), min(1.0, max(highs) + 0.05)
    y_hi = y_hi if y_hi > y_lo else y_lo + 0.1
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def px(v: float) -> float:
        return PAD_L + v / x_hi * plot_w

    def py(v: float) -> float:
        return PAD_T + (y_hi - v) / (y_hi - y_lo) * plot_h

    x_label = "cost per 1000 questions (USD)" if priced else "p95 latency (ms): prices unknown"
    parts = [
        f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="quality against cost">',
        f'<line x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{PAD_L + plot_w}" y2="{PAD_T + plot_h}" stroke="#8c959f"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + plot_h}" stroke="#8c959f"/>',
        f'<text x="{PAD_L + plot_w / 2}" y="{H - 10}" text-anchor="middle" class="tick">{escape(x_label)}</text>',
        f'<text x="14" y="{PAD_T + plot_h / 2}" transform="rotate(-90 14 {PAD_T + plot_h / 2})" '
        'text-anchor="middle" class="tick">quality (mean gated score)</text>',
    ]
    for i in range(5):
        value = y_lo + (y_hi - y_lo) * i / 4
        parts.append(f'<text x="{PAD_L - 6}" y="{py(value) + 4:.1f}" text-anchor="end" class="tick">{value:.2f}</text>')
        xv = x_hi * i / 4
        xt = f"{xv:.3g}"
        parts.append(f'<text x="{px(xv):.1f}" y="{PAD_T + plot_h + 16}" text-anchor="middle" class="tick">{xt}</text>')
    chosen = board["recommendation"].get("name")
    for row, x, lo, hi in zip(rows, xs, lows, highs, strict=True):
        color = fmt.VERDICT_COLORS["PASS"] if row["status"] == "top" else fmt.NEUTRAL_COLOR
        cx, cy = px(x), py(row["quality"]["mean"])
        parts.append(
            f'<line x1="{cx:.1f}" y1="{py(lo):.1f}" x2="{cx:.1f}" y2="{py(hi):.1f}" stroke="{color}" stroke-width="2"/>'
        )
        radius = 7 if row["name"] == chosen else 5
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}" fill="{color}"/>')
        parts.append(f'<text x="{cx + 10:.1f}" y="{cy + 4:.1f}" class="label">{escape(row["name"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


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
