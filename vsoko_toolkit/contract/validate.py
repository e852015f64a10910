"""Validating one staged table: per-row rules with pandera, cross-row rules in DuckDB SQL.

The working connection holds the warehouse tables in ``main`` (the previous
warehouse plus what this run has accepted so far) and scratch tables in the
attached ``stage`` database. Every row read ends either accepted or with at
least one rejects entry ``(_rid, column, rule)``; nothing is dropped silently.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pandera.pandas as pa

from ..errors import FatalInputError
from .normalize import lit, q, typed_select
from .reader import SourceFile
from .rules import ranged, row_schema, schema_columns, value_column
from .spec import TABLES, Table

CHUNK_VECTORS = 256  # 256 × 2048 rows per pandera chunk


@dataclass
class Staged:
    """A table read into the stage: names of its scratch tables and reader counts."""

    table: Table
    source: SourceFile
    raw: str
    typed: str
    rej: str
    present: set[str]
    n_read: int
    n_format: int


def stage(con, src: SourceFile, workdir: Path) -> Staged:
    """Read ``src`` into the stage in one pass (typed values, statuses and raw text side by side).

    Lines the CSV reader cannot split into the table's columns go to rejects as rule ``format``.
    ``stage.<t>`` is a view adding ``_rid`` (record order) and ``_row`` (the row as the user sees it).
    """
    t = TABLES[src.table]
    store, typed, rej = (f"stage.{p}_{t.name}" for p in ("typed", "v", "rej"))
    present = set(src.columns)
    rt = f"rejects_{t.name}"
    try:
        _read(con, store, src.csv_path, src, present, rt)
    except duckdb.Error:
        # mixed or odd line endings can confuse the reader: normalise them and read again
        fixed = _normalise_newlines(src.csv_path, workdir)
        try:
            _read(con, store, fixed, src, present, rt)
        except duckdb.Error as exc:
            raise FatalInputError(
                f"Файл {src.path.name} не разбирается как таблица CSV ({str(exc).splitlines()[0]}). "
                "Проверьте разделитель и кавычки или сохраните файл заново."
            ) from exc
    con.execute(
        f"CREATE OR REPLACE TABLE stage.format_{t.name} AS SELECT line, min(column_name) AS column_name, "
        f"trim(min(csv_line), chr(13) || chr(10)) AS csv_line FROM {rt} GROUP BY line ORDER BY line"
    )
    n_format = con.execute(f"SELECT count(*) FROM stage.format_{t.name}").fetchone()[0]
    if src.row_column:
        row_expr = f"TRY_CAST(s.{q('raw__' + src.row_column)} AS BIGINT)"
    elif n_format:
        # accepted row r sits after every malformed line whose position among accepted rows is <= r
        con.execute(
            f"CREATE OR REPLACE TABLE stage.adj_{t.name} AS SELECT line - 2 - (row_number() OVER (ORDER BY line) - 1) "
            f"AS adj FROM stage.format_{t.name}"
        )
        row_expr = f"s.rowid + 2 + (SELECT count(*) FROM stage.adj_{t.name} a WHERE a.adj <= s.rowid)"
    else:
        row_expr = "s.rowid + 2"
    con.execute(f"CREATE OR REPLACE VIEW {typed} AS SELECT s.rowid AS _rid, {row_expr} AS _row, s.* FROM {store} s")
    con.execute(f"CREATE OR REPLACE TABLE {rej} (_rid BIGINT, _row BIGINT, column_name VARCHAR, rule VARCHAR, value VARCHAR)")
    con.execute(
        f"INSERT INTO {rej} SELECT NULL, line, coalesce(column_name, ''), 'format', csv_line FROM stage.format_{t.name}"
    )
    n_ok = con.execute(f"SELECT count(*) FROM {store}").fetchone()[0]
    return Staged(t, src, store, typed, rej, present, n_ok + n_format, n_format)


def _read(con, store: str, path: Path, src: SourceFile, present: set[str], rt: str) -> None:
    cols = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in src.columns) + "}"
    rs = f"rejects_scan_{src.table}"
    con.execute(f"DROP TABLE IF EXISTS {rt}; DROP TABLE IF EXISTS {rs}")
    source = (
        f"read_csv({lit(str(path))}, delim={lit(src.delimiter)}, header=true, auto_detect=false, columns={cols}, "
        f"quote='\"', escape='\"', strict_mode=true, store_rejects=true, rejects_table={lit(rt)}, "
        f"rejects_scan={lit(rs)}, max_line_size=10000000, encoding='utf-8')"
    )
    table = TABLES[src.table]
    select = typed_select(table, present, source, keep=(src.row_column,) if src.row_column else ())
    con.execute(f"CREATE OR REPLACE TABLE {store} AS {select}")


def _normalise_newlines(path: Path, workdir: Path) -> Path:
    out = Path(tempfile.mkstemp(prefix="nl-", suffix=".csv", dir=workdir)[1])
    with open(path, encoding="utf-8", newline=None) as src, open(out, "w", encoding="utf-8", newline="\n") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    return out


def check_rows(con, st: Staged) -> None:
    """Per-row rules (required, type, vocabulary, range) with the pandera schema, chunk by chunk."""
    schema = row_schema(st.table, st.present)
    need = schema_columns(schema, st.table)
    cur = con.cursor()
    res = cur.execute(f"SELECT _rid, {', '.join(q(c) for c in need)} FROM {st.typed}")
    found: list[pd.DataFrame] = []
    while True:
        chunk = res.fetch_df_chunk(CHUNK_VECTORS)
        if chunk is None or len(chunk) == 0:
            break
        chunk = chunk.set_index("_rid")
        try:
            schema.validate(chunk, lazy=True)
        except pa.errors.SchemaErrors as err:
            fc = err.failure_cases
            fc = fc[fc["index"].notna()]
            rule_col = fc["check"].astype(str).str.split("|", n=1, expand=True)
            if rule_col.shape[1] == 1:
                rule_col[1] = None
            column = rule_col[1].fillna(fc["column"].astype(str))
            column = column.str.removesuffix("__st").replace({"mark_value": "mark"})
            found.append(pd.DataFrame({"_rid": fc["index"].astype("int64").to_numpy(),
                                       "column_name": column.to_numpy(dtype=object),
                                       "rule": rule_col[0].to_numpy(dtype=object)}).drop_duplicates())
    cur.close()
    if found:
        df = pd.concat(found, ignore_index=True).drop_duplicates()  # noqa: F841 (used by DuckDB below)
        con.execute(f"INSERT INTO {st.rej} (_rid, column_name, rule) SELECT _rid, column_name, rule FROM df")


def _alive(st: Staged, alias: str = "t") -> str:
    return f"{alias}._rid NOT IN (SELECT _rid FROM {st.rej} WHERE _rid IS NOT NULL)"


def _reject(con, st: Staged, column: str, rule: str, where: str, joins: str = "") -> None:
    con.execute(
        f"INSERT INTO {st.rej} (_rid, column_name, rule) SELECT DISTINCT t._rid, {lit(column)}, {lit(rule)} "
        f"FROM {st.typed} t {joins} WHERE {_alive(st)} AND ({where})"
    )


def check_foreign_keys(con, st: Staged) -> None:
    for c in st.table.columns:
        if not c.ref or c.name not in st.present:
            continue
        ptable, pcol = c.ref.split(".")
        if ptable == "survey_items" and not _has_rows(con, "survey_items"):
            continue  # item texts are optional: surveys without survey_items keep their item ids
        _reject(con, st, c.name, "foreign_key",
                f"t.{q(c.name)} IS NOT NULL AND t.{q(c.name)} NOT IN (SELECT {q(pcol)} FROM main.{q(ptable)})")


def _has_rows(con, table: str) -> bool:
    return con.execute(f"SELECT count(*) > 0 FROM main.{q(table)}").fetchone()[0]


def check_unique(con, st: Staged, against_warehouse: bool) -> None:
    key = st.table.key
    if not key:
        return
    cols = ", ".join(f"t.{q(k)}" for k in key)
    on = " AND ".join(f"d.{q(k)} IS NOT DISTINCT FROM t.{q(k)}" for k in key)
    label = "+".join(key)
    # duplicated keys first (a hash aggregate), then rank only the rows that carry them
    con.execute(
        f"INSERT INTO {st.rej} (_rid, column_name, rule) SELECT _rid, {lit(label)}, 'unique' FROM ("
        f"SELECT t._rid, row_number() OVER (PARTITION BY {cols} ORDER BY t._rid) AS rn FROM {st.typed} t "
        f"JOIN (SELECT {cols} FROM {st.typed} t WHERE {_alive(st)} GROUP BY ALL HAVING count(*) > 1) d ON {on} "
        f"WHERE {_alive(st)}) WHERE rn > 1"
    )
    if against_warehouse:
        on = " AND ".join(f"w.{q(k)} = t.{q(k)}" for k in key)
        _reject(con, st, label, "unique", f"EXISTS (SELECT 1 FROM main.{q(st.table.name)} w WHERE {on})")


def check_class_rules(con, st: Staged) -> None:
    """Rules that need the row's class: dates inside its academic year, the student's class that year."""
    t = st.table
    if "class_id" not in st.present:
        return
    join = "JOIN main.classes c ON c.class_id = t.class_id"
    for d in t.dates_in_year:
        if d in st.present:
            _reject(con, st, d, "date_in_year",
                    f"t.{q(d)} IS NOT NULL AND (t.{q(d)} < make_date(c.year - 1, 9, 1) OR t.{q(d)} > make_date(c.year, 8, 31))",
                    join)
    if t.mark_class:
        _reject(con, st, "class_id", "mark_class",
                "NOT EXISTS (SELECT 1 FROM main.enrollments e WHERE e.student_id = t.student_id AND e.class_id = t.class_id)")


def check_one_class_per_year(con, st: Staged) -> None:
    """A student has one class a year unless a transfer is documented (earlier date_out <= later date_in)."""
    din = "t.date_in" if "date_in" in st.present else "NULL::DATE"
    dout = "t.date_out" if "date_out" in st.present else "NULL::DATE"
    con.execute(
        f"""INSERT INTO {st.rej} (_rid, column_name, rule)
        WITH allrows AS (
            SELECT NULL::BIGINT AS _rid, e.student_id, c.year, e.date_in, e.date_out
              FROM main.enrollments e JOIN main.classes c USING (class_id)
            UNION ALL
            SELECT t._rid, t.student_id, c.year, {din}, {dout}
              FROM {st.typed} t JOIN main.classes c ON c.class_id = t.class_id WHERE {_alive(st)}),
        ordered AS (
            SELECT *, lag(date_out) OVER w AS prev_out, row_number() OVER w AS rn
              FROM allrows WINDOW w AS (PARTITION BY student_id, year
                                       ORDER BY date_in NULLS FIRST, _rid NULLS FIRST))
        SELECT _rid, 'class_id', 'one_class_per_year' FROM ordered
         WHERE rn > 1 AND _rid IS NOT NULL AND (prev_out IS NULL OR date_in IS NULL OR date_in < prev_out)"""
    )


STUDENT_CLASS = """(SELECT e.student_id, c.year, arg_max(c.class_id, coalesce(e.date_in, DATE '1900-01-01')) AS class_id,
        arg_max(c.school_id, coalesce(e.date_in, DATE '1900-01-01')) AS school_id,
        arg_max(c.grade, coalesce(e.date_in, DATE '1900-01-01')) AS grade
   FROM main.enrollments e JOIN main.classes c USING (class_id) GROUP BY e.student_id, c.year)"""


def check_student_year(con, st: Staged) -> None:
    """Rows keyed by (student, year) need the student enrolled that year; task scores need their max."""
    _reject(con, st, "year", "foreign_key",
            f"t.student_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {STUDENT_CLASS} sc "
            "WHERE sc.student_id = t.student_id AND sc.year = t.year)")
    if st.table.name == "assessment_items":
        _reject(con, st, "score", "max_score", "t.score > s.max_score",
                f"JOIN {STUDENT_CLASS} sc ON sc.student_id = t.student_id AND sc.year = t.year "
                "JOIN main.assessment_specs s ON s.kind = t.kind AND s.subject = t.subject AND s.year = t.year "
                "AND s.grade = sc.grade AND s.task = t.task")


def check_graduates(con, st: Staged) -> None:
    """Graduate rows (``destinations``): the grade is a graduating one (9 or 11: rule ``range``) and is the
    student's grade that year (rule ``graduate_grade``; a student not enrolled that year is ``foreign_key``)."""
    grades = st.table.extra.get("graduate_grades")
    if not grades or "grade" not in st.present:
        return
    allowed = ", ".join(str(int(g)) for g in grades)
    _reject(con, st, "grade", "range", f"t.grade IS NOT NULL AND t.grade NOT IN ({allowed})")
    _reject(con, st, "grade", "graduate_grade", "t.grade IS NOT NULL AND sc.grade <> t.grade",
            f"JOIN {STUDENT_CLASS} sc ON sc.student_id = t.student_id AND sc.year = t.year")


def fill_values(con, st: Staged) -> None:
    """Put the row number and the offending raw value beside every rejects entry that has a row id."""
    names = [c.name for c in st.table.columns if c.name in st.present]
    cases = " ".join(f"WHEN {lit(c)} THEN {raw_ref(st.table, c)}" for c in names)
    keys = " ".join(
        f"WHEN {lit('+'.join(st.table.key))} THEN concat_ws(' | ', {', '.join(raw_ref(st.table, k) for k in st.table.key)})"
        for _ in [0] if st.table.key and all(k in st.present for k in st.table.key)
    )
    con.execute(
        f"UPDATE {st.rej} SET _row = ty._row, value = (CASE {st.rej}.column_name {cases} {keys} ELSE NULL END) "
        f"FROM {st.typed} ty WHERE {st.rej}._rid = ty._rid"
    )


def raw_ref(table: Table, column: str, alias: str = "ty") -> str:
    """The text as read for ``column`` (text columns: their trimmed value)."""
    return f"{alias}.{q(column if table.column(column).type == 'str' else 'raw__' + column)}"


def counts(con, st: Staged) -> tuple[int, int, int]:
    """(read, accepted, rejected) — accepted + rejected = read by construction."""
    rejected_rows = con.execute(
        f"SELECT count(DISTINCT _rid) FROM {st.rej} WHERE _rid IS NOT NULL").fetchone()[0] + st.n_format
    return st.n_read, st.n_read - rejected_rows, rejected_rows


def range_columns(table: Table) -> list[str]:
    return [value_column(c) for c in ranged(table)]
