"""Opening the warehouse and describing what it holds."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from ..contract.normalize import q
from ..contract.spec import TABLES
from ..errors import FatalInputError
from .schema import has_table


def connect(db, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file ``db`` (read-only by default)."""
    db = Path(db)
    if not db.exists():
        raise FatalInputError(f"Хранилище {db} не найдено. Сначала загрузите данные: vsoko ingest ПАПКА --db {db}")
    return duckdb.connect(str(db), read_only=read_only)


def summary(db) -> dict[str, pd.DataFrame]:
    """What the warehouse holds.

    Returns
    -------
    dict with
        ``tables``: table, rows (every contract table);
        ``slices``: school_id, name, year, classes, students, period_marks, assessments (per school and year);
        ``ingests``: ingest_id, started_at, folder, toolkit_version.
    """
    con = connect(db)
    try:
        tables = pd.DataFrame(
            [(t, con.execute(f"SELECT count(*) FROM {q(t)}").fetchone()[0] if has_table(con, t) else 0) for t in TABLES],
            columns=["table", "rows"]
        )
        slices = con.execute(
            """SELECT c.school_id, s.name, c.year, count(DISTINCT c.class_id) AS classes,
                      count(DISTINCT e.student_id) AS students,
                      (SELECT count(*) FROM period_marks p WHERE p.school_id = c.school_id AND p.year = c.year) AS period_marks,
                      (SELECT count(*) FROM assessments a WHERE a.school_id = c.school_id AND a.year = c.year) AS assessments
                 FROM classes c JOIN schools s USING (school_id) LEFT JOIN enrollments e USING (class_id)
                GROUP BY ALL ORDER BY c.school_id, c.year"""
        ).df()
        ingests = con.execute("SELECT * FROM _ingests ORDER BY ingest_id").df()
    finally:
        con.close()
    return {"tables": tables, "slices": slices, "ingests": ingests}
