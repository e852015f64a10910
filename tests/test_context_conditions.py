"""Conditions of the school context: staff shares, teaching-load overload and vacancy rules.

A hand-made two-school warehouse whose every number is known: S01 has three teachers, S02 (the rest of the
municipality) two. Rules under test (``vsoko_toolkit/analysis/context.py``): PD covered when
``pd_hours_3y >= 36``; overloaded when weekly hours > 1.5 × 18 = 27; a vacancy is a class × subject with
period marks but no assignment. Exact comparisons: the counts are integers and the intervals come from
``wilson_interval`` on those counts.
"""

from __future__ import annotations

import pytest
from conftest import MINI, write_folder

from vsoko_toolkit import ingest
from vsoko_toolkit.analysis.context import school_context
from vsoko_toolkit.findings import validate_document
from vsoko_toolkit.report import glue_context as gx
from vsoko_toolkit.stats.intervals import wilson_interval
from vsoko_toolkit.warehouse.store import connect

TABLES = {
    **MINI,
    "schools": [["school_id", "name", "municipality", "locality", "social_index"],
                ["S01", "МБОУ СОШ № 1", "Энск", "city", "0.4"], ["S02", "МБОУ СОШ № 2", "Энск", "city", "0.1"]],
    "teachers": [["teacher_id", "school_id", "full_name", "category", "experience_years", "higher_pedagogical", "age",
                  "pd_hours_3y"],
                 ["T01", "S01", "Иванова Мария Петровна", "highest", "21", "true", "45", "72"],
                 ["T02", "S01", "Петров Олег Ильич", "first", "5", "false", "28", "16"],
                 ["T03", "S01", "Сидорова Анна Ивановна", "none", "1", "true", "23", ""],
                 ["T04", "S02", "Орлов Павел Андреевич", "highest", "30", "true", "58", "108"],
                 ["T05", "S02", "Лебедева Нина Юрьевна", "conformity", "12", "", "40", "36"]],
    "classes": [["class_id", "school_id", "year", "grade", "letter", "homeroom_teacher_id"],
                ["S01-2025-5А", "S01", "2025", "5", "А", "T01"], ["S01-2025-6А", "S01", "2025", "6", "А", "T02"],
                ["S02-2025-5А", "S02", "2025", "5", "А", "T04"]],
    "students": [*MINI["students"], ["0005", "f", "Белова Ия Олеговна", "2014-02-01"],
                 ["0006", "m", "Титов Ян Ильич", "2014-05-05"]],
    "enrollments": [*MINI["enrollments"], ["0005", "S02-2025-5А"], ["0006", "S02-2025-5А"]],
    "assignments": [["teacher_id", "class_id", "subject", "hours_per_week"],
                    ["T01", "S01-2025-5А", "Математика", "16"], ["T01", "S01-2025-6А", "Математика", "12"],
                    ["T02", "S01-2025-5А", "Русский язык", "27"], ["T03", "S01-2025-6А", "Русский язык", "5"],
                    ["T04", "S02-2025-5А", "Математика", "5"], ["T05", "S02-2025-5А", "Русский язык", "5"]],
    "period_marks": [*MINI["period_marks"],
                     ["0003", "S01-2025-6А", "История", "year", "4"], ["0004", "S01-2025-6А", "История", "year", "5"],
                     ["0005", "S02-2025-5А", "Математика", "year", "4"]],
}


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cond")
    ingest(write_folder(tmp / "data", TABLES), tmp / "w.duckdb")
    con = connect(tmp / "w.duckdb")
    yield school_context(con, "S01", 2025)
    con.close()


def _row(res, group):
    s = res.staffing.set_index("group")
    return s.loc[group]


def test_staff_shares_counts_and_wilson_intervals(res):
    assert res.staff_summary["teachers"] == 3
    cases = {  # group: (k, n, k_mun, n_mun)
        "категория: высшая": (1, 3, 1, 2), "категория: первая": (1, 3, 0, 2),
        "категория: соответствие": (0, 3, 1, 2), "категория: без категории": (1, 3, 0, 2),
        "стаж до 5 лет": (1, 3, 0, 2), "стаж 5–9 лет": (1, 3, 0, 2),  # 5 years is the 5–9 band
        "стаж 20–29 лет": (1, 3, 0, 2), "стаж 30 лет и более": (0, 3, 1, 2),
        "моложе 30 лет": (2, 3, 0, 2), "55 лет и старше": (0, 3, 1, 2),
        # higher pedagogical: T05's value is unknown, so the municipality's share is over 1 teacher
        "высшее педагогическое образование": (2, 3, 1, 1),
        # PD: T03 unknown (not counted as "no"); T05 with exactly 36 hours is covered
        "повышение квалификации не менее 36 ч за 3 года": (1, 2, 2, 2),
    }
    for group, (k, n, ko, no) in cases.items():
        r = _row(res, group)
        assert (r["k"], r["n"], r["k_mun"], r["n_mun"]) == (k, n, ko, no), group
        lo, hi = wilson_interval(k, n)
        assert r["share"] == pytest.approx(k / n) and r["share_lower"] == pytest.approx(lo)
        assert r["share_upper"] == pytest.approx(hi)
        assert r["diff"] == pytest.approx(k / n - ko / no)
    assert res.staff_summary["share_pd"] == pytest.approx(0.5)
    assert not res.staffing["differs"].any()  # 3 against 2 teachers: nothing is beyond noise


def test_overload_rule_is_strictly_above_27_hours(res):
    tl = res.teacher_load.set_index("teacher_id")
    assert tl.loc["T01", "hours"] == 28 and bool(tl.loc["T01", "overloaded"])
    assert tl.loc["T02", "hours"] == 27 and not bool(tl.loc["T02", "overloaded"])  # exactly 1.5 rates: not over
    assert tl.loc["T01", "rates"] == pytest.approx(28 / 18)
    load = res.load.set_index("subject")
    assert load.loc["Математика", "hours"] == 28 and load.loc["Математика", "teachers"] == 1
    assert load.loc["Русский язык", "hours_per_teacher"] == pytest.approx(16)
    assert load.loc["Математика", "overloaded"] == 1 and load.loc["Русский язык", "overloaded"] == 0
    over = [f for f in res.findings if f.kind == "teacher_overload"]
    assert [(f.subject, f.area, f.polarity, f.estimate, f.n) for f in over] == [
        ("Математика", "conditions", "problem", 1.0, 1)]
    assert "28" in over[0].evidence and "27" in over[0].evidence


def test_vacancy_is_a_taught_class_without_a_teacher(res):
    load = res.load.set_index("subject")
    assert load.loc["История", "classes_without_teacher"] == 1 and load.loc["История", "vacancy_classes"] == "6А"
    assert load.loc["Математика", "classes_without_teacher"] == 0
    gaps = [f for f in res.findings if f.kind == "staffing_gap"]
    assert [(f.subject, f.estimate, f.target_type) for f in gaps] == [("История", 1.0, "subject")]
    assert "6А" in gaps[0].evidence and gaps[0].recommendation.control_metric == "classes_without_teacher"


def test_findings_follow_the_contract_and_options_change_the_rules(res, tmp_path):
    validate_document({"school_id": "S01", "year": 2025, "toolkit_version": "test",
                       "findings": [f.to_dict() for f in res.findings], "decision_evaluations": [], "skipped": []})
    ingest(write_folder(tmp_path / "data", TABLES), tmp_path / "w.duckdb")
    con = connect(tmp_path / "w.duckdb")
    try:
        loose = school_context(con, "S01", 2025, overload_rates=2.0, pd_min_hours=10)
    finally:
        con.close()
    assert not [f for f in loose.findings if f.kind == "teacher_overload"]
    assert loose.staff_summary["share_pd"] == pytest.approx(1.0)


def test_public_tables_name_no_teacher(res):
    public = gx.teacher_load_table(res, public=True)
    assert "T01" not in public.to_string() and public["учителей"].sum() == 3
    internal = gx.teacher_load_table(res, public=False)
    assert "T01" in internal.to_string()
    table = gx.staffing_table(res)
    assert list(table["учителей"])[:1] == ["1 из 3"]
    assert "6А" in gx.load_table(res).to_string()
