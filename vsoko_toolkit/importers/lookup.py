"""Mapping tables given as options (``codes``): a code or a full name -> ``student_id``."""

from __future__ import annotations

from pathlib import Path

from ..errors import FatalInputError
from .textfile import column_name, read_rows
from .values import norm_label


def read_mapping(path: Path, value_column: str = "student_id") -> dict[str, str]:
    """Read a mapping CSV (a key column, then ``value_column`` or the second column).

    Keys are matched normalised (case, ``ё``, spaces), so a mapping can be keyed by
    participant codes or by full names.
    """
    if not path.is_file():
        raise FatalInputError(
            f"Таблица соответствия не найдена: {path}. Укажите CSV «код,student_id»."
        )
    rows = [r for r in read_rows(path) if any(c.strip() for c in r)]
    if not rows or len(rows[0]) < 2:
        raise FatalInputError(
            f"Таблица соответствия {path.name}: нужны два столбца — код (или ФИО) и "
            f"{value_column}, с заголовком в первой строке."
        )
    names = [column_name(h) for h in rows[0]]
    vi = names.index(value_column) if value_column in names else 1
    ki = 0 if vi != 0 else 1
    out: dict[str, str] = {}
    for i, r in enumerate(rows[1:], start=2):
        key = norm_label(r[ki]) if ki < len(r) else ""
        val = r[vi].strip() if vi < len(r) else ""
        if not key or not val:
            continue
        if key in out and out[key] != val:
            raise FatalInputError(
                f"Таблица соответствия {path.name}, строка {i}: ключ «{r[ki].strip()}» "
                f"уже сопоставлен с {out[key]}, а здесь с {val}. Исправьте таблицу."
            )
        out[key] = val
    return out
