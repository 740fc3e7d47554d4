"""The leaderboard's picture: each contestant a point (quality, cost per 1000 questions) with its quality
interval as a bar. It stays readable when it has least to show: without known prices p95 latency stands in
for cost; when every contestant costs the same (offline, a free local server) the points are spread best
first along the axis, which says so; labels of points that land together are moved apart, never overprinted."""

from __future__ import annotations

from html import escape
from typing import Any

from evalharness.report import fmt

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 720, 380, 70, 50, 20, 170
LABEL_GAP = 14  # px between two label baselines: one line of 12 px text
LABEL_WIDTH = 150  # px a label may take to the right of its point before it can collide with the next one


def plot(board: dict[str, Any]) -> str:
    rows = [r for r in board["contestants"] if r.get("quality")]
    if not rows:
        return '<p class="note">Nothing to plot: no contestant has gated metric scores.</p>'
    priced = all(r.get("cost_per_1000") is not None for r in rows)
    costs = [r["cost_per_1000"] if priced else (r.get("latency_ms") or {}).get("p95") or 0.0 for r in rows]
    unit = "cost per 1000 questions (USD)" if priced else "p95 latency (ms): prices unknown"
    spread = max(costs) - min(costs) <= 1e-12 and len(rows) > 1
    if spread:  # one x for all: a scatter would stack every point and label on one vertical line
        order = sorted(range(len(rows)), key=lambda i: -rows[i]["quality"]["mean"])
        xs = [float(order.index(i) + 1) for i in range(len(rows))]
        x_hi, x_label = len(rows) + 1.0, f"all equal ({costs[0]:.3g}): {unit}; best quality first"
    else:
        xs, x_hi, x_label = costs, max(costs) * 1.1 or 1.0, unit
    lows = [r["quality"]["lower"] if r["quality"]["lower"] is not None else r["quality"]["mean"] for r in rows]
    highs = [r["quality"]["upper"] if r["quality"]["upper"] is not None else r["quality"]["mean"] for r in rows]
    y_lo, y_hi = max(0.0, min(lows) - 0.05), min(1.0, max(highs) + 0.05)
    y_hi = y_hi if y_hi > y_lo else y_lo + 0.1
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def px(v: float) -> float:
        return PAD_L + v / x_hi * plot_w

    def py(v: float) -> float:
        return PAD_T + (y_hi - v) / (y_hi - y_lo) * plot_h

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
        if not spread:  # spread points have ranks, not values, along x
            xv = x_hi * i / 4
            tick = f'<text x="{px(xv):.1f}" y="{PAD_T + plot_h + 16}" text-anchor="middle" class="tick">{xv:.3g}</text>'
            parts.append(tick)
    points = [(px(x), py(row["quality"]["mean"])) for row, x in zip(rows, xs, strict=True)]
    labels = label_positions(points)
    chosen = board["recommendation"].get("name")
    for row, (cx, cy), (lx, ly), lo, hi in zip(rows, points, labels, lows, highs, strict=True):
        color = fmt.VERDICT_COLORS["PASS"] if row["status"] == "top" else fmt.NEUTRAL_COLOR
        parts.append(
            f'<line x1="{cx:.1f}" y1="{py(lo):.1f}" x2="{cx:.1f}" y2="{py(hi):.1f}" stroke="{color}" stroke-width="2"/>'
        )
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{7 if row["name"] == chosen else 5}" fill="{color}"/>')
        if abs(ly - cy - 4) > 1:  # a moved label keeps a thin line to its point
            parts.append(f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{lx - 2:.1f}" y2="{ly - 4:.1f}" stroke="#d0d7de"/>')
        parts.append(f'<text x="{lx:.1f}" y="{ly:.1f}" class="label">{escape(row["name"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def label_positions(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A baseline for each point's label, right of the point, pushed down until no two labels that could
    overlap horizontally are closer than LABEL_GAP. Top to bottom, so the order of the points is kept."""
    placed: list[tuple[float, float]] = []
    result: dict[int, tuple[float, float]] = {}
    for i in sorted(range(len(points)), key=lambda i: (points[i][1], points[i][0])):
        x, y = points[i][0] + 10, points[i][1] + 4
        while any(abs(x - px) < LABEL_WIDTH and abs(y - py) < LABEL_GAP for px, py in placed):
            y += 1
        placed.append((x, y))
        result[i] = (x, y)
    return [result[i] for i in range(len(points))]
