"""Functional-literacy diagnostic works (issue 18): an ``RDR`` per year in grades 5-9, tasks tagged by domain.

Own random stream (``default_rng([seed, STREAM])``): generating these rows changes no other table.
A student's ability in a literacy domain is ``W_GENERAL * mean(theta over subjects) + W_OWN * N(0, 1)``
(general ability, not one subject's: a planted teacher effect in a subject does not leak into one
domain); a task is solved with the item model
``P(point) = logistic(1.7 * (ability + day - b))`` of :mod:`.specs`, scores Binomial(max, P).
Every domain has the same three tasks (difficulties ``B``, max scores ``MAX``), so no domain is
harder than another by construction: under no plant, a school's gap to the region is the same in
every domain in expectation, whatever the school's level.

``region_pct`` of a task is its expected solve rate in the region: the item model integrated
(Gauss-Hermite) over abilities ``N(region_shift, 1)`` and the day's form. The level of a student is
derived from the percent of the maximum primary score with :data:`LEVEL_CUTS` (the same cut points
the analysis uses when ``assessments.level`` is missing).

Planted (``Plants.literacy_deficit``): in the last year, in one grade of one school, the ability
of every student in one domain is lowered by ``size`` (latent sd); the realised drop of the
grade's solve rate on the domain's tasks is recorded in the truth (``literacy_deficits``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..contract.spec import LITERACY_LEVEL_CUTS as LEVEL_CUTS
from .assessments import weekday
from .params import cal_date

STREAM = 18  # default_rng([seed, STREAM])
KIND = "RDR"
SUBJECT = "Функциональная грамотность"
GRADES = range(5, 10)
PARTICIPATION = 0.92
W_GENERAL, W_OWN = 0.9, 0.55
SD_DAY = 0.30
#: domain -> Russian label of the tasks' skill
DOMAINS: dict[str, str] = {
    "reading": "Читательская грамотность", "math": "Математическая грамотность",
    "science": "Естественнонаучная грамотность", "financial": "Финансовая грамотность",
    "global": "Глобальные компетенции", "creative": "Креативное мышление",
}
B = np.array([-0.6, 0.0, 0.6])  # task difficulties inside every domain
MAX = np.array([1, 1, 2])  # task max scores inside every domain
TASK_SKILLS = ("находить и извлекать информацию", "интерпретировать и обобщать", "оценивать и применять")
LEVELS = ("low", "reduced", "basic", "advanced", "high")
PLANT_SCHOOL, PLANT_GRADE, PLANT_DOMAIN = 1, 7, "reading"  # S02, grade 7, reading literacy


def level_of(pct: np.ndarray) -> np.ndarray:
    """Level code index (0 low .. 4 high) from the percent of the maximum primary score."""
    return np.searchsorted(np.array(LEVEL_CUTS), np.asarray(pct, float), side="right")


def region_pct(shift: float) -> np.ndarray:
    """Expected percent of each of the three tasks' points in the region (ability ~ N(shift, 1) + day form)."""
    x, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    ability = shift + np.sqrt(1 + SD_DAY ** 2) * x
    p = 1 / (1 + np.exp(-1.7 * (ability[:, None] - B[None, :])))
    return 100 * (w[:, None] * p).sum(0)


def _scores(ability: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Task scores (rows x 3) from abilities and uniform draws ``u`` (rows x 3 x max points)."""
    p = 1 / (1 + np.exp(-1.7 * (ability[:, None] - B[None, :])))
    return ((u < p[:, :, None]) & (np.arange(MAX.max())[None, None, :] < MAX[None, :, None])).sum(2)


class Literacy:
    """Collects the literacy works year by year (call :meth:`year` in the loop, :meth:`tables` at the end)."""

    def __init__(self, seed: int, plant_size: float, region_shift: float, n_schools: int, last_year: int):
        self.rng = np.random.default_rng([seed, STREAM])
        self.size, self.shift, self.last_year = float(plant_size), float(region_shift), int(last_year)
        self.plant = (PLANT_SCHOOL, PLANT_GRADE, PLANT_DOMAIN) if plant_size > 0 and n_schools > PLANT_SCHOOL \
            else None
        self.rows: list[dict] = []
        self.items: list[pd.DataFrame] = []
        self.years: list[int] = []
        self.truth: list[dict] = []

    def year(self, roster, theta: np.ndarray, y: int) -> None:
        rng = self.rng
        n = len(roster)
        rows = np.flatnonzero(np.isin(roster.grade, list(GRADES)) & (rng.random(n) < PARTICIPATION))
        self.years.append(y)
        if len(rows) == 0:
            return
        day = rng.normal(0, SD_DAY, len(rows))
        scores, lost = [], None
        general = theta[rows].mean(1)
        for d in DOMAINS:
            ability = W_GENERAL * general + W_OWN * rng.normal(0, 1, len(rows)) + day
            u = rng.random((len(rows), len(B), int(MAX.max())))
            base = _scores(ability, u)
            if self.plant and y == self.last_year and d == self.plant[2]:
                m = (roster.school[rows] == self.plant[0]) & (roster.grade[rows] == self.plant[1])
                if m.any():
                    low = _scores(ability - self.size, u)  # the same draws: the drop is the plant's alone
                    lost = (int(base[m].sum() - low[m].sum()), int(m.sum()), m)
                    base = np.where(m[:, None], low, base)
            scores.append(base)
        sc = np.concatenate(scores, axis=1)  # rows x (6 domains * 3 tasks), domain-major
        primary = sc.sum(1)
        pct = 100 * primary / (MAX.sum() * len(DOMAINS))
        # one date per school in March (weekdays)
        day = rng.integers(0, 10, int(roster.school.max()) + 1)
        date = np.array([weekday(cal_date(y, 3, 10) + int(x)) for x in day])[roster.school[rows]]
        self.rows.append({"stu": roster.stu[rows], "cls": roster.cls2[rows], "date": date, "primary": primary,
                          "level": level_of(pct), "variant": rng.integers(1, 3, len(rows))})
        tasks = [str(i + 1) for i in range(sc.shape[1])]
        self.items.append(pd.DataFrame({"stu": np.repeat(roster.stu[rows], sc.shape[1]),
                                        "year": y, "task": np.tile(tasks, len(rows)), "score": sc.ravel()}))
        if lost is not None:
            k, n_st, m = lost
            self.truth.append({"school_index": self.plant[0], "grade": self.plant[1], "year": y,
                               "domain": self.plant[2], "classes": sorted({int(c) for c in roster.cls2[rows][m]}),
                               "n_students": n_st, "size_latent": self.size,
                               "delta_pct": round(-100 * k / (n_st * MAX.sum()), 1)})

    def tables(self, ids: dict, grade_of_class: np.ndarray) -> dict[str, pd.DataFrame]:
        """Rows to append to assessments, assessment_items and assessment_specs (contract columns)."""
        out = {}
        if not self.rows:
            return out
        a = {k: np.concatenate([r[k] for r in self.rows]) for k in self.rows[0]}
        out["assessments"] = pd.DataFrame({
            "student_id": ids["student"][a["stu"]], "class_id": ids["class"][a["cls"]], "kind": KIND,
            "subject": SUBJECT, "date": a["date"].astype("datetime64[D]"), "primary_score": a["primary"].astype(float),
            "mark": np.nan, "test_score": np.nan, "variant": a["variant"].astype(str), "journal_mark": np.nan,
            "level": np.array(LEVELS, dtype=object)[a["level"]]})
        it = pd.concat(self.items, ignore_index=True)
        out["assessment_items"] = pd.DataFrame({
            "student_id": ids["student"][it["stu"].to_numpy()], "kind": KIND, "subject": SUBJECT,
            "year": it["year"].astype(int), "task": it["task"], "score": it["score"].astype(float)})
        reg = region_pct(self.shift)
        grades = sorted({int(g) for g in grade_of_class[a["cls"]]})
        specs = []
        for y in self.years:
            for g in grades:
                for j, (d, label) in enumerate(DOMAINS.items()):
                    for k in range(len(B)):
                        specs.append((KIND, SUBJECT, g, y, str(3 * j + k + 1), float(MAX[k]),
                                      f"{label}: {TASK_SKILLS[k]}", round(float(reg[k]), 1), None, d))
        out["assessment_specs"] = pd.DataFrame(specs, columns=[
            "kind", "subject", "grade", "year", "task", "max_score", "skill", "region_pct", "russia_pct",
            "literacy_domain"])
        return out

    def truth_entries(self, ids: dict) -> list[dict]:
        return [{"school_id": ids["school"][t["school_index"]], "grade": t["grade"], "year": t["year"],
                 "domain": t["domain"], "kind": KIND, "subject": SUBJECT,
                 "class_ids": [ids["class"][c] for c in t["classes"]], "n_students": t["n_students"],
                 "size_latent": t["size_latent"], "delta_pct": t["delta_pct"]} for t in self.truth]


def append(tables: dict, lit: Literacy, ids: dict, grade_of_class: np.ndarray) -> None:
    """Append the literacy rows to the assessment tables; the new optional columns stay empty elsewhere."""
    tables["assessments"]["level"] = None
    tables["assessment_specs"]["literacy_domain"] = None
    for name, df in lit.tables(ids, grade_of_class).items():
        base = tables[name]
        for c in base.columns:
            if isinstance(base[c].dtype, pd.CategoricalDtype):
                base[c] = base[c].astype(object)
        tables[name] = pd.concat([base, df[list(base.columns)]], ignore_index=True)
