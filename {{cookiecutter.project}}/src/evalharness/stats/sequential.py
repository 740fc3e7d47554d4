"""Group-sequential looks: how strict each interim look must be so that looking often keeps the error rate.

A run that compares itself with its baseline after every batch of cases gets many chances to be fooled by
noise. An α-spending design (Lan and DeMets) fixes in advance how much of α may be used up by the time a
share t of the cases is done; this module spends it like O'Brien and Fleming (almost nothing early, nearly
all of α at the end, so a run that does not stop loses little power), and turns it into the nominal level
each look's p-value is compared with. The boundaries come from the joint normal law of a random walk
observed at the looks, integrated numerically look by look (Armitage, McPherson and Rowe's recursion).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from evalharness.stats.verdicts import FAIL, PASS

_GRID = 0.02  # step of the integration grid, in standard deviations of the whole run
_FLOOR = -10.0  # the walk's density below this is negligible (t <= 1, so its sd is <= 1)


def spent(alpha: float, t: float) -> float:
    """α spent once a share t of the cases is done: O'Brien-Fleming-like, α·2(1 - Φ(z_{1-α/2}/√t))."""
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    normal = NormalDist()
    return 2.0 * (1.0 - normal.cdf(normal.inv_cdf(1.0 - alpha / 2.0) / math.sqrt(t)))


def nominal_levels(alpha: float, fractions: Sequence[float]) -> list[float]:
    """The one-sided level each look's p-value must reach, for looks at these shares of the cases."""
    return list(_levels(float(alpha), tuple(round(min(max(f, 1e-9), 1.0), 9) for f in fractions)))


@functools.lru_cache(maxsize=64)
def _levels(alpha: float, fractions: tuple[float, ...]) -> tuple[float, ...]:
    from scipy import stats  # only when a run looked early (a second to import)

    if any(b <= a for a, b in itertools.pairwise(fractions)):
        raise ValueError("look fractions must increase")
    levels: list[float] = []
    grid = density = None  # the walk's sub-density at the previous look, on the region where it went on
    previous_t = 0.0
    for t in fractions:
        budget = spent(alpha, t) - spent(alpha, previous_t)
        if density is None:

            def crossing(c: float, t=t) -> float:
                return float(stats.norm.sf(c))
        else:
            step = math.sqrt(t - previous_t)

            def crossing(c: float, t=t, step=step, grid=grid, density=density) -> float:
                tail = stats.norm.sf((c * math.sqrt(t) - grid) / step)
                return float(np.trapezoid(density * tail, grid))

        c = _solve(crossing, budget)
        levels.append(float(stats.norm.sf(c)))
        upper = c * math.sqrt(t)  # the walk goes on below this point; the grid ends exactly there
        new_grid = np.linspace(_FLOOR, upper, max(2, math.ceil((upper - _FLOOR) / _GRID) + 1))
        if density is None:
            new_density = _normal_pdf(new_grid, math.sqrt(t))
        else:
            kernel = _normal_pdf(new_grid[:, None] - grid[None, :], math.sqrt(t - previous_t))
            new_density = np.trapezoid(kernel * density[None, :], grid, axis=1)
        grid, density, previous_t = new_grid, new_density, t
    return tuple(levels)


def _normal_pdf(x: np.ndarray, sd: float) -> np.ndarray:
    return np.exp(-0.5 * np.square(x / sd)) / (sd * math.sqrt(2 * math.pi))


def _solve(crossing, budget: float) -> float:
    """The boundary c whose crossing probability is the budget (capped where it is numerically nil)."""
    if budget <= 1e-15:
        return 8.0
    from scipy import optimize

    return float(optimize.brentq(lambda c: crossing(c) - budget, -8.0, 8.0, xtol=1e-10))


def certain(verdicts: Sequence[str]) -> str | None:
    """What one look may stop a run on: a FAIL of any gated metric, or a PASS of every one."""
    if FAIL in verdicts:
        return FAIL
    if verdicts and all(v == PASS for v in verdicts):
        return PASS
    return None
