"""Nearest-rank percentiles, for latency budgets and summaries (no scipy: a run imports it)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); nan for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered) / 100))  # multiply first: q / 100 * n can round past an integer
    return ordered[rank - 1]
