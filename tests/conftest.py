"""Shared fixtures: a tiny hand-made data folder whose every row is known."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

MINI: dict[str, list[list[str]]] = {
    "schools": [["school_id", "name", "municipality", "locality", "social_index"],
                ["S01", "МБОУ СОШ № 1", "Энск", "city", "0.4"]],
    "teachers": [["teacher_id", "school_id", "full_name", "category", "experience_years", "pd_hours_3y"],
                 ["T01", "S01", "Иванова Мария Петровна", "highest", "21", "72"],
                 ["T02", "S01", "Петров Олег Ильич", "first", "5", "36"]],
    "classes": [["class_id", "school_id", "year", "grade", "letter", "homeroom_teacher_id"],
                ["S01-2025-5А", "S01", "2025", "5", "А", "T01"],
                ["S01-2025-6А", "S01", "2025", "6", "А", "T02"]],
    "students": [["student_id", "sex", "full_name", "birth_date"],
                 ["0001", "f", "Смирнова Анна Олеговна", "2014-03-01"],
                 ["0002", "m", "Кузнецов Иван Андреевич", "2014-07-12"],
                 ["0003", "f", "Попова Ольга Сергеевна", "2013-01-30"],
                 ["0004", "m", "Соколов Пётр Ильич", "2013-11-02"]],
    "enrollments": [["student_id", "class_id"],
                    ["0001", "S01-2025-5А"], ["0002", "S01-2025-5А"],
                    ["0003", "S01-2025-6А"], ["0004", "S01-2025-6А"]],
    "assignments": [["teacher_id", "class_id", "subject"],
                    ["T01", "S01-2025-5А", "Математика"], ["T02", "S01-2025-6А", "Математика"]],
    "period_marks": [["student_id", "class_id", "subject", "period", "mark"],
                     ["0001", "S01-2025-5А", "Математика", "year", "5"],
                     ["0002", "S01-2025-5А", "Математика", "year", "3"],
                     ["0003", "S01-2025-6А", "Математика", "year", "4"],
                     ["0004", "S01-2025-6А", "Математика", "year", "н/а"]],
    "assessments": [["student_id", "class_id", "kind", "subject", "date", "primary_score", "mark"],
                    ["0001", "S01-2025-5А", "VPR", "Математика", "2025-04-10", "12", "5"],
                    ["0002", "S01-2025-5А", "VPR", "Математика", "2025-04-10", "5", "3"]],
    "assessment_specs": [["kind", "subject", "grade", "year", "task", "max_score", "skill", "region_pct", "russia_pct"],
                         ["VPR", "Математика", "5", "2025", "1", "1", "Действия с числами", "80", "78"],
                         ["VPR", "Математика", "5", "2025", "2", "2", "Текстовые задачи", "55.5", "57"]],
    "assessment_items": [["student_id", "kind", "subject", "year", "task", "score"],
                         ["0001", "VPR", "Математика", "2025", "1", "1"],
                         ["0001", "VPR", "Математика", "2025", "2", "2"],
                         ["0002", "VPR", "Математика", "2025", "1", "0"],
                         ["0002", "VPR", "Математика", "2025", "2", "1"]],
}


def write_folder(folder: Path, tables: dict[str, list[list[str]]], encoding="utf-8", delimiter=",") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with open(folder / f"{name}.csv", "w", encoding=encoding, newline="") as fh:
            csv.writer(fh, delimiter=delimiter).writerows(rows)
    return folder


@pytest.fixture
def mini(tmp_path) -> Path:
    """A valid tiny data folder (1 school, 2 classes, 4 students)."""
    return write_folder(tmp_path / "mini", {k: [list(r) for r in v] for k, v in MINI.items()})


@pytest.fixture(scope="session")
def sample_db_path(tmp_path_factory) -> Path:
    """The sample municipality ingested once per test process (xdist worker). Open it read-only only: a
    read-write connection in the same process would clash with the others' configuration."""
    from vsoko_toolkit import ingest

    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    ingest(Path(__file__).resolve().parents[1] / "data_samples" / "municipality", db)
    return db


@pytest.fixture(scope="module")
def sample_con(sample_db_path):
    """A read-only connection to the shared sample warehouse, one per test module."""
    import duckdb

    con = duckdb.connect(str(sample_db_path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session")
def public_school_run(tmp_path_factory):
    """The demo school of the sample municipality run once per test process in the public profile (every
    chapter, papermill): (sample folder, RunResult). Shared by the public-build and site tests; read it, never
    write into it."""
    from vsoko_toolkit import ingest
    from vsoko_toolkit.pipeline.demo import demo_school, sample_folder
    from vsoko_toolkit.pipeline.run import run_school

    ws = tmp_path_factory.mktemp("public")
    folder = sample_folder(ws)
    ingest(folder, ws / "w.duckdb")
    school, year = demo_school(folder, ws / "w.duckdb")
    res = run_school(ws / "w.duckdb", school, year, "public", ws / "out")
    return folder, res
