"""Value added of teachers and classes: progress of their students conditional on prior achievement.

Public entry point: :func:`value_added`.

Two outcomes, the same machinery (``outcome=``):

``journal``   the year mark of a student in a subject on the student's year mark in the same subject
              last year (slope by subject), the mean of all last year's year marks, special needs (when
              recorded), grade and subject. One school year. In marks.
``external``  the student's ВПР primary score, standardised within (subject, grade, year) over the
              municipality (a z-score; ``pct_per_sd`` converts it to percentage points of the maximum
              score), on last year's ВПР z in the same subject (slope by subject), the mean of last
              year's year marks in the other subjects, special needs, grade and year. A student without
              last year's ВПР enters on last year's year mark in the subject instead (own intercept and
              slope), but only when another teacher gave that mark (see "Which prior"). In standard
              deviations of the municipality's ВПР results.
``auto``      both (default): each unit's findings come from the external estimate when it rests on at
              least ``MIN_EXTERNAL_N`` students with ВПР, from the journal estimate otherwise.

Both fit random intercepts of the unit (teacher × subject, with classes × subject × year nested inside;
or class × subject) on the whole municipality with :func:`vsoko_toolkit.stats.mixed.fit_mixed`. The
unit's value added is its empirical-Bayes (shrunken) random effect relative to the municipal mean (0),
with a 95 % interval ``estimate ± 1.96 se``.

Why the external outcome. Journal marks carry the teacher's own marking: a lenient teacher's students
"progress" more on the journal and a strict teacher's less, whatever the teaching (on the sample the
planted inflating teacher gets a high journal value added and the deflating one a low one). ВПР is
marked against common criteria, so progress on ВПР measures teaching without the teacher's marking.
A teacher high on the journal and not on ВПР is a marking signal, not a teaching one: the table's
``agreement`` column and ``disagreements`` say so, and the findings follow the ВПР.

Which prior. Last year's ВПР is the prior that holds none of the current teacher's marking. 88 % of
classes keep their teacher, so last year's journal mark in the subject is often the same teacher's: a
lenient teacher's students would carry an inflated prior, be predicted high and then "under-achieve" on
ВПР — the leniency would come back as a negative external value added (and a strict teacher's as a
positive one). The journal mark in the subject is therefore used only for students without last year's
ВПР (newcomers, absentees, grade 4 after grade 3) and only when another teacher gave it; in grade 4 the
primary teacher usually taught the class in grade 3 too, so most fourth graders do not enter. The mean of
last year's marks in the *other* subjects is a second prior: it holds none of the teacher's own marks and
reduces the noise of a single test score as a measure of prior attainment (on the sample the residual
variance falls from 0.35 to 0.33; adding the same-subject mark as well would gain 0.01 and bring the
leniency back).

Which years enter. ВПР covers grades 4–8 in two or three subjects, so a teacher × subject has one to
three ВПР classes a year (20–70 students); one year of ВПР finds fewer
than half of the planted low teachers (below). The external model pools the current and the two previous school years (``years=3``, year and
grade as fixed effects, classes nested in the teacher by year): a teacher's estimate is the average
contribution over up to three years. On the sample and eight other generated municipalities (seeds 1–9)
it found 26 of the 29 planted low teachers (two years pooled: 23, one year: 12) and 8 of the 9 planted
high ones; of the 18 marking-biased teachers it flagged 2 in the direction of their bias (one of them has a
real teaching effect of +0.13). The journal model pools two years (``years=2``): one year found 21 of the
29, two years 28 — but the journal also flags 14 (one year) or 16 (two years) of the 18 marking-biased
teachers, which is why ВПР decides where it can. The price of pooling is a slower estimate: a teacher who
changed their work shows it fully only after the pooled years; ``years`` says which years are behind an
estimate, and ``years=1`` gives one year. The class table shows the current year's classes only.

Why not the plug-in EB interval. The conditional standard error of a BLUP (lme4's ``condVar``)
treats the fixed effects and the unit variance as known. Both are estimated: the grade and subject
intercepts absorb part of the units' effects, and with a few dozen units the unit variance is often
estimated near 0, where every effect is shrunk to 0 with a near-zero standard error. On simulated
municipalities with planted teacher effects those intervals covered the true effects ~85 % of the
time (tests/test_value_added.py). ``estimate`` and ``se`` are therefore the posterior mean and standard
deviation of the effect with the fixed effects (flat prior: Henderson's prediction error variance given
the unit variance) and the unit variance (flat prior on ``[0, inf)``, Morris 1983) integrated out, see
:func:`vsoko_toolkit.stats._mixed_fast.integrated_eb`; the coverage of planted effects is then ~95 %.
The journal estimand is the effect on the year-mark scale (a latent effect shows attenuated by the
2–5 scale). The price of the integrated intervals is power: under the null they are conservative.

Testing. Each unit has one decisive estimate: ВПР when it rests on at least ``MIN_EXTERNAL_N`` students,
the journal otherwise. Two-sided p-values of ``estimate / se`` are Benjamini–Hochberg controlled within a
family per measure — the school's decisive ВПР estimates, and its decisive journal estimates (the two
measure different things: teaching alone, teaching with the teacher's marking) — and a
``low_value_added`` / ``high_value_added`` finding is emitted only for q < 0.05 (the interval then clears
the municipal mean). One family for both would let the ~100 journal estimates of subjects without ВПР
dilute the ВПР ones: on the nine generated municipalities it found 23 of the 29 planted low teachers
against 26 with a family per measure. The null tests cover the union (a run with both kinds of decisive
estimates has no finding in more than 5 % + MC error of null simulations). The other measure's estimates,
shown beside for comparison, form their own families (``q_value``/``flagged`` say whether they would clear
the rule on their own).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import check_option
from ..findings import Cause, Finding, Recommendation, Skipped
from ..report import phrases as ph
from ..stats.intervals import bh_qvalues
from ..warehouse import fitcache
from ..warehouse.schema import has_column as _has_column
from ..warehouse.schema import has_table as _has_table
from .base import AnalysisResult

ALPHA = 0.05
MIN_UNIT_N = 5
MIN_EXTERNAL_N = 15  # students with ВПР behind a unit for the external estimate to decide its findings
MIN_CELL = 20  # students of a (subject, grade, year) ВПР to standardise scores over the municipality
OUTCOMES = ("journal", "external", "auto")
YEARS = {"journal": 2, "external": 3}
COLUMNS = ["unit_type", "unit_id", "subject", "estimate", "ci_low", "ci_high", "n", "se", "p_value", "q_value",
           "flagged"]
EXTRA = ["outcome", "decisive", "agreement", "school_id", "teacher_id", "class_id", "n_classes", "mean_y",
         "mean_prior", "pct_per_sd", "years"]
UNIT_RU = {"journal": "балла", "external": "ст. откл."}


def progress_data(con, year: int) -> pd.DataFrame:
    """Per student × subject of ``year`` (whole municipality): year mark ``y``, last year's mark ``prior``,
    last year's mean mark ``prior_gpa``, ``special_needs`` (0/1), teacher, class, school, grade."""
    sn = "coalesce(CAST(st.special_needs AS INTEGER), 0)" if _has_column(con, "students", "special_needs") else "0"
    join_st = "LEFT JOIN students st USING (student_id)" if sn != "0" else ""
    return con.execute(f"""
        WITH cur AS (SELECT student_id, class_id, school_id, grade, subject, mark_value AS y FROM period_marks
                      WHERE period = 'year' AND year = ? AND mark_value IS NOT NULL),
             prev AS (SELECT student_id, subject, avg(mark_value) AS prior FROM period_marks
                       WHERE period = 'year' AND year = ? AND mark_value IS NOT NULL GROUP BY ALL),
             gpa AS (SELECT student_id, avg(mark_value) AS prior_gpa FROM period_marks
                      WHERE period = 'year' AND year = ? AND mark_value IS NOT NULL GROUP BY ALL),
             asg AS (SELECT class_id, subject, min(teacher_id) AS teacher_id FROM assignments
                      WHERE year = ? GROUP BY ALL)
        SELECT cur.*, prev.prior, gpa.prior_gpa, asg.teacher_id, {sn} AS special_needs
          FROM cur JOIN prev USING (student_id, subject) JOIN gpa USING (student_id)
          JOIN asg USING (class_id, subject) {join_st}
         ORDER BY cur.school_id, cur.class_id, cur.subject, cur.student_id""",
                       [int(year), int(year) - 1, int(year) - 1, int(year)]).df()


def journal_data(con, year: int, years: int = 1) -> pd.DataFrame:
    """:func:`progress_data` of ``year`` and the ``years - 1`` years before it, with a ``year`` column."""
    parts = [progress_data(con, y).assign(year=y) for y in range(int(year) - years + 1, int(year) + 1)]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else parts_empty()


def parts_empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["student_id", "class_id", "school_id", "grade", "subject", "y", "prior",
                                 "prior_gpa", "teacher_id", "special_needs", "year"])


def external_reason(con) -> str | None:
    """Why the external value added cannot run on ``con`` (Russian), or None."""
    if not _has_table(con, "assessments"):
        return ("Нет таблицы результатов внешних оценочных процедур (assessments): вклад учителей по результатам "
                "ВПР не рассчитан, оценка строится только по журнальным отметкам.")
    if not _has_column(con, "assessments", "primary_score"):
        return "В таблице assessments нет первичных баллов: вклад учителей по результатам ВПР не рассчитан."
    if not con.execute("SELECT count(*) FROM assessments WHERE kind = 'VPR'").fetchone()[0]:
        return "Результатов ВПР в данных нет: вклад учителей по результатам ВПР не рассчитан."
    return None


def _vpr_source(con) -> str:
    """ВПР rows with school, year and grade: the warehouse's derived columns, or the class's from period_marks
    on a hand-made connection without them."""
    if all(_has_column(con, "assessments", c) for c in ("school_id", "year", "grade")):
        return ("(SELECT student_id, class_id, school_id, year, grade, subject, primary_score FROM assessments "
                "WHERE kind = 'VPR')")
    return ("(SELECT a.student_id, a.class_id, c.school_id, c.year, c.grade, a.subject, a.primary_score "
            "FROM assessments a JOIN (SELECT DISTINCT class_id, school_id, year, grade FROM period_marks) c "
            "USING (class_id) WHERE a.kind = 'VPR')")


def external_data(con, year: int, years: int = 3) -> pd.DataFrame:
    """Per student × subject with a ВПР in ``year`` (and the ``years - 1`` years before): the score's z within
    (subject, grade, year) over the municipality ``y``; last year's ВПР z ``prior_z`` (NaN without one); last
    year's year mark in the subject ``prior_mark``, kept only when another teacher gave it; the mean of last
    year's year marks in the other subjects ``prior_gpa``; ``special_needs``, teacher, class, school, grade,
    year, and ``pct_per_sd`` (percentage points of the maximum score per standard deviation; NaN without
    ``assessment_specs``). A row needs a prior ВПР or a prior mark from another teacher."""
    first, last = int(year) - years + 1, int(year)
    sn = "coalesce(CAST(st.special_needs AS INTEGER), 0)" if _has_column(con, "students", "special_needs") else "0"
    join_st = "LEFT JOIN students st ON st.student_id = cur.student_id" if sn != "0" else ""
    has_max = _has_table(con, "assessment_specs") and all(
        _has_column(con, "assessment_specs", c) for c in ("kind", "subject", "grade", "year", "max_score"))
    mx = ("LEFT JOIN (SELECT subject, grade, year, sum(max_score) AS max_total FROM assessment_specs "
          "WHERE kind = 'VPR' GROUP BY ALL) mx USING (subject, grade, year)") if has_max else ""
    pct = "100 * cell.sd / nullif(mx.max_total, 0)" if has_max else "CAST(NULL AS DOUBLE)"
    return con.execute(f"""
        WITH a AS (SELECT student_id, any_value(class_id) AS class_id, any_value(school_id) AS school_id, year,
                          grade, subject, avg(primary_score) AS score
                     FROM {_vpr_source(con)} WHERE primary_score IS NOT NULL AND year BETWEEN ? AND ?
                    GROUP BY student_id, year, grade, subject),
             cell AS (SELECT subject, grade, year, avg(score) AS mu, stddev_samp(score) AS sd, count(*) AS n
                        FROM a GROUP BY ALL),
             z AS (SELECT a.*, (a.score - cell.mu) / cell.sd AS z, {pct} AS pct_per_sd
                     FROM a JOIN cell USING (subject, grade, year) {mx}
                    WHERE cell.n >= {MIN_CELL} AND cell.sd > 0),
             pz AS (SELECT student_id, year, subject, avg(z) AS prior_z FROM z GROUP BY ALL),
             asg AS (SELECT class_id, subject, min(teacher_id) AS teacher_id FROM assignments GROUP BY ALL),
             pm AS (SELECT student_id, year, subject, avg(mark_value) AS prior_mark, min(class_id) AS class_id
                      FROM period_marks WHERE period = 'year' AND mark_value IS NOT NULL AND year BETWEEN ? AND ?
                     GROUP BY student_id, year, subject),
             pmt AS (SELECT pm.*, asg.teacher_id AS prior_teacher FROM pm LEFT JOIN asg USING (class_id, subject)),
             tot AS (SELECT student_id, year, sum(prior_mark) AS s, count(*) AS k FROM pm GROUP BY ALL)
        SELECT cur.student_id, cur.class_id, cur.school_id, cur.grade, cur.year, cur.subject, cur.z AS y,
               pz.prior_z,
               CASE WHEN pmt.prior_teacher IS DISTINCT FROM asg.teacher_id THEN pmt.prior_mark END AS prior_mark,
               (tot.s - coalesce(pmt.prior_mark, 0)) / (tot.k - CASE WHEN pmt.prior_mark IS NULL THEN 0 ELSE 1 END)
                   AS prior_gpa,
               asg.teacher_id, {sn} AS special_needs, cur.pct_per_sd
          FROM z cur
          JOIN asg ON asg.class_id = cur.class_id AND asg.subject = cur.subject
          JOIN tot ON tot.student_id = cur.student_id AND tot.year = cur.year - 1
          LEFT JOIN pz ON pz.student_id = cur.student_id AND pz.subject = cur.subject AND pz.year = cur.year - 1
          LEFT JOIN pmt ON pmt.student_id = cur.student_id AND pmt.subject = cur.subject AND pmt.year = cur.year - 1
          {join_st}
         WHERE cur.year BETWEEN ? AND ?
           AND tot.k > CASE WHEN pmt.prior_mark IS NULL THEN 0 ELSE 1 END
           AND (pz.prior_z IS NOT NULL OR (pmt.prior_mark IS NOT NULL AND pmt.prior_teacher IS DISTINCT FROM
                                                                          asg.teacher_id))
         ORDER BY cur.school_id, cur.class_id, cur.subject, cur.student_id, cur.year""",
                       [first - 1, last, first - 1, last - 1, first, last]).df()


def _journal_formula(d: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    terms = ["prior_gpa"]
    terms.append("C(subject) * prior" if d["subject"].nunique() > 1 else "prior")
    if d["grade"].nunique() > 1:
        terms.append("C(grade)")
    if d["year"].nunique() > 1:
        terms.append("C(year)")
    if d["special_needs"].nunique() > 1:
        terms.append("special_needs")
    return d, "y ~ " + " + ".join(terms)


def _external_formula(d: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Design columns of the external model, kept only where they add rank (a subject without prior ВПР,
    e.g. Окружающий мир in grade 4, has no prior-ВПР slope)."""
    d = d.copy()
    has_z = d["prior_z"].notna()
    cols: dict[str, np.ndarray] = {"prior_gpa": d["prior_gpa"].to_numpy(float)}
    subjects = sorted(d["subject"].unique())
    for i, s in enumerate(subjects):
        ins = (d["subject"] == s).to_numpy()
        if i:
            cols[f"s{i}"] = ins.astype(float)
        cols[f"pz{i}"] = np.where(ins & has_z, d["prior_z"].fillna(0), 0.0)
        cols[f"nz{i}"] = (ins & ~has_z).astype(float)
        cols[f"pm{i}"] = np.where(ins & ~has_z, d["prior_mark"].fillna(4) - 4, 0.0)
    for col, prefix in (("grade", "g"), ("year", "yr")):
        for v in sorted(d[col].unique())[1:]:
            cols[f"{prefix}{v}"] = (d[col] == v).to_numpy(float)
    cols["special_needs"] = d["special_needs"].to_numpy(float)
    names = list(cols)
    x = np.column_stack([np.ones(len(d))] + [cols[n] for n in names])
    gram = x.T @ x  # greedy on the cross-products: a column enters when it is not (nearly) a combination of
    kept = [0]      # the intercept and the columns kept before it
    for j in range(1, x.shape[1]):
        g_kk, g_kj = gram[np.ix_(kept, kept)], gram[kept, j]
        resid = gram[j, j] - g_kj @ np.linalg.solve(g_kk, g_kj)
        centred = gram[j, j] - gram[0, j] ** 2 / len(d)
        if centred > 1e-12 and resid > 1e-8 * max(gram[j, j], 1.0):
            kept.append(j)
    keep = [names[j - 1] for j in kept[1:]]
    for name in keep:
        d[name] = cols[name]
    return d, "y ~ " + (" + ".join(keep) if keep else "1")


def _unit_effects(d: pd.DataFrame, formula: str, unit_type: str, engine: str, methods) -> tuple[pd.DataFrame, object]:
    """EB effects of teacher × subject (classes × year nested) or class × subject units. With the default
    optimizers the fit stops once two of them agree (``fit_mixed(early_stop=True)``)."""
    # imported when a fit is needed, not when a saved one is read
    from ..stats.mixed import fit_mixed

    d = d.copy()
    d["teacher_unit"] = d["teacher_id"] + "|" + d["subject"]
    d["class_unit"] = d["class_id"] + "|" + d["subject"]
    if unit_type == "teacher":
        res = fit_mixed(d, formula, groups="teacher_unit", vc_formula={"class": "0 + C(class_unit)"},
                        engine=engine, methods=methods, integrate_eb=True, early_stop=methods is None)
        re = res.random_effects
        re = re[re["component"] != "class"]
        key = "teacher_unit"
    else:
        res = fit_mixed(d, formula, groups="class_unit", engine=engine, methods=methods, integrate_eb=True,
                        early_stop=methods is None)
        re = res.random_effects
        key = "class_unit"
    re = (re.drop_duplicates("group")[["group", "estimate_int", "se_int"]]
          .rename(columns={"group": key, "estimate_int": "estimate", "se_int": "se"}))
    prior = "prior" if "prior" in d else "prior_gpa"
    pct = d["pct_per_sd"] if "pct_per_sd" in d else pd.Series(np.nan, index=d.index)
    meta = d.assign(pct_per_sd=pct).groupby(key).agg(
        n=("student_id", "size"), school_id=("school_id", "first"), subject=("subject", "first"),
        teacher_id=("teacher_id", "first"), class_id=("class_id", "first"), n_classes=("class_id", "nunique"),
        mean_y=("y", "mean"), mean_prior=(prior, "mean"), pct_per_sd=("pct_per_sd", "mean"),
        years=("year", lambda y: ",".join(str(v) for v in sorted(set(y))))).reset_index()
    out = meta.merge(re, on=key)
    out["unit_type"] = unit_type
    out["unit_id"] = out["teacher_id"] if unit_type == "teacher" else out["class_id"]
    return out, res


_CACHE: OrderedDict = OrderedDict()  # fits keyed by a hash of their input data: schools of one run share them
_CACHE_SIZE = 8
#: The code a municipal fit depends on: a change in any of these makes the saved fits stale (warehouse.fitcache).
_FIT_MODULES = ("vsoko_toolkit.analysis.value_added", "vsoko_toolkit.stats.mixed", "vsoko_toolkit.stats._mixed_fast",
                "vsoko_toolkit.warehouse.fitcache")


def municipal_effects(con, year: int, outcome: str, years: int | None = None, engine: str = "fast",
                      methods=None) -> tuple[pd.DataFrame, dict, pd.Series]:
    """Every unit of the municipality for one outcome (``journal`` or ``external``), before testing:
    ``(table, models, n_students per school)``. Class units of earlier pooled years are dropped.

    The fits do not depend on the school, so they are memoised on the model's input data (a hash of the
    rows read, not of the connection): the schools of one municipality fit once per process, and once per
    warehouse across processes (:mod:`vsoko_toolkit.warehouse.fitcache`, beside the warehouse file)."""
    years = YEARS[outcome] if years is None else int(years)
    d = fitcache.settle(journal_data(con, year, years) if outcome == "journal" else external_data(con, year, years))
    key = (outcome, int(year), engine, tuple(methods) if methods else None, fitcache.data_hash(d), len(d))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        table, models, n_students = _CACHE[key]
        return table.copy(), dict(models), n_students.copy()
    saved = fitcache.load(con, key, _FIT_MODULES) if len(d) else None
    if saved is not None:
        _remember(key, saved)
        table, models, n_students = saved
        return table.copy(), dict(models), n_students.copy()
    parts, models = [], {}
    if len(d):
        d, formula = (_journal_formula if outcome == "journal" else _external_formula)(d)
        for unit_type in ("teacher", "class"):
            eff, res = _unit_effects(d, formula, unit_type, engine, methods)
            models[unit_type] = res
            if unit_type == "class":
                eff = eff[eff["years"] == str(int(year))]
            parts.append(eff)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS + EXTRA)
    table["outcome"] = outcome
    n_students = (d[d["year"] == int(year)].groupby("school_id")["student_id"].nunique() if len(d)
                  else pd.Series(dtype=int))
    _remember(key, (table, models, n_students))
    if len(d):
        fitcache.save(con, key, _FIT_MODULES, (table, models, n_students))
    return table.copy(), dict(models), n_students.copy()


def _remember(key, value) -> None:
    _CACHE[key] = value
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def _test(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Intervals, p-values and BH q-values (one family: the rows given)."""
    table = table.copy()
    if not len(table):
        return table
    se = table["se"].to_numpy(dtype=float)
    est = table["estimate"].to_numpy(dtype=float)
    table["ci_low"], table["ci_high"] = est - 1.959964 * se, est + 1.959964 * se
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, 0.0)
    table["p_value"] = 2 * stats.norm.sf(np.abs(z))
    table["q_value"] = bh_qvalues(table["p_value"].to_numpy(dtype=float))
    table["flagged"] = table["q_value"] < alpha
    return table


def school_table(tables: dict[str, pd.DataFrame], school_id: str, outcome: str, alpha: float = ALPHA) -> pd.DataFrame:
    """The school's rows of the municipal tables, tested (see "Testing" in the module docstring)."""
    own = {k: t[(t["school_id"] == school_id) & (t["n"] >= MIN_UNIT_N)] for k, t in tables.items()}
    own = {k: t for k, t in own.items() if len(t)}
    if not own:
        return pd.DataFrame(columns=COLUMNS + EXTRA)
    t = pd.concat(list(own.values()), ignore_index=True)
    key = t["unit_type"] + "|" + t["unit_id"].astype(str) + "|" + t["subject"]
    ext_ok = set(key[(t["outcome"] == "external") & (t["n"] >= MIN_EXTERNAL_N)])
    if outcome == "auto":
        t["decisive"] = np.where(key.isin(ext_ok), t["outcome"] == "external", t["outcome"] == "journal")
    else:
        t["decisive"] = True
    # one family per measure and role: the decisive ВПР estimates, the decisive journal ones, and each
    # measure's comparison rows
    t = pd.concat([_test(g, alpha) for _, g in t.groupby(["decisive", "outcome"])], ignore_index=True)
    t["agreement"] = _agreement(t)
    t = t.sort_values(["unit_type", "subject", "outcome", "estimate"], ascending=[False, True, True, True])
    return t.reset_index(drop=True)


def _agreement(t: pd.DataFrame) -> pd.Series:
    """Per row, where both outcomes exist for the unit (and ВПР rests on ``MIN_EXTERNAL_N`` students or more):
    ``journal_only_high`` — the journal shows high progress beyond noise and ВПР does not even nominally (its
    interval reaches 0 or below): a marking signal; ``journal_only_low``, ``external_only_high``,
    ``external_only_low`` likewise; ``same`` when one is beyond noise and the other points the same way
    (its interval clears 0 on that side); ``""`` when neither is beyond noise."""
    est = t["estimate"].astype(float)
    sig = np.where(t["flagged"].astype(bool), np.sign(est), 0)
    nominal = np.where(t["ci_low"].astype(float) > 0, 1, np.where(t["ci_high"].astype(float) < 0, -1, 0))
    key = t["unit_type"] + "|" + t["unit_id"].astype(str) + "|" + t["subject"]
    s = pd.DataFrame({"key": key, "outcome": t["outcome"], "sig": sig, "nom": nominal, "n": t["n"]})
    j, e = (s[s["outcome"] == o].drop_duplicates("key").set_index("key") for o in ("journal", "external"))
    out = {}
    for k in j.index.intersection(e.index[e["n"] >= MIN_EXTERNAL_N]):
        js, es, jn, en = j.at[k, "sig"], e.at[k, "sig"], j.at[k, "nom"], e.at[k, "nom"]
        side = {1: "high", -1: "low"}
        if js and en != js:
            out[k] = "journal_only_" + side[js]
        elif es and jn != es:
            out[k] = "external_only_" + side[es]
        elif js or es:
            out[k] = "same"
    return pd.Series([out.get(k, "") for k in key], index=t.index, dtype=object)


@dataclass(frozen=True)
class ValueAddedResult(AnalysisResult):
    """Value added of the school's teachers and classes.

    ``tidy()`` columns: unit_type (teacher / class), unit_id, subject, estimate, ci_low, ci_high (relative to
    the municipal mean: marks for ``outcome == 'journal'``, standard deviations of ВПР results for
    ``'external'``), n (students), se, p_value, q_value, flagged (q < alpha in its family), outcome,
    decisive (the row the unit's findings come from), agreement (see :func:`_agreement`), school_id,
    teacher_id, class_id, n_classes, mean_y, mean_prior, pct_per_sd (external: percentage points of the
    maximum ВПР score per standard deviation), years (school years behind the estimate).
    ``models``: the fits, keyed ``(outcome, unit_type)``.
    """

    models: dict | None = None
    school_id: str = ""
    year: int = 0
    n_students: int = 0
    outcome: str = "auto"

    def disagreements(self) -> pd.DataFrame:
        """Teachers whose journal and ВПР estimates disagree (one beyond noise, the other not or opposite)."""
        d = self.table
        return d[(d["unit_type"] == "teacher") & (d["outcome"] == "journal") & (d["agreement"] != "")
                 & (d["agreement"] != "same")].reset_index(drop=True)

    def plot(self, ax=None, unit_type: str = "teacher", labels: bool = True, outcome: str | None = None):
        """Caterpillar plot of one outcome (default: external when computed): every unit's estimate with its
        95 % interval, sorted; flagged units in colour."""
        import matplotlib.pyplot as plt

        d = self.table[self.table["unit_type"] == unit_type]
        if outcome is None:
            outcome = "external" if (d["outcome"] == "external").any() else "journal"
        d = d[d["outcome"] == outcome].sort_values("estimate").reset_index(drop=True)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, max(2.5, 0.22 * len(d) + 1)))
        colors = np.where(~d["flagged"].astype(bool), "#7f7f7f", np.where(d["estimate"] < 0, "#c0392b", "#1f7a3a"))
        y = np.arange(len(d))
        ax.hlines(y, d["ci_low"], d["ci_high"], colors=colors, lw=1.5)
        ax.scatter(d["estimate"], y, c=colors, zorder=3, s=14)
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_yticks(y)
        names = (d["unit_id"].map(ph.class_label) if unit_type == "class" else d["unit_id"]) + " · " + d["subject"]
        ax.set_yticklabels(names if labels else [""] * len(d), fontsize=7)
        ax.set_xlabel("вклад в результат ВПР относительно среднего по муниципалитету, стандартных отклонений (95 % ДИ)"
                      if outcome == "external" else
                      "вклад в годовую отметку относительно среднего по муниципалитету, балла (95 % ДИ)", fontsize=8)
        who = "учителя" if unit_type == "teacher" else "классы"
        what = "по результатам ВПР" if outcome == "external" else "по годовым отметкам"
        ax.set_title(f"Вклад {what}: {who} × предмет (серые — в пределах случайного разброса)", fontsize=10)
        return ax


def value_added(con, school_id: str, year: int, alpha: float = ALPHA, engine: str = "fast",
                methods=None, outcome: str = "auto", years: int | None = None) -> ValueAddedResult:
    """Value added of ``school_id``'s teachers and classes in ``year`` (see the module docstring).

    ``outcome``: ``'journal'`` (year marks), ``'external'`` (ВПР), ``'auto'`` (both; findings from ВПР where a
    unit has at least ``MIN_EXTERNAL_N`` students with ВПР). ``years``: school years pooled (default: 1 for
    the journal, 2 for ВПР). Without ВПР data the external part is skipped with a stated reason.

    Examples
    --------
    >>> va = value_added(con, "S01", 2025)  # doctest: +SKIP
    >>> va.tidy().query("flagged and decisive")  # doctest: +SKIP
    """
    check_option("outcome", outcome, OUTCOMES)
    tables, models, skipped, n_students = {}, {}, [], 0
    wanted = ("journal", "external") if outcome == "auto" else (outcome,)
    reason = external_reason(con) if "external" in wanted else None
    if reason:
        skipped.append(Skipped("value_added_external", reason))
        wanted = tuple(w for w in wanted if w != "external")
    for o in wanted:
        t, m, n = municipal_effects(con, year, o, years, engine, methods)
        if (t["school_id"] == school_id).any():
            tables[o] = t
            models.update({(o, k): v for k, v in m.items()})
        n_students = max(n_students, int(n.get(school_id, 0)))
    table = school_table(tables, school_id, outcome, alpha)
    m = table[table["decisive"].astype(bool)].groupby("outcome").size() if len(table) else {}
    findings = tuple(_finding(r, table, school_id, year, int(m[r.outcome]))
                     for r in table[table["flagged"].astype(bool) & table["decisive"].astype(bool)].itertuples())
    notes = tuple(w.message for m in models.values() for w in m.warnings if w.severity != "info")
    table = table[COLUMNS + EXTRA].reset_index(drop=True)
    if table.empty:  # typed, so boolean masks on "flagged" stay masks
        table = table.astype({"flagged": bool, "decisive": bool, **{c: float for c in COLUMNS[3:10]}})
    table.loc[table["unit_type"] == "teacher", "class_id"] = ""  # a teacher unit spans several classes
    return ValueAddedResult(table=table, findings=findings, skipped=tuple(skipped), notes=notes, models=models,
                            school_id=school_id, year=int(year), n_students=n_students, outcome=outcome)


def _one_class_cause(r, table: pd.DataFrame) -> Cause:
    hyp = "Результат объясняется одним классом (набором учеников), а не работой учителя"
    if r.unit_type != "teacher":
        return Cause(hyp, "inconclusive", "Оценка относится к классу: вклад учителя и особенности класса в ней "
                                          "не разделяются.")
    cls = table[(table["unit_type"] == "class") & (table["teacher_id"] == r.unit_id)
                & (table["subject"] == r.subject) & (table["outcome"] == r.outcome)]
    if len(cls) < 2:
        return Cause(hyp, "inconclusive", "У учителя по этому предмету один класс в этом году: отличить вклад "
                                          "учителя от особенностей класса по этим данным нельзя.")
    same = int((np.sign(cls["estimate"]) == np.sign(r.estimate)).sum())
    verdict = "not_supported" if same == len(cls) else "inconclusive"
    return Cause(hyp, verdict, f"В {same} из {len(cls)} классов учителя по предмету в этом году оценка вклада того "
                               f"же знака ({', '.join(ph.signed(x) for x in cls['estimate'])} {UNIT_RU[r.outcome]}).")


def _other(r, table: pd.DataFrame):
    o = table[(table["unit_type"] == r.unit_type) & (table["unit_id"] == r.unit_id) & (table["subject"] == r.subject)
              & (table["outcome"] != r.outcome)]
    return None if o.empty else o.iloc[0]


def _marking_cause(r, table: pd.DataFrame) -> Cause | None:
    """For a finding from ВПР: what the journal shows for the same unit (the two measures side by side)."""
    o = _other(r, table)
    if r.outcome != "external" or o is None:
        return None
    hyp = "Результат объясняется тем, как учитель выставляет отметки, а не преподаванием"
    low = r.estimate < 0
    same = bool(o["flagged"]) and np.sign(o["estimate"]) == np.sign(r.estimate)
    tail = ("то же видно и по годовым отметкам" if same else
            "по годовым отметкам этого не видно: отметки, вероятно, выставляются " +
            ("мягче, чем показывает ВПР" if low else "строже, чем показывает ВПР"))
    return Cause(hyp, "not_supported", f"Оценка построена по результатам ВПР, которые проверяются по единым критериям "
                 f"и не зависят от отметок учителя; {tail} (по годовым отметкам {ph.signed(o['estimate'])} балла, "
                 f"95\u00a0% ДИ {ph.signed(o['ci_low'])} … {ph.signed(o['ci_high'])}).")


def _finding(r, table: pd.DataFrame, school_id: str, year: int, m: int) -> Finding:
    low = r.estimate < 0
    ext = r.outcome == "external"
    kind = "low_value_added" if low else "high_value_added"
    who = f"учителя {r.unit_id}" if r.unit_type == "teacher" else f"в {ph.class_label(r.unit_id)} классе"
    ci = f"95\u00a0% ДИ {ph.signed(r.ci_low)} … {ph.signed(r.ci_high)}"
    if ext:
        yrs = str(r.years).split(",")
        when = f"за {yrs[0]} год" if len(yrs) == 1 else f"за {', '.join(yrs[:-1])} и {yrs[-1]} годы"
        size = (f" (около {ph.num(abs(r.estimate) * r.pct_per_sd, 0)} процентных пунктов выполнения работы)"
                if pd.notna(r.pct_per_sd) else "")
        evidence = (f"Ученики {who} по предмету «{r.subject}» ({r.n} результатов ВПР {when}) написали ВПР в среднем "
                    f"на {ph.num(abs(r.estimate))} стандартного отклонения{size} {'хуже' if low else 'лучше'}, чем "
                    f"ученики муниципалитета с такими же результатами ВПР за предыдущий год (если ВПР не было — с такой "
                    f"же годовой отметкой, выставленной другим учителем) и таким же средним баллом по другим предметам: оценка {ph.signed(r.estimate)} ({ci}), "
                    f"{ph.q_text(r.q_value, m)}. ВПР проверяется по единым критериям, поэтому на оценку не влияет то, "
                    f"как учитель выставляет отметки. Оценка сглажена (эмпирический Байес): у малых групп она ближе к нулю.")
        prior = (f"Модель учитывает результат ВПР ученика за предыдущий год (или годовую отметку другого учителя, если "
                 f"ВПР не было) и средний балл за прошлый год по другим предметам; он у этих учеников — "
                 f"{ph.num(r.mean_prior)}.")
    else:
        evidence = (f"Ученики {who} по предмету «{r.subject}» ({r.n} учеников) получили годовые отметки в среднем на "
                    f"{ph.num(abs(r.estimate))} балла {'ниже' if low else 'выше'}, чем ученики муниципалитета с такими же "
                    f"отметками за прошлый год (с учётом параллели и особых образовательных потребностей): оценка "
                    f"{ph.signed(r.estimate)} ({ci}), {ph.q_text(r.q_value, m)}. Оценка сглажена (эмпирический "
                    f"Байес): у малых групп она ближе к нулю. Оценка построена по журнальным отметкам и зависит и от "
                    f"преподавания, и от того, как учитель оценивает.")
        prior = (f"Модель учитывает годовую отметку ученика по предмету и средний балл за прошлый год; средняя "
                 f"прошлогодняя отметка этих учеников — {ph.num(r.mean_prior)}.")
    causes = [Cause("Различия в исходной подготовке учеников", "not_supported", prior), _one_class_cause(r, table)]
    mark = _marking_cause(r, table)
    if mark is not None:
        causes.append(mark)
    addressee = ("teacher", r.unit_id) if r.unit_type == "teacher" else ("class", r.unit_id)
    if low:
        text = (f"Заместителю директора по УВР и руководителю ШМО: посетить уроки по предмету «{r.subject}» "
                f"({who}), разобрать с учителем темы с наименьшим приростом, назначить наставника; проверить "
                f"прирост по итогам {'ВПР' if ext else 'следующего учебного года'}.")
    else:
        text = (f"Руководителю ШМО: организовать открытые уроки и обмен практикой ({who}, предмет «{r.subject}»), "
                "проверить, сохраняется ли прирост в следующем учебном году.")
    rec = Recommendation(text=text, addressee_type=addressee[0], addressee_id=addressee[1],
                         responsible="заместитель директора по УВР", deadline=f"{year}-12-25",
                         control_metric="value_added", baseline=round(float(r.estimate), 3),
                         target=0.0 if low else round(float(r.estimate), 3))
    # severity on a common scale: ~0.5 mark ≈ 0.5 sd of ВПР results at the middle of the mark scale
    sev = "high" if abs(r.estimate) >= 0.3 else "medium" if abs(r.estimate) >= 0.15 else "low"
    what = "по результатам ВПР" if ext else "по годовым отметкам"
    title = (f"{'Низкий' if low else 'Высокий'} прирост учеников {who} по предмету «{r.subject}» "
             f"(вклад в результаты, {what})")
    extra = {"teacher_id": str(r.teacher_id), "outcome": r.outcome}
    o = _other(r, table)
    if o is not None:
        extra.update({"other_outcome_estimate": round(float(o["estimate"]), 4),
                      "other_outcome_flagged": bool(o["flagged"])})
    return Finding(area="factors", kind=kind, polarity="problem" if low else "strength", severity=sev,
                   school_id=school_id, year=int(year), target_type=r.unit_type, target_id=str(r.unit_id),
                   subject=r.subject, metric="value_added", estimate=float(r.estimate), ci_low=float(r.ci_low),
                   ci_high=float(r.ci_high), p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n),
                   title=title, evidence=evidence, causes=tuple(causes), recommendation=rec, extra=extra)
