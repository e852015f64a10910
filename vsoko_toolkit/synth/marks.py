"""Journal: attendance, period (quarter/semester/year) marks, failing, current marks.

A journal mark is a threshold model on a latent "journal impression":

    J[i, s, p] = theta[i, s] + leniency[s] + offset[teacher, s] + nu[i, s] + e[i, s, p]

cut at the grade band's thresholds into 2..5. The year mark is the rounded
mean of the numeric term marks. Failing (a year mark 2) follows the true risk
model: a student fails with probability
``logistic(b0 + k * (b_gpa * (prior_gpa - 4) + b_abs * absence_pct / 10 + b_sn * special_needs
+ b_prim * primary))``
and then gets 2 in the weakest one to three subjects; students who do not fail
get at least 3 for the year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import (
    MARKED,
    P_Q3,
    P_YEAR,
    PERIOD_WEEKS,
    S_ENG,
    S_MATH,
    S_RUS,
    SECOND_HALF,
    SUBJECT_LENIENCY,
    WEEKLY_LESSONS,
    ModelParams,
    period_bounds,
    periods_of_grade,
)

NA, EXEMPT = -1, -2  # codes of the non-numeric entries н/а and осв
MARK_LABELS = {NA: "н/а", EXEMPT: "осв", 2: "2", 3: "3", 4: "4", 5: "5"}
WORK_TYPES = ("ответ", "самостоятельная", "контрольная", "домашняя", "диктант")
WORK_P = np.array([0.40, 0.22, 0.13, 0.15, 0.10])
WORK_WEIGHT = np.array([1.0, 1.5, 2.0, 1.0, 1.5])
WORK_SHIFT = np.array([0.10, 0.0, -0.20, 0.15, -0.10])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def cut(latent: np.ndarray, cuts: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    """Marks 2..5 from a latent value and three thresholds (2|3, 3|4, 4|5)."""
    c = np.asarray(cuts)
    return 2 + (latent[..., None] > c).sum(-1)


def cuts_for(grade: np.ndarray, P: ModelParams) -> np.ndarray:
    """Threshold rows per observation: primary band (grades 2-4) or main band."""
    return np.where((np.asarray(grade) <= 4)[:, None], np.array(P.cuts_primary), np.array(P.cuts_main))


def round_mean(marks: np.ndarray) -> np.ndarray:
    """Rounded (half up) mean of the numeric marks per row; 0 when none is numeric."""
    num = marks >= 2
    k = num.sum(1)
    s = np.where(num, marks, 0).sum(1)
    return np.where(k > 0, np.floor(s / np.maximum(k, 1) + 0.5), 0).astype(int)


@dataclass
class Attendance:
    """Attendance rows of one year plus each student's yearly absence share."""

    row: np.ndarray  # roster row
    cls: np.ndarray
    period: np.ndarray
    total: np.ndarray
    missed: np.ndarray
    unexcused: np.ndarray
    share_year: np.ndarray  # per roster row
    share_period: dict  # period -> per roster row share (NaN when not applicable)


def attendance(rng, P: ModelParams, roster, theta: np.ndarray, trait: np.ndarray,
               social: np.ndarray) -> Attendance:
    """Lessons scheduled and missed per student and term."""
    n = len(roster)
    rate = sigmoid(np.log(P.absence_base / (1 - P.absence_base)) + 0.55 * trait
                   - 0.20 * theta.mean(1) - 0.15 * social + rng.normal(0, 0.3, n))
    mult = {0: 0.9, 1: 1.1, 2: 1.25, 3: 0.85, 4: 1.0, 5: 1.05}
    rows, cls, per, tot, mis, une = [], [], [], [], [], []
    share_p = {}
    s_tot = np.zeros(n)
    s_mis = np.zeros(n)
    p_unexc = sigmoid(-1.7 + 0.8 * trait)
    for band_hi, periods in ((False, (0, 1, 2, 3)), (True, (4, 5))):
        m = np.flatnonzero((roster.grade >= 10) == band_hi)
        for p in periods:
            weeks = PERIOD_WEEKS[p] - ((roster.grade[m] == 1) & (p == 2))
            total = WEEKLY_LESSONS[roster.grade[m]] * weeks
            missed = rng.binomial(total, np.clip(rate[m] * mult[p], 0, 0.95))
            unexc = rng.binomial(missed, p_unexc[m])
            c = roster.cls2[m] if p in SECOND_HALF else roster.cls1[m]
            rows.append(m)
            cls.append(c)
            per.append(np.full(len(m), p))
            tot.append(total)
            mis.append(missed)
            une.append(unexc)
            sp = np.full(n, np.nan)
            sp[m] = missed / total
            share_p[p] = sp
            s_tot[m] += total
            s_mis[m] += missed
    cat = np.concatenate
    return Attendance(cat(rows), cat(cls), cat(per), cat(tot), cat(mis), cat(une),
                      s_mis / np.maximum(s_tot, 1), share_p)


@dataclass
class Journal:
    """Period marks of one year in long form, plus per-student summaries."""

    row: np.ndarray  # roster row per mark
    subj: np.ndarray
    period: np.ndarray
    cls: np.ndarray
    mark: np.ndarray  # 2..5, NA or EXEMPT
    year_marks: np.ndarray  # (n_students, n_subjects): numeric year mark or NaN
    q3: np.ndarray  # (n_students, n_subjects): q3 mark or NaN
    fail: np.ndarray  # per roster row: drawn failing
    fail_count: np.ndarray
    p_fail: np.ndarray
    latent: dict  # (band, period) -> latent per pair, for current marks
    pairs: dict  # band -> (rows, subj)
    year_cf: dict  # band -> {"obs", "no_bias", "no_decision"} -> year mark per pair
    quarter_cf: dict  # band -> {"obs", "no_bias", "no_decision"} -> (pairs x periods) marks


def _band_marks(J: np.ndarray, cuts: np.ndarray, na: np.ndarray, exempt: np.ndarray,
                fails: np.ndarray):
    marks = cut(J, cuts[:, None, :])
    marks = np.where(na, NA, marks)
    marks = np.where(exempt[:, None], EXEMPT, marks)
    year = round_mean(marks)
    year = np.where(year == 0, np.where(exempt, EXEMPT, NA), year)
    year = np.where(year >= 2, np.maximum(year, 3), year)
    year = np.where(fails, 2, year)
    marks[fails, -1] = 2
    return marks, year


def journal(rng, P: ModelParams, roster, theta: np.ndarray, T: np.ndarray, offset: np.ndarray,
            planted: np.ndarray, absence: Attendance, special: np.ndarray, prior_gpa: np.ndarray,
            risk_size: float, delta: np.ndarray | None = None, pre_periods: tuple = ()) -> Journal:
    """Quarter/semester and year marks for every student and subject of the year.

    Parameters
    ----------
    offset, planted : ndarray, (n_teachers, n_subjects)
        Random leniency and planted marking bias of every teacher (latent units).
    special : ndarray of bool
        ОВЗ flag per roster row.
    prior_gpa : ndarray
        Mean numeric year mark of last year per roster row (NaN when absent).
    delta : ndarray, (n_students, n_subjects), optional
        The decision's latent effect included in ``theta`` this year; it is removed in
        ``pre_periods`` (terms that ended before the decision took effect).

    Notes
    -----
    Besides the observed marks, counterfactual year marks are computed with the same
    random draws: without the planted marking bias and without the decision effect.
    """
    n = len(roster)
    out = {k: [] for k in ("row", "subj", "period", "cls", "mark")}
    year_marks = np.full(theta.shape, np.nan)
    q3 = np.full(theta.shape, np.nan)
    latent, pairs, year_cf, quarter_cf = {}, {}, {}, {}
    # failing: the true risk model
    gpa_hat = 3.9 + 0.6 * theta.mean(1)
    gpa = np.where(np.isnan(prior_gpa), gpa_hat, prior_gpa)
    eta = P.risk_intercept + risk_size * (P.risk_prior_gpa * (gpa - 4)
                                          + P.risk_absence * absence.share_year * 10
                                          + P.risk_special_needs * special
                                          + P.risk_primary * (roster.grade <= 4))
    p_fail = sigmoid(eta) * (roster.grade >= 2)
    fail = rng.random(n) < p_fail
    n_fail_subj = 1 + rng.binomial(2, 0.3, n)
    exempt_student = special & (rng.random(n) < 0.15)
    fail_count = np.zeros(n, int)
    for band_hi in (False, True):
        ri, si = np.nonzero(MARKED[roster.grade] & ((roster.grade >= 10) == band_hi)[:, None])
        if len(ri) == 0:
            continue
        pairs[band_hi] = (ri, si)
        periods = periods_of_grade(11 if band_hi else 5)
        base = theta[ri, si] + SUBJECT_LENIENCY[si] + rng.normal(0, P.sd_journal_student, len(ri))
        e = rng.normal(0, P.sd_journal_period, (len(ri), len(periods)))
        dl = delta[ri, si] if delta is not None else np.zeros(len(ri))
        J = np.empty_like(e)
        Jb = np.empty_like(e)  # without planted bias
        Jd = np.empty_like(e)  # without the decision
        for k, p in enumerate(periods):
            cls = roster.cls2[ri] if p in SECOND_HALF else roster.cls1[ri]
            t = T[cls, si]
            off = np.where(t >= 0, offset[np.maximum(t, 0), si], 0.0)
            pl = np.where(t >= 0, planted[np.maximum(t, 0), si], 0.0)
            pre = dl if p in pre_periods else 0.0
            J[:, k] = base + off + pl - pre + e[:, k]
            Jb[:, k] = J[:, k] - pl
            Jd[:, k] = J[:, k] + pre - dl
        cuts = cuts_for(roster.grade[ri], P)
        share = np.stack([absence.share_period[p][ri] for p in periods], 1)
        na = (share > 0.45) & (rng.random(share.shape) < 0.7)
        exempt = (si == S_ENG) & exempt_student[ri]
        # failing subjects: the weakest ones (ranked without planted parts)
        rank_key = np.where(exempt, np.inf, base - dl)
        order = np.lexsort((rank_key, ri))
        starts = np.r_[0, np.flatnonzero(np.diff(ri[order])) + 1]
        rank = np.empty(len(ri), int)
        rank[order] = np.arange(len(ri)) - np.repeat(starts, np.diff(np.r_[starts, len(ri)]))
        fails = fail[ri] & (rank < n_fail_subj[ri]) & ~exempt
        marks, yr = _band_marks(J, cuts, na, exempt, fails)
        half = fails & (rng.random(len(ri)) < 0.5) & (marks[:, -2] >= 2)
        marks[half, -2] = 2
        marks_b, yr_b = _band_marks(Jb, cuts, na, exempt, fails)
        marks_b[half, -2] = marks[half, -2]
        marks_d, yr_d = _band_marks(Jd, cuts, na, exempt, fails)
        year_cf[band_hi] = {"obs": yr, "no_bias": yr_b, "no_decision": yr_d}
        quarter_cf[band_hi] = {"obs": marks, "no_bias": marks_b, "no_decision": marks_d}
        fail_count += np.bincount(ri[yr == 2], minlength=n)
        year_marks[ri, si] = np.where(yr >= 2, yr, np.nan)
        if not band_hi:
            q3[ri, si] = np.where(marks[:, P_Q3] >= 2, marks[:, P_Q3], np.nan)
        for k, p in enumerate((*periods, P_YEAR)):
            cls = roster.cls2[ri] if p in SECOND_HALF else roster.cls1[ri]
            out["row"].append(ri)
            out["subj"].append(si)
            out["period"].append(np.full(len(ri), p))
            out["cls"].append(cls)
            out["mark"].append(marks[:, k] if k < len(periods) else yr)
            if k < len(periods):
                latent[(band_hi, p)] = J[:, k]
    cat = np.concatenate
    return Journal(cat(out["row"]), cat(out["subj"]), cat(out["period"]), cat(out["cls"]),
                   cat(out["mark"]), year_marks, q3, fail, fail_count, p_fail, latent, pairs,
                   year_cf, quarter_cf)


def current_marks(rng, P: ModelParams, roster, jr: Journal, year: int) -> dict:
    """Running e-journal marks in Математика and Русский язык (grades 2-11), ~Poisson per quarter."""
    rows, subj, cls, date, mark, wt = [], [], [], [], [], []
    for band_hi, (ri, si) in jr.pairs.items():
        keep = np.isin(si, (S_MATH, S_RUS))
        ri_k, si_k = ri[keep], si[keep]
        for q in range(4):
            p = q if not band_hi else (4 if q < 2 else 5)
            L = jr.latent[(band_hi, p)][keep]
            k = rng.poisson(P.current_per_quarter, len(ri_k))
            r = np.repeat(np.arange(len(ri_k)), k)
            d0, d1 = period_bounds(year, q)
            span = int((d1 - d0).astype(int)) + 1
            d = d0 + rng.integers(0, span, len(r))
            wd = (d.astype("datetime64[D]").astype(np.int64) + 3) % 7  # Monday = 0
            d = d - (wd == 5) + (wd == 6)
            d = np.minimum(np.maximum(d, d0), d1)
            w = rng.choice(len(WORK_TYPES), len(r), p=WORK_P)
            lat = L[r] + WORK_SHIFT[w] + rng.normal(0, P.sd_current, len(r))
            mk = cut(lat, cuts_for(roster.grade[ri_k[r]], P))
            c = roster.cls2[ri_k[r]] if q >= 2 else roster.cls1[ri_k[r]]
            rows.append(ri_k[r])
            subj.append(si_k[r])
            cls.append(c)
            date.append(d)
            mark.append(mk)
            wt.append(w)
    cat = np.concatenate
    return {"row": cat(rows), "subj": cat(subj), "cls": cat(cls), "date": cat(date),
            "mark": cat(mark), "work": cat(wt)}
