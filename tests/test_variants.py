"""Variants of a data folder (synth.variants): every shape ingests with zero rejects and keeps the data."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from vsoko_toolkit import ingest
from vsoko_toolkit.contract.spec import HEADER_LABELS, TABLES, VOCABULARIES
from vsoko_toolkit.synth import generate_municipality
from vsoko_toolkit.synth.variants import ELECTIVES, write_variant


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[Path, dict, dict[str, int]]:
    """A tiny municipality (2 schools, 2 years), its truth and its rows per table."""
    folder = tmp_path_factory.mktemp("variants") / "src"
    truth = generate_municipality(folder, n_schools=2, n_years=2, seed=3, current_marks=False)
    rows = {p.name.removesuffix(".csv"): len(pd.read_csv(p, dtype=str, keep_default_na=False))
            for p in folder.glob("*.csv")}
    return folder, truth, rows


def load(folder: Path, tmp_path: Path, source_rows: dict[str, int], truth: dict) -> duckdb.DuckDBPyConnection:
    """Ingest a variant: zero rejects, every row of the source but those the variant removed."""
    rep = ingest(folder, tmp_path / "w.duckdb", rejects_dir=tmp_path / "rejects")
    assert rep.n_rejected == 0, rep.rejects.head(10).to_string()
    removed = truth["variant"]["removed_rows"]
    want = {t: n - removed.get(t, 0) for t, n in source_rows.items() if t not in truth["variant"]["dropped_tables"]}
    got = dict(zip(rep.tables["table"], rep.tables["accepted"], strict=True))
    assert got == want
    assert truth["variant"]["rows"] == want
    return duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)


def header(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> list[str]:
    return pd.read_csv(path, dtype=str, nrows=0, encoding=encoding, sep=delimiter).columns.tolist()


def test_minimal_keeps_only_required_columns(source, tmp_path):
    src, _, rows = source
    truth = write_variant(src, tmp_path / "v", minimal=True)
    for name in truth["variant"]["rows"]:
        required = [c.name for c in TABLES[name].columns if c.required]
        assert header(tmp_path / "v" / f"{name}.csv") == required
    # without date_in/date_out a mid-year transfer keeps the student's last class of that year only
    assert truth["variant"]["transfers_removed"].get("enrollments", 0) > 0
    assert truth["variant_removed"] is None
    con = load(tmp_path / "v", tmp_path, rows, truth)
    assert con.execute("SELECT count(*) FROM enrollments GROUP BY student_id, year ORDER BY 1 DESC LIMIT 1"
                       ).fetchone()[0] == 1
    con.close()


def test_windows_export_with_russian_labels(source, tmp_path):
    src, _, rows = source
    out = tmp_path / "v"
    truth = write_variant(src, out, minimal=True, encoding="cp1251", delimiter=";", decimal=",",
                          russian_labels=True)
    raw = (out / "assessments.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    a = pd.read_csv(out / "assessments.csv", dtype=str, encoding="cp1251", sep=";")
    assert {"ВПР", "ОГЭ", "ЕГЭ"} <= set(a["kind"])
    assert a["date"].str.fullmatch(r"\d\d\.\d\d\.\d{4}").all()
    assert a["primary_score"].str.contains(",").any() and not a["primary_score"].str.contains(r"\.").any()
    pm = pd.read_csv(out / "period_marks.csv", dtype=str, encoding="cp1251", sep=";")
    assert {"1 четверть", "год"} <= set(pm["period"])
    teachers = pd.read_csv(out / "teachers.csv", dtype=str, encoding="cp1251", sep=";")
    assert set(teachers["category"]) <= {"высшая", "первая", "соответствие", "без категории"}
    assert header(out / "decisions.csv", "cp1251", ";") == [
        HEADER_LABELS["decisions"][c.name] for c in TABLES["decisions"].columns if c.required]
    con = load(out, tmp_path, rows, truth)
    # read back canonical, with the same numbers as the source
    assert {r[0] for r in con.execute("SELECT DISTINCT kind FROM assessments").fetchall()} <= set(VOCABULARIES["kind"])
    s = pd.read_csv(src / "assessments.csv", dtype={"primary_score": float})
    assert con.execute("SELECT sum(primary_score) FROM assessments").fetchone()[0] == pytest.approx(
        s["primary_score"].sum())
    con.close()


def test_habits_rewrite_ids_consistently_with_the_truth(source, tmp_path):
    src, src_truth, rows = source
    truth = write_variant(src, tmp_path / "v", habits=True, seed=5)
    gone = truth["variant_removed"]
    assert gone["subject"] in ELECTIVES and gone["year"] == min(src_truth["years"])
    assert gone["rows"]["period_marks"] > 0 and gone["truth"] == []
    con = load(tmp_path / "v", tmp_path, rows, truth)
    q = lambda sql, *p: con.execute(sql, list(p)).fetchall()  # noqa: E731

    assert all(re.fullmatch(r"S\d+-T\d\d", t) for (t,) in q("SELECT teacher_id FROM teachers"))
    assert all(re.fullmatch(r"\d+[А-Я]-\d{4}-S\d\d", c) for (c,) in q("SELECT class_id FROM classes"))
    assert all(re.fullmatch(r"0\d{7}", s) for (s,) in q("SELECT student_id FROM students"))
    # the subject is taught from the second year only
    years = dict(q("SELECT year, count(*) FROM period_marks WHERE subject = ? GROUP BY year", gone["subject"]))
    assert gone["year"] not in years and years
    # ВПР: one date per class and subject, spread inside 15 March – 20 May
    vpr = pd.DataFrame(q("SELECT school_id, class_id, subject, year, date FROM assessments WHERE kind = 'VPR'"),
                       columns=["school", "cls", "subject", "year", "date"])
    assert (vpr.groupby(["cls", "subject"])["date"].nunique() == 1).all()
    assert vpr.apply(lambda r: dt.date(r.year, 3, 15) <= r.date <= dt.date(r.year, 5, 20), axis=1).all()
    assert vpr.groupby(["school", "subject", "year"])["date"].nunique().max() > 1
    # the truth's ids are the variant's ids, with the same planted facts
    teachers = {t for (t,) in q("SELECT teacher_id FROM teachers")}
    classes = {c for (c,) in q("SELECT class_id FROM classes")}
    assert set(truth["teacher_effects"]) <= teachers
    assert len(truth["teacher_effects"]) == len(src_truth["teacher_effects"])
    for e in truth["low_value_added"] + truth["high_value_added"]:
        assert e["teacher_id"] in teachers
    assert set(truth["declining_trend"]["details"]["teacher_ids"]) <= teachers
    for e in truth["marking_bias"]:
        taught = {c for (c,) in q("SELECT class_id FROM assignments WHERE teacher_id = ? AND subject = ?",
                                  e["teacher_id"], e["subject"])}
        assert e["class_ids"] and set(e["class_ids"]) <= taught
    assert {e["class_id"] for e in truth["task_deficits"]} <= classes
    stored = dict(q("SELECT decision_id, target_ids FROM decisions"))
    for d in truth["decisions"]:
        assert set(d["target_ids"]) <= classes
        assert (stored[d["decision_id"]] or "") == ";".join(d["target_ids"])
    homerooms = {t for (t,) in q("SELECT homeroom_teacher_id FROM classes WHERE homeroom_teacher_id IS NOT NULL")}
    assert homerooms and homerooms <= teachers
    con.close()


def test_habits_in_every_shape_at_once(source, tmp_path):
    src, _, rows = source
    truth = write_variant(src, tmp_path / "v", minimal=True, habits=True, russian_labels=True,
                          encoding="cp1251", delimiter=";", decimal=",", seed=11)
    assert truth["variant"]["removed_rows"]["period_marks"] > truth["variant_removed"]["rows"]["period_marks"]
    load(tmp_path / "v", tmp_path, rows, truth).close()


@pytest.mark.parametrize("drop", [("assessments", "assessment_items"), ("survey_items", "attendance"),
                                  ("assessment_specs", "scales", "assessment_benchmarks", "olympiads",
                                   "surveys", "indicators", "decisions")])
def test_dropped_tables(source, tmp_path, drop):
    src, _, rows = source
    truth = write_variant(src, tmp_path / "v", drop_tables=drop)
    assert truth["variant"]["dropped_tables"] == sorted(drop)
    assert not any((tmp_path / "v" / f"{t}.csv").exists() for t in drop)
    load(tmp_path / "v", tmp_path, rows, truth).close()


def test_same_seed_same_files_and_options_are_checked(source, tmp_path):
    src, _, _ = source
    a = write_variant(src, tmp_path / "a", habits=True, seed=2, drop_tables=("assessment_items",))
    b = write_variant(src, tmp_path / "b", habits=True, seed=2, drop_tables=("assessment_items",))
    assert a["variant_removed"] == b["variant_removed"]
    for name in ("classes", "assessments", "period_marks"):
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()
    # a variant written over another leaves none of its tables behind
    write_variant(src, tmp_path / "a", drop_tables=("olympiads",))
    assert (tmp_path / "a" / "assessment_items.csv").exists() and not (tmp_path / "a" / "olympiads.csv").exists()
    with pytest.raises(ValueError, match="delimiter"):
        write_variant(src, tmp_path / "c", decimal=",")
    with pytest.raises(ValueError, match="Обязательные"):
        write_variant(src, tmp_path / "c", drop_tables=("students",))
    with pytest.raises(ValueError, match="Нет таких таблиц"):
        write_variant(src, tmp_path / "c", drop_tables=("marks",))
    with pytest.raises(ValueError, match="совпадает"):
        write_variant(src, src)
