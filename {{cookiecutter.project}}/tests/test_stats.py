"""The gate's statistics: the tests against references (scipy, brute force, published boundaries), then the
whole multi-metric decision by Monte-Carlo: error rates with and without sequential looks, power, early stops."""

from __future__ import annotations

import itertools
import math
import zlib
from fractions import Fraction

import numpy as np
import pytest
from scipy import optimize, stats

from evalharness.stats import FAIL, INCONCLUSIVE, PASS, WORSE
from evalharness.stats.bounds import percentile, t_interval, wilson_interval
from evalharness.stats.paired import decide, paired
from evalharness.stats.sequential import certain, nominal_levels, spent
from evalharness.stats.signflip import DRAWS, Flips, family_test, mean_bound

ALPHA, SIMS = 0.05, 2000


def _pairs(differences, base=None):
    """paired() of one metric from per-case differences (base 0 unless given)."""
    base = np.zeros(len(differences)) if base is None else np.asarray(base)
    keys = [f"c{i}" for i in range(len(differences))]
    head = base + np.asarray(differences, dtype=float)
    return paired(
        {k: [float(b)] for k, b in zip(keys, base, strict=True)},
        {k: [float(h)] for k, h in zip(keys, head, strict=True)},
    )


def _family(x, tail):
    flips = Flips.of(x)
    return family_test(x, flips.sums, flips, tail)


# ---------------------------------------------------------------- sign-flip tests against references


@pytest.mark.parametrize("shift", [0.0, 0.1])
def test_exact_sign_flip_p_values_match_scipy_permutation_test(shift):
    rng = np.random.default_rng(1)
    for _ in range(20):
        d = rng.normal(-0.05, 0.3, 11) + shift  # continuous: no ties for float noise to break differently
        for tail, alternative in (("lower", "less"), ("upper", "greater")):
            reference = stats.permutation_test(
                (d,), np.sum, permutation_type="samples", alternative=alternative, n_resamples=np.inf
            ).pvalue
            assert _family(d[:, None], tail).raw[0] == pytest.approx(reference, abs=1e-12)


def test_drawn_sign_flip_p_values_agree_with_scipy_within_monte_carlo_error():
    d = np.random.default_rng(2).normal(-0.03, 0.3, 80)
    reference = stats.permutation_test((d,), np.sum, permutation_type="samples", alternative="less").pvalue
    assert abs(_family(d[:, None], "lower").raw[0] - reference) < 4 * math.sqrt(reference / DRAWS) + 0.005


def _brute_force_max_t(x, tail):
    """Westfall-Young step-down max-T by definition, over every sign pattern."""
    sign = -1 if tail == "lower" else 1
    norms = np.sqrt((x * x).sum(0))
    observed = sign * x.sum(0) / norms
    patterns = np.array(list(itertools.product((-1, 1), repeat=len(x))))
    draws = sign * (patterns @ x) / norms
    order = np.argsort(-observed, kind="stable")
    adjusted, running = np.ones(x.shape[1]), 0.0
    for step, j in enumerate(order):
        family = order[step:]
        running = max(running, (draws[:, family].max(1) >= observed[j] - 1e-9).mean())
        adjusted[j] = running
    return adjusted


def test_step_down_max_t_matches_its_definition_by_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(30):
        common = rng.normal(-0.1, 0.3, (12, 1))
        x = common + rng.normal(0, rng.uniform(0.05, 0.5), (12, 3))  # three correlated metrics
        for tail in ("lower", "upper"):
            assert _family(x, tail).adjusted == pytest.approx(_brute_force_max_t(x, tail), abs=1e-12)


def test_max_t_is_never_more_lenient_than_each_test_alone_and_keeps_the_order_of_the_evidence():
    rng = np.random.default_rng(4)
    for _ in range(30):
        x = rng.normal(-0.1, 0.3, (60, 1)) + rng.normal(0, 0.3, (60, 4))
        result = _family(x, "lower")
        assert np.all(result.adjusted >= result.raw - 1e-12)
        by_strength = result.adjusted[np.argsort(result.statistic)]  # most negative statistic first
        assert np.all(np.diff(by_strength) >= -1e-12)


def test_a_copy_of_a_metric_costs_no_power_while_holm_would_halve_the_level():
    d = np.random.default_rng(5).normal(-0.06, 0.3, 60)
    alone = _family(d[:, None], "lower")
    twice = _family(np.column_stack([d, d]), "lower")
    assert twice.adjusted[0] == pytest.approx(alone.raw[0], abs=1e-12)  # max-T sees they are one piece of evidence


def test_a_metric_where_nothing_changed_does_not_dilute_the_sharp_null_family():
    d = np.r_[-np.ones(6), np.zeros(54)]
    with_quiet = _family(np.column_stack([d, np.zeros(60), np.zeros(60)]), "lower")
    assert with_quiet.adjusted[0] == pytest.approx(_family(d[:, None], "lower").raw[0])
    assert math.isnan(with_quiet.statistic[1]) and with_quiet.adjusted[1] == 1.0


def test_far_tail_p_values_fall_back_to_hoeffding_and_stay_valid():
    for n in (20, 40, 100):
        p = _family(np.ones((n, 1)), "upper").raw[0]  # every case the same sign: the exact p is 2^-n
        assert 2.0**-n <= p <= math.exp(-n / 2) * (1 + 1e-9)
        assert p < 1 / (DRAWS + 1) or n < 20


@pytest.mark.parametrize("n", [9, 60])
def test_mean_bounds_invert_the_shifted_test_exactly(n):
    rng = np.random.default_rng(6)
    d = np.round(rng.normal(-0.05, 0.3, n), 3)
    present = np.ones(n)
    flips = Flips.of(np.column_stack([d, present]))
    a, s = flips.sums[:, 0], flips.sums[:, 1]
    for level in (0.05, 0.2):
        upper, lower = (
            mean_bound(d, present, a, s, flips, level, "upper"),
            mean_bound(d, present, a, s, flips, level, "lower"),
        )
        assert lower < d.mean() < upper

        def p_lower(theta):
            x = (d - theta)[:, None]
            return family_test(x, flips.sums[:, :1] - theta * flips.sums[:, 1:2], flips, "lower").raw[0]

        def p_upper(theta):
            x = (d - theta)[:, None]
            return family_test(x, flips.sums[:, :1] - theta * flips.sums[:, 1:2], flips, "upper").raw[0]

        assert p_lower(upper + 1e-6) <= level < p_lower(upper - 1e-6)  # just above the bound: rejected
        assert p_upper(lower - 1e-6) <= level < p_upper(lower + 1e-6)


# ---------------------------------------------------------------- sequential boundaries against references


def test_spending_function_spends_alpha_by_the_end_and_almost_nothing_early():
    assert spent(0.05, 1.0) == pytest.approx(0.05) and spent(0.05, 0) == 0
    assert spent(0.05, 0.2) < 1e-4 < spent(0.05, 0.5) < spent(0.05, 0.8) < 0.05


@pytest.mark.parametrize(
    ("fractions", "boundaries"),
    [
        ((1.0,), (1.95996,)),
        ((0.5, 1.0), (2.9626, 1.9686)),  # Lan-DeMets O'Brien-Fleming spending, one-sided 0.025 (gsDesign)
        ((0.2, 0.4, 0.6, 0.8, 1.0), (4.8769, 3.3569, 2.6803, 2.2898, 2.0310)),
    ],
)
def test_nominal_levels_reproduce_published_group_sequential_boundaries(fractions, boundaries):
    levels = nominal_levels(0.025, fractions)
    assert [float(stats.norm.isf(v)) for v in levels] == pytest.approx(boundaries, abs=2e-3)


def test_nominal_levels_keep_the_error_of_a_gaussian_random_walk():
    rng = np.random.default_rng(7)
    fractions = [k / 8 for k in range(1, 9)]
    levels = np.array(nominal_levels(ALPHA, fractions))
    steps = rng.normal(0, math.sqrt(1 / 8), (200_000, 8)).cumsum(1) / np.sqrt(fractions)
    crossed = (stats.norm.sf(steps) <= levels).any(1).mean()
    assert crossed == pytest.approx(ALPHA, abs=0.003)


# ---------------------------------------------------------------- decide(): edge cases


def test_no_pairs_or_one_pair_is_inconclusive():
    for p in (paired({"a": [1.0]}, {"b": [1.0]}), _pairs([-1.0])):
        (d,) = decide([p], [0.02])
        assert d.verdict == INCONCLUSIVE


def test_no_case_changed_passes_even_at_zero_tolerance():
    same = _pairs(np.zeros(40))
    verdicts = [d.verdict for d in decide([same, same], [0.0, 0.02])]
    assert verdicts == [PASS, PASS]
    assert decide([same], [0.0])[0].reason == "no case changed"


def test_a_few_broken_cases_with_none_better_is_proven_worse_and_beyond_tolerance_once_there_are_enough():
    four = _pairs(np.r_[-np.ones(4), np.zeros(56)])  # 2^-4 > alpha: four cases alone prove nothing
    assert decide([four], [0.02])[0].verdict == INCONCLUSIVE
    few = _pairs(np.r_[-np.ones(6), np.zeros(144)])  # 6 of 150 broke: worse for sure, beyond 2% not proven
    assert decide([few], [0.02])[0].verdict == WORSE
    many = _pairs(np.r_[-np.ones(20), np.zeros(180)])  # 10% broke of 200
    assert decide([many], [0.02])[0].verdict == FAIL


def test_a_drop_within_tolerance_passes_and_a_mixed_change_is_inconclusive():
    assert decide([_pairs(np.r_[-np.ones(1), np.zeros(299)])], [0.03])[0].verdict == PASS
    assert decide([_pairs(np.r_[-np.ones(3), np.ones(3), np.zeros(34)])], [0.02])[0].verdict == INCONCLUSIVE


def test_bounds_agree_with_the_verdicts():
    rng = np.random.default_rng(8)
    for _ in range(100):
        n = int(rng.integers(20, 120))
        pairs = [
            _pairs(np.where(rng.random(n) < rng.uniform(0, 0.2), -1.0, 0.0) + rng.normal(0, 0.05, n)) for _ in range(2)
        ]
        for d, tol in zip(decide(pairs, [0.02, 0.05]), [0.02, 0.05], strict=True):
            assert (d.verdict == FAIL) == (d.upper < -tol)
            if d.verdict == PASS and not d.reason:
                assert d.lower >= -tol


# ---------------------------------------------------------------- Monte-Carlo of the whole decision


def _simulate(draw, tolerances, sims=SIMS, level=None):
    """decide() on `sims` comparisons; draw(rng) -> per-case differences, cases x metrics."""
    rng = np.random.default_rng(zlib.crc32(f"{draw.__name__}{tolerances}".encode()))  # stable across runs
    verdicts = []
    for _ in range(sims):
        x = draw(rng)
        verdicts.append(
            [d.verdict for d in decide([_pairs(x[:, j]) for j in range(x.shape[1])], tolerances, level=level)]
        )
    return np.array(verdicts)


def _sparse_flips(rng, n=150, rate=0.06):
    """A noisy model run twice: each case flips pass -> fail or fail -> pass at random, symmetrically; three
    metrics that share most of their flips (facts and sources move together)."""
    shared = rng.choice([-1.0, 0.0, 1.0], n, p=[rate / 2, 1 - rate, rate / 2])
    own = rng.choice([-1.0, 0.0, 1.0], (n, 3), p=[rate / 4, 1 - rate / 2, rate / 4])
    keep = rng.random((n, 3)) < 0.7
    return np.where(keep, shared[:, None], own)


def _dense_noise_with_repeats(rng, n=150, repeats=3):
    """A judge's scores: a per-case effect plus per-repeat noise, averaged over repeats per case."""
    case = rng.normal(0, 0.08, (n, 1))
    runs = rng.normal(0, 0.2, (2, n, 3, repeats)).mean(-1)
    return case + runs[1] - runs[0]


def _boundary_breakage(rng, n=150):
    """The least favourable null: cases break one way only, at exactly the tolerated rate."""
    return -(rng.random((n, 2)) < 0.02).astype(float)


def _boundary_dense(rng, n=150):
    return rng.normal(-0.02, 0.25, (n, 2))


def _rates(verdicts):
    fail = (verdicts == FAIL).any(1).mean()
    blocked = ((verdicts == FAIL) | (verdicts == WORSE)).any(1).mean()
    return fail, blocked


@pytest.mark.slow
@pytest.mark.parametrize("draw", [_sparse_flips, _dense_noise_with_repeats], ids=["sparse-flips", "dense-repeats"])
def test_no_true_change_rarely_fails_or_blocks(draw):
    fail, blocked = _rates(_simulate(draw, [0.02, 0.02, 0.02]))
    assert fail <= ALPHA + 0.01
    assert blocked <= ALPHA + 0.01  # WORSE? needs proof of a drop too: a no-op PR is not held up by noise


@pytest.mark.slow
@pytest.mark.parametrize("draw", [_boundary_breakage, _boundary_dense], ids=["one-way-breakage", "dense"])
def test_a_drop_exactly_at_the_tolerance_rarely_fails(draw):
    fail, _ = _rates(_simulate(draw, [0.02, 0.02]))
    assert fail <= ALPHA + 0.01


@pytest.mark.slow
def test_with_zero_tolerance_the_family_error_rate_holds_too():
    fail, _ = _rates(_simulate(_sparse_flips, [0.0, 0.0, 0.0]))
    assert fail <= ALPHA + 0.01


@pytest.mark.slow
def test_a_true_drop_of_one_reported_mde_is_caught_with_the_promised_power():
    n, tolerance, rng = 200, 0.02, np.random.default_rng(9)

    def noise(rng):  # a model that is a little noisy: 1% of cases flip each way between two runs
        return rng.choice([-1.0, 0.0, 1.0], (n, 1), p=[0.01, 0.98, 0.01])

    # The MDE the gate reports for a no-op run of this noise (README: the table per metric), averaged.
    mde = float(np.mean([decide([_pairs(noise(rng)[:, 0])], [tolerance])[0].mde for _ in range(50)]))
    assert tolerance < mde < 0.2

    def breakage(rng):  # cases break at the MDE's rate, on top of the same noise
        return np.where(rng.random((n, 1)) < mde, -1.0, noise(rng))

    verdicts = _simulate(breakage, [tolerance])
    assert (verdicts != PASS).mean() >= 0.80
    assert (verdicts == FAIL).mean() >= 0.75


@pytest.mark.slow
def test_sequential_looks_every_batch_keep_the_error_rate():
    n, batch = 200, 40
    fractions = [k * batch / n for k in range(1, n // batch + 1)]
    levels = nominal_levels(ALPHA, fractions)
    rng = np.random.default_rng(10)
    fails = 0
    for _ in range(SIMS):
        x = _sparse_flips(rng, n) + rng.normal(0, 0.02, (n, 3))  # A/A, and a -Δ boundary on the third metric
        x[:, 2] = -(rng.random(n) < 0.02).astype(float)
        for k, level in zip(range(1, len(levels) + 1), levels, strict=True):
            seen = x[: k * batch]
            verdicts = [d.verdict for d in decide([_pairs(seen[:, j]) for j in range(3)], [0.02] * 3, level=level)]
            decision = certain(verdicts)
            if decision:
                fails += decision == FAIL
                break
    assert fails / SIMS <= ALPHA + 0.01


@pytest.mark.slow
@pytest.mark.parametrize("truth", ["clear-regression", "clear-no-op"])
def test_the_early_stop_saves_at_least_40_percent_of_the_calls_on_clear_cases(truth):
    n, batch = 400, 40
    fractions = [k * batch / n for k in range(1, n // batch + 1)]
    levels = nominal_levels(ALPHA, fractions)
    rng = np.random.default_rng(11)
    evaluated, right = 0, 0
    for _ in range(500):
        # A clear regression: 15% of the cases break (tolerance 2%); a clear no-op: a deterministic bot.
        x = -(rng.random((n, 2)) < 0.15).astype(float) if truth == "clear-regression" else np.zeros((n, 2))
        for k, level in zip(range(1, len(levels) + 1), levels, strict=True):
            seen = x[: k * batch]
            decision = certain(
                [d.verdict for d in decide([_pairs(seen[:, j]) for j in range(2)], [0.02] * 2, level=level)]
            )
            if decision or k == len(levels):
                evaluated += k * batch
                right += decision == (FAIL if truth == "clear-regression" else PASS)
                break
    assert right == 500
    assert evaluated / (500 * n) <= 0.6


# ---------------------------------------------------------------- absolute bars and percentiles


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 10), (10, 10), (57, 60), (1, 1), (120, 400)])
def test_wilson_interval_solves_the_score_test_equation(successes, n):
    z, phat = stats.norm.ppf(0.95), successes / n

    def score(pi):  # the Wilson bounds are where the one-sided score statistic equals ±z
        return (phat - pi) ** 2 - z * z * pi * (1 - pi) / n

    lower = 0.0 if successes == 0 else optimize.brentq(score, 1e-15, phat - 1e-12, xtol=1e-14)
    upper = 1.0 if successes == n else optimize.brentq(score, phat + 1e-12, 1 - 1e-15, xtol=1e-14)
    assert wilson_interval(successes, n) == pytest.approx((lower, upper), abs=1e-10)


def test_wilson_interval_with_no_data_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_t_interval_matches_scipy():
    values = np.random.default_rng(4).normal(0.7, 0.1, 12)
    expected = stats.t.interval(0.90, 11, values.mean(), stats.sem(values))  # two-sided 90% = one-sided 95%
    assert t_interval(values.tolist()) == pytest.approx(expected, rel=1e-10)
    assert t_interval([0.5]) == (-math.inf, math.inf) and t_interval([]) == (-math.inf, math.inf)


def _nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(Fraction(q) * len(ordered) / 100)) - 1]  # exact arithmetic


def test_percentile_nearest_rank_on_usual_levels():
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 7.0, 8.0, 6.0, 10.0]
    for q, expected in [(0, 1.0), (10, 1.0), (11, 2.0), (50, 5.0), (90, 9.0), (95, 10.0), (100, 10.0)]:
        assert percentile(values, q) == expected == _nearest_rank(values, q)
    assert math.isnan(percentile([], 50)) and percentile([3.0], 99) == 3.0


def test_percentile_nearest_rank_is_exact_for_every_integer_level():
    for n in (1, 7, 10, 100):
        for q in range(101):
            assert percentile(range(1, n + 1), q) == _nearest_rank(range(1, n + 1), q), (n, q)
