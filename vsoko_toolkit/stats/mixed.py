"""A guarded linear mixed-model engine (random intercepts, slopes, nested levels).

statsmodels ``MixedLM`` can return a wrong fit without saying so (checked on the
High School and Beyond data, see ``tests/test_mixed_hsb.py``): the default
``fit()`` stops at tau11 = 15.6 instead of 0.69; ``lbfgs`` reports convergence at
a worse optimum; some optimizers return zero variances with an infinite
log-likelihood.  :func:`fit_mixed` therefore fits the model with several
optimizers from moment-based starting values, drops inadmissible fits, keeps the
best log-likelihood and records what went wrong as :class:`EngineWarning` items
(a machine code plus a Russian sentence for the report).

Methods orchestrate; the numbers are computed by module-level functions here and
in :mod:`vsoko_toolkit.stats._mixed_fast` (the sufficient-statistics core that
also provides the fast estimator).
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM

from ..errors import FatalInputError, VsokoError, check_option
from . import _mixed_fast as core

__all__ = [
    "DEFAULT_METHODS", "ENGINES", "FAST_MIN_ROWS", "Candidate", "EngineWarning",
    "MixedEngineError", "MixedResult", "Selection", "fit_mixed", "select_best",
]

Method = Literal["lbfgs", "bfgs", "powell", "nm", "cg"]
Engine = Literal["auto", "statsmodels", "fast"]
Start = Literal["moments", "identity"]
DEFAULT_METHODS: tuple[str, ...] = ("lbfgs", "bfgs", "powell", "nm", "cg")
ENGINES: tuple[str, ...] = ("auto", "statsmodels", "fast")
STARTS: tuple[str, ...] = ("moments", "identity")
FAST_MIN_ROWS = 20_000  # 'auto' switches to the fast estimator from this many rows
LLF_TOL = 0.01  # log-likelihood units: fits closer than this are the same optimum
VAR_RTOL = 0.10  # relative spread of a variance among equally good converged fits
MAXITER = {"lbfgs": 500, "bfgs": 500, "powell": 100, "nm": 1000, "cg": 500}
_Z = float(stats.norm.ppf(0.975))


class MixedEngineError(VsokoError):
    """No optimizer produced an admissible fit."""


@dataclass(frozen=True)
class EngineWarning:
    """A diagnostic of a fit: ``code`` for programs, ``message`` (Russian) for the book."""

    code: str
    message: str
    severity: Literal["info", "warning"] = "warning"


@dataclass(frozen=True)
class Candidate:
    """One optimizer's fit, as seen by :func:`select_best`.

    ``variances`` maps component names to estimates (``"Residual"`` included;
    keys starting with ``"cov("`` are covariances and may be negative).
    ``theta`` is the relative-variance vector of :mod:`._mixed_fast` (None in tests).
    """

    method: str
    llf: float
    converged: bool
    variances: dict[str, float] = field(default_factory=dict)
    theta: np.ndarray | None = None
    error: str | None = None


@dataclass(frozen=True)
class Selection:
    """Outcome of :func:`select_best`: index of the kept fit, admissibility, warnings."""

    winner: int
    admissible: tuple[bool, ...]
    reasons: tuple[str, ...]
    warnings: tuple[EngineWarning, ...]


def inadmissible_reason(cand: Candidate) -> str:
    """Why a candidate must be dropped ('' when it is admissible)."""
    if cand.error is not None:
        return f"ошибка оптимизатора: {cand.error}"
    if not np.isfinite(cand.llf):
        return "логарифм правдоподобия не конечен"
    values = np.array(list(cand.variances.values()), dtype=float)
    if not np.all(np.isfinite(values)):
        return "не конечная оценка параметра"
    if any(v < 0 for k, v in cand.variances.items() if not k.startswith("cov(")):
        return "отрицательная оценка дисперсии"
    if cand.variances.get("Residual", 1.0) <= 0:
        return "нулевая остаточная дисперсия"
    return ""


def select_best(candidates: Sequence[Candidate], llf_tol: float = LLF_TOL,
                var_rtol: float = VAR_RTOL) -> Selection:
    """Keep the admissible fit with the highest log-likelihood and explain disagreements.

    A fit is dropped when its log-likelihood or any parameter is not finite or a
    variance is negative.  Among the rest the highest log-likelihood wins; a
    non-converged winner gives way to a converged fit within ``llf_tol`` of it.
    Warnings: dropped fits (``dropped_fit``, info), fits that stopped more than
    ``llf_tol`` below the best (``optimizer_disagreement``: info when another
    optimizer confirms the best, else warning), converged fits within ``llf_tol``
    whose variances differ by more than ``var_rtol`` (``variance_disagreement``)
    and a non-converged winner (``not_converged``).

    Raises
    ------
    MixedEngineError
        When no candidate is admissible.
    """
    reasons = tuple(inadmissible_reason(c) for c in candidates)
    ok = tuple(r == "" for r in reasons)
    if not any(ok):
        detail = "; ".join(f"{c.method}: {r}" for c, r in zip(candidates, reasons, strict=True))
        raise MixedEngineError(f"Ни один оптимизатор не дал допустимого решения ({detail}).")
    idx = [i for i in range(len(candidates)) if ok[i]]
    best = max(idx, key=lambda i: candidates[i].llf)
    top = candidates[best].llf
    if not candidates[best].converged:
        near = [i for i in idx if candidates[i].converged and top - candidates[i].llf <= llf_tol]
        if near:
            best = max(near, key=lambda i: candidates[i].llf)
    win = candidates[best]
    out = [EngineWarning("dropped_fit", f"Решение оптимизатора {c.method} отброшено: {r}.", "info")
           for c, r in zip(candidates, reasons, strict=True) if r]
    worse = [i for i in idx if top - candidates[i].llf > llf_tol]
    confirm = [candidates[i].method for i in idx
               if i != best and abs(top - candidates[i].llf) <= llf_tol]
    if worse:
        names = ", ".join(candidates[i].method for i in worse)
        gap = max(top - candidates[i].llf for i in worse)
        false_conv = [candidates[i].method for i in worse if candidates[i].converged]
        text = (f"Оптимизаторы разошлись: худшее решение дали {names} (логарифм правдоподобия "
                f"ниже лучшего на {gap:.3g})")
        if false_conv:
            text += f", причём о сходимости сообщили: {', '.join(false_conv)}"
        text += f". Оставлено лучшее решение ({win.method}); "
        text += (f"его подтверждают: {', '.join(confirm)}." if confirm else
                 "другие оптимизаторы его не подтвердили, результат стоит перепроверить.")
        out.append(EngineWarning("optimizer_disagreement", text,
                                 "info" if confirm else "warning"))
    peers = [i for i in idx if candidates[i].converged and top - candidates[i].llf <= llf_tol]
    floor = 1e-3 * sum(v for k, v in win.variances.items() if not k.startswith("cov("))
    for comp, ref in win.variances.items():
        if comp.startswith("cov(") or len(peers) < 2:
            continue
        vals = [candidates[i].variances.get(comp, np.nan) for i in peers]
        spread = np.nanmax(vals) - np.nanmin(vals)
        if spread > var_rtol * max(abs(ref), floor):
            out.append(EngineWarning(
                "variance_disagreement",
                f"Оптимизаторы с практически одинаковым правдоподобием дают разные оценки "
                f"дисперсии «{comp}»: от {np.nanmin(vals):.3g} до {np.nanmax(vals):.3g}. "
                "Правдоподобие почти плоское, эта оценка ненадёжна."))
    if not win.converged:
        out.append(EngineWarning(
            "not_converged", f"Лучшее решение ({win.method}) получено без подтверждённой "
            "сходимости оптимизатора; оценки могут быть неточными."))
    return Selection(winner=best, admissible=ok, reasons=reasons, warnings=tuple(out))


def confirmed(candidates: Sequence[Candidate], llf_tol: float = LLF_TOL, var_rtol: float = VAR_RTOL) -> bool:
    """Two different optimizers converged to the same optimum: the best admissible fit is converged, another
    converged fit is within ``llf_tol`` of it, and :func:`select_best` has nothing to warn about (no variance
    disagreement, no fit that stopped below the best). The other optimizers could only confirm it again."""
    if len(candidates) < 2:
        return False
    try:
        sel = select_best(candidates, llf_tol, var_rtol)
    except MixedEngineError:
        return False
    win = candidates[sel.winner]
    agree = [c for c, ok in zip(candidates, sel.admissible, strict=True)
             if ok and c.converged and abs(win.llf - c.llf) <= llf_tol]
    return win.converged and len(agree) >= 2 and all(w.severity == "info" for w in sel.warnings)


def candidates_table(candidates: Sequence[Candidate], sel: Selection) -> pd.DataFrame:
    """Columns: method, llf, converged, finite, kept, reason."""
    return pd.DataFrame({
        "method": [c.method for c in candidates],
        "llf": [c.llf for c in candidates],
        "converged": [c.converged for c in candidates],
        "finite": list(sel.admissible),
        "kept": [i == sel.winner for i in range(len(candidates))],
        "reason": list(sel.reasons),
    })


# --------------------------------------------------------------------------- names
def component_names(groups: str, re_names: Sequence[str], vc_names: Sequence[str]):
    """Names of the variances (terms, nested components) and of the covariances."""
    terms = [groups if t == "Intercept" else f"{groups}:{t}" for t in re_names]
    covs = {(a, b): f"cov({terms[b]}, {terms[a]})"
            for a in range(len(terms)) for b in range(a)}
    return terms, covs, list(vc_names)


def variances_dict(psi, gam, scale, names) -> dict[str, float]:
    """All variance parameters on the data scale, keyed by component name."""
    terms, covs, vcs = names
    out = {t: float(scale * psi[j, j]) for j, t in enumerate(terms)}
    out.update({c: float(scale * psi[a, b]) for (a, b), c in covs.items()})
    out.update({v: float(scale * gam[k]) for k, v in enumerate(vcs)})
    out["Residual"] = float(scale)
    return out


# ---------------------------------------------------------------- candidate fits
def candidate_from_statsmodels(method: str, res, names) -> Candidate:
    """A :class:`Candidate` from a statsmodels ``MixedLMResults`` (values as reported)."""
    scale = float(res.scale)
    psi = np.asarray(res.cov_re, float) / scale
    gam = np.asarray(res.vcomp, float) / scale
    var = variances_dict(psi, gam, scale, names)
    ok = np.isfinite(psi).all() and np.isfinite(gam).all() and scale > 0
    theta = core.pack_theta(psi, gam) if ok else None
    return Candidate(method, float(res.llf), bool(res.converged), var, theta)


def statsmodels_candidates(model: MixedLM, methods: Sequence[str], theta0: np.ndarray,
                           reml: bool, names, early_stop: bool = False) -> list[Candidate]:
    """Fit ``model`` once per method from ``theta0``; 'nm' is Nelder–Mead then a BFGS polish. With
    ``early_stop`` the remaining methods are skipped once two fits confirm each other (:func:`confirmed`)."""
    out = []
    for method in methods:
        if early_stop and confirmed(out):
            break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = model.fit(start_params=theta0, reml=reml, method=[method],
                                maxiter=MAXITER[method])
                if method == "nm":
                    res = model.fit(start_params=res.params_object, reml=reml,
                                    method=["bfgs"], maxiter=MAXITER["bfgs"])
            out.append(candidate_from_statsmodels(method, res, names))
        except Exception as err:  # noqa: BLE001 - any optimizer failure is a dropped fit
            out.append(Candidate(method, np.nan, False, {}, None, f"{type(err).__name__}: {err}"))
    return out


def fast_candidates(ss: core.SuffStats, methods: Sequence[str], theta0: np.ndarray,
                    reml: bool, names, early_stop: bool = False) -> list[Candidate]:
    """The fast estimator: each method optimises the profiled (RE)ML with scipy (``early_stop``: as in
    :func:`statsmodels_candidates`)."""
    out = []
    for method in methods:
        if early_stop and confirmed(out):
            break
        try:
            theta, llf, conv = core.fast_candidate(ss, method, theta0, reml, MAXITER[method])
            psi, gam = core.unpack_theta(theta, ss.q)
            scale = core.gls_fit(psi, gam, core.reference(ss), reml).scale
            out.append(Candidate(method, llf, conv, variances_dict(psi, gam, scale, names),
                                 theta))
        except Exception as err:  # noqa: BLE001
            out.append(Candidate(method, np.nan, False, {}, None, f"{type(err).__name__}: {err}"))
    return out


# ------------------------------------------------------------- tables at the optimum
def fixed_table(gls: core.GlsFit, x_names: Sequence[str]) -> pd.DataFrame:
    """Columns: term, estimate, se, ci_low, ci_high, p_value (Wald, normal reference)."""
    se = np.sqrt(np.diag(gls.cov_beta))
    est = gls.beta
    return pd.DataFrame({"term": list(x_names), "estimate": est, "se": se,
                         "ci_low": est - _Z * se, "ci_high": est + _Z * se,
                         "p_value": 2 * stats.norm.sf(np.abs(est / se))})


def variance_table(names, eta, cov, to_abs) -> pd.DataFrame:
    """Columns: component, estimate, se, ci_low, ci_high.

    Variances: Wald interval for the log variance, exponentiated (a component at
    zero gets ``[0, NaN]``); covariances: delta-method Wald interval.
    """
    terms, covs, vcs = names
    rows = []

    def pick(kind, a, b=None):
        def f(e):
            s2, psi, gam = to_abs(e)
            if kind == "s2":
                return s2
            if kind == "gam":
                return gam[a]
            return psi[a, b if b is not None else a]
        return f

    items = [(t, pick("psi", j)) for j, t in enumerate(terms)]
    items += [(c, pick("psi", a, b)) for (a, b), c in covs.items()]
    items += [(v, pick("gam", k)) for k, v in enumerate(vcs)]
    items += [("Residual", pick("s2", 0))]
    for comp, fun in items:
        est = fun(eta)
        if comp.startswith("cov("):
            _, se = core.delta_se(fun, eta, cov)
            lo, hi = est - _Z * se, est + _Z * se
        elif est <= 0:
            se, lo, hi = np.nan, 0.0, np.nan
        else:
            _, se_log = core.delta_se(lambda e, f=fun: np.log(f(e)), eta, cov)
            with np.errstate(over="ignore"):  # a huge SE on the log scale: an unbounded interval
                se, lo, hi = est * se_log, est * np.exp(-_Z * se_log), est * np.exp(_Z * se_log)
        rows.append((comp, est, se, lo, hi))
    return pd.DataFrame(rows, columns=["component", "estimate", "se", "ci_low", "ci_high"])


def icc_table(names, re_names, eta, cov, to_abs) -> pd.DataFrame:
    """Columns: level, estimate, ci_low, ci_high — each level's share of the total variance.

    Intercept variances only (with random slopes: at slope covariates equal to 0);
    the interval is a delta-method Wald interval on the logit scale.
    """
    terms, _, vcs = names
    levels = []
    if "Intercept" in re_names:
        levels.append((terms[list(re_names).index("Intercept")], "psi",
                       list(re_names).index("Intercept")))
    levels += [(v, "gam", k) for k, v in enumerate(vcs)]

    def parts(e):
        s2, psi, gam = to_abs(e)
        comp = [psi[j, j] if kind == "psi" else gam[j] for _, kind, j in levels]
        return np.array(comp), s2

    rows = []
    for i, (name, _, _) in enumerate(levels):
        comp, s2 = parts(eta)
        total = comp.sum() + s2
        est = comp[i] / total
        if est <= 0:
            rows.append((name, 0.0, 0.0, np.nan))
            continue

        def logit(e, i=i):
            c, s = parts(e)
            return np.log(c[i]) - np.log(c.sum() - c[i] + s)

        val, se = core.delta_se(logit, eta, cov)
        with np.errstate(over="ignore"):  # a huge SE gives the whole [0, 1] range, as it should
            rows.append((name, est, 1 / (1 + np.exp(-(val - _Z * se))),
                         1 / (1 + np.exp(-(val + _Z * se)))))
    return pd.DataFrame(rows, columns=["level", "estimate", "ci_low", "ci_high"])


def random_effects_table(design: core.Design, gls: core.GlsFit, names,
                         var_theta: np.ndarray | None = None,
                         integrated: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Columns: group, component, unit, term, estimate, se, ci_low, ci_high, se_pred (EB / BLUP).

    ``se`` is the conditional (posterior) standard deviation given the fixed effects
    and the variance estimates, as lme4's ``condVar`` and statsmodels'
    ``random_effects_cov``; ``ci_low``/``ci_high`` are built on it.  It understates
    the error of the EB effect as a predictor of the unit's true effect: ``se_pred``
    is the root prediction error variance ``E(u_hat - u)^2`` that also counts the
    estimated fixed effects (Henderson's ``C22`` block of the inverted mixed-model
    equations) and, when ``var_theta`` is given, the estimated variances
    (Kackar–Harville first-order term).  Use ``se_pred`` for intervals meant to
    cover the units' true effects.  With ``integrated`` (``(mean, var)`` from
    :func:`~vsoko_toolkit.stats._mixed_fast.integrated_eb`) two more columns:
    ``estimate_int``, ``se_int`` — the effects' posterior mean and standard
    deviation with the outer groups' variance integrated out.
    """
    terms, _, vcs = names
    comp_names = np.array(list(design.re_names) + vcs, dtype=object)
    comp = comp_names[design.col_kind]
    unit = design.col_unit
    term = np.where(design.col_kind < len(terms), comp,
                    np.array([f"{c}[{u}]" for c, u in zip(comp, unit, strict=True)], dtype=object))
    est = gls.blup[design.col_group, design.col_local]
    se = np.sqrt(gls.blup_var[design.col_group, design.col_local])
    pev = gls.blup_pev + (var_theta if var_theta is not None else 0.0)
    out = pd.DataFrame({"group": design.group_labels[design.col_group], "component": comp,
                        "unit": unit, "term": term, "estimate": est, "se": se,
                        "ci_low": est - _Z * se, "ci_high": est + _Z * se,
                        "se_pred": np.sqrt(pev[design.col_group, design.col_local])})
    if integrated is not None:
        out["estimate_int"] = integrated[0][design.col_group, design.col_local]
        out["se_int"] = np.sqrt(integrated[1][design.col_group, design.col_local])
    return out


def inference_warnings(boundary, psi, names, pd_ok: bool) -> list[EngineWarning]:
    """Boundary variances, +-1 correlations and a non-definite information matrix."""
    terms, covs, vcs = names
    out = []
    for comp, flag in zip(terms + vcs, boundary, strict=True):
        if flag:
            out.append(EngineWarning(
                "boundary", f"Дисперсия «{comp}» оценена как нулевая (на границе допустимой "
                "области): разброс на этом уровне по данным не отличим от нуля; верхняя граница "
                "интервала для неё не строится."))
    for (a, b), comp in covs.items():
        if boundary[a] or boundary[b]:
            continue
        r = psi[a, b] / np.sqrt(psi[a, a] * psi[b, b])
        if abs(r) >= 0.999:
            out.append(EngineWarning(
                "singular_covariance", f"Корреляция случайных эффектов в «{comp}» оценена как "
                f"{r:+.3f}: ковариационная матрица вырождена, модель, вероятно, избыточна."))
    if not pd_ok:
        out.append(EngineWarning(
            "hessian_not_pd", "Матрица вторых производных логарифма правдоподобия в найденной "
            "точке не отрицательно определена: это может быть седловая точка или плоский "
            "участок; интервалы для дисперсий ненадёжны."))
    return out


# -------------------------------------------------------------------- the result
@dataclass(frozen=True, eq=False)
class MixedResult:
    """Result of :func:`fit_mixed` (immutable).

    Attributes
    ----------
    fixed : DataFrame
        term, estimate, se, ci_low, ci_high, p_value — GLS estimates at the kept
        variances; Wald 95 % intervals and two-sided p-values on the normal.
    variance : DataFrame
        component, estimate, se, ci_low, ci_high.  Variances: 95 % Wald interval
        of the log variance from the numerical Hessian of the (RE)ML
        log-likelihood (fixed effects profiled out), exponentiated; a variance on
        the boundary is reported as 0 with ``[0, NaN]``.  Covariances:
        delta-method Wald interval.
        ``Residual`` is sigma^2.
    icc : DataFrame
        level, estimate, ci_low, ci_high — each level's share of the total
        variance (intercept variances; with random slopes at slope covariates 0),
        interval on the logit scale by the delta method.  For nested levels the
        intra-class correlation of two students of one class is the sum of the
        class and school shares.
    llf : float
        (RE)ML log-likelihood, statsmodels' constants.
    reml, method, converged, engine : the criterion, the optimizer that won,
        its convergence flag, and the engine used (``statsmodels`` or ``fast``).
    warnings : list of EngineWarning
    n_obs : int
    n_groups : dict
        Number of units per level (outer groups, then nested components).
    random_effects : DataFrame
        group, component, unit, term, estimate, se, ci_low, ci_high, se_pred —
        empirical Bayes (BLUP) effects with conditional standard errors (``se``,
        the interval) and prediction standard errors that add the uncertainty of
        the fixed effects and of the variances (``se_pred``; see
        :func:`random_effects_table`).
    candidates : DataFrame
        method, llf, converged, finite, kept, reason — every optimizer tried.
    """

    fixed: pd.DataFrame
    variance: pd.DataFrame
    icc: pd.DataFrame
    llf: float
    reml: bool
    method: str
    converged: bool
    warnings: list[EngineWarning]
    n_obs: int
    n_groups: dict[str, int]
    random_effects: pd.DataFrame
    candidates: pd.DataFrame
    engine: str = "statsmodels"
    formula: str = ""

    @property
    def warning_codes(self) -> list[str]:
        """Machine codes of :attr:`warnings`."""
        return [w.code for w in self.warnings]

    def tidy(self) -> pd.DataFrame:
        """One table: kind ('fixed'|'variance'), term, estimate, se, ci_low, ci_high, p_value."""
        return tidy_table(self.fixed, self.variance)

    def _repr_html_(self) -> str:
        return render_html(self)


def tidy_table(fixed: pd.DataFrame, variance: pd.DataFrame) -> pd.DataFrame:
    """Stack fixed effects and variance components under a ``kind`` column."""
    f = fixed.assign(kind="fixed")
    v = variance.rename(columns={"component": "term"}).assign(kind="variance", p_value=np.nan)
    cols = ["kind", "term", "estimate", "se", "ci_low", "ci_high", "p_value"]
    return pd.concat([f[cols], v[cols]], ignore_index=True)


def render_html(res: MixedResult) -> str:
    """Notebook view: header, the tidy table, ICC and the warnings."""
    crit = "REML" if res.reml else "ML"
    groups = ", ".join(f"{k}: {v}" for k, v in res.n_groups.items())
    head = (f"<p><b>Смешанная модель</b> <code>{html.escape(res.formula)}</code> — {crit}, "
            f"движок {res.engine}, оптимизатор {res.method}, n = {res.n_obs} ({groups}), "
            f"log L = {res.llf:.3f}</p>")
    warn = "".join(f"<li>[{w.severity}] {html.escape(w.message)}</li>" for w in res.warnings)
    return (head + res.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}")
            + res.icc.to_html(index=False, float_format=lambda x: f"{x:.3g}")
            + (f"<ul>{warn}</ul>" if warn else ""))


# ------------------------------------------------------------------- entry point
def model_frame(data: pd.DataFrame, formulas: Sequence[str | None], groups: str) -> pd.DataFrame:
    """Copy of the columns the formulas name (plus ``groups``), rows with any NA dropped."""
    if groups not in data.columns:
        raise FatalInputError(f"В данных нет столбца группировки {groups!r}.")
    text = " ".join(f for f in formulas if f)
    used = [c for c in data.columns
            if c == groups or re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w])", text)]
    frame = data.loc[:, used].dropna()
    if frame.empty:
        raise FatalInputError("После удаления строк с пропусками не осталось данных для модели.")
    return frame.reset_index(drop=True)


def choose_engine(engine: str, n_obs: int, fast_ok: bool) -> str:
    """'auto': the fast estimator from FAST_MIN_ROWS rows when the structure allows it."""
    if engine == "fast" and not fast_ok:
        raise FatalInputError(
            "Быстрый движок поддерживает случайные эффекты групп (re_formula) и вложенные "
            "случайные свободные члены вида '0 + C(столбец)' в vc_formula; для другой "
            "структуры используйте engine='statsmodels'.")
    if engine == "auto":
        return "fast" if fast_ok and n_obs >= FAST_MIN_ROWS else "statsmodels"
    return engine


def fit_mixed(data: pd.DataFrame, formula: str, groups: str, re_formula: str | None = None,
              vc_formula: dict[str, str] | None = None, reml: bool = True,
              methods: Sequence[Method] | None = None, engine: Engine = "auto",
              start: Start = "moments", integrate_eb: bool = False, early_stop: bool = False) -> MixedResult:
    """Fit a linear mixed model with several optimizers and keep the best admissible fit.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per observation (not modified).
    formula : str
        Fixed part, patsy syntax (``"score ~ prior + C(sex)"``).
    groups : str
        Column of the outer level (school).
    re_formula : str, optional
        Random effects of the outer level (``"~cses"`` adds a random slope);
        default: a random intercept (also when ``vc_formula`` is given).
    vc_formula : dict, optional
        Nested levels, ``{"class": "0 + C(class_id)"}`` (ids unique within school).
    reml : bool
        REML (default) or ML.
    methods : sequence of {'lbfgs', 'bfgs', 'powell', 'nm', 'cg'}, optional
        Optimizers to try (default: all; ``'nm'`` is Nelder–Mead polished by BFGS).
    engine : {'auto', 'statsmodels', 'fast'}
        ``'auto'`` uses statsmodels below ``FAST_MIN_ROWS`` (20 000) rows and the
        sufficient-statistics estimator from there on when the structure allows
        (random effects of the outer level plus nested random intercepts).
    start : {'moments', 'identity'}
        Starting variances: one-way ANOVA ratios of OLS residuals (default), or
        statsmodels' own default (all relative variances 1) — kept to reproduce
        and test the failures that start produces.
    integrate_eb : bool
        Also report the EB effects with the outer groups' intercept variance
        integrated out under a flat prior (columns ``estimate_int``, ``se_int`` of
        ``random_effects``; see :func:`~vsoko_toolkit.stats._mixed_fast.integrated_eb`).
        Random intercept of the outer level only (no ``re_formula`` slopes).
    early_stop : bool
        Try the ``methods`` in order and stop as soon as two of them converge to the same optimum with nothing
        to warn about (:func:`confirmed`); the others run only when the first ones disagree, fail or stop early.
        The kept fit is then one of two agreeing optimizers instead of the best of all (the same optimum within
        ``LLF_TOL``); the candidates table lists the methods that ran.

    Returns
    -------
    MixedResult

    Notes
    -----
    Each optimizer starts from one-way ANOVA variance ratios of OLS residuals
    (``start='moments'``).
    Fits with a non-finite log-likelihood, non-finite parameters or negative
    variances are dropped; the highest log-likelihood is kept (see
    :func:`select_best`).  Fixed effects, variance intervals and empirical-Bayes
    effects are then computed from per-group sufficient statistics at the kept
    variances, with the same log-likelihood as statsmodels.  Validated against
    Raudenbush & Bryk (2002), Tables 4.2–4.5 (High School and Beyond), and the
    fast estimator against statsmodels (``tests/test_mixed_*.py``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"school": np.repeat(np.arange(30), 20)})
    >>> d["y"] = rng.normal(size=30)[d.school] + rng.normal(size=600)
    >>> res = fit_mixed(d, "y ~ 1", groups="school")
    >>> list(res.tidy().columns)
    ['kind', 'term', 'estimate', 'se', 'ci_low', 'ci_high', 'p_value']
    """
    check_option("engine", engine, ENGINES)
    check_option("start", start, STARTS)
    methods = tuple(methods) if methods is not None else DEFAULT_METHODS
    if not methods:
        raise FatalInputError("Нужен хотя бы один оптимизатор в methods.")
    for m in methods:
        check_option("methods", m, DEFAULT_METHODS)
    if vc_formula and re_formula is None:
        re_formula = "1"
    frame = model_frame(data, [formula, re_formula, *(vc_formula or {}).values()], groups)
    nested = core.parse_nested_vc(vc_formula)
    used = choose_engine(engine, len(frame), nested is not None)
    if used == "fast":
        design = core.design_from_formula(frame, formula, groups, re_formula, nested)
    else:
        re_names = core.patsy.dmatrix(re_formula or "1", frame).design_info.column_names
        model = MixedLM.from_formula(formula, frame, re_formula=re_formula,
                                     vc_formula=vc_formula, groups=groups)
        design = core.design_from_statsmodels(model, re_names)
    ss = core.suff_stats(design)
    names = component_names(groups, design.re_names, design.vc_names)
    theta0 = (core.start_theta(design, ss) if start == "moments"
              else core.pack_theta(np.eye(ss.q), np.ones(ss.k)))
    if used == "fast":
        cands = fast_candidates(ss, methods, theta0, reml, names, early_stop)
    else:
        cands = statsmodels_candidates(model, methods, theta0, reml, names, early_stop)
    sel = select_best(cands)
    if integrate_eb and ss.q != 1:
        raise FatalInputError("integrate_eb: нужен ровно один случайный эффект группы (свободный член).")
    return summarise_fit(design, ss, cands, sel, names, reml, used, formula, groups, integrate_eb)


def summarise_fit(design, ss, cands, sel: Selection, names, reml: bool, engine: str,
                  formula: str, groups: str, integrate_eb: bool = False) -> MixedResult:
    """All tables and warnings at the kept candidate."""
    win = cands[sel.winner]
    psi, gam = core.unpack_theta(win.theta, ss.q)
    gls = core.gls_fit(psi, gam, core.reference(ss), reml)  # its scale is where the Hessian is taken
    warn = list(sel.warnings)
    if abs(gls.llf - win.llf) > 1e-6 * max(1.0, abs(win.llf)):
        warn.append(EngineWarning(
            "llf_mismatch", f"Логарифм правдоподобия, пересчитанный движком ({gls.llf:.4f}), "
            f"не совпал с сообщённым оптимизатором ({win.llf:.4f})."))
    kind_scale = np.array([
        float(design.G[:, design.col_kind == j].power(2).sum()) / ss.n
        for j in range(ss.q + ss.k)])
    boundary = core.boundary_flags(psi, gam, kind_scale, ss.q)
    eta, cov, to_abs, pd_ok = core.variance_inference(ss, psi, gam, gls.scale, boundary, reml)
    warn += inference_warnings(boundary, psi, names, pd_ok)
    counts = {groups: len(design.group_labels)}
    for k, v in enumerate(design.vc_names):
        counts[v] = int(np.sum(design.col_kind == ss.q + k))
    return MixedResult(
        fixed=fixed_table(gls, design.x_names),
        variance=variance_table(names, eta, cov, to_abs),
        icc=icc_table(names, design.re_names, eta, cov, to_abs),
        llf=gls.llf, reml=reml, method=win.method, converged=win.converged, warnings=warn,
        n_obs=ss.n, n_groups=counts,
        random_effects=random_effects_table(
            design, gls, names, core.blup_variance_from_eta(ss, eta, cov, to_abs, reml),
            core.integrated_eb(ss, psi, gam, gls.scale, reml) if integrate_eb else None),
        candidates=candidates_table(cands, sel), engine=engine, formula=formula,
    )
