"""The paired comparison behind the gate: per metric, head minus base on the cases both runs scored.

For each case i, d_i is the head score minus the base score, each the mean over the case's repeats (so the
case, not the repeat, is the unit: errors are clustered by case). With Δ the tolerated drop and level α
family-wise, each metric gets one verdict:

    FAIL          the mean drop is proven larger than Δ               (sign-flip test of mean ≥ -Δ, lower tail)
    PASS          the mean drop is proven smaller than Δ              (sign-flip test of mean ≤ -Δ, upper tail);
                  with Δ = 0 nothing can be proven that way, so PASS there means no case got worse
    WORSE?        proven worse than the baseline (sign-flip test of "no change") and worse than Δ at face value,
                  but not proven beyond Δ: blocks a PR until a maintainer accepts it
    INCONCLUSIVE  none of these

Each family of tests is corrected across the gated metrics with max-T over flips shared by all metrics
(signflip.py). `level` is α for a run looked at once; a sequential run passes the nominal level of its look.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean

import numpy as np

from evalharness.stats.signflip import Flips, family_test, mean_bound
from evalharness.stats.verdicts import FAIL, INCONCLUSIVE, PASS, WORSE

CHANGE_TOLERANCE = 1e-9  # a per-case difference smaller than this is no change (floating-point noise)


@dataclass(frozen=True)
class Paired:
    """One metric's paired scores: case ids, and per case the base and head means over repeats."""

    cases: tuple[str, ...]
    base: np.ndarray
    head: np.ndarray

    @property
    def differences(self) -> np.ndarray:
        return self.head - self.base

    @property
    def n(self) -> int:
        return len(self.cases)

    @property
    def base_mean(self) -> float:
        return float(self.base.mean()) if self.n else math.nan

    @property
    def head_mean(self) -> float:
        return float(self.head.mean()) if self.n else math.nan

    @property
    def delta(self) -> float:
        return float(self.differences.mean()) if self.n else math.nan

    @property
    def se(self) -> float:
        return float(self.differences.std(ddof=1) / math.sqrt(self.n)) if self.n >= 2 else math.nan

    @property
    def worse(self) -> int:
        return int((self.differences < -CHANGE_TOLERANCE).sum())

    @property
    def better(self) -> int:
        return int((self.differences > CHANGE_TOLERANCE).sum())


def paired(base: Mapping[str, Sequence[float]], head: Mapping[str, Sequence[float]]) -> Paired:
    """Pair by case id; each side's repeats are averaged per case first."""
    common = tuple(sorted(base.keys() & head.keys()))
    return Paired(
        common,
        np.array([fmean(base[c]) for c in common], dtype=np.float64),
        np.array([fmean(head[c]) for c in common], dtype=np.float64),
    )


@dataclass(frozen=True)
class Decision:
    verdict: str
    lower: float  # one-sided lower bound of the mean difference, at the level of its PASS test
    upper: float  # one-sided upper bound, at the level of its FAIL test
    p_fail: float  # family-adjusted p-values: mean ≥ -Δ, mean ≤ -Δ, and "no change" (worse side)
    p_pass: float
    p_worse: float
    mde: float  # a true drop this large FAILs with probability ≥ power (cases breaking on top of the noise)
    reason: str = ""


def decide(
    comparisons: Sequence[Paired],
    tolerances: Sequence[float],
    alpha: float = 0.05,
    power: float = 0.8,
    level: float | None = None,
) -> list[Decision]:
    """Verdicts for a family of gated metrics, each family of tests corrected across the metrics."""
    level = alpha if level is None else level
    k = len(comparisons)
    if k == 0:
        return []
    index = {case: i for i, case in enumerate(sorted({c for p in comparisons for c in p.cases}))}
    d, present = np.zeros((len(index), k)), np.zeros((len(index), k))
    for j, p in enumerate(comparisons):
        rows = [index[c] for c in p.cases]
        d[rows, j], present[rows, j] = p.differences, 1.0
    tolerance = np.asarray(tolerances, dtype=np.float64)
    shifted = (d + tolerance) * present
    flips = Flips.of(np.hstack([d, present]))
    flipped_d, flipped_present = np.split(flips.sums, 2, axis=1)
    flipped_shifted = flipped_d + tolerance * flipped_present  # flips are linear: no third product needed
    fail = family_test(shifted, flipped_shifted, flips, "lower")
    proven = family_test(shifted, flipped_shifted, flips, "upper")
    worse = family_test(d, flipped_d, flips, "lower")
    floor = 0.0 if flips.exact else 1.0 / (len(flips.sums) + 1)
    decisions = []
    for j, p in enumerate(comparisons):
        if p.n == 0:
            decisions.append(Decision(INCONCLUSIVE, -math.inf, math.inf, 1.0, 1.0, 1.0, math.inf, "no paired cases"))
            continue
        tol = float(tolerance[j])
        p_fail, p_pass, p_worse = float(fail.adjusted[j]), float(proven.adjusted[j]), float(worse.adjusted[j])
        reason = ""
        if p_fail <= level:
            verdict = FAIL
        elif p_pass <= level:
            verdict = PASS
        elif tol == 0 and p.worse == 0:
            verdict, reason = PASS, "no case got worse" if p.better else "no case changed"
        elif p.delta < -tol and p_worse <= level:
            verdict = WORSE
        else:
            verdict = INCONCLUSIVE
        # Bounds on the same draws, at the level that makes each agree with its family-corrected test at -Δ.
        a_fail = max(floor, level * _ratio(fail.raw[j], fail.adjusted[j]))
        a_pass = max(floor, level * _ratio(proven.raw[j], proven.adjusted[j]))
        column = (d[:, j], present[:, j], flipped_d[:, j], flipped_present[:, j], flips)
        lower, upper = mean_bound(*column, a_pass, "lower"), mean_bound(*column, a_fail, "upper")
        decisions.append(Decision(verdict, lower, upper, p_fail, p_pass, p_worse, _mde(p, tol, a_fail, power), reason))
    return decisions


def _ratio(raw: float, adjusted: float) -> float:
    return min(1.0, raw / adjusted) if adjusted > 0 else 1.0


def _mde(p: Paired, tolerance: float, level: float, power: float) -> float:
    """The true mean drop δ that FAILs with probability `power` if it comes from cases breaking (a drop of up
    to 1 each, variance δ(1-δ)) on top of the noise seen here (variance v0). The sign-flip test compares the
    shifted sum with its second moment, so FAIL needs √n(δ-Δ) ≥ z_level·√(v + (δ-Δ)²) + z_power·√v."""
    if p.n < 2 or not 0 < level < 1:
        return math.inf
    z_level, z_power = NormalDist().inv_cdf(1 - level), NormalDist().inv_cdf(power)
    noise = float(p.differences.var(ddof=1))

    def short_of(delta: float) -> float:  # > 0 while delta is too small to be caught with that power
        v = noise + delta * (1 - delta)
        return (
            z_level * math.sqrt(v + (delta - tolerance) ** 2)
            + z_power * math.sqrt(v)
            - math.sqrt(p.n) * (delta - tolerance)
        )

    if short_of(1.0) > 0:
        return math.inf
    start = tolerance + 1e-9  # just above Δ: at Δ itself a noise-free metric has no variance to weigh
    if short_of(start) <= 0:
        return start
    low, high = start, 1.0  # short_of falls as δ grows: bisect to its root (no solver import on the gate's path)
    while high - low > 1e-9:
        middle = (low + high) / 2
        low, high = (middle, high) if short_of(middle) > 0 else (low, middle)
    return high
