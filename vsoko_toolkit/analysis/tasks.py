"""Per-task and per-skill success of a school's external works, and skill deficits with FDR control.

Public entry point: :func:`task_analysis`.

Tables. For every work of ``year`` written in the school (kind, subject, grade) and every task of
its specification (``assessment_specs``), the success rate of a group is the points scored over the
points possible, ``sum(score) / (n_students * max_score)`` — the «процент выполнения» of the federal
reports — for each class and the school. A skill is the set of tasks sharing ``skill`` (a task
without a skill is its own skill).

Benchmark. Each task's benchmark is the region's success (``region_pct``), else Russia's
(``russia_pct``); both are optional in the contract, and when a work has neither, the benchmark is
the pooled success of the other schools of the municipality on the same task (same kind, subject,
grade, year; at least ``MIN_REF`` students), which the notes and the book say.

Test (one per group × skill: each class, and the grade when it has two or more classes). A class
that is weak on the whole work is not a task deficit, so the comparison is made at each student's
own level. The model is the Rasch model on
points: student ``i`` scores ``x_ij ~ Binomial(max_j, expit(theta_i - delta_j))`` on task ``j``,
with difficulties taken from the benchmark, ``delta_j = -c * logit(bench_j)`` (the probit
approximation of a logistic-normal population mean: region shares are averages over a population
of abilities, so the logit spread of the tasks is scaled by one factor ``c``, estimated from the
school's students by conditional maximum likelihood). Given a student's total score on the work,
the Rasch model makes the split of that total between the skill's tasks and the other tasks
independent of the student's ability (the total is sufficient): ``P(S_i = s | T_i)`` is a ratio of
elementary symmetric functions. A group's skill score ``S = sum_i S_i`` is compared with this
conditional distribution (exact convolution over students, one-sided, lower tail): the test needs
no estimate of any class level, every student carries their own, and the uncertainty of that level
is exact rather than plugged in — the optimal (UMP unbiased) test of a group × skill shift in the
Rasch model. On the brief's question whether the level adjustment removes too much of the deficit:
the total includes the skill's own tasks, so a deficit lowers the expectation a little (roughly by
the skill's share of the work's score variance), but this is the price of exactness and is small;
the class-level shift used before did the same, ignored the students' spread and treated points as
independent trials, and a level estimated from the other skills only and plugged in (tried:
``z`` −3.1 for the sample's S02-2025-5А deficit against −3.4 here) ignores the error of that level. With a municipal benchmark, estimated from a
few hundred students, its own noise counts: the other schools' students are a reference group,
the task difficulties are those of the school and the reference pooled (the null hypothesis:
no difference between them, as in a score / Mantel–Haenszel test), and the statistic is the
two-group (DIF) contrast ``(O - E) - n/n_ref * (O_ref - E_ref)`` with variance
``V + (n/n_ref)^2 V_ref`` (normal approximation with continuity correction).

Multiplicity (two-stage hierarchical FDR, Benjamini & Bogomolov 2014; Yekutieli 2008). A unit is
a grade × skill of one work; its hypotheses are the grade test (with two or more classes) and one
test per class. Stage 1: a unit's p-value is the Simes combination of its tests; Benjamini–Hochberg
at level ``q`` across all units of the school and year selects ``R`` of the ``m`` units. Stage 2:
within each selected unit, BH at level ``q·R/m``. The FDR over units is ≤ q (Simes is valid for
the positively dependent grade/class tests), the average FDR within selected units is ≤ q, and under
no deficit at all the chance of any finding is ≤ q. (Given the totals, the skills of one work are
mildly negatively dependent; the null simulations of ``tests/test_anomalies.py``, with 2PL tasks
that the Rasch model does not fit exactly, keep the rate of any false finding below q.) The
reported ``q_value`` is ``max(q of the unit, within-unit BH q × m/R)``: a test is rejected when it
is ≤ ``alpha``. What this costs: in one work of 7 skills, a −20 p. p. deficit on two one-point tasks
in a grade of 40 students is found in about 4 runs of 5; a school with ~180 grade × skill units
needs p ≲ 1e-4 for a single deficit, so a one-class deficit of that size is often not established.

Findings (``task_deficit``, a rejected test whose group is below both the benchmark and the level
expected for its students): a grade deficit is a finding with target_type ``grade`` (target_id
the grade, e.g. ``"5"``); a class deficit keeps target_type ``class``. No duplicates: when the grade
is rejected, a class gets its own finding only if it is also worse than the rest of its grade
(contrast of the two groups' conditional residuals, one-sided, at the unit's level ``q·R/m``), and
the grade finding is kept only if the rest of the grade, without those classes, is still below
expectation (one-sided p ≤ q: a check of where an established deficit lies, not a new discovery);
a grade of one class has only the class test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import minimize_scalar
from scipy.special import gammaln, logit

from ..findings import Finding, Recommendation, Skipped
from ..report import phrases as ph
from ..stats.intervals import bh_qvalues, wilson_interval
from ..warehouse.schema import has_column, has_table, select_optional
from .base import AnalysisResult, empty_plot

ALPHA = 0.05
MIN_N = 5  # students with complete task scores behind a class test
MIN_REF = 20  # students of other schools behind a municipal benchmark
KIND_RU = {"VPR": "ВПР", "OGE": "ОГЭ", "EGE": "ЕГЭ", "GVE": "ГВЭ"}
SOURCE_RU = {"region": "по региону", "russia": "по России", "municipality": "в других школах муниципалитета"}
TASK_COLUMNS = ["level", "target_id", "kind", "subject", "grade", "task", "skill", "max_score", "n", "points",
                "possible", "pct", "pct_low", "pct_high", "region_pct", "russia_pct", "gap_region", "bench_pct",
                "bench_source"]
TEST_COLUMNS = ["kind", "subject", "grade", "skill", "tasks", "n", "points", "possible", "pct", "benchmark", "gap",
                "expected", "p_value", "q_value", "flagged", "unit_q", "bench_source"]
SKIP_TABLES = "для анализа заданий нужны таблицы assessment_items и assessment_specs"


@dataclass(frozen=True)
class TaskResult(AnalysisResult):
    """Per-task success and skill deficits (module docstring).

    ``tidy()`` columns: level (class / school), target_id (class id or school id), kind, subject,
    grade, task, skill, max_score, n (students), points (scored), possible (n × max_score),
    pct (points / possible, share), pct_low, pct_high (Wilson on points), region_pct, russia_pct
    (shares), gap_region (pct − region_pct), bench_pct (the benchmark used, share), bench_source
    (region / russia / municipality).
    ``skills``: class × skill tests: class_id, class_label («7Б»), teacher_id, kind, subject, grade, skill, tasks, n,
    points, possible, pct, benchmark (share on the skill's tasks), gap (pct − benchmark), expected
    (share expected at the level of these students: Rasch, given each student's total), p_value,
    q_value (hierarchical, module docstring), flagged (a class finding), unit_q (q of the grade ×
    skill unit), bench_source, contrast_p (class worse than the rest of its grade; NaN if alone).
    ``grades``: grade × skill tests of grades with two or more classes, the same columns without
    class_id/teacher_id/contrast_p, with n_classes and teacher_ids; flagged = a grade finding.
    """

    skills: pd.DataFrame | None = None
    grades: pd.DataFrame | None = None
    school_id: str = ""
    year: int = 0
    n_units: int = 0

    @property
    def n_tests(self) -> int:
        """Group × skill tests made (classes and grades)."""
        return sum(int(d["p_value"].notna().sum()) for d in (self.skills, self.grades)
                   if d is not None and "p_value" in d.columns)

    def plot(self, ax=None, work: tuple | None = None):
        """Success per task of the school's ``work`` (kind, subject, grade) against its benchmarks."""
        import matplotlib.pyplot as plt

        d = self.table[self.table["level"] == "school"] if len(self.table) else self.table
        if work is None and d.empty:
            return empty_plot(ax, self.skipped[0].reason if self.skipped
                              else "Результатов по заданиям нет — график выполнения заданий не построен.")
        if work is None:
            work = self.focus_work()
        d = d[(d["kind"] == work[0]) & (d["subject"] == work[1]) & (d["grade"] == work[2])] if len(d) else d
        if d.empty:
            return empty_plot(ax, f"Результатов по заданиям работы {KIND_RU.get(work[0], work[0])} «{work[1]}», "
                                  f"{work[2]} класс, нет — график не построен.")
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        x = np.arange(len(d))
        ax.bar(x, 100 * d["pct"], color="#1f5f99", label="школа")
        ax.errorbar(x, 100 * d["pct"], yerr=[100 * (d["pct"] - d["pct_low"]), 100 * (d["pct_high"] - d["pct"])],
                    fmt="none", ecolor="k", lw=0.8)
        if d["region_pct"].notna().any():
            ax.plot(x, 100 * d["region_pct"], "o", color="#e67e22", label="регион")
        if d["russia_pct"].notna().any():
            ax.plot(x, 100 * d["russia_pct"], "_", color="k", ms=12, label="Россия")
        muni = d["bench_source"] == "municipality"
        if muni.any():
            ax.plot(x[muni.to_numpy()], 100 * d.loc[muni, "bench_pct"], "D", color="#7f8c8d", ms=4,
                    label="другие школы")
        ax.set_xticks(x, d["task"], fontsize=7, rotation=90)
        ax.set_ylabel("выполнение, %")
        ax.set_ylim(0, 105)
        ax.set_title(f"{KIND_RU.get(work[0], work[0])}, «{work[1]}», {work[2]} класс: выполнение заданий",
                     fontsize=10)
        ax.legend(fontsize=8)
        return ax

    def focus_work(self) -> tuple:
        """The work with the most findings (else the first ВПР in mathematics, else the first)."""
        flagged = [d[d["flagged"]] for d in (self.skills, self.grades) if d is not None and len(d)]
        flagged = [f for f in flagged if len(f)]
        if flagged:
            k = pd.concat(flagged).groupby(["kind", "subject", "grade"]).size().idxmax()
            return (k[0], k[1], int(k[2]))
        s = self.table[self.table["level"] == "school"][["kind", "subject", "grade"]].drop_duplicates()
        m = s[s["subject"] == "Математика"]
        r = (m if len(m) else s).iloc[0]
        return (r["kind"], r["subject"], int(r["grade"]))


# --------------------------------------------------------------------------- data


def _item_source(con) -> str:
    """Item rows with the class, school and grade of the student that year (derived at ingest; joined from
    enrollments and classes on a connection that holds only the contract's columns)."""
    if all(has_column(con, "assessment_items", c) for c in ("school_id", "class_id", "grade")):
        return "SELECT student_id, kind, subject, year, task, score, school_id, class_id, grade FROM assessment_items"
    return """SELECT i.student_id, i.kind, i.subject, i.year, i.task, i.score, c.school_id, c.class_id, c.grade
                FROM assessment_items i JOIN enrollments e ON e.student_id = i.student_id
                JOIN classes c ON c.class_id = e.class_id AND c.year = i.year
             QUALIFY row_number() OVER (PARTITION BY i.student_id, i.kind, i.subject, i.year, i.task
                                        ORDER BY c.class_id) = 1"""


def _load(con, school_id: str, year: int) -> tuple[pd.DataFrame, str]:
    spec_cols = select_optional(con, "assessment_specs", ("skill", "region_pct", "russia_pct"))
    src = _item_source(con)
    # tasks tagged by a functional-literacy domain are analysed by analysis.literacy (chapter 04a)
    lit = "WHERE literacy_domain IS NULL" if has_column(con, "assessment_specs", "literacy_domain") else ""
    items = con.execute(
        f"""WITH i AS ({src}), s AS (SELECT kind, subject, grade, year, task, max_score, {spec_cols}
                                      FROM assessment_specs {lit})
            SELECT i.class_id, i.kind, i.subject, i.grade, CAST(i.task AS VARCHAR) AS task, i.student_id, i.score, s.max_score,
                   coalesce(nullif(trim(CAST(s.skill AS VARCHAR)), ''), 'задание ' || i.task) AS skill,
                   CAST(s.region_pct AS DOUBLE) / 100 AS region_pct, CAST(s.russia_pct AS DOUBLE) / 100 AS russia_pct
              FROM i JOIN s ON s.kind = i.kind AND s.subject = i.subject AND s.grade = i.grade AND s.year = i.year
                           AND CAST(s.task AS VARCHAR) = CAST(i.task AS VARCHAR)
             WHERE i.school_id = ? AND i.year = ? AND i.score IS NOT NULL AND s.max_score > 0""",
        [school_id, int(year)]).df()
    return items, src


def _others(con, school_id: str) -> tuple[str, list]:
    """SQL condition (and its parameters) for the other schools of the school's municipality."""
    if has_column(con, "schools", "municipality"):
        return ("school_id <> ? AND school_id IN (SELECT school_id FROM schools WHERE municipality IS NOT DISTINCT FROM "
                "(SELECT any_value(municipality) FROM schools WHERE school_id = ?))", [school_id, school_id])
    return "school_id <> ?", [school_id]


def _municipal_pct(con, src: str, school_id: str, year: int) -> pd.DataFrame:
    """Pooled success of the other schools per task (kind, subject, grade, task): ref_points, ref_n."""
    cond, args = _others(con, school_id)
    return con.execute(
        f"""WITH i AS ({src})
            SELECT kind, subject, grade, CAST(task AS VARCHAR) AS task, count(DISTINCT student_id) AS ref_n,
                   sum(score) AS ref_points
              FROM i WHERE year = ? AND {cond} AND score IS NOT NULL GROUP BY ALL""",
        [int(year), *args]).df()


def _reference_items(con, src: str, school_id: str, year: int, work: tuple) -> pd.DataFrame:
    cond, args = _others(con, school_id)
    return con.execute(
        f"""WITH i AS ({src})
            SELECT student_id, CAST(task AS VARCHAR) AS task, score FROM i
             WHERE year = ? AND {cond} AND kind = ? AND subject = ? AND grade = ? AND score IS NOT NULL""",
        [int(year), *args, work[0], work[1], int(work[2])]).df()


def per_task_table(items: pd.DataFrame, school_id: str) -> pd.DataFrame:
    """Per class and school × task success from item rows (see :class:`TaskResult` columns)."""
    keys = ["kind", "subject", "grade", "task", "skill", "max_score", "region_pct", "russia_pct"]
    if "bench_pct" not in items:
        items = items.assign(bench_pct=items["region_pct"].fillna(items["russia_pct"]),
                             bench_source=np.where(items["region_pct"].notna(), "region",
                                                   np.where(items["russia_pct"].notna(), "russia", None)))
    keys += ["bench_pct", "bench_source"]
    out = []
    for level, by in (("class", ["class_id"]), ("school", [])):
        g = items.groupby(by + keys, as_index=False, dropna=False).agg(n=("student_id", "nunique"),
                                                                       points=("score", "sum"))
        g["level"] = level
        g["target_id"] = g["class_id"] if level == "class" else school_id
        out.append(g)
    t = pd.concat(out, ignore_index=True)
    t["possible"] = t["n"] * t["max_score"]
    t["pct"] = t["points"] / t["possible"]
    lo, hi = wilson_interval(np.round(t["points"]).astype(int).to_numpy(), np.round(t["possible"]).astype(int).to_numpy())
    t["pct_low"], t["pct_high"] = lo, hi
    t["gap_region"] = t["pct"] - t["region_pct"]
    t["_order"] = t["task"].map(_task_order)
    t = t.sort_values(["level", "kind", "subject", "grade", "target_id", "_order"]).drop(columns="_order")
    return t[TASK_COLUMNS].reset_index(drop=True)


def _task_order(task: str):
    parts = []
    for p in str(task).replace(",", ".").split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(parts)


# --------------------------------------------------------------------------- Rasch numerics


def log_esf(eps_log: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Log coefficients of ``prod_j (1 + exp(eps_log_j) z)^m_j`` (elementary symmetric functions of tasks
    scored as ``m_j`` Rasch points each), computed in log space (no overflow for any spread)."""
    deg = int(m.sum())
    a = np.full(deg + 1, -np.inf)
    a[0] = 0.0
    cur = 0
    for el, mj in zip(eps_log, m, strict=True):
        mj = int(mj)
        new = np.full(deg + 1, -np.inf)
        for k in range(mj + 1):
            term = gammaln(mj + 1) - gammaln(k + 1) - gammaln(mj - k + 1) + k * el
            new[k:cur + k + 1] = np.logaddexp(new[k:cur + k + 1], a[:cur + 1] + term)
        a, cur = new, cur + mj
    return a


def cml_scale(x: np.ndarray, m: np.ndarray, lb: np.ndarray) -> float:
    """Conditional ML estimate of ``c`` in ``delta_j = -c * logit(bench_j)`` from score matrix ``x``."""
    t = x.sum(1).astype(int)
    keep = (t > 0) & (t < m.sum())
    if keep.sum() < 2 or np.ptp(lb) < 1e-6:
        return 1.0
    x, t = x[keep], t[keep]
    xs = (x * lb[None, :]).sum(1)

    def nll(c: float) -> float:
        return -float((c * xs - log_esf(c * lb, m)[t]).sum())

    return float(minimize_scalar(nll, bounds=(0.2, 5.0), method="bounded", options={"xatol": 1e-3}).x)


def conditional_table(el: np.ndarray, m: np.ndarray, js: np.ndarray, la: np.ndarray | None = None) -> np.ndarray:
    """``P(S = s | T = t)``: rows t = 0..sum(m), columns s = 0..sum(m[js]) — the score on tasks ``js``
    given the total, in the Rasch model with log-easiness ``el`` (free of the student's ability)."""
    ls, lr = log_esf(el[js], m[js]), log_esf(el[~js], m[~js])
    la = log_esf(el, m) if la is None else la
    t = np.arange(len(la))[:, None]
    s = np.arange(len(ls))[None, :]
    r = t - s
    ok = (r >= 0) & (r < len(lr))
    with np.errstate(invalid="ignore"):
        v = np.where(ok, ls[None, :] + lr[np.clip(r, 0, len(lr) - 1)] - la[:, None], -np.inf)
    p = np.exp(v - v.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def _lower_tail(pmfs: np.ndarray, counts: np.ndarray, observed: int) -> float:
    """P(sum <= observed) for independent students: ``pmfs`` one row per distinct pmf, ``counts`` students each."""
    d = np.array([1.0])
    for p, k in zip(pmfs, counts, strict=True):
        for _ in range(int(k)):
            d = np.convolve(d, p)
        d = d / d.sum()
    return float(min(1.0, d[: observed + 1].sum()))


# --------------------------------------------------------------------------- one work


def _matrix(w: pd.DataFrame, tasks: list[str], m: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Students with a score on every task: integer score matrix and (student_id, class_id)."""
    x = w.pivot_table(index=["student_id", "class_id"], columns="task", values="score", aggfunc="first")
    x = x.reindex(columns=tasks).dropna()
    xs = np.clip(np.round(x.to_numpy(dtype=float)), 0, m[None, :]).astype(int)
    return xs, x.index.to_frame(index=False)


def _work_tests(w: pd.DataFrame, ref: pd.DataFrame | None) -> list[dict]:
    """Group × skill tests of one work (``w``: the school's item rows with bench_pct; ``ref``: the other schools'
    item rows when the benchmark is municipal)."""
    spec = w.drop_duplicates("task").set_index("task")
    tasks = sorted(spec.index, key=_task_order)
    spec = spec.loc[tasks]
    m = np.maximum(np.round(spec["max_score"].to_numpy(dtype=float)), 1).astype(int)
    skill = spec["skill"].to_numpy()
    if len(set(skill)) < 2:
        return []
    x, who = _matrix(w, tasks, m)
    if len(x) < MIN_N:
        return []
    bench = spec["bench_pct"].to_numpy(dtype=float)
    xr = None
    if ref is not None:
        xr, _ = _matrix(ref.assign(class_id=""), tasks, m)
        if len(xr) < MIN_REF:
            return []
        # the score test's null: the school and the other schools share the task difficulties (pooled)
        bench = (x.sum(0) + xr.sum(0)) / ((len(x) + len(xr)) * m)
    lb = logit(np.clip(bench, 0.02, 0.98))
    c = cml_scale(x if xr is None else np.vstack([x, xr]), m, lb)
    el = c * lb
    la = log_esf(el, m)
    t, tr = x.sum(1), None if xr is None else xr.sum(1)
    classes = who["class_id"].to_numpy()
    sizes = pd.Series(classes).value_counts()
    testable = sorted(sizes[sizes >= MIN_N].index)
    rows = []
    for sk in sorted(set(skill)):
        js = skill == sk
        cond = conditional_table(el, m, js, la)
        sv = np.arange(cond.shape[1])
        mean_t = cond @ sv
        var_t = cond @ sv ** 2 - mean_t ** 2
        s_obs = x[:, js].sum(1)
        e_i, v_i = mean_t[t], var_t[t]
        refstat = None
        if xr is not None:
            sr = xr[:, js].sum(1)
            refstat = (float(sr.sum() - mean_t[tr].sum()), float(var_t[tr].sum()), len(xr))
        groups = [("class", cl, classes == cl) for cl in testable]
        if len(testable) >= 2:
            groups.append(("grade", str(int(spec["grade"].iloc[0])), np.ones(len(classes), bool)))
        tasks_sk = ", ".join(t_ for t_, j in zip(tasks, js, strict=True) if j)
        bench_points = float((spec["bench_pct"].to_numpy(dtype=float)[js] * m[js]).sum())
        for level, target, g in groups:
            o, e, v, n = int(s_obs[g].sum()), float(e_i[g].sum()), float(v_i[g].sum()), int(g.sum())
            p = _group_p(o, e, v, cond, t[g], refstat, n)
            rest = ~g & np.isin(classes, testable) if level == "class" else None
            contrast = np.nan
            if rest is not None and rest.sum() >= MIN_N:
                contrast = _contrast_p(s_obs[g] - e_i[g], v_i[g], s_obs[rest] - e_i[rest], v_i[rest])
            rows.append({"level": level, "target": target, "skill": sk, "tasks": tasks_sk, "n": n,
                         "points": float(o), "possible": float(n * m[js].sum()), "benchmark": bench_points / m[js].sum(),
                         "expected_points": e, "var": v, "p_value": p, "contrast_p": contrast, "scale_c": c})
    return rows


def _group_p(o: int, e: float, v: float, cond: np.ndarray, t: np.ndarray, refstat, n: int) -> float:
    """One-sided p of a group's skill score: exact (conditional convolution) against an outside benchmark;
    normal with continuity correction against the municipal reference group (its noise added)."""
    if v <= 1e-12:
        return 1.0
    if refstat is None:
        vals, counts = np.unique(t, return_counts=True)
        return _lower_tail(cond[vals], counts, o)
    r_ref, v_ref, n_ref = refstat
    k = n / n_ref
    return float(stats.norm.cdf((o + 0.5 - e - k * r_ref) / np.sqrt(v + k * k * v_ref)))


def _contrast_p(r1: np.ndarray, v1: np.ndarray, r2: np.ndarray, v2: np.ndarray) -> float:
    """One-sided p that the first group's mean conditional residual is below the second's."""
    se = np.sqrt(v1.sum() / len(r1) ** 2 + v2.sum() / len(r2) ** 2)
    return float(stats.norm.cdf((r1.mean() - r2.mean()) / se)) if se > 0 else 1.0


# --------------------------------------------------------------------------- multiplicity


def simes(p: np.ndarray) -> float:
    """Simes' combination of p-values (valid under positive dependence)."""
    p = np.sort(np.asarray(p, dtype=float))
    p = p[np.isfinite(p)]
    return float(np.min(len(p) * p / np.arange(1, len(p) + 1))) if len(p) else np.nan


def hierarchical_fdr(tests: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Two-stage FDR over ``tests`` (columns ``unit``, ``p_value``): BH on Simes p-values of units, then BH at
    ``alpha·R/m`` within selected units. Adds unit_q, unit_level (the stage-2 level), q_value and rejected."""
    out = tests.copy()
    if out.empty:
        return out.assign(unit_q=[], unit_level=[], q_value=[], rejected=[])
    up = out.groupby("unit")["p_value"].apply(lambda s: simes(s.to_numpy()))
    uq = pd.Series(bh_qvalues(up.to_numpy()), index=up.index)
    m, r = len(up), int((uq <= alpha).sum())
    out["unit_q"] = out["unit"].map(uq)
    within = out.groupby("unit")["p_value"].transform(lambda s: pd.Series(bh_qvalues(s.to_numpy()), index=s.index))
    out["unit_level"] = alpha * max(r, 1) / m
    out["q_value"] = np.minimum(1.0, np.maximum(out["unit_q"], within * m / max(r, 1)))
    out["rejected"] = (out["unit_q"] <= alpha) & (out["q_value"] <= alpha)
    return out


def _dedupe(t: pd.DataFrame, alpha: float) -> pd.Series:
    """Which rejected deficits become findings (module docstring: no grade + class duplicates)."""
    below = (t["gap"] < 0) & (t["pct"] < t["expected"])
    flag = t["rejected"] & below
    for _, u in t[t["level"] == "grade"].groupby("unit"):
        g = u.index[0]
        if not flag[g]:
            continue
        cl = t.index[(t["unit"] == t.at[g, "unit"]) & (t["level"] == "class")]
        own = [i for i in cl if flag[i] and t.at[i, "contrast_p"] <= t.at[i, "unit_level"]]
        for i in cl:
            flag[i] = i in own
        if own:
            rest = [i for i in cl if i not in own]
            o = t.loc[rest, "points"].sum() - t.loc[rest, "expected_points"].sum()
            v = t.loc[rest, "var"].sum()
            flag[g] = bool(rest) and v > 0 and stats.norm.cdf((o + 0.5) / np.sqrt(v)) <= alpha
    return flag


# --------------------------------------------------------------------------- entry point


def task_analysis(con, school_id: str, year: int, options: dict | None = None) -> TaskResult:
    """Per-task tables and grade/class × skill deficits for ``school_id`` in ``year`` (module docstring).

    ``options``: ``alpha`` (0.05), ``kinds`` (default all: VPR, OGE, EGE, GVE).
    """
    opts = options or {}
    alpha = float(opts.get("alpha", ALPHA))
    empty = {"table": pd.DataFrame(columns=TASK_COLUMNS), "skills": pd.DataFrame(), "grades": pd.DataFrame(),
             "school_id": school_id, "year": int(year)}
    missing = [t for t in ("assessment_items", "assessment_specs")
               if not has_table(con, t) or con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT 1)").fetchone()[0] == 0]
    if missing:
        return TaskResult(**empty, skipped=(Skipped("task_analysis", f"Анализ выполнения заданий не проводился: "
                                                    f"{SKIP_TABLES}, а в данных нет {_tables_ru(missing)}."),))
    items, src = _load(con, school_id, year)
    if "kinds" in opts:
        items = items[items["kind"].isin(opts["kinds"])]
    if items.empty:
        return TaskResult(**empty, skipped=(Skipped("task_analysis", "Анализ выполнения заданий не проводился: в "
                                                    "таблицах assessment_items и assessment_specs нет результатов "
                                                    f"заданий школы за {year} год."),))
    items, notes, refs = _benchmarks(con, src, items, school_id, int(year))
    table = per_task_table(items, school_id)
    rows = []
    for work, w in items.dropna(subset=["bench_pct"]).groupby(["kind", "subject", "grade"]):
        ref = _reference_items(con, src, school_id, int(year), work) if work in refs else None
        for r in _work_tests(w, ref):
            rows.append({"kind": work[0], "subject": work[1], "grade": int(work[2]), **r,
                         "bench_source": w["bench_source"].iloc[0]})
    tests = pd.DataFrame(rows)
    if tests.empty:
        return TaskResult(table=table, skills=pd.DataFrame(), grades=pd.DataFrame(), notes=tuple(notes),
                          school_id=school_id, year=int(year))
    tests["unit"] = tests["kind"] + "|" + tests["subject"] + "|" + tests["grade"].astype(str) + "|" + tests["skill"]
    tests["pct"] = tests["points"] / tests["possible"]
    tests["gap"] = tests["pct"] - tests["benchmark"]
    tests["expected"] = tests["expected_points"] / tests["possible"]
    tests = hierarchical_fdr(tests, alpha)
    tests["flagged"] = _dedupe(tests, alpha)
    teachers = _teachers(con, school_id, int(year))
    m_units = int(tests["unit"].nunique())
    skills, grades = _split(tests, teachers)
    labels = _labels(con, school_id, int(year))
    skills.insert(1, "class_label", [labels.get(c) or ph.class_label(c) for c in skills["class_id"]])
    findings = [_finding(r, "class", school_id, int(year), m_units, table) for r in skills[skills["flagged"]].itertuples()]
    findings += [_finding(r, "grade", school_id, int(year), m_units, table) for r in grades[grades["flagged"]].itertuples()]
    return TaskResult(table=table, findings=tuple(findings), skills=skills, grades=grades, notes=tuple(notes),
                      school_id=school_id, year=int(year), n_units=m_units)


def _tables_ru(missing: list[str]) -> str:
    if len(missing) == 1:
        return f"таблицы {missing[0]} (или она пуста)"
    return f"таблиц {' и '.join(missing)} (или они пусты)"


def _benchmarks(con, src: str, items: pd.DataFrame, school_id: str, year: int):
    """Benchmark per task (region, else Russia, else the municipality's other schools) and Russian notes."""
    items = items.copy()
    items["bench_pct"] = items["region_pct"].fillna(items["russia_pct"])
    items["bench_source"] = np.where(items["region_pct"].notna(), "region",
                                     np.where(items["russia_pct"].notna(), "russia", None))
    works = items.groupby(["kind", "subject", "grade"])["bench_pct"].apply(lambda s: s.isna().any())
    need = [w for w, bad in works.items() if bad]
    notes, refs, none = [], set(), []
    if need:
        mun = _municipal_pct(con, src, school_id, year)
        for w in need:
            sel = (items["kind"] == w[0]) & (items["subject"] == w[1]) & (items["grade"] == w[2])
            r = mun[(mun["kind"] == w[0]) & (mun["subject"] == w[1]) & (mun["grade"] == w[2])]
            mx = items[sel].drop_duplicates("task").set_index("task")["max_score"]
            r = r.set_index("task").reindex(mx.index)
            ok = r["ref_n"].notna().all() and r["ref_n"].min() >= MIN_REF
            if ok:
                pct = (r["ref_points"] / (r["ref_n"] * mx)).clip(0, 1)
                items.loc[sel, "bench_pct"] = items.loc[sel, "task"].map(pct).to_numpy()
                items.loc[sel, "bench_source"] = "municipality"
                refs.add(w)
            else:
                items.loc[sel, ["bench_pct", "bench_source"]] = [np.nan, None]
                none.append(w)

    def which(ws) -> str:
        return "всех работ" if len(ws) == len(works) else _works_ru(sorted(ws))

    if refs:
        notes.append(f"Для {which(refs)} в спецификации (assessment_specs) нет процентов выполнения заданий по региону "
                     "и России (region_pct, russia_pct): задания сравниваются с другими школами муниципалитета (их "
                     "общий процент выполнения каждого задания; разброс этой оценки учтён в проверке).")
    if none:
        notes.append(f"Для {which(none)} нет ни процентов выполнения по региону и России (region_pct, russia_pct), ни "
                     f"результатов других школ муниципалитета (нужно не меньше {MIN_REF} учеников): дефициты умений "
                     "по этим работам не проверялись, приведены только проценты выполнения.")
    return items, notes, refs


def _works_ru(works) -> str:
    return ", ".join(f"{KIND_RU.get(k, k)} по предмету «{s}» ({g} класс)" for k, s, g in works)


def _labels(con, school_id: str, year: int) -> dict:
    """Class id -> the label readers know («7Б»): grade and letter from ``classes`` (ids may be any format)."""
    if not (has_column(con, "classes", "letter") and has_column(con, "classes", "school_id")):
        return {}
    return {c: f"{g}{lt}" for c, g, lt in con.execute(
        "SELECT class_id, grade, letter FROM classes WHERE school_id = ? AND year = ? AND letter IS NOT NULL",
        [school_id, int(year)]).fetchall()}


def _teachers(con, school_id: str, year: int) -> dict:
    if not has_table(con, "assignments"):
        return {}
    sch = "school_id = ? AND year = ?" if has_column(con, "assignments", "school_id") else \
        "class_id IN (SELECT class_id FROM classes WHERE school_id = ? AND year = ?)"
    return {(c, s): t for c, s, t in con.execute(
        f"SELECT class_id, subject, min(teacher_id) FROM assignments WHERE {sch} GROUP BY ALL",
        [school_id, int(year)]).fetchall()}


def _split(tests: pd.DataFrame, teachers: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    cls = tests[tests["level"] == "class"].rename(columns={"target": "class_id"})
    cls.insert(1, "teacher_id", [teachers.get((c, s), "") for c, s in zip(cls["class_id"], cls["subject"], strict=True)])
    skills = cls[["class_id", "teacher_id", *TEST_COLUMNS, "contrast_p"]].reset_index(drop=True)
    grd = tests[tests["level"] == "grade"].copy()
    by_work = cls.groupby(["kind", "subject", "grade"])
    ids = {k: sorted({t for t in g["teacher_id"] if t}) for k, g in by_work}
    ncl = {k: g["class_id"].nunique() for k, g in by_work}
    keys = list(zip(grd["kind"], grd["subject"], grd["grade"], strict=True))
    grd["teacher_ids"] = [ids.get(k, []) for k in keys]
    grd["n_classes"] = [ncl.get(k, 0) for k in keys]
    grades = grd[[*TEST_COLUMNS, "n_classes", "teacher_ids"]].reset_index(drop=True)
    return skills, grades


# --------------------------------------------------------------------------- findings


def _q_text(q: float, m: int) -> str:
    qs = "q\u00a0<\u00a00,001" if q < 0.001 else f"q\u00a0=\u00a0{ph.num(q, 3)}"
    units = "одно проверенное сочетание" if m == 1 else f"все {m} проверенных сочетаний"
    return f"{qs} с поправкой на множественные сравнения: учтены {units} «параллель — умение» и классы внутри них"


def _finding(r, level: str, school_id: str, year: int, m: int, table: pd.DataFrame) -> Finding:
    from ..report.text import count

    work = f"{KIND_RU.get(r.kind, r.kind)} по предмету «{r.subject}», {r.grade} класс"
    tasks = r.tasks.split(", ")
    src = SOURCE_RU.get(r.bench_source, "по региону")
    pupils = count(r.n, "ученик", "ученика", "учеников")
    if level == "class":
        label = r.class_label
        who, whose = f"в {label} классе", f"в {label} классе ({pupils})"
        target, teachers = r.class_id, [r.teacher_id] if r.teacher_id else []
        rows = table[(table["level"] == "class") & (table["target_id"] == r.class_id)]
        addressee = ("teacher", r.teacher_id) if r.teacher_id else ("class", r.class_id)
        whom = f"Учителю {r.teacher_id or 'предмета'} в {label} классе"
    else:
        who = f"в {r.grade}-х классах"
        whose = f"в {r.grade}-х классах (вся параллель: {count(r.n_classes, 'класс', 'класса', 'классов')}, {pupils})"
        target, teachers = str(r.grade), list(r.teacher_ids)
        rows = table[table["level"] == "school"]
        addressee = ("teacher", teachers[0]) if len(teachers) == 1 else ("grade", str(r.grade))
        whom = f"Учителям предмета «{r.subject}» в {r.grade}-х классах" + (f" ({', '.join(teachers)})" if teachers else "")
    rows = rows[(rows["kind"] == r.kind) & (rows["subject"] == r.subject) & (rows["grade"] == r.grade)
                & (rows["task"].isin(tasks))]
    per_task = "; ".join(f"№\u00a0{x.task}: {ph.pct(x.pct)} при {ph.pct(x.bench_pct)} {src}" for x in rows.itertuples())
    evidence = (f"{whose[0].upper()}{whose[1:]} задания на умение «{r.skill}» ({work}; задания {r.tasks}) выполнены "
                f"на {ph.pct(r.pct)} ({ph.num(r.points, 0)} из {ph.num(r.possible, 0)} баллов) при {ph.pct(r.benchmark)} "
                f"{src} (разница {ph.pp(r.gap)}). По тому, как эти же ученики написали работу в целом, ожидалось "
                f"{ph.pct(r.expected)}: отставание на этих заданиях не объясняется общим уровнем учеников "
                f"({_q_text(r.q_value, m)}). По заданиям: {per_task}.")
    title = f"Дефицит умения «{r.skill}» {who} ({work})"
    severity = "high" if r.gap <= -0.25 else "medium" if r.gap <= -0.10 else "low"
    rec = Recommendation(
        text=(f"{whom}: включить в уроки отработку умения «{r.skill}» (задания {r.tasks} "
              f"{KIND_RU.get(r.kind, r.kind)}) и провести диагностическую работу на эти задания в конце четверти."),
        addressee_type=addressee[0], addressee_id=addressee[1], responsible="руководитель ШМО",
        deadline=f"{year}-12-25", control_metric="task_pct", baseline=round(float(r.pct), 3),
        target=round(float(r.benchmark), 3))
    return Finding(area="assessments", kind="task_deficit", polarity="problem", severity=severity,
                   school_id=school_id, year=year, target_type=level, target_id=target, subject=r.subject,
                   metric="task_pct_gap", estimate=float(r.gap), ci_low=None, ci_high=None,
                   p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n), title=title, evidence=evidence,
                   recommendation=rec,
                   extra={"skill": r.skill, "tasks": tasks, "teacher_ids": teachers, "work_kind": r.kind,
                          "grade": int(r.grade), "expected": round(float(r.expected), 4),
                          "benchmark_source": r.bench_source})
