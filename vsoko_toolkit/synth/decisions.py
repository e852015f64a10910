"""The register of management decisions (decisions.csv) and its truth.

Planted: one **effective** decision (its targeted classes gain
``decision_effect_size`` latent sd in the subject from its date on), one
**placebo** (same shape, no effect) and one **not yet due** (taken at the August
teachers' council of the last year, effective from the next year). Every other
school gets one background decision without effect (recorded as placebo).
Baselines are computed from the generated data at the decision's date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .params import SUBJECTS

_GEN = {"Русский язык": "русскому языку", "Математика": "математике", "Литература": "литературе",
        "Английский язык": "английскому языку", "История": "истории", "Биология": "биологии"}

TEMPLATES = {
    "quality": ("Низкое качество знаний по {gen} в {g}-х классах: по итогам I четверти {b:.0%} "
                "отметок «4» и «5»",
                "Дополнительные занятия по {gen} два раза в неделю в группах по уровню подготовки, "
                "взаимопосещение уроков учителями ШМО, еженедельный тематический контроль"),
    "mean_mark": ("Снижение среднего балла по {gen} в {g}-х классах (по итогам I четверти {b:.2f})",
                  "Проведение родительских собраний и профилактических бесед с обучающимися "
                  "о значении учёбы"),
    "success": ("Неуспевающие по {gen} в {g}-х классах (успеваемость по итогам I четверти {b:.0%})",
                "Индивидуальные образовательные маршруты для неуспевающих, консультации учителя "
                "после уроков, контроль посещаемости"),
    "vpr_confirm_share": ("Расхождение отметок ВПР и текущей успеваемости: отметку подтвердили "
                          "{b:.0%} участников",
                          "Внедрить единые критерии оценивания в ШМО, провести внутренний аудит "
                          "объективности оценивания, перекрёстную проверку работ"),
}


def _metric(marks: pd.Series, metric: str) -> float:
    v = pd.to_numeric(marks.astype(str), errors="coerce").dropna()
    if len(v) == 0:
        return float("nan")
    if metric == "quality":
        return float((v >= 4).mean())
    if metric == "success":
        return float((v >= 3).mean())
    return float(v.mean())


def build_register(plan, years: list[int], last_year: int, pm: pd.DataFrame, assessments: pd.DataFrame,
                   classes: pd.DataFrame, school_ids, rng, effects: dict, size: float):
    """decisions.csv as a frame, and the truth list.

    Parameters
    ----------
    pm : DataFrame
        Period marks with ``class_id, subject, period, mark``.
    assessments : DataFrame
        Assessments with ``class_id, kind, mark, journal_mark``.
    classes : DataFrame
        Classes with ``class_id, school_id, year, grade``.
    effects : dict
        Realised effects of the effective decision on its targets' term marks after its
        date (``quality``: share points, ``mean_mark``: marks, ``quality_year_mark``), from
        counterfactual marks with the same random draws.
    size : float
        Planted latent effect (0 when the effect is switched off: the decision is a placebo).
    """
    from .plan import DECISION_GRADE, PLACEBO_GRADE

    rows, truth = [], []

    def class_decision(kind, school, year, subject, grade, metric, day, delta, **extra):
        cl = classes[(classes.school_id == school_ids[school]) & (classes.year == year)
                     & (classes.grade == grade)].class_id.tolist()
        subj = SUBJECTS[subject]
        sel = pm[pm.class_id.isin(cl) & (pm.subject == subj) & (pm.period == "q1")]
        b = _metric(sel.mark, metric)
        problem, action = TEMPLATES[metric]
        gen = _GEN.get(subj, subj.lower())
        target = b + (0.10 if metric != "mean_mark" else 0.20)
        if metric != "mean_mark":
            target = min(target, 1.0)
        rows.append({"school_id": school_ids[school], "year": year, "date": np.datetime64(day),
                     "problem": problem.format(gen=gen, g=grade, b=b), "action": action.format(gen=gen),
                     "target_type": "class", "target_ids": ";".join(cl), "subject": subj,
                     "responsible": "заместитель директора по УВР", "metric": metric,
                     "baseline": round(b, 3), "target_value": round(target, 3),
                     "deadline": np.datetime64(f"{year}-05-31")})
        truth.append({"school_id": school_ids[school], "kind": kind, "metric": metric,
                      "target_type": "class", "target_ids": cl, "subject": subj,
                      "effect": delta, "date": day, "year": year, **extra})

    e_school, e_year, e_subj = plan.effective
    eff = effects.get("quality", 0.0) if size > 0 else 0.0
    extra = {"effect_latent": size, "effect_units": "share (0..1) of marks 4-5 in term marks after the date",
             "effect_mean_mark": round(effects.get("mean_mark", 0.0), 4) if size > 0 else 0.0,
             "effect_year_mark_quality": round(effects.get("quality_year_mark", 0.0), 4) if size > 0 else 0.0}
    class_decision("effective" if size > 0 else "placebo", e_school, e_year, e_subj,
                   DECISION_GRADE, "quality", f"{e_year - 1}-11-05", round(eff, 4), **extra)
    p_school, p_year, p_subj = plan.placebo
    class_decision("placebo", p_school, p_year, p_subj, PLACEBO_GRADE, "mean_mark", f"{p_year - 1}-11-12", 0.0)
    # not yet due: school-level, objectivity of ВПР marks
    nd_school = p_school if len(school_ids) < 3 else int(
        [s for s in range(len(school_ids)) if s not in (e_school, p_school)][0])
    sid = school_ids[nd_school]
    cl = classes[(classes.school_id == sid) & (classes.year == last_year)].class_id
    v = assessments[assessments.class_id.isin(cl) & (assessments.kind == "VPR")]
    v = v[v.journal_mark.notna() & v.mark.notna()]
    b = float((v.mark == v.journal_mark).mean()) if len(v) else float("nan")
    problem, action = TEMPLATES["vpr_confirm_share"]
    day = f"{last_year}-08-30"
    rows.append({"school_id": sid, "year": last_year, "date": np.datetime64(day),
                 "problem": problem.format(b=b), "action": action, "target_type": "school",
                 "target_ids": "", "subject": "", "responsible": "директор", "metric": "vpr_confirm_share",
                 "baseline": round(b, 3), "target_value": 0.7,
                 "deadline": np.datetime64(f"{last_year + 1}-05-31")})
    truth.append({"school_id": sid, "kind": "not_due", "metric": "vpr_confirm_share", "target_type": "school",
                  "target_ids": [], "subject": None, "effect": 0.0, "date": day, "year": last_year})
    # background decisions in the other schools (no effect)
    taken = {e_school, p_school, nd_school}
    for s in range(len(school_ids)):
        if s in taken:
            continue
        subj = int(rng.choice([0, 2]))
        class_decision("placebo", s, years[-2] if len(years) > 1 else years[-1], subj,
                       int(rng.integers(5, 9)), "success", f"{(years[-2] if len(years) > 1 else years[-1]) - 1}-11-20",
                       0.0)
    df = pd.DataFrame(rows).sort_values(["school_id", "date"], kind="stable").reset_index(drop=True)
    ids = [f"D{i + 1:03d}" for i in range(len(df))]
    order = df.index.to_numpy()
    key = {(r["school_id"], str(r["date"])[:10]): ids[i] for i, r in zip(order, df.to_dict("records"), strict=True)}
    df.insert(0, "decision_id", ids)
    for t in truth:
        t["decision_id"] = key[(t["school_id"], t["date"])]
    truth.sort(key=lambda t: t["decision_id"])
    return df, truth
