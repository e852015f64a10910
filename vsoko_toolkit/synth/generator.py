"""The sample municipality: year-by-year simulation and its planted truth.

Entry point :func:`generate_municipality`. One ``numpy.random.default_rng(seed)``
drives everything in a fixed order, so a seed gives identical files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..contract.spec import TABLES
from .ability import advance
from .assessments import Sittings, sit_year
from .context import SCALES, indicators, olympiads, surveys
from .decisions import build_register
from .destinations import generate_destinations
from .literacy import Literacy
from .literacy import append as append_literacy
from .marks import attendance, journal
from .marks import current_marks as running_marks
from .params import P_Q1, S_MATH, SUBJECTS, ModelParams, Plants, cal_date
from .plan import DECISION_GRADE, plan_schools, plan_teachers
from .population import ClassRegistry, StudentPool, initial_roster, make_schools, next_roster
from .staff import Staffing
from .tables import Accumulator, assemble
from .truth import build_truth
from .upbringing import add_upbringing
from .writer import write_tables


def generate_municipality(out_dir, n_schools: int = 4, n_years: int = 4, seed: int = 1,
                          last_year: int = 2025, plants: Plants | None = None,
                          current_marks: bool = True, params: ModelParams | None = None) -> dict:
    """Generate a sample municipality in the data contract, with its planted truth.

    Parameters
    ----------
    out_dir : path
        Folder to write ``<table>.csv`` (UTF-8, comma, ISO dates) and ``truth.json`` into.
    n_schools, n_years : int
        Municipality size (at least 2 schools and 2 years).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives identical files.
    last_year : int
        Last academic year (ending year: 2025 = 2024/2025).
    plants : Plants, optional
        Planted effects (default: all at default size); ``Plants.null()`` plants none.
    current_marks : bool
        Write ``current_marks.csv`` (the largest table).
    params : ModelParams, optional
        Base model numbers.

    Returns
    -------
    dict
        The truth (also written to ``truth.json``); see docs/SYNTH_MODEL.md for the keys.

    Examples
    --------
    >>> from vsoko_toolkit.synth import Plants, generate_municipality
    >>> truth = generate_municipality("/tmp/muni", n_schools=3, n_years=3, seed=1)  # doctest: +SKIP
    >>> truth["resilient_school"]["school_id"]  # doctest: +SKIP
    'S02'
    """
    if n_schools < 2 or n_years < 2:
        raise ValueError("Нужно не меньше 2 школ и 2 лет: n_schools >= 2, n_years >= 2.")
    plants = Plants() if plants is None else plants
    P = ModelParams() if params is None else params
    rng = np.random.default_rng(seed)
    # current marks draw from their own stream: omitting them changes nothing else
    cm_rng = np.random.default_rng([seed, 1])
    years = list(range(last_year - n_years + 1, last_year + 1))
    schools = make_schools(rng, n_schools, P, plants.size("resilient_school"))
    plan = plan_schools(rng, plants, schools.social_index, schools.parallels, years)
    reg, pool = ClassRegistry(), StudentPool()
    staff = Staffing(rng, P, n_schools, plants.size("teacher_effects"), plants.size("teacher_leniency"))
    sit, acc = Sittings(), Accumulator()
    culture = rng.normal(0, 0.4, n_schools)
    climate = 0.15 * schools.social_index[:, None] + rng.normal(0, 0.25, (n_schools, len(SCALES)))
    gpa = np.zeros(0)
    planted_offsets: dict[tuple[int, int], float] = {}
    notes: dict = {"population": [], "bias": {}, "decision": {}, "assess": {}}
    prev = theta_mean = fail_count = None
    lit = Literacy(seed, plants.size("literacy_deficit"), P.region_shift, n_schools, last_year)  # own stream
    for yi, y in enumerate(years):
        n_before = pool.n
        if yi == 0:
            roster = initial_roster(rng, P, schools, reg, pool, y)
        else:
            intake = None
            if (plants.declining_trend_cause == "intake" and plan.declining is not None
                    and y >= plan.declining_from):
                intake = (plan.declining, plants.size("declining_trend"))
            roster, log = next_roster(rng, P, schools, reg, pool, prev, theta_mean, fail_count, intake)
            notes["population"].append({"year": y, **log})
        is_new = roster.stu >= n_before
        gpa = np.concatenate([gpa, np.full(pool.n - len(gpa), np.nan)])
        c_school, c_grade = np.asarray(reg.school), np.asarray(reg.grade)
        c_lineage, c_year = np.asarray(reg.lineage), np.asarray(reg.year)
        classes = np.flatnonzero(c_year == y)
        if yi == 0:
            staff.start(classes, c_school, c_grade, y)
        else:
            staff.turnover(y)
            if (plants.declining_trend_cause == "teacher" and plan.declining is not None
                    and y == plan.declining_from):
                for t in staff.members(plan.declining, 2):  # the mathematics group
                    new = staff.replace(t, y, {S_MATH: -plants.size("declining_trend")})
                    staff.pool.protected[new] = True
                    plan.declining_teachers.append((t, new))
        first_row = len(staff.rows)
        T = staff.assign(y, classes, c_school, c_grade, c_lineage)
        for c, t in staff.homerooms(classes, c_school, c_grade, c_lineage, T).items():
            reg.homeroom[c] = t
        if yi == 0:
            plan_teachers(rng, plants, plan, staff.rows, staff.pool, n_schools)
            for t, s in plan.low_va:
                staff.pool.tau[t][s] = -plants.size("value_added")
            for t, s in plan.high_va:
                staff.pool.tau[t][s] = plants.size("value_added")
            for t, s in plan.inflated:
                planted_offsets[(t, s)] = plants.size("marking_bias")
            for t, s in plan.deflated:
                planted_offsets[(t, s)] = -plants.size("marking_bias")
        tau = np.array(staff.pool.tau)
        lenient = np.array(staff.pool.lenient)
        planted = np.zeros_like(lenient)
        for (t, s), v in planted_offsets.items():
            planted[t, s] = v
        # the effective decision: targeted classes gain from its date on
        delta, pre = None, ()
        e_school, e_year, e_subj = plan.effective
        if y == e_year and plants.decision_effect:
            target = classes[(c_school[classes] == e_school) & (c_grade[classes] == DECISION_GRADE)]
            delta = np.zeros((len(roster), len(SUBJECTS)))
            delta[np.isin(roster.cls2, target), e_subj] = plants.size("decision_effect")
            pre = (P_Q1,)
        theta = advance(rng, P, pool, roster, is_new, T, tau, delta)
        special = pool.special[roster.stu]
        att = attendance(rng, P, roster, theta, pool.absent[roster.stu], schools.social_index[roster.school])
        jr = journal(rng, P, roster, theta, T, lenient, planted, att, special, gpa[roster.stu],
                     plants.size("risk_model"), delta, pre)
        _record_counterfactuals(notes, roster, jr, T, planted_offsets, plan, y, classes, c_school, c_grade)
        medal = _medals(roster, jr)
        acc.year(y, roster, jr, att, medal, cal_date(y, 1, 9))
        if current_marks and yi >= n_years - P.current_marks_years:
            acc.current(roster, running_marks(cm_rng, P, roster, jr, y))
        deficits = [(s, g, subj) for s, g, subj, yr in plan.deficits if yr == y]
        peak = plan.peak[0] if plan.peak and plan.peak[1] == y else None
        sit_year(rng, P, sit, roster, theta, jr.q3, special, schools.ids, y, deficits, peak,
                 plants.size("task_deficit"), plants.size("threshold_peak"), notes["assess"])
        lit.year(roster, theta, y)
        acc.olympiads(roster, olympiads(rng, roster, theta, culture, y), y)
        rows_y = staff.rows[first_row:]
        working = {}
        for t, c, _, _ in rows_y:
            working.setdefault(int(c_school[c]), set()).add(t)
        working = {s: np.array(sorted(v)) for s, v in working.items()}
        acc.surveys(surveys(rng, roster, working, n_schools, climate, y), y)
        acc.indicators(indicators(rng, schools.social_index, schools.locality, yi), y)
        gpa[roster.stu] = _row_mean(jr.year_marks)
        notes.setdefault("fail", []).append({"year": y, "fail_share": round(float(
            (jr.fail_count[roster.grade >= 2] > 0).mean()), 4)})
        theta_mean, fail_count, prev = theta.mean(1), jr.fail_count, roster
    tables, ids = assemble(rng, acc, schools, reg, pool, staff, sit, years, last_year)
    pm_q1 = tables["period_marks"][tables["period_marks"].period == "q1"]
    tables["decisions"], dec_truth = build_register(
        plan, years, last_year, pm_q1, tables["assessments"], tables["classes"], schools.ids, rng,
        notes["decision"], plants.size("decision_effect"))
    # the municipal register (optional table) is written empty: no municipal decision is planted yet, and the
    # municipal book says the register is missing instead of evaluating one (tests plant their own)
    tables["municipal_decisions"] = pd.DataFrame(columns=TABLES["municipal_decisions"].names)
    upbringing = add_upbringing(tables, plants, seed, culture)  # own stream: other tables unchanged
    # graduates' destinations: drawn from the tables above on their own stream (everything else unchanged)
    tables["destinations"], outflow = generate_destinations(seed, tables, years, plants.size("graduate_outflow"))
    truth = build_truth(plants, P, plan, schools, staff, tables, ids, notes, dec_truth, climate, years,
                        seed, current_marks)
    truth["graduate_outflow"] = outflow
    append_literacy(tables, lit, ids, np.asarray(reg.grade))  # after the register: it reads assessments
    truth["literacy_deficits"] = lit.truth_entries(ids)
    truth["upbringing"] = upbringing
    write_tables(Path(out_dir), tables, truth)
    return truth


def _row_mean(a: np.ndarray) -> np.ndarray:
    k = (~np.isnan(a)).sum(1)
    return np.where(k > 0, np.nansum(a, 1) / np.maximum(k, 1), np.nan)


def _medals(roster, jr) -> np.ndarray:
    """Medal per roster row: 0 gold (all year marks 5), 1 silver (at most two 4s), -1 none."""
    medal = np.full(len(roster), -1)
    g11 = np.flatnonzero(roster.grade == 11)
    ym = jr.year_marks[g11]
    n_num = (~np.isnan(ym)).sum(1)
    n5 = (ym == 5).sum(1)
    n4 = (ym == 4).sum(1)
    ok = (n_num > 0) & (n5 + n4 == n_num) & (jr.fail_count[g11] == 0)
    medal[g11[ok & (n4 == 0)]] = 0
    medal[g11[ok & (n4 >= 1) & (n4 <= 2)]] = 1
    return medal


def _record_counterfactuals(notes, roster, jr, T, planted_offsets, plan, y, classes, c_school, c_grade):
    """Realised effects of the planted marking bias and of the effective decision (same draws)."""
    for band, (ri, si) in jr.pairs.items():
        cf = jr.year_cf[band]
        t = T[roster.cls2[ri], si]
        num = (cf["obs"] >= 2) & (cf["no_bias"] >= 2)
        qo, qb = jr.quarter_cf[band]["obs"], jr.quarter_cf[band]["no_bias"]
        qnum = (qo >= 2) & (qb >= 2)
        for (pt, ps), _ in planted_offsets.items():
            m = (t == pt) & (si == ps)
            if m.any():
                acc = notes["bias"].setdefault((pt, ps), [0.0, 0, 0.0, 0])
                acc[0] += float((cf["obs"][m & num] - cf["no_bias"][m & num]).sum())
                acc[1] += int((m & num).sum())
                acc[2] += float((qo[m] - qb[m])[qnum[m]].sum())
                acc[3] += int(qnum[m].sum())
        e_school, e_year, e_subj = plan.effective
        if y == e_year:
            target = classes[(c_school[classes] == e_school) & (c_grade[classes] == DECISION_GRADE)]
            m = np.isin(roster.cls2[ri], target) & (si == e_subj)
            post = slice(1, None) if not band else slice(None)  # terms ending after the date
            qo = jr.quarter_cf[band]["obs"][m][:, post]
            qn = jr.quarter_cf[band]["no_decision"][m][:, post]
            ok = (qo >= 2) & (qn >= 2)
            yo, yn = cf["obs"][m], cf["no_decision"][m]
            ym = (yo >= 2) & (yn >= 2)
            if ok.any():
                notes["decision"] = {
                    "quality": float((qo[ok] >= 4).mean() - (qn[ok] >= 4).mean()),
                    "mean_mark": float(qo[ok].mean() - qn[ok].mean()),
                    "quality_year_mark": float((yo[ym] >= 4).mean() - (yn[ym] >= 4).mean()) if ym.any() else 0.0,
                    "n_students": int(m.sum())}
