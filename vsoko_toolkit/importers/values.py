"""Cell texts, label normalisation and contract typing of imported values.

Everything here is a pure function of strings: the engine decides what to do
with a value that does not fit (a problem naming its cell), these functions
only say whether it fits and what the canonical text is.
"""

from __future__ import annotations

import datetime as dt
import re

from ..contract.reader import cell_text  # noqa: F401 (re-exported for the engine)
from ..contract.spec import BOOL_LABELS, NON_NUMERIC_MARKS, VOCABULARIES, Column

_SPACES = re.compile(r"\s+")
_LATIN_TO_CYRILLIC = str.maketrans("ABCEHKMOPTXaceopxy", "АВСЕНКМОРТХасеорху")


def norm_label(text: str) -> str:
    """Label for matching: lower case, ``ё`` = ``е``, single spaces, no trailing ``.:``."""
    s = str(text).replace("\u00a0", " ").replace("\ufeff", "").lower().replace("ё", "е")
    return _SPACES.sub(" ", s).strip().rstrip(".:").strip()


def tidy_text(text: str) -> str:
    """A header or value as text: trimmed, inner runs of white space collapsed."""
    return _SPACES.sub(" ", str(text).replace("\u00a0", " ")).strip()


def _labels(mapping: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, labels in mapping.items():
        for label in (code, *labels):
            out.setdefault(norm_label(label), code)
    return out


_VOCAB = {name: _labels(m) for name, m in VOCABULARIES.items()}
_NON_NUMERIC = _labels(NON_NUMERIC_MARKS)
_BOOL = {
    norm_label(lbl): ("true" if v else "false") for v, lbls in BOOL_LABELS.items() for lbl in lbls
}


def extract(m: re.Match) -> str:
    """The text a regex match stands for: its groups joined, or the whole match when it has none."""
    groups = [g for g in m.groups() if g]
    return tidy_text("".join(groups) if m.groups() else m.group(0))


def normalise(spec: dict | None, value: str) -> str:
    """Apply a profile's ``values`` normaliser ``spec`` to ``value``.

    Steps in order: ``regex`` (its groups joined, unchanged when it does not match),
    ``replace`` (literal substrings), ``remove_spaces``, ``latin_to_cyrillic``, ``case``, ``map``.
    """
    if not spec or value == "":
        return value
    if spec.get("regex"):
        m = re.search(spec["regex"], value, flags=re.IGNORECASE)
        if m:
            value = extract(m)
    for old, new in (spec.get("replace") or {}).items():
        value = value.replace(str(old), cell_text(new))
    if spec.get("remove_spaces"):
        value = _SPACES.sub("", value)
    if spec.get("latin_to_cyrillic"):
        value = value.translate(_LATIN_TO_CYRILLIC)
    if spec.get("case") == "upper":
        value = value.upper()
    elif spec.get("case") == "lower":
        value = value.lower()
    mapping = spec.get("_map_norm")
    if mapping is None and spec.get("map"):
        mapping = {norm_label(k): cell_text(v) for k, v in spec["map"].items()}
    if mapping:
        value = mapping.get(norm_label(value), value)
    return value


def parse_number(text: str) -> float | None:
    """A number written with ``.`` or ``,`` and optional spaces; ``None`` when it is not one."""
    s = re.sub(r"[\s\u00a0]", "", text).replace(",", ".")
    try:
        x = float(s)
    except ValueError:
        return None
    return x if x == x and abs(x) != float("inf") else None


def parse_date(text: str) -> dt.date | None:
    """``YYYY-MM-DD`` (with an optional time) or ``DD.MM.YYYY``; ``None`` otherwise."""
    s = text.strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%d.%m.%y"):
        try:
            return dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    return None


def academic_year(text: str) -> str:
    """The academic year (by its ending calendar year) of a date; ``""`` when not a date."""
    d = parse_date(text)
    if d is None:
        return ""
    return str(d.year + 1 if d.month >= 9 else d.year)


def _fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _range_error(col: Column, x: float) -> str | None:
    if (col.low is not None and x < col.low) or (col.high is not None and x > col.high):
        lo = _fmt_number(col.low) if col.low is not None else "−∞"
        hi = _fmt_number(col.high) if col.high is not None else "+∞"
        return f"значение {_fmt_number(x)} вне допустимого диапазона {lo}–{hi} (столбец {col.name})"
    return None


def to_contract(col: Column, text: str) -> tuple[str, str | None]:
    """Canonical text of ``text`` for contract column ``col`` and an error (Russian) or ``None``.

    Empty text is returned as ``""``; whether empty is allowed is the caller's rule.
    Codes become the contract's canonical codes (``1 четверть`` -> ``q1``), marks
    ``"1".."5"`` or a non-numeric entry, numbers lose decimal commas, dates become ISO.
    """
    s = tidy_text(text)
    if s == "":
        return "", None
    if col.type == "str":
        return s, None
    if col.type == "code":
        code = _VOCAB[col.vocab].get(norm_label(s))
        if code is None:
            allowed = ", ".join(VOCABULARIES[col.vocab])
            return s, f"«{s}» не входит в список значений столбца {col.name} ({allowed})"
        return code, None
    if col.type == "mark":
        x = parse_number(s)
        if x is not None:
            if not x.is_integer() or not 1 <= x <= 5:
                return s, f"отметка «{s}» вне шкалы 1–5"
            return str(int(x)), None
        code = _NON_NUMERIC.get(norm_label(s))
        if code is None:
            return s, (f"«{s}» не является отметкой (2–5 или {', '.join(NON_NUMERIC_MARKS)})")
        return code, None
    if col.type in ("int", "float"):
        x = parse_number(s)
        if x is None or (col.type == "int" and not x.is_integer()):
            kind = "целым числом" if col.type == "int" else "числом"
            return s, f"«{s}» не является {kind} (столбец {col.name})"
        return _fmt_number(x), _range_error(col, x)
    if col.type == "date":
        d = parse_date(s)
        if d is None:
            return s, f"«{s}» не является датой (ГГГГ-ММ-ДД или ДД.ММ.ГГГГ, столбец {col.name})"
        return d.isoformat(), None
    if col.type == "bool":
        b = _BOOL.get(norm_label(s))
        if b is None:
            return s, f"«{s}» не является логическим значением (да/нет, столбец {col.name})"
        return b, None
    raise ValueError(col.type)
