"""Factors of results: multilevel models of year marks and the variance decomposition.

Public entry point: :func:`factor_models`.

For each main subject (Математика, Русский язык where present) and the whole
municipality of ``year``: (1) a null model of the year mark with random
intercepts of school, class and teacher gives each level's share of the
variance (student = residual) with 95 % intervals; (2) a factor model adds
prior achievement (last year's mark in the subject and mean mark), the share
of lessons missed, special needs, class size, teacher category, experience and
PD hours and the school's social index. Prior achievement and grade are
adjustments, not tested factors; the other factors of all subjects form one
Benjamini–Hochberg family, and a ``factor_effect`` finding is emitted for
q < 0.05. Effects are adjusted associations, not causal effects: the narrative
names the confounders adjusted for and those that could not be.

Optional data (fall-backs): a factor whose data is absent or filled for at most half of the subject's rows
(``attendance`` → absence, ``students.special_needs`` → ОВЗ, ``teachers.pd_hours_3y`` → PD hours,
``schools.social_index`` → social index) is left out of the model and a Russian note names the data
that would add it. Without two consecutive years of year marks the analysis is skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings import Cause, Finding, Skipped
from ..report import phrases as ph
from ..stats.intervals import bh_qvalues
from ..warehouse import fitcache
from ..warehouse.schema import has_column as _has_column
from ..warehouse.schema import select_optional
from .base import AnalysisResult
from .value_added import progress_data

ALPHA = 0.05
MIN_ROWS = 60
# factor -> (Russian name, unit in words, target_type of a finding)
FACTORS = {
    "absence10": ("доля пропущенных уроков", "на 10 п. п. пропусков", "students"),
    "special_needs": ("особые образовательные потребности (ОВЗ)", "ОВЗ против остальных", "students"),
    "class_size5": ("наполняемость класса", "на 5 учеников в классе", "class"),
    "teacher_high": ("категория учителя (высшая или первая)", "высшая/первая против остальных", "teacher"),
    "experience10": ("стаж учителя", "на 10 лет стажа", "teacher"),
    "pd100": ("повышение квалификации учителя за 3 года", "на 100 часов", "teacher"),
    "social_index": ("социальный индекс школы", "на 1 ст. откл. индекса", "school"),
}
#: factor -> the optional data it comes from (Russian), for the note when it is left out
FACTOR_DATA = {
    "absence10": "таблица attendance (посещаемость)",
    "special_needs": "колонка special_needs (ОВЗ) в таблице students",
    "pd100": "колонка pd_hours_3y (часы повышения квалификации) в таблице teachers",
    "social_index": "колонка social_index в таблице schools",
}
ADJUSTED = ("годовая отметка по предмету за прошлый год", "средний балл за прошлый год", "параллель")
NOT_ADJUSTED = ("семейные условия и доход семьи ученика", "мотивация и репетиторы",
                "неслучайное распределение учеников и классов между учителями", "строгость оценивания учителя")


def factor_data(con, year: int) -> pd.DataFrame:
    """:func:`progress_data` plus absence share, class size, teacher and school characteristics."""
    d = progress_data(con, year)
    if d.empty:
        return d
    att = con.execute("""SELECT student_id, class_id, sum(lessons_missed) / nullif(sum(lessons_total), 0) AS absence
                           FROM attendance WHERE year = ? GROUP BY ALL""", [int(year)]).df() \
        if _has_column(con, "attendance", "lessons_missed") else pd.DataFrame(columns=["student_id", "class_id",
                                                                                       "absence"])
    size = con.execute("""SELECT class_id, count(DISTINCT student_id) AS class_size FROM period_marks
                           WHERE year = ? AND period = 'year' GROUP BY ALL""", [int(year)]).df()
    tch = con.execute(f"""SELECT teacher_id, category, experience_years,
                                 {select_optional(con, "teachers", ("pd_hours_3y",))} FROM teachers""").df()
    sch = con.execute(f"SELECT school_id, {select_optional(con, 'schools', ('social_index',))} FROM schools").df()
    d = d.merge(att, on=["student_id", "class_id"], how="left").merge(size, on="class_id", how="left")
    d = d.merge(tch, on="teacher_id", how="left").merge(sch, on="school_id", how="left")
    if "absence" in d:
        d["absence10"] = 10 * d["absence"]
    d["class_size5"] = d["class_size"] / 5
    if "category" in d:
        d["teacher_high"] = d["category"].isin(["highest", "first"]).astype(float).where(d["category"].notna())
        d["experience10"] = d["experience_years"] / 10
        d["pd100"] = d["pd_hours_3y"] / 100
    return d


def _subjects(d: pd.DataFrame) -> list[str]:
    main = [s for s in ("Математика", "Русский язык") if s in set(d["subject"])]
    return main or list(d["subject"].value_counts().index[:2])


def _random_part(d: pd.DataFrame) -> tuple[str, dict]:
    # one nested component only: the engine fails on two vc components (see the report of issue 8)
    if d["school_id"].nunique() >= 3:
        return "school_id", {"class": "0 + C(class_id)"}
    return "teacher_id", {"class": "0 + C(class_id)"}


@dataclass(frozen=True)
class FactorResult(AnalysisResult):
    """Adjusted factor effects and the variance decomposition.

    ``tidy()`` columns: subject, factor, name, unit, estimate, ci_low, ci_high, p_value, q_value, flagged,
    unadjusted (simple slope without adjustment), n. ``variance``: subject, model, level, share, ci_low,
    ci_high — levels school, class, Residual (= student) of the school/class model, and the teacher share of a
    school/teacher model (``model == "teacher"``).
    """

    variance: pd.DataFrame | None = None
    models: dict | None = None
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None):
        """Adjusted effects with 95 % intervals, by subject (marks per the factor's unit)."""
        import matplotlib.pyplot as plt

        d = self.table.reset_index(drop=True)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(d) + 1)))
        y = np.arange(len(d))
        colors = np.where(d["flagged"], "#1f5f99", "#7f7f7f")
        ax.hlines(y, d["ci_low"], d["ci_high"], colors=colors, lw=1.5)
        ax.scatter(d["estimate"], y, c=colors, zorder=3, s=14)
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_yticks(y)
        ax.set_yticklabels(d["subject"] + ": " + d["name"] + " (" + d["unit"] + ")", fontsize=7)
        ax.set_xlabel("связь с годовой отметкой с учётом остальных факторов, балла (95 % ДИ)")
        ax.set_title("Факторы результатов (синие — за пределами случайного разброса)", fontsize=10)
        return ax


#: The code the municipal fits depend on: a change in any of these makes the saved fits stale (warehouse.fitcache).
_FIT_MODULES = ("vsoko_toolkit.analysis.factors", "vsoko_toolkit.analysis.value_added", "vsoko_toolkit.stats.mixed",
                "vsoko_toolkit.stats._mixed_fast", "vsoko_toolkit.stats.intervals",
                "vsoko_toolkit.warehouse.fitcache")


def factor_models(con, school_id: str, year: int, alpha: float = ALPHA, engine: str = "fast",
                  methods=None) -> FactorResult:
    """Variance decomposition and adjusted factor effects for ``year`` (see the module docstring).

    The models are the municipality's and do not depend on the school: they are kept beside the warehouse
    (:mod:`vsoko_toolkit.warehouse.fitcache`, keyed by a hash of the rows read), so the two chapters that show
    them and the other schools of the municipality fit them once."""
    d = fitcache.settle(factor_data(con, year))
    key = ("factor_models", int(year), float(alpha), engine, tuple(methods) if methods else None,
           fitcache.data_hash(d), len(d))
    saved = fitcache.load(con, key, _FIT_MODULES) if len(d) else None
    if saved is None:
        saved = _fit(d, alpha, engine, methods)
        if len(d):
            fitcache.save(con, key, _FIT_MODULES, saved)
    table, variance, models, notes, skipped = saved
    findings = tuple(_finding(r, school_id, year, len(table)) for r in table[table["flagged"]].itertuples())
    return FactorResult(table=table, findings=findings, notes=notes, skipped=skipped, variance=variance,
                        models=models, school_id=school_id, year=int(year))


def _fit(d: pd.DataFrame, alpha: float, engine: str, methods) -> tuple:
    """The municipal part of :func:`factor_models`: ``(table, variance, models, notes, skipped)``."""
    # imported when a fit is needed, not when a saved one is read
    from ..stats.mixed import fit_mixed

    rows, var_rows, models = [], [], {}
    no_data: dict[str, None] = {}
    for subject in _subjects(d) if len(d) else []:
        s = d[d["subject"] == subject]
        factors = [f for f in FACTORS if f in s and s[f].notna().mean() > 0.5 and s[f].nunique() > 1]
        no_data.update(dict.fromkeys(f for f in FACTOR_DATA if f not in s or s[f].notna().mean() <= 0.5
                                     or (f == "special_needs" and s[f].nunique() <= 1)))
        s = s.dropna(subset=factors + ["prior", "prior_gpa"])
        if len(s) < MIN_ROWS or s["class_id"].nunique() < 3:
            continue
        groups, vc = _random_part(s)
        stop = methods is None  # the default optimizers stop once two agree (fit_mixed(early_stop=True))
        null = fit_mixed(s, "y ~ 1", groups=groups, vc_formula=vc, engine=engine, methods=methods, early_stop=stop)
        for r in null.icc.itertuples():
            var_rows.append({"subject": subject, "model": "class", "level": r.level, "share": r.estimate,
                             "ci_low": r.ci_low, "ci_high": r.ci_high})
        if groups == "school_id":  # the teacher level in place of the class level
            tm = fit_mixed(s, "y ~ 1", groups=groups, vc_formula={"teacher": "0 + C(teacher_id)"},
                           engine=engine, methods=methods, early_stop=stop)
            r = tm.icc.set_index("level").loc["teacher"]
            var_rows.append({"subject": subject, "model": "teacher", "level": "teacher", "share": r["estimate"],
                             "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
        adj = ["prior", "prior_gpa"] + (["C(grade)"] if s["grade"].nunique() > 1 else [])
        if groups == "teacher_id":  # teacher-level factors are absorbed by the teacher intercept's group
            factors = [f for f in factors if FACTORS[f][2] != "school" or s["school_id"].nunique() > 1]
        res = fit_mixed(s, "y ~ " + " + ".join(adj + factors), groups=groups, vc_formula=vc, engine=engine,
                        methods=methods, early_stop=stop)
        models[subject] = {"null": null, "factors": res}
        fx = res.fixed.set_index("term")
        for f in factors:
            x = s[f].to_numpy(dtype=float)
            slope = np.polyfit(x, s["y"].to_numpy(dtype=float), 1)[0]
            r = fx.loc[f]
            rows.append({"subject": subject, "factor": f, "name": FACTORS[f][0], "unit": FACTORS[f][1],
                         "estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                         "p_value": r["p_value"], "unadjusted": slope, "n": len(s)})
    table = pd.DataFrame(rows, columns=["subject", "factor", "name", "unit", "estimate", "ci_low", "ci_high",
                                        "p_value", "unadjusted", "n"])
    table["q_value"] = bh_qvalues(table["p_value"].to_numpy(dtype=float)) if len(table) else []
    table["flagged"] = table["q_value"] < alpha
    variance = pd.DataFrame(var_rows, columns=["subject", "model", "level", "share", "ci_low", "ci_high"])
    notes = [w.message for m in models.values() for k in m.values() for w in k.warnings if w.severity != "info"]
    if models and no_data:
        notes.insert(0, "Без данных в модель не включены факторы: " + "; ".join(
            f"«{FACTORS[f][0]}» (нужна {FACTOR_DATA[f]})" for f in no_data) + ".")
    skipped = (Skipped("factor_models_factors", notes[0]),) if models and no_data else ()
    if not models:
        skipped = (Skipped("factor_models", "модели факторов не построены: нужны годовые отметки (таблица "
                           "period_marks) за этот и прошлый учебный год по одним и тем же ученикам — не меньше "
                           f"{MIN_ROWS} учеников и 3 классов по предмету — и назначения учителей (assignments)"),)
    return table, variance, models, tuple(notes), skipped


def _finding(r, school_id: str, year: int, m: int) -> Finding:
    better = r.estimate > 0
    evidence = (f"По предмету «{r.subject}» (муниципалитет, {r.n} учеников) фактор «{r.name}» связан с годовой "
                f"отметкой: {ph.signed(r.estimate)} балла {r.unit} (95\u00a0% ДИ {ph.signed(r.ci_low)} … "
                f"{ph.signed(r.ci_high)}), {ph.q_text(r.q_value, m)}; без учёта других факторов — "
                f"{ph.signed(r.unadjusted)} балла. Учтены: {', '.join(ADJUSTED)} и остальные факторы модели. "
                f"Это связь, а не доказанное влияние: не учтены {', '.join(NOT_ADJUSTED)}.")
    causes = (Cause("Связь объясняется различиями в исходной подготовке учеников",
                    "not_supported", "Оценка получена с учётом прошлогодних отметок ученика; связь сохраняется."),
              Cause("Связь объясняется неучтёнными условиями (семья, мотивация, распределение учеников)",
                    "inconclusive", "Таких данных в хранилище нет, проверить эту причину нельзя."))
    title = f"Фактор «{r.name}» связан с результатами по предмету «{r.subject}»"
    return Finding(area="factors", kind="factor_effect", polarity="strength" if better else "problem",
                   severity="medium" if r.q_value < 0.01 else "low", school_id=school_id, year=int(year),
                   target_type=FACTORS[r.factor][2] if FACTORS[r.factor][2] != "teacher" else "school",
                   target_id=r.factor, subject=r.subject, metric="effect", estimate=float(r.estimate),
                   ci_low=float(r.ci_low), ci_high=float(r.ci_high), p_value=float(r.p_value),
                   q_value=float(r.q_value), n=int(r.n), title=title, evidence=evidence, causes=causes,
                   extra={"factor": r.factor, "unadjusted": float(r.unadjusted)})
