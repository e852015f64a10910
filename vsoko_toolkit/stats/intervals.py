"""Intervals, tests and control limits for shares and means — pure numerics.

Every function here takes numbers (scalars or array-likes, broadcast together)
and returns numbers; nothing touches a DataFrame of marks or the warehouse.
Degenerate inputs never raise: an empty group (``n = 0``) gives ``NaN``, a group
of one gives a ``NaN`` interval for a mean.  Scalar inputs give Python floats,
array inputs give ``numpy`` arrays.

Functions
---------
wilson_interval
    Wilson score interval for a share ``k / n``.
clopper_pearson_interval
    Exact (Clopper–Pearson) interval for a share.
mean_interval
    t interval for a mean from its mean, standard deviation and size.
bh_qvalues
    Benjamini–Hochberg q-values; ``NaN`` p-values stay ``NaN`` and are not
    counted in the family.
binom_test
    One-sample binomial test (exact, or the normal score approximation).
newcombe_interval, compare_proportions
    Difference of two independent shares: Newcombe's hybrid score interval and
    the pooled score test.
compare_means
    Difference of two independent means: Welch's t interval and test.
funnel_limits_proportion, funnel_limits_mean
    Funnel-plot control limits (95 % and 99.8 % by default) around a target.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "FUNNEL_LEVELS",
    "bh_qvalues",
    "binom_test",
    "clopper_pearson_interval",
    "compare_means",
    "compare_proportions",
    "funnel_limits_mean",
    "funnel_limits_proportion",
    "level_label",
    "mean_interval",
    "newcombe_interval",
    "wilson_interval",
]

FUNNEL_LEVELS: tuple[float, ...] = (0.95, 0.998)
"""Default funnel-plot levels: about 2 and 3 standard errors (Spiegelhalter 2005)."""

Alternative = Literal["two-sided", "less", "greater"]
BinomMethod = Literal["exact", "normal"]
FunnelMethod = Literal["exact", "interpolated", "normal"]

_ALTERNATIVES = ("two-sided", "less", "greater")


# --------------------------------------------------------------------------- helpers


def _z(level: float) -> float:
    """Two-sided standard-normal quantile for a confidence ``level``."""
    _check_level(level)
    return float(stats.norm.ppf(0.5 + level / 2.0))


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; use one of {list(allowed)}")


def _is_scalar(*args: object) -> bool:
    return all(np.ndim(a) == 0 for a in args)


def _out(x: np.ndarray, scalar: bool) -> float | np.ndarray:
    return float(x) if scalar else x


def _counts(k: object, n: object) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast successes ``k`` and sizes ``n`` to float arrays and check them."""
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    bad = (k_arr < 0) | (n_arr < 0) | (k_arr > n_arr)
    if np.any(bad):
        raise ValueError("counts must satisfy 0 <= k <= n")
    return k_arr, n_arr


def level_label(level: float) -> str:
    """Column suffix for a level: ``0.95 -> '95'``, ``0.998 -> '998'``.

    Examples
    --------
    >>> level_label(0.95), level_label(0.998)
    ('95', '998')
    """
    return f"{level * 100:g}".replace(".", "")


# --------------------------------------------------------------------------- one share


def wilson_interval(
    k: object, n: object, level: float = 0.95
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Wilson score interval for the share ``k / n``.

    Parameters
    ----------
    k, n : int or array-like of int
        Successes and group sizes (broadcast together), ``0 <= k <= n``.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    lower, upper : float or numpy.ndarray
        Interval bounds in ``[0, 1]``; ``NaN`` where ``n == 0``.  The lower
        bound is exactly 0 when ``k == 0`` and the upper bound exactly 1 when
        ``k == n``.

    Notes
    -----
    Wilson (1927); Newcombe (1998), "Two-sided confidence intervals for the
    single proportion", *Stat Med* 17:857, method 3.  Validated against
    ``statsmodels.stats.proportion.proportion_confint(method='wilson')`` and the
    values printed in Newcombe's Table I (``tests/test_intervals.py``).

    Examples
    --------
    >>> lo, hi = wilson_interval(81, 263)
    >>> round(lo, 4), round(hi, 4)
    (0.2553, 0.3662)
    >>> wilson_interval([0, 5], [20, 5])[1].round(4).tolist()
    [0.1611, 1.0]
    """
    scalar = _is_scalar(k, n)
    k_arr, n_arr = _counts(k, n)
    z = _z(level)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = n_arr + z2
        centre = (k_arr + z2 / 2.0) / denom
        half = z * np.sqrt(k_arr * (n_arr - k_arr) / n_arr + z2 / 4.0) / denom
        lower = np.clip(centre - half, 0.0, 1.0)
        upper = np.clip(centre + half, 0.0, 1.0)
    lower = np.where(k_arr == 0, 0.0, lower)
    upper = np.where(k_arr == n_arr, 1.0, upper)
    empty = n_arr == 0
    lower = np.where(empty, np.nan, lower)
    upper = np.where(empty, np.nan, upper)
    return _out(lower, scalar), _out(upper, scalar)


def clopper_pearson_interval(
    k: object, n: object, level: float = 0.95
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Exact (Clopper–Pearson) interval for the share ``k / n``.

    Conservative (coverage at least ``level``); prefer :func:`wilson_interval`
    for reporting.  ``NaN`` where ``n == 0``.

    Examples
    --------
    >>> lo, hi = clopper_pearson_interval(0, 10)
    >>> lo, round(hi, 4)
    (0.0, 0.3085)
    """
    scalar = _is_scalar(k, n)
    k_arr, n_arr = _counts(k, n)
    alpha = 1.0 - level
    _check_level(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = stats.beta.ppf(alpha / 2.0, k_arr, n_arr - k_arr + 1.0)
        upper = stats.beta.ppf(1.0 - alpha / 2.0, k_arr + 1.0, n_arr - k_arr)
    lower = np.where(k_arr == 0, 0.0, lower)
    upper = np.where(k_arr == n_arr, 1.0, upper)
    empty = n_arr == 0
    lower = np.where(empty, np.nan, lower)
    upper = np.where(empty, np.nan, upper)
    return _out(lower, scalar), _out(upper, scalar)


# --------------------------------------------------------------------------- one mean


def mean_interval(
    mean: object, sd: object, n: object, level: float = 0.95
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """t interval for a mean: ``mean ± t(level, n - 1) · sd / sqrt(n)``.

    Parameters
    ----------
    mean, sd, n : float or array-like
        Sample mean, sample standard deviation (``ddof = 1``) and size.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    lower, upper : float or numpy.ndarray
        ``NaN`` where ``n < 2`` (no estimate of spread) or any input is ``NaN``.
        With ``sd == 0`` the interval has zero width — the t interval cannot say
        more about a group whose values are all equal.

    Examples
    --------
    >>> lo, hi = mean_interval(4.0, 1.0, 4)
    >>> round(lo, 4), round(hi, 4)
    (2.4088, 5.5912)
    >>> mean_interval(5.0, np.nan, 1)
    (nan, nan)
    """
    scalar = _is_scalar(mean, sd, n)
    _check_level(level)
    m, s, size = np.broadcast_arrays(
        np.asarray(mean, dtype=float), np.asarray(sd, dtype=float), np.asarray(n, dtype=float)
    )
    ok = size >= 2
    df = np.where(ok, size - 1.0, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = stats.t.ppf(0.5 + level / 2.0, df)
        half = t * s / np.sqrt(size)
    lower = np.where(ok, m - half, np.nan)
    upper = np.where(ok, m + half, np.nan)
    return _out(lower, scalar), _out(upper, scalar)


# --------------------------------------------------------------------------- multiplicity


def bh_qvalues(pvalues: object) -> np.ndarray | pd.Series:
    """Benjamini–Hochberg q-values (adjusted p-values, FDR control).

    Parameters
    ----------
    pvalues : array-like or pandas.Series
        Raw p-values in ``[0, 1]``; ``NaN`` marks a comparison that was not
        made (e.g. an empty group).

    Returns
    -------
    numpy.ndarray or pandas.Series
        q-values of the same shape (a Series keeps its index).  ``NaN`` inputs
        stay ``NaN`` and are excluded from the family: the number of tests
        ``m`` counts only the finite p-values.

    Notes
    -----
    Benjamini & Hochberg (1995).  Wraps
    ``statsmodels.stats.multitest.multipletests(method='fdr_bh')`` on the finite
    p-values; tested against it.

    Examples
    --------
    >>> bh_qvalues([0.01, np.nan, 0.04, 0.03]).round(4).tolist()
    [0.03, nan, 0.04, 0.04]
    """
    from statsmodels.stats.multitest import multipletests

    index = pvalues.index if isinstance(pvalues, pd.Series) else None
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    finite = np.isfinite(flat)
    if np.any((flat[finite] < 0) | (flat[finite] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    q = np.full(flat.shape, np.nan)
    if finite.any():
        q[finite] = multipletests(flat[finite], method="fdr_bh")[1]
    q = q.reshape(p.shape)
    if index is not None:
        return pd.Series(q, index=index, name=getattr(pvalues, "name", None))
    return q


# --------------------------------------------------------------------------- binomial test


def binom_test(
    k: object,
    n: object,
    p0: object,
    alternative: Alternative = "two-sided",
    method: BinomMethod = "exact",
) -> float | np.ndarray:
    """One-sample binomial test of ``H0: share = p0``.

    Parameters
    ----------
    k, n : int or array-like of int
        Successes and group sizes.
    p0 : float or array-like
        Share under the null hypothesis, in ``[0, 1]``.
    alternative : {'two-sided', 'less', 'greater'}
        ``'less'``: the true share is below ``p0``.
    method : {'exact', 'normal'}
        ``'exact'``: binomial probabilities; two-sided p-value by the
        "minimum likelihood" rule of R's ``binom.test`` (sum of probabilities of
        outcomes no more likely than the observed one, via
        ``scipy.stats.binomtest``; one call per distinct ``(k, n, p0)``).
        ``'normal'``: score z-test ``(k - n·p0) / sqrt(n·p0·(1 - p0))``,
        fully vectorised, without continuity correction.

    Returns
    -------
    float or numpy.ndarray
        p-values; ``NaN`` where ``n == 0`` (and, for ``'normal'``, where
        ``p0`` is 0 or 1).

    Examples
    --------
    >>> round(binom_test(2, 20, 0.5), 6)
    0.000402
    >>> round(binom_test(2, 20, 0.5, alternative="less"), 6)
    0.000201
    """
    _check_choice("alternative", alternative, _ALTERNATIVES)
    _check_choice("method", method, ("exact", "normal"))
    scalar = _is_scalar(k, n, p0)
    k_arr, n_arr = _counts(k, n)
    k_arr, n_arr, p_arr = np.broadcast_arrays(k_arr, n_arr, np.asarray(p0, dtype=float))
    if np.any((p_arr < 0) | (p_arr > 1)):
        raise ValueError("p0 must lie in [0, 1]")
    out = np.full(k_arr.shape, np.nan)
    valid = n_arr > 0
    if method == "exact":
        triples = np.stack([k_arr[valid], n_arr[valid], p_arr[valid]], axis=-1)
        if triples.size:
            uniq, inverse = np.unique(triples, axis=0, return_inverse=True)
            pv = np.array(
                [
                    stats.binomtest(int(a), int(b), float(c), alternative=alternative).pvalue
                    for a, b, c in uniq
                ]
            )
            out[valid] = pv[inverse.ravel()]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (k_arr - n_arr * p_arr) / np.sqrt(n_arr * p_arr * (1.0 - p_arr))
        if alternative == "two-sided":
            pv = 2.0 * stats.norm.sf(np.abs(z))
        elif alternative == "less":
            pv = stats.norm.cdf(z)
        else:
            pv = stats.norm.sf(z)
        out = np.where(valid, np.minimum(pv, 1.0), np.nan)
    return _out(out, scalar)


# --------------------------------------------------------------------------- two shares


def newcombe_interval(
    k1: object, n1: object, k2: object, n2: object, level: float = 0.95
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Newcombe's hybrid score interval for ``k1/n1 - k2/n2``.

    Square-and-add of the two Wilson intervals (Newcombe 1998, "Interval
    estimation for the difference between independent proportions", *Stat Med*
    17:873, method 10).  ``NaN`` where either group is empty.  Validated
    against that paper's Table II and
    ``statsmodels.stats.proportion.confint_proportions_2indep(method='newcomb')``.

    Examples
    --------
    >>> lo, hi = newcombe_interval(56, 70, 48, 80)
    >>> round(lo, 4), round(hi, 4)
    (0.0524, 0.3339)
    """
    scalar = _is_scalar(k1, n1, k2, n2)
    k1a, n1a = _counts(k1, n1)
    k2a, n2a = _counts(k2, n2)
    k1a, n1a, k2a, n2a = np.broadcast_arrays(k1a, n1a, k2a, n2a)
    l1, u1 = wilson_interval(k1a, n1a, level)
    l2, u2 = wilson_interval(k2a, n2a, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = k1a / n1a
        p2 = k2a / n2a
    d = p1 - p2
    lower = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return _out(lower, scalar), _out(upper, scalar)


def compare_proportions(
    k1: object, n1: object, k2: object, n2: object, level: float = 0.95
) -> pd.DataFrame:
    """Compare two independent shares: difference, its interval and a p-value.

    Parameters
    ----------
    k1, n1 : int or array-like of int
        Successes and size of the first group (e.g. a class).
    k2, n2 : int or array-like of int
        Successes and size of the second group (e.g. the rest of its parallel).
        The groups must not overlap — compare a class with the *rest* of the
        school, not with the school that contains it.
    level : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    pandas.DataFrame
        One row per comparison, columns:

        ``k1, n1, p1, k2, n2, p2``
            inputs and the two shares;
        ``diff``
            ``p1 - p2``;
        ``diff_lower, diff_upper``
            Newcombe's hybrid score interval (:func:`newcombe_interval`);
        ``p_value``
            two-sided pooled score test (identical to Pearson's chi-square
            without continuity correction); 1 when both groups are all-0 or
            all-1 (no difference to test).

        All of ``p*``, ``diff*`` and ``p_value`` are ``NaN`` when either group is
        empty.

    Examples
    --------
    >>> res = compare_proportions([56, 9], [70, 10], [48, 3], [80, 10])
    >>> res[["diff", "diff_lower", "diff_upper"]].round(4).to_numpy().tolist()
    [[0.2, 0.0524, 0.3339], [0.6, 0.1705, 0.809]]
    """
    k1a, n1a = _counts(k1, n1)
    k2a, n2a = _counts(k2, n2)
    k1a, n1a, k2a, n2a = (np.atleast_1d(a) for a in np.broadcast_arrays(k1a, n1a, k2a, n2a))
    lower, upper = newcombe_interval(k1a, n1a, k2a, n2a, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = k1a / n1a
        p2 = k2a / n2a
        pooled = (k1a + k2a) / (n1a + n2a)
        se0 = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1a + 1.0 / n2a))
        z = (p1 - p2) / se0
    p_value = np.where(se0 > 0, 2.0 * stats.norm.sf(np.abs(z)), 1.0)
    p_value = np.where((n1a > 0) & (n2a > 0), p_value, np.nan)
    return pd.DataFrame(
        {
            "k1": k1a,
            "n1": n1a,
            "p1": p1,
            "k2": k2a,
            "n2": n2a,
            "p2": p2,
            "diff": p1 - p2,
            "diff_lower": lower,
            "diff_upper": upper,
            "p_value": p_value,
        }
    )


# --------------------------------------------------------------------------- two means


def compare_means(
    mean1: object,
    sd1: object,
    n1: object,
    mean2: object,
    sd2: object,
    n2: object,
    level: float = 0.95,
) -> pd.DataFrame:
    """Compare two independent means from summaries: Welch's t interval and test.

    Returns
    -------
    pandas.DataFrame
        Columns ``mean1, n1, mean2, n2, diff`` (``mean1 - mean2``), ``se``,
        ``df`` (Welch–Satterthwaite), ``diff_lower, diff_upper, p_value``
        (two-sided).  ``NaN`` where either group has fewer than 2 values or both
        standard deviations are 0.

    Notes
    -----
    Welch (1947).  Agrees with ``scipy.stats.ttest_ind_from_stats(equal_var=False)``.

    Examples
    --------
    >>> res = compare_means(4.2, 0.8, 25, 3.8, 0.9, 30)
    >>> round(float(res["diff"][0]), 2), round(float(res["p_value"][0]), 4)
    (0.4, 0.087)
    """
    _check_level(level)
    arrs = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (mean1, sd1, n1, mean2, sd2, n2))
    )
    m1, s1, c1, m2, s2, c2 = (np.atleast_1d(a) for a in arrs)
    ok = (c1 >= 2) & (c2 >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        v1 = s1**2 / c1
        v2 = s2**2 / c2
        se = np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (c1 - 1.0) + v2**2 / (c2 - 1.0))
        ok &= se > 0
        df = np.where(ok, df, np.nan)
        t_crit = stats.t.ppf(0.5 + level / 2.0, df)
        diff = m1 - m2
        p_value = 2.0 * stats.t.sf(np.abs(diff / se), df)
    nan = np.nan
    return pd.DataFrame(
        {
            "mean1": m1,
            "n1": c1,
            "mean2": m2,
            "n2": c2,
            "diff": diff,
            "se": np.where(ok, se, nan),
            "df": df,
            "diff_lower": np.where(ok, diff - t_crit * se, nan),
            "diff_upper": np.where(ok, diff + t_crit * se, nan),
            "p_value": np.where(ok, p_value, nan),
        }
    )


# --------------------------------------------------------------------------- funnel plots


def funnel_limits_proportion(
    target: float,
    n: object,
    levels: tuple[float, ...] = FUNNEL_LEVELS,
    method: FunnelMethod = "exact",
) -> pd.DataFrame:
    """Funnel-plot control limits for a share, by group size.

    Parameters
    ----------
    target : float
        The share every group is compared with (e.g. the municipality's), in
        ``[0, 1]``.
    n : int or array-like of int
        Group sizes (the points of the funnel, or a grid for drawing it).
    levels : tuple of float, default (0.95, 0.998)
        Two-sided coverage of each pair of limits (≈ 2 and 3 standard errors).
    method : {'exact', 'interpolated', 'normal'}
        ``'exact'`` (default): binomial quantiles, a step function of ``n``.
        A share is outside ``lower_<L>`` exactly when the one-sided binomial
        probability of a count that low, ``P(K <= k)``, is below
        ``(1 - level) / 2``, and outside ``upper_<L>`` exactly when
        ``P(K >= k) <= (1 - level) / 2`` — never more often than the level
        promises.  ``'interpolated'``: Spiegelhalter's interpolation between
        attainable counts (2005, Appendix A.1.1), smooth in ``n`` and meant for
        drawing; not interpolated at the edges (a count of 0 or ``n``), so a
        group at 0 % or 100 % is never flagged where that outcome is not rare.
        ``'normal'``: ``target ± z · sqrt(target (1 - target) / n)``.  All are
        clipped to ``[0, 1]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``target`` and, for each level, ``lower_<L>`` and
        ``upper_<L>`` with ``L`` from :func:`level_label` (``lower_95``,
        ``upper_95``, ``lower_998``, ``upper_998``).  ``NaN`` where ``n == 0``.
        A group lies outside a limit when its share is below ``lower_<L>`` or
        above ``upper_<L>``.

    Notes
    -----
    Spiegelhalter DJ (2005), "Funnel plots for comparing institutional
    performance", *Stat Med* 24:1185–1202.  Because the binomial is discrete,
    with ``'exact'`` the share of groups outside the 95 % limits under the null
    is at most, and often well below, 5 %; with ``'interpolated'`` it is close
    to 5 % on average over ``n`` but may exceed it for a given ``n``.  For
    tiny groups with an extreme target (``n = 1``, ``target = 0.99``) an exact
    limit can sit on the far side of the target; the classification of
    attainable shares is still the exact test's.

    Examples
    --------
    >>> lim = funnel_limits_proportion(0.8, [10, 100])
    >>> lim[["lower_95", "upper_95"]].to_numpy().tolist()
    [[0.5, 1.0], [0.72, 0.88]]
    >>> smooth = funnel_limits_proportion(0.8, [10, 100], method="interpolated")
    >>> smooth[["lower_95", "upper_95"]].round(3).to_numpy().tolist()
    [[0.471, 1.0], [0.714, 0.87]]
    """
    _check_choice("method", method, ("exact", "interpolated", "normal"))
    target = float(target)
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target must lie in [0, 1], got {target!r}")
    n_arr = np.atleast_1d(np.asarray(n, dtype=float))
    if np.any(n_arr < 0):
        raise ValueError("group sizes must be non-negative")
    empty = n_arr == 0
    safe_n = np.where(empty, 1.0, n_arr)
    out: dict[str, np.ndarray] = {"n": n_arr, "target": np.full(n_arr.shape, target)}
    for level in levels:
        _check_level(level)
        tail = (1.0 - level) / 2.0
        bounds = []
        for q in (tail, 1.0 - tail):
            if method == "exact":
                limit = stats.binom.ppf(q, safe_n, target) / safe_n
            elif method == "interpolated":
                limit = _binomial_quantile_interpolated(q, safe_n, target) / safe_n
            else:
                z = stats.norm.ppf(q)
                limit = target + z * np.sqrt(target * (1.0 - target) / safe_n)
            bounds.append(np.where(empty, np.nan, np.clip(limit, 0.0, 1.0)))
        label = level_label(level)
        out[f"lower_{label}"], out[f"upper_{label}"] = bounds
    return pd.DataFrame(out)


def _binomial_quantile_interpolated(q: float, n: np.ndarray, p: float) -> np.ndarray:
    """Spiegelhalter's continuous binomial quantile: ``r_q - alpha`` (counts scale).

    ``r_q`` is the smallest ``r`` with ``F(r) >= q``;
    ``alpha = (F(r_q) - q) / (F(r_q) - F(r_q - 1))``.  No interpolation below 0
    (``r_q = 0``) or, for an upper quantile, below ``n`` (``r_q = n``).
    """
    r = stats.binom.ppf(q, n, p)
    f_r = stats.binom.cdf(r, n, p)
    f_prev = stats.binom.cdf(r - 1.0, n, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(f_r > f_prev, (f_r - q) / (f_r - f_prev), 0.0)
    edge = (r == 0) | ((r == n) & (q > 0.5))
    return np.where(edge, r, r - alpha)


def funnel_limits_mean(
    target: float,
    sd: float,
    n: object,
    levels: tuple[float, ...] = FUNNEL_LEVELS,
    bounds: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Funnel-plot control limits for a mean, by group size.

    ``target ± z · sd / sqrt(n)`` — the normal approximation of Spiegelhalter
    (2005, §3), with ``sd`` the standard deviation of individual values in the
    reference population (e.g. of all marks in the municipality).

    Parameters
    ----------
    target, sd : float
        Reference mean and standard deviation of individual values.
    n : int or array-like of int
        Group sizes.
    levels : tuple of float, default (0.95, 0.998)
        Two-sided coverage of each pair of limits.
    bounds : (float, float), optional
        Range of possible values to clip to (e.g. ``(1, 5)`` for a mean mark).

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``target``, ``lower_<L>``, ``upper_<L>`` as in
        :func:`funnel_limits_proportion`; ``NaN`` where ``n == 0``.

    Examples
    --------
    >>> lim = funnel_limits_mean(4.0, 0.8, [4, 100], bounds=(1, 5))
    >>> lim[["lower_95", "upper_95"]].round(3).to_numpy().tolist()
    [[3.216, 4.784], [3.843, 4.157]]
    """
    target = float(target)
    sd = float(sd)
    if not sd >= 0:
        raise ValueError(f"sd must be non-negative, got {sd!r}")
    n_arr = np.atleast_1d(np.asarray(n, dtype=float))
    if np.any(n_arr < 0):
        raise ValueError("group sizes must be non-negative")
    empty = n_arr == 0
    safe_n = np.where(empty, 1.0, n_arr)
    out: dict[str, np.ndarray] = {"n": n_arr, "target": np.full(n_arr.shape, target)}
    for level in levels:
        z = _z(level)
        half = z * sd / np.sqrt(safe_n)
        lower, upper = target - half, target + half
        if bounds is not None:
            lower = np.clip(lower, *bounds)
            upper = np.clip(upper, *bounds)
        label = level_label(level)
        out[f"lower_{label}"] = np.where(empty, np.nan, lower)
        out[f"upper_{label}"] = np.where(empty, np.nan, upper)
    return pd.DataFrame(out)


def poisson_interval(k: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson count ``k``.

    >>> [round(x, 3) for x in poisson_interval(4)]
    [1.09, 10.242]
    """
    a = 1 - level
    lo = 0.0 if k == 0 else stats.chi2.ppf(a / 2, 2 * k) / 2
    return float(lo), float(stats.chi2.ppf(1 - a / 2, 2 * k + 2) / 2)
