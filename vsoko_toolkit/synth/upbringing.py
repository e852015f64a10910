"""Upbringing and talent data of the sample municipality (issue 18): activities, offences, olympiad teachers,
and the planted talent concentration.

Everything here is drawn from its own stream ``default_rng([seed, STREAM])`` after the base tables are
assembled, so every other table is byte-identical with or without it. It reads the assembled tables only:

- ``activities``: per enrolled student and year, one row per kind taken up with probability
  ``expit(base[kind] + 0.35 z + culture_k · culture[school])``, ``z`` the student's standardised mean
  year mark centred within the school (the ability proxy: participation is associated with results), ``culture_k`` = 1 when
  ``Plants.upbringing`` is on (school differences), 0 otherwise;
- ``offences``: per school, year and kind a Poisson count with rate (per 100 students)
  ``base[kind] · exp(−0.8 culture_k · culture[school])`` (school level rows, no class_id);
- ``olympiads.teacher_id``: the teacher of the subject in the student's class that year (blank for ~10 %);
- talent concentration (``Plants.talent_concentration``): in one school, every year, a handful of "star"
  students (``max(2, 3 %)`` of its participants, those with the most prize places) take the prize places:
  each prize/winner row of another student of the school becomes ``participant`` with probability ``size``
  and each participant row of a star becomes ``prize`` with probability ``size``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STREAM = 181  # default_rng([seed, STREAM]); 18 is the literacy stream
ACTIVITY_BASE = {"club": -0.7, "additional_education": -0.4, "volunteering": -1.9, "gto": -1.6,
                 "school_event": -0.3, "sport": -1.0, "other": -2.6}
ACTIVITY_NAMES = {"club": ("Робототехника", "Шахматы", "Юный журналист", "Театральная студия"),
                  "additional_education": ("Музыкальная школа", "Художественная школа", "Программирование"),
                  "volunteering": ("Волонтёрский отряд", "Экологический десант"),
                  "gto": ("ГТО",), "school_event": ("День самоуправления", "Научно-практическая конференция"),
                  "sport": ("Футбол", "Волейбол", "Лёгкая атлетика"), "other": ("Движение первых",)}
OFFENCE_BASE = {"offence": 1.6, "pdn_registration": 0.6}  # per 100 students and year
TEACHER_MISSING = 0.10


def _student_year(tables: dict) -> pd.DataFrame:
    """One row per enrolled (student, year): school, class, grade and the standardised mean year mark."""
    cl = tables["classes"][["class_id", "school_id", "year", "grade"]].astype({"class_id": str, "school_id": str})
    en = tables["enrollments"][["student_id", "class_id"]].astype(str).merge(cl, on="class_id")
    en = en.drop_duplicates(["student_id", "year"], keep="first").reset_index(drop=True)
    pm = tables["period_marks"]
    pm = pm[pm.period.astype(str) == "year"]
    v = pd.to_numeric(pm.mark.astype(str), errors="coerce")
    gpa = pd.DataFrame({"student_id": pm.student_id.astype(str), "class_id": pm.class_id.astype(str), "v": v})
    gpa = gpa.dropna().groupby(["student_id", "class_id"]).v.mean().rename("gpa").reset_index()
    en = en.merge(gpa, on=["student_id", "class_id"], how="left")
    g = en["gpa"]
    en["z"] = ((g - g.mean()) / g.std()).fillna(0.0)
    return en


def activities(rng, sy: pd.DataFrame, culture: np.ndarray, school_index: dict, culture_k: float) -> pd.DataFrame:
    cult = culture[sy.school_id.map(school_index).to_numpy()] * culture_k
    # ability within the school: schools differ in participation only through their culture
    z = (sy.z - sy.groupby("school_id").z.transform("mean")).to_numpy()
    grade = sy.grade.to_numpy()
    parts = []
    for kind, base in ACTIVITY_BASE.items():
        lin = base + 0.35 * z + cult + np.where(grade <= 6, 0.4, 0.0) * (kind == "club") \
            + np.where(grade >= 8, 0.6, 0.0) * (kind == "volunteering")
        take = rng.random(len(sy)) < 1 / (1 + np.exp(-lin))
        rows = np.flatnonzero(take)
        names = np.array(ACTIVITY_NAMES[kind], dtype=object)
        level = np.array(["school", "municipal", "regional", "federal"], dtype=object)[
            np.minimum(rng.geometric(0.6, len(rows)) - 1, 3)]
        if kind in ("club", "additional_education"):
            level = np.full(len(rows), None, dtype=object)
        if kind in ("gto", "sport", "school_event"):
            u = rng.random(len(rows)) - 0.1 * z[rows]
            result = np.where(u < 0.2, "winner", np.where(u < 0.5, "prize_winner", "participant")).astype(object)
        else:
            result = np.full(len(rows), None, dtype=object)
        parts.append(pd.DataFrame({"student_id": sy.student_id.to_numpy()[rows], "year": sy.year.to_numpy()[rows],
                                   "kind": kind, "name": names[rng.integers(len(names), size=len(rows))],
                                   "level": level, "result": result}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["year", "student_id", "kind"], kind="stable").reset_index(drop=True)


def offences(rng, sy: pd.DataFrame, culture: np.ndarray, school_index: dict, culture_k: float) -> pd.DataFrame:
    n = sy.groupby(["school_id", "year"]).size()
    rows = []
    for (s, y), k in n.items():
        for kind, base in OFFENCE_BASE.items():
            lam = base * np.exp(-0.8 * culture_k * culture[school_index[s]]) * k / 100
            rows.append({"school_id": s, "year": int(y), "kind": kind, "count": int(rng.poisson(lam)),
                         "class_id": None})
    return pd.DataFrame(rows)


def olympiad_teachers(rng, ol: pd.DataFrame, sy: pd.DataFrame, tables: dict) -> pd.Series:
    a = tables["assignments"][["class_id", "subject", "teacher_id"]].astype(str)
    a = a.drop_duplicates(["class_id", "subject"])
    m = ol[["student_id", "year", "subject"]].astype({"student_id": str, "subject": str}).merge(
        sy[["student_id", "year", "class_id"]], on=["student_id", "year"], how="left").merge(
        a, on=["class_id", "subject"], how="left")
    t = m["teacher_id"].astype(object)
    t[rng.random(len(t)) < TEACHER_MISSING] = None
    return t.where(t.notna(), None).to_numpy()


def top_share(prizes: np.ndarray, top: float = 0.05) -> float:
    """Share of all prize places held by the ``ceil(top · n)`` students with the most (n = participants)."""
    prizes = np.sort(np.asarray(prizes, dtype=float))[::-1]
    total = prizes.sum()
    if total <= 0:
        return float("nan")
    m = max(1, int(np.ceil(top * len(prizes))))
    return float(prizes[:m].sum() / total)


def concentrate(rng, ol: pd.DataFrame, sy: pd.DataFrame, school: str, size: float) -> tuple[pd.DataFrame, dict]:
    """Plant the talent concentration in ``school`` (see the module docstring); return rows and truth notes."""
    st = ol.status.astype(str).to_numpy().copy()
    school_of = sy.set_index(["student_id", "year"]).school_id
    key = pd.MultiIndex.from_arrays([ol.student_id.astype(str), ol.year.astype(int)])
    in_school = (school_of.reindex(key).to_numpy() == school)
    stars_by_year = {}
    for y in sorted(ol.year.unique()):
        m = in_school & (ol.year.to_numpy() == y)
        if not m.any():
            continue
        sub = pd.DataFrame({"student_id": ol.student_id.astype(str).to_numpy()[m], "prize": st[m] != "participant"})
        per = sub.groupby("student_id").agg(prize=("prize", "sum"), rows=("prize", "size"))
        k = max(2, int(round(0.03 * len(per))))
        stars = per.sort_values(["prize", "rows"], ascending=False, kind="stable").index[:k]
        stars_by_year[int(y)] = sorted(stars)
        star = m & ol.student_id.astype(str).isin(stars).to_numpy()
        u = rng.random(len(st))
        st[m & ~star & (st != "participant") & (u < size)] = "participant"
        st[star & (st == "participant") & (u < size)] = "prize"
    out = ol.copy()
    out["status"] = pd.Categorical(st, categories=["participant", "prize", "winner"])
    return out, stars_by_year


def realised_concentration(ol: pd.DataFrame, sy: pd.DataFrame) -> dict:
    """Share of prize places held by the top 5 % of participants, per school and year (as the analysis reads it)."""
    m = ol.assign(student_id=ol.student_id.astype(str), prize=ol.status.astype(str) != "participant").merge(
        sy[["student_id", "year", "school_id"]], on=["student_id", "year"])
    per = m.groupby(["school_id", "year", "student_id"]).prize.sum()
    return {s: {int(y): round(top_share(v.to_numpy()), 4) for y, v in g.groupby(level="year")}
            for s, g in per.groupby(level="school_id")}


def add_upbringing(tables: dict, plants, seed: int, culture: np.ndarray) -> dict:
    """Add ``activities``, ``offences`` and ``olympiads.teacher_id`` to ``tables`` (in place), plant the talent
    concentration; return the truth entry ``upbringing``."""
    rng = np.random.default_rng([seed, STREAM])
    sids = [str(s) for s in tables["schools"].school_id]
    school_index = {s: i for i, s in enumerate(sids)}
    sy = _student_year(tables)
    culture_k = 1.0 if plants.upbringing else 0.0
    tables["activities"] = activities(rng, sy, culture, school_index, culture_k)
    tables["offences"] = offences(rng, sy, culture, school_index, culture_k)
    ol = tables["olympiads"]
    target = sids[int(rng.integers(len(sids)))]
    size = plants.size("talent_concentration")
    stars = {}
    if size > 0:
        ol, stars = concentrate(rng, ol, sy, target, size)
    ol = ol.copy()
    ol["teacher_id"] = olympiad_teachers(rng, ol, sy, tables)
    tables["olympiads"] = ol
    part = sy.merge(tables["activities"][["student_id", "year"]].drop_duplicates(), on=["student_id", "year"],
                    how="inner").groupby("school_id").size() / sy.groupby("school_id").size()
    return {
        "culture_effect": culture_k,
        "school_culture": {s: round(float(culture[i]) * culture_k, 4) for s, i in school_index.items()},
        "participation_any": {s: round(float(v), 4) for s, v in part.items()},
        "talent_concentration": None if size <= 0 else {
            "school_id": target, "size": size, "stars": stars, "direction": "high",
            "metric": "top5_prize_share"},
        "top5_prize_share": realised_concentration(ol, sy),
    }
