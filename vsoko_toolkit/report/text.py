"""Russian wording built in one place: numbers, shares, plurals, academic years."""

from __future__ import annotations

import math


def academic_year(year: int) -> str:
    """2025 -> '2024/2025'."""
    return f"{int(year) - 1}/{int(year)}"


def plural(n: int, one: str, few: str, many: str) -> str:
    """Russian plural form for ``n``: plural(1,'ученик','ученика','учеников') -> 'ученик'."""
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def count(n: int, one: str, few: str, many: str) -> str:
    return f"{fmt_int(n)} {plural(n, one, few, many)}"


def fmt_int(n) -> str:
    return f"{int(n):,}".replace(",", "\u202f")


def pct(x, digits: int = 0) -> str:
    """0.4567 -> '46 %' (NaN -> '—')."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{100 * x:.{digits}f}".replace(".", ",") + "\u00a0%"


def num(x, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}f}".replace(".", ",")


def interval(lo, hi, as_pct: bool = True, digits: int = 0) -> str:
    """'(95 % ДИ: 38–52 %)'."""
    if as_pct:
        return f"95\u00a0% ДИ: {100 * lo:.{digits}f}–{100 * hi:.{digits}f}\u00a0%".replace(".", ",")
    return f"95\u00a0% ДИ: {num(lo, digits)}–{num(hi, digits)}"
