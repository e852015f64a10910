"""Sittings of external works: ВПР (grades 4-8), ОГЭ/ГВЭ (9), ЕГЭ (11), per-task scores.

A student's form on the day is ``theta + N(0, sd_day)``; task scores follow the
work's item model (:mod:`.specs`). Two planted effects live here:

* **task deficit** -- in one class, every point of the chosen tasks is lost with
  probability ``q = size / expected share``, so the class's success on the tasks
  falls by about ``size`` (the realised drop is recorded);
* **threshold peak** -- in one school (of the candidates, the one with most scores near
  the threshold) and year, ОГЭ mathematics scores one to four
  points below the mark-3 threshold are raised onto it with probability ``size``
  (points added to tasks with headroom, so task scores still sum to the primary score).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .params import SUBJECTS, ModelParams, cal_date
from .specs import (
    EGE,
    OGE_ELECTIVE_P,
    OGE_ELECTIVES,
    Work,
    ege_test_score,
    make_work,
    vpr_works,
)

KINDS = ("VPR", "OGE", "GVE", "EGE")
SUBJ_INDEX = {s: i for i, s in enumerate(SUBJECTS)}


def weekday(d: np.datetime64) -> np.datetime64:
    """Move a Saturday/Sunday date to the next Monday."""
    wd = (int(d.astype("datetime64[D]").astype(np.int64)) + 3) % 7
    return d + (7 - wd if wd >= 5 else 0)


@dataclass
class Sittings:
    """Accumulated rows of assessments and assessment_items (all years)."""

    a: dict = field(default_factory=lambda: {k: [] for k in (
        "stu", "cls", "kind", "subj", "date", "primary", "mark", "test", "variant", "journal")})
    i: dict = field(default_factory=lambda: {k: [] for k in ("stu", "kind", "subj", "year", "task", "score")})
    works: dict = field(default_factory=dict)  # (kind, subj, grade, year) -> Work
    task_labels: dict = field(default_factory=dict)  # label -> code

    def label_codes(self, tasks) -> np.ndarray:
        return np.array([self.task_labels.setdefault(t, len(self.task_labels)) for t in tasks])

    def add(self, stu, cls, kind: int, subj: int, date, primary, mark, test=None, variant=None,
            journal=None):
        n = len(stu)
        a = self.a
        a["stu"].append(stu)
        a["cls"].append(cls)
        a["kind"].append(np.full(n, kind))
        a["subj"].append(np.full(n, subj))
        a["date"].append(np.broadcast_to(np.asarray(date, "datetime64[D]"), (n,)).copy())
        a["primary"].append(np.asarray(primary, float))
        a["mark"].append(np.full(n, -1) if mark is None else np.asarray(mark))
        a["test"].append(np.full(n, np.nan) if test is None else np.asarray(test, float))
        a["variant"].append(np.zeros(n, int) if variant is None else variant)
        a["journal"].append(np.full(n, -1) if journal is None else journal)

    def add_items(self, stu, kind: int, subj: int, year: int, work: Work, scores: np.ndarray):
        n, k = scores.shape
        self.i["stu"].append(np.repeat(stu, k))
        self.i["kind"].append(np.full(n * k, kind))
        self.i["subj"].append(np.full(n * k, subj))
        self.i["year"].append(np.full(n * k, year))
        self.i["task"].append(np.tile(self.label_codes(work.tasks), n))
        self.i["score"].append(scores.ravel())


def _work(P: ModelParams, kind, subject, grade, year) -> Work:
    return make_work(kind, subject, grade, year, P.sd_day, P.region_shift)


def sit_year(rng, P: ModelParams, S: Sittings, roster, theta: np.ndarray, q3: np.ndarray,
             special: np.ndarray, school_ids, year: int, deficits: list, peak: tuple | None, deficit_size: float,
             peak_size: float, truth: dict) -> None:
    """All external works of one year.

    Parameters
    ----------
    q3, special : ndarray
        Third-quarter mark (student x subject, NaN if none) and ОВЗ flag per roster row;
        ОВЗ ninth graders sit the ГВЭ instead of the ОГЭ.
    deficits : list of (school, grade, subject)
        Where to plant a task deficit this year (the largest class of that school and grade).
    peak : tuple of schools, or None
        Candidate schools for the ОГЭ mathematics pile-up at the mark-3 threshold this year;
        the one with most scores 1-4 points below the threshold gets it.
    truth : dict
        Receives ``task_deficits`` and ``threshold_peak`` records.
    """
    cls, school, grade, stu = roster.cls2, roster.school, roster.grade, roster.stu
    n = len(roster)
    # --- ВПР ------------------------------------------------------------------
    for g in range(4, 9):
        for subject in vpr_works(g):
            s = SUBJ_INDEX[subject]
            w = _work(P, "VPR", subject, g, year)
            S.works[("VPR", s, g, year)] = w
            rows = np.flatnonzero((grade == g) & (rng.random(n) < P.participation_vpr))
            if len(rows) == 0:
                continue
            form = theta[rows, s] + rng.normal(0, P.sd_day, len(rows))
            sc = w.scores(rng, form)
            for d_school, d_grade, d_subj in deficits:
                if d_grade != g or d_subj != s:
                    continue
                in_s = school[rows] == d_school
                if not in_s.any():
                    continue
                classes, counts = np.unique(cls[rows][in_s], return_counts=True)
                target = int(classes[np.argmax(counts)])
                tasks = _deficit_tasks(w)
                m = cls[rows] == target
                before = sc[np.ix_(m, tasks)].copy()
                exp_share = np.clip(before.sum(0) / (m.sum() * w.max_score[tasks]), 1e-3, 1)
                q = np.clip(deficit_size / exp_share, 0, 0.95)
                keep = rng.binomial(before.astype(int), 1 - q[None, :])
                sc[np.ix_(m, tasks)] = keep
                drop = 100 * (before.sum() - keep.sum()) / (m.sum() * w.max_score[tasks].sum())
                truth.setdefault("task_deficits", []).append({
                    "class_index": target, "school_index": int(d_school), "kind": "VPR",
                    "subject": subject, "grade": g, "year": year,
                    "tasks": [w.tasks[t] for t in tasks], "skill": w.skill[tasks[0]],
                    "delta_pct": round(float(drop), 1), "planted_size_pct": round(100 * deficit_size, 1)})
            primary = sc.sum(1)
            # one date per school, grade and subject in April-May
            day = rng.integers(0, 40, len(school_ids))
            date = np.array([weekday(cal_date(year, 4, 7) + int(x)) for x in day])[school[rows]]
            jm = q3[rows, s]
            S.add(stu[rows], cls[rows], 0, s, date, primary, w.mark(primary),
                  variant=rng.integers(1, 3, len(rows)), journal=np.where(np.isnan(jm), -1, jm).astype(int))
            S.add_items(stu[rows], 0, s, year, w, sc)
    # --- ОГЭ / ГВЭ (grade 9) ----------------------------------------------------
    g9 = np.flatnonzero((grade == 9) & (rng.random(n) < 0.98))
    gve = special[g9]
    dates = {"Русский язык": (6, 3), "Математика": (6, 10), "Обществознание": (5, 22),
             "Информатика": (5, 22), "География": (5, 27), "Биология": (5, 27)}
    for kind_code, kind, rows in ((1, "OGE", g9[~gve]), (2, "GVE", g9[gve])):
        if len(rows) == 0:
            continue
        subjects = ["Математика", "Русский язык"]
        chosen = {sub: rows for sub in subjects}
        if kind == "OGE":
            # two electives per student, weighted by popularity and the student's ability
            el = [SUBJ_INDEX[e] for e in OGE_ELECTIVES]
            wts = OGE_ELECTIVE_P[None, :] * np.exp(0.5 * theta[np.ix_(rows, el)])
            key = np.log(rng.random(wts.shape)) / wts  # weighted sampling without replacement
            top2 = np.argsort(-key, 1)[:, :2]
            for j, e in enumerate(OGE_ELECTIVES):
                chosen[e] = rows[(top2 == j).any(1)]
        for sub, r in chosen.items():
            if len(r) == 0:
                continue
            s = SUBJ_INDEX[sub]
            w = _work(P, kind, sub, 9, year)
            S.works[(kind, s, 9, year)] = w
            sc = w.scores(rng, theta[r, s] + rng.normal(0, P.sd_day, len(r)))
            primary = sc.sum(1)
            if kind == "OGE" and sub == "Математика" and peak is not None:
                thr = w.thresholds[0]
                near = (primary >= thr - 4) & (primary < thr)
                counts = np.bincount(school[r][near], minlength=len(school_ids)).astype(float)
                allowed = np.zeros(len(school_ids), bool)
                allowed[list(peak)] = True
                where = int(np.argmax(np.where(allowed, counts, -1)))  # most scores near the threshold
                cand = (school[r] == where) & near
                move = cand & (rng.random(len(r)) < peak_size)
                need = np.where(move, thr - primary, 0)
                for t in range(sc.shape[1]):
                    add = np.minimum(need, w.max_score[t] - sc[:, t])
                    sc[:, t] += add
                    need -= add
                primary = sc.sum(1)
                truth["threshold_peak"] = {"school_index": where, "kind": "OGE", "subject": sub,
                                           "year": year, "threshold_mark": 3, "threshold_score": int(thr),
                                           "n_moved": int(move.sum()), "n_candidates": int(cand.sum())}
            date = weekday(cal_date(year, *dates[sub]))
            S.add(stu[r], cls[r], kind_code, s, date, primary, w.mark(primary),
                  variant=rng.integers(1, 40, len(r)))
            if w.with_items:
                S.add_items(stu[r], kind_code, s, year, w, sc)
    # --- ЕГЭ (grade 11) ----------------------------------------------------------
    g11 = np.flatnonzero(grade == 11)
    ege_dates = {"Русский язык": (5, 30), "Математика": (6, 2), "Обществознание": (6, 5),
                 "Физика": (6, 5), "Биология": (6, 5), "История": (5, 24), "Литература": (5, 24),
                 "Химия": (5, 24), "География": (5, 24), "Информатика": (6, 10), "Английский язык": (6, 11)}
    for sub, (total, _, _, share) in EGE.items():
        s = SUBJ_INDEX[sub]
        z = np.log(share / (1 - share)) + (0.8 * theta[g11, s] if share < 0.9 else 0.0)
        r = g11[rng.random(len(g11)) < 1 / (1 + np.exp(-z))]
        if len(r) == 0:
            continue
        w = _work(P, "EGE", sub, 11, year)
        sc = w.scores(rng, theta[r, s] + rng.normal(0, P.sd_day, len(r)))
        primary = sc.sum(1)
        S.add(stu[r], cls[r], 3, s, weekday(cal_date(year, *ege_dates[sub])), primary, None,
              test=ege_test_score(primary, total), variant=rng.integers(100, 999, len(r)))


def _deficit_tasks(w: Work) -> list[int]:
    """Tasks of a planted deficit: the easiest group of sub-tasks sharing one skill (e.g. 5.1, 5.2)."""
    heads = [t.split(".")[0] for t in w.tasks]
    groups = [[i for i, x in enumerate(heads) if x == h] for h in dict.fromkeys(heads)]
    groups = [g for g in groups if len(g) >= 2 and "." in w.tasks[g[0]]] or [[len(w.tasks) // 2]]
    return max(groups, key=lambda g: float(np.mean(w.russia_pct[g])))


__all__ = ["KINDS", "Sittings", "sit_year"]
