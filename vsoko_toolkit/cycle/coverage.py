"""Which procedures of a cyclogram this year's data covers: rows of each procedure's tables for the school.

A table's rows are counted for the school and the academic year the way the contract slices it
(``Table.slice_by``): tables of a class or of the school and year (``class``, ``own``) by their
``school_id`` and ``year``; a student's rows of a year (``student_year``: olympiads, task scores) for
the students enrolled in the school that year; the school's own entities (``school``: teachers) by
``school_id``; reference tables (task specifications, scales) by ``year`` when they have one.
"""

from __future__ import annotations

import pandas as pd

from ..contract.normalize import q
from ..contract.spec import TABLES
from ..warehouse.schema import table_columns
from .loader import Cyclogram, DataItem

#: Coverage statuses: every table has rows / some do / none does / the procedure produces no table.
STATUSES = ("covered", "partial", "absent", "no_data")


def item_rows(con, school_id: str, year: int, item: DataItem) -> int:
    """Rows of ``item`` (its table, with its filters) for ``school_id`` in ``year``; 0 when the table is
    absent from the warehouse."""
    cols = set(table_columns(con, item.table))
    if not cols:
        return 0
    where, params = [], []
    slice_by = TABLES[item.table].slice_by
    if "school_id" in cols and slice_by in ("class", "own", "school"):
        where.append("school_id = ?")
        params.append(str(school_id))
    elif slice_by == "student_year" and "student_id" in cols:
        where.append("student_id IN (SELECT student_id FROM main.enrollments WHERE school_id = ? AND year = ?)")
        params += [str(school_id), int(year)]
    if "year" in cols:
        where.append("year = ?")
        params.append(int(year))
    for col, value in item.filters:
        if col not in cols:
            return 0
        where.append(f"CAST({q(col)} AS VARCHAR) = ?")
        params.append(value)
    sql = f"SELECT count(*) FROM main.{q(item.table)}" + (f" WHERE {' AND '.join(where)}" if where else "")
    return int(con.execute(sql, params).fetchone()[0])


def coverage(con, school_id: str, year: int, cyclogram: Cyclogram) -> pd.DataFrame:
    """One row per procedure: ``id``, ``n_tables``, ``n_present`` (tables with rows), ``rows`` (per table,
    ``{label: rows}``), ``status`` (:data:`STATUSES`)."""
    rows = []
    for p in cyclogram.procedures:
        counts = {d.label(): item_rows(con, school_id, year, d) for d in p.data}
        present = sum(1 for n in counts.values() if n > 0)
        status = ("no_data" if not counts else "covered" if present == len(counts)
                  else "partial" if present else "absent")
        rows.append({"id": p.id, "n_tables": len(counts), "n_present": present, "rows": counts, "status": status})
    return pd.DataFrame(rows, columns=["id", "n_tables", "n_present", "rows", "status"])
