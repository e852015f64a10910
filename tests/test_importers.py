"""Importers: shipped profiles on the example exports, profile errors, problems, YAML-only profiles.

Expected cell values below were read by hand from the example files
(``data_samples/raw/``, made by ``make_examples.py``); row numbers are as Excel shows them.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import textwrap
from pathlib import Path

import openpyxl
import pytest
from conftest import MINI, write_folder

from vsoko_toolkit import validate_folder
from vsoko_toolkit.errors import OptionError
from vsoko_toolkit.importers import ProfileError, import_files, list_profiles, load_profile

RAW = Path(__file__).resolve().parents[1] / "data_samples" / "raw"
EJ = RAW / "ejournal_summary_5B.xlsx"
BLOCKS = RAW / "ejournal_blocks_7V.xlsx"
VPR = RAW / "vpr_5B_matematika.xlsx"
CODES = RAW / "vpr_codes_5B.csv"
S01 = {"school": "S01"}

#: ВПР «Математика. 5 класс» task maxima of the example (make_examples.VPR_TASKS).
VPR_MAX = {
    "1": 1,
    "2": 2,
    "3": 1,
    "4": 1,
    "5": 1,
    "6.1": 1,
    "6.2": 1,
    "7": 2,
    "8": 1,
    "9": 2,
    "10": 2,
}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def find(rows, **kw) -> dict[str, str]:
    hits = [r for r in rows if all(r.get(k) == v for k, v in kw.items())]
    assert len(hits) == 1, (kw, hits)
    return hits[0]


def test_shipped_profiles_load():
    assert {"ejournal_summary", "ejournal_blocks", "vpr_class_results"} <= set(list_profiles())
    for name in list_profiles():
        assert load_profile(name).tables
    assert load_profile("vpr_class_results").tables == ["assessments", "assessment_items"]


def test_example_files_are_reproducible(tmp_path):
    spec = importlib.util.spec_from_file_location("make_examples", RAW / "make_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path)
    for name in (
        "ejournal_summary_5B.xlsx",
        "ejournal_blocks_7V.xlsx",
        "vpr_5B_matematika.xlsx",
        "vpr_codes_5B.csv",
    ):
        assert (tmp_path / name).read_bytes() == (RAW / name).read_bytes(), name


def test_ejournal_summary_exact_values(tmp_path):
    res = import_files("ejournal_summary", [EJ], tmp_path, {"school_id": "S01", "year": 2025})
    assert res.ok, str(res)
    assert res.counts == {"period_marks": 8 * 9 * 5, "classes": 1, "students": 8, "enrollments": 8}
    pm = read_csv(tmp_path / "period_marks.csv")
    cls = "S01-2025-5Б"
    assert (
        find(pm, student_id="1001", subject="Литература", period="q1")["mark"] == "2"
    )  # E8, «1 четверть»
    assert (
        find(pm, student_id="1004", subject="История", period="q2")["mark"] == "н/а"
    )  # G11, «2 четверть»
    assert (
        find(pm, student_id="1006", subject="Физическая культура", period="year")["mark"] == "осв"
    )
    assert find(pm, student_id="1003", subject="Математика", period="year") == {
        "student_id": "1003",
        "class_id": cls,
        "subject": "Математика",
        "period": "year",
        "mark": "5",
    }
    assert find(pm, student_id="1005", subject="ОДНКНР", period="q3")["mark"] == "зач"
    assert not [r for r in pm if r["subject"] in ("Средний балл", "№")]
    assert read_csv(tmp_path / "classes.csv") == [
        {"class_id": cls, "school_id": "S01", "year": "2025", "grade": "5", "letter": "Б"}
    ]
    assert (
        find(read_csv(tmp_path / "students.csv"), student_id="1002")["full_name"]
        == "Белов Артём Сергеевич"
    )
    # the summary row and the extra sheet are skipped on purpose, and say so
    notes = res.notes_frame()
    assert ((notes.sheet == "1 четверть") & (notes.row == 16)).any()
    assert (notes.sheet == "Сведения").any()


def test_ejournal_blocks_exact_values(tmp_path):
    res = import_files(
        "ejournal_blocks", [BLOCKS], tmp_path, S01
    )  # year from «Учебный год: 2024/2025»
    assert res.ok, str(res)
    assert res.counts["period_marks"] == 6 * 4 * 5
    pm = read_csv(tmp_path / "period_marks.csv")
    # «2 четверть» stands over its first subject only: the block still reads as q2
    assert find(pm, student_id="2002", subject="Геометрия", period="q2")["mark"] == "5"  # J8
    assert find(pm, student_id="2004", subject="Алгебра", period="q2")["mark"] == "2"  # I10
    assert find(pm, student_id="2003", subject="Физика", period="year")["mark"] == "5"  # W9
    assert {r["class_id"] for r in pm} == {"S01-2025-7В"}


def test_vpr_exact_values_with_codes(tmp_path):
    res = import_files("vpr_class_results", [VPR], tmp_path, {**S01, "codes": CODES})
    assert res.ok, str(res)
    assert res.counts == {"assessments": 7, "assessment_items": 7 * 11}
    a = read_csv(tmp_path / "assessments.csv")
    assert find(a, student_id="1002") == {
        "student_id": "1002",
        "class_id": "S01-2025-5Б",
        "kind": "VPR",
        "subject": "Математика",
        "date": "2025-04-15",
        "primary_score": "8",
        "mark": "3",
        "variant": "1",
        "journal_mark": "4",
    }
    assert find(a, student_id="1006")["primary_score"] == "14"
    items = read_csv(tmp_path / "assessment_items.csv")
    assert find(items, student_id="1002", task="8")["score"] == "0"  # «X»: did not attempt
    assert find(items, student_id="1003", task="6.1") == {
        "student_id": "1003",
        "kind": "VPR",
        "subject": "Математика",
        "year": "2025",
        "task": "6.1",
        "score": "1",
    }
    assert not [r for r in items if r["student_id"] == "Максимальный балл"]


def test_vpr_codes_one_to_one_and_date_option(tmp_path):
    res = import_files("vpr_class_results", [VPR], tmp_path, {**S01, "date": "16.04.2025"})
    assert res.ok
    a = read_csv(tmp_path / "assessments.csv")
    assert {r["student_id"] for r in a} == {str(50100 + i) for i in range(1, 8)}
    assert {r["date"] for r in a} == {"2025-04-16"}  # the option wins over the sheet


def test_unmapped_participant_code_is_a_listed_problem(tmp_path):
    codes = tmp_path / "codes.csv"
    codes.write_text(
        "код,student_id\n" + "".join(f"{50100 + i},{1000 + i}\n" for i in (1, 2, 4, 5, 6, 7)),
        encoding="utf-8",
    )
    res = import_files("vpr_class_results", [VPR], tmp_path / "out", {**S01, "codes": codes})
    assert not res.ok
    assert res.counts == {"assessments": 6, "assessment_items": 6 * 11}
    probs = res.problems_frame()
    assert set(probs.row) == {10} and set(probs.cell) == {"B10"}  # 50103 is on row 10
    assert probs.message.str.contains("50103").all()
    assert set(probs.message.str.extract(r"в (\w+)$")[0]) == {"assessments", "assessment_items"}
    assert "1003" not in {r["student_id"] for r in read_csv(tmp_path / "out" / "assessments.csv")}


def contract_folder(tmp_path: Path) -> Path:
    """MINI plus the specs of the example ВПР, ready to receive the imported tables."""
    t = copy.deepcopy(MINI)
    t["assessment_specs"] += [
        ["VPR", "Математика", "5", "2025", task, str(mx), f"Умение {task}", "", ""]
        for task, mx in VPR_MAX.items()
        if task not in ("1", "2")
    ]
    return write_folder(tmp_path / "data", t)


def test_imported_tables_validate_with_zero_rejects(tmp_path):
    folder = contract_folder(tmp_path)
    r1 = import_files("ejournal_summary", [EJ], folder, S01)
    r2 = import_files("vpr_class_results", [VPR], folder, {**S01, "codes": CODES})
    r3 = import_files("ejournal_blocks", [BLOCKS], folder, S01)
    assert r1.ok and r2.ok and r3.ok
    rep = validate_folder(folder, rejects_dir=tmp_path / "rej")
    assert rep.n_rejected == 0, rep.rejects.head(20).to_string()
    read = rep.tables.set_index("table")["read"]
    mini = {k: len(v) - 1 for k, v in MINI.items()}
    assert read["period_marks"] == mini["period_marks"] + 360 + 120
    assert read["assessments"] == mini["assessments"] + 7
    assert read["assessment_items"] == mini["assessment_items"] + 77
    assert read["students"] == mini["students"] + 8 + 6
    assert read["classes"] == mini["classes"] + 2


def test_merge_is_an_idempotent_upsert(tmp_path):
    folder = contract_folder(tmp_path)
    import_files("ejournal_summary", [EJ], folder, S01)
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    res = import_files("ejournal_summary", [EJ], folder, S01)
    assert res.added == {"period_marks": 0, "classes": 0, "students": 0, "enrollments": 0}
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first
    students = read_csv(folder / "students.csv")
    assert (
        find(students, student_id="0001")["sex"] == "f"
    )  # rows already there are kept as they were


def test_bad_profile_key_fails_in_russian_naming_file_and_key(tmp_path):
    good = load_profile("ejournal_summary").path.read_text(encoding="utf-8")
    bad = tmp_path / "my_journal.yaml"
    bad.write_text(good.replace("columns:\n  code:", "colums:\n  code:"), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"my_journal\.yaml.*неизвестный ключ «colums»"):
        load_profile(bad)
    bad.write_text(good.replace("  rows: 1", "  rowz: 1"), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"my_journal\.yaml.*«rowz».*«header»"):
        load_profile(bad)
    bad.write_text(
        good.replace('      mark: "{mark}"', '      mark: "{mark}"\n      grade: "5"'),
        encoding="utf-8",
    )
    with pytest.raises(
        ProfileError, match=r"my_journal\.yaml.*outputs\[0\]\.fields\.grade.*period_marks"
    ):
        load_profile(bad)
    bad.write_text(good.replace('subject: "{subject}"', 'subject: "{subjekt}"'), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"«outputs\[0\]\.fields\.subject».*«subjekt»"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="Встроенные профили"):
        load_profile("no_such_profile")


def test_missing_required_option_names_the_cli_flag(tmp_path):
    with pytest.raises(OptionError, match="--school"):
        import_files("ejournal_summary", [EJ], tmp_path, {"year": 2025})


def test_bad_cells_and_missing_class_are_listed_not_dropped(tmp_path):
    wb = openpyxl.load_workbook(EJ)
    wb["1 четверть"]["E8"] = "отл"  # not a mark
    wb["2 четверть"]["A3"] = (
        "Классный руководитель: Иванова М. П."  # the class is gone from this sheet
    )
    wb.copy_worksheet(wb["Год"]).title = "Итоговые"  # the year again, one mark different
    wb["Итоговые"]["F9"] = 2
    broken = tmp_path / "broken.xlsx"
    wb.save(broken)
    res = import_files("ejournal_summary", [broken], tmp_path / "out", S01)
    probs = res.problems_frame()
    bad_mark = probs[(probs.sheet == "1 четверть")]
    assert (
        list(bad_mark.cell) == ["E8"] and "«отл» не является отметкой" in bad_mark.message.iloc[0]
    )
    no_class = probs[probs.sheet == "2 четверть"]
    assert len(no_class) == 1 and "класс" in no_class.message.iloc[0]
    assert "строки 8–16" in no_class.message.iloc[0]
    dup = probs[probs.sheet == "Итоговые"]
    assert list(dup.cell) == ["F9"] and "повтор ключа" in dup.message.iloc[0]
    assert len(probs) == 3
    assert res.counts["period_marks"] == 360 - 72 - 1  # the quarter without a class, the bad cell


PROFILE_SUBJECT_OVER_PERIOD = """
name: school_report_v2
title: Ведомость «предмет над четвертями», только ФИО
format: xlsx
requires: [school_id, year]
context:
  class: {search: ["_(\\\\d{1,2}[а-яё])$"], in: [file_name], required: true}
header: {find: ["^ученик$"], rows: 2}
columns:
  full_name: {header: ["Ученик"], required: true}
wide:
  marks:
    columns: rest
    levels: [subject, period]
    value: mark
values:
  class: {case: upper}
  period: {map: {I: q1, II: q2, III: q3, IV: q4, Итог: year}}
  mark: {map: {"осв.": осв}}
lookups:
  student_id: {option: codes, keys: ["{full_name}"]}
outputs:
  - table: period_marks
    each: marks
    fields:
      student_id: "{student_id}"
      class_id: "{school_id}-{year}-{class}"
      subject: "{subject}"
      period: "{period}"
      mark: "{mark}"
"""


def test_new_profile_in_yaml_only_imports_a_different_shape(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Ведомость"
    ws.append(["Итоги успеваемости"])
    ws.append(
        ["Ученик", "Математика", None, None, None, None, "Русский язык", None, None, None, None]
    )
    ws.append([None, "I", "II", "III", "IV", "Итог", "I", "II", "III", "IV", "Итог"])
    ws.merge_cells("A2:A3")
    ws.merge_cells("B2:F2")
    ws.merge_cells("G2:K2")
    ws.append(["Смирнова Анна Олеговна", 5, 5, 4, 5, 5, 4, 4, 4, 5, 4])
    ws.append(["Кузнецов  Иван Андреевич", 3, 3, "н/а", 3, 3, 3, 4, 3, 3, 3])
    ws.append(["Неизвестный Ученик", 4, 4, 4, 4, 4, 4, 4, 4, 4, 4])
    export = tmp_path / "ведомость_5а.xlsx"
    wb.save(export)
    codes = tmp_path / "names.csv"
    codes.write_text(
        "ФИО;student_id\nСмирнова Анна Олеговна;0001\nКузнецов Иван Андреевич;0002\n",
        encoding="cp1251",
    )
    prof = tmp_path / "school_report_v2.yaml"
    prof.write_text(textwrap.dedent(PROFILE_SUBJECT_OVER_PERIOD), encoding="utf-8")

    folder = write_folder(
        tmp_path / "data", {k: v for k, v in copy.deepcopy(MINI).items() if k != "period_marks"}
    )
    res = import_files(prof, [export], folder, {"school": "S01", "year": 2025, "codes": codes})
    assert res.counts == {"period_marks": 2 * 10}
    probs = res.problems_frame()
    assert (
        list(probs.row.unique()) == [6] and probs.message.str.contains("Неизвестный Ученик").all()
    )
    pm = read_csv(folder / "period_marks.csv")
    assert find(pm, student_id="0002", subject="Математика", period="q3")["mark"] == "н/а"
    assert find(pm, student_id="0001", subject="Русский язык", period="year") == {
        "student_id": "0001",
        "class_id": "S01-2025-5А",
        "subject": "Русский язык",
        "period": "year",
        "mark": "4",
    }
    assert validate_folder(folder, rejects_dir=tmp_path / "rej").n_rejected == 0


PROFILE_CSV = """
format: csv
requires: [school_id, date]
context:
  subject: {search: ["^впр_(.+?)_\\\\d"], in: [file_name], required: true}
  class: {search: ["_(\\\\d{1,2}[а-яё])$"], in: [file_name], required: true}
columns:
  code: {header: ["Участник"], required: true}
  primary_score: {header: ["Баллы"], required: true}
  mark: {header: ["Оценка"]}
wide:
  tasks: {columns: ["^з\\\\d+$"], levels: [task], value: score}
values:
  subject: {map: {matem: Математика}}
  class: {case: upper}
  task: {regex: "(\\\\d+)"}
derive:
  year: {from: "{date}", transform: academic_year}
outputs:
  - table: assessments
    fields: {student_id: "{code}", class_id: "{school_id}-{year}-{class}", kind: ВПР,
             subject: "{subject}", date: "{date}", primary_score: "{primary_score}", mark: "{mark}"}
  - table: assessment_items
    each: tasks
    fields: {student_id: "{code}", kind: ВПР, subject: "{subject}", year: "{year}", task: "{task}",
             score: "{score}"}
"""


def test_new_csv_profile_in_yaml_only(tmp_path):
    export = tmp_path / "впр_matem_5а.csv"
    export.write_text(
        "Участник;з1;з2;Баллы;Оценка\n0001;1;2;3;5\n0002;0;1,0;1;3\n", encoding="cp1251"
    )
    prof = tmp_path / "vpr_csv.yaml"
    prof.write_text(textwrap.dedent(PROFILE_CSV), encoding="utf-8")
    res = import_files(prof, [export], tmp_path / "out", {"school": "S01", "date": "2025-04-10"})
    assert res.ok, str(res)
    a = read_csv(tmp_path / "out" / "assessments.csv")
    assert find(a, student_id="0002") == {
        "student_id": "0002",
        "class_id": "S01-2025-5А",
        "kind": "VPR",
        "subject": "Математика",
        "date": "2025-04-10",
        "primary_score": "1",
        "mark": "3",
    }
    items = read_csv(tmp_path / "out" / "assessment_items.csv")
    assert find(items, student_id="0002", task="2")["score"] == "1"


def test_names_only_journal_needs_codes_and_says_so_once_per_sheet(tmp_path):
    wb = openpyxl.load_workbook(EJ)
    for ws in wb.worksheets[1:]:
        ws.delete_cols(3)  # no «Код» column: only ФИО
    names_only = tmp_path / "names_only.xlsx"
    wb.save(names_only)
    res = import_files("ejournal_summary", [names_only], tmp_path / "a", S01)
    assert res.counts["period_marks"] == 0
    assert len(res.problems) == 5  # one per period sheet, naming what is missing and the rows
    assert all("нечем заполнить" in p.message and "строки 8–16" in p.message for p in res.problems)
    codes = tmp_path / "names.csv"
    codes.write_text(
        "ФИО,student_id\n" + "".join(f"{n.upper()},{i}\n" for i, n in STUDENTS_5B), encoding="utf-8"
    )
    res = import_files("ejournal_summary", [names_only], tmp_path / "b", {**S01, "codes": codes})
    assert res.ok and res.counts["period_marks"] == 360


STUDENTS_5B = [
    ("1001", "Алексеева Дарья Игоревна"),
    ("1002", "Белов Артём Сергеевич"),
    ("1003", "Васильева Полина Андреевна"),
    ("1004", "Григорьев Матвей Олегович"),
    ("1005", "Егорова Софья Дмитриевна"),
    ("1006", "Жуков Тимофей Павлович"),
    ("1007", "Зайцева Ева Романовна"),
    ("1008", "Ильин Глеб Викторович"),
]


def test_bad_optional_value_is_listed_and_the_row_kept(tmp_path):
    wb = openpyxl.load_workbook(VPR)
    wb.active["R9"] = "отл"  # «Отметка по журналу» of 50102
    wb.active["D10"] = None  # no variant for 50103: optional, nothing to report
    export = tmp_path / "vpr.xlsx"
    wb.save(export)
    res = import_files("vpr_class_results", [export], tmp_path / "out", S01)
    assert res.counts["assessments"] == 7
    assert [(p.row, p.cell) for p in res.problems] == [(9, "R9")]
    assert "journal_mark" in res.problems[0].message
    a = read_csv(tmp_path / "out" / "assessments.csv")
    assert find(a, student_id="50102")["journal_mark"] == ""
    assert find(a, student_id="50103")["variant"] == ""
