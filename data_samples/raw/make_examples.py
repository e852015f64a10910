"""Make the example export files of ``data_samples/raw/`` (deterministic: same bytes every run).

Run from the repository root::

    .venv/bin/python data_samples/raw/make_examples.py

Writes
------
ejournal_summary_5B.xlsx
    E-journal summary sheet (сводная ведомость), one sheet per period, class 5Б, 2024/2025.
ejournal_blocks_7V.xlsx
    The same kind of report as one sheet with a column block per period (two-row header), class 7В.
vpr_5B_matematika.xlsx
    ВПР per-class results sheet: Математика, 5 класс, class 5Б, 15.04.2025.
vpr_codes_5B.csv
    Participant code -> student_id for the ВПР sheet (the ``--codes`` option).

The same children are in the e-journal of 5Б and in the ВПР sheet (codes 50101...
map to students 1001...), and the ВПР's «Отметка по журналу» is their third-quarter
mathematics mark in the e-journal, so the files agree with each other.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment, Font

HERE = Path(__file__).resolve().parent
FIXED_TIME = (2025, 6, 1, 0, 0, 0)
FIXED_ISO = "2025-06-01T00:00:00Z"

SCHOOL = "МБОУ «Средняя общеобразовательная школа № 1» г. Энска"

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
SUBJECTS_5B = [
    "Русский язык",
    "Литература",
    "Математика",
    "История",
    "Биология",
    "География",
    "Английский язык",
    "Физическая культура",
    "ОДНКНР",
]
QUARTERS = ["1 четверть", "2 четверть", "3 четверть", "4 четверть"]

STUDENTS_7V = [
    ("2001", "Кириллова Алиса Максимовна"),
    ("2002", "Лебедев Никита Ильич"),
    ("2003", "Морозова Вера Кирилловна"),
    ("2004", "Новиков Степан Антонович"),
    ("2005", "Орлова Мирослава Евгеньевна"),
    ("2006", "Павлов Лев Александрович"),
]
SUBJECTS_7V = ["Русский язык", "Алгебра", "Геометрия", "Физика"]

#: ВПР «Математика. 5 класс»: tasks and their maximum scores (primary-score total 15).
VPR_TASKS = [
    ("1", 1),
    ("2", 2),
    ("3", 1),
    ("4", 1),
    ("5", 1),
    ("6.1", 1),
    ("6.2", 1),
    ("7", 2),
    ("8", 1),
    ("9", 2),
    ("10", 2),
]
VPR_DATE = "15.04.2025"
VPR_SCALE = [(0, 2), (5, 3), (9, 4), (13, 5)]  # min primary score -> mark


def _student_marks(rng: random.Random, students, subjects, periods) -> dict:
    """marks[(student_id, subject, period)] -> text; a year mark follows the quarters."""
    marks: dict[tuple[str, str, str], str] = {}
    for i, (sid, _) in enumerate(students):
        level = 3 + (i % 3)  # 3, 4 or 5: each child's usual mark
        for subj in subjects:
            nums = []
            for per in periods:
                if subj == "Физическая культура" and sid == "1006":
                    marks[sid, subj, per] = "осв"  # exempt on medical grounds
                    continue
                if subj == "ОДНКНР":
                    marks[sid, subj, per] = "зач"
                    continue
                m = min(5, max(2, level + rng.choice([-1, 0, 0, 0, 1])))
                nums.append(m)
                marks[sid, subj, per] = str(m)
            if sid == "1004" and subj == "История":
                marks[sid, subj, periods[1]] = "н/а"  # long illness in the second quarter
            if subj == "Физическая культура" and sid == "1006":
                marks[sid, subj, "Год"] = "осв"
            elif subj == "ОДНКНР":
                marks[sid, subj, "Год"] = "зач"
            else:
                marks[sid, subj, "Год"] = str(round(sum(nums) / len(nums) + 1e-9))
    return marks


def _title(ws, text: str, width: int) -> None:
    ws["A1"] = text
    ws["A1"].font = Font(bold=True, size=13)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)


def make_ejournal_summary(path: Path, marks: dict) -> None:
    wb = openpyxl.Workbook()
    info = wb.active
    info.title = "Сведения"
    info["A1"] = "Выгрузка из электронного журнала"
    info["A2"] = SCHOOL
    info["A3"] = "Сформировано: 01.06.2025"
    for per in [*QUARTERS, "Год"]:
        ws = wb.create_sheet(per)
        width = 3 + len(SUBJECTS_5B) + 1
        _title(ws, "Сводная ведомость итоговых отметок", width)
        ws["A2"] = SCHOOL
        ws["A3"] = "Класс: 5Б"
        ws["A4"] = "Учебный год: 2024/2025"
        ws["A5"] = f"Период: {per}"
        header = ["№", "ФИО обучающегося", "Код", *SUBJECTS_5B, "Средний балл"]
        ws.append([])
        ws.append(header)
        for c in range(1, width + 1):
            ws.cell(7, c).font = Font(bold=True)
            ws.cell(7, c).alignment = Alignment(wrap_text=True)
        for i, (sid, name) in enumerate(STUDENTS_5B, start=1):
            row = [marks[sid, s, per] for s in SUBJECTS_5B]
            nums = [int(m) for m in row if m.isdigit()]
            ws.append(
                [
                    i,
                    name,
                    sid,
                    *[int(m) if m.isdigit() else m for m in row],
                    round(sum(nums) / len(nums), 2),
                ]
            )
        avg = []
        for s in SUBJECTS_5B:
            nums = [
                int(marks[sid, s, per]) for sid, _ in STUDENTS_5B if marks[sid, s, per].isdigit()
            ]
            avg.append(round(sum(nums) / len(nums), 2) if nums else None)
        ws.append(["", "Средний балл по классу", "", *avg, None])
        ws.column_dimensions["B"].width = 34
    _save(wb, path)


def make_ejournal_blocks(path: Path, marks: dict) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Итоговые отметки"
    periods = [*QUARTERS, "Год"]
    n = len(SUBJECTS_7V)
    width = 3 + n * len(periods)
    _title(ws, "Итоговые отметки обучающихся", width)
    ws["A2"] = SCHOOL
    ws["A3"] = "Класс: 7В     Учебный год: 2024/2025"
    top = ["№", "ФИО", "Код"]
    for per in periods:
        top += [per] + [None] * (n - 1)
    ws.append([])
    ws.append(top)  # row 5
    ws.append([None, None, None, *SUBJECTS_7V * len(periods)])  # row 6
    for c in range(1, 4):  # «№», «ФИО», «Код» span both header rows
        ws.merge_cells(start_row=5, start_column=c, end_row=6, end_column=c)
    for k, per in enumerate(periods):
        first = 4 + k * n
        if per != "2 четверть":  # «2 четверть» stands over its first subject only (not merged)
            ws.merge_cells(start_row=5, start_column=first, end_row=5, end_column=first + n - 1)
    for i, (sid, name) in enumerate(STUDENTS_7V, start=1):
        vals = [marks[sid, s, per] for per in periods for s in SUBJECTS_7V]
        ws.append([i, name, sid, *[int(v) if v.isdigit() else v for v in vals]])
    ws.column_dimensions["B"].width = 34
    _save(wb, path)


def _vpr_mark(score: int) -> int:
    return max(m for lo, m in VPR_SCALE if score >= lo)


def make_vpr(path: Path, codes_path: Path, marks_5b: dict, rng: random.Random) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Результаты"
    tasks = [t for t, _ in VPR_TASKS]
    width = 4 + len(tasks) + 3
    _title(ws, "ВПР. Математика. 5 класс", width)
    ws["A2"] = f"Образовательная организация: {SCHOOL}"
    ws["A3"] = "Класс: 5Б"
    ws["A4"] = "Дата проведения:"
    ws["C4"] = VPR_DATE
    ws.append([])
    ws.append(
        [
            "№",
            "Код участника",
            "Класс",
            "Вариант",
            *tasks,
            "Сумма баллов",
            "Отметка за работу",
            "Отметка по журналу",
        ]
    )  # row 6
    ws.append(
        [
            "",
            "Максимальный балл",
            "",
            "",
            *[m for _, m in VPR_TASKS],
            sum(m for _, m in VPR_TASKS),
            "",
            "",
        ]
    )  # row 7
    codes = []
    for i, (sid, _) in enumerate(STUDENTS_5B[:-1], start=1):  # 1008 was absent
        code = str(50100 + i)
        codes.append((code, sid))
        journal = int(marks_5b[sid, "Математика", "3 четверть"])
        scores: list[int | str] = []
        for _, mx in VPR_TASKS:
            p = 0.35 + 0.13 * journal - 0.25
            scores.append(sum(1 for _ in range(mx) if rng.random() < p))
        if sid == "1002":
            scores[8] = "X"  # did not attempt task 8
        total = sum(s for s in scores if isinstance(s, int))
        ws.append([i, code, "5Б", 1 + i % 2, *scores, total, _vpr_mark(total), journal])
    _save(wb, path)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["код", "student_id"])
    w.writerows(codes)
    codes_path.write_text(buf.getvalue(), encoding="utf-8")


def _save(wb: openpyxl.Workbook, path: Path) -> None:
    """Save with fixed document dates and zip timestamps, so that reruns give identical bytes."""
    wb.properties.creator = "vsoko_toolkit make_examples.py"
    wb.properties.created = dt.datetime(2025, 6, 1)
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(
                    r"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms)",
                    rf"\g<1>{FIXED_ISO}\2",
                    text,
                )
                data = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(zi, data)
    path.write_bytes(out.getvalue())


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    marks_5b = _student_marks(random.Random(5), STUDENTS_5B, SUBJECTS_5B, QUARTERS)
    marks_7v = _student_marks(random.Random(7), STUDENTS_7V, SUBJECTS_7V, QUARTERS)
    make_ejournal_summary(out / "ejournal_summary_5B.xlsx", marks_5b)
    make_ejournal_blocks(out / "ejournal_blocks_7V.xlsx", marks_7v)
    make_vpr(
        out / "vpr_5B_matematika.xlsx", out / "vpr_codes_5B.csv", marks_5b, random.Random(2025)
    )


if __name__ == "__main__":
    main()
