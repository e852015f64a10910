"""The guarded mixed-model engine: selection logic, warnings, likelihood core, fast estimator.

Tolerances: the likelihood core must equal statsmodels' ``MixedLM.loglike`` to
1e-6 (same formula, rounding only); the fast estimator must match statsmodels'
fit to 1e-4 relative in fixed effects and 0.5 % in variances (both optimise the
same likelihood; the residual difference is optimizer stopping).  Selection
tests feed :func:`select_best` with crafted candidates that mimic the failures
seen on HSB (see ``tests/test_mixed_hsb.py`` for the real ones).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

from vsoko_toolkit.errors import FatalInputError, OptionError
from vsoko_toolkit.stats import _mixed_fast as core
from vsoko_toolkit.stats.mixed import (
    FAST_MIN_ROWS,
    Candidate,
    MixedEngineError,
    choose_engine,
    component_names,
    fit_mixed,
    inference_warnings,
    select_best,
)

NESTED = {"class": "0 + C(class_id)"}


def simulate(n_schools=30, classes=4, per_class=20, tau_s=0.3, tau_c=0.2, seed=0):
    """Students in classes in schools; random intercepts for school and class."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), classes * per_class)
    class_id = np.tile(np.repeat(np.arange(classes), per_class), n_schools)
    u = rng.normal(0, np.sqrt(tau_s), n_schools)
    v = rng.normal(0, np.sqrt(tau_c), (n_schools, classes))
    d = pd.DataFrame({"school": school, "class_id": class_id,
                      "prior": rng.normal(size=len(school)), "x": rng.normal(size=len(school))})
    d["y"] = (1 + 0.5 * d.prior + 0.2 * d.x + u[school] + v[school, class_id]
              + rng.normal(size=len(d)))
    return d


@pytest.fixture(scope="module")
def nested_data():
    return simulate()


# ------------------------------------------------------------------ select_best
def cand(method, llf, converged=True, tau=1.0, sigma2=10.0, **extra):
    return Candidate(method, llf, converged, {"School": tau, "Residual": sigma2, **extra})


def test_infinite_llf_with_zero_variances_is_dropped():
    # mimics ['nm', 'bfgs'] on HSB: zero variances and llf = +inf
    sel = select_best([cand("nm", np.inf, tau=0.0), cand("powell", -100.0, tau=2.0)])
    assert sel.admissible == (False, True) and sel.winner == 1
    assert [w.code for w in sel.warnings] == ["dropped_fit"]
    assert "не конечен" in sel.warnings[0].message


@pytest.mark.parametrize("bad", [
    Candidate("cg", -90.0, True, {"School": -0.5, "Residual": 10.0}),  # negative variance
    Candidate("cg", -90.0, True, {"School": np.nan, "Residual": 10.0}),  # NaN parameter
    Candidate("cg", np.nan, True, {"School": 1.0, "Residual": 10.0}),  # NaN llf
    Candidate("cg", np.nan, False, {}, None, "LinAlgError: singular"),  # optimizer crashed
])
def test_inadmissible_fits_are_dropped_even_with_better_llf(bad):
    sel = select_best([bad, cand("bfgs", -100.0)])
    assert sel.winner == 1 and not sel.admissible[0] and sel.reasons[0]


def test_negative_covariance_is_admissible():
    good = Candidate("bfgs", -100.0, True,
                     {"School": 2.0, "School:x": 1.0, "cov(School, School:x)": -0.5,
                      "Residual": 10.0})
    assert select_best([good]).admissible == (True,)


def test_no_admissible_fit_raises_in_russian():
    with pytest.raises(MixedEngineError, match="Ни один оптимизатор"):
        select_best([cand("lbfgs", np.inf), cand("bfgs", -np.inf)])


def test_default_fit_far_from_optimum_loses():
    # mimics HSB Table 4.4 default fit(): tau11 = 15.6, llf 100 lower, not converged
    sel = select_best([
        Candidate("bfgs", -23457.52, False, {"School": 4.39, "School:cses": 15.57,
                                             "Residual": 36.69}),
        Candidate("powell", -23357.12, True, {"School": 8.68, "School:cses": 0.69,
                                              "Residual": 36.70}),
        Candidate("nm", -23357.12, True, {"School": 8.68, "School:cses": 0.69,
                                          "Residual": 36.70}),
    ])
    assert sel.winner == 1
    (warn,) = [w for w in sel.warnings if w.code == "optimizer_disagreement"]
    assert warn.severity == "info"  # the best is confirmed by nm
    assert "bfgs" in warn.message and "nm" in warn.message


def test_false_convergence_at_worse_optimum_is_reported():
    # mimics lbfgs on HSB Table 4.4: converged=True at llf 2.3 below the optimum
    sel = select_best([cand("lbfgs", -23359.41, True, tau=11.16),
                       cand("powell", -23357.12, True, tau=8.68)])
    assert sel.winner == 1
    (warn,) = sel.warnings
    assert warn.code == "optimizer_disagreement" and warn.severity == "warning"
    assert "о сходимости сообщили: lbfgs" in warn.message


def test_variance_disagreement_among_equally_good_fits():
    sel = select_best([cand("bfgs", -100.000, tau=1.0), cand("cg", -100.004, tau=1.5)])
    assert [w.code for w in sel.warnings] == ["variance_disagreement"]
    assert "«School»" in sel.warnings[0].message


def test_small_differences_are_not_material():
    sel = select_best([cand("bfgs", -100.000, tau=1.00), cand("cg", -100.004, tau=1.02),
                       cand("nm", -100.5, converged=False, tau=3.0)])
    assert [w.code for w in sel.warnings] == ["optimizer_disagreement"]
    assert sel.warnings[0].severity == "info"


def test_non_converged_best_gives_way_to_converged_near_fit():
    sel = select_best([cand("nm", -100.000, converged=False), cand("bfgs", -100.005)])
    assert sel.winner == 1 and "not_converged" not in [w.code for w in sel.warnings]


def test_non_converged_winner_is_flagged():
    sel = select_best([cand("nm", -100.0, converged=False), cand("bfgs", -105.0)])
    assert sel.winner == 0
    assert "not_converged" in [w.code for w in sel.warnings]


# ------------------------------------------------------------ inference warnings
def test_boundary_singular_and_hessian_warnings():
    names = component_names("school", ["Intercept", "x"], ["class"])
    psi = np.array([[1.0, 0.5], [0.5, 0.25]])  # correlation exactly 1
    codes = [w.code for w in inference_warnings(np.array([False, False, True]), psi, names,
                                                pd_ok=False)]
    assert codes == ["boundary", "singular_covariance", "hessian_not_pd"]


def test_information_check_detects_a_non_maximum(nested_data):
    """Away from the optimum, near a zero variance, the log-scale information is not PD."""
    des = core.design_from_formula(nested_data, "y ~ prior", "school", "1", {"class": "class_id"})
    ss = core.suff_stats(des)
    free = np.array([False, False])
    at_opt = core.variance_inference(ss, np.eye(1) * 0.3, np.array([0.2]), 1.0, free, True)
    near_zero = core.variance_inference(ss, np.eye(1) * 0.3, np.array([1e-3]), 1.0, free, True)
    assert at_opt[3] and not near_zero[3]


def test_zero_class_variance_is_a_boundary_fit():
    d = simulate(tau_c=0.0, seed=3)
    res = fit_mixed(d, "y ~ prior + x", groups="school", vc_formula=NESTED)
    print("\n", res.variance.to_string(), "\n", res.warning_codes)
    row = res.variance.set_index("component").loc["class"]
    assert row.estimate == pytest.approx(0, abs=1e-4)
    assert "boundary" in res.warning_codes
    assert row.ci_low == 0 and np.isnan(row.ci_high)


def test_well_posed_fit_has_no_warnings(nested_data):
    res = fit_mixed(nested_data, "y ~ prior + x", groups="school", vc_formula=NESTED)
    assert res.warnings == [] and res.converged
    assert res.n_groups == {"school": 30, "class": 120}
    var = res.variance.set_index("component")
    for comp in ["school", "class", "Residual"]:
        assert var.loc[comp, "ci_low"] < var.loc[comp, "estimate"] < var.loc[comp, "ci_high"]
    icc = res.icc.set_index("level")
    assert list(icc.index) == ["school", "class"]
    assert (icc.ci_low < icc.estimate).all() and (icc.estimate < icc.ci_high).all()


# ---------------------------------------------------- likelihood core vs statsmodels
@pytest.mark.parametrize("reml", [True, False])
def test_core_likelihood_equals_statsmodels_loglike(nested_data, reml):
    d = nested_data
    model = MixedLM.from_formula("y ~ prior + x", d, groups="school", re_formula="~x",
                                 vc_formula=NESTED)
    model.reml, model.cov_pen, model.fe_pen = reml, None, None  # what fit() would set
    ss = core.suff_stats(core.design_from_statsmodels(model, ["Intercept", "x"]))
    rng = np.random.default_rng(5)
    for _ in range(3):
        a = rng.normal(size=(2, 2)) * 0.5
        psi = a @ a.T + 0.1 * np.eye(2)
        gam = rng.uniform(0.05, 0.5, size=1)
        par = MixedLMParams.from_components(fe_params=np.zeros(3), cov_re=psi, vcomp=gam)
        expected = model.loglike(par, profile_fe=True)
        assert core.profiled_llf(psi, gam, ss, reml) == pytest.approx(expected, abs=1e-6)


def test_design_from_formula_equals_design_from_statsmodels(nested_data):
    model = MixedLM.from_formula("y ~ prior", nested_data, groups="school", re_formula="1",
                                 vc_formula=NESTED)
    a = core.suff_stats(core.design_from_statsmodels(model, ["Intercept"]))
    b = core.suff_stats(core.design_from_formula(nested_data, "y ~ prior", "school", "1",
                                                 {"class": "class_id"}))
    for psi, gam in [(np.eye(1) * 0.3, np.array([0.2])), (np.eye(1) * 2.0, np.array([0.0]))]:
        assert core.profiled_llf(psi, gam, a, True) == pytest.approx(
            core.profiled_llf(psi, gam, b, True), abs=1e-8)


def test_eb_effects_and_standard_errors_match_statsmodels(nested_data):
    d = nested_data
    res = fit_mixed(d, "y ~ prior + x", groups="school", engine="statsmodels")
    model = MixedLM.from_formula("y ~ prior + x", d, groups="school")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = model.fit(method="powell")
    re = res.random_effects.set_index("group")
    ours = re.loc[sm.random_effects.keys(), "estimate"].to_numpy()
    theirs = np.array([float(v.iloc[0]) for v in sm.random_effects.values()])
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    se = np.sqrt([float(np.asarray(c)[0, 0]) for c in sm.random_effects_cov.values()])
    np.testing.assert_allclose(re.loc[sm.random_effects.keys(), "se"], se, rtol=1e-3)
    np.testing.assert_allclose(res.fixed.se, sm.bse_fe, rtol=1e-3)


# --------------------------------------------------------------- fast estimator
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("vc", [None, NESTED], ids=["intercept", "nested"])
def test_fast_estimator_equals_statsmodels(nested_data, vc, reml):
    kw = dict(groups="school", vc_formula=vc, reml=reml)
    fast = fit_mixed(nested_data, "y ~ prior + x", engine="fast", **kw)
    slow = fit_mixed(nested_data, "y ~ prior + x", engine="statsmodels", **kw)
    print(f"\n{vc} reml={reml}: fast {fast.variance.estimate.round(5).tolist()} "
          f"statsmodels {slow.variance.estimate.round(5).tolist()}")
    np.testing.assert_allclose(fast.fixed.estimate, slow.fixed.estimate, rtol=1e-4)
    np.testing.assert_allclose(fast.variance.estimate, slow.variance.estimate, rtol=5e-3)
    assert fast.llf == pytest.approx(slow.llf, abs=1e-3)
    assert fast.engine == "fast" and slow.engine == "statsmodels"
    assert fast.reml is reml


def test_engine_choice_rule():
    assert choose_engine("auto", FAST_MIN_ROWS, True) == "fast"
    assert choose_engine("auto", FAST_MIN_ROWS - 1, True) == "statsmodels"
    assert choose_engine("auto", 10**6, False) == "statsmodels"
    with pytest.raises(FatalInputError, match="Быстрый движок"):
        choose_engine("fast", 100, False)
    assert core.parse_nested_vc({"c": "0 + C(class_id)"}) == {"c": "class_id"}
    assert core.parse_nested_vc({"c": "0 + x"}) is None


# ------------------------------------------------------------------- interface
def test_options_are_checked_in_russian(nested_data):
    with pytest.raises(OptionError, match="Допустимые значения"):
        fit_mixed(nested_data, "y ~ 1", groups="school", engine="lme4")
    with pytest.raises(OptionError, match="methods"):
        fit_mixed(nested_data, "y ~ 1", groups="school", methods=["newton"])
    with pytest.raises(FatalInputError, match="столбца группировки"):
        fit_mixed(nested_data, "y ~ 1", groups="district")


def test_result_is_immutable_tidy_and_renders(nested_data):
    d = nested_data.copy()
    d.loc[[0, 5], "prior"] = np.nan
    before = d.copy()
    res = fit_mixed(d, "y ~ prior", groups="school", methods=["bfgs", "powell"])
    pd.testing.assert_frame_equal(d, before)  # caller's frame untouched
    assert res.n_obs == len(d) - 2
    tidy = res.tidy()
    assert list(tidy.columns) == ["kind", "term", "estimate", "se", "ci_low", "ci_high",
                                  "p_value"]
    assert tidy.kind.tolist() == ["fixed", "fixed", "variance", "variance"]
    assert list(res.candidates.columns) == ["method", "llf", "converged", "finite", "kept",
                                            "reason"]
    assert res.candidates.kept.sum() == 1
    assert {"group", "term", "estimate", "se", "ci_low", "ci_high"} <= set(res.random_effects)
    assert "Смешанная модель" in res._repr_html_()
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.llf = 0.0


def test_two_nested_components_fit():
    """Regression: variance_table indexed psi for nested-level variances (IndexError with >= 2 vc)."""
    rng = np.random.default_rng(0)
    n = 2000
    d = pd.DataFrame({"school": rng.integers(0, 10, n)})
    d["class_id"] = d.school * 10 + rng.integers(0, 5, n)
    d["teacher_id"] = d.school * 10 + rng.integers(0, 3, n)
    d["y"] = (rng.normal(size=10)[d.school] + 0.5 * rng.normal(size=100)[d.class_id]
              + 0.3 * rng.normal(size=100)[d.teacher_id] + rng.normal(size=n))
    res = fit_mixed(d, "y ~ 1", groups="school",
                    vc_formula={"class": "0 + C(class_id)", "teacher": "0 + C(teacher_id)"})
    assert list(res.variance["component"]) == ["school", "class", "teacher", "Residual"]
    assert res.variance["estimate"].gt(0).all()


def test_confirmed_needs_two_agreeing_converged_fits_and_nothing_to_warn():
    from vsoko_toolkit.stats.mixed import confirmed

    assert not confirmed([cand("lbfgs", -100.0)])
    assert confirmed([cand("lbfgs", -100.0), cand("bfgs", -100.001)])
    assert not confirmed([cand("lbfgs", -100.0), cand("bfgs", -103.0)])  # the second stopped below
    assert not confirmed([cand("lbfgs", -100.0), cand("bfgs", -100.0, converged=False)])
    assert not confirmed([cand("lbfgs", -100.0, tau=1.0), cand("bfgs", -100.0, tau=2.0)])  # flat likelihood
    assert not confirmed([cand("lbfgs", np.nan), cand("bfgs", -100.0)])  # one admissible fit only


@pytest.mark.parametrize("engine", ["fast", "statsmodels"])
def test_early_stop_keeps_the_optimum_of_all_optimizers(nested_data, engine):
    """Stopping once two optimizers agree gives the estimates of the best of all five (within the engine's
    tolerance) with two fits instead of five."""
    full = fit_mixed(nested_data, "y ~ x", groups="school", vc_formula={"class": "0 + C(class_id)"},
                     engine=engine)
    fast = fit_mixed(nested_data, "y ~ x", groups="school", vc_formula={"class": "0 + C(class_id)"},
                     engine=engine, early_stop=True)
    assert len(full.candidates) == 5 and list(fast.candidates["method"]) == ["lbfgs", "bfgs"]
    assert abs(fast.llf - full.llf) < 1e-3
    np.testing.assert_allclose(fast.fixed["estimate"], full.fixed["estimate"], atol=1e-4)
    np.testing.assert_allclose(fast.variance["estimate"], full.variance["estimate"], rtol=1e-3)


# ------------------------------------------------ structured (arrowhead) solver vs dense
def unbalanced(seed=1, n_schools=25):
    """Schools with 1..7 classes of 1..40 students (padding in most groups), a slope covariate."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_schools):
        for c in range(rng.integers(1, 8)):
            rows += [(s, f"{s}-{c}")] * int(rng.integers(1, 41))
    d = pd.DataFrame(rows, columns=["school", "class_id"])
    d["x"] = rng.normal(size=len(d))
    d["prior"] = rng.normal(size=len(d))
    codes = pd.factorize(d.class_id)[0]
    d["y"] = (0.5 * d.prior + rng.normal(0, 0.5, n_schools)[d.school] * (1 + 0.3 * d.x)
              + rng.normal(0, 0.4, codes.max() + 1)[codes] + rng.normal(size=len(d)))
    return d


def _both_paths(data, re_formula):
    ss = core.suff_stats(core.design_from_formula(data, "y ~ prior + x", "school", re_formula,
                                                  {"class": "class_id"}))
    assert ss.arrow is not None
    return ss, core.dense_only(ss)


def _variances(q, rng):
    a = rng.normal(size=(q, q)) * 0.6
    return [(a @ a.T + 0.05 * np.eye(q), np.array([0.3])), (np.eye(q) * 2.0, np.array([0.0])),
            (np.zeros((q, q)), np.array([1.5])), (a @ a.T * 10, np.array([1e-4]))]


@pytest.mark.parametrize("re_formula", ["1", "1 + x"], ids=["intercept", "slope"])
@pytest.mark.parametrize("which", ["nested_data", "unbalanced"])
def test_structured_solver_equals_dense(nested_data, which, re_formula):
    """Block elimination on the arrowhead A = I + D G'G gives the dense LAPACK numbers to ~1e-10."""
    data = nested_data if which == "nested_data" else unbalanced()
    arrow, dense = _both_paths(data, re_formula)
    q = arrow.q
    if which == "unbalanced":
        assert (arrow.kind == -1).any()  # padding columns are part of the test
    for psi, gam in _variances(q, np.random.default_rng(2)):
        ld_a, M_a, fac_a, sol_a = core.gls_core(psi, gam, arrow)
        ld_d, M_d, fac_d, sol_d = core.gls_core(psi, gam, dense)
        assert isinstance(fac_a, core._ArrowFactor) and isinstance(fac_d, core._DenseFactor)
        assert ld_a == pytest.approx(ld_d, rel=1e-12, abs=1e-10)
        np.testing.assert_allclose(M_a, M_d, rtol=1e-10, atol=1e-10 * np.abs(M_d).max())
        np.testing.assert_allclose(sol_a, sol_d, rtol=1e-10, atol=1e-12 * np.abs(sol_d).max())
        np.testing.assert_allclose(fac_a.diag_d(), fac_d.diag_d(), rtol=1e-10, atol=1e-14)
        for reml in (True, False):
            assert core.profiled_llf(psi, gam, arrow, reml) == pytest.approx(
                core.profiled_llf(psi, gam, dense, reml), rel=1e-12)
            a, d = core.gls_fit(psi, gam, arrow, reml), core.gls_fit(psi, gam, dense, reml)
            for f in ("beta", "cov_beta", "scale", "llf", "blup", "blup_var", "blup_pev"):
                want = np.asarray(getattr(d, f))
                np.testing.assert_allclose(getattr(a, f), want, rtol=1e-10,
                                           atol=1e-12 * max(1.0, np.abs(want).max()), err_msg=f)


def test_structured_solver_needs_one_indicator_component(nested_data):
    d = nested_data.assign(teacher_id=nested_data.class_id % 2)
    two = core.suff_stats(core.design_from_formula(d, "y ~ x", "school", "1",
                                                   {"class": "class_id", "teacher": "teacher_id"}))
    assert two.arrow is None  # two nested components: the dense path
    none = core.suff_stats(core.design_from_formula(d, "y ~ x", "school", "1", {}))
    assert none.arrow is not None and none.arrow.c12.shape[2] == 0  # random intercepts alone
    model = MixedLM.from_formula("y ~ x", d, groups="school", re_formula="1",
                                 vc_formula={"class": "0 + x:C(class_id)"})  # weighted, one column a row
    weighted = core.suff_stats(core.design_from_statsmodels(model, ["Intercept"]))
    assert weighted.arrow is not None  # the nested block is still diagonal: the structured path holds
    for gam in (0.3, 2.0):
        assert core.profiled_llf(np.eye(1) * 0.4, np.array([gam]), weighted, True) == pytest.approx(
            core.profiled_llf(np.eye(1) * 0.4, np.array([gam]), core.dense_only(weighted), True), rel=1e-12)
    gtg = weighted.gtg.copy()
    gtg[0, 1, 2] = gtg[0, 2, 1] = 1.0  # a non-diagonal nested block
    assert core.arrow_blocks(gtg, weighted.kind, 1, 1) is None


@pytest.mark.parametrize("which", ["nested_data", "unbalanced"])
def test_whole_fit_is_the_same_on_both_paths(nested_data, which, monkeypatch):
    """fit_mixed (optimizers, inference, EB effects, integrated EB) with and without the structured solver: the
    optimizers and the Hessian run on the reference arithmetic in both (REFERENCE_FOR_DERIVATIVES), so only the
    solver differs; ~1e-10 relative (the Kackar-Harville term differentiates the EB effects numerically)."""
    data = nested_data if which == "nested_data" else unbalanced()
    kw = dict(groups="school", vc_formula=NESTED, engine="fast", integrate_eb=True)
    fast = fit_mixed(data, "y ~ prior + x", **kw)
    monkeypatch.setattr(core, "arrow_blocks", lambda *a: None)
    dense = fit_mixed(data, "y ~ prior + x", **kw)
    assert fast.llf == pytest.approx(dense.llf, rel=1e-10)
    assert fast.warning_codes == dense.warning_codes
    for name in ("fixed", "variance", "icc", "random_effects"):
        a, b = getattr(fast, name), getattr(dense, name)
        num = a.select_dtypes("number").columns
        pd.testing.assert_frame_equal(a.drop(columns=num), b.drop(columns=num))
        np.testing.assert_allclose(a[num].to_numpy(float), b[num].to_numpy(float), rtol=1e-9, atol=1e-11,
                                   err_msg=name)


# ------------------------------------------------------- design matrices without patsy
@pytest.mark.parametrize("formula", ["y ~ prior + x", "y ~ 1", "y ~ x", "y ~ 1 + prior"])
def test_plain_formula_design_equals_patsy(nested_data, formula):
    import patsy

    plain = core.plain_matrices(nested_data, formula)
    assert plain is not None
    y, X = patsy.dmatrices(formula, nested_data, return_type="dataframe")
    np.testing.assert_array_equal(plain[0], y.to_numpy().ravel())
    np.testing.assert_array_equal(plain[1], X.to_numpy())
    assert plain[2] == list(X.columns)


@pytest.mark.parametrize("formula", ["y ~ C(school) + x", "y ~ x + I(x**2)", "y ~ flag", "y ~ x - 1",
                                     "y ~ x + x", "y ~ missing_col", "y ~ x:prior"])
def test_other_formulas_go_to_patsy(nested_data, formula):
    assert core.plain_matrices(nested_data.assign(flag=nested_data.x > 0), formula) is None


def test_categorical_columns_give_patsy_s_matrices(nested_data):
    """String and integer columns inside C() become pandas categoricals for patsy: same matrix, same names."""
    import patsy

    d = nested_data.assign(subject=np.where(nested_data.x > 0, "Математика", "Русский язык"),
                           grade=nested_data.class_id + 5, unit=nested_data.school.astype(str) + "|a")
    d["subject"] = d["subject"].astype("string")
    for formula in ["y ~ prior + C(subject) * prior + C(grade)", "y ~ C(grade) + grade", "y ~ C(unit) + x",
                    "y ~ C(grade, Treatment(7)) + C(subject)"]:
        y, X = patsy.dmatrices(formula, d, return_type="dataframe")
        des = core.design_from_formula(d, formula, "school", "1", {})
        assert list(des.x_names) == list(X.columns), formula
        np.testing.assert_array_equal(des.X, X.to_numpy())
        np.testing.assert_array_equal(des.y, y.to_numpy().ravel())
