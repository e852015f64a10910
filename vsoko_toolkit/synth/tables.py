"""Collect the simulated arrays year by year and turn them into contract tables.

Rows are kept as small integer codes while simulating; at the end every text
column becomes a pandas categorical (ids, subjects, periods, marks), which is
cheap to build and fast to write.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .assessments import KINDS
from .context import INDICATORS, RESPONDENTS, STAGES, STATUSES, SURVEY_ITEMS
from .marks import MARK_LABELS, WORK_TYPES, WORK_WEIGHT
from .params import PERIODS, SUBJECTS
from .population import LETTERS
from .staff import teacher_table
from .writer import cat

_KEYS = {
    "enr": ("stu", "cls", "din", "dout", "medal"),
    "pm": ("stu", "cls", "subj", "period", "mark"),
    "att": ("stu", "cls", "period", "total", "missed", "unexc"),
    "cm": ("stu", "cls", "subj", "date", "mark", "work"),
    "ol": ("stu", "year", "subj", "stage", "status"),
    "sv": ("school", "year", "type", "num", "cls", "item", "response"),
    "ind": ("school", "year", "indicator", "value"),
}
_MARK_CODES = np.array(sorted(MARK_LABELS))  # -2, -1, 2, 3, 4, 5


class Accumulator:
    """Lists of per-year arrays for every long table."""

    def __init__(self):
        self.d = {t: {k: [] for k in keys} for t, keys in _KEYS.items()}

    def _add(self, table: str, **cols):
        for k, v in cols.items():
            self.d[table][k].append(v)

    def year(self, y, roster, jr, att, medal, transfer_day) -> None:
        nat = np.datetime64("NaT", "D")
        tr = roster.transfer
        n = len(roster)
        stu = np.concatenate([roster.stu, roster.stu[tr]])
        cls = np.concatenate([roster.cls1, roster.cls2[tr]])
        din = np.concatenate([np.full(n, nat), np.full(tr.sum(), transfer_day)])
        dout = np.concatenate([np.where(tr, transfer_day - 1, nat), np.full(tr.sum(), nat)])
        med = np.concatenate([np.where(tr, -1, medal), medal[tr]])
        self._add("enr", stu=stu.astype(np.int32), cls=cls.astype(np.int32), din=din, dout=dout, medal=med)
        self._add("pm", stu=roster.stu[jr.row].astype(np.int32), cls=jr.cls.astype(np.int32),
                  subj=jr.subj.astype(np.int8), period=jr.period.astype(np.int8), mark=jr.mark.astype(np.int8))
        self._add("att", stu=roster.stu[att.row].astype(np.int32), cls=att.cls.astype(np.int32),
                  period=att.period.astype(np.int8), total=att.total.astype(np.int32),
                  missed=att.missed.astype(np.int32), unexc=att.unexcused.astype(np.int32))

    def current(self, roster, cm: dict) -> None:
        self._add("cm", stu=roster.stu[cm["row"]].astype(np.int32), cls=cm["cls"].astype(np.int32),
                  subj=cm["subj"].astype(np.int8), date=cm["date"].astype("datetime64[D]"),
                  mark=cm["mark"].astype(np.int8), work=cm["work"].astype(np.int8))

    def olympiads(self, roster, o: dict, y: int) -> None:
        self._add("ol", stu=roster.stu[o["row"]], year=np.full(len(o["row"]), y), subj=o["subj"],
                  stage=o["stage"], status=o["status"])

    def surveys(self, sv: dict, y: int) -> None:
        self._add("sv", school=sv["school"], year=np.full(len(sv["school"]), y), type=sv["type"],
                  num=sv["num"], cls=sv["cls"], item=sv["item"], response=sv["response"])

    def indicators(self, values: np.ndarray, y: int) -> None:
        ns, k = values.shape
        self._add("ind", school=np.repeat(np.arange(ns), k), year=np.full(ns * k, y),
                  indicator=np.tile(np.arange(k), ns), value=values.ravel())

    def get(self, table: str) -> dict:
        return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in self.d[table].items()}


def _none_if_empty(a) -> np.ndarray:
    a = np.asarray(a, dtype=object)
    return np.where(a == "", None, a)


def _int_or_na(a: np.ndarray) -> np.ndarray:
    """Integers with negative codes as missing (float NaN; written back as integers)."""
    a = np.asarray(a)
    return np.where(a >= 0, a, np.nan).astype(float)


def assemble(rng, acc: Accumulator, schools, reg, pool, staff, sit, years, last_year):
    """All contract tables except decisions; returns (tables, ids)."""
    width = max(6, len(str(pool.n)))
    student_ids = np.array([f"{i + 1:0{width}d}" for i in range(pool.n)], dtype=object)
    class_ids = reg.ids(schools.ids)
    tt = teacher_table(rng, staff.pool, schools.ids, last_year)
    teacher_ids = tt["teacher_id"]
    subj = np.array(SUBJECTS, dtype=object)
    periods = np.array(PERIODS, dtype=object)
    marks = np.array([MARK_LABELS[c] for c in _MARK_CODES], dtype=object)
    mark_code = {c: i for i, c in enumerate(_MARK_CODES)}
    mark_index = np.zeros(8, int)
    for c, i in mark_code.items():
        mark_index[c + 2] = i
    T = {}
    T["schools"] = pd.DataFrame({"school_id": schools.ids, "name": schools.names,
                                 "municipality": schools.municipality, "locality": schools.locality,
                                 "social_index": schools.social_index})
    hr = np.asarray(reg.homeroom)
    T["classes"] = pd.DataFrame({
        "class_id": class_ids, "school_id": schools.ids[np.asarray(reg.school)],
        "year": np.asarray(reg.year), "grade": np.asarray(reg.grade),
        "letter": np.array(list(LETTERS), dtype=object)[np.asarray(reg.letter)],
        "profile": _none_if_empty(reg.profile),
        "homeroom_teacher_id": np.where(hr >= 0, teacher_ids[np.maximum(hr, 0)], None)})
    T["students"] = pd.DataFrame({"student_id": student_ids, "sex": np.where(pool.female, "f", "m"),
                                  "birth_date": pool.birth, "full_name": pool.name,
                                  "special_needs": pool.special})
    e = acc.get("enr")
    T["enrollments"] = pd.DataFrame({
        "student_id": cat(e["stu"], student_ids), "class_id": cat(e["cls"], class_ids),
        "date_in": e["din"], "date_out": e["dout"],
        "medal": cat(e["medal"], np.array(["gold", "silver"], dtype=object))})
    T["teachers"] = pd.DataFrame(tt)
    rows = np.array(staff.rows, dtype=float).reshape(-1, 4)
    T["assignments"] = pd.DataFrame({
        "teacher_id": cat(rows[:, 0].astype(int), teacher_ids), "class_id": cat(rows[:, 1].astype(int), class_ids),
        "subject": cat(rows[:, 2].astype(int), subj), "hours_per_week": rows[:, 3]})
    pm = acc.get("pm")
    T["period_marks"] = pd.DataFrame({
        "student_id": cat(pm["stu"], student_ids), "class_id": cat(pm["cls"], class_ids),
        "subject": cat(pm["subj"], subj), "period": cat(pm["period"], periods),
        "mark": cat(mark_index[pm["mark"].astype(int) + 2], marks)})
    cm = acc.get("cm")
    if len(cm["stu"]):
        T["current_marks"] = pd.DataFrame({
            "student_id": cat(cm["stu"], student_ids), "class_id": cat(cm["cls"], class_ids),
            "subject": cat(cm["subj"], subj), "date": cm["date"],
            "mark": cat(mark_index[cm["mark"].astype(int) + 2], marks),
            "weight": WORK_WEIGHT[cm["work"].astype(int)],
            "work_type": cat(cm["work"], np.array(WORK_TYPES, dtype=object))})
    a = acc.get("att")
    T["attendance"] = pd.DataFrame({
        "student_id": cat(a["stu"], student_ids), "class_id": cat(a["cls"], class_ids),
        "period": cat(a["period"], periods), "lessons_total": a["total"], "lessons_missed": a["missed"],
        "missed_unexcused": a["unexc"]})
    T.update(_assessment_tables(sit, student_ids, class_ids, np.asarray(reg.grade)))
    o = acc.get("ol")
    T["olympiads"] = pd.DataFrame({
        "student_id": cat(o["stu"], student_ids), "year": o["year"].astype(int),
        "subject": cat(o["subj"], subj), "stage": cat(o["stage"], np.array(STAGES, dtype=object)),
        "status": cat(o["status"], np.array(STATUSES, dtype=object))})
    sv = acc.get("sv")
    letters = np.array(["s", "p", "t"])
    rid = np.char.add(np.char.add(sv["year"].astype(str), "-"),
                      np.char.add(letters[sv["type"]], np.char.zfill(sv["num"].astype(str), 4)))
    T["surveys"] = pd.DataFrame({
        "school_id": cat(sv["school"], schools.ids), "year": sv["year"].astype(int),
        "respondent_type": cat(sv["type"], np.array(RESPONDENTS, dtype=object)),
        "respondent_id": pd.Categorical(rid.astype(object)),
        "class_id": cat(sv["cls"], class_ids), "item_id": cat(sv["item"], np.array([x[0] for x in SURVEY_ITEMS], dtype=object)),
        "response": sv["response"].astype(int)})
    T["survey_items"] = pd.DataFrame({"item_id": [x[0] for x in SURVEY_ITEMS], "text": [x[2] for x in SURVEY_ITEMS],
                                      "scale": [x[3] for x in SURVEY_ITEMS], "reverse": [x[4] for x in SURVEY_ITEMS]})
    ind = acc.get("ind")
    T["indicators"] = pd.DataFrame({
        "school_id": cat(ind["school"], schools.ids), "year": ind["year"].astype(int),
        "indicator_id": cat(ind["indicator"], np.array(INDICATORS, dtype=object)), "value": ind["value"]})
    ids = {"student": student_ids, "class": class_ids, "teacher": teacher_ids, "school": schools.ids}
    return T, ids


def _assessment_tables(sit, student_ids, class_ids, c_grade) -> dict:
    a = {k: np.concatenate(v) for k, v in sit.a.items()}
    kinds = np.array(KINDS, dtype=object)
    subj = np.array(SUBJECTS, dtype=object)
    variant = a["variant"].astype(int)
    out = {}
    ass = pd.DataFrame({
        "student_id": cat(a["stu"], student_ids), "class_id": cat(a["cls"], class_ids),
        "kind": cat(a["kind"], kinds), "subject": cat(a["subj"], subj), "date": a["date"],
        "primary_score": a["primary"], "mark": _int_or_na(a["mark"]), "test_score": a["test"],
        "variant": pd.Categorical(variant.astype(str).astype(object)),
        "journal_mark": _int_or_na(a["journal"])})
    out["assessments"] = ass
    it = {k: np.concatenate(v) for k, v in sit.i.items()}
    labels = np.array(sorted(sit.task_labels, key=sit.task_labels.get), dtype=object)
    out["assessment_items"] = pd.DataFrame({
        "student_id": cat(it["stu"], student_ids), "kind": cat(it["kind"], kinds),
        "subject": cat(it["subj"], subj), "year": it["year"].astype(int),
        "task": cat(it["task"], labels), "score": it["score"]})
    specs, scales, bench = [], [], []
    grade = c_grade[a["cls"]]
    year = a["date"].astype("datetime64[Y]").astype(int) + 1970
    year = np.where(a["date"].astype("datetime64[M]").astype(int) % 12 >= 8, year + 1, year)
    for (kind, s, g, y), w in sorted(sit.works.items(), key=lambda kv: (kv[0][3], kv[0][0], kv[0][2], kv[0][1])):
        k, name = kind, SUBJECTS[s]
        if w.with_items:
            for j, t in enumerate(w.tasks):
                specs.append((k, name, g, y, t, float(w.max_score[j]), w.skill[j],
                              float(w.region_pct[j]), float(w.russia_pct[j])))
        if w.thresholds is None:
            continue
        for mk, thr in zip((3, 4, 5), w.thresholds, strict=True):
            scales.append((k, name, g, y, mk, float(thr)))
        if k == "GVE":
            continue
        kc = KINDS.index(k)
        m = (a["kind"] == kc) & (a["subj"] == s) & (grade == g) & (year == y)
        if m.any():
            sh = np.bincount(a["mark"][m], minlength=6)[2:6] / m.sum()
            bench.append((k, name, g, y, "municipality", *np.round(sh, 4), round(float(a["primary"][m].mean()), 2)))
        for level, sh, mean in (("region", w.region_shares, w.region_mean), ("russia", w.russia_shares, w.russia_mean)):
            bench.append((k, name, g, y, level, *np.round(sh, 4), round(mean, 2)))
    out["assessment_specs"] = pd.DataFrame(specs, columns=["kind", "subject", "grade", "year", "task", "max_score",
                                                           "skill", "region_pct", "russia_pct"])
    out["scales"] = pd.DataFrame(scales, columns=["kind", "subject", "grade", "year", "mark", "min_primary"])
    out["assessment_benchmarks"] = pd.DataFrame(bench, columns=[
        "kind", "subject", "grade", "year", "level", "share_2", "share_3", "share_4", "share_5", "mean_score"])
    return out
