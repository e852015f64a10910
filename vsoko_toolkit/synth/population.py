"""Schools, classes and students that persist across years.

The population is simulated year by year: students are promoted with their
class letter, first graders arrive, eleventh graders graduate, about half of the
ninth graders leave, a few students leave the municipality, move to another
school, arrive from outside or repeat a grade, and a few change class inside
their school in January (a documented transfer: ``date_out``/``date_in``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .names import full_names
from .params import N_SUBJ, ModelParams

LETTERS = "АБВГД"
PROFILES = ("технологический", "социально-экономический", "естественно-научный", "гуманитарный")


@dataclass
class Schools:
    """School-level attributes (arrays indexed by school)."""

    ids: np.ndarray
    names: np.ndarray
    locality: np.ndarray
    social_index: np.ndarray
    parallels: np.ndarray
    mu: np.ndarray  # latent school mean at entry
    municipality: str = "Приреченский муниципальный округ"

    @property
    def n(self) -> int:
        return len(self.ids)


def make_schools(rng: np.random.Generator, n: int, P: ModelParams, resilient_size: float) -> Schools:
    """Draw schools (index = id order).

    School mean latent ``mu = beta_social * social_index + N(0, sd_school)``, centred to mean 0.
    With ``resilient_size > 0`` the school with the lowest social index gets
    ``mu = max(mu + size, best other school + size / 2)``: high results despite low index.
    """
    si = np.round(rng.normal(0.0, 1.0, n), 3)
    parallels = rng.choice([1, 2, 3], size=n, p=P.parallels_p)
    # bigger, urban schools have better social conditions on average
    urban = si + 0.5 * (parallels - 2) + rng.normal(0, 0.6, n)
    locality = np.where(urban > 0.2, "city", np.where(urban > -0.8, "town", "village")).astype(object)
    parallels = np.where(locality == "village", np.minimum(parallels, 2), parallels)
    mu = P.beta_social * si + rng.normal(0, P.sd_school, n)
    if resilient_size > 0:
        # the lowest social index, yet results above every other school
        r = int(np.argmin(si))
        mu[r] = max(mu[r] + resilient_size, np.delete(mu, r).max() + 0.5 * resilient_size)
    mu -= mu.mean()  # the municipality as a whole sits at the national norm
    width = 2 if n < 100 else 3
    ids = np.array([f"S{i + 1:0{width}d}" for i in range(n)], dtype=object)
    names = []
    villages = iter(("Заречная", "Берёзовская", "Сосновская", "Луговская", "Ключевская", "Озёрная",
                     "Каменская", "Никольская", "Подгорная", "Светлая"))
    for i in range(n):
        num = i + 1
        if locality[i] == "village":
            names.append(f"МКОУ «{next(villages, 'Сельская')} СОШ»")
        elif parallels[i] == 3 and si[i] > 0.5:
            names.append(f"МАОУ «Гимназия № {num}»" if num % 2 else f"МАОУ «Лицей № {num}»")
        else:
            names.append(f"МБОУ СОШ № {num}")
    return Schools(ids, np.array(names, dtype=object), locality, si, parallels, mu)


@dataclass
class StudentPool:
    """Every student ever created (arrays grow as students arrive)."""

    female: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    birth: np.ndarray = field(default_factory=lambda: np.zeros(0, "datetime64[D]"))
    special: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    name: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    b: np.ndarray = field(default_factory=lambda: np.zeros((0, N_SUBJ)))  # stable latent part
    eta: np.ndarray = field(default_factory=lambda: np.zeros((0, N_SUBJ)))  # AR(1) part
    A: np.ndarray = field(default_factory=lambda: np.zeros((0, N_SUBJ)))  # accumulated value added
    absent: np.ndarray = field(default_factory=lambda: np.zeros(0))  # absence trait

    @property
    def n(self) -> int:
        return len(self.female)

    def add(self, rng: np.random.Generator, grade: np.ndarray, year: int, base: np.ndarray,
            P: ModelParams, selected: np.ndarray | None = None) -> np.ndarray:
        """Create students of ``grade`` in ``year`` with latent base ``base``; return their indices.

        ``selected`` marks students who must look like those who stayed on after grade 9
        (the first simulated year's grades 10-11): their general ability is drawn by
        rejection with the same staying probability as in :func:`next_roster`.
        """
        n = len(grade)
        start = self.n
        female = rng.random(n) < 0.49
        # age: a first grader of academic year y was born Sep (y-8) .. Aug (y-7)
        first = np.array([f"{year - 8:04d}-09-01"], "datetime64[D]")[0]
        birth = first - 365 * (np.asarray(grade) - 1) + rng.integers(0, 365, n)
        self.female = np.concatenate([self.female, female])
        self.birth = np.concatenate([self.birth, birth.astype("datetime64[D]")])
        self.special = np.concatenate([self.special, rng.random(n) < P.special_needs_rate])
        self.name = np.concatenate([self.name, full_names(rng, female)])
        general = rng.normal(0, P.sd_student, n)
        if selected is not None:
            todo = np.flatnonzero(selected)
            logit0 = np.log(P.stay_after_9 / (1 - P.stay_after_9))
            for _ in range(30):
                p = 1 / (1 + np.exp(-(logit0 + 1.2 * (base[todo] + general[todo]))))
                todo = todo[rng.random(len(todo)) >= p]
                if len(todo) == 0:
                    break
                general[todo] = rng.normal(0, P.sd_student, len(todo))
        general = general[:, None]
        subj = rng.normal(0, P.sd_subject, (n, N_SUBJ))
        self.b = np.vstack([self.b, base[:, None] + general + subj])
        self.eta = np.vstack([self.eta, rng.normal(0, P.sd_eta, (n, N_SUBJ))])
        self.A = np.vstack([self.A, np.zeros((n, N_SUBJ))])
        self.absent = np.concatenate([self.absent, rng.normal(0, 1, n) - 0.3 * general[:, 0]])
        return np.arange(start, start + n)


@dataclass
class ClassRegistry:
    """All classes of all years (lists, frozen to arrays by :meth:`arrays`)."""

    school: list = field(default_factory=list)
    year: list = field(default_factory=list)
    grade: list = field(default_factory=list)
    letter: list = field(default_factory=list)
    lineage: list = field(default_factory=list)
    profile: list = field(default_factory=list)
    homeroom: list = field(default_factory=list)
    n_lineages: int = 0
    lineage_u: list = field(default_factory=list)  # class effect per lineage
    lineage_profile: dict = field(default_factory=dict)

    def add(self, school: int, year: int, grade: int, letter: int, lineage: int) -> int:
        self.school.append(school)
        self.year.append(year)
        self.grade.append(grade)
        self.letter.append(letter)
        self.lineage.append(lineage)
        self.profile.append(self.lineage_profile.get(lineage, ""))
        self.homeroom.append(-1)
        return len(self.school) - 1

    def new_lineage(self, rng: np.random.Generator, P: ModelParams, profile: str = "") -> int:
        self.lineage_u.append(float(rng.normal(0, P.sd_class)))
        self.n_lineages += 1
        if profile:
            self.lineage_profile[self.n_lineages - 1] = profile
        return self.n_lineages - 1

    def ids(self, school_ids: np.ndarray) -> np.ndarray:
        return np.array([f"{school_ids[s]}-{y}-{g}{LETTERS[ltr]}" for s, y, g, ltr in
                         zip(self.school, self.year, self.grade, self.letter, strict=True)], dtype=object)


@dataclass
class Roster:
    """Students of one year: class in the first and in the second half of the year."""

    year: int
    stu: np.ndarray
    cls1: np.ndarray
    cls2: np.ndarray
    school: np.ndarray
    grade: np.ndarray
    transfer: np.ndarray  # bool: documented mid-year class change

    def __len__(self) -> int:
        return len(self.stu)


def _form(rng, P, reg: ClassRegistry, year: int, school: np.ndarray, grade: np.ndarray,
          letter: np.ndarray, prev_lineage: dict) -> np.ndarray:
    """Put students of ``year`` into classes; return the class index of every student.

    Students without a letter (arrivals, repeaters) go to the smallest class of their
    grade; when every class is full (``class_size[1] + 2``) they get -1 (no place).
    """
    cap = P.class_size[1] + 2
    cls = np.full(len(school), -1)
    order = np.lexsort((grade, school))
    keys = school[order] * 100 + grade[order]
    bounds = np.flatnonzero(np.diff(keys)) + 1
    for grp in np.split(order, bounds):
        if len(grp) == 0:
            continue
        s, g = int(school[grp[0]]), int(grade[grp[0]])
        let = letter[grp].copy()
        if g == 10:
            n_cls = max(1, int(np.ceil(len(grp) / 28)))
            let = rng.permutation(np.arange(len(grp)) % n_cls)
        elif (let >= 0).sum() == 0:
            let[0] = 0
        letters = np.unique(let[let >= 0])
        counts = np.array([(let == x).sum() for x in letters])
        for j in np.flatnonzero(let < 0):  # newcomers, transfers, repeaters: smallest class
            k = int(np.argmin(counts))
            if counts[k] >= cap:
                continue  # no place: the child goes to a school outside the municipality
            let[j] = letters[k]
            counts[k] += 1
        for x in letters:
            lin = prev_lineage.get((s, g - 1, int(x))) if g not in (1, 10) else None
            if lin is None:
                profile = ""
                if g >= 10:
                    profile = "универсальный" if len(letters) == 1 else PROFILES[int(x) % len(PROFILES)]
                lin = reg.new_lineage(rng, P, profile)
            c = reg.add(s, year, g, int(x), lin)
            cls[grp[let == x]] = c
    return cls


def _first_graders(rng, schools: Schools):
    """Grade-1 intake: ``parallels`` classes of 20-28 per school; returns (school, letter)."""
    sch, let = [], []
    for s in range(schools.n):
        for x in range(int(schools.parallels[s])):
            k = int(rng.integers(20, 29))
            sch.append(np.full(k, s))
            let.append(np.full(k, x))
    return np.concatenate(sch), np.concatenate(let)


def _finish(rng, P, reg, pool, schools, year, school, grade, letter, stu, new_mask, prev_lineage,
            initial=False, shift=None):
    """Form classes, create latent bases for new students, add mid-year transfers."""
    cls = _form(rng, P, reg, year, school, grade, letter, prev_lineage)
    placed = cls >= 0
    shift = np.zeros(len(school)) if shift is None else shift
    school, grade, stu, new_mask, cls = school[placed], grade[placed], stu[placed], new_mask[placed], cls[placed]
    shift = shift[placed]
    lin_u = np.asarray(reg.lineage_u)[np.asarray(reg.lineage)[cls]]
    if new_mask.any():
        sel = (grade[new_mask] >= 10) if initial else None
        base = schools.mu[school[new_mask]] + lin_u[new_mask] + shift[new_mask]
        idx = pool.add(rng, grade[new_mask], year, base, P, sel)
        stu = stu.copy()
        stu[new_mask] = idx
    cls2 = cls.copy()
    c_school = np.asarray(reg.school)
    c_grade = np.asarray(reg.grade)
    cand = np.flatnonzero((grade >= 2) & (grade <= 9) & (rng.random(len(cls)) < P.midyear_transfer_rate))
    transfer = np.zeros(len(cls), bool)
    for j in cand:
        others = np.flatnonzero((c_school == school[j]) & (c_grade == grade[j])
                                & (np.asarray(reg.year) == year) & (np.arange(len(c_school)) != cls[j]))
        if len(others):
            cls2[j] = int(rng.choice(others))
            transfer[j] = True
    return Roster(year, stu, cls, cls2, school, grade, transfer)


def initial_roster(rng, P: ModelParams, schools: Schools, reg: ClassRegistry, pool: StudentPool,
                   year: int) -> Roster:
    """The first simulated year: every grade of every school filled with new students."""
    sch, gr, let = [], [], []
    for s in range(schools.n):
        for g in range(1, 12):
            n_cls = int(schools.parallels[s]) if g <= 9 else max(1, int(schools.parallels[s]) - 1)
            lo, hi = P.class_size if g <= 9 else P.senior_class_size
            for x in range(n_cls):
                k = int(rng.integers(lo, hi + 1))
                sch.append(np.full(k, s))
                gr.append(np.full(k, g))
                let.append(np.full(k, x))
    school, grade, letter = np.concatenate(sch), np.concatenate(gr), np.concatenate(let)
    stu = np.full(len(school), -1)
    return _finish(rng, P, reg, pool, schools, year, school, grade, letter, stu,
                   np.ones(len(school), bool), {}, initial=True)


def next_roster(rng, P: ModelParams, schools: Schools, reg: ClassRegistry, pool: StudentPool,
                prev: Roster, theta_mean: np.ndarray, fail_count: np.ndarray,
                intake: tuple[int, float] | None = None) -> tuple[Roster, dict]:
    """Move the population one year on.

    Parameters
    ----------
    theta_mean : ndarray
        Mean latent ability of every student of ``prev`` (drives staying after grade 9).
    fail_count : ndarray of int
        Number of failed year marks of every student of ``prev`` (drives repeating).
    intake : (school, size), optional
        The planted intake shift: in that school the strongest students are replaced by
        weaker newcomers so that the school mean falls by about ``size`` sd this year.

    Returns
    -------
    (Roster, dict)
        The new roster and a log of the moves (counts) for the truth file.
    """
    year = prev.year + 1
    n = len(prev)
    c_letter = np.asarray(reg.letter)
    c_lineage = np.asarray(reg.lineage)
    g, s = prev.grade, prev.school
    r = rng.random(n)
    logit = np.log(P.stay_after_9 / (1 - P.stay_after_9)) + 1.2 * theta_mean
    p_stay = 1 / (1 + np.exp(-logit))
    new_g = g + 1
    new_s = s.copy()
    letter = c_letter[prev.cls2].copy()
    keep = np.ones(n, bool)
    moved = np.zeros(n, bool)
    # grade 9: stay in own school's grade 10, switch school, or leave
    g9 = g == 9
    keep[g9] = r[g9] < p_stay[g9] + P.switch_after_9
    moved[g9] = (r[g9] >= p_stay[g9]) & keep[g9]
    keep[g == 11] = False
    other = ~g9 & (g < 11)
    keep[other] = r[other] >= P.leave_rate
    moved[other] = keep[other] & (r[other] < P.leave_rate + P.transfer_rate)
    repeat = keep & (fail_count >= 2) & (rng.random(n) < P.repeat_rate) & (g < 11)
    new_g[repeat] = g[repeat]
    moved &= ~repeat
    if schools.n > 1 and moved.any():
        shift = rng.integers(1, schools.n, moved.sum())
        new_s[moved] = (s[moved] + shift) % schools.n
    letter[moved | repeat | (new_g == 10)] = -1
    log = {"graduated": int((g == 11).sum()), "left": int((~keep & (g < 11)).sum()),
           "moved_school": int(moved.sum()), "repeated": int(repeat.sum()), "intake_replaced": 0}
    if intake is not None:
        d_school, size = intake
        in_d = keep & (new_s == d_school) & (new_g >= 2)
        share = 0.15
        rank = np.zeros(n)
        rank[in_d] = theta_mean[in_d].argsort().argsort() / max(in_d.sum() - 1, 1)
        out = in_d & (rng.random(n) < 2 * share * rank)
        keep &= ~out
        log["intake_replaced"] = int(out.sum())
    cont = np.flatnonzero(keep)
    stu = prev.stu[cont]
    school, grade, let = new_s[cont], new_g[cont], letter[cont]
    # newcomers from outside the municipality (about newcomers_per_class per class)
    prev_classes = np.unique(prev.cls2[(prev.grade <= 10)])
    c_school, c_grade = np.asarray(reg.school), np.asarray(reg.grade)
    k = rng.poisson(P.newcomers_per_class, len(prev_classes))
    ns = np.repeat(c_school[prev_classes], k)
    ng = np.repeat(c_grade[prev_classes] + 1, k)
    base_shift = np.zeros(len(ns))
    if intake is not None and log["intake_replaced"]:
        d_school, size = intake
        m = log["intake_replaced"]
        out_theta = theta_mean[~keep & (new_s == d_school) & (new_g >= 2) & (g < 11)].mean()
        target = out_theta - size / 0.15 - schools.mu[d_school]
        dg = np.tile(np.arange(2, 12), int(np.ceil(m / 10)))[:m]
        ns = np.concatenate([ns, np.full(m, d_school)])
        ng = np.concatenate([ng, dg])
        base_shift = np.concatenate([base_shift, np.full(m, target)])
    fs, fl = _first_graders(rng, schools)
    school = np.concatenate([school, ns, fs])
    grade = np.concatenate([grade, ng, np.ones(len(fs), int)])
    let = np.concatenate([let, np.full(len(ns), -1), fl])
    stu = np.concatenate([stu, np.full(len(ns) + len(fs), -1)])
    new = stu < 0
    prev_lineage = {(int(reg.school[c]), int(reg.grade[c]), int(reg.letter[c])): int(c_lineage[c])
                    for c in np.unique(prev.cls2)}
    shift = np.concatenate([np.zeros(len(cont)), base_shift, np.zeros(len(fs))])  # intake newcomers weaker
    roster = _finish(rng, P, reg, pool, schools, year, school, grade, let, stu, new, prev_lineage, shift=shift)
    log["newcomers"] = int(len(ns))
    log["first_graders"] = int(len(fs))
    return roster, log
