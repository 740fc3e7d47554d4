"""The statistics behind the gate, in the standard library only (no scipy at run time).

A comparison pairs the same cases on both sides, so case difficulty cancels out: for each case i, d_i is the
head score minus the base score (each the mean over repeats, which makes the standard error clustered by
case). With d̄ the mean difference, SE its standard error and Δ the tolerated drop:

    FAIL           if d̄ + q·SE < -Δ    (confidently worse than tolerated)
    PASS           if d̄ - q·SE ≥ -Δ    (confidently not worse than tolerated)
    INCONCLUSIVE   otherwise            (the data cannot tell)

q is Student's t quantile (the normal z for large samples) at the one-sided level α, Holm-adjusted across the
gated metrics so that checking several metrics does not multiply false alarms.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean, stdev

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
_NORMAL = NormalDist()


# ---------------------------------------------------------------- Student's t distribution


def t_cdf(x: float, df: float) -> float:
    """P(T ≤ x) for Student's t with `df` degrees of freedom (exact, via the regularized incomplete beta)."""
    if math.isinf(df):
        return _NORMAL.cdf(x)
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + x * x))
    return 1 - tail if x > 0 else tail


@functools.lru_cache(maxsize=4096)  # the gate asks for few distinct (level, df) pairs, many times
def t_ppf(p: float, df: float) -> float:
    """The p-quantile of Student's t (bisection on t_cdf, started from the normal quantile)."""
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    if math.isinf(df) or df > 1e6:
        return _NORMAL.inv_cdf(p)
    if p == 0.5:
        return 0.0
    if p < 0.5:  # symmetric: solve in the upper tail
        return -t_ppf(1 - p, df)
    lo, hi = 0.0, max(_NORMAL.inv_cdf(p), 1.0)
    while t_cdf(hi, df) < p:  # heavy tails (df = 1) can put the quantile far beyond the normal one
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b), by Lentz's continued fraction."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only on this side: use the symmetry
        return 1.0 - _incomplete_beta(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * result / a


# ---------------------------------------------------------------- paired comparison


@dataclass(frozen=True)
class Paired:
    """The paired difference of one metric between base and head, over the cases both sides have."""

    n: int
    base_mean: float
    head_mean: float
    delta: float  # d̄ = mean(head_i - base_i)
    se: float  # standard error of d̄ (clustered by case); nan when n < 2

    @property
    def df(self) -> float:
        return max(self.n - 1, 1)


def paired(base: Mapping[str, Sequence[float]], head: Mapping[str, Sequence[float]]) -> Paired:
    """Pair by case id; each side's repeats are averaged per case first (cluster-robust standard error)."""
    common = sorted(base.keys() & head.keys())
    if not common:
        return Paired(0, math.nan, math.nan, math.nan, math.nan)
    b = [fmean(base[case]) for case in common]
    h = [fmean(head[case]) for case in common]
    d = [hi - bi for hi, bi in zip(h, b, strict=True)]
    se = stdev(d) / math.sqrt(len(d)) if len(d) >= 2 else math.nan
    return Paired(len(d), fmean(b), fmean(h), fmean(d), se)


def p_values(p: Paired, tolerance: float) -> tuple[float, float]:
    """(p_fail, p_pass): evidence that the true drop exceeds Δ, and that it does not."""
    if p.n < 2 or math.isnan(p.se):
        return 1.0, 1.0
    margin = p.delta + tolerance
    if p.se == 0:  # every case moved by exactly the same amount: no noise, the sign decides
        return (0.0, 1.0) if margin < 0 else (1.0, 0.0)
    x = margin / p.se
    return t_cdf(x, p.df), 1 - t_cdf(x, p.df)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error ≤ α when rejecting those ≤ α)."""
    k = len(p_values)
    order = sorted(range(k), key=lambda i: p_values[i])
    adjusted = [1.0] * k
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def holm_levels(p_values: Sequence[float], alpha: float) -> list[float]:
    """The significance level Holm's step-down applies to each hypothesis: α / (k - rank) until the first
    non-rejection, and that stopping level for every hypothesis after it. Bounds computed at these levels
    agree with the verdicts (a bound never crosses -Δ for a metric that Holm did not reject)."""
    k = len(p_values)
    order = sorted(range(k), key=lambda i: p_values[i])
    levels = [alpha] * k
    stopped: float | None = None
    for rank, i in enumerate(order):
        level = alpha / (k - rank)
        if stopped is None and p_values[i] > level:
            stopped = level
        levels[i] = stopped if stopped is not None else level
    return levels


@dataclass(frozen=True)
class Decision:
    verdict: str
    lower: float  # one-sided lower bound of d̄ at the Holm level of the PASS test
    upper: float  # one-sided upper bound of d̄ at the Holm level of the FAIL test
    p_fail: float  # Holm-adjusted
    p_pass: float  # Holm-adjusted
    mde: float  # a true drop this large FAILs with probability ≥ power


def decide(
    comparisons: Sequence[Paired], tolerances: Sequence[float], alpha: float = 0.05, power: float = 0.8
) -> list[Decision]:
    """Verdicts for a family of gated metrics, Holm-corrected within the FAIL and within the PASS family."""
    raw = [p_values(p, tol) for p, tol in zip(comparisons, tolerances, strict=True)]
    fail_adj, pass_adj = holm([r[0] for r in raw]), holm([r[1] for r in raw])
    fail_levels, pass_levels = holm_levels([r[0] for r in raw], alpha), holm_levels([r[1] for r in raw], alpha)
    decisions = []
    for i, (p, tol) in enumerate(zip(comparisons, tolerances, strict=True)):
        if fail_adj[i] <= alpha:
            verdict = FAIL
        elif pass_adj[i] <= alpha:
            verdict = PASS
        else:
            verdict = INCONCLUSIVE
        if p.n >= 2 and not math.isnan(p.se):
            q_pass, q_fail = t_ppf(1 - pass_levels[i], p.df), t_ppf(1 - fail_levels[i], p.df)
            lower, upper = p.delta - q_pass * p.se, p.delta + q_fail * p.se
            mde = tol + (t_ppf(1 - fail_levels[i], p.df) + t_ppf(power, p.df)) * p.se
        else:
            lower, upper, mde = -math.inf, math.inf, math.inf
        decisions.append(Decision(verdict, lower, upper, fail_adj[i], pass_adj[i], mde))
    return decisions


# ---------------------------------------------------------------- absolute thresholds


def wilson_interval(successes: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """One-sided (1-α) Wilson bounds for a pass rate: (lower, upper)."""
    if n == 0:
        return 0.0, 1.0
    z = _NORMAL.inv_cdf(1 - alpha)
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
    q = t_ppf(1 - alpha, len(values) - 1)
    return mean - q * se, mean + q * se


def threshold_verdict(lower: float, upper: float, threshold: float) -> str:
    if lower >= threshold:
        return PASS
    if upper < threshold:
        return FAIL
    return INCONCLUSIVE


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); nan for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered) / 100))  # multiply first: q / 100 * n can round past an integer
    return ordered[rank - 1]
