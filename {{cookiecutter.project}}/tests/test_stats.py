"""The merge gate's statistics: formulas against numpy/scipy, then decide() by Monte-Carlo (error rates and power)."""

from __future__ import annotations

import importlib.util
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import optimize, stats

from evalharness.stats import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Paired,
    decide,
    holm,
    holm_levels,
    p_values,
    paired,
    percentile,
    t_cdf,
    t_interval,
    t_ppf,
    wilson_interval,
)

DFS = [1, 2, 3, 5, 10, 30, 100, 1e4]
ALPHA, SIMS = 0.05, 2000


# ---------------------------------------------------------------- formulas


@pytest.mark.parametrize("df", DFS)
def test_t_cdf_matches_scipy_including_far_tails(df):
    for x in [-1e3, -50, -10, -5, -3, -2, -1, -0.3, 0, 0.3, 1, 1.645, 2, 3, 5, 10, 50, 1e3]:
        assert math.isclose(t_cdf(x, df), stats.t.cdf(x, df), rel_tol=1e-8, abs_tol=1e-300), x


@pytest.mark.parametrize("df", [*DFS, math.inf])
def test_t_ppf_matches_scipy_including_tails(df):
    for p in [1e-6, 1e-4, 0.01, 0.025, 0.05, 0.2, 0.5, 0.8, 0.95, 0.975, 0.99, 1 - 1e-4, 1 - 1e-6]:
        assert math.isclose(t_ppf(p, df), stats.t.ppf(p, df), rel_tol=1e-8, abs_tol=1e-12), p


def test_t_ppf_rejects_probabilities_outside_the_open_unit_interval():
    for p in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            t_ppf(p, 10)


def _random_runs(rng, cases, max_repeats):
    return {f"c{i}": rng.normal(0.6, 0.2, rng.integers(1, max_repeats + 1)).tolist() for i in range(cases)}


def test_paired_mean_and_se_are_clustered_by_case():
    rng = np.random.default_rng(1)
    base, head = _random_runs(rng, 30, 4), _random_runs(rng, 33, 4)  # c30..c32 exist only in head: ignored
    b = np.array([np.mean(base[c]) for c in sorted(base)])  # repeats averaged per case first
    h = np.array([np.mean(head[c]) for c in sorted(base)])
    p = paired(base, head)
    assert (p.n, p.df) == (30, 29)
    assert p.base_mean == pytest.approx(b.mean()) and p.head_mean == pytest.approx(h.mean())
    assert p.delta == pytest.approx((h - b).mean())
    assert p.se == pytest.approx((h - b).std(ddof=1) / np.sqrt(30), rel=1e-12)


@pytest.mark.parametrize("tolerance", [0.0, 0.03])
def test_p_values_match_scipy_one_sample_t_test_on_shifted_differences(tolerance):
    rng = np.random.default_rng(2)
    d = rng.normal(-0.02, 0.1, 25)
    p = paired({str(i): [0.0] for i in range(25)}, {str(i): [v] for i, v in enumerate(d)})
    p_fail, p_pass = p_values(p, tolerance)
    assert p_fail == pytest.approx(stats.ttest_1samp(d + tolerance, 0, alternative="less").pvalue, rel=1e-8)
    assert p_pass == pytest.approx(stats.ttest_1samp(d + tolerance, 0, alternative="greater").pvalue, rel=1e-8)


def test_holm_on_known_vectors():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.01]) == pytest.approx([0.5, 0.02])
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1
    assert holm([0.2]) == [0.2] and holm([]) == []
    # Step-down stops at 0.03 > 0.05 / 2: every later hypothesis is held to that same level.
    assert holm_levels([0.01, 0.04, 0.03], 0.05) == pytest.approx([0.05 / 3, 0.05 / 2, 0.05 / 2])


def _holm_step_down_rejects(p, alpha):
    """Textbook Holm: walk up the sorted p-values, reject while p_(j) <= alpha / (k - j), stop at the first miss."""
    rejected = [False] * len(p)
    for j, i in enumerate(sorted(range(len(p)), key=lambda i: p[i])):
        if p[i] > alpha / (len(p) - j):
            break
        rejected[i] = True
    return rejected


def test_holm_adjusted_p_values_agree_with_the_step_down_procedure_and_are_monotone():
    rng = np.random.default_rng(3)
    for _ in range(200):
        p = (rng.uniform(0, 0.1, rng.integers(1, 7)) ** rng.uniform(0.5, 2)).tolist()
        adj = holm(p)
        assert all(a >= q and a <= min(1.0, len(p) * q) + 1e-15 for a, q in zip(adj, p, strict=True))
        ordered = [adj[i] for i in np.argsort(p, kind="stable")]
        assert ordered == sorted(ordered)  # the adjustment keeps the order of the raw p-values
        for alpha in (0.01, 0.05, 0.1):
            assert [a <= alpha for a in adj] == _holm_step_down_rejects(p, alpha)


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 10), (10, 10), (57, 60), (1, 1), (120, 400)])
def test_wilson_interval_solves_the_score_test_equation(successes, n):
    z, phat = stats.norm.ppf(0.95), successes / n

    def score(pi):  # the Wilson bounds are where the one-sided score statistic equals ±z
        return (phat - pi) ** 2 - z * z * pi * (1 - pi) / n

    lower = 0.0 if successes == 0 else optimize.brentq(score, 1e-15, phat - 1e-12, xtol=1e-14)
    upper = 1.0 if successes == n else optimize.brentq(score, phat + 1e-12, 1 - 1e-15, xtol=1e-14)
    assert wilson_interval(successes, n) == pytest.approx((lower, upper), abs=1e-10)
    if importlib.util.find_spec("statsmodels"):  # optional second opinion; two-sided at 2 alpha = one-sided at alpha
        from statsmodels.stats.proportion import proportion_confint

        assert wilson_interval(successes, n) == pytest.approx(proportion_confint(successes, n, 0.1, "wilson"))


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


def test_edge_cases_without_enough_cases_are_inconclusive():
    none, one = paired({"a": [1.0]}, {"b": [1.0]}), paired({"a": [1.0]}, {"a": [0.0]})
    assert none.n == 0 and math.isnan(none.delta) and math.isnan(none.se)
    assert one.n == 1 and one.delta == -1.0 and math.isnan(one.se)
    for p in (none, one):
        assert p_values(p, 0.0) == (1.0, 1.0)
        (d,) = decide([p], [0.0])
        assert (d.verdict, d.lower, d.upper, d.mde) == (INCONCLUSIVE, -math.inf, math.inf, math.inf)


def test_identical_differences_have_zero_se_and_the_sign_decides():
    base = {"a": [0.25], "b": [0.5], "c": [0.75]}  # dyadic values: the differences are exactly equal
    same, drop = paired(base, base), paired(base, {k: [v[0] - 0.125] for k, v in base.items()})
    assert same.se == 0 and drop.se == 0 and drop.delta == -0.125
    assert [d.verdict for d in decide([same, same], [0.0, 0.05])] == [PASS, PASS]  # no change passes at tol >= 0
    assert decide([drop], [0.25])[0].verdict == PASS  # drop within tolerance
    assert decide([drop], [0.0625])[0].verdict == FAIL  # drop beyond tolerance


# ---------------------------------------------------------------- Monte-Carlo of decide()


def _scores(rng, n, repeats=1, shift=0.0, tau=0.05, sigma=0.1, metrics=1):
    """(base, head) of shape (SIMS, metrics, n, repeats): case difficulty + head-by-case effect + run noise."""
    difficulty = rng.normal(0.6, 0.15, (SIMS, metrics, n, 1))
    effect = shift + rng.normal(0.0, tau, (SIMS, metrics, n, 1))  # averages to `shift` over the population
    noise = rng.normal(0.0, sigma, (2, SIMS, metrics, n, repeats))
    return difficulty + noise[0], difficulty + effect + noise[1]


def _run_gate(base, head, tolerances):
    """decide() on every simulated comparison: verdicts (SIMS, metrics), reported mde, raw p_fail."""
    keys = [f"case{i}" for i in range(base.shape[2])]
    verdicts, mdes, raw = [], [], []
    for b_sim, h_sim in zip(base.tolist(), head.tolist(), strict=True):
        pairs = [
            paired(dict(zip(keys, b, strict=True)), dict(zip(keys, h, strict=True)))
            for b, h in zip(b_sim, h_sim, strict=True)
        ]
        decisions = decide(pairs, tolerances, alpha=ALPHA)
        verdicts.append([d.verdict for d in decisions])
        mdes.append([d.mde for d in decisions])
        raw.append([p_values(p, t)[0] for p, t in zip(pairs, tolerances, strict=True)])
    return np.array(verdicts), np.array(mdes), np.array(raw)


@pytest.mark.parametrize("tolerance", [0.0, 0.02])
def test_no_true_change_on_a_continuous_score_rarely_fails(tolerance):
    verdicts, _, _ = _run_gate(*_scores(np.random.default_rng(10), n=40), [tolerance])
    assert (verdicts == FAIL).mean() <= ALPHA + 0.01


def test_no_true_change_on_a_pass_fail_metric_rarely_fails():
    rng = np.random.default_rng(11)
    prob = rng.beta(4, 2, (SIMS, 1, 60, 1))  # per-case pass probability, same for both sides
    base, head = (rng.random((2, SIMS, 1, 60, 1)) < prob).astype(float)
    verdicts, _, _ = _run_gate(base, head, [0.0])
    assert (verdicts == FAIL).mean() <= ALPHA + 0.01


def test_no_true_change_with_repeats_rarely_fails_because_se_is_clustered_by_case():
    base, head = _scores(np.random.default_rng(12), n=40, repeats=3, tau=0.1)
    verdicts, _, _ = _run_gate(base, head, [0.0])
    assert (verdicts == FAIL).mean() <= ALPHA + 0.01
    # Treating the 3 x 40 runs as independent pairs ignores the head-by-case effect and fails far too often.
    runs = (head - base).reshape(SIMS, -1)
    naive_t = runs.mean(1) / (runs.std(1, ddof=1) / np.sqrt(runs.shape[1]))
    assert (naive_t < stats.t.ppf(ALPHA, runs.shape[1] - 1)).mean() > ALPHA + 0.02


def test_no_true_change_on_a_family_of_three_metrics_rarely_fails_any_thanks_to_holm():
    verdicts, _, raw = _run_gate(*_scores(np.random.default_rng(13), n=40, metrics=3), [0.0, 0.0, 0.0])
    assert (verdicts == FAIL).any(axis=1).mean() <= ALPHA + 0.01
    assert (raw <= ALPHA).any(axis=1).mean() > 2 * ALPHA  # without Holm the family would alarm ~3x as often


def test_a_true_drop_of_one_mde_is_caught_with_the_promised_power():
    n, tolerance, tau, sigma = 40, 0.02, 0.05, 0.1
    sigma_d = math.sqrt(tau**2 + 2 * sigma**2)  # population SD of a per-case difference
    mde = tolerance + (stats.t.ppf(1 - ALPHA, n - 1) + stats.t.ppf(0.8, n - 1)) * sigma_d / math.sqrt(n)
    base, head = _scores(np.random.default_rng(14), n=n, shift=-mde, tau=tau, sigma=sigma)
    verdicts, mdes, _ = _run_gate(base, head, [tolerance])
    assert (verdicts != PASS).mean() >= 0.80
    assert (verdicts == FAIL).mean() >= 0.75
    assert mdes.mean() == pytest.approx(mde, rel=0.15)  # decide()'s estimate from the sample SE


def test_a_large_true_improvement_passes():
    verdicts, _, _ = _run_gate(*_scores(np.random.default_rng(15), n=40, shift=0.1), [0.02])
    assert (verdicts == PASS).mean() >= 0.99


def test_reported_bounds_agree_with_holm_verdicts():
    # Two similar drops: Holm rejects neither, so neither upper bound may cross -tolerance.
    decisions = decide([Paired(40, 0, 0, -0.09, 0.02), Paired(40, 0, 0, -0.088, 0.02)], [0.05, 0.05])
    for d in decisions:
        assert d.verdict == "INCONCLUSIVE"
        assert d.upper >= -0.05 and d.lower < -0.05
