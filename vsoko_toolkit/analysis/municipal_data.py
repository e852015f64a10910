"""Data of the municipal comparison: the schools, every student's standardised result per year, and
each school's yearly result against the other schools of the municipality.

Helpers of :mod:`vsoko_toolkit.analysis.municipal` (the entry point), kept apart to keep modules short.

**A student's result in a year** (``y``). Each external work a student wrote (ВПР, ОГЭ, ЕГЭ; ЕГЭ on its
test score where the work has test scores) is standardised over the municipality within its
(kind, subject, grade, year): ``z = (score − mean) / sd``. Cells with fewer than ``MIN_CELL`` results are
not used (a tiny cell's mean and SD are noise). The student's result is the mean of their z over the year's
works. A year without external results in the warehouse falls back to year marks: each year mark is
standardised within (subject, grade, year) and the student's result is the mean over subjects. The result
is in standard deviations of the municipality's individual results on a work.

**Prior attainment** of a student in year ``t``: the mean z of their external works of ``t − 1``
(``prior_ext``, NaN without one) and the mean standardised year mark of ``t − 1`` (``prior_gpa``).

**A school's result against the others** (one year): the school's mean ``y`` minus the mean of the other
schools' students. Students of one class are not independent (the same teacher, the same class climate),
so the variance of a school's mean is ``sd²/N + τ²·Σ n_c²/N²``, where ``τ²`` is the between-class variance
of the year (one-way ANOVA of class means within school, method of moments, pooled over the
municipality: :func:`vsoko_toolkit.analysis.anomalies.class_variance`, vectorised in :func:`class_variances`).
The difference is tested with a
normal z (one-sided p-values both ways and the two-sided one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..warehouse.schema import has_column, has_table
from .anomalies import _scored

EXTERNAL_KINDS = ("VPR", "OGE", "EGE")
MIN_CELL = 20  # results of one work (kind, subject, grade, year) to standardise it over the municipality
MIN_SCHOOL_N = 10  # students with a result for a school's yearly result to be tested
KIND_RU = {"VPR": "ВПР", "OGE": "ОГЭ", "EGE": "ЕГЭ", "GVE": "ГВЭ"}
STUDENT_COLUMNS = ["student_id", "year", "school_id", "class_id", "grade", "y", "n_works", "source"]
YEARLY_COLUMNS = ["school_id", "year", "source", "n", "n_classes", "mean", "sd", "others_n", "others_mean",
                  "diff", "se", "ci_low", "ci_high", "deff", "p_low", "p_high", "p_two"]


def municipality_name(con, municipality: str | None = None) -> str:
    """The municipality's name from ``schools.municipality`` ('' when the column is empty or absent)."""
    if municipality:
        return str(municipality).strip()
    if not has_column(con, "schools", "municipality"):
        return ""
    names = [str(r[0]).strip() for r in con.execute(
        "SELECT municipality, count(*) AS n FROM schools WHERE municipality IS NOT NULL "
        "AND trim(municipality) <> '' GROUP BY ALL ORDER BY n DESC, municipality").fetchall()]
    return " + ".join(names)


def municipality_id(con, municipality: str | None = None) -> str:
    """The id under which municipal findings are filed (``school_id`` of ``findings.json``): the
    municipality's name as written in ``schools.municipality`` (several names joined with " + " when the
    warehouse holds several municipalities and none is chosen); ``"municipality"`` when no name is given."""
    return municipality_name(con, municipality) or "municipality"


def school_frame(con, municipality: str | None = None) -> pd.DataFrame:
    """school_id, name, municipality, social_index (NaN when the optional column is absent or empty) of the
    schools compared: those of ``municipality`` when given, else every school of the warehouse."""
    cols = {c: has_column(con, "schools", c) for c in ("name", "municipality", "social_index")}
    sel = ", ".join(["school_id"] + [c if ok else f"NULL AS {c}" for c, ok in cols.items()])
    d = con.execute(f"SELECT {sel} FROM schools ORDER BY school_id").df()
    if municipality:
        d = d[d["municipality"].astype(str).str.strip() == str(municipality).strip()]
    d["social_index"] = pd.to_numeric(d["social_index"], errors="coerce").astype(float)
    d["name"] = d["name"].fillna(d["school_id"]).astype(str)
    return d.reset_index(drop=True)


def _external(con, first: int, last: int, kinds) -> pd.DataFrame:
    """Standardised external results per student × year (see the module docstring)."""
    need = all(has_column(con, "assessments", c) for c in ("school_id", "year", "grade", "primary_score"))
    if not (has_table(con, "assessments") and need):
        return pd.DataFrame(columns=STUDENT_COLUMNS)
    marks = ", ".join("?" for _ in kinds)
    d = con.execute(f"""
        WITH a AS (SELECT student_id, year, kind, subject, grade, min(school_id) AS school_id,
                          min(class_id) AS class_id, avg(score) AS v
                     FROM {_scored(con)} WHERE kind IN ({marks}) AND score IS NOT NULL AND year BETWEEN ? AND ?
                    GROUP BY student_id, year, kind, subject, grade),
             cell AS (SELECT kind, subject, grade, year, avg(v) AS mu, stddev_samp(v) AS sd, count(*) AS n
                        FROM a GROUP BY ALL)
        SELECT student_id, year, min(school_id) AS school_id, min(class_id) AS class_id, min(grade) AS grade,
               avg((v - mu) / sd) AS y, count(*) AS n_works
          FROM a JOIN cell USING (kind, subject, grade, year)
         WHERE cell.n >= {MIN_CELL} AND cell.sd > 0
         GROUP BY student_id, year""", [*kinds, int(first), int(last)]).df()
    d["source"] = "external"
    return d[STUDENT_COLUMNS]


def _marks(con, first: int, last: int) -> pd.DataFrame:
    """Standardised year marks per student × year (mean over subjects)."""
    if not (has_table(con, "period_marks")
            and all(has_column(con, "period_marks", c) for c in ("school_id", "year", "grade", "mark_value"))):
        return pd.DataFrame(columns=STUDENT_COLUMNS)
    d = con.execute(f"""
        WITH m AS (SELECT student_id, year, subject, min(grade) AS grade, min(school_id) AS school_id,
                          min(class_id) AS class_id, avg(mark_value) AS v
                     FROM period_marks WHERE period = 'year' AND mark_value IS NOT NULL AND year BETWEEN ? AND ?
                    GROUP BY student_id, year, subject),
             cell AS (SELECT subject, grade, year, avg(v) AS mu, stddev_samp(v) AS sd, count(*) AS n
                        FROM m GROUP BY ALL)
        SELECT student_id, year, min(school_id) AS school_id, min(class_id) AS class_id, min(grade) AS grade,
               avg((v - mu) / sd) AS y, count(*) AS n_works
          FROM m JOIN cell USING (subject, grade, year)
         WHERE cell.n >= {MIN_CELL} AND cell.sd > 0
         GROUP BY student_id, year""", [int(first), int(last)]).df()
    d["source"] = "marks"
    return d[STUDENT_COLUMNS]


def student_results(con, years, schools, kinds=EXTERNAL_KINDS) -> tuple[pd.DataFrame, dict[int, str]]:
    """Per student × year of ``years``: ``y`` (external where the year has external results, else year
    marks), with ``prior_ext`` and ``prior_gpa`` of the year before; and {year: source}.

    Only students of the ``schools`` compared (a list of ids) are kept, but the standardisation uses every
    result of the warehouse's works (the municipality's, when it holds one municipality)."""
    years = sorted(int(y) for y in years)
    first, last = years[0], years[-1]
    ext = _external(con, first - 1, last, tuple(kinds))
    mk = _marks(con, first - 1, last)
    parts, source = [], {}
    for y in years:
        e = ext[ext["year"] == y]
        pick = e if len(e) else mk[mk["year"] == y]
        if len(pick):
            source[y] = str(pick["source"].iloc[0])
            parts.append(pick)
    d = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=STUDENT_COLUMNS)
    prior_e = ext[["student_id", "year", "y"]].rename(columns={"y": "prior_ext"})
    prior_m = mk[["student_id", "year", "y"]].rename(columns={"y": "prior_gpa"})
    for p in (prior_e, prior_m):
        p["year"] = p["year"].astype(int) + 1
    d["year"] = d["year"].astype(int)
    d = d.merge(prior_e, on=["student_id", "year"], how="left").merge(prior_m, on=["student_id", "year"],
                                                                      how="left")
    d = d[d["school_id"].isin(set(schools))].reset_index(drop=True)
    d["grade"] = d["grade"].astype(int)
    return d, source


def class_variances(cls: pd.DataFrame, keys: list[str]) -> pd.Series:
    """:func:`.anomalies.class_variance` of every group of ``keys`` at once (the same estimator, vectorised):
    the between-class variance within school-years, pooled over the group's school-years with ≥ 2 classes."""
    c = cls.assign(sd=cls["sd"].fillna(0.0))
    sy = keys + ["school_id", "year"]
    n_sy = c.groupby(sy)["n"].transform("sum")
    m_sy = (c["n"] * c["mean"]).groupby([c[k] for k in sy]).transform("sum") / n_sy
    c = c.assign(ssb=c["n"] * (c["mean"] - m_sy) ** 2, ssw=(c["n"] - 1) * c["sd"] ** 2, nn=c["n"] ** 2)
    g = c.groupby(sy).agg(k=("n", "size"), N=("n", "sum"), ssb=("ssb", "sum"), ssw=("ssw", "sum"),
                          nn=("nn", "sum")).reset_index()
    g = g[g["k"] >= 2]
    g = g.assign(dfb=g["k"] - 1, dfw=g["N"] - g["k"], n0=g["N"] - g["nn"] / g["N"])
    a = g.groupby(keys)[["ssb", "ssw", "dfb", "dfw", "n0"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = (a["ssb"] / a["dfb"] - a["ssw"] / a["dfw"]) / (a["n0"] / a["dfb"])
    tau = tau.where((a["dfb"] > 0) & (a["dfw"] > 0), 0.0).clip(lower=0.0).fillna(0.0)
    full = cls.groupby(keys).size().index
    return tau.reindex(full, fill_value=0.0)


def _one_class_variance(cls: pd.DataFrame) -> float:
    """:func:`class_variances` of one measure and year, schools as the groups (numpy, for speed)."""
    if cls.empty:
        return 0.0
    codes = pd.factorize(cls["school_id"])[0]
    n, m = cls["n"].to_numpy(float), cls["mean"].to_numpy(float)
    sd = np.nan_to_num(cls["sd"].to_numpy(float))
    k_g, n_g = np.bincount(codes), np.bincount(codes, n)
    m_g = np.bincount(codes, n * m) / n_g
    use = (k_g >= 2)[codes]
    ssb = float((n * (m - m_g[codes]) ** 2)[use].sum())
    ssw = float(((n - 1) * sd ** 2)[use].sum())
    g = k_g >= 2
    dfb, dfw = float((k_g[g] - 1).sum()), float((n_g[g] - k_g[g]).sum())
    n0 = float((n_g[g] - np.bincount(codes, n * n)[g] / n_g[g]).sum())
    if dfb == 0 or dfw == 0:
        return 0.0
    return max(0.0, (ssb / dfb - ssw / dfw) / (n0 / dfb))


def class_stats(d: pd.DataFrame) -> pd.DataFrame:
    """n, mean, sd of ``y`` per school × year × class (the input of :func:`class_variance`)."""
    g = d.groupby(["school_id", "year", "class_id"])["y"]
    return g.agg(n="size", mean="mean", sd="std").reset_index()


def _group(n_c: np.ndarray, m_c: np.ndarray, s_c: np.ndarray):
    """(N, mean, sd, Σn_c²/N²) of a union of classes from their sizes, means and SDs."""
    n_tot = float(n_c.sum())
    m = float((n_c * m_c).sum() / n_tot)
    ss = float(((n_c - 1) * np.nan_to_num(s_c) ** 2).sum() + (n_c * (m_c - m) ** 2).sum())
    return n_tot, m, np.sqrt(ss / max(n_tot - 1, 1.0)), float((n_c ** 2).sum()) / n_tot ** 2


CONTRAST_COLUMNS = ["school_id", "n", "n_classes", "mean", "sd", "others_n", "others_mean", "diff", "se",
                    "ci_low", "ci_high", "deff", "p_low", "p_high", "p_two"]


def school_contrasts(cls: pd.DataFrame, min_n: int = MIN_SCHOOL_N) -> pd.DataFrame:
    """Each school's mean against the other schools' from class rows (school_id, class_id, n, mean, sd) of one
    year and one measure: the difference, its standard error with class clustering (module docstring), a 95 %
    interval, the design effect ``deff`` (variance over ``sd²/N``) and p-values (one-sided below / above,
    two-sided). Schools with fewer than ``min_n`` values get NaN tests."""
    tau2 = _one_class_variance(cls)
    rows = []
    for sch, own in cls.groupby("school_id"):
        oth = cls[cls["school_id"] != sch]
        a = _group(*(own[k].to_numpy(float) for k in ("n", "mean", "sd")))
        row = {"school_id": sch, "n": int(a[0]), "n_classes": len(own), "mean": a[1], "sd": a[2]}
        if len(oth) and a[0] >= min_n:
            b = _group(*(oth[k].to_numpy(float) for k in ("n", "mean", "sd")))
            va = a[2] ** 2 / a[0] + tau2 * a[3]
            vb = b[2] ** 2 / b[0] + tau2 * b[3]
            diff, se = a[1] - b[1], float(np.sqrt(va + vb))
            z = diff / se if se > 0 else np.nan
            row.update(others_n=int(b[0]), others_mean=b[1], diff=diff, se=se, ci_low=diff - 1.959964 * se,
                       ci_high=diff + 1.959964 * se, deff=va / (a[2] ** 2 / a[0]) if a[2] > 0 else np.nan,
                       p_low=float(stats.norm.cdf(z)), p_high=float(stats.norm.sf(z)),
                       p_two=float(2 * stats.norm.sf(abs(z))))
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=CONTRAST_COLUMNS)


def yearly_results(d: pd.DataFrame, source: dict[int, str], min_n: int = MIN_SCHOOL_N) -> pd.DataFrame:
    """Each school's mean result per year against the other schools (:func:`school_contrasts`): columns
    ``YEARLY_COLUMNS``."""
    parts = [school_contrasts(c, min_n).assign(year=int(y), source=source.get(int(y), ""))
             for y, c in class_stats(d).groupby("year")]
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()).reindex(columns=YEARLY_COLUMNS)
