"""SQL that turns a raw all-text staged table into typed, canonical values.

For every contract column ``c`` the typed select yields ``c`` (typed value, NULL
when empty or unparseable) and ``c__st`` (0 = a value was read, 1 = empty,
2 = present but not a value of the column's type/vocabulary). These expressions
*parse*; they decide nothing — the pandera schema and the cross-row SQL rules
decide which rows are rejected.
"""

from __future__ import annotations

from .spec import BOOL_LABELS, NON_NUMERIC_MARKS, VOCABULARIES, Column, Table

SQL_TYPES = {"str": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "date": "DATE",
             "code": "VARCHAR", "mark": "VARCHAR"}


def q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote a string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _case(expr: str, mapping: dict[str, tuple[str, ...]]) -> str:
    whens = " ".join(f"WHEN {lit(label.lower())} THEN {lit(code)}" for code, labels in mapping.items()
                     for label in dict.fromkeys((code.lower(), *labels)))
    return f"CASE lower({expr}) {whens} END"


def _number(expr: str) -> str:
    cleaned = f"replace(replace(replace({expr}, ' ', ''), chr(160), ''), ',', '.')"
    return f"TRY_CAST({cleaned} AS DOUBLE)"


def _integral(expr: str) -> str:
    d = _number(expr)
    return f"CASE WHEN {d} = round({d}) AND abs({d}) < 1e15 THEN CAST({d} AS BIGINT) END"


def value_expr(col: Column, raw: str) -> str:
    """SQL for the typed value of ``col`` read from the text expression ``raw``."""
    t = f"NULLIF(trim({raw}), '')"
    if col.type == "str":
        return t
    if col.type == "int":
        return _integral(t)
    if col.type == "float":
        return _number(t)
    if col.type == "date":
        return (f"CAST(COALESCE(TRY_STRPTIME({t}, '%Y-%m-%d'), TRY_STRPTIME({t}, '%d.%m.%Y'), "
                f"TRY_STRPTIME({t}, '%Y-%m-%d %H:%M:%S')) AS DATE)")
    if col.type == "bool":
        return _case(t, {"true": BOOL_LABELS[True], "false": BOOL_LABELS[False]}) + "::BOOLEAN"
    if col.type == "code":
        return _case(t, VOCABULARIES[col.vocab])
    if col.type == "mark":
        return f"COALESCE(CAST({_integral(t)} AS VARCHAR), {_case(t, NON_NUMERIC_MARKS)})"
    raise ValueError(col.type)


def typed_select(table: Table, present: set[str], raw_table: str, row_expr: str) -> str:
    """SELECT producing typed columns, status columns, ``_rid`` and ``_row`` from ``raw_table`` (aliased ``r``)."""
    parts = ["r.rowid AS _rid", f"{row_expr} AS _row"]
    for col in table.columns:
        if col.name not in present:
            parts += [f"CAST(NULL AS {SQL_TYPES[col.type]}) AS {q(col.name)}", f"CAST(1 AS TINYINT) AS {q(col.name + '__st')}"]
            if col.type == "mark":
                parts.append(f"CAST(NULL AS INTEGER) AS {q('mark_value')}")
            continue
        raw = "r." + q(col.name)
        val = value_expr(col, raw)
        parts.append(f"{val} AS {q(col.name)}")
        parts.append(
            f"CAST(CASE WHEN NULLIF(trim({raw}), '') IS NULL THEN 1 WHEN ({val}) IS NULL THEN 2 ELSE 0 END AS TINYINT) "
            f"AS {q(col.name + '__st')}"
        )
        if col.type == "mark":
            parts.append(f"TRY_CAST({val} AS INTEGER) AS mark_value")
    return f"SELECT {', '.join(parts)} FROM {raw_table} r"
