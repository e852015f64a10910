"""The truth file: every planted effect, where it is and how big it really came out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .params import SUBJECTS, ModelParams, Plants
from .plan import Plan


def _r(x, k: int = 4):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else round(float(x), k)


def build_truth(plants: Plants, P: ModelParams, plan: Plan, schools, staff, tables: dict, ids: dict,
                notes: dict, decisions: list, climate: np.ndarray, years: list[int], seed: int,
                current_marks: bool) -> dict:
    """Assemble truth.json (see docs/SYNTH_MODEL.md for every key)."""
    tid, sid, cid = ids["teacher"], ids["school"], ids["class"]
    pool = staff.pool
    taught = staff.subjects_taught()
    classes_of: dict[tuple[int, int], set[int]] = {}
    for t, c, s, _ in staff.rows:
        classes_of.setdefault((t, s), set()).add(c)

    def teacher_entry(t, s, **kw):
        return {"teacher_id": tid[t], "school_id": sid[pool.school[t]], "subject": SUBJECTS[s],
                "effect": _r(pool.tau[t][s]), **kw}

    truth: dict = {"seed": seed, "null": plants.is_null, "years": years}
    truth["params"] = {"plants": plants.as_dict(), "model": dataclasses.asdict(P),
                       "n_schools": len(sid), "n_years": len(years), "last_year": years[-1],
                       "current_marks": current_marks}
    truth["teacher_effects"] = {tid[t]: {SUBJECTS[s]: _r(pool.tau[t][s]) for s in sorted(taught[t])}
                                for t in sorted(taught)}
    truth["teacher_leniency"] = {tid[t]: {SUBJECTS[s]: _r(pool.lenient[t][s]) for s in sorted(taught[t])}
                                 for t in sorted(taught)}
    truth["low_value_added"] = [teacher_entry(t, s, source="value_added") for t, s in plan.low_va]
    truth["low_value_added"] += [teacher_entry(new, plan.declining_subject, source="declining_trend")
                                 for _, new in plan.declining_teachers]
    truth["high_value_added"] = [teacher_entry(t, s, source="value_added") for t, s in plan.high_va]
    bias = []
    for direction, items in (("inflated", plan.inflated), ("deflated", plan.deflated)):
        for t, s in items:
            tot, n, qtot, qn = notes["bias"].get((t, s), (0.0, 0, 0.0, 0))
            bias.append({"teacher_id": tid[t], "school_id": sid[pool.school[t]], "subject": SUBJECTS[s],
                         "class_ids": sorted(cid[c] for c in classes_of.get((t, s), ())),
                         "offset_latent": _r((1 if direction == "inflated" else -1) * plants.size("marking_bias")),
                         "offset_marks": _r(tot / n if n else 0.0, 3), "n_year_marks": n,
                         "offset_term_marks": _r(qtot / qn if qn else 0.0, 3), "n_term_marks": qn,
                         "direction": direction})
    truth["marking_bias"] = bias
    truth["task_deficits"] = [
        {"class_id": cid[d["class_index"]], "school_id": sid[d["school_index"]],
         **{k: v for k, v in d.items() if k not in ("class_index", "school_index")}}
        for d in notes["assess"].get("task_deficits", [])]
    truth["declining_trend"] = _declining(plants, plan, tables, ids, notes, years)
    truth["decisions"] = decisions
    peak = notes["assess"].get("threshold_peak")
    truth["threshold_peak"] = None if peak is None else {
        "school_id": sid[peak["school_index"]], **{k: v for k, v in peak.items() if k != "school_index"}}
    truth["resilient_school"] = _resilient(plants, P, plan, schools, tables)
    truth["risk_model"] = _risk(plants, P, notes)
    truth["school_effects"] = {sid[s]: _r(schools.mu[s]) for s in range(len(sid))}
    truth["survey_school_effects"] = {sid[s]: {k: _r(climate[s, j]) for j, k in
                                               enumerate(("climate", "satisfaction", "motivation", "safety"))}
                                      for s in range(len(sid))}
    truth["population"] = notes["population"]
    return truth


def _declining(plants, plan, tables, ids, notes, years):
    if plan.declining is None:
        return None
    sid = ids["school"]
    cl = tables["classes"]
    subject = SUBJECTS[plan.declining_subject]
    sel = cl[(cl.school_id == sid[plan.declining]) & (cl.grade >= 5)]
    pm = tables["period_marks"]
    pm = pm[(pm.period == "year") & (pm.subject == subject) & pm.class_id.isin(sel.class_id)]
    v = pd.to_numeric(pm.mark.astype(str), errors="coerce")
    yr = pm.class_id.astype(str).map(dict(zip(sel.class_id, sel.year, strict=True)))
    q = (v >= 4).groupby(yr[v.notna()]).mean()
    out = {"school_id": sid[plan.declining], "subject": subject, "years": years,
           "from_year": plan.declining_from, "cause": plants.declining_trend_cause,
           "effect_per_year": -plants.size("declining_trend"),
           "quality_by_year": {int(k): _r(x, 3) for k, x in q.items()}}
    if plants.declining_trend_cause == "teacher":
        out["details"] = {"teacher_ids": [ids["teacher"][n] for _, n in plan.declining_teachers],
                          "replaced_teacher_ids": [ids["teacher"][o] for o, _ in plan.declining_teachers],
                          "grades": "5-11"}
    else:
        out["details"] = {"replaced_students": {p["year"]: p["intake_replaced"] for p in notes["population"]},
                          "note": "затрагивает все предметы школы"}
    return out


def _resilient(plants, P, plan, schools, tables):
    if plan.resilient is None:
        return None
    a = tables["assessments"]
    v = a[a.kind == "VPR"]
    school_of = dict(zip(tables["classes"].class_id, tables["classes"].school_id, strict=True))
    m = v.mark.astype(float).groupby(v.class_id.astype(str).map(school_of)).mean()
    sid = schools.ids[plan.resilient]
    rank = int((m > m[sid]).sum()) + 1
    si = schools.social_index[plan.resilient]
    return {"school_id": sid, "social_index": _r(si, 3), "social_index_rank": 1,
            "planted_size": plants.size("resilient_school"),
            "school_mean_latent": _r(schools.mu[plan.resilient]),
            "advantage_over_social_prediction": _r(schools.mu[plan.resilient] - (
                P.beta_social * si - P.beta_social * schools.social_index.mean())),
            "vpr_mean_mark": _r(m[sid], 3), "vpr_rank": rank, "n_schools": len(schools.ids)}


def _risk(plants, P, notes):
    k = plants.size("risk_model")
    return {
        "outcome": "fail",
        "definition": "в учебном году хотя бы одна годовая отметка «2» (классы 2-11)",
        "link": "logit",
        "formula": "logit P(fail) = intercept + prior_gpa * (gpa - 4) + absence * (absence_pct / 10)"
                   " + special_needs * ovz + primary * (grade <= 4)",
        "coefficients": {"intercept": P.risk_intercept, "prior_gpa": _r(k * P.risk_prior_gpa),
                         "absence": _r(k * P.risk_absence), "special_needs": _r(k * P.risk_special_needs),
                         "primary": _r(k * P.risk_primary)},
        "covariates": {
            "gpa": "mean of the student's numeric year marks in the previous year",
            "absence_pct": "lessons missed / lessons scheduled in the current year, in percent",
            "ovz": "special_needs (0/1)"},
        "gpa_when_missing": "3.9 + 0.6 * mean latent ability (first simulated year, newcomers, grade 2)",
        "failed_subjects": "1 + Binomial(2, 0.3) weakest subjects get a year mark 2",
        "observed_fail_share": {p["year"]: p.get("fail_share") for p in notes.get("fail", [])},
    }
