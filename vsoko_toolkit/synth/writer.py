"""Write contract tables as CSV (UTF-8, comma, ISO dates) through DuckDB's COPY.

DuckDB writes millions of rows per second from pandas frames whose text columns
are categoricals, which keeps a 50-school municipality well under a minute.
Booleans are written ``true``/``false``, missing values as empty fields, dates
as ``YYYY-MM-DD``.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

#: Column order of every table written (the contract's, with its optional columns).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "schools": ("school_id", "name", "municipality", "locality", "social_index"),
    "classes": ("class_id", "school_id", "year", "grade", "letter", "profile", "homeroom_teacher_id"),
    "students": ("student_id", "sex", "birth_date", "full_name", "special_needs"),
    "enrollments": ("student_id", "class_id", "date_in", "date_out", "medal"),
    "teachers": ("teacher_id", "school_id", "full_name", "category", "experience_years",
                 "higher_pedagogical", "age", "pd_hours_3y"),
    "assignments": ("teacher_id", "class_id", "subject", "hours_per_week"),
    "period_marks": ("student_id", "class_id", "subject", "period", "mark"),
    "current_marks": ("student_id", "class_id", "subject", "date", "mark", "weight", "work_type"),
    "attendance": ("student_id", "class_id", "period", "lessons_total", "lessons_missed", "missed_unexcused"),
    "assessments": ("student_id", "class_id", "kind", "subject", "date", "primary_score", "mark",
                    "test_score", "variant", "journal_mark", "level"),
    "assessment_items": ("student_id", "kind", "subject", "year", "task", "score"),
    "assessment_specs": ("kind", "subject", "grade", "year", "task", "max_score", "skill",
                         "region_pct", "russia_pct", "literacy_domain"),
    "assessment_benchmarks": ("kind", "subject", "grade", "year", "level", "share_2", "share_3",
                              "share_4", "share_5", "mean_score"),
    "scales": ("kind", "subject", "grade", "year", "mark", "min_primary"),
    "olympiads": ("student_id", "year", "subject", "stage", "status", "teacher_id"),
    "activities": ("student_id", "year", "kind", "name", "level", "result"),
    "offences": ("school_id", "year", "kind", "count", "class_id"),
    "destinations": ("student_id", "year", "grade", "destination", "profile", "institution"),
    "surveys": ("school_id", "year", "respondent_type", "respondent_id", "class_id", "item_id", "response"),
    "survey_items": ("item_id", "text", "scale", "reverse"),
    "indicators": ("school_id", "year", "indicator_id", "value"),
    "decisions": ("decision_id", "school_id", "year", "date", "problem", "action", "target_type",
                  "target_ids", "subject", "responsible", "metric", "baseline", "target_value", "deadline"),
    "municipal_decisions": ("decision_id", "municipality", "year", "date", "problem", "action", "target_type",
                            "target_ids", "subject", "responsible", "metric", "baseline", "target_value",
                            "deadline"),
}

#: Columns holding dates.
DATE_COLUMNS = {"birth_date", "date_in", "date_out", "date", "deadline"}
#: Integer columns that may be missing: kept as float with NaN (read by DuckDB as NULL) and
#: written as integers (DuckDB scans pandas' nullable integer arrays row by row in Python).
NULLABLE_INT = {"mark", "journal_mark"}


def cat(codes: np.ndarray, labels) -> pd.Categorical:
    """Categorical from integer codes (-1 = missing) into an array of unique labels."""
    dtype = pd.CategoricalDtype(pd.Index(np.asarray(labels, dtype=object)))
    return pd.Categorical.from_codes(np.asarray(codes), dtype=dtype, validate=False)


def write_csv(df: pd.DataFrame, path: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Write one frame to ``path`` (UTF-8, comma, header, ISO dates)."""
    cols = []
    for c in df.columns:
        if c in DATE_COLUMNS:
            cols.append(f'CAST("{c}" AS DATE) AS "{c}"')
        elif c in NULLABLE_INT and df[c].dtype.kind == "f":
            cols.append(f'CAST("{c}" AS INTEGER) AS "{c}"')
        else:
            cols.append(f'"{c}"')
    con.register("_frame", df)
    try:
        con.execute(f"COPY (SELECT {', '.join(cols)} FROM _frame) TO '{path.as_posix()}' "
                    "(HEADER, DELIMITER ',', QUOTE '\"')")
    finally:
        con.unregister("_frame")


def write_tables(out_dir: Path, tables: dict[str, pd.DataFrame], truth: dict | None = None) -> dict:
    """Write every table as ``<name>.csv`` and ``truth.json``; return {name: rows}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    sizes = {}
    try:
        for name, df in tables.items():
            df = df[list(TABLE_COLUMNS[name])]
            write_csv(df, out_dir / f"{name}.csv", con)
            sizes[name] = len(df)
    finally:
        con.close()
    if truth is not None:
        with open(out_dir / "truth.json", "w", encoding="utf-8") as fh:
            json.dump(truth, fh, ensure_ascii=False, indent=1, default=_json_default)
            fh.write("\n")
    return sizes


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))
