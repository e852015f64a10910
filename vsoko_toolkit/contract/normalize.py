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


def _integral(d: str, sql_type: str = "BIGINT") -> str:
    return f"CASE WHEN {d} = round({d}) AND abs({d}) < 1e15 THEN CAST({d} AS {sql_type}) END"


def _value(col: Column, t: str, d: str) -> str:
    """The typed value from the trimmed text ``t`` and its number ``d`` (already parsed once)."""
    if col.type == "str":
        return t
    if col.type == "int":
        return _integral(d)
    if col.type == "float":
        return d
    if col.type == "date":
        return (f"CAST(COALESCE(TRY_STRPTIME({t}, '%Y-%m-%d'), TRY_STRPTIME({t}, '%d.%m.%Y'), "
                f"TRY_STRPTIME({t}, '%Y-%m-%d %H:%M:%S')) AS DATE)")
    if col.type == "bool":
        return _case(t, {"true": BOOL_LABELS[True], "false": BOOL_LABELS[False]}) + "::BOOLEAN"
    if col.type == "code":
        return _case(t, VOCABULARIES[col.vocab])
    if col.type == "mark":
        return f"COALESCE(CAST({_integral(d)} AS VARCHAR), {_case(t, NON_NUMERIC_MARKS)})"
    raise ValueError(col.type)


def typed_select(table: Table, present: set[str], source: str, keep: tuple[str, ...] = ()) -> str:
    """SELECT of typed columns, statuses (``c__st``) and raw text (``raw__c``) from ``source``.

    Parsing happens once per cell, in three nested levels: trim (``c__t``), number
    (``c__d``), then typed value and status. Raw text is kept for non-text
    columns (for the rejects file); text columns' raw value is their trimmed text.
    ``keep`` names source columns carried through as ``raw__<name>``.
    """
    cols = [c for c in table.columns if c.name in present]
    numeric = [c for c in cols if c.type in ("int", "float", "mark")]
    l1 = [f"NULLIF(trim(r.{q(c.name)}), '') AS {q(c.name + '__t')}" for c in cols]
    l1 += [f"r.{q(k)} AS {q('raw__' + k)}" for k in keep]
    l2 = ["*"] + [
        f"TRY_CAST(replace(replace(replace({q(c.name + '__t')}, ' ', ''), chr(160), ''), ',', '.') AS DOUBLE) "
        f"AS {q(c.name + '__d')}" for c in numeric
    ]
    l3, l4 = [], []
    for c in table.columns:
        if c.name not in present:
            l3.append(f"CAST(NULL AS {SQL_TYPES[c.type]}) AS {q(c.name)}")
            l4 += [q(c.name), f"CAST(1 AS TINYINT) AS {q(c.name + '__st')}"]
            if c.type == "mark":
                l4.append("CAST(NULL AS INTEGER) AS mark_value")
            continue
        t, d = q(c.name + "__t"), q(c.name + "__d")
        l3 += [f"{_value(c, t, d)} AS {q(c.name)}", t]
        l4 += [q(c.name), f"CAST(CASE WHEN {t} IS NULL THEN 1 WHEN {q(c.name)} IS NULL THEN 2 ELSE 0 END AS TINYINT) "
                          f"AS {q(c.name + '__st')}"]
        if c.type == "mark":
            l3.append(f"{_integral(d, 'INTEGER')} AS mark_value")
            l4.append("mark_value")
        if c.type != "str":
            l4.append(f"{t} AS {q('raw__' + c.name)}")
    l3 += [q("raw__" + k) for k in keep]
    l4 += [q("raw__" + k) for k in keep]
    return (f"SELECT {', '.join(l4)} FROM (SELECT {', '.join(l3)} FROM (SELECT {', '.join(l2)} FROM "
            f"(SELECT {', '.join(l1)} FROM {source} r)))")
