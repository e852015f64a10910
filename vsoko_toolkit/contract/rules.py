"""Validation rules: their ids, Russian explanations, and the pandera schema of per-row rules."""

from __future__ import annotations

import pandera.pandas as pa

from .spec import NON_NUMERIC_MARKS, VOCABULARIES, Column, Table

RULES: dict[str, str] = {
    "format": "строка файла не разбирается как запись таблицы (не то число полей или незакрытая кавычка)",
    "required": "обязательное поле пусто",
    "type": "значение не подходит по типу",
    "vocabulary": "значение не из допустимого списка",
    "range": "число вне допустимого диапазона",
    "unique": "повтор ключа (оставлена первая строка с этим ключом)",
    "foreign_key": "ссылка на отсутствующую запись",
    "one_class_per_year": "второй класс у ученика в том же году без оформленного перевода (date_out/date_in)",
    "mark_class": "класс строки не совпадает с классом ученика в этом году",
    "date_in_year": "дата вне учебного года (1 сентября — 31 августа)",
    "max_score": "балл за задание больше максимального балла из assessment_specs",
    "graduate_grade": "ученик не учился в этом году в указанном выпускном классе (9 или 11)",
}

#: Pairs (a, b) meaning "a <= b" within a row.
ROW_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "attendance": (("lessons_missed", "lessons_total"), ("missed_unexcused", "lessons_missed")),
}

_TYPE_RU = {"int": "целое число", "float": "число", "date": "дата ГГГГ-ММ-ДД или ДД.ММ.ГГГГ",
            "bool": "да/нет (1/0)"}


def explain(table: Table, column: str, rule: str) -> str:
    """A Russian sentence explaining ``rule`` for ``table.column`` (names the allowed values)."""
    base = RULES[rule]
    try:
        col = table.column(column)
    except KeyError:
        return base
    if rule == "type" and col.type in _TYPE_RU:
        return f"{base}: ожидается {_TYPE_RU[col.type]}"
    if rule == "vocabulary" and col.type == "code":
        return f"{base}: допустимо {', '.join(VOCABULARIES[col.vocab])} (или их русские названия)"
    if rule == "vocabulary" and col.type == "mark":
        return f"{base}: оценка 1–5 или {', '.join(NON_NUMERIC_MARKS)}"
    if rule == "range" and col.name == "grade" and table.extra.get("graduate_grades"):
        return f"{base}: допустимо {' или '.join(map(str, table.extra['graduate_grades']))}"
    if rule == "range":
        lo, hi = _bounds(col)
        if (table.name, column) in {(table.name, a) for a, _ in ROW_ORDER.get(table.name, ())}:
            b = dict(ROW_ORDER[table.name])[column]
            return f"{base}: от {lo:g} до {hi:g} и не больше {b}"
        return f"{base}: от {lo:g} до {hi:g}"
    if rule == "foreign_key" and col.ref:
        return f"{base}: {col.ref} не найден"
    return base


def _bounds(col: Column) -> tuple[float, float]:
    if col.type == "mark":
        return 1, 5
    return col.low, col.high


def value_column(col: Column) -> str:
    return "mark_value" if col.type == "mark" else col.name


def ranged(table: Table) -> list[Column]:
    """Columns with a numeric range check."""
    return [c for c in table.columns if c.type == "mark" or (c.low is not None and c.type in ("int", "float"))]


def _not(code: int, rule: str) -> pa.Check:
    return pa.Check(lambda s, code=code: s != code, name=rule, error=rule)


def row_schema(table: Table, present: set[str]) -> pa.DataFrameSchema:
    """The pandera schema of per-row rules for ``table`` (on the typed/status frame).

    Status columns (``c__st``) carry the parse outcome; value columns carry the
    typed number for range checks. Failure cases' ``check`` is the rule id, or
    ``rule|column`` for checks that span columns.
    """
    cols: dict[str, pa.Column] = {}
    for c in table.columns:
        checks = []
        if c.required:
            checks.append(_not(1, "required"))
        if c.type != "str":
            checks.append(_not(2, "vocabulary" if c.type in ("code", "mark") else "type"))
        if checks and (c.name in present or c.required):
            cols[c.name + "__st"] = pa.Column(checks=checks, nullable=False)
    for c in ranged(table):
        lo, hi = _bounds(c)
        cols[value_column(c)] = pa.Column(
            nullable=True, checks=[pa.Check(lambda s, lo=lo, hi=hi: s.between(lo, hi), name="range", error="range")]
        )
    wide = [
        pa.Check(lambda d, a=a, b=b: d[a].isna() | d[b].isna() | (d[a] <= d[b]), name=f"range|{a}", error="range")
        for a, b in ROW_ORDER.get(table.name, ())
        if a in present and b in present
    ]
    return pa.DataFrameSchema(cols, checks=wide, strict=False, coerce=False)


def schema_columns(schema: pa.DataFrameSchema, table: Table) -> list[str]:
    """Columns the row schema needs from the typed table."""
    need = list(schema.columns)
    for a, b in ROW_ORDER.get(table.name, ()):
        need += [a, b]
    return list(dict.fromkeys(need))
