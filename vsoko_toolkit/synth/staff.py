"""Teachers and who teaches what.

Each school has a pool of teachers per specialty group (primary class teachers,
Russian and literature, mathematics, ...), sized from the weekly hours of its
classes. A class keeps its subject teacher from one year to the next with
probability ``keep_teacher``; a primary class keeps its teacher from grade 1 to 4.
Teachers leave (``teacher_turnover`` a year) and are replaced by new hires, who
take over the leaver's classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .names import full_names
from .params import HOURS, N_SUBJ, TAUGHT, ModelParams, group_of

CATEGORIES = ("highest", "first", "conformity", "none")
PD_HOURS = np.array([0, 16, 36, 72, 108, 144, 216])
PD_P = np.array([0.12, 0.10, 0.30, 0.28, 0.10, 0.06, 0.04])


@dataclass
class TeacherPool:
    """All teachers ever employed (lists indexed by teacher)."""

    school: list = field(default_factory=list)
    group: list = field(default_factory=list)
    hired: list = field(default_factory=list)  # year of hire (first simulated year for incumbents)
    left: list = field(default_factory=list)  # last year taught (None = still there)
    exp0: list = field(default_factory=list)  # experience at hire year
    age0: list = field(default_factory=list)
    protected: list = field(default_factory=list)  # planted teachers do not leave
    tau: list = field(default_factory=list)  # value added per subject (yearly latent gain)
    lenient: list = field(default_factory=list)  # marking offset per subject
    replaced_by: dict = field(default_factory=dict)
    by_group: dict = field(default_factory=dict)  # (school, group) -> teachers ever hired

    @property
    def n(self) -> int:
        return len(self.school)

    def hire(self, rng: np.random.Generator, school: int, group: int, year: int, new: bool,
             sd_tau: float, sd_len: float) -> int:
        if new:
            age = int(rng.integers(22, 31))
            exp = int(rng.integers(0, min(4, age - 21)))
        else:
            age = int(rng.integers(24, 66))
            exp = int(max(0, age - 22 - rng.integers(0, 6)))
        self.school.append(school)
        self.group.append(group)
        self.hired.append(year)
        self.left.append(None)
        self.exp0.append(exp)
        self.age0.append(age)
        self.protected.append(False)
        self.tau.append(rng.normal(0, sd_tau, N_SUBJ) if sd_tau > 0 else np.zeros(N_SUBJ))
        self.lenient.append(rng.normal(0, sd_len, N_SUBJ) if sd_len > 0 else np.zeros(N_SUBJ))
        self.by_group.setdefault((school, group), []).append(self.n - 1)
        return self.n - 1

    def active(self, t: int) -> bool:
        return self.left[t] is None

    def resolve(self, t: int) -> int:
        """Follow replacements of a teacher who left."""
        while t in self.replaced_by:
            t = self.replaced_by[t]
        return t


def class_groups(grade: int) -> dict[int, list[int]]:
    """Teacher groups needed by a grade and the subjects each group teaches there."""
    out: dict[int, list[int]] = {}
    for s in np.flatnonzero(TAUGHT[grade]):
        out.setdefault(group_of(grade, int(s)), []).append(int(s))
    return out


def group_hours(grade: int, subjects: list[int]) -> float:
    return float(HOURS[subjects, grade - 1].sum())


class Staffing:
    """Year-by-year assignment of teachers to classes."""

    def __init__(self, rng: np.random.Generator, P: ModelParams, n_schools: int,
                 sd_tau: float, sd_len: float):
        self.rng, self.P = rng, P
        self.pool = TeacherPool()
        self.sd_tau, self.sd_len = sd_tau, sd_len
        self.n_schools = n_schools
        self.last: dict[tuple[int, int], int] = {}  # (lineage, group) -> teacher
        self.homeroom_of: dict[int, int] = {}  # lineage -> teacher
        self.rows: list[tuple[int, int, int, float]] = []  # teacher, class, subject, hours

    # -- pools --------------------------------------------------------------
    def _needed(self, classes: np.ndarray, c_school, c_grade) -> dict[tuple[int, int], int]:
        hours: dict[tuple[int, int], float] = {}
        for c in classes:
            s, g = int(c_school[c]), int(c_grade[c])
            for grp, subj in class_groups(g).items():
                key = (s, grp)
                hours[key] = hours.get(key, 0.0) + (1.0 if grp == 0 else group_hours(g, subj))
        return {k: (int(v) if k[1] == 0 else max(1, int(round(v / self.P.teacher_load))))
                for k, v in hours.items()}

    def members(self, s: int, grp: int) -> list[int]:
        p = self.pool
        return [t for t in p.by_group.get((s, grp), ()) if p.left[t] is None]

    def start(self, classes, c_school, c_grade, year: int) -> None:
        """Hire the incumbent staff of the first year."""
        for (s, grp), k in sorted(self._needed(classes, c_school, c_grade).items()):
            for _ in range(k):
                self.pool.hire(self.rng, s, grp, year, False, self.sd_tau, self.sd_len)

    def turnover(self, year: int) -> None:
        p = self.pool
        for t in range(p.n):
            if p.left[t] is None and not p.protected[t] and self.rng.random() < self.P.teacher_turnover:
                self.replace(t, year)

    def replace(self, t: int, year: int, tau: dict[int, float] | None = None) -> int:
        """Teacher ``t`` leaves before ``year``; a new hire takes over their classes."""
        p = self.pool
        p.left[t] = year - 1
        new = p.hire(self.rng, p.school[t], p.group[t], year, True, self.sd_tau, self.sd_len)
        p.replaced_by[t] = new
        for subj, eff in (tau or {}).items():
            p.tau[new][subj] = eff
        return new

    # -- assignment ---------------------------------------------------------
    def assign(self, year: int, classes: np.ndarray, c_school, c_grade, c_lineage) -> np.ndarray:
        """Assign teachers to the classes of ``year``; return T[class, subject] (-1 = none)."""
        p, rng = self.pool, self.rng
        needed = self._needed(classes, c_school, c_grade)
        for (s, grp), k in sorted(needed.items()):
            have = len(self.members(s, grp))
            n_hire = max(0, k - have) if (grp == 0 or have == 0) else max(0, k - have - 1)
            for _ in range(n_hire):
                p.hire(rng, s, grp, year, True, self.sd_tau, self.sd_len)
        T = np.full((int(classes.max()) + 1, N_SUBJ), -1)
        load: dict[int, float] = {}
        busy_primary: set[int] = set()
        members = {key: self.members(*key) for key in needed}
        for c in classes:
            s, g, lin = int(c_school[c]), int(c_grade[c]), int(c_lineage[c])
            for grp, subj in class_groups(g).items():
                prev = self.last.get((lin, grp))
                t = p.resolve(prev) if prev is not None else None
                keep = self.P.keep_teacher if grp else 0.97
                ok = t is not None and p.active(t) and p.school[t] == s and rng.random() < keep
                if grp == 0 and ok and t in busy_primary:
                    ok = False
                if not ok:
                    cands = members[(s, grp)]
                    if grp == 0:
                        cands = [x for x in cands if x not in busy_primary]
                        if not cands:
                            cands = [p.hire(rng, s, 0, year, True, self.sd_tau, self.sd_len)]
                            members[(s, 0)].append(cands[0])
                    loads = np.array([load.get(x, 0.0) for x in cands])
                    t = cands[int(np.argmin(loads + rng.random(len(cands)) * 0.5))]
                if grp == 0:
                    busy_primary.add(t)
                self.last[(lin, grp)] = t
                for sj in subj:
                    h = float(HOURS[sj, g - 1])
                    T[c, sj] = t
                    self.rows.append((t, int(c), sj, h))
                    load[t] = load.get(t, 0.0) + h
        return T

    def homerooms(self, classes, c_school, c_grade, c_lineage, T) -> dict[int, int]:
        """Homeroom teacher per class: the primary teacher in 1-4, else a subject teacher."""
        out: dict[int, int] = {}
        used: set[int] = set()
        p = self.pool
        for c in classes:
            g, lin = int(c_grade[c]), int(c_lineage[c])
            if g <= 4:
                t = int(T[c, 0])
            else:
                t = self.homeroom_of.get(lin, -1)
                t = p.resolve(t) if t >= 0 else -1
                if t < 0 or t in used or not p.active(t) or p.school[t] != int(c_school[c]):
                    cands = [int(x) for x in np.unique(T[c][T[c] >= 0]) if int(x) not in used]
                    t = cands[int(self.rng.integers(len(cands)))] if cands else -1
            if t >= 0:
                used.add(t)
            self.homeroom_of[lin] = t
            out[int(c)] = t
        return out

    def subjects_taught(self) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {}
        for t, _, s, _ in self.rows:
            out.setdefault(t, set()).add(s)
        return out


def teacher_table(rng: np.random.Generator, pool: TeacherPool, school_ids, last_year: int) -> dict:
    """Columns of teachers.csv (experience and age as of the teacher's last year in the data)."""
    n = pool.n
    last = np.array([last_year if x is None else x for x in pool.left])
    yrs = last - np.array(pool.hired)
    exp = np.array(pool.exp0) + yrs
    age = np.array(pool.age0) + yrs
    female = rng.random(n) < 0.85
    p_high = np.clip(0.02 + 0.018 * exp, 0, 0.55)
    p_first = np.where(exp >= 2, 0.35, 0.0)
    p_conf = np.where(exp >= 2, 0.15, 0.05)
    u = rng.random(n)
    cat = np.where(u < p_high, 0, np.where(u < p_high + p_first, 1, np.where(u < p_high + p_first + p_conf, 2, 3)))
    width = 4 if n < 10000 else 6
    return {
        "teacher_id": np.array([f"T{i + 1:0{width}d}" for i in range(n)], dtype=object),
        "school_id": np.asarray(school_ids)[np.array(pool.school)],
        "full_name": full_names(rng, female),
        "category": np.array(CATEGORIES, dtype=object)[cat],
        "experience_years": exp.astype(int),
        "higher_pedagogical": rng.random(n) < 0.85,
        "age": age.astype(int),
        "pd_hours_3y": rng.choice(PD_HOURS, n, p=PD_P).astype(int),
    }


__all__ = ["Staffing", "TeacherPool", "teacher_table"]
