"""Graduates' destinations (optional table ``destinations``) with a planted outflow problem.

Drawn after every other table, from the written tables only (classes, enrollments, year marks, ОГЭ/ЕГЭ
sittings), on its own random stream ``default_rng([seed, STREAM])``: every other table stays byte-identical
whether or not destinations are generated.

Model (docs/SYNTH_MODEL.md, «Самоопределение выпускников»):

- graduates of grade 9 are the year's 9th graders who do not repeat grade 9 (observed next year; in the
  last year, a student with two or more failing year marks repeats with the population model's rate);
  graduates of grade 11 are all 11th graders;
- after grade 9, where the next year is observed, the destination is what the enrollments show (grade 10
  of the same school → ``own_10``, of another school → ``other_10``); in the last year it is drawn with the
  population model's stay/switch rule on the year-mark z-score; students who leave the municipality go to
  a college (``spo``), a 10th grade elsewhere, work or other, by a multinomial logit on ability;
- a college's or university's profile follows an elective exam of the graduate with probability
  ``P_MATCH_9`` / ``P_MATCH_11`` (ОГЭ / ЕГЭ subjects other than Russian and mathematics), otherwise the
  base distribution ``BASE_PROFILE``; after grade 11: university / college / work / other by ability;
- the planted problem (``Plants.graduate_outflow``): in the school that offers no technological 10th grade
  in any year (the first such school; else the one with the fewest), a leaver after grade 9 goes to a
  college with probability ``P_SPO_PLANT`` and its profile is technical with probability
  ``graduate_outflow_size``. ``Plants.null()`` plants nothing: every school draws from the same model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STREAM = 182  # this module's random stream: default_rng([seed, STREAM]) (18: literacy, 181: upbringing)
PROFILES = ("technical", "science", "socio_economic", "humanities", "pedagogical", "medical", "creative", "other")
BASE_PROFILE = np.array([0.28, 0.08, 0.20, 0.08, 0.10, 0.12, 0.06, 0.08])
#: generating assumption: which elective exam subjects lead to which profile
SUBJECT_PROFILES = {
    "Физика": ("technical", "science"), "Информатика": ("technical", "socio_economic"),
    "Химия": ("science", "medical"), "Биология": ("science", "medical", "pedagogical"),
    "География": ("science", "socio_economic"), "Обществознание": ("socio_economic", "humanities", "pedagogical"),
    "История": ("humanities", "pedagogical"), "Литература": ("humanities", "creative"),
    "Английский язык": ("humanities", "socio_economic"),
}
COMPULSORY = ("Русский язык", "Математика")
TECH_CLASS = "технологический"
P_MATCH_9, P_MATCH_11 = 0.5, 0.85
P_SPO_PLANT = 0.9
LEAVER = ("spo", "other_10", "work", "other")
LEAVER_LOGIT = np.log(np.array([0.72, 0.15, 0.05, 0.08]))
GRAD11 = ("university", "spo", "work", "other")
GRAD11_LOGIT = np.log(np.array([0.55, 0.30, 0.08, 0.07]))
STAY_AFTER_9, SWITCH_AFTER_9, REPEAT_RATE = 0.50, 0.08, 0.25  # as ModelParams' population rule
COLUMNS = ("student_id", "year", "grade", "destination", "profile", "institution")


def student_years(tables: dict) -> pd.DataFrame:
    """(student_id, year) → school_id, grade of the student's class that year (the latest by date_in)."""
    e = tables["enrollments"][["student_id", "class_id", "date_in"]].astype({"student_id": str, "class_id": str})
    c = tables["classes"][["class_id", "school_id", "year", "grade"]].astype({"class_id": str, "school_id": str})
    d = e.merge(c, on="class_id")
    d["_d"] = pd.to_datetime(d["date_in"]).fillna(pd.Timestamp("1900-01-01"))
    d = d.sort_values(["student_id", "year", "_d"]).drop_duplicates(["student_id", "year"], keep="last")
    return d[["student_id", "year", "school_id", "grade", "class_id"]].reset_index(drop=True)


def _marks(tables: dict, sy: pd.DataFrame) -> pd.DataFrame:
    pm = tables["period_marks"]
    pm = pm[pm["period"].astype(str) == "year"][["student_id", "class_id", "mark"]].astype(str)
    pm = pm.merge(tables["classes"][["class_id", "year"]].astype({"class_id": str}), on="class_id")
    num = pd.to_numeric(pm["mark"], errors="coerce")
    pm = pm.assign(v=num, fail=(num <= 2) | (pm["mark"] == "н/а"))
    g = pm.groupby(["student_id", "year"]).agg(gpa=("v", "mean"), fails=("fail", "sum")).reset_index()
    out = sy.merge(g, on=["student_id", "year"], how="left")
    z = out.groupby(["year", "grade"])["gpa"].transform(lambda s: (s - s.mean()) / (s.std() or 1.0))
    return out.assign(z=z.fillna(0.0), fails=out["fails"].fillna(0).astype(int))


def _electives(tables: dict) -> dict[tuple[str, int], list[str]]:
    a = tables["assessments"]
    a = a[a["kind"].astype(str).isin(["OGE", "EGE"])][["student_id", "class_id", "subject"]].astype(str)
    a = a[~a["subject"].isin(COMPULSORY)]
    a = a.merge(tables["classes"][["class_id", "year"]].astype({"class_id": str}), on="class_id")
    return {k: sorted(set(v)) for k, v in a.groupby(["student_id", "year"])["subject"]}


def _profile(rng, electives: list[str], p_match: float) -> str:
    options = sorted({p for s in electives for p in SUBJECT_PROFILES.get(s, ())})
    if options and rng.random() < p_match:
        return options[int(rng.integers(len(options)))]
    return PROFILES[int(rng.choice(len(PROFILES), p=BASE_PROFILE))]


def _logit_draw(rng, base: np.ndarray, slope: np.ndarray, z: float) -> int:
    s = base + slope * z
    p = np.exp(s - s.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def plant_school(classes: pd.DataFrame, years: list[int]) -> str:
    """The school whose 10th grade offers the technological profile least often (first by id on ties)."""
    c = classes[(classes["grade"] == 10) & classes["year"].isin(years)]
    tech = (c["profile"].astype(str) == TECH_CLASS).groupby(c["school_id"].astype(str)).sum()
    return str(tech.sort_index().idxmin())


def generate_destinations(seed: int, tables: dict, years: list[int], size: float) -> tuple[pd.DataFrame, dict | None]:
    """Rows of ``destinations`` for every graduate of grades 9 and 11, and the truth entry (None when
    ``size`` is 0: nothing planted)."""
    rng = np.random.default_rng([seed, STREAM])
    sy = _marks(tables, student_years(tables))
    ele = _electives(tables)
    nxt = {(s, y): (sc, g) for s, y, sc, g in sy[["student_id", "year", "school_id", "grade"]].itertuples(index=False)}
    last = max(years)
    target = plant_school(tables["classes"], years) if size > 0 else None
    rows = []
    logit0 = np.log(STAY_AFTER_9 / (1 - STAY_AFTER_9))
    for r in sy[sy["grade"].isin([9, 11])].sort_values(["year", "school_id", "student_id"]).itertuples(index=False):
        sid, y, school, z = r.student_id, int(r.year), r.school_id, float(r.z)
        el = ele.get((sid, y), [])
        if r.grade == 11:
            k = _logit_draw(rng, GRAD11_LOGIT, np.array([1.2, 0.0, -0.5, 0.0]), z)
            dest = GRAD11[k]
            prof = _profile(rng, el, P_MATCH_11) if dest in ("university", "spo") else None
            rows.append((sid, y, 11, dest, prof))
            continue
        if y < last:
            after = nxt.get((sid, y + 1))
            if after is not None and after[1] == 9:
                continue  # repeats grade 9: not a graduate
            dest = None if after is None or after[1] != 10 else ("own_10" if after[0] == school else "other_10")
        else:
            if r.fails >= 2 and rng.random() < REPEAT_RATE:
                continue
            u = rng.random()
            p_stay = 1 / (1 + np.exp(-(logit0 + 1.0 * z)))
            dest = "own_10" if u < p_stay else ("other_10" if u < p_stay + SWITCH_AFTER_9 else None)
        prof = None
        if dest is None:  # leaves the municipality's schools
            base = LEAVER_LOGIT.copy()
            if school == target:
                base = np.log(np.array([P_SPO_PLANT, *((1 - P_SPO_PLANT) * np.exp(LEAVER_LOGIT[1:])
                                                      / np.exp(LEAVER_LOGIT[1:]).sum())]))
            dest = LEAVER[_logit_draw(rng, base, np.array([-0.3, 0.6, -0.5, 0.0]), z)]
            if dest == "spo":
                prof = "technical" if school == target and rng.random() < size else _profile(rng, el, P_MATCH_9)
        rows.append((sid, y, 9, dest, prof))
    d = pd.DataFrame(rows, columns=list(COLUMNS[:5]))
    d["institution"] = np.where(d["profile"].notna(),
                                np.where(d["destination"] == "university", "вуз ", "колледж ")
                                + d["profile"].fillna("").map(lambda p: {"technical": "технический",
                                                                         "medical": "медицинский",
                                                                         "pedagogical": "педагогический"}
                                                              .get(p, "многопрофильный")), None)
    return d, _truth(d, sy, target, size, years, tables["classes"])


def _truth(d: pd.DataFrame, sy: pd.DataFrame, target: str | None, size: float, years, classes) -> dict | None:
    if target is None:
        return None
    g9 = d[d["grade"] == 9].merge(sy[["student_id", "year", "school_id"]], on=["student_id", "year"])
    hit = (g9["destination"] == "spo") & (g9["profile"] == "technical")
    share = hit.groupby(g9["school_id"] == target).mean()
    offered = sorted(set(classes.loc[(classes["school_id"].astype(str) == target) & (classes["grade"] == 10),
                                     "profile"].dropna().astype(str)))
    return {"school_id": target, "grade": 9, "destination": "spo", "profile": "technical", "size": size,
            "p_spo_leavers": P_SPO_PLANT, "years": list(years), "offered_10th_profiles": offered,
            "share_target": round(float(share.get(True, np.nan)), 4),
            "share_others": round(float(share.get(False, np.nan)), 4),
            "n_target": int((g9["school_id"] == target).sum())}
