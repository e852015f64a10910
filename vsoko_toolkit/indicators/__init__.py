"""Indicator frameworks as data: self-examination (Приказ № 1324), the quality index, the ВСОКО map, custom ones.

Each framework is a YAML file (``frameworks/`` here, plus folders passed as
``extra_dirs`` or listed in ``VSOKO_FRAMEWORKS``), validated against
``framework.schema.json``. See ``docs/INDICATORS.md``.
"""

from __future__ import annotations

from . import compute  # noqa: F401  (registers the compute functions)
from .evaluate import IndicatorResult, evaluate_frameworks, parse_value, score_value
from .loader import ENV_VAR, Framework, FrameworkError, Indicator, load_frameworks
from .registry import REGISTRY, ComputeContext, Value, register
from .xlsx import self_examination_xlsx

__all__ = ["ENV_VAR", "REGISTRY", "ComputeContext", "Framework", "FrameworkError", "Indicator", "IndicatorResult",
           "Value", "evaluate_frameworks", "load_frameworks", "parse_value", "register", "score_value",
           "self_examination_xlsx"]
