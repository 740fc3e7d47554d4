"""Absolute bars on one run: bounds for a pass rate and a mean score, and percentiles for budgets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist, fmean, stdev

from evalharness.stats.percentile import percentile
from evalharness.stats.verdicts import FAIL, INCONCLUSIVE, PASS

__all__ = ["percentile", "t_interval", "threshold_verdict", "wilson_interval"]


def wilson_interval(successes: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """One-sided (1-α) Wilson score bounds for a pass rate: (lower, upper)."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1 - alpha)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def t_interval(values: Sequence[float], alpha: float = 0.05) -> tuple[float, float]:
    """One-sided (1-α) Student-t bounds for a mean score: (lower, upper)."""
    if len(values) < 2:
        return -math.inf, math.inf
    mean, se = fmean(values), stdev(values) / math.sqrt(len(values))
    from scipy.special import stdtrit  # scipy.stats costs a second to import; this alone a third of it

    q = float(stdtrit(len(values) - 1, 1 - alpha))
    return mean - q * se, mean + q * se


def threshold_verdict(lower: float, upper: float, threshold: float) -> str:
    if lower >= threshold:
        return PASS
    if upper < threshold:
        return FAIL
    return INCONCLUSIVE
