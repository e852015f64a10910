"""What data a warehouse holds: rows per contract table and filled values per column.

The readiness report (:mod:`vsoko_toolkit.analysis.readiness`) reads this profile to say which
analyses can run, which run on a fall-back and which cannot. In the warehouse every contract
table and column exists (an absent optional table is empty, an absent optional column is NULL),
so "present" means rows and non-NULL values, counted here in one query per table.
"""

from __future__ import annotations

from ..contract.normalize import q
from ..contract.spec import TABLES
from .schema import table_columns


def data_profile(con, school_id: str | None = None, year: int | None = None) -> dict[str, dict]:
    """``{table: {"rows": int, "columns": {column: n_non_null}, "years": [int, ...]}}`` for every
    contract table (a table missing from ``con`` counts as empty).

    ``school_id`` / ``year`` restrict the tables that carry ``school_id`` / ``year`` (others are
    counted whole: students, survey items, the task specifications). ``years`` lists the distinct
    years of tables with a year (for "two years of marks" needs), up to ``year`` when given.
    """
    out: dict[str, dict] = {}
    for name, table in TABLES.items():
        present = table_columns(con, name)
        cols = [c.name for c in table.columns if c.name in present]
        if not present:
            out[name] = {"rows": 0, "columns": {c.name: 0 for c in table.columns}, "years": []}
            continue
        where = []
        params: list = []
        if school_id is not None and "school_id" in present:
            where.append("school_id = ?")
            params.append(str(school_id))
        has_year = "year" in present
        if year is not None and has_year:
            where.append("year <= ?")
            params.append(int(year))
        w = f" WHERE {' AND '.join(where)}" if where else ""
        counts = ", ".join(["count(*)"] + [f"count({q(c)})" for c in cols])
        years = ", list(DISTINCT year ORDER BY year)" if has_year else ""
        row = con.execute(f"SELECT {counts}{years} FROM main.{q(name)}{w}", params).fetchone()
        filled = dict(zip(cols, (int(x) for x in row[1:len(cols) + 1]), strict=True))
        out[name] = {"rows": int(row[0]),
                     "columns": {c.name: filled.get(c.name, 0) for c in table.columns},
                     "years": [int(y) for y in (row[-1] or []) if y is not None] if has_year else []}
    return out
