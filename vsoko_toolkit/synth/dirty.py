"""A dirty copy of a generated folder, as a real school export looks, with known bad rows.

The copy is Windows-1251, ``;``-delimited with CRLF line ends, decimal commas,
``DD.MM.YYYY`` dates, Russian labels instead of codes (``ВПР``, ``высшая``,
``1 четверть``, ``годовая``, ``да``/``нет``, ...) and column names in mixed case.
On top of that a handful of rows are planted that each break exactly one
validation rule (rule ids of docs/ARCHITECTURE.md); they are listed in
``bad_rows.csv`` (UTF-8): ``table, row, column, rule, value`` with ``row`` as the
user sees it in the file (header = 1, first data row = 2) and ``value`` as written.
Every other row is a clean row re-encoded, so the expected rejects are exactly
the listed rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: Russian labels written for canonical codes (all accepted by the contract's vocabularies).
RU_LABELS: dict[str, dict[str, str]] = {
    "period": {"q1": "1 четверть", "q2": "2 четверть", "q3": "3 четверть", "q4": "4 четверть",
               "h1": "1 полугодие", "h2": "2 полугодие", "year": "годовая"},
    "kind": {"VPR": "ВПР", "OGE": "ОГЭ", "EGE": "ЕГЭ", "GVE": "ГВЭ"},
    "category": {"highest": "высшая", "first": "первая", "conformity": "соответствие занимаемой должности",
                 "none": "без категории"},
    "sex": {"m": "м", "f": "ж"},
    "locality": {"city": "город", "town": "посёлок", "village": "село"},
    "medal": {"gold": "золото", "silver": "серебро"},
    "stage": {"school": "школьный", "municipal": "муниципальный", "regional": "региональный",
              "final": "заключительный"},
    "status": {"participant": "участник", "prize": "призёр", "winner": "победитель"},
    "respondent_type": {"student": "ученик", "parent": "родитель", "teacher": "учитель"},
    "level": {"municipality": "муниципалитет", "region": "регион", "russia": "Россия",
              # assessments.level (functional-literacy works)
              "low": "низкий", "reduced": "пониженный", "basic": "базовый", "advanced": "повышенный", "high": "высокий"},
    "literacy_domain": {"reading": "читательская", "math": "математическая", "science": "естественнонаучная",
                        "financial": "финансовая", "global": "глобальные компетенции", "creative": "креативное мышление"},
    "destination": {"own_10": "10 класс своей школы", "other_10": "10 класс другой школы", "spo": "СПО",
                    "university": "вуз", "work": "работа", "other": "другое"},
    "profile": {"technical": "технический", "science": "естественнонаучный", "socio_economic": "социально-экономический",
                "humanities": "гуманитарный", "pedagogical": "педагогический", "medical": "медицинский",
                "creative": "творческий", "other": "другое"},
    "target_type": {"school": "школа", "grade": "параллель", "class": "класс", "teacher": "учитель",
                    "subject": "предмет", "students": "обучающиеся"},
}
BOOL_COLUMNS = {"special_needs", "higher_pedagogical", "reverse"}
FLOAT_COLUMNS = {"social_index", "hours_per_week", "weight", "primary_score", "test_score", "score",
                 "max_score", "region_pct", "russia_pct", "share_2", "share_3", "share_4", "share_5",
                 "mean_score", "min_primary", "baseline", "target_value", "value"}
DATE_COLUMNS = {"birth_date", "date_in", "date_out", "date", "deadline"}
ORPHAN_SCHOOL = "S99"


def _insert_after(df: pd.DataFrame, i: int, row: dict) -> pd.DataFrame:
    new = pd.DataFrame([row], columns=df.columns)
    return pd.concat([df.iloc[: i + 1], new, df.iloc[i + 1:]], ignore_index=True)


def _mark(df: pd.DataFrame, i: int, col: str, rule: str) -> None:
    df.at[i, "_bad"] = f"{col}|{rule}"


def _plant(rng: np.random.Generator, t: dict[str, pd.DataFrame]) -> None:
    """Plant the bad rows into the (canonical, all-text) frames; tags go to column ``_bad``."""
    pm, cl, en = t["period_marks"], t["classes"], t["enrollments"]
    year_of = dict(zip(cl.class_id, cl.year, strict=True))
    numeric = np.flatnonzero(pm["mark"].isin(["2", "3", "4", "5"]).to_numpy())
    picks = rng.choice(numeric, 4, replace=False)
    for i, value in zip(picks[:2], ("6", "0"), strict=True):  # marks out of range
        pm.at[i, "mark"] = value
        _mark(pm, i, "mark", "range")
    pm.at[picks[2], "period"] = "5 четверть"  # unknown period label
    _mark(pm, picks[2], "period", "vocabulary")
    # a period mark of a class that exists nowhere
    i = int(picks[3])
    row = pm.iloc[i].to_dict()
    y = year_of[row["class_id"]]
    row["class_id"] = f"{ORPHAN_SCHOOL}-{y}-7Я"
    row["_bad"] = "class_id|foreign_key"
    t["period_marks"] = pm = _insert_after(pm, i, row)
    # a period mark in a class that is not the student's class that year
    en_y = en.merge(cl, on="class_id")
    multi = en_y.groupby(["student_id", "year"]).class_id.transform("size") > 1  # documented transfers
    cand = en_y[~multi.to_numpy()]
    cand = cand[cand.grade.astype(int).between(5, 9)]
    r = cand.iloc[int(rng.integers(len(cand)))]
    others = cl[(cl.school_id == r.school_id) & (cl.year == r.year) & (cl.class_id != r.class_id)
                & cl.grade.astype(int).between(5, 9)]
    other = others.iloc[int(rng.integers(len(others)))].class_id
    j = int(np.flatnonzero((pm.student_id == r.student_id).to_numpy())[-1])
    t["period_marks"] = pm = _insert_after(pm, j, {"student_id": r.student_id, "class_id": other,
                                                   "subject": "Математика", "period": "q1", "mark": "4",
                                                   "_bad": "class_id|mark_class"})
    # an enrollment into a class that exists nowhere
    k = int(rng.integers(len(en)))
    y = year_of[en.at[k, "class_id"]]
    t["enrollments"] = _insert_after(en, k, {"student_id": en.at[k, "student_id"],
                                             "class_id": f"{ORPHAN_SCHOOL}-{y}-3Я", "date_in": "",
                                             "date_out": "", "medal": "", "_bad": "class_id|foreign_key"})
    # a duplicate student id (later occurrence, otherwise valid, referenced by nothing new)
    st = t["students"]
    k = int(rng.integers(len(st)))
    dup = st.iloc[k].to_dict()
    dup["full_name"] = "Иванов Иван Иванович"
    dup["sex"] = "m"
    dup["_bad"] = "student_id|unique"
    t["students"] = _insert_after(st, k, dup)
    # assessments: a date outside the academic year and a non-numeric primary score (ЕГЭ rows:
    # no per-task scores hang on them)
    a = t["assessments"]
    ege = rng.choice(np.flatnonzero((a.kind == "EGE").to_numpy()), 2, replace=False)
    i, j = int(ege[0]), int(ege[1])
    a.at[i, "date"] = f"{year_of[a.at[i, 'class_id']]}-09-15"
    _mark(a, i, "date", "date_in_year")
    a.at[j, "primary_score"] = "сорок"
    _mark(a, j, "primary_score", "type")
    # a task score above its max_score
    it, sp = t["assessment_items"], t["assessment_specs"]
    mx = sp.assign(max_score=sp.max_score.astype(float)).groupby(["kind", "subject", "year", "task"]).max_score.max()
    vpr = np.flatnonzero((it.kind == "VPR").to_numpy())
    i = int(rng.choice(vpr))
    m = mx[(it.at[i, "kind"], it.at[i, "subject"], it.at[i, "year"], it.at[i, "task"])]
    it.at[i, "score"] = f"{m + 1:.1f}"
    _mark(it, i, "score", "max_score")
    # an empty required field
    at = t["attendance"]
    i = int(rng.integers(len(at)))
    at.at[i, "lessons_total"] = ""
    _mark(at, i, "lessons_total", "required")
    # an olympiad row of an unknown student
    ol = t["olympiads"]
    k = int(rng.integers(len(ol)))
    row = ol.iloc[k].to_dict()
    row["student_id"] = "9" * len(row["student_id"])
    row["_bad"] = "student_id|foreign_key"
    t["olympiads"] = _insert_after(ol, k, row)
    _plant_literacy(t)


def _plant_literacy(t: dict[str, pd.DataFrame]) -> None:
    """Bad rows of the optional literacy columns (own stream: the other bad rows and headers stay as they were)."""
    rng = np.random.default_rng(18)
    a, sp = t["assessments"], t["assessment_specs"]
    if "level" in a.columns and (a["level"] != "").any():
        i = int(rng.choice(np.flatnonzero((a["level"] != "").to_numpy())))
        row = a.iloc[i].to_dict()  # the same student's work a day later (a new key), with an unknown level
        row["date"] = str(np.datetime64(row["date"]) + 1)
        row["level"] = "средний"
        row["_bad"] = "level|vocabulary"
        t["assessments"] = _insert_after(a, i, row)
    if "literacy_domain" in sp.columns and (sp["literacy_domain"] != "").any():
        i = int(rng.choice(np.flatnonzero((sp["literacy_domain"] != "").to_numpy())))
        row = sp.iloc[i].to_dict()  # a new task of the same work, tagged with a domain outside the list
        row["task"] = "99"
        row["literacy_domain"] = "музыкальная"
        row["_bad"] = "literacy_domain|vocabulary"
        t["assessment_specs"] = _insert_after(sp, i, row)


def _plant_upbringing(rng: np.random.Generator, t: dict[str, pd.DataFrame]) -> None:
    """Bad rows of the issue-18 tables (when present): an unknown activity kind, a negative offence count,
    an olympiad row prepared by an unknown teacher."""
    if "activities" in t and len(t["activities"]):
        i = int(rng.integers(len(t["activities"])))
        t["activities"].at[i, "kind"] = "танцы"
        _mark(t["activities"], i, "kind", "vocabulary")
    if "offences" in t and len(t["offences"]):
        i = int(rng.integers(len(t["offences"])))
        t["offences"].at[i, "count"] = "-1"
        _mark(t["offences"], i, "count", "range")
    ol = t["olympiads"]
    if "teacher_id" in ol.columns:
        ok = np.flatnonzero((ol["_bad"].isna() & (ol["teacher_id"] != "")).to_numpy())
        i = int(rng.choice(ok))
        ol.at[i, "teacher_id"] = "T9999"
        _mark(ol, i, "teacher_id", "foreign_key")


def _plant_destinations(rng: np.random.Generator, t: dict[str, pd.DataFrame]) -> None:
    """Bad rows of ``destinations`` (own stream: the other tables' bad rows do not move): a grade that
    is not a graduating one, an unknown destination code, an unknown student, and a student who was
    not in the stated graduating grade that year."""
    d, cl, en = t["destinations"], t["classes"], t["enrollments"]
    i, j = (int(x) for x in rng.choice(np.flatnonzero((d.grade == "9").to_numpy()), 2, replace=False))
    d.at[i, "grade"] = "10"
    _mark(d, i, "grade", "range")
    d.at[j, "destination"] = "армия"
    _mark(d, j, "destination", "vocabulary")
    k = int(rng.integers(len(d)))
    row = d.iloc[k].to_dict()
    row["student_id"] = "9" * len(row["student_id"])
    row["_bad"] = "student_id|foreign_key"
    d = _insert_after(d, k, row)
    en_y = en.merge(cl, on="class_id")
    g8 = en_y[en_y.grade == "8"].drop_duplicates(["student_id", "year"], keep=False)
    r = g8.iloc[int(rng.integers(len(g8)))]
    k = int(rng.integers(len(d)))
    t["destinations"] = _insert_after(d, k, {"student_id": r.student_id, "year": r.year, "grade": "9",
                                             "destination": "spo", "profile": "technical", "institution": "",
                                             "_bad": "grade|graduate_grade"})


def _export_look(df: pd.DataFrame) -> pd.DataFrame:
    """Re-encode canonical text as a Russian export writes it."""
    out = df.copy()
    for c in out.columns:
        if c == "_bad":
            continue
        s = out[c]
        if c in RU_LABELS:
            out[c] = s.map(lambda v, m=RU_LABELS[c]: m.get(v, v))
        elif c in BOOL_COLUMNS:
            out[c] = s.map({"true": "да", "false": "нет"}).fillna(s)
        elif c in FLOAT_COLUMNS:
            out[c] = s.str.replace(r"\.0$", "", regex=True).str.replace(".", ",", regex=False)
        elif c in DATE_COLUMNS:
            iso = s.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
            out[c] = s.where(~iso, s.str[8:10] + "." + s.str[5:7] + "." + s.str[0:4])
    return out


def _mixed_case(rng: np.random.Generator, names: list[str]) -> list[str]:
    styles = (str.upper, str.title, lambda x: x, lambda x: x[:1].upper() + x[1:])
    return [styles[int(rng.integers(len(styles)))](n) for n in names]


def make_dirty(clean_dir, dirty_dir, seed: int = 1) -> pd.DataFrame:
    """Write a dirty copy of ``clean_dir`` into ``dirty_dir`` and list its planted bad rows.

    Parameters
    ----------
    clean_dir : path
        A folder written by :func:`generate_municipality`.
    dirty_dir : path
        Output folder (Windows-1251, ``;``, decimal commas, DD.MM.YYYY, Russian labels).
    seed : int
        Seed of the choices of bad rows and column-name styles.

    Returns
    -------
    DataFrame
        ``table, row, column, rule, value`` -- also written to ``dirty_dir/bad_rows.csv``.
    """
    clean_dir, dirty_dir = Path(clean_dir), Path(dirty_dir)
    dirty_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = sorted(p.stem for p in clean_dir.glob("*.csv") if p.stem != "bad_rows")
    t = {n: pd.read_csv(clean_dir / f"{n}.csv", dtype=str, keep_default_na=False) for n in names}
    for df in t.values():
        df["_bad"] = None
    _plant(rng, t)
    _plant_upbringing(np.random.default_rng([seed, 181]), t)  # own stream: the rows above stay the same
    if "destinations" in t:
        _plant_destinations(np.random.default_rng([seed, 182]), t)
    bad = []
    for n in names:
        df = _export_look(t[n])
        for pos in np.flatnonzero(df["_bad"].notna().to_numpy()):
            col, rule = df.at[pos, "_bad"].split("|")
            bad.append({"table": n, "row": int(pos) + 2, "column": col, "rule": rule, "value": df.at[pos, col]})
        df = df.drop(columns="_bad")
        # destinations (added later) draws its column styles from its own stream: other files do not move
        df.columns = _mixed_case(np.random.default_rng([seed, 182]) if n == "destinations" else rng, list(df.columns))
        df.to_csv(dirty_dir / f"{n}.csv", sep=";", index=False, encoding="cp1251", lineterminator="\r\n")
    out = pd.DataFrame(bad, columns=["table", "row", "column", "rule", "value"])
    out.to_csv(dirty_dir / "bad_rows.csv", index=False, encoding="utf-8")
    return out
