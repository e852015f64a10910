"""Each validation rule, the encodings and delimiters, on the tiny hand-made folder.

Row numbers are as the user sees them in the file: header = row 1.
"""

from __future__ import annotations

import copy

import duckdb
import pytest
from conftest import MINI, write_folder

from vsoko_toolkit import ingest, validate_folder
from vsoko_toolkit.errors import FatalInputError


def dirty_tables() -> tuple[dict, set[tuple[str, int, str, str]]]:
    """MINI in Russian labels and decimal commas, plus one bad row per rule (and the expected rejects)."""
    t = copy.deepcopy(MINI)
    t["teachers"][1][3] = "Высшая"
    t["teachers"][2][3] = "первая категория"
    t["period_marks"][1][3] = "годовая"
    t["period_marks"][2][3] = "Год"
    t["assessments"][1][2] = "ВПР"
    t["assessments"][1][4] = "10.04.2025"
    t["assessment_specs"][2][7] = "55,5"
    expected = set()

    def add(table, row, column, rule, rowno):
        t[table].append(row)
        expected.add((table, rowno, column, rule))

    add("period_marks", ["0001", "S01-2025-5А", "Русский язык", "year", "6"], "mark", "range", 6)
    add("period_marks", ["0002", "S01-2025-5А", "Русский язык", "year", "0"], "mark", "range", 7)
    add("period_marks", ["0003", "S01-2025-6А", "Русский язык", "year", "отлично"], "mark", "vocabulary", 8)
    add("period_marks", ["0003", "S01-2025-9Я", "Русский язык", "q1", "4"], "class_id", "foreign_key", 9)
    add("period_marks", ["0001", "S01-2025-6А", "Русский язык", "q1", "4"], "class_id", "mark_class", 10)
    add("period_marks", ["0001", "S01-2025-5А", "Математика", "годовая", "4"], "student_id+class_id+subject+period",
        "unique", 11)
    add("period_marks", ["0004", "S01-2025-6А", "Математика", "пятая четверть", "4"], "period", "vocabulary", 12)
    add("students", ["0002", "m", "Дубликат Иван", ""], "student_id", "unique", 6)
    add("students", ["", "f", "Без Номера", ""], "student_id", "required", 7)
    add("students", ["0009", "f", "Неверная Дата", "31.02.2014"], "birth_date", "type", 8)
    add("assessment_items", ["0002", "ВПР", "Математика", "2025", "2", "3"], "score", "max_score", 6)
    add("assessment_items", ["0001", "VPR", "Математика", "2025", "3", "abc"], "score", "type", 7)
    add("assessments", ["0003", "S01-2025-6А", "VPR", "Математика", "2025-10-01", "7", "4"], "date", "date_in_year", 4)
    add("assessments", ["0004", "S01-2025-6А", "VPR", "Математика", "2025-04-11", "семь", "4"], "primary_score",
        "type", 5)
    add("enrollments", ["0001", "S01-2025-6А"], "class_id", "one_class_per_year", 6)
    add("teachers", ["T03", "S01", "Сидоров", "кандидат", "3", ""], "category", "vocabulary", 4)
    add("classes", ["S01-2025-7А", "S01", "2025", "12", "А", ""], "grade", "range", 4)
    return t, expected


@pytest.mark.parametrize("encoding,delimiter", [("cp1251", ";"), ("utf-8-sig", ","), ("utf-8", ";")])
def test_dirty_folder_rejects_exactly_the_bad_rows(tmp_path, encoding, delimiter):
    tables, expected = dirty_tables()
    folder = write_folder(tmp_path / "dirty", tables, encoding=encoding, delimiter=delimiter)
    rep = validate_folder(folder, rejects_dir=tmp_path / "rej")
    got = {(r.table, int(r.row), r.column, r.rule) for r in rep.rejects.itertuples()}
    assert got == expected
    # counts reconcile: every data line is read; accepted + rejected = read
    for r in rep.tables.itertuples():
        assert r.read == len(tables[r.table]) - 1
        assert r.accepted + r.rejected == r.read
    assert rep.n_rejected == len(expected)
    assert (tmp_path / "rej" / "rejects.csv").exists()
    rows = (tmp_path / "rej" / "period_marks.rows.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + 7  # header + the seven rejected period-mark rows, as read


def test_rejects_name_value_and_explain_in_russian(tmp_path):
    tables, _ = dirty_tables()
    rep = validate_folder(write_folder(tmp_path / "d", tables, encoding="cp1251", delimiter=";"))
    r = rep.rejects.set_index(["table", "row"]).loc[("period_marks", 6)]
    assert r["value"] == "6" and "диапазон" in r["message"]
    r = rep.rejects.set_index(["table", "row"]).loc[("teachers", 4)]
    assert r["value"] == "кандидат" and "highest" in r["message"]


def test_labels_and_decimal_commas_are_normalised(tmp_path):
    tables, _ = dirty_tables()
    db = tmp_path / "w.duckdb"
    ingest(write_folder(tmp_path / "d", tables, encoding="cp1251", delimiter=";"), db)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT DISTINCT category FROM teachers ORDER BY 1").fetchall() == [("first",), ("highest",)]
    assert con.execute("SELECT count(*) FROM period_marks WHERE period = 'year'").fetchone()[0] == 4
    assert con.execute("SELECT region_pct FROM assessment_specs WHERE task = '2'").fetchone()[0] == 55.5
    assert con.execute("SELECT date FROM assessments WHERE student_id = '0001'").fetchone()[0].isoformat() == "2025-04-10"
    # ids stay strings with their leading zeros; non-numeric marks stay text, never numbers
    assert con.execute("SELECT mark, mark_value FROM period_marks WHERE student_id = '0004'").fetchone() == ("н/а", None)


def test_missing_required_table_is_fatal_in_russian(mini):
    (mini / "classes.csv").unlink()
    with pytest.raises(FatalInputError, match="classes.csv"):
        validate_folder(mini)


def test_missing_required_column_is_fatal(mini):
    text = (mini / "period_marks.csv").read_text(encoding="utf-8").replace("period,", "periodx,")
    (mini / "period_marks.csv").write_text(text, encoding="utf-8")
    with pytest.raises(FatalInputError, match="period"):
        validate_folder(mini)


def test_column_names_are_case_insensitive_and_extra_columns_ignored(mini):
    text = (mini / "students.csv").read_text(encoding="utf-8")
    text = text.replace("student_id,sex", "Student_ID,SEX", 1).replace("\n", ",x\n").replace(
        "birth_date,x", "birth_date,comment", 1)
    (mini / "students.csv").write_text(text, encoding="utf-8")
    rep = validate_folder(mini)
    assert rep.n_rejected == 0


def test_malformed_lines_are_rejected_not_lost(mini):
    with open(mini / "period_marks.csv", "a", encoding="utf-8") as fh:
        fh.write("0001,S01-2025-5А,Литература\n")  # too few fields
        fh.write("0002,S01-2025-5А,Литература,year,4,лишнее\n")  # too many
        fh.write("0002,S01-2025-5А,История,year,4\n")
    rep = validate_folder(mini)
    pm = rep.tables.set_index("table").loc["period_marks"]
    assert (pm.read, pm.accepted, pm.rejected) == (7, 5, 2)
    fmt = rep.rejects[rep.rejects.rule == "format"]
    assert sorted(fmt.row) == [6, 7]


def test_xlsx_rows_are_numbered_as_in_excel(mini, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Student_id", "class_id", "subject", "period", "mark"])
    ws.append(["0001", "S01-2025-5А", "Математика", "1 четверть", 5])
    ws.append([None, None, None, None, None])  # empty row: not a record, but numbering follows Excel
    ws.append(["0002", "S01-2025-5А", "Математика", "1 четверть", 7])
    wb.save(mini / "period_marks.xlsx")
    (mini / "period_marks.csv").unlink()
    rep = validate_folder(mini)
    assert rep.rejects[["table", "row", "rule"]].values.tolist() == [["period_marks", 4, "range"]]


def test_rows_appended_with_other_line_endings_are_not_merged(mini):
    with open(mini / "period_marks.csv", "a", encoding="utf-8", newline="") as fh:
        fh.write('""\n0002,S01-2025-5А,История,year,4\n')  # the file itself ends lines with \r\n
    rep = validate_folder(mini)
    pm = rep.tables.set_index("table").loc["period_marks"]
    assert (pm.read, pm.accepted, pm.rejected) == (6, 5, 1)
