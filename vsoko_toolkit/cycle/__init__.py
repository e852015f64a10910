"""The ВСОКО year: the cyclogram (which procedure, when, who is responsible, what it feeds) as checked YAML,
and which of its procedures a year's data covers. See ``docs/BOOK.md`` («Циклограмма ВСОКО»)."""

from __future__ import annotations

from .coverage import STATUSES, coverage, item_rows
from .loader import (
    MONTH_NAMES,
    MONTH_SHORT,
    RUN_FILE,
    SCHOOL_YEAR_MONTHS,
    Cyclogram,
    CyclogramError,
    DataItem,
    Procedure,
    default_path,
    load_cyclogram,
    run_cyclogram,
)

__all__ = ["MONTH_NAMES", "MONTH_SHORT", "RUN_FILE", "SCHOOL_YEAR_MONTHS", "STATUSES", "Cyclogram",
           "CyclogramError", "DataItem", "Procedure", "coverage", "default_path", "item_rows", "load_cyclogram",
           "run_cyclogram"]
