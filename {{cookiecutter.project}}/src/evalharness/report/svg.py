"""The delta chart of report.html as inline SVG: one row per metric, its interval against zero and -tolerance.

A reader sees at a glance why a metric got its verdict: FAIL when the whole interval lies left of the dashed
-tolerance mark, PASS when the lower end is right of it, INCONCLUSIVE when the interval straddles it.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from evalharness.report import fmt

ROW, LABEL, PLOT, RIGHT, TOP, AXIS = 30, 190, 560, 190, 12, 34


def delta_chart(metrics: list[dict[str, Any]]) -> str:
    rows = [m for m in metrics if fmt.number(m.get("delta")) is not None]  # no pairs: nothing to draw
    if not rows:
        return ""
    lo, hi = _domain(rows)
    width, height = LABEL + PLOT + RIGHT, TOP + ROW * len(rows) + AXIS
    bottom = TOP + ROW * len(rows)

    def x(v: float | None, default: float) -> float:
        v = default if v is None else min(max(v, lo), hi)  # out-of-range bounds are drawn to the edge
        return LABEL + (v - lo) / (hi - lo) * PLOT

    parts = [
        f'<svg class="deltas" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="metric deltas with intervals">',
        *_axis(lo, hi, x, bottom),
    ]
    for i, m in enumerate(rows):
        parts.append(_row(m, TOP + ROW * i + ROW / 2, lo, hi, x))
    parts.append(
        f'<line class="zero" x1="{x(0, 0):.1f}" y1="{TOP - 4}" x2="{x(0, 0):.1f}" y2="{bottom}" '
        'stroke="#24292f" stroke-width="1.2"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _domain(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Deltas, -tolerances and zero always fit; far interval ends (tiny n) are clipped so the rest stays legible."""
    core = [0.0]
    for m in rows:
        core += [v for v in (fmt.number(m.get("delta")), -(fmt.number(m.get("tolerance")) or 0.0)) if v is not None]
    bounds = [v for m in rows for v in (fmt.number(m.get("lower")), fmt.number(m.get("upper"))) if v is not None]
    spread = max(max(core) - min(core), 0.05)
    lo = max(min(core + bounds), min(core) - 2 * spread)
    hi = min(max(core + bounds), max(core) + 2 * spread)
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _axis(lo: float, hi: float, x: Any, bottom: float) -> list[str]:
    step = _nice_step((hi - lo) / 5)
    parts = [f'<line x1="{LABEL}" y1="{bottom}" x2="{LABEL + PLOT}" y2="{bottom}" stroke="#8c959f"/>']
    tick = math.ceil(lo / step) * step
    while tick <= hi + 1e-12:
        px = x(tick, 0)
        parts.append(f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{bottom + 4}" stroke="#eaeef2"/>')
        parts.append(
            f'<text x="{px:.1f}" y="{bottom + 18}" text-anchor="middle" class="tick">{fmt.signed(tick)}</text>'
        )
        tick += step
    parts.append(
        f'<text x="{LABEL + PLOT / 2}" y="{bottom + 32}" text-anchor="middle" class="tick">'
        "delta (head - base); dashed: -tolerance</text>"
    )
    return parts


def _nice_step(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 0.01
    for factor in (1, 2, 5, 10):
        if raw / magnitude <= factor:
            return factor * magnitude
    return 10 * magnitude


def _row(m: dict[str, Any], y: float, lo: float, hi: float, x: Any) -> str:
    color = fmt.VERDICT_COLORS.get(str(m.get("verdict")), fmt.NEUTRAL_COLOR)
    delta = fmt.number(m.get("delta")) or 0.0
    lower, upper = fmt.number(m.get("lower")), fmt.number(m.get("upper"))
    x1, x2, xd = x(lower, lo), x(upper, hi), x(delta, 0)
    name = str(m.get("name"))
    label = name if len(name) <= 26 else name[:25] + "…"  # the full name is in the row's tooltip
    tip = (
        f"{name}: delta {fmt.signed(delta)}, interval {fmt.interval(lower, upper)}, "
        f"tolerance {fmt.score(m.get('tolerance'))}, {m.get('verdict')}"
    )
    parts = [
        f'<g class="metric"><title>{escape(tip)}</title>',
        f'<text x="{LABEL - 10}" y="{y + 4:.1f}" text-anchor="end" class="label">{escape(label)}</text>',
        f'<line class="interval" x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="{color}" '
        'stroke-width="3" stroke-linecap="round"/>',
    ]
    for end, direction, clipped in ((x1, -1, lower is None or lower < lo), (x2, 1, upper is None or upper > hi)):
        if clipped:  # the interval goes on beyond the chart (or has no bound at all): say so with an arrowhead
            tip_x = end + 6 * direction
            parts.append(
                f'<polygon points="{tip_x:.1f},{y:.1f} {end:.1f},{y - 5:.1f} {end:.1f},{y + 5:.1f}" fill="{color}"/>'
            )
    tolerance = fmt.number(m.get("tolerance"))
    if tolerance is not None and lo <= -tolerance <= hi:
        xt = x(-tolerance, 0)
        parts.append(
            f'<line class="tolerance" x1="{xt:.1f}" y1="{y - 10:.1f}" x2="{xt:.1f}" y2="{y + 10:.1f}" '
            'stroke="#cf222e" stroke-width="1.5" stroke-dasharray="3 2"/>'
        )
    parts.append(f'<circle cx="{xd:.1f}" cy="{y:.1f}" r="5" fill="{color}" stroke="#ffffff" stroke-width="1.5"/>')
    parts.append(
        f'<text x="{LABEL + PLOT + 12}" y="{y + 4:.1f}" class="verdict" fill="{color}">'
        f"{escape(str(m.get('verdict')))} {fmt.signed(delta)}</text></g>"
    )
    return "".join(parts)
