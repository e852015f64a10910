"""Score anomalies: pile-ups of primary scores at the mark-3 threshold, sharp year-on-year jumps.

Public entry point: :func:`score_anomalies`.

**Bunching test.** For each work of ``year`` written in the school (kind, subject, grade) with a
scale (``scales``: the minimum primary score for a «3», ``t``), the school's students'
primary scores are counted per point. A smooth expected histogram is a Poisson regression of
the counts on a quadratic in the score, fitted on the bins of ``[t - 8, t + 8]`` outside the
window ``[t - 3, t]`` (three points just below the threshold and the threshold itself).
Given the number of students inside the window, the fitted curve gives the share expected
exactly at ``t``; the observed count at ``t`` is tested against it with a one-sided
binomial test (more than expected). Benjamini–Hochberg across the school's works; a
``threshold_peak`` finding for q < 0.05 with at least ``MIN_AT`` students at the threshold.

**Jumps.** The school's mean score of each work (primary score; test score for ЕГЭ) against the
same work last year (Welch interval, ``jump*``).

**Results far above similar schools** (``result_anomaly``, area ``objectivity``). Per work of
``year``, the school means of the municipality (schools with at least ``MIN_SCHOOL_N`` students and a
``schools.social_index``) are regressed on the social index (OLS). The school's *deleted residual* —
its mean minus the mean predicted for its social index by the line fitted without it — with its
standard error ``s_(i) / sqrt(1 − h)`` gives the externally studentized residual, distributed as
t(k − 3) for k schools under a normal linear model; the p-value is one-sided (far *above*). A school
whose mean is noisier than the others' (few students: sd²/n above the other schools' average) gets the
excess added to its variance. With fewer than ``MIN_SCHOOLS`` schools the check is not made and a note
says so.

**Sharp jumps beyond the municipality** (``result_anomaly``). The school's change on the same work
since last year minus the other schools' change (difference in changes; standard error from the four
groups' variances and the municipality's usual spread of changes, DerSimonian–Laird; normal interval,
one-sided p-value upward). A finding needs q < 0.05, the
school's own change beyond noise (``jump_low`` > 0) and a difference in changes of at least
``MIN_JUMP_SD`` standard deviations of the municipality's individual scores that year (a practical
size: a tiny but "significant" change is not a jump). The noise includes the between-class variance
of the work and the municipality's usual spread of schools' year-to-year changes (method of moments
over every school and work). A jump is *unexplained* — and only then a finding — when the subject's
teachers in that grade are the same as last year and this year's participants were not a stronger
cohort (their mean year mark of the previous year, against last year's participants', one-sided
Welch test at 5 %); an explained jump stays in the table with its explanation (``jump_explained``).

Both checks' p-values form one Benjamini–Hochberg family (separate from the bunching family).

**Optional data (fall-backs).** Without a ``scales`` row for a work, its mark-3 threshold is inferred
from the municipality's own (primary score, mark) pairs of that year (``assessments.mark``): the lowest
primary score that earned a «3» or better, provided no «2» has a score that high (the marks follow one
scale); without either the bunching test is not made for that work and a note names the data. ЕГЭ is
compared on the test score where the work has test scores in the warehouse, otherwise on the primary
score. Without ``schools.social_index`` the comparison with similar schools is not made (a note says so).
Without ``assessments`` rows of the school the analysis is skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..findings import Cause, Finding, Recommendation, Skipped
from ..report import phrases as ph
from ..stats.intervals import bh_qvalues, binom_test, compare_means
from ..warehouse.schema import has_column as _has_column
from ..warehouse.schema import has_table as _has_table
from .base import AnalysisResult, empty_plot

ALPHA = 0.05
MIN_AT = 3
MIN_N = 15
SPAN = 8
KIND_RU = {"VPR": "ВПР", "OGE": "ОГЭ", "EGE": "ЕГЭ", "GVE": "ГВЭ"}
MIN_SCHOOLS = 8  # schools with results and a social index needed for the context regression
MIN_SCHOOL_N = 5  # students for a school mean to enter the regression / the jump comparison
MIN_JUMP_SD = 0.3  # difference in changes, in SDs of the municipality's individual scores, to call a jump
COLUMNS = ["kind", "subject", "grade", "n", "threshold", "n_window", "at_threshold", "expected_at",
           "excess", "p_value", "q_value", "flagged", "mean", "mean_prev", "jump", "jump_low", "jump_high",
           "jump_p", "n_schools", "context_expected", "context_resid", "context_low", "context_high", "context_t",
           "context_p", "context_q", "context_flagged", "muni_change", "dic", "dic_low", "dic_high", "dic_sd",
           "dic_p", "dic_q", "jump_flagged", "jump_explained"]


@dataclass(frozen=True)
class AnomalyResult(AnalysisResult):
    """Bunching tests and jumps per work.

    ``tidy()`` columns: kind, subject, grade, n (students), threshold (min primary score for «3»),
    n_window (students with scores in [t−3, t]), at_threshold (observed at t), expected_at
    (expected at t from the smooth fit), excess (observed − expected), p_value, q_value, flagged,
    mean (primary score; ЕГЭ: test score), mean_prev (last year), jump (difference), jump_low, jump_high,
    jump_p (Welch); n_schools (schools in the context regression), context_expected (mean predicted for
    the school's social index without it), context_resid (deleted residual), context_low, context_high,
    context_t (externally studentized), context_p (one-sided, above), context_q, context_flagged;
    muni_change (other schools' change since last year), dic (difference in changes), dic_low, dic_high,
    dic_sd (dic in SDs of individual scores), dic_p (one-sided, up), dic_q, jump_flagged, jump_explained
    (why a jump beyond noise is not an anomaly: new teachers, a stronger cohort).
    ``scores``: kind, subject, grade, primary_score of the school's students (for the histogram).
    """

    scores: pd.DataFrame | None = None
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None, work: tuple | None = None):
        """Histogram of primary scores of ``work`` with the mark thresholds and the smooth expectation."""
        import matplotlib.pyplot as plt

        if work is None and self.table.empty:  # nothing to draw: say so instead of failing the chapter
            return empty_plot(ax, "Результатов внешних оценочных процедур нет — распределение баллов не построено.")
        if work is None:
            work = self.focus_work()
        s = self.scores
        d = s[(s["kind"] == work[0]) & (s["subject"] == work[1]) & (s["grade"] == work[2])]["primary_score"]
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        bins = np.arange(0, (d.max() if len(d) else 1) + 2) - 0.5
        ax.hist(d, bins=bins, color="#1f5f99", edgecolor="white")
        row = self.table[(self.table["kind"] == work[0]) & (self.table["subject"] == work[1])
                         & (self.table["grade"] == work[2])]
        if len(row) and np.isfinite(row.iloc[0]["threshold"]):
            t = row.iloc[0]["threshold"]
            ax.axvline(t - 0.5, color="#c0392b", ls="--", label=f"порог «3»: {ph.num(t, 0 if float(t).is_integer() else 1)} балл.")
        ax.set_xlabel("первичный балл")
        ax.set_ylabel("учеников")
        ax.set_title(f"{KIND_RU.get(work[0], work[0])}, «{work[1]}», {work[2]} класс: распределение баллов",
                     fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        return ax

    def focus_work(self) -> tuple:
        t = self.table
        if len(t) and t["flagged"].any():
            r = t[t["flagged"]].sort_values("p_value").iloc[0]
        else:
            oge = t[(t["kind"] == "OGE") & (t["subject"] == "Математика")]
            scaled = t[np.isfinite(t["threshold"].astype(float))]  # a work with a mark threshold to show
            r = (oge if len(oge) else scaled if len(scaled) else t).iloc[0]
        return (r["kind"], r["subject"], int(r["grade"]))


def bunching_test(scores, threshold: float, span: int = SPAN) -> dict:
    """Excess of scores exactly at ``threshold`` against a smooth Poisson-quadratic fit (module docstring)."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    s = np.round(np.asarray(scores, dtype=float)).astype(int)
    t = int(round(threshold))
    lo, hi = max(0, t - span), t + span
    x = np.arange(lo, hi + 1)
    y = np.array([(s == v).sum() for v in x], dtype=float)
    window = (x >= t - 3) & (x <= t)
    n_window = int(y[window].sum())
    at = int(y[x == t].sum())
    out = {"n_window": n_window, "at_threshold": at, "expected_at": np.nan, "excess": np.nan, "p_value": np.nan}
    fit_mask = ~window
    if n_window == 0 or y[fit_mask].sum() < 5 or fit_mask.sum() < 4:
        return out
    xc = (x - t) / span
    X = np.column_stack([np.ones_like(xc), xc, xc ** 2])
    try:
        mu = GLM(y[fit_mask], X[fit_mask], family=families.Poisson()).fit().predict(X)
    except Exception:  # noqa: BLE001 - a degenerate histogram is not tested
        return out
    share = float(mu[x == t].sum() / mu[window].sum())
    out["expected_at"] = share * n_window
    out["excess"] = at - out["expected_at"]
    out["p_value"] = float(binom_test(at, n_window, min(max(share, 1e-9), 1 - 1e-9), alternative="greater"))
    return out


def _scored(con) -> str:
    """``assessments`` with the score a work is compared on: ЕГЭ on its 100-point test score when that
    work (kind, subject, year) has test scores in the warehouse, everything else (and ЕГЭ without test
    scores — the optional column absent or empty) on the primary score."""
    if not _has_column(con, "assessments", "test_score"):
        return "(SELECT *, primary_score AS score FROM assessments)"
    return """(SELECT * EXCLUDE (has_test), CASE WHEN kind = 'EGE' AND has_test THEN test_score ELSE primary_score
                      END AS score
                 FROM (SELECT *, count(test_score) OVER (PARTITION BY kind, subject, year) > 0 AS has_test
                         FROM assessments))"""


def inferred_thresholds(con, year: int) -> pd.DataFrame:
    """Mark-3 thresholds inferred from the municipality's (primary score, mark) pairs of ``year``: per work,
    the lowest primary score with a mark of 3 or more, kept only when every «2» scored below it."""
    cols = ["kind", "subject", "grade", "year", "min_primary"]
    if not _has_column(con, "assessments", "mark"):
        return pd.DataFrame(columns=cols)
    d = con.execute(
        """SELECT kind, subject, grade, year, min(primary_score) FILTER (WHERE mark >= 3) AS min_primary,
                  max(primary_score) FILTER (WHERE mark <= 2) AS max_fail
             FROM assessments WHERE year = ? AND mark IS NOT NULL AND primary_score IS NOT NULL GROUP BY ALL""",
        [int(year)]).df()
    d = d[d["min_primary"].notna() & d["max_fail"].notna() & (d["max_fail"] < d["min_primary"])]
    return d[cols].reset_index(drop=True)


def _load(con, school_id: str, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    scores = con.execute(
        f"""SELECT kind, subject, grade, year, primary_score, score FROM {_scored(con)}
             WHERE school_id = ? AND year IN (?, ?) AND score IS NOT NULL""",
        [school_id, int(year), int(year) - 1]).df()
    scales = con.execute("SELECT kind, subject, grade, year, min_primary FROM scales WHERE mark = 3 AND year = ?",
                         [int(year)]).df() if _has_table(con, "scales") else \
        pd.DataFrame(columns=["kind", "subject", "grade", "year", "min_primary"])
    scales["source"] = "scales"
    inferred = inferred_thresholds(con, year).assign(source="marks")
    keys = ["kind", "subject", "grade"]
    known = set(map(tuple, scales[keys].to_numpy()))
    inferred = inferred[[tuple(k) not in known for k in inferred[keys].to_numpy()]]
    return scores, pd.concat([scales, inferred], ignore_index=True) if len(inferred) else scales


def score_anomalies(con, school_id: str, year: int, options: dict | None = None) -> AnomalyResult:
    """Bunching at the mark-3 threshold, results against similar schools and year-on-year jumps.

    ``options``: ``alpha`` (0.05), ``kinds`` (default ("OGE", "VPR", "EGE"); bunching needs a scale, so
    ЕГЭ is only in the municipal checks), ``min_schools`` (8), ``min_jump_sd`` (0.3).
    """
    opts = options or {}
    alpha = float(opts.get("alpha", ALPHA))
    kinds = tuple(opts.get("kinds", ("OGE", "VPR", "EGE")))
    if not _has_table(con, "assessments"):
        return _skip(school_id, year, "нет таблицы assessments (результаты ВПР, ОГЭ, ЕГЭ)")
    scores, scales = _load(con, school_id, year)
    scores = scores[scores["kind"].isin(kinds)]
    cur = scores[scores["year"] == int(year)]
    prev = scores[scores["year"] == int(year) - 1]
    if cur.empty:
        return _skip(school_id, year, f"в таблице assessments нет результатов ВПР, ОГЭ или ЕГЭ школы за "
                                      f"{ph.academic_year(int(year))} учебный год")
    rows, unscaled, inferred = [], [], []
    for (kind, subject, grade), g in cur.groupby(["kind", "subject", "grade"]):
        sc = scales[(scales["kind"] == kind) & (scales["subject"] == subject) & (scales["grade"] == grade)]
        if kind != "EGE" and len(g) >= MIN_N:
            (inferred if len(sc) and sc["source"].iloc[0] == "marks" else unscaled if not len(sc) else []).append(
                f"{KIND_RU.get(kind, kind)} «{subject}» ({int(grade)} кл.)")
        p = prev[(prev["kind"] == kind) & (prev["subject"] == subject) & (prev["grade"] == grade)]["score"]
        row = {"kind": kind, "subject": subject, "grade": int(grade), "n": len(g),
               "threshold": float(sc["min_primary"].iloc[0]) if len(sc) else np.nan,
               "mean": g["score"].mean(), "mean_prev": p.mean() if len(p) else np.nan}
        if len(sc) and len(g) >= MIN_N and g["primary_score"].notna().sum() >= MIN_N:
            row.update(bunching_test(g["primary_score"].dropna(), row["threshold"]))
        if len(p) >= 2 and len(g) >= 2:
            c = compare_means(g["score"].mean(), g["score"].std(), len(g), p.mean(), p.std(), len(p)).iloc[0]
            row.update(jump=c["diff"], jump_low=c["diff_lower"], jump_high=c["diff_upper"], jump_p=c["p_value"])
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    if len(table):
        table["q_value"] = bh_qvalues(table["p_value"].to_numpy(dtype=float))
        table["flagged"] = (table["q_value"] < alpha) & (table["at_threshold"] >= MIN_AT)
    findings = [_finding(r, school_id, int(year), int(table["p_value"].notna().sum()))
                for r in table[table["flagged"].fillna(False).astype(bool)].itertuples()]
    notes: list[str] = []
    if inferred:
        notes.append(f"Для {_works(inferred)} в таблице scales нет шкалы перевода баллов в отметки: граница «3» "
                     "определена по самим результатам муниципалитета — наименьший первичный балл, за который "
                     "поставлена «3», при условии, что ни одна «2» не получена с таким баллом.")
    skipped: list[Skipped] = []
    if unscaled:
        notes.append(f"Проверка скопления баллов у границы «3» не проводилась для {_works(unscaled)}: для неё "
                     "нужна таблица scales (шкала перевода первичных баллов в отметки) или колонка mark в "
                     "таблице assessments, по которой границу можно восстановить.")
        skipped.append(Skipped("score_anomalies_threshold", notes[-1]))
    if len(table):
        table, more, more_notes = municipal_checks(con, table, school_id, int(year), alpha,
                                              int(opts.get("min_schools", MIN_SCHOOLS)),
                                              float(opts.get("min_jump_sd", MIN_JUMP_SD)))
        findings += more
        notes += more_notes
        skipped += [Skipped("score_anomalies_context", n) for n in more_notes if "social_index" in n]
    return AnomalyResult(table=table, findings=tuple(findings), notes=tuple(notes), skipped=tuple(skipped),
                         scores=cur[["kind", "subject", "grade", "primary_score"]], school_id=school_id,
                         year=int(year))



def _works(names: list[str]) -> str:
    return f"{len(names)} работ ({', '.join(names[:5])}{' и др.' if len(names) > 5 else ''})"


def _skip(school_id: str, year: int, reason: str) -> AnomalyResult:
    return AnomalyResult(table=pd.DataFrame(columns=COLUMNS), skipped=(Skipped("score_anomalies", reason),),
                         scores=pd.DataFrame(columns=["kind", "subject", "grade", "primary_score"]),
                         school_id=school_id, year=int(year))


def _school_means(con, school_id: str, year: int, kinds) -> pd.DataFrame:
    """n, mean, sd per class × work × year (``year`` and ``year − 1``) in the school's municipality,
    with each school's social index (NaN without ``schools.social_index``)."""
    marks = ", ".join("?" for _ in kinds)
    d = con.execute(
        f"""SELECT school_id, year, kind, subject, grade, class_id, count(*) AS n, avg(score) AS mean,
                   stddev_samp(score) AS sd
              FROM {_scored(con)} a
             WHERE year IN (?, ?) AND kind IN ({marks}) AND score IS NOT NULL GROUP BY ALL""",
        [int(year), int(year) - 1, *kinds]).df()
    d["social_index"] = np.nan
    if _has_column(con, "schools", "school_id"):
        cols = [c for c in ("municipality", "social_index") if _has_column(con, "schools", c)]
        if cols:
            sch = con.execute(f"SELECT school_id, {', '.join(cols)} FROM schools").df().set_index("school_id")
            if "municipality" in sch and school_id in sch.index and pd.notna(sch.at[school_id, "municipality"]):
                same = sch.index[sch["municipality"] == sch.at[school_id, "municipality"]]
                d = d[d["school_id"].isin(set(same) | {school_id})]
            if "social_index" in sch:
                d["social_index"] = d["school_id"].map(sch["social_index"]).astype(float)
    return d


def context_residual(y, x, i: int, v=None) -> dict:
    """Deleted residual of unit ``i`` in the OLS of ``y`` on ``x`` (module docstring): the value minus the
    prediction of the line fitted without it, its standard error, t (externally studentized, df = k − 3),
    a one-sided p-value (above) and a 95 % interval.

    ``v`` (optional): each unit's sampling variance of its mean (sd²/n). The residual scatter of the
    other schools already holds their typical sampling variance; a school whose own is larger (a small
    school) gets the excess ``v_i − mean(v_others)`` added to its variance, so that a few students'
    lucky mean does not pass as an anomaly."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    k = len(y)
    keep = np.arange(k) != i
    X = np.column_stack([np.ones(k), x])
    beta, *_ = np.linalg.lstsq(X[keep], y[keep], rcond=None)
    res = y[keep] - X[keep] @ beta
    df = k - 3
    s2 = float(res @ res) / df
    xtx_inv = np.linalg.pinv(X[keep].T @ X[keep])
    pred = float(X[i] @ beta)
    extra = 0.0
    if v is not None:
        v = np.asarray(v, dtype=float)
        extra = max(0.0, float(v[i] - np.nanmean(v[keep]))) if np.isfinite(v[i]) else 0.0
    se = float(np.sqrt(s2 * (1 + X[i] @ xtx_inv @ X[i]) + extra))
    d = float(y[i] - pred)
    tval = d / se if se > 0 else np.nan
    half = stats.t.ppf(0.975, df) * se
    return {"expected": pred, "resid": d, "low": d - half, "high": d + half, "t": tval,
            "p": float(stats.t.sf(tval, df)) if np.isfinite(tval) else np.nan}


def _sums(cls: pd.DataFrame, keys: tuple[str, ...] = ("school_id",)) -> pd.DataFrame:
    """Sufficient statistics per school (or per ``keys``) of class rows (n, mean, sd): N, Σx, Σx², Σn_c² — unions
    are sums."""
    n = cls["n"].to_numpy(dtype=float)
    m = cls["mean"].to_numpy(dtype=float)
    v = np.nan_to_num(cls["sd"].to_numpy(dtype=float)) ** 2
    d = pd.DataFrame({**{k: cls[k].to_numpy() for k in keys}, "N": n, "S1": n * m,
                      "S2": (n - 1) * v + n * m * m, "W": n * n})
    return d.groupby(list(keys))[["N", "S1", "S2", "W"]].sum()


def _from_sums(N: float, S1: float, S2: float, W: float) -> tuple[float, float, float, float]:
    """(n, mean, sd, Σn_c²/n²) of a union of classes from its sums."""
    if N < 2:
        return N, np.nan, np.nan, np.nan
    m = S1 / N
    return N, m, float(np.sqrt(max(S2 - N * m * m, 0.0) / (N - 1))), W / N ** 2


def _school_rows(sums: pd.DataFrame, social_index: pd.Series) -> pd.DataFrame:
    """:func:`_from_sums` of every school of ``sums`` (indexed by school), with its social index."""
    N, S1, S2, W = (sums[c].to_numpy(dtype=float) for c in ("N", "S1", "S2", "W"))
    ok = N >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(ok, S1 / N, np.nan)
        sd = np.where(ok, np.sqrt(np.maximum(S2 - N * m * m, 0.0) / (N - 1)), np.nan)
        w = np.where(ok, W / N ** 2, np.nan)
    return pd.DataFrame({"school_id": sums.index.to_numpy(), "social_index":
                         social_index.reindex(sums.index).to_numpy(dtype=float), "n": N, "mean": m, "sd": sd,
                         "w": w})


def class_variance(cls: pd.DataFrame) -> float:
    """Between-class variance of true class means within a school-year (one-way ANOVA, method of moments,
    pooled over the municipality's school-years of one work); 0 when not estimable or negative."""
    ssb = ssw = dfb = dfw = n0 = 0.0
    for _, g in cls.groupby(["school_id", "year"]):
        if len(g) < 2:
            continue
        n = float(g["n"].sum())
        m = float((g["n"] * g["mean"]).sum() / n)
        ssb += float((g["n"] * (g["mean"] - m) ** 2).sum())
        ssw += float(((g["n"] - 1) * g["sd"].fillna(0) ** 2).sum())
        dfb += len(g) - 1
        dfw += n - len(g)
        n0 += (n - float((g["n"] ** 2).sum()) / n)
    if dfb == 0 or dfw == 0:
        return 0.0
    return max(0.0, (ssb / dfb - ssw / dfw) / (n0 / dfb))


def diff_in_change(groups, tau2: float = 0.0) -> dict:
    """(a − b) − (c − d) for four independent groups given as (n, mean, sd[, Σn_c²/n²]): Welch–Satterthwaite t.

    ``tau2``: between-class variance added to each group mean's variance as ``tau2 · Σ n_c² / n²``
    (classes are the clusters of a school-year).
    """
    groups = [tuple(g) + (0.0,) * (4 - len(g)) for g in groups]
    v = np.array([s ** 2 / n + tau2 * w for n, _, s, w in groups])
    nn = np.array([n for n, _, _, _ in groups], dtype=float)
    (_, a, _, _), (_, b, _, _), (_, c, _, _), (_, e, _, _) = groups
    diff = (a - b) - (c - e)
    se = float(np.sqrt(v.sum()))
    if not np.isfinite(se) or se == 0 or (nn < 2).any():
        return {"dic": diff, "low": np.nan, "high": np.nan, "p": np.nan, "se": np.nan, "df": np.nan}
    df = v.sum() ** 2 / (v ** 2 / (nn - 1)).sum()
    half = stats.t.ppf(0.975, df) * se
    return {"dic": diff, "low": diff - half, "high": diff + half, "p": float(stats.t.sf(diff / se, df)),
            "se": se, "df": float(df)}


def school_year_variance(pairs: list[tuple[float, float]]) -> float:
    """Variance of schools' year-to-year changes beyond sampling noise, from (change, sampling variance)
    pairs of every school and work of the municipality: the DerSimonian–Laird estimator of random-effects
    meta-analysis (DerSimonian & Laird 1986), 0 when not positive or with fewer than 3 pairs.

    Cohorts, classes and the day of the work change every year, so a school's result moves by more than its
    students' sampling error even when nothing unusual happened; a jump is judged against this usual spread.
    Inverse-variance weights keep the many tiny ЕГЭ groups from swamping the estimate (an unweighted moment
    estimate gave 0 on the sample municipality, DL 0.07 SD², close to the generator's class and day
    variance). Real jumps in the pool only make the estimate larger (conservative)."""
    a = np.array([(x, v) for x, v in pairs if np.isfinite(x) and np.isfinite(v) and v > 0])
    if len(a) < 3:
        return 0.0
    x, w = a[:, 0], 1.0 / a[:, 1]
    mu = float((w * x).sum() / w.sum())
    q = float((w * (x - mu) ** 2).sum())
    c = float(w.sum() - (w * w).sum() / w.sum())
    return float(max(0.0, (q - (len(x) - 1)) / c)) if c > 0 else 0.0


def jump_explanation(con, school_id: str, year: int, kind: str, subject: str, grade: int) -> str:
    """Why a jump is not unexplained (Russian), or "": new teachers of the subject in the grade, or a
    stronger cohort of participants (previous-year mean year mark, one-sided Welch at 5 %)."""
    if _has_table(con, "assignments"):
        t = {y: set(r[0] for r in con.execute(
            "SELECT DISTINCT teacher_id FROM assignments WHERE school_id = ? AND year = ? AND subject = ? "
            "AND grade = ?", [school_id, y, subject, grade]).fetchall()) for y in (year, year - 1)}
        if t[year] and t[year - 1] and t[year] != t[year - 1]:
            return "в этом году предмет в параллели ведут другие учителя, чем год назад"
    if not _has_table(con, "period_marks"):
        return ""
    g = con.execute("""
        WITH p AS (SELECT student_id, year AS y0, avg(mark_value) AS gpa FROM period_marks
                   WHERE period = 'year' AND mark_value IS NOT NULL AND year IN (?, ?) GROUP BY ALL)
        SELECT a.year, p.gpa FROM assessments a JOIN p ON p.student_id = a.student_id AND p.y0 = a.year - 1
        WHERE a.school_id = ? AND a.kind = ? AND a.subject = ? AND a.grade = ? AND a.year IN (?, ?)""",
        [year - 1, year - 2, school_id, kind, subject, grade, year, year - 1]).df()
    a, b = g.loc[g["year"] == year, "gpa"], g.loc[g["year"] == year - 1, "gpa"]
    if len(a) >= 2 and len(b) >= 2:
        c = compare_means(a.mean(), a.std(), len(a), b.mean(), b.std(), len(b)).iloc[0]
        if c["diff"] > 0 and c["p_value"] / 2 < 0.05:
            return (f"участники этого года сильнее прошлогодних: их средняя годовая отметка за прошлый год "
                    f"{ph.num(a.mean())} против {ph.num(b.mean())}")
    return ""



def municipal_checks(con, table: pd.DataFrame, school_id: str, year: int, alpha: float, min_schools: int,
                     min_jump_sd: float):
    """Context regression and difference-in-change per work; ``result_anomaly`` findings (one BH family)."""
    from .municipal_data import class_variances  # imports this module: not at the top

    kinds = sorted(set(table["kind"]))
    w = _school_means(con, school_id, year, kinds)
    table = table.copy()
    table["dic_se"], table["dic_sd_unit"] = np.nan, np.nan
    short, spread = [], []
    # every work's class_variance and per-school sums at once, instead of masks and group-bys per work
    work_keys = ("kind", "subject", "grade")
    taus = class_variances(w, list(work_keys)) if len(w) else pd.Series(dtype=float)
    by_year = {k: g.droplevel(list(range(4))) for k, g in
               _sums(w, (*work_keys, "year", "school_id")).groupby(level=list(range(4)), sort=False)}
    no_sums = _sums(w.iloc[:0])
    social = w.groupby("school_id")["social_index"].first()
    for i, r in table.iterrows():
        key = (r["kind"], r["subject"], r["grade"])
        tau2 = float(taus.get(key, 0.0))
        year_sums = [by_year.get((*key, y), no_sums) for y in (year, year - 1)]
        now, before = (_school_rows(x, social) for x in year_sums)
        now, before = now[now["n"] >= MIN_SCHOOL_N], before[before["n"] >= MIN_SCHOOL_N]
        reg = now[now["social_index"].notna()].reset_index(drop=True)
        table.at[i, "n_schools"] = len(reg)
        if (reg["school_id"] == school_id).any() and len(reg) >= min_schools:
            at = int(np.flatnonzero(reg["school_id"] == school_id)[0])
            c = context_residual(reg["mean"], reg["social_index"], at, v=reg["sd"] ** 2 / reg["n"])
            for k in ("expected", "resid", "low", "high", "t", "p"):
                table.at[i, f"context_{k}"] = c[k]
        else:
            short.append(f"{KIND_RU.get(r['kind'], r['kind'])} «{r['subject']}» ({r['grade']} кл.)")
        sums = [x[x.index.isin(set(d["school_id"]))] for x, d in zip(year_sums, (now, before), strict=True)]
        tot = [x.sum().to_numpy() for x in sums]
        sd_all = _from_sums(*tot[0])[2] if len(sums[0]) else np.nan
        rows = [dict(zip(x.index, x.to_numpy(), strict=True)) for x in sums]  # school -> its sums

        def dic_of(sch, rows=rows, tot=tot, tau2=tau2):
            own = [rows[k][sch] for k in (0, 1)]
            groups = [_from_sums(*own[0]), _from_sums(*own[1]), _from_sums(*(tot[0] - own[0])),
                      _from_sums(*(tot[1] - own[1]))]
            if any(g[0] < 2 for g in groups):
                return None, groups
            return diff_in_change(groups, tau2), groups

        both = set(sums[0].index) & set(sums[1].index)
        if sd_all and sd_all > 0:  # every school: the usual spread of changes, in SDs of individual scores
            for sch in both:
                js, _ = dic_of(sch)
                if js is not None:
                    spread.append((js["dic"] / sd_all, (js["se"] / sd_all) ** 2))
        if school_id in both:
            j, pooled = dic_of(school_id)
            if j is not None:
                table.loc[i, ["muni_change", "dic", "dic_se", "dic_sd_unit"]] = [
                    pooled[2][1] - pooled[3][1], j["dic"], j["se"], sd_all]
                table.at[i, "dic_sd"] = j["dic"] / sd_all if sd_all and sd_all > 0 else np.nan
    tau_sy = school_year_variance(spread)
    if len(table):
        unit = table["dic_sd_unit"].to_numpy(dtype=float)
        se = np.sqrt(table["dic_se"].to_numpy(dtype=float) ** 2 + tau_sy * unit ** 2)
        dic = table["dic"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            table["dic_low"], table["dic_high"] = dic - 1.959964 * se, dic + 1.959964 * se
            table["dic_p"] = stats.norm.sf(dic / se)
    p = np.concatenate([table["context_p"].to_numpy(dtype=float), table["dic_p"].to_numpy(dtype=float)])
    q = bh_qvalues(p)
    table["context_q"], table["dic_q"] = q[:len(table)], q[len(table):]
    table["context_flagged"] = (table["context_q"] < alpha).fillna(False).astype(bool)
    table["jump_flagged"] = ((table["dic_q"] < alpha) & (table["jump_low"] > 0)
                             & (table["dic_sd"] >= min_jump_sd)).fillna(False).astype(bool)
    table["jump_explained"] = ""
    for i in table.index[table["jump_flagged"]]:
        why = jump_explanation(con, school_id, year, table.at[i, "kind"], table.at[i, "subject"],
                               int(table.at[i, "grade"]))
        if why:
            table.at[i, "jump_explained"] = why
            table.at[i, "jump_flagged"] = False
    m = int(np.isfinite(p).sum())
    findings = [_context_finding(r, school_id, year, m) for r in table[table["context_flagged"]].itertuples()]
    findings += [_jump_finding(r, school_id, year, m) for r in table[table["jump_flagged"]].itertuples()]
    notes = []
    if short and not w["social_index"].notna().any():
        notes.append("Сравнение с результатами школ со схожими социальными условиями не проводилось: в таблице "
                     "schools не заполнен социальный индекс школ (колонка social_index).")
    elif short:
        notes.append(f"Сравнение с результатами школ со схожими социальными условиями не проводилось для "
                     f"{len(short)} из {len(table)} работ ({', '.join(short[:5])}{' и др.' if len(short) > 5 else ''}): "
                     f"нужно не меньше {min_schools} школ муниципалитета с индексом социальных условий и хотя бы "
                     f"{MIN_SCHOOL_N} участниками — данных недостаточно.")
    return table, findings, notes


def _work(r) -> str:
    return f"{KIND_RU.get(r.kind, r.kind)} по предмету «{r.subject}» ({r.grade} класс)"


def _unit(r) -> str:
    return "тестового балла" if r.kind == "EGE" else "первичного балла"


def _context_finding(r, school_id: str, year: int, m: int) -> Finding:
    evidence = (f"Средний результат школы на {_work(r)} — {ph.num(r.mean, 1)} {_unit(r)}; школы муниципалитета "
                f"с таким же индексом социальных условий получают в среднем {ph.num(r.context_expected, 1)} "
                f"(линия регрессии по {int(r.n_schools) - 1} школам, построенная без этой школы). Превышение "
                f"{ph.signed(r.context_resid, 1)} (95 % ДИ {ph.signed(r.context_low, 1)} … "
                f"{ph.signed(r.context_high, 1)}), {ph.q_text(r.context_q, m)}. Результат, намного превышающий "
                "ожидаемый для социальных условий школы, — один из признаков необъективности, которые "
                "проверяет Рособрнадзор; он может объясняться и сильной работой школы и требует проверки.")
    rec = Recommendation(
        text=(f"Директору: обеспечить независимое наблюдение и перепроверку работ {_work(r)} в следующем году и "
              "сопоставить результаты с текущей успеваемостью учеников."),
        addressee_type="school", addressee_id=school_id, responsible="директор", deadline=f"{year}-10-01",
        control_metric="context_residual", baseline=round(float(r.context_resid), 2), target=0.0)
    return Finding(area="objectivity", kind="result_anomaly", polarity="problem",
                   severity="high" if r.context_q < 0.001 else "medium", school_id=school_id, year=year,
                   target_type="subject", target_id=r.subject, subject=r.subject, metric="context_residual",
                   estimate=float(r.context_resid), ci_low=float(r.context_low), ci_high=float(r.context_high),
                   p_value=float(r.context_p), q_value=float(r.context_q), n=int(r.n),
                   title=f"Результаты намного выше, чем у школ со схожими социальными условиями: {_work(r)}",
                   evidence=evidence, recommendation=rec,
                   extra={"work_kind": r.kind, "grade": int(r.grade), "value": float(r.mean),
                          "comparison": "школы муниципалитета со схожим индексом социальных условий"})


def _jump_finding(r, school_id: str, year: int, m: int) -> Finding:
    evidence = (f"Средний результат школы на {_work(r)} вырос с {ph.num(r.mean_prev, 1)} до {ph.num(r.mean, 1)} "
                f"{_unit(r)} (изменение {ph.signed(r.jump, 1)}, 95 % ДИ {ph.signed(r.jump_low, 1)} … "
                f"{ph.signed(r.jump_high, 1)}); в других школах муниципалитета за тот же год — "
                f"{ph.signed(r.muni_change, 1)}. Разница изменений {ph.signed(r.dic, 1)} (95 % ДИ "
                f"{ph.signed(r.dic_low, 1)} … {ph.signed(r.dic_high, 1)}; {ph.num(r.dic_sd, 2)} стандартного "
                f"отклонения баллов), {ph.q_text(r.dic_q, m)}. Резкий необъяснённый рост — признак возможной "
                "необъективности; его причина (смена учителя, состав учеников, условия проведения) требует проверки.")
    rec = Recommendation(
        text=(f"Заместителю директора по УВР: выяснить причину роста результатов {_work(r)} (состав учеников, "
              "смена учителя, условия проведения) и обеспечить независимое наблюдение в следующем году."),
        addressee_type="school", addressee_id=school_id, responsible="заместитель директора по УВР",
        deadline=f"{year}-10-01", control_metric="jump_vs_municipality", baseline=round(float(r.dic), 2),
        target=0.0)
    return Finding(area="objectivity", kind="result_anomaly", polarity="problem",
                   severity="high" if r.dic_q < 0.001 else "medium", school_id=school_id, year=year,
                   target_type="subject", target_id=r.subject, subject=r.subject, metric="jump_vs_municipality",
                   estimate=float(r.dic), ci_low=float(r.dic_low), ci_high=float(r.dic_high),
                   p_value=float(r.dic_p), q_value=float(r.dic_q), n=int(r.n),
                   title=f"Резкий рост результатов по сравнению с прошлым годом и другими школами: {_work(r)}",
                   evidence=evidence, recommendation=rec,
                   extra={"work_kind": r.kind, "grade": int(r.grade), "value": float(r.mean),
                          "comparison": "та же работа год назад и изменение в других школах муниципалитета"})


def _finding(r, school_id: str, year: int, m: int) -> Finding:
    work = f"{KIND_RU.get(r.kind, r.kind)} по предмету «{r.subject}» ({r.grade} класс)"
    t = int(r.threshold)
    evidence = (f"На {work} ровно {t} первичных баллов (минимум для отметки «3») набрали {int(r.at_threshold)} из "
                f"{int(r.n_window)} учеников с баллами от {t - 3} до {t}; по гладкому распределению баллов "
                f"ожидалось {ph.num(r.expected_at, 1)}. Избыток {ph.num(r.excess, 1)} ученика, "
                f"{ph.q_text(r.q_value, m)}. Такой «пик на пороге» — признак возможной необъективности "
                "проверки или проведения работы; он не доказывает её и требует проверки.")
    severity = "high" if r.q_value < 0.001 else "medium" if r.q_value < 0.01 else "low"
    rec = Recommendation(
        text=(f"Директору: организовать перепроверку работ {work} с баллами {t - 3}–{t} независимыми экспертами "
              "и обеспечить независимое наблюдение при проведении работы в следующем году."),
        addressee_type="school", addressee_id=school_id, responsible="директор",
        deadline=f"{year}-10-01", control_metric="threshold_excess", baseline=round(float(r.excess), 2),
        target=0.0)
    causes = (Cause("Пик объясняется общим уровнем подготовки учеников", "not_supported",
                    "Ожидаемое число у порога рассчитано по гладкой кривой, подогнанной к баллам этой же школы "
                    "вне окна у порога."),)
    return Finding(area="objectivity", kind="threshold_peak", polarity="problem", severity=severity,
                   school_id=school_id, year=year, target_type="subject", target_id=r.subject,
                   subject=r.subject, metric="threshold_excess", estimate=float(r.excess), ci_low=None,
                   ci_high=None, p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n), title=(
                       f"Аномальный пик первичных баллов на пороге «3»: {work}"), evidence=evidence,
                   causes=causes, recommendation=rec,
                   extra={"work_kind": r.kind, "grade": int(r.grade), "threshold_score": t})
