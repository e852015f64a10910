"""The registry of computed indicators: ``compute: <name>`` in a framework YAML names a function here.

A compute function takes a :class:`ComputeContext` (warehouse connection, school,
year, shared look-ups) and the indicator's ``params`` as keyword arguments, and
returns a :class:`Value`, or ``None`` when the warehouse holds no data to compute
it from (then the indicator is read from ``indicators.csv``, or is missing).

Examples
--------
>>> from vsoko_toolkit.indicators.registry import REGISTRY, Value, register
>>> @register("constant_one")  # doctest: +SKIP
... def constant_one(ctx):
...     return Value(1.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["REGISTRY", "ComputeContext", "Value", "register"]


@dataclass(frozen=True)
class Value:
    """An indicator's value with what stands behind it.

    ``value``: the number (a share as 0..1 for «человек/%» and «%» units);
    ``count`` / ``denominator``: people counted and the base of a share;
    ``ci_low`` / ``ci_high``: 95 % interval when the value is an estimate from people
    (Wilson for shares, t for means); ``n_students``: students behind the value
    (the public profile hides values resting on fewer than 5); ``detail``: Russian,
    how it was obtained.
    """

    value: float
    count: int | None = None
    denominator: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n_students: int | None = None
    detail: str = ""


@dataclass
class ComputeContext:
    """What a compute function sees: the warehouse, the school and year, and a cache for shared look-ups."""

    con: object
    school_id: str
    year: int
    cache: dict = field(default_factory=dict)

    def once(self, key, fn: Callable):
        """``fn()`` computed once per evaluation (e.g. the number of students, used by several indicators)."""
        if key not in self.cache:
            self.cache[key] = fn()
        return self.cache[key]


#: name -> compute function
REGISTRY: dict[str, Callable[..., Value | None]] = {}


def register(name: str):
    """Decorator: make ``fn`` available to frameworks as ``compute: name``."""

    def deco(fn):
        if name in REGISTRY and REGISTRY[name] is not fn:
            raise ValueError(f"Функция показателя «{name}» уже зарегистрирована.")
        REGISTRY[name] = fn
        return fn

    return deco
