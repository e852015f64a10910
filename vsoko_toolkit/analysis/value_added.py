"""Value added of teachers and classes: progress of their students conditional on prior achievement.

Public entry point: :func:`value_added`.

Model (one fit per unit type, on the whole municipality of ``year``): the year
mark of a student in a subject on the student's year mark in the same subject
last year (slope by subject), the mean of all last year's year marks,
special needs (when recorded), grade and subject; random intercepts of the
unit (teacher × subject, with classes nested inside; or class × subject).
The unit's value added is its empirical-Bayes (shrunken) random effect from
:func:`vsoko_toolkit.stats.mixed.fit_mixed`, in marks, relative to the municipal
mean (0), with a 95 % interval ``estimate ± 1.96 se``. The school's units form one
family: two-sided p-values of ``estimate / se`` are Benjamini–Hochberg
controlled, and a ``low_value_added`` / ``high_value_added`` finding is
emitted only for q < 0.05 (the interval then clears the municipal mean).

Why not the plug-in EB interval. The conditional standard error of a BLUP
(lme4's ``condVar``) treats the fixed effects and the unit variance as known.
Both are estimated: the grade and subject intercepts absorb part of the units'
effects, and with a few dozen units the unit variance is often estimated near 0,
where every effect is shrunk to 0 with a near-zero standard error. On simulated
municipalities with planted teacher effects those intervals covered the true
effects ~85 % of the time (tests/test_value_added.py). ``estimate`` and ``se``
are therefore the posterior mean and standard deviation of the effect with the
fixed effects (flat prior: Henderson's prediction error variance given the unit
variance) and the unit variance (flat prior on ``[0, inf)``, Morris 1983)
integrated out, see :func:`vsoko_toolkit.stats._mixed_fast.integrated_eb`;
the coverage of planted effects is then ~95 %. The estimand is the effect on
the year-mark scale (a latent effect shows attenuated by the 2–5 scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..findings import Cause, Finding, Recommendation
from ..report import phrases as ph
from ..stats.intervals import bh_qvalues
from ..stats.mixed import fit_mixed
from ..warehouse.schema import has_column as _has_column
from .base import AnalysisResult

ALPHA = 0.05
MIN_UNIT_N = 5
COLUMNS = ["unit_type", "unit_id", "subject", "estimate", "ci_low", "ci_high", "n", "se", "p_value", "q_value",
           "flagged"]



def progress_data(con, year: int) -> pd.DataFrame:
    """Per student × subject of ``year`` (whole municipality): year mark ``y``, last year's mark ``prior``,
    last year's mean mark ``prior_gpa``, ``special_needs`` (0/1), teacher, class, school, grade."""
    sn = "coalesce(CAST(st.special_needs AS INTEGER), 0)" if _has_column(con, "students", "special_needs") else "0"
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
          JOIN asg USING (class_id, subject) LEFT JOIN students st USING (student_id)
         ORDER BY cur.school_id, cur.class_id, cur.subject, cur.student_id""",
                       [int(year), int(year) - 1, int(year) - 1, int(year)]).df()


def _formula(d: pd.DataFrame) -> str:
    terms = ["prior_gpa"]
    terms.append("C(subject) * prior" if d["subject"].nunique() > 1 else "prior")
    if d["grade"].nunique() > 1:
        terms.append("C(grade)")
    if d["special_needs"].nunique() > 1:
        terms.append("special_needs")
    return "y ~ " + " + ".join(terms)


def _unit_effects(d: pd.DataFrame, unit_type: str, engine: str, methods) -> tuple[pd.DataFrame, object]:
    """EB effects of teacher × subject (classes nested) or class × subject units."""
    d = d.copy()
    d["teacher_unit"] = d["teacher_id"] + "|" + d["subject"]
    d["class_unit"] = d["class_id"] + "|" + d["subject"]
    if unit_type == "teacher":
        res = fit_mixed(d, _formula(d), groups="teacher_unit", vc_formula={"class": "0 + C(class_unit)"},
                        engine=engine, methods=methods, integrate_eb=True)
        re = res.random_effects
        re = re[re["component"] != "class"]
        key = "teacher_unit"
    else:
        res = fit_mixed(d, _formula(d), groups="class_unit", engine=engine, methods=methods, integrate_eb=True)
        re = res.random_effects
        key = "class_unit"
    re = (re.drop_duplicates("group")[["group", "estimate_int", "se_int"]]
          .rename(columns={"group": key, "estimate_int": "estimate", "se_int": "se"}))
    meta = d.groupby(key).agg(n=("student_id", "size"), school_id=("school_id", "first"),
                              subject=("subject", "first"), teacher_id=("teacher_id", "first"),
                              class_id=("class_id", "first"), n_classes=("class_id", "nunique"),
                              mean_y=("y", "mean"), mean_prior=("prior", "mean")).reset_index()
    out = meta.merge(re, on=key)
    out["unit_type"] = unit_type
    out["unit_id"] = out["teacher_id"] if unit_type == "teacher" else out["class_id"]
    return out, res


@dataclass(frozen=True)
class ValueAddedResult(AnalysisResult):
    """Value added of the school's teachers and classes.

    ``tidy()`` columns: unit_type (teacher / class), unit_id, subject, estimate, ci_low, ci_high (marks,
    relative to the municipal mean), n (students), se, p_value, q_value, flagged.
    ``models``: the two :class:`~vsoko_toolkit.stats.mixed.MixedResult` fits.
    """

    models: dict | None = None
    school_id: str = ""
    year: int = 0
    n_students: int = 0

    def plot(self, ax=None, unit_type: str = "teacher", labels: bool = True):
        """Caterpillar plot: every unit's estimate with its 95 % interval, sorted; flagged units in colour."""
        import matplotlib.pyplot as plt

        d = self.table[self.table["unit_type"] == unit_type].sort_values("estimate").reset_index(drop=True)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, max(2.5, 0.22 * len(d) + 1)))
        colors = np.where(~d["flagged"], "#7f7f7f", np.where(d["estimate"] < 0, "#c0392b", "#1f7a3a"))
        y = np.arange(len(d))
        ax.hlines(y, d["ci_low"], d["ci_high"], colors=colors, lw=1.5)
        ax.scatter(d["estimate"], y, c=colors, zorder=3, s=14)
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_yticks(y)
        names = (d["unit_id"].map(ph.class_label) if unit_type == "class" else d["unit_id"]) + " · " + d["subject"]
        ax.set_yticklabels(names if labels else [""] * len(d), fontsize=7)
        ax.set_xlabel("вклад в годовую отметку относительно среднего по муниципалитету, балла (95 % ДИ)")
        who = "учителя" if unit_type == "teacher" else "классы"
        ax.set_title(f"Вклад: {who} × предмет (серые — в пределах случайного разброса)", fontsize=10)
        return ax


def value_added(con, school_id: str, year: int, alpha: float = ALPHA, engine: str = "fast",
                methods=None) -> ValueAddedResult:
    """Value added of ``school_id``'s teachers and classes in ``year`` (see the module docstring).

    Examples
    --------
    >>> va = value_added(con, "S01", 2025)  # doctest: +SKIP
    >>> va.tidy().query("flagged")  # doctest: +SKIP
    """
    d = progress_data(con, year)
    parts, models = [], {}
    if len(d) and (d["school_id"] == school_id).any():
        for unit_type in ("teacher", "class"):
            eff, res = _unit_effects(d, unit_type, engine, methods)
            models[unit_type] = res
            parts.append(eff[eff["school_id"] == school_id])
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    table = table[table["n"] >= MIN_UNIT_N].reset_index(drop=True) if len(table) else table
    if len(table):
        se = table["se"].to_numpy(dtype=float)
        est = table["estimate"].to_numpy(dtype=float)
        table["ci_low"], table["ci_high"] = est - 1.959964 * se, est + 1.959964 * se
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, est / se, 0.0)
        table["p_value"] = 2 * stats.norm.sf(np.abs(z))
        table["q_value"] = bh_qvalues(table["p_value"].to_numpy(dtype=float))
        table["flagged"] = table["q_value"] < alpha
        table = table.sort_values(["unit_type", "subject", "estimate"], ascending=[False, True, True])
    findings = tuple(_finding(r, table, school_id, year, len(table)) for r in table[table["flagged"]].itertuples()) \
        if len(table) else ()
    notes = tuple(w.message for m in models.values() for w in m.warnings if w.severity != "info")
    extra = [c for c in ("school_id", "teacher_id", "class_id", "n_classes", "mean_y", "mean_prior")
             if c in table.columns]
    table = table[COLUMNS + extra].reset_index(drop=True)
    if table.empty:  # typed, so boolean masks on "flagged" stay masks
        table = table.astype({"flagged": bool, **{c: float for c in COLUMNS[3:10]}})
    if "class_id" in table:  # a teacher unit spans several classes
        table.loc[table["unit_type"] == "teacher", "class_id"] = ""
    return ValueAddedResult(table=table, findings=findings, notes=notes, models=models, school_id=school_id,
                            year=int(year), n_students=int(d.loc[d["school_id"] == school_id, "student_id"].nunique())
                            if len(d) else 0)


def _one_class_cause(r, table: pd.DataFrame) -> Cause:
    hyp = "Результат объясняется одним классом (набором учеников), а не работой учителя"
    if r.unit_type != "teacher":
        return Cause(hyp, "inconclusive", "Оценка относится к классу: вклад учителя и особенности класса в ней "
                                          "не разделяются.")
    cls = table[(table["unit_type"] == "class") & (table["teacher_id"] == r.unit_id)
                & (table["subject"] == r.subject)]
    if len(cls) < 2:
        return Cause(hyp, "inconclusive", "У учителя по этому предмету один класс: отличить вклад учителя от "
                                          "особенностей класса по этим данным нельзя.")
    same = int((np.sign(cls["estimate"]) == np.sign(r.estimate)).sum())
    verdict = "not_supported" if same == len(cls) else "inconclusive"
    return Cause(hyp, verdict, f"В {same} из {len(cls)} классов учителя по предмету оценка вклада того же знака "
                               f"({', '.join(ph.signed(x) for x in cls['estimate'])} балла).")


def _finding(r, table: pd.DataFrame, school_id: str, year: int, m: int) -> Finding:
    low = r.estimate < 0
    kind = "low_value_added" if low else "high_value_added"
    who = f"учителя {r.unit_id}" if r.unit_type == "teacher" else f"в {ph.class_label(r.unit_id)} классе"
    evidence = (f"Ученики {who} по предмету «{r.subject}» ({r.n} учеников) получили годовые отметки в среднем на "
                f"{ph.num(abs(r.estimate))} балла {'ниже' if low else 'выше'}, чем ученики муниципалитета с такими же "
                f"отметками за прошлый год (с учётом параллели и особых образовательных потребностей): оценка "
                f"{ph.signed(r.estimate)} (95\u00a0% ДИ {ph.signed(r.ci_low)} … {ph.signed(r.ci_high)}), "
                f"{ph.q_text(r.q_value, m)}. Оценка сглажена (эмпирический Байес): у малых групп она ближе к нулю.")
    causes = (
        Cause("Различия в исходной подготовке учеников", "not_supported",
              f"Модель учитывает годовую отметку ученика по предмету и средний балл за прошлый год; средняя "
              f"прошлогодняя отметка этих учеников — {ph.num(r.mean_prior)}."),
        _one_class_cause(r, table),
    )
    addressee = ("teacher", r.unit_id) if r.unit_type == "teacher" else ("class", r.unit_id)
    if low:
        text = (f"Заместителю директора по УВР и руководителю ШМО: посетить уроки по предмету «{r.subject}» "
                f"({who}), разобрать с учителем темы с наименьшим приростом, назначить наставника; проверить "
                "прирост по итогам следующего учебного года.")
    else:
        text = (f"Руководителю ШМО: организовать открытые уроки и обмен практикой ({who}, предмет «{r.subject}»), "
                "проверить, сохраняется ли прирост в следующем учебном году.")
    rec = Recommendation(text=text, addressee_type=addressee[0], addressee_id=addressee[1],
                         responsible="заместитель директора по УВР", deadline=f"{year}-12-25",
                         control_metric="value_added", baseline=round(float(r.estimate), 3),
                         target=0.0 if low else round(float(r.estimate), 3))
    sev = "high" if abs(r.estimate) >= 0.3 else "medium" if abs(r.estimate) >= 0.15 else "low"
    title = (f"{'Низкий' if low else 'Высокий'} прирост учеников {who} по предмету «{r.subject}» "
             "(вклад в результаты)")
    return Finding(area="factors", kind=kind, polarity="problem" if low else "strength", severity=sev,
                   school_id=school_id, year=int(year), target_type=r.unit_type, target_id=str(r.unit_id),
                   subject=r.subject, metric="value_added", estimate=float(r.estimate), ci_low=float(r.ci_low),
                   ci_high=float(r.ci_high), p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n),
                   title=title, evidence=evidence, causes=causes, recommendation=rec,
                   extra={"teacher_id": str(r.teacher_id)})
