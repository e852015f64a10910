"""Ingest throughput and peak memory on a large period_marks table.

Prints our ingest's rows/s next to DuckDB's raw ``read_csv`` of the same file in
the same run (the ratio is the figure; aim: within 2x), and the peak resident
memory of each (measured in a child process, so the figures are independent).

    python bench/bench_ingest.py [--rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

SUBJECTS = ["Математика", "Русский язык", "Литература", "Английский язык", "История", "Обществознание",
            "География", "Биология", "Физика", "Химия", "Информатика", "Технология", "Музыка",
            "Изобразительное искусство", "Физическая культура", "ОБЗР", "Астрономия", "Родной язык",
            "Родная литература", "Индивидуальный проект"]
PERIODS = ["q1", "q2", "q3", "q4", "year"]


def make_folder(folder: Path, rows: int) -> Path:
    """A valid folder: n_students × 20 subjects × 5 periods ≈ rows period marks."""
    n_students = max(1, rows // (len(SUBJECTS) * len(PERIODS)))
    n_classes = max(1, n_students // 25)
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"""
        CREATE TABLE cls AS SELECT 'S' || lpad(CAST(i % 50 AS VARCHAR), 2, '0') AS school_id, i AS k,
               'C' || lpad(CAST(i AS VARCHAR), 6, '0') AS class_id, 5 + i % 5 AS grade FROM range({n_classes}) t(i);
        CREATE TABLE st AS SELECT lpad(CAST(i AS VARCHAR), 7, '0') AS student_id, i % {n_classes} AS k
          FROM range({n_students}) t(i);
        COPY (SELECT DISTINCT school_id, 'Школа ' || school_id AS name, 'Энск' AS municipality FROM cls)
          TO '{folder}/schools.csv' (HEADER);
        COPY (SELECT DISTINCT 'T' || school_id AS teacher_id, school_id, 'first' AS category, 10 AS experience_years
          FROM cls) TO '{folder}/teachers.csv' (HEADER);
        COPY (SELECT class_id, school_id, 2025 AS year, grade, 'А' AS letter FROM cls) TO '{folder}/classes.csv' (HEADER);
        COPY (SELECT student_id FROM st) TO '{folder}/students.csv' (HEADER);
        COPY (SELECT student_id, class_id FROM st JOIN cls USING (k)) TO '{folder}/enrollments.csv' (HEADER);
        COPY (SELECT 'T' || school_id AS teacher_id, class_id, 'Математика' AS subject FROM cls)
          TO '{folder}/assignments.csv' (HEADER);
        COPY (SELECT student_id, class_id, s.subject, p.period,
                     CAST(2 + (hash(student_id || s.subject || p.period) % 4) AS VARCHAR) AS mark
                FROM st JOIN cls USING (k)
                CROSS JOIN (SELECT unnest({SUBJECTS!r}) AS subject) s
                CROSS JOIN (SELECT unnest({PERIODS!r}) AS period) p)
          TO '{folder}/period_marks.csv' (HEADER);
    """)
    return folder


def child(mode: str, folder: str, db: str) -> None:
    t0 = time.perf_counter()
    if mode == "raw":
        con = duckdb.connect(db)
        n = con.execute(f"CREATE TABLE pm AS SELECT * FROM read_csv('{folder}/period_marks.csv')").fetchone()[0]
        con.close()
    else:
        from vsoko_toolkit import ingest

        rep = ingest(folder, db)
        n = int(rep.tables.set_index("table").loc["period_marks", "read"])
        assert rep.n_rejected == 0, rep.rejects.head()
    secs = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": n, "seconds": secs, "peak_mb": peak_mb}))


def run_child(mode: str, folder: Path, db: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(folder), str(db)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--child", nargs=3)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        folder = make_folder(tmp / "data", a.rows)
        size = (folder / "period_marks.csv").stat().st_size / 2**20
        print(f"данные: {a.rows:,} строк period_marks ({size:.0f} МБ), сгенерировано за {time.perf_counter() - t0:.1f} с")
        raw = run_child("raw", folder, tmp / "raw.duckdb")
        ours = run_child("ingest", folder, tmp / "w.duckdb")
    r_raw, r_ours = raw["rows"] / raw["seconds"], ours["rows"] / ours["seconds"]
    print(f"{'':32}{'строк/с':>14}{'время, с':>10}{'пик памяти, МБ':>16}")
    print(f"{'DuckDB read_csv (база)':32}{r_raw:>14,.0f}{raw['seconds']:>10.1f}{raw['peak_mb']:>16.0f}")
    print(f"{'vsoko ingest (всё, с проверкой)':32}{r_ours:>14,.0f}{ours['seconds']:>10.1f}{ours['peak_mb']:>16.0f}")
    print(f"отношение времени ingest / read_csv: {ours['seconds'] / raw['seconds']:.2f}× (цель ≤ 2×)")


if __name__ == "__main__":
    main()
