"""Tests of vsoko_toolkit.stats.intervals against published values and independent code.

Tolerances
----------
- ``PUBLISHED = 5e-5``: published tables print 4 decimals, so a correct value is
  within half a unit of the last printed digit.
- ``REFERENCE = 1e-10``: an independent implementation of the same closed formula
  (statsmodels, scipy) agrees to floating-point rounding.
- ``HAND = 1e-6``: values computed by hand from the formula (written beside them)
  to 7 significant digits.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
)

from vsoko_toolkit.stats import intervals as intervals_module
from vsoko_toolkit.stats.intervals import (
    bh_qvalues,
    binom_test,
    clopper_pearson_interval,
    compare_means,
    compare_proportions,
    funnel_limits_mean,
    funnel_limits_proportion,
    level_label,
    mean_interval,
    newcombe_interval,
    wilson_interval,
)

PUBLISHED = 5e-5
REFERENCE = 1e-10
HAND = 1e-6
Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


# --------------------------------------------------------------------------- Wilson

# Newcombe RG (1998). "Two-sided confidence intervals for the single proportion:
# comparison of seven methods." Stat Med 17:857-872, Table I, method 3 (score).
NEWCOMBE_1998_TABLE_I = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("k", "n", "lower", "upper"), NEWCOMBE_1998_TABLE_I)
def test_wilson_matches_newcombe_1998_table_i(k, n, lower, upper):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(lower, abs=PUBLISHED)
    assert hi == pytest.approx(upper, abs=PUBLISHED)


def test_wilson_matches_statsmodels_on_a_grid():
    # statsmodels.stats.proportion.proportion_confint(k, n, alpha, method="wilson")
    n = np.repeat(np.arange(1, 41), 41)
    k = np.tile(np.arange(0, 41), 40)
    keep = k <= n
    k, n = k[keep], n[keep]
    for level in (0.90, 0.95, 0.998):
        lo, hi = wilson_interval(k, n, level)
        ref_lo, ref_hi = proportion_confint(k, n, alpha=1 - level, method="wilson")
        np.testing.assert_allclose(lo, ref_lo, atol=REFERENCE)
        np.testing.assert_allclose(hi, ref_hi, atol=REFERENCE)


def test_wilson_edges():
    lo, hi = wilson_interval([0, 7, 0], [7, 7, 0])
    assert lo[0] == 0.0  # k = 0: lower bound exactly 0
    assert hi[1] == 1.0  # k = n: upper bound exactly 1
    assert math.isnan(lo[2]) and math.isnan(hi[2])  # n = 0: no interval
    # 1/1 by hand: centre = (1 + z²/2)/(1 + z²) = 2.920729/4.841459 = 0.603273,
    # half = z·sqrt(z²/4)/(1 + z²) = 1.920729/4.841459 = 0.396727 -> lower 0.206546
    assert wilson_interval(1, 1)[0] == pytest.approx(0.2065493, abs=HAND)
    assert isinstance(wilson_interval(3, 10)[0], float)  # scalars in, floats out


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
    with pytest.raises(ValueError):
        wilson_interval(-1, 4)
    with pytest.raises(ValueError):
        wilson_interval(1, 4, level=95)


def test_clopper_pearson_matches_statsmodels():
    k = np.array([0, 1, 5, 9, 10, 0])
    n = np.array([10, 10, 10, 10, 10, 0])
    lo, hi = clopper_pearson_interval(k, n)
    ref_lo, ref_hi = proportion_confint(k[:5], n[:5], method="beta")
    np.testing.assert_allclose(lo[:5], ref_lo, atol=1e-8)
    np.testing.assert_allclose(hi[:5], ref_hi, atol=1e-8)
    assert np.isnan(lo[5]) and np.isnan(hi[5])


# --------------------------------------------------------------------------- mean


def test_mean_interval_by_hand_and_scipy():
    # 4 ± t(0.975, 3)·1/sqrt(4) = 4 ± 3.182446·0.5 = [2.408777, 5.591223]
    lo, hi = mean_interval(4.0, 1.0, 4)
    assert (lo, hi) == pytest.approx((2.408777, 5.591223), abs=HAND)
    ref = stats.t.interval(0.95, 3, loc=4.0, scale=0.5)
    assert (lo, hi) == pytest.approx(ref, abs=REFERENCE)


def test_mean_interval_small_groups_are_nan():
    lo, hi = mean_interval([3.0, 5.0, 4.0], [np.nan, np.nan, 0.0], [0, 1, 3])
    assert np.isnan(lo[:2]).all() and np.isnan(hi[:2]).all()
    assert lo[2] == hi[2] == 4.0  # sd = 0: zero width


# --------------------------------------------------------------------------- BH


def test_bh_matches_statsmodels():
    rng = np.random.default_rng(20250601)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 0.01, size=10)])
    np.testing.assert_allclose(bh_qvalues(p), multipletests(p, method="fdr_bh")[1], atol=REFERENCE)


def test_bh_leaves_nan_out_of_the_family():
    p = np.array([0.01, np.nan, 0.04, 0.03, np.nan])
    q = bh_qvalues(p)
    assert np.isnan(q[[1, 4]]).all()
    # m = 3 finite p-values: sorted 0.01, 0.03, 0.04 -> 0.01·3/1 = 0.03, 0.03·3/2 = 0.045,
    # 0.04·3/3 = 0.04; step-up minimum from the top -> 0.03, 0.04, 0.04
    np.testing.assert_allclose(q[[0, 3, 2]], [0.03, 0.04, 0.04], atol=HAND)
    finite = ~np.isnan(p)
    np.testing.assert_allclose(q[finite], multipletests(p[finite], method="fdr_bh")[1])


def test_bh_series_and_degenerate_inputs():
    s = pd.Series([0.02, np.nan], index=["5А", "5Б"], name="p")
    q = bh_qvalues(s)
    assert isinstance(q, pd.Series) and list(q.index) == ["5А", "5Б"]
    assert q["5А"] == pytest.approx(0.02) and np.isnan(q["5Б"])
    assert np.isnan(bh_qvalues([np.nan, np.nan])).all()
    assert bh_qvalues([]).shape == (0,)
    with pytest.raises(ValueError):
        bh_qvalues([0.5, 1.5])


# --------------------------------------------------------------------------- binomial test


def test_binom_test_exact_by_hand():
    # 2 of 20 at p0 = 0.5: P(K <= 2) = (1 + 20 + 190)/2^20 = 211/1048576 = 0.000201225;
    # two-sided (symmetric) = 422/1048576 = 0.000402451
    assert binom_test(2, 20, 0.5) == pytest.approx(422 / 2**20, rel=1e-12)
    assert binom_test(2, 20, 0.5, alternative="less") == pytest.approx(211 / 2**20, rel=1e-12)
    assert binom_test(2, 20, 0.5, alternative="greater") == pytest.approx(
        1 - 21 / 2**20, rel=1e-12
    )  # P(K >= 2) = 1 - P(K <= 1) = 1 - 21/2^20


def test_binom_test_exact_vectorised_matches_scipy():
    k = np.array([0, 3, 7, 3, 12, 0])
    n = np.array([10, 10, 25, 10, 12, 0])
    p = binom_test(k, n, 0.3)
    for i in range(5):
        assert p[i] == pytest.approx(stats.binomtest(k[i], n[i], 0.3).pvalue, abs=REFERENCE)
    assert np.isnan(p[5])


def test_binom_test_normal_by_hand():
    # z = (2 - 20·0.5)/sqrt(20·0.25) = -8/sqrt(5) = -3.577709; p = 2·Φ(-3.577709) = 0.000346619
    assert binom_test(2, 20, 0.5, method="normal") == pytest.approx(0.000346619, rel=1e-5)
    assert np.isnan(binom_test(0, 0, 0.5, method="normal"))
    with pytest.raises(ValueError, match="alternative"):
        binom_test(2, 20, 0.5, alternative="both")


# --------------------------------------------------------------------------- two shares

# Newcombe RG (1998). "Interval estimation for the difference between independent
# proportions: comparison of eleven methods." Stat Med 17:873-890, Table II, method 10.
NEWCOMBE_1998_TABLE_II = [
    (56, 70, 48, 80, 0.0524, 0.3339),  # (a)
    (9, 10, 3, 10, 0.1705, 0.8090),  # (b)
    (6, 7, 2, 7, 0.0582, 0.8062),  # (c)
    (5, 56, 0, 29, -0.0381, 0.1926),  # (d)
    (0, 10, 0, 20, -0.1611, 0.2775),  # (e)
    (0, 10, 0, 10, -0.2775, 0.2775),  # (f)
    (10, 10, 0, 20, 0.6791, 1.0000),  # (g)
    (10, 10, 0, 10, 0.6075, 1.0000),  # (h)
]


@pytest.mark.parametrize(("k1", "n1", "k2", "n2", "lower", "upper"), NEWCOMBE_1998_TABLE_II)
def test_newcombe_matches_newcombe_1998_table_ii(k1, n1, k2, n2, lower, upper):
    lo, hi = newcombe_interval(k1, n1, k2, n2)
    assert lo == pytest.approx(lower, abs=PUBLISHED)
    assert hi == pytest.approx(upper, abs=PUBLISHED)
    # statsmodels.stats.proportion.confint_proportions_2indep(..., method="newcomb")
    ref = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    assert (lo, hi) == pytest.approx(tuple(map(float, ref)), abs=REFERENCE)


def test_compare_proportions_p_value_is_pearson_chi_square():
    res = compare_proportions([56, 9, 12], [70, 10, 30], [48, 3, 20], [80, 10, 31])
    for i, (a, b, c, d) in enumerate([(56, 70, 48, 80), (9, 10, 3, 10), (12, 30, 20, 31)]):
        table = [[a, b - a], [c, d - c]]
        chi2 = stats.chi2_contingency(table, correction=False)
        assert res["p_value"][i] == pytest.approx(chi2.pvalue, abs=1e-12)
    assert res["diff"][0] == pytest.approx(56 / 70 - 48 / 80)


def test_compare_proportions_degenerate_groups():
    res = compare_proportions([5, 0, 0], [5, 4, 0], [10, 0, 1], [10, 6, 2])
    assert res["p_value"][0] == 1.0  # both all-1: nothing to test
    assert res["p_value"][1] == 1.0  # both all-0
    assert res[["p1", "diff", "diff_lower", "diff_upper", "p_value"]].iloc[2].isna().all()


# --------------------------------------------------------------------------- two means


def test_compare_means_matches_scipy_welch():
    res = compare_means([4.2, 3.1], [0.8, 1.1], [25, 8], [3.8, 3.9], [0.9, 0.7], [30, 40])
    for i, args in enumerate([(4.2, 0.8, 25, 3.8, 0.9, 30), (3.1, 1.1, 8, 3.9, 0.7, 40)]):
        ref = stats.ttest_ind_from_stats(*args, equal_var=False)
        assert res["p_value"][i] == pytest.approx(ref.pvalue, abs=1e-12)
        half = stats.t.ppf(0.975, res["df"][i]) * res["se"][i]
        assert res["diff_lower"][i] == pytest.approx(res["diff"][i] - half)
    # df by hand for row 0: v1 = 0.64/25 = 0.0256, v2 = 0.81/30 = 0.027;
    # (0.0526)^2 / (0.0256^2/24 + 0.027^2/29) = 0.00276676/(2.730667e-5 + 2.513793e-5) = 52.75586
    assert res["df"][0] == pytest.approx(52.75586, rel=1e-6)
    tiny = compare_means(4.0, np.nan, 1, 3.0, 1.0, 10)
    assert tiny[["diff_lower", "diff_upper", "p_value"]].isna().all(axis=None)


# --------------------------------------------------------------------------- funnels

SIZES = np.array([5, 8, 12, 20, 30, 50, 100, 300, 1000])


@pytest.mark.parametrize("method", ["exact", "interpolated", "normal"])
@pytest.mark.parametrize("target", [0.1, 0.5, 0.83, 0.97])
def test_funnel_proportion_sanity(method, target):
    lim = funnel_limits_proportion(target, SIZES, method=method)
    assert list(lim.columns) == [
        "n", "target", "lower_95", "upper_95", "lower_998", "upper_998"
    ]  # fmt: skip
    bounds = lim[["lower_95", "upper_95", "lower_998", "upper_998"]].to_numpy()
    assert ((bounds >= 0) & (bounds <= 1)).all()  # proportions stay in [0, 1]
    assert (lim["lower_998"] <= lim["lower_95"]).all()
    assert (lim["lower_95"] <= target).all() and (lim["upper_95"] >= target).all()
    assert (lim["upper_95"] <= lim["upper_998"]).all()
    width = (lim["upper_95"] - lim["lower_95"]).to_numpy()
    tol = 0.0 if method == "normal" else 0.08  # discrete limits wobble a little in n
    assert (np.diff(width) <= tol).all()  # narrower as n grows ...
    assert width[0] > 2 * width[-3]  # ... clearly: n = 5 against n = 100


def test_funnel_proportion_exact_is_the_one_sided_exact_test():
    # A share k/n is below lower_95 exactly when P(K <= k) < 0.025, above upper_95 exactly
    # when P(K >= k) <= 0.025 (K ~ Binomial(n, target)).
    target = 0.83
    for n in (1, 4, 9, 17, 26, 60):
        lim = funnel_limits_proportion(target, [n]).iloc[0]
        k = np.arange(n + 1)
        below = k / n < lim["lower_95"]
        above = k / n > lim["upper_95"]
        np.testing.assert_array_equal(below, stats.binom.cdf(k, n, target) < 0.025)
        np.testing.assert_array_equal(above, stats.binom.sf(k - 1, n, target) <= 0.025)


def test_funnel_proportion_hand_values():
    # Binomial(10, 0.8): F(4) = 0.0063694, F(5) = 0.0327935 -> r = 5 for q = 0.025;
    # exact lower = 5/10 = 0.5; interpolated alpha = (0.0327935 - 0.025)/(0.0327935 - 0.0063694)
    # = 0.2949388 -> lower = (5 - 0.2949388)/10 = 0.4705061
    exact = funnel_limits_proportion(0.8, [10]).iloc[0]
    assert exact["lower_95"] == 0.5
    smooth = funnel_limits_proportion(0.8, [10], method="interpolated").iloc[0]
    assert smooth["lower_95"] == pytest.approx(0.4705061, abs=HAND)
    # P(K = 10) = 0.107 > 0.025: 10/10 is not rare, the upper limit stays at 1
    assert smooth["upper_95"] == 1.0
    # normal: 0.8 - 1.959964·sqrt(0.16/10) = 0.8 - 0.2479180 = 0.5520820
    normal = funnel_limits_proportion(0.8, [10], method="normal").iloc[0]
    assert normal["lower_95"] == pytest.approx(0.5520820, abs=HAND)
    # large n: the three agree to ~1e-3
    big = [
        funnel_limits_proportion(0.8, [10_000], method=m).iloc[0]
        for m in ("exact", "interpolated", "normal")
    ]
    assert max(abs(b["lower_95"] - big[2]["lower_95"]) for b in big) < 1e-3


def test_funnel_proportion_edges():
    lim = funnel_limits_proportion(0.6, [0, 3])
    assert lim.iloc[0, 2:].isna().all()  # n = 0: no limits
    for method in ("exact", "interpolated", "normal"):
        at_one = funnel_limits_proportion(1.0, [5], method=method).iloc[0]
        assert at_one["upper_95"] == 1.0 and at_one["lower_95"] <= 1.0
        at_zero = funnel_limits_proportion(0.0, [5], method=method).iloc[0]
        assert at_zero["lower_95"] == 0.0 and at_zero["upper_95"] == 0.0
    with pytest.raises(ValueError, match="method"):
        funnel_limits_proportion(0.5, [5], method="wald")
    with pytest.raises(ValueError):
        funnel_limits_proportion(1.2, [5])


def test_funnel_mean():
    # 4 ± 1.959964·0.8/sqrt(4) = 4 ± 0.7839856
    lim = funnel_limits_mean(4.0, 0.8, [0, 4, 25, 100], bounds=(1, 5))
    assert lim.loc[1, "lower_95"] == pytest.approx(4 - Z95 * 0.4, abs=HAND)
    assert np.isnan(lim.loc[0, "upper_998"])
    width = (lim["upper_998"] - lim["lower_998"]).to_numpy()[1:]
    assert (np.diff(width) < 0).all()
    assert (lim["lower_998"][1:] <= 4).all() and (lim["upper_998"][1:] <= 5).all()
    assert level_label(0.998) == "998" and level_label(0.9) == "90"


def test_docstring_examples_run():
    result = doctest.testmod(intervals_module)
    assert result.attempted > 0 and result.failed == 0
