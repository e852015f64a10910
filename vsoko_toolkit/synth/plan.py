"""Where the planted effects go: schools, teachers, classes and years chosen up front.

The choices keep effects apart so that each stays readable in the raw data: the
declining school-subject, the effective and the placebo decisions, the marking-
biased teachers and the value-added extremes do not share teachers or classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .params import S_MATH, S_RUS, Plants

DECISION_GRADE = 6  # grade targeted by the effective decision (ВПР follows in spring)
PLACEBO_GRADE = 7


@dataclass
class Plan:
    """Planted choices (indices into the generator's arrays)."""

    resilient: int | None = None
    declining: int | None = None
    declining_subject: int = S_MATH
    declining_from: int | None = None  # year the cause starts
    peak: tuple[tuple[int, ...], int] | None = None  # (candidate schools, year)
    effective: tuple[int, int, int] | None = None  # (school, year, subject)
    placebo: tuple[int, int, int] | None = None
    deficits: list = field(default_factory=list)  # (school, grade, subject, year)
    inflated: list = field(default_factory=list)  # (teacher, subject)
    deflated: list = field(default_factory=list)
    low_va: list = field(default_factory=list)
    high_va: list = field(default_factory=list)
    declining_teachers: list = field(default_factory=list)


def _pick(rng, options, avoid=()):
    """A random element of ``options`` not in ``avoid`` (falls back to all options)."""
    pool = [o for o in options if o not in avoid] or list(options)
    return pool[int(rng.integers(len(pool)))]


def plan_schools(rng, plants: Plants, social: np.ndarray, parallels: np.ndarray, years: list[int]) -> Plan:
    """Choose the schools and years of the school-level effects."""
    n = len(social)
    p = Plan()
    schools = list(range(n))
    if plants.resilient_school:
        p.resilient = int(np.argmin(social))
    if plants.declining_trend:
        smallest = [s for s in schools if parallels[s] == parallels[schools].min()]
        p.declining = _pick(rng, smallest, (p.resilient,))
        p.declining_from = years[1] if len(years) > 1 else years[0]
    used = {p.resilient, p.declining}
    if plants.threshold_peak:  # the school is picked at the sitting: most scores near the threshold
        p.peak = (tuple(s for s in schools if s != p.resilient), years[-1])
    year_dec = years[-2] if len(years) > 1 else years[-1]
    e = _pick(rng, schools, used)
    p.effective = (e, year_dec, S_RUS)
    p.placebo = (_pick(rng, schools, used | {e}), year_dec, S_MATH)
    if plants.task_deficit:
        n_def = max(2, n // 4)
        for k in range(n_def):
            yr = years[-1 - (k % len(years))]
            s = _pick(rng, schools, {d[0] for d in p.deficits if d[3] == yr} | {p.declining})
            grade = int(rng.integers(4, 9))
            subj = (S_MATH, S_RUS)[k % 2]
            p.deficits.append((s, grade, subj, yr))
    return p


def plan_teachers(rng, plants: Plants, p: Plan, rows: list, pool, n_schools: int) -> None:
    """Choose marking-biased and value-added-extreme teachers among first-year teachers.

    Parameters
    ----------
    rows : list of (teacher, class, subject, hours) of the first year
    """
    grades = {}
    for t, c, s, _ in rows:
        grades.setdefault((t, s), []).append(c)
    k = max(1, n_schools // 8)
    avoid_school_subj = set()
    if p.declining is not None:
        avoid_school_subj.add((p.declining, p.declining_subject))
    if p.effective:
        avoid_school_subj.add((p.effective[0], p.effective[2]))
    if p.placebo:
        avoid_school_subj.add((p.placebo[0], p.placebo[2]))
    cand = sorted({(t, s) for (t, s), cs in grades.items()
                   if s in (S_MATH, S_RUS) and pool.group[t] in (1, 2) and len(cs) >= 2
                   and (pool.school[t], s) not in avoid_school_subj})
    used_t: set[int] = set()

    def take(m: int, subject_cycle) -> list:
        out = []
        for j in range(m):
            want = subject_cycle[j % len(subject_cycle)]
            opts = [c for c in cand if c[0] not in used_t and c[1] == want] or \
                   [c for c in cand if c[0] not in used_t]
            if not opts:
                break
            ch = opts[int(rng.integers(len(opts)))]
            used_t.add(ch[0])
            pool.protected[ch[0]] = True
            out.append(ch)
        return out

    if plants.marking_bias:
        p.inflated = take(k, (S_MATH, S_RUS))
        p.deflated = take(k, (S_RUS, S_MATH))
    if plants.value_added:
        p.low_va = take(k, (S_MATH, S_RUS))
        p.high_va = take(k, (S_RUS, S_MATH))
