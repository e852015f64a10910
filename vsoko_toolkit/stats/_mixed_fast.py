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

When the nested columns are one component of indicators (the value-added models: teacher
unit + its classes), every ``A_i`` is an arrowhead matrix and is handled by block
elimination in ``O(m r q^2)`` (:class:`Arrow`, :class:`_ArrowFactor`); otherwise, and for
the derivatives the optimizers and the Hessian take (:data:`REFERENCE_FOR_DERIVATIVES`),
by LAPACK on every ``A_i`` (:class:`_DenseFactor`).

The profiled log-likelihoods match statsmodels ``MixedLM.loglike`` term for term
(same constants), which the tests check.  This module also holds the optional
fast estimator (the same objective optimised with scipy, without statsmodels)
and the inference at the optimum: boundary detection and the observed
information of the log-variances (numerical Hessian of the (RE)ML
log-likelihood with the fixed effects profiled out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import patsy
import patsy.builtins
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
    arrow: Arrow | None = None  # blocks of G'G for the structured solver (None: dense path only)


@dataclass(frozen=True)
class Arrow:
    """``G_i'G_i`` of every group as "q outer terms + indicators of one nested component".

    With one nested component whose columns are indicators (each row in at most one
    unit), the nested block of ``G_i'G_i`` is diagonal (the unit sizes), so
    ``A_i = I + D_i G_i'G_i`` is an arrowhead matrix: a dense ``q x q`` corner, a
    ``q x k`` border and a diagonal.  Block elimination (Schur complement on the
    corner) then solves, factorises and inverts it in ``O(r q^2)`` instead of
    ``O(r^3)``.  Padding columns (kind -1) have zero border and size: their
    diagonal entry of ``A_i`` is 1, as on the dense path.
    """

    c11: np.ndarray  # (m, q, q) outer block Z'Z
    c12: np.ndarray  # (m, q, k) border Z'N
    size: np.ndarray  # (m, k) diagonal of N'N (unit sizes; 0 for padding)
    nested: np.ndarray  # (m, k) True for a nested unit column, False for padding


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


_PLAIN_FORMULA = re.compile(r"^\s*([A-Za-z_]\w*)\s*~\s*(.+?)\s*$")
_NAME = re.compile(r"^[A-Za-z_]\w*$")
_C_COLUMN = re.compile(r"\bC\(\s*([A-Za-z_]\w*)\s*\)")


def _numeric(col: pd.Series) -> bool:
    """A column patsy treats as numeric (bool columns are categorical to patsy)."""
    return pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)


def plain_matrices(data: pd.DataFrame, formula: str):
    """``(y, X, x_names)`` of ``y ~ a + b + ...`` (or ``y ~ 1``) over numeric columns, built with
    numpy exactly as patsy would ("Intercept" first, then the terms in order); None for any
    other formula (patsy builds those)."""
    match = _PLAIN_FORMULA.match(formula)
    if match is None:
        return None
    lhs, rhs = match.groups()
    terms = [t.strip() for t in rhs.split("+")]
    if terms == ["1"]:
        terms = []
    elif terms[:1] == ["1"]:
        terms = terms[1:]
    names = [lhs, *terms]
    if (len(set(terms)) != len(terms) or lhs in terms
            or not all(_NAME.match(t) and t in data.columns and _numeric(data[t]) for t in names)):
        return None
    cols = [data[t].to_numpy(dtype=float) for t in names]
    if not all(np.isfinite(c).all() for c in cols):
        return None  # patsy raises on missing values; let it say so
    X = np.empty((len(data), len(cols)), order="F")  # patsy's layout: products with X keep their last bits
    X[:, 0] = 1.0
    for j, col in enumerate(cols[1:], start=1):
        X[:, j] = col
    return cols[0], X, ["Intercept", *terms]


def _fast_c(data, contrast=None, levels=None):
    """patsy's ``C()``, except that a pandas categorical without options is passed through as it is
    (patsy's ``C()`` box makes it convert the column value by value)."""
    if contrast is None and levels is None and isinstance(getattr(data, "dtype", None), pd.CategoricalDtype):
        return data
    return patsy.builtins.C(data, contrast, levels)


def _categorical_data(data: pd.DataFrame, formula: str):
    """``data`` for patsy, with every column used only as ``C(column)`` turned into a pandas categorical.

    Patsy then takes the levels and codes from the categorical instead of testing every value
    one by one (the slow part of a formula with string columns).  The categories are the sorted
    distinct values, patsy's own order, and the formula text is unchanged, so the matrices and
    their column names are the same (``tests/test_mixed_engine.py`` checks it).  Returns
    ``data`` itself when there is nothing to convert, else a dict of columns with ``C`` bound
    to :func:`_fast_c`.
    """
    if "C" in data.columns:
        return data
    bare = _C_COLUMN.sub(" ", formula)
    out = {}
    for col in sorted(set(_C_COLUMN.findall(formula))):
        if col not in data.columns or re.search(rf"(?<![\w.]){re.escape(col)}(?!\w)", bare):
            continue
        values = data[col]
        integer = isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu"
        if not (integer or pd.api.types.is_string_dtype(values.dtype)) or values.isna().any():
            continue
        raw = values.to_numpy() if integer else values.to_numpy(dtype=object)
        if not integer and not all(isinstance(v, str) for v in pd.unique(raw)):
            continue  # mixed types: patsy sorts them its own way
        out[col] = pd.Series(pd.Categorical(raw), index=data.index, name=col)
    if not out:
        return data
    return {**{c: data[c] for c in data.columns}, **out, "C": _fast_c}


def design_from_formula(data: pd.DataFrame, formula: str, groups: str, re_formula: str | None,
                        vc_columns: dict[str, str]) -> Design:
    """Build the design (no statsmodels); vc components are nested intercepts.

    A plain formula of numeric columns (``y ~ a + b``) with a random intercept only is built
    with numpy (:func:`plain_matrices`); anything else with patsy.
    """
    plain = plain_matrices(data, formula) if (re_formula or "1").strip().lstrip("~").strip() == "1" else None
    if plain is not None:
        y, X, x_names = plain
        Z, z_names = np.ones((len(data), 1)), ["Intercept"]
    else:
        y_df, X_df = patsy.dmatrices(formula, _categorical_data(data, formula), return_type="dataframe",
                                     NA_action="raise")
        Z_df = patsy.dmatrix(re_formula or "1", data, return_type="dataframe", NA_action="raise")
        y, X, x_names = y_df.to_numpy().ravel(), X_df.to_numpy(), list(X_df.columns)
        Z, z_names = Z_df.to_numpy(), list(Z_df.columns)
    g_codes, g_labels = pd.factorize(data[groups], sort=True)
    vc_codes = [pd.factorize(data[col], sort=True)[0] for col in vc_columns.values()]
    vc_units = [data[col].to_numpy() for col in vc_columns.values()]
    return _assemble(y, X, x_names, g_codes, np.asarray(g_labels), Z, z_names, vc_codes, list(vc_columns),
                     vc_units)


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
                     yty=float(y @ y), gtg=gtg, gtx=gtx, gty=gty, kind=kind,
                     arrow=arrow_blocks(gtg, kind, q, k))


def arrow_blocks(gtg: np.ndarray, kind: np.ndarray, q: int, k: int) -> Arrow | None:
    """The :class:`Arrow` blocks of ``gtg`` when its structure allows, else None (dense path).

    Needs at most one nested component, the outer terms in the first ``q`` columns of
    every group, only that component's columns (or padding) after them, and a diagonal
    nested block of ``G'G``.
    """
    m, r = kind.shape
    if q == 0 or k > 1 or r < q:
        return None
    head, tail = kind[:, :q], kind[:, q:]
    if not (np.all((head == np.arange(q)) | (head == -1)) and np.all((tail == q) | (tail == -1))):
        return None
    block = gtg[:, q:, q:]
    size = np.diagonal(block, axis1=1, axis2=2).copy()
    if np.count_nonzero(block) != np.count_nonzero(size):
        return None
    nested = tail == q
    if np.any(size[~nested] != 0) or np.any(gtg[:, :q, q:][np.broadcast_to(~nested[:, None, :], (m, q, r - q))]):
        return None
    return Arrow(c11=gtg[:, :q, :q].copy(), c12=gtg[:, :q, q:].copy(), size=size, nested=nested)


def dense_only(ss: SuffStats) -> SuffStats:
    """The same statistics without the structured solver (reference path for the tests)."""
    return replace(ss, arrow=None)


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


class _DenseFactor:
    """``A_i = I + D_i G_i'G_i`` of every group, solved densely with LAPACK (any structure)."""

    def __init__(self, psi, gam, ss: SuffStats):
        self.D = build_d(psi, gam, ss)
        self.A = np.eye(self.D.shape[1])[None] + self.D @ ss.gtg
        self.sign, self.logdet = np.linalg.slogdet(self.A)

    def solve_d(self, rhs: np.ndarray) -> np.ndarray:
        """``A_i^-1 D_i rhs_i`` for ``rhs`` of shape (m, r, s)."""
        return np.linalg.solve(self.A, self.D @ rhs)

    def diag_d(self) -> np.ndarray:
        """Diagonal of ``A_i^-1 D_i``, shape (m, r)."""
        return np.diagonal(np.linalg.solve(self.A, self.D), axis1=1, axis2=2)


class _ArrowFactor:
    """The same for an arrowhead ``A_i`` (see :class:`Arrow`), by block elimination.

    With ``D_i = blockdiag(Psi, diag(g))`` the blocks of ``A_i`` are ``P = I + Psi C11``,
    ``Q = Psi C12``, ``R = diag(g) C12'`` and the diagonal ``L = 1 + g * size``; the Schur
    complement ``S = P - Q L^-1 R`` is ``q x q``, ``|A_i| = |S| prod(L)`` and
    ``A_i^-1 [b1; b2] = [x1; L^-1 (b2 - R x1)]`` with ``x1 = S^-1 (b1 - Q L^-1 b2)``.
    """

    def __init__(self, psi, gam, ss: SuffStats):
        arrow, q = ss.arrow, ss.q
        self.q, self.psi = q, np.asarray(psi, float).reshape(q, q)
        self.g = np.where(arrow.nested, float(gam[0]) if len(gam) else 0.0, 0.0)  # (m, k)
        self.L = 1.0 + self.g * arrow.size
        self.Q = np.matmul(self.psi, arrow.c12)  # (m, q, k)
        self.RL = (self.g / self.L)[:, :, None] * np.swapaxes(arrow.c12, 1, 2)  # L^-1 R, (m, k, q)
        self.S = np.eye(q)[None] + np.matmul(self.psi, arrow.c11) - self.Q @ self.RL
        sign_s, logdet_s = np.linalg.slogdet(self.S) if q else (np.ones(len(self.L)), np.zeros(len(self.L)))
        self.sign = sign_s * np.prod(np.sign(self.L), axis=1)
        self.logdet = logdet_s + np.log(np.abs(self.L)).sum(axis=1)

    def _solve_s(self, rhs: np.ndarray, transposed: bool = False) -> np.ndarray:
        """``S^-1 rhs`` (or ``S'^-1 rhs``) for every group."""
        if self.q == 1:  # a 1 x 1 solve is a division (as LAPACK does it)
            return rhs / self.S
        return np.linalg.solve(np.swapaxes(self.S, 1, 2) if transposed else self.S, rhs)

    def solve_d(self, rhs: np.ndarray) -> np.ndarray:
        """``A_i^-1 D_i rhs_i`` for ``rhs`` of shape (m, r, s)."""
        q = self.q
        b1 = np.matmul(self.psi, rhs[:, :q])
        y2 = (self.g / self.L)[:, :, None] * rhs[:, q:]  # L^-1 D b2
        x1 = self._solve_s(b1 - self.Q @ y2)
        return np.concatenate([x1, y2 - self.RL @ x1], axis=1)

    def diag_d(self) -> np.ndarray:
        """Diagonal of ``A_i^-1 D_i``: ``S^-1 Psi`` on the outer block, ``g / L (1 + (L^-1 R S^-1 Q)_jj)``
        on the nested one."""
        top = np.diagonal(self._solve_s(np.broadcast_to(self.psi, self.S.shape)), axis1=1, axis2=2)
        w = np.swapaxes(self._solve_s(np.swapaxes(self.RL, 1, 2), transposed=True), 1, 2)  # L^-1 R S^-1
        bottom = self.g / self.L * (1.0 + np.einsum("mja,maj->mj", w, self.Q))
        return np.concatenate([top, bottom], axis=1)


def factorise(psi, gam, ss: SuffStats):
    """``A_i`` of every group: structured when ``ss.arrow`` is set, dense otherwise."""
    return (_ArrowFactor if ss.arrow is not None else _DenseFactor)(psi, gam, ss)


def gls_core(psi: np.ndarray, gam: np.ndarray, ss: SuffStats):
    """Return ``(log|V/s2|, M, F, sol)`` with ``M = [X y]' (V/s2)^{-1} [X y]``, the factorisation
    ``F`` of ``A_i`` and ``sol = A_i^-1 D_i [G_i'X G_i'y]``; None if V is not PD."""
    fac = factorise(psi, gam, ss)
    if not np.all(fac.sign > 0) or not np.all(np.isfinite(fac.logdet)):
        return None
    B = np.concatenate([ss.gtx, ss.gty[:, :, None]], axis=2)
    sol = fac.solve_d(B)
    M = np.block([[ss.xtx, ss.xty[:, None]], [ss.xty[None, :], np.array([[ss.yty]])]])
    if isinstance(fac, _DenseFactor):  # the reference arithmetic, bit for bit (see fast_candidate)
        M = M - np.einsum("mra,mrb->ab", B, sol)
    else:
        M = M - _cross(B, sol)
    return float(fac.logdet.sum()), M, fac, sol


_CROSS_BLOCK = 2**17  # rows x columns^2 of one product: small enough for a single-threaded BLAS call


def _cross(B: np.ndarray, S: np.ndarray) -> np.ndarray:
    """``sum_i B_i' S_i`` over groups, as matrix products over blocks of rows.

    One product over all rows would be several times faster on an idle machine, but BLAS
    runs it on all cores, and with other processes on them (two batch workers on two cores)
    its threads wait on each other: 10-30x slower.  Blocks this small stay single-threaded
    (OpenBLAS threads a product from m n k > 2^18) and still beat ``einsum`` 3-5x.
    """
    b, s = B.reshape(-1, B.shape[-1]), S.reshape(-1, S.shape[-1])
    step = max(1, _CROSS_BLOCK // max(1, b.shape[1] * s.shape[1]))
    out = np.zeros((b.shape[1], s.shape[1]))
    for i in range(0, len(b), step):
        out += b[i:i + step].T @ s[i:i + step]
    return out


def _gls_parts(M: np.ndarray, p: int):
    xvx, xvy = M[:p, :p], M[:p, p]
    beta = np.linalg.solve(xvx, xvy)
    qf = float(M[p, p] - xvy @ beta)
    sign, ld_x = np.linalg.slogdet(xvx)
    return beta, qf, (ld_x if sign > 0 else np.nan)


def _profiled_from_core(logdet: float, M: np.ndarray, ss: SuffStats, reml: bool) -> float:
    _, qf, ld_x = _gls_parts(M, ss.p)
    if qf <= 0:
        return -np.inf
    dof = ss.n - ss.p if reml else ss.n
    llf = -0.5 * (dof * (_LOG2PI + np.log(qf / dof)) + logdet + dof)
    return float(llf - 0.5 * ld_x) if reml else float(llf)


def profiled_llf(psi, gam, ss: SuffStats, reml: bool) -> float:
    """(RE)ML log-likelihood with ``s2`` and ``b`` profiled out (statsmodels' convention)."""
    core = gls_core(psi, gam, ss)
    if core is None:
        return -np.inf
    return _profiled_from_core(core[0], core[1], ss, reml)


def _full_from_core(s2: float, logdet: float, M: np.ndarray, ss: SuffStats, reml: bool) -> float:
    _, qf, ld_x = _gls_parts(M, ss.p)
    dof = ss.n - ss.p if reml else ss.n
    llf = -0.5 * (dof * (_LOG2PI + np.log(s2)) + logdet + qf / s2)
    return float(llf - 0.5 * ld_x) if reml else float(llf)


def full_llf(s2, psi_abs, gam_abs, ss: SuffStats, reml: bool) -> float:
    """(RE)ML log-likelihood at absolute variances ``s2``, ``Psi``, ``gamma`` (b profiled)."""
    if not s2 > 0:
        return -np.inf
    core = gls_core(psi_abs / s2, gam_abs / s2, ss)
    if core is None:
        return -np.inf
    return _full_from_core(s2, core[0], core[1], ss, reml)


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
    return _fit_from_core(gls_core(psi, gam, ss), ss, reml)


def _fit_from_core(core, ss: SuffStats, reml: bool) -> GlsFit:
    logdet, M, fac, sol = core
    beta, qf, _ = _gls_parts(M, ss.p)
    scale = qf / (ss.n - ss.p if reml else ss.n)
    H = sol[:, :, : ss.p]  # A^-1 D G'X
    blup = sol[:, :, ss.p] - H @ beta  # A^-1 D G'(y - X b)
    blup_var = scale * np.clip(fac.diag_d(), 0, None)
    cov_beta = scale * np.linalg.inv(M[: ss.p, : ss.p])
    # Henderson's C22: u_hat - u = (conditional error) - H (b_hat - b) with H = A^-1 D G'X, the two
    # parts independent, so PEV = s2 A^-1 D + H Cov(b_hat) H' (diagonal only).
    pev = blup_var + np.clip(np.einsum("mrp,mrp->mr", H @ cov_beta, H), 0, None)
    return GlsFit(beta=beta, cov_beta=cov_beta, scale=scale, llf=_profiled_from_core(logdet, M, ss, reml),
                  blup=blup, blup_var=blup_var, blup_pev=pev)


def gls_blup(psi, gam, ss: SuffStats) -> np.ndarray:
    """EB effects alone (``gls_fit(...).blup`` without the variances), (m, r)."""
    _, M, _, sol = gls_core(psi, gam, ss)
    beta = np.linalg.solve(M[: ss.p, : ss.p], M[: ss.p, ss.p])
    return sol[:, :, ss.p] - sol[:, :, : ss.p] @ beta


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


#: The optimizers and the observed information (numerical Hessian) evaluate the likelihood with the dense
#: reference arithmetic (LAPACK on every A_i), not the structured solver.  Both agree to ~1e-14 relative, but
#: an optimizer with finite-difference gradients turns such differences into another path and another
#: stopping point within its tolerance (estimates moved by up to ~1e-4 relative in variances and ~1e-6 in EB
#: effects on the sample, enough to change a report's 6th digit), and a second difference with steps of 1e-4
#: amplifies them to ~1e-4 in the variances' standard errors.  Everything else (the GLS fit at the optimum,
#: EB effects and their variances, the integrated EB) uses the structured solver.
REFERENCE_FOR_DERIVATIVES = True


def reference(ss: SuffStats) -> SuffStats:
    """The statistics the derivatives are taken on (see :data:`REFERENCE_FOR_DERIVATIVES`)."""
    return dense_only(ss) if REFERENCE_FOR_DERIVATIVES else ss


def fast_candidate(ss: SuffStats, method: str, theta0: np.ndarray, reml: bool, maxiter: int):
    """Optimise the profiled (RE)ML over ``theta`` with one scipy method.

    Returns ``(theta, llf, converged)``; ``'nm'`` is Nelder–Mead then an L-BFGS-B polish.  The objective is
    evaluated on the dense reference path (see :data:`REFERENCE_FOR_DERIVATIVES`).
    """
    ref = reference(ss)

    def objective(theta):
        psi, gam = unpack_theta(theta, ss.q)
        val = profiled_llf(psi, gam, ref, reml)
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
    return theta, profiled_llf(psi, gam, ref, reml), converged  # the llf that ranks the candidates, too


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
    ref = reference(ss)

    def to_abs(e):
        return _eta_to_abs(e, ss.q, ss.k, boundary, free_corr, corr)

    def llf(e):
        return full_llf(*to_abs(e), ref, reml)

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
        return gls_blup(psi_abs / s2, gam_abs / s2, ss)

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
    # one factorisation per grid point gives its likelihood and its EB fit; the moments are summed on the
    # way with weights relative to the likelihood at the estimate (normalised at the end), so no grid
    # point's effects are kept
    total, ref = 0.0, top if np.isfinite(top) else -np.inf
    mean = np.zeros(ss.kind.shape)
    second = np.zeros(ss.kind.shape)
    for i, t in enumerate(grid):
        core = gls_core(np.array([[t / scale]]), gam, ss)
        if core is None:
            continue
        ll = _full_from_core(scale, core[0], core[1], ss, reml)
        if not np.isfinite(ll):
            continue
        if ll > ref:  # a new reference: rescale what is summed so far
            shrink = np.exp(ref - ll)
            total, mean, second, ref = total * shrink, mean * shrink, second * shrink, ll
        wt = np.exp(ll - ref) * (0.5 if i in (0, n_grid - 1) else 1.0)  # trapezoid rule
        if wt == 0.0:
            continue
        fit = _fit_from_core(core, ss, reml)
        pev = fit.blup_pev * (scale / fit.scale)  # residual variance held at its estimate
        total += wt
        mean += wt * fit.blup
        second += wt * (pev + fit.blup**2)
    mean /= total
    second /= total
    return mean, np.clip(second - mean**2, 0, None)


def delta_se(fun, eta, cov) -> tuple[float, float]:
    """Value and delta-method standard error of a scalar function of ``eta``."""
    val = fun(eta)
    h = 1e-6
    grad = np.array([(fun(eta + h * e) - fun(eta - h * e)) / (2 * h) for e in np.eye(len(eta))])
    v = float(grad @ cov @ grad)
    return float(val), (np.sqrt(v) if v >= 0 else np.nan)
