"""Sign-flip (randomization) tests for paired differences, one metric or a correlated family of them.

If head and base are exchangeable within each case (nothing changed), every paired difference is as likely to
have come out with the opposite sign: flipping signs at random gives the distribution of any statistic under
"no change", whatever the shape of the data (mostly zeros with a few jumps, or dense noise). To test a mean
θ other than 0, the differences are shifted by θ first (a shift model). Flips are per case and shared by all
metrics, so metrics that move together (a lost document costs facts and sources at once) are not counted as
independent evidence: the family's correction is Westfall and Young's step-down max-T, not Holm's worst-case
split of α.

The draws are fixed by a seed (the same data always gets the same verdict); up to EXACT_UP_TO cases every sign
pattern is enumerated instead. A Monte-Carlo p-value cannot go below 1/(draws + 1); beyond that the exact tail
of a Rademacher sum is bounded by Hoeffding's inequality, so tiny p-values stay valid and the early looks of a
sequential run can still decide.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

DRAWS = 9_999
EXACT_UP_TO = 13  # 2^13 = 8192 patterns: fewer than the draws, and exact
SEED = 20_261_203
_BLOCK = 4_000_000  # signs per block of draws (32 MB): memory stays flat however many cases there are
_KEPT = 2_000_000  # sign matrices up to this size (16 MB) are kept for the next comparison of the same size
_TIE = 1e-9  # sums within this are ties, and a tie counts against rejecting (floating-point noise)


@dataclass(frozen=True)
class Flips:
    """Every column of a cases × c matrix, summed under each sign pattern: draws × c."""

    sums: np.ndarray
    exact: bool  # all patterns enumerated (the observed one among them) rather than drawn

    @classmethod
    def of(cls, columns: np.ndarray) -> Flips:
        columns = np.asarray(columns, dtype=np.float64)
        n = columns.shape[0]
        if n <= EXACT_UP_TO:
            return cls(_all_patterns(n) @ columns, True)
        if n * DRAWS <= _KEPT:  # small enough to keep: repeated comparisons of one size reuse the draws
            return cls(_drawn_signs(n) @ columns, False)
        return cls(np.vstack([signs @ columns for signs in _sign_blocks(n)]), False)

    def p_value(self, exceed: np.ndarray, statistic: np.ndarray, members: np.ndarray) -> np.ndarray:
        """P-values from the count of patterns at least as extreme as observed. With draws and no draw that
        extreme, Hoeffding's bound (P(T >= t) <= exp(-t²/2) for each studentized member) takes over."""
        total = len(self.sums)
        if self.exact:
            return np.minimum(1.0, exceed / total)
        p = (1.0 + exceed) / (total + 1.0)
        bound = members * np.exp(-np.square(np.maximum(statistic, 0.0)) / 2)
        return np.where(exceed == 0, np.minimum(p, bound), p)


def _sign_blocks(n: int):
    """The seeded draws of ±1 signs for n cases, in blocks of at most _BLOCK signs."""
    rng = np.random.default_rng(SEED)
    left, per_block = DRAWS, max(1, _BLOCK // max(n, 1))
    while left:
        size = min(per_block, left)
        bits = np.unpackbits(rng.integers(0, 256, size=(size, (n + 7) // 8), dtype=np.uint8), axis=1)[:, :n]
        yield bits.astype(np.float64) * 2.0 - 1.0
        left -= size


@functools.lru_cache(maxsize=8)  # a sequential run asks for a few growing sizes, a leaderboard for one
def _drawn_signs(n: int) -> np.ndarray:
    return next(_sign_blocks(n))


@functools.lru_cache(maxsize=16)
def _all_patterns(n: int) -> np.ndarray:
    return np.array(list(itertools.product((-1.0, 1.0), repeat=n)), dtype=np.float64).reshape(2**n, n)


@dataclass(frozen=True)
class FamilyTest:
    """One-sided tests of a family of metrics, each at its own null mean."""

    statistic: np.ndarray  # studentized sum per metric (nan: degenerate, every shifted difference is 0)
    raw: np.ndarray  # each metric's p-value alone
    adjusted: np.ndarray  # family-wise (step-down max-T); 1 for a degenerate metric


def family_test(x: np.ndarray, flipped: np.ndarray, flips: Flips, tail: str) -> FamilyTest:
    """`x`: cases × metrics, the shifted differences (0 where a case has no pair for a metric); `flipped`:
    their sums under the flips (flips.sums columns for x). `tail`: "lower" (are the means below their null
    means?) or "upper"."""
    sign = -1.0 if tail == "lower" else 1.0
    norms = np.sqrt(np.square(x).sum(axis=0))
    active = np.flatnonzero(norms > 1e-12)
    k = x.shape[1]
    statistic, raw, adjusted = np.full(k, math.nan), np.ones(k), np.ones(k)
    if not len(active):
        return FamilyTest(statistic, raw, adjusted)
    observed = sign * x[:, active].sum(axis=0) / norms[active]  # larger = more extreme, in either tail
    draws = sign * flipped[:, active] / norms[active]
    statistic[active] = sign * observed
    order = np.argsort(-observed, kind="stable")  # step-down: the most extreme metric is tested first
    exceed_raw = (draws >= observed - _TIE).sum(axis=0)
    # the max over the metrics still in the family at each step (order[j:]): a running max from the right
    running = np.maximum.accumulate(draws[:, order[::-1]], axis=1)[:, ::-1]
    exceed_family = (running >= observed[order] - _TIE).sum(axis=0)
    members = len(active) - np.arange(len(active))
    p_step = np.maximum.accumulate(flips.p_value(exceed_family, observed[order], members))
    raw[active] = flips.p_value(exceed_raw, observed, np.ones(len(active)))
    adjusted[active[order]] = p_step
    return FamilyTest(statistic, raw, adjusted)


def mean_bound(
    d: np.ndarray, present: np.ndarray, a: np.ndarray, s: np.ndarray, flips: Flips, level: float, side: str
) -> float:
    """The one-sided (1 - level) confidence bound for the mean paired difference that inverts the sign-flip
    test of a shifted mean, on the same draws as the tests: "upper" is the smallest θ the data shows the mean
    is below, "lower" the largest θ it shows the mean is above. `a` and `s` are the flipped sums of d·present
    and of present. Exact in θ: with the draws fixed, each draw rejects θ on one side of a single point."""
    n, total = float(present.sum()), float((d * present).sum())
    unbounded = math.inf if side == "upper" else -math.inf
    if n == 0 or not 0 < level < 1:
        return unbounded
    # Under the draw, the flipped sum of (d - θ) is a - θ·s; observed it is total - θ·n. They cross at a pivot.
    free = s < n - _TIE
    pivots = np.sort((total - a[free]) / (n - s[free]))
    ties = int((~free).sum())  # the identity pattern ties at every θ
    count = len(flips.sums)
    allowed = (
        math.floor(level * count - ties + 1e-9) if flips.exact else math.floor(level * (count + 1) - 1 - ties + 1e-9)
    )
    if allowed < 0:
        return unbounded
    if allowed >= len(pivots):
        return -unbounded
    return float(pivots[::-1][allowed]) if side == "upper" else float(pivots[allowed])
