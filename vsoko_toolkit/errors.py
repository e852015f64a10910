"""Errors the user sees (messages in Russian, naming what to fix)."""

from __future__ import annotations


class VsokoError(Exception):
    """Base class for errors meant for the user; ``str(err)`` is a Russian message."""


class FatalInputError(VsokoError):
    """The input cannot be read at all: a required table or column is missing, a file is unreadable."""


class OptionError(VsokoError, ValueError):
    """An option outside its allowed values (the message lists them)."""


def check_option(name: str, value, allowed) -> None:
    """Raise :class:`OptionError` naming the allowed values when ``value`` is not one of them."""
    allowed = list(allowed)
    if value not in allowed:
        raise OptionError(
            f"Недопустимое значение параметра {name}: {value!r}. "
            f"Допустимые значения: {', '.join(map(str, allowed))}."
        )
