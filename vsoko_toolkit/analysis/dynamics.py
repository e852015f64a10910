"""Results and their dynamics: comparisons and trends tested as one FDR family.

Public entry point: :func:`results_dynamics` (the "results and dynamics" chapter calls it).

All tests of the chapter — every comparison (class vs parallel, grade vs last
year, grade and subject vs municipality, class vs the rest of the school where
a class has no parallel and its grade no municipal comparison; for quality and
success) and every
subject trend — form one family; Benjamini–Hochberg q-values are computed over
all of them, so under the complete null the chance that the chapter reports
any finding stays at the 5 % level (checked on simulated null municipalities
in ``tests/test_results_null.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..findings import Cause, Finding, Recommendation
from ..report import phrases as ph
from ..stats.intervals import bh_qvalues
from . import comparisons as cmp_mod
from .comparisons import ComparisonResult, compare_results
from .trends import TrendResult, subject_trends

ALPHA = 0.05


@dataclass(frozen=True)
class DynamicsResult:
    comparisons: ComparisonResult
    trends: TrendResult

    @property
    def findings(self) -> tuple:
        return self.comparisons.findings + self.trends.findings


def results_dynamics(con, school_id: str, year: int, alpha: float = ALPHA, n_boot: int = 300,
                     seed: int = 0, methods=None) -> DynamicsResult:
    """Comparisons and trends of ``school_id`` in ``year`` with one FDR family (see the module docstring)."""
    c = compare_results(con, school_id, year, alpha=alpha)
    t = subject_trends(con, school_id, year, n_boot=n_boot, seed=seed, methods=methods)
    p = np.concatenate([c.table["p_value"].to_numpy(dtype=float), t.table["p_value"].to_numpy(dtype=float)])
    q = bh_qvalues(p) if len(p) else p
    m = int(np.sum(~np.isnan(p)))
    ctab = c.table.assign(q_value=q[: len(c.table)])
    ctab["flagged"] = (ctab["q_value"] < alpha) & (ctab["diff"] < 0)
    ttab = t.table.assign(q_value=q[len(c.table):])
    ttab["flagged"] = ttab["q_value"] < alpha
    teachers = cmp_mod._teachers(con, school_id, year)
    cf = tuple(cmp_mod._finding(r, school_id, year, m, teachers) for r in ctab[ctab["flagged"]].itertuples())
    tf = tuple(_trend_finding(r, school_id, year, m, t.yearly) for r in ttab[ttab["flagged"]].itertuples())
    return DynamicsResult(replace(c, table=ctab, findings=cf), replace(t, table=ttab, findings=tf))


def _cohort_causes(r) -> tuple[Cause, ...]:
    def verdict(lo, hi, sign):
        if np.isnan(lo) or np.isnan(hi):
            return "inconclusive"
        beyond = hi < 0 if sign < 0 else lo > 0
        return "supported" if beyond else ("not_supported" if lo <= 0 <= hi else "inconclusive")

    sign = -1 if r.slope < 0 else 1
    word = "снизились" if sign < 0 else "выросли"
    within_v = verdict(r.within_lower, r.within_upper, sign)
    comp_v = verdict(r.composition_lower, r.composition_upper, sign)
    return (
        Cause(f"Результаты {word} у тех же учеников (изменилось преподавание или оценивание)", within_v,
              f"У учеников, учившихся в школе в соседние годы, средняя отметка за период изменилась на "
              f"{ph.signed(r.within)} балла сверх того, как менялась у таких же учеников других школ "
              f"(95\u00a0% ДИ {ph.signed(r.within_lower)} … {ph.signed(r.within_upper)})."),
        Cause("Изменился состав учеников (набор, выбывшие и прибывшие)", comp_v,
              f"Смена состава дала {ph.signed(r.composition)} балла сверх обычного для муниципалитета "
              f"(95\u00a0% ДИ {ph.signed(r.composition_lower)} … {ph.signed(r.composition_upper)})."),
    )


def _trend_finding(r, school_id: str, year: int, m: int, yearly: pd.DataFrame) -> Finding:
    y = yearly[yearly["subject"] == r.subject].sort_values("year")
    first, last = y.iloc[0], y.iloc[-1]
    kind = "declining_trend" if r.slope < 0 else "improving_trend"
    causes = _cohort_causes(r)
    which = ph.cohort_verdict(causes[0].verdict, causes[1].verdict, r.slope < 0)
    evidence = (f"Средняя годовая отметка по предмету «{r.subject}» с {ph.academic_year(int(r.first_year))} по "
                f"{ph.academic_year(int(r.last_year))} учебный год: {ph.num(first.mean_mark)} → {ph.num(last.mean_mark)} "
                f"(качество знаний {ph.pct(first.quality)} → {ph.pct(last.quality)}). Тренд с учётом параллели и "
                f"различий между классами: {ph.signed(r.slope)} балла в год (95\u00a0% ДИ {ph.signed(r.slope_lower)} … "
                f"{ph.signed(r.slope_upper)}), {ph.q_text(r.q_value, m)}. {which}")
    sev = "high" if abs(r.slope) >= 0.10 else "medium" if abs(r.slope) >= 0.05 else "low"
    rec = None
    if kind == "declining_trend":
        rec = Recommendation(
            text=(f"Руководителю ШМО по предмету «{r.subject}»: разобрать причины снижения ({which.lower()}) "
                  "на заседании ШМО, составить план коррекции и проверить среднюю годовую отметку в следующем году."),
            addressee_type="subject", addressee_id=r.subject, responsible="заместитель директора по УВР",
            deadline=f"{year}-10-31", control_metric="mean_mark", baseline=round(float(last.mean_mark), 2),
            target=round(float(first.mean_mark), 2))
    title = (f"{'Снижение' if kind == 'declining_trend' else 'Рост'} результатов по предмету «{r.subject}» за "
             f"{int(r.n_years)} {ph.years_word(int(r.n_years))}")
    return Finding(area="trends", kind=kind, polarity="problem" if kind == "declining_trend" else "strength",
                   severity=sev, school_id=school_id, year=int(year), target_type="subject", target_id=r.subject,
                   subject=r.subject, metric="slope", estimate=float(r.slope), ci_low=float(r.slope_lower),
                   ci_high=float(r.slope_upper), p_value=float(r.p_value), q_value=float(r.q_value),
                   n=int(r.n_obs), title=title, evidence=evidence, causes=causes, recommendation=rec,
                   extra={"within_change": float(r.within), "composition_change": float(r.composition)})
