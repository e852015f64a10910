"""Numerical core of the mixed-model engine: (RE)ML from per-group sufficient statistics.

The model is ``y = X b + G_i u_i + e`` for outer groups ``i`` (schools), where the
columns of ``G_i`` are the random-effect terms of the group (intercept, slopes)
followed by indicator columns of nested units (classes, one block per variance
component).  ``u_i ~ N(0, s2 * D_i)`` with ``D_i = blockdiag(Psi, g_1 I, g_2 I, ...)``
expressed *relative to* the residual variance ``s2``, as in statsmodels.

Everything the likelihood needs is reduced once to ``G_i'G_i``, ``G_i'X``,
``G_i'y`` per group and ``X'X``, ``X'y``, ``y'y`` overall, so one evaluation costs
``O(m r^3)`` (``m`` groups, ``r`` random effects per group) whatever the number of
rows.  With ``A_i = I + D_i G_i'G_i``:

* ``log|V_i/s2| = log|A_i|`` (Sylvester), ``V_i^{-1} s2 = I - G_i A_i^{-1} D_i G_i'``;
* ``X'V^{-1}X``, ``X'V^{-1}y``, ``y'V^{-1}y`` follow from the group sums;
* the empirical-Bayes (BLUP) effects are ``A_i^{-1} D_i G_i'(y_i - X_i b)`` with
  conditional covariance ``s2 A_i^{-1} D_i``.

The profiled log-likelihoods match statsmodels ``MixedLM.loglike`` term for term
(same constants), which the tests check.  This module also holds the optional
fast estimator (the same objective optimised with scipy, without statsmodels)
and the inference at the optimum: boundary detection and the observed
information of the log-variances (numerical Hessian of the (RE)ML
log-likelihood with the fixed effects profiled out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
import scipy.sparse as sp
from scipy import optimize
from statsmodels.tools.numdiff import approx_hess3

_LOG2PI = float(np.log(2 * np.pi))
_NESTED_VC = re.compile(r"^\s*0\s*\+\s*C\(\s*([A-Za-z_][\w]*)\s*\)\s*$")


@dataclass(frozen=True)
class Design:
    """Row-level model matrices in the engine's layout (see module docstring)."""

    y: np.ndarray
    X: np.ndarray
    x_names: tuple[str, ...]
    group_labels: np.ndarray  # (m,) outer-group labels
    row_group: np.ndarray  # (n,) group index of each row
    re_names: tuple[str, ...]  # q random-effect terms of the outer group
    vc_names: tuple[str, ...]  # K nested variance components
    G: sp.csr_matrix  # (n, T) all random-effect columns, block per group
    col_group: np.ndarray  # (T,) group index of each column
    col_local: np.ndarray  # (T,) position inside the group's block
    col_kind: np.ndarray  # (T,) 0..q-1 random-effect term, q..q+K-1 variance component
    col_unit: np.ndarray  # (T,) unit label (group label for terms, class label for vc)


@dataclass(frozen=True)
class SuffStats:
    """Per-group sufficient statistics, zero-padded to ``r`` columns per group."""

    n: int
    p: int
    q: int
    k: int
    xtx: np.ndarray
    xty: np.ndarray
    yty: float
    gtg: np.ndarray  # (m, r, r)
    gtx: np.ndarray  # (m, r, p)
    gty: np.ndarray  # (m, r)
    kind: np.ndarray  # (m, r), -1 for padding


def parse_nested_vc(vc_formula: dict[str, str] | None) -> dict[str, str] | None:
    """Return ``{name: column}`` when every vc formula is ``'0 + C(column)'``, else None."""
    out: dict[str, str] = {}
    for name, formula in (vc_formula or {}).items():
        match = _NESTED_VC.match(formula)
        if match is None:
            return None
        out[name] = match.group(1)
    return out


def _unit_label(value) -> str:
    """Unit label as text; statsmodels' ``C(col)[level]`` column names become ``level``."""
    text = str(value)
    match = re.match(r"^C\(.*\)\[(?:T\.)?(.*)\]$", text)
    return match.group(1) if match else text


def _finish(y, X, x_names, g_labels, row_group, re_names, vc_names, rows, cols_key, vals,
            kinds, units) -> Design:
    """Number the (group, local) column keys and build the sparse random-effects design."""
    key = np.vstack(cols_key).astype(np.int64)
    width = int(key[:, 1].max()) + 1 if len(key) else 1
    flat_keys, col_idx = np.unique(key[:, 0] * width + key[:, 1], return_inverse=True)
    col_idx = col_idx.ravel()
    ukey = np.column_stack([flat_keys // width, flat_keys % width])
    T = len(ukey)
    col_kind = np.empty(T, dtype=np.int64)
    col_kind[col_idx] = np.concatenate(kinds)
    raw = np.empty(T, dtype=object)
    raw[col_idx] = np.concatenate(units)
    col_unit = np.array([_unit_label(u) for u in raw], dtype=object)
    n = len(y)
    G = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), col_idx)), shape=(n, T))
    return Design(
        y=np.asarray(y, float), X=np.asarray(X, float), x_names=tuple(x_names),
        group_labels=np.asarray(g_labels), row_group=np.asarray(row_group, dtype=np.int64),
        re_names=tuple(re_names), vc_names=tuple(vc_names), G=G, col_group=ukey[:, 0],
        col_local=ukey[:, 1], col_kind=col_kind, col_unit=col_unit,
    )


def _assemble(y, X, x_names, g_codes, g_labels, Z, re_names, vc_codes, vc_names, vc_units):
    """Vectorised design for random terms ``Z`` plus nested unit indicators ``vc_codes``."""
    n, q = Z.shape
    m = len(g_labels)
    labels = np.asarray(g_labels, dtype=object)[g_codes]
    rows, keys, vals, kinds, units = [], [], [], [], []
    for j in range(q):
        rows.append(np.arange(n))
        keys.append(np.column_stack([g_codes, np.full(n, j)]))
        vals.append(np.asarray(Z[:, j], float))
        kinds.append(np.full(n, j))
        units.append(labels)
    offset = np.full(m, q)
    for k, codes in enumerate(vc_codes):
        codes = np.asarray(codes, dtype=np.int64)
        span = int(codes.max()) + 1
        pair_codes, uniques = pd.factorize(g_codes.astype(np.int64) * span + codes)
        ugroups = np.asarray(uniques, dtype=np.int64) // span
        order = np.argsort(ugroups, kind="stable")
        counts = np.bincount(ugroups, minlength=m)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        local = np.empty(len(uniques), dtype=np.int64)
        local[order] = np.arange(len(uniques)) - np.repeat(starts, counts)
        local += offset[ugroups]
        offset = offset + counts
        rows.append(np.arange(n))
        keys.append(np.column_stack([g_codes, local[pair_codes]]))
        vals.append(np.ones(n))
        kinds.append(np.full(n, q + k))
        units.append(np.asarray(vc_units[k], dtype=object))
    return _finish(y, X, x_names, g_labels, g_codes, re_names, vc_names, rows, keys, vals,
                   kinds, units)


def design_from_formula(data: pd.DataFrame, formula: str, groups: str, re_formula: str | None,
                        vc_columns: dict[str, str]) -> Design:
    """Build the design with patsy (no statsmodels); vc components are nested intercepts."""
    y, X = patsy.dmatrices(formula, data, return_type="dataframe", NA_action="raise")
    Z = patsy.dmatrix(re_formula or "1", data, return_type="dataframe", NA_action="raise")
    g_codes, g_labels = pd.factorize(data[groups], sort=True)
    vc_codes = [pd.factorize(data[col], sort=True)[0] for col in vc_columns.values()]
    vc_units = [data[col].to_numpy() for col in vc_columns.values()]
    return _assemble(y.to_numpy().ravel(), X.to_numpy(), X.columns, g_codes, np.asarray(g_labels),
                     Z.to_numpy(), list(Z.columns), vc_codes, list(vc_columns), vc_units)


def design_from_statsmodels(model, re_names: list[str]) -> Design:
    """Build the design from a statsmodels ``MixedLM`` (any ``vc_formula``), block by block."""
    n = model.endog.shape[0]
    q = model.k_re
    names = list(model.exog_vc.names) if model.k_vc else []
    row_group = np.empty(n, dtype=np.int64)
    rows, keys, vals, kinds, units = [], [], [], [], []
    for i, label in enumerate(model.group_labels):
        idx = np.asarray(model.row_indices[label])
        row_group[idx] = i
        parts = [np.asarray(model.exog_re_li[i])] if q else []
        kind = list(range(q))
        unit = [label] * q
        for k in range(len(names)):
            mat = model.exog_vc.mats[k][i]
            mat = mat.toarray() if sp.issparse(mat) else np.asarray(mat)
            parts.append(mat)
            kind += [q + k] * mat.shape[1]
            unit += list(model.exog_vc.colnames[k][i])
        block = np.hstack(parts) if parts else np.zeros((len(idx), 0))
        rr, cc = np.nonzero(block)
        rows.append(idx[rr])
        keys.append(np.column_stack([np.full(len(cc), i), cc]))
        vals.append(block[rr, cc])
        kinds.append(np.asarray(kind, dtype=np.int64)[cc])
        units.append(np.asarray(unit, dtype=object)[cc])
    return _finish(model.endog, model.exog, model.exog_names[: model.k_fe], model.group_labels,
                   row_group, re_names, names, rows, keys, vals, kinds, units)


def suff_stats(design: Design) -> SuffStats:
    """Reduce a design to per-group sufficient statistics (done once per fit)."""
    G, X, y = design.G, design.X, design.y
    m = len(design.group_labels)
    r = int(design.col_local.max()) + 1 if len(design.col_local) else 0
    q, k = len(design.re_names), len(design.vc_names)
    gtg_sp = (G.T @ G).tocoo()
    gtg = np.zeros((m, r, r))
    gtg[design.col_group[gtg_sp.row], design.col_local[gtg_sp.row],
        design.col_local[gtg_sp.col]] = gtg_sp.data
    gtx = np.zeros((m, r, X.shape[1]))
    gtx[design.col_group, design.col_local] = np.asarray(G.T @ X)
    gty = np.zeros((m, r))
    gty[design.col_group, design.col_local] = G.T @ y
    kind = np.full((m, r), -1)
    kind[design.col_group, design.col_local] = design.col_kind
    return SuffStats(n=len(y), p=X.shape[1], q=q, k=k, xtx=X.T @ X, xty=X.T @ y,
                     yty=float(y @ y), gtg=gtg, gtx=gtx, gty=gty, kind=kind)


def build_d(psi: np.ndarray, gam: np.ndarray, ss: SuffStats) -> np.ndarray:
    """Relative covariance ``D_i`` of every group's random effects, shape (m, r, r)."""
    m, r = ss.kind.shape
    D = np.zeros((m, r, r))
    if ss.q:
        D[:, : ss.q, : ss.q] = psi
    if ss.k:
        diag = np.where(ss.kind >= ss.q, np.concatenate([np.zeros(ss.q), gam])[ss.kind], 0.0)
        idx = np.arange(ss.q, r)
        D[:, idx, idx] = diag[:, ss.q:]
    return D


def gls_core(psi: np.ndarray, gam: np.ndarray, ss: SuffStats):
    """Return ``(log|V/s2|, M, A, D)`` with ``M = [X y]' (V/s2)^{-1} [X y]``, or None if V is not PD."""
    D = build_d(psi, gam, ss)
    A = np.eye(D.shape[1])[None] + D @ ss.gtg
    sign, logdet = np.linalg.slogdet(A)
    if not np.all(sign > 0) or not np.all(np.isfinite(logdet)):
        return None
    B = np.concatenate([ss.gtx, ss.gty[:, :, None]], axis=2)
    sol = np.linalg.solve(A, D @ B)
    M = np.block([[ss.xtx, ss.xty[:, None]], [ss.xty[None, :], np.array([[ss.yty]])]])
    M = M - np.einsum("mra,mrb->ab", B, sol)
    return float(logdet.sum()), M, A, D


def _gls_parts(M: np.ndarray, p: int):
    xvx, xvy = M[:p, :p], M[:p, p]
    beta = np.linalg.solve(xvx, xvy)
    qf = float(M[p, p] - xvy @ beta)
    sign, ld_x = np.linalg.slogdet(xvx)
    return beta, qf, (ld_x if sign > 0 else np.nan)


def profiled_llf(psi, gam, ss: SuffStats, reml: bool) -> float:
    """(RE)ML log-likelihood with ``s2`` and ``b`` profiled out (statsmodels' convention)."""
    core = gls_core(psi, gam, ss)
    if core is None:
        return -np.inf
    logdet, M, _, _ = core
    _, qf, ld_x = _gls_parts(M, ss.p)
    if qf <= 0:
        return -np.inf
    dof = ss.n - ss.p if reml else ss.n
    llf = -0.5 * (dof * (_LOG2PI + np.log(qf / dof)) + logdet + dof)
    return float(llf - 0.5 * ld_x) if reml else float(llf)


def full_llf(s2, psi_abs, gam_abs, ss: SuffStats, reml: bool) -> float:
    """(RE)ML log-likelihood at absolute variances ``s2``, ``Psi``, ``gamma`` (b profiled)."""
    if not s2 > 0:
        return -np.inf
    core = gls_core(psi_abs / s2, gam_abs / s2, ss)
    if core is None:
        return -np.inf
    logdet, M, _, _ = core
    _, qf, ld_x = _gls_parts(M, ss.p)
    dof = ss.n - ss.p if reml else ss.n
    llf = -0.5 * (dof * (_LOG2PI + np.log(s2)) + logdet + qf / s2)
    return float(llf - 0.5 * ld_x) if reml else float(llf)


@dataclass(frozen=True)
class GlsFit:
    """Everything derived from the relative variances at the optimum."""

    beta: np.ndarray
    cov_beta: np.ndarray
    scale: float
    llf: float
    blup: np.ndarray  # (m, r)
    blup_var: np.ndarray  # (m, r) conditional variances (fixed effects taken as known)
    blup_pev: np.ndarray  # (m, r) prediction error variances (fixed-effect uncertainty included)


def gls_fit(psi, gam, ss: SuffStats, reml: bool) -> GlsFit:
    """GLS fixed effects, scale, log-likelihood and EB effects at given relative variances."""
    logdet, M, A, D = gls_core(psi, gam, ss)
    beta, qf, _ = _gls_parts(M, ss.p)
    scale = qf / (ss.n - ss.p if reml else ss.n)
    resid = ss.gty - np.einsum("mrp,p->mr", ss.gtx, beta)
    blup = np.linalg.solve(A, np.einsum("mrs,ms->mr", D, resid)[:, :, None])[:, :, 0]
    cond = np.linalg.solve(A, D)
    blup_var = scale * np.clip(np.diagonal(cond, axis1=1, axis2=2), 0, None)
    cov_beta = scale * np.linalg.inv(M[: ss.p, : ss.p])
    # Henderson's C22: u_hat - u = (conditional error) - H (b_hat - b) with H = A^-1 D G'X, the two
    # parts independent, so PEV = s2 A^-1 D + H Cov(b_hat) H' (diagonal only).
    H = np.linalg.solve(A, D @ ss.gtx)
    pev = blup_var + np.clip(np.einsum("mrp,pq,mrq->mr", H, cov_beta, H), 0, None)
    return GlsFit(beta=beta, cov_beta=cov_beta, scale=scale, llf=profiled_llf(psi, gam, ss, reml),
                  blup=blup, blup_var=blup_var, blup_pev=pev)


def unpack_theta(theta: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """``theta`` = lower-triangular Cholesky of ``Psi`` (row-major) then sqrt of ``gamma``."""
    nq = q * (q + 1) // 2
    L = np.zeros((q, q))
    L[np.tril_indices(q)] = theta[:nq]
    return L @ L.T, np.asarray(theta[nq:]) ** 2


def pack_theta(psi: np.ndarray, gam: np.ndarray) -> np.ndarray:
    """Inverse of :func:`unpack_theta` (statsmodels' ``use_sqrt`` packing)."""
    q = psi.shape[0]
    if q:
        w, v = np.linalg.eigh((psi + psi.T) / 2)
        psd = (v * np.clip(w, 0, None)) @ v.T
        L = np.linalg.cholesky(psd + 1e-12 * max(1.0, float(np.trace(psd))) * np.eye(q))
    else:
        L = np.zeros((0, 0))
    return np.concatenate([L[np.tril_indices(q)], np.sqrt(np.clip(gam, 0, None))])


def start_theta(design: Design, ss: SuffStats) -> np.ndarray:
    """Moment-based start: one-way ANOVA variance ratios of OLS residuals per level."""
    beta = np.linalg.lstsq(ss.xtx, ss.xty, rcond=None)[0]
    resid = design.y - design.X @ beta

    def anova_ratio(codes: np.ndarray) -> float:
        cnt = np.bincount(codes).astype(float)
        ok = cnt > 0
        means = np.bincount(codes, resid)[ok] / cnt[ok]
        cnt = cnt[ok]
        within = float(resid @ resid - (cnt * means**2).sum()) / max(ss.n - len(cnt), 1)
        n0 = (ss.n - (cnt**2).sum() / ss.n) / max(len(cnt) - 1, 1)
        between = float((cnt * means**2).sum() - ss.n * resid.mean() ** 2) / max(len(cnt) - 1, 1)
        return max((between - within) / n0 / max(within, 1e-12), 0.01)

    G = design.G.tocsc()
    coo = design.G.tocoo()
    ratios = []
    for kk in range(ss.q + ss.k):
        if kk < ss.q:
            ratios.append(anova_ratio(design.row_group))
            continue
        # unit of each row in this component (indicator columns: one per row)
        sel = design.col_kind[coo.col] == kk
        codes = np.zeros(ss.n, dtype=np.int64)
        codes[coo.row[sel]] = coo.col[sel]
        nested = anova_ratio(pd.factorize(codes)[0])
        ratios.append(max(nested - ratios[0], 0.05 * nested) if ss.q else nested)
    psi = np.zeros((ss.q, ss.q))
    for j in range(ss.q):
        z = G[:, design.col_kind == j]
        zz = float(z.multiply(z).sum()) / ss.n
        psi[j, j] = ratios[0] if j == 0 else 0.25 * ratios[0] / max(zz, 1e-8)
    return pack_theta(psi, np.array(ratios[ss.q:]))


def fast_candidate(ss: SuffStats, method: str, theta0: np.ndarray, reml: bool, maxiter: int):
    """Optimise the profiled (RE)ML over ``theta`` with one scipy method.

    Returns ``(theta, llf, converged)``; ``'nm'`` is Nelder–Mead then an L-BFGS-B polish.
    """
    def objective(theta):
        psi, gam = unpack_theta(theta, ss.q)
        val = profiled_llf(psi, gam, ss, reml)
        return -val / ss.n if np.isfinite(val) else 1e10

    scipy_name = {"lbfgs": "L-BFGS-B", "bfgs": "BFGS", "powell": "Powell", "nm": "Nelder-Mead",
                  "cg": "CG"}[method]
    opts = {"maxiter": maxiter}
    if method == "nm":
        opts.update(xatol=1e-6, fatol=1e-12)
    res = optimize.minimize(objective, theta0, method=scipy_name, options=opts)
    theta = res.x
    if method == "nm":
        res = optimize.minimize(objective, theta, method="L-BFGS-B", options={"maxiter": maxiter})
        theta = res.x
    converged = bool(res.success) or _grad_small(objective, theta, ss.n)
    psi, gam = unpack_theta(theta, ss.q)
    return theta, profiled_llf(psi, gam, ss, reml), converged


def _grad_small(objective, theta, n: int, tol: float = 1e-3) -> bool:
    """Projected-gradient test in log-likelihood units (|d llf / d theta| < tol)."""
    h = 1e-6 * np.maximum(np.abs(theta), 1e-2)
    grad = np.array([(objective(theta + h * e) - objective(theta - h * e)) / (2 * h_i)
                     for e, h_i in zip(np.eye(len(theta)), h, strict=True)]) * n
    return bool(np.all(np.abs(grad) < tol * max(1.0, np.sqrt(n))))


# ------------------------------------------------ inference at the optimum
BOUNDARY_RTOL = 1e-4  # variance contribution below this share of sigma^2 counts as zero


def boundary_flags(psi, gam, kind_scale: np.ndarray, q: int) -> np.ndarray:
    """True for each variance (q terms then vc) whose contribution is ~0 relative to sigma^2."""
    rel = np.concatenate([np.diag(psi), gam]) * kind_scale
    return rel < BOUNDARY_RTOL if len(rel) else np.zeros(0, bool)


def _eta_layout(psi, gam, boundary: np.ndarray):
    """Free parameters: log s2, log of non-boundary variances, atanh of free correlations."""
    q = psi.shape[0]
    sd = np.sqrt(np.clip(np.diag(psi), 0, None))
    corr = np.divide(psi, np.outer(sd, sd), out=np.zeros_like(psi), where=np.outer(sd, sd) > 0)
    free_corr = [(a, b) for a in range(q) for b in range(a)
                 if not boundary[a] and not boundary[b] and abs(corr[a, b]) < 0.999]
    return corr, free_corr


def _eta_vector(scale, psi, gam, boundary, free_corr, corr):
    q = psi.shape[0]
    eta = [np.log(scale)]
    eta += [np.log(scale * psi[j, j]) for j in range(q) if not boundary[j]]
    eta += [np.arctanh(corr[a, b]) for a, b in free_corr]
    eta += [np.log(scale * gam[k]) for k in range(len(gam)) if not boundary[q + k]]
    return np.array(eta)


def _eta_to_abs(eta, q, k, boundary, free_corr, corr0):
    """Absolute (s2, Psi, gamma) from the free-parameter vector."""
    pos = 1
    var = np.zeros(q)
    for j in range(q):
        if not boundary[j]:
            var[j] = np.exp(eta[pos])
            pos += 1
    corr = corr0.copy()
    for a, b in free_corr:
        corr[a, b] = corr[b, a] = np.tanh(eta[pos])
        pos += 1
    sd = np.sqrt(var)
    psi = corr * np.outer(sd, sd)
    np.fill_diagonal(psi, var)
    gam = np.zeros(k)
    for kk in range(k):
        if not boundary[q + kk]:
            gam[kk] = np.exp(eta[pos])
            pos += 1
    return np.exp(eta[0]), psi, gam


def variance_inference(ss: SuffStats, psi, gam, scale, boundary, reml: bool):
    """Covariance of the free log-variance parameters from the numerical Hessian.

    Returns ``(eta, cov_eta, to_abs, pd_ok)``; ``cov_eta`` is NaN when the observed
    information is singular.
    """
    corr, free_corr = _eta_layout(psi, gam, boundary)
    eta = _eta_vector(scale, psi, gam, boundary, free_corr, corr)

    def to_abs(e):
        return _eta_to_abs(e, ss.q, ss.k, boundary, free_corr, corr)

    def llf(e):
        return full_llf(*to_abs(e), ss, reml)

    hess = approx_hess3(eta, llf)
    info = -(hess + hess.T) / 2
    pd_ok = bool(np.all(np.isfinite(info)) and np.linalg.eigvalsh(info).min() > 0)
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full_like(info, np.nan)
    return eta, cov, to_abs, pd_ok


def blup_variance_from_eta(ss: SuffStats, eta, cov, to_abs, reml: bool) -> np.ndarray:
    """Kackar–Harville term: variance of the EB effects due to the estimated variances, (m, r).

    First-order delta method, ``g' Cov(eta) g`` with ``g`` the numerical derivative of every EB
    effect with respect to the free log-variance parameters ``eta`` (Kackar & Harville 1984,
    the correction Kenward & Roger 1997 build on).  Zero when ``cov`` is not finite (the observed
    information is singular; :func:`variance_inference` reports that) or there is nothing free.
    """
    m, r = ss.kind.shape
    if len(eta) == 0 or not np.all(np.isfinite(cov)):
        return np.zeros((m, r))

    def blup(e):
        s2, psi_abs, gam_abs = to_abs(e)
        return gls_fit(psi_abs / s2, gam_abs / s2, ss, reml).blup

    h = 1e-5
    grads = np.stack([(blup(eta + h * e) - blup(eta - h * e)) / (2 * h) for e in np.eye(len(eta))],
                     axis=-1)  # (m, r, len(eta))
    return np.clip(np.einsum("mra,ab,mrb->mr", grads, cov, grads), 0, None)


INTEGRATION_GRID = 31  # grid points over the outer intercept variance; on the sample vs 121: effects move < 4e-7, SDs < 2e-6 (relative)
INTEGRATION_DROP = 12.0  # the grid ends where the log-likelihood is this far below its maximum


def integrated_eb(ss: SuffStats, psi, gam, scale: float, reml: bool,
                  n_grid: int = INTEGRATION_GRID) -> tuple[np.ndarray, np.ndarray]:
    """EB effects with the outer groups' intercept variance integrated out: ``(mean, var)``, (m, r).

    The plug-in EB effect and its prediction error variance treat the estimated
    group variance ``t`` as known; with a few dozen groups ``t`` is uncertain and
    often estimated near zero, where every effect is shrunk to 0 with a near-zero
    standard error, so plug-in intervals under-cover (Morris 1983).  Here ``t``
    gets a flat prior on ``[0, inf)`` (Morris's choice for EB intervals; the
    posterior is then proportional to the (RE)ML likelihood), the fixed effects a
    flat prior (so that, given ``t``, the BLUP and Henderson's ``C22`` are the
    posterior mean and variance of the effects, Harville 1976), and the residual
    and nested variances are held at their estimates.  The posterior of every
    effect is the mixture over ``t`` of those normals; its mean and variance are
    computed on a grid from 0 to where the log-likelihood has dropped by
    ``INTEGRATION_DROP`` (trapezoid weights).  Only for one random term per outer
    group (a random intercept, ``q == 1``).
    """
    if ss.q != 1:
        raise ValueError("integrated_eb needs exactly one random term of the outer group")
    gam_abs = scale * np.asarray(gam, float)

    def llf(t: float) -> float:
        return full_llf(scale, np.array([[t]]), gam_abs, ss, reml)

    t_hat = scale * float(psi[0, 0])
    top = llf(t_hat)
    upper = max(t_hat, 1e-3 * scale)
    while llf(upper) > top - INTEGRATION_DROP and upper < 1e3 * scale:
        upper *= 2.0
    grid = np.linspace(0.0, upper, n_grid)
    ll = np.array([llf(t) for t in grid])
    w = np.exp(ll - np.nanmax(ll))
    w[~np.isfinite(w)] = 0.0
    w[[0, -1]] *= 0.5  # trapezoid rule
    w /= w.sum()
    mean = np.zeros(ss.kind.shape)
    second = np.zeros(ss.kind.shape)
    for t, wt in zip(grid, w, strict=True):
        if wt < 1e-12:
            continue
        fit = gls_fit(np.array([[t / scale]]), gam, ss, reml)
        pev = fit.blup_pev * (scale / fit.scale)  # residual variance held at its estimate
        mean += wt * fit.blup
        second += wt * (pev + fit.blup**2)
    return mean, np.clip(second - mean**2, 0, None)


def delta_se(fun, eta, cov) -> tuple[float, float]:
    """Value and delta-method standard error of a scalar function of ``eta``."""
    val = fun(eta)
    h = 1e-6
    grad = np.array([(fun(eta + h * e) - fun(eta - h * e)) / (2 * h) for e in np.eye(len(eta))])
    v = float(grad @ cov @ grad)
    return float(val), (np.sqrt(v) if v >= 0 else np.nan)
