"""The result every analysis returns: a table, a figure, findings, skips — immutable."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class AnalysisResult:
    """Base of analysis results.

    ``tidy()`` gives the main table (a copy; documented per analysis), ``plot(ax=None)``
    draws the main figure and returns the Axes, ``findings`` / ``skipped`` /
    ``evaluations`` feed ``findings.json``. Subclasses add what is specific.
    """

    table: pd.DataFrame = field(repr=False)
    findings: tuple = ()
    skipped: tuple = ()
    evaluations: tuple = ()
    notes: tuple[str, ...] = ()  # Russian caveats for the reader (e.g. optimizer warnings, thin data)

    def tidy(self) -> pd.DataFrame:
        return self.table.copy()

    def plot(self, ax=None):  # pragma: no cover - overridden where a figure exists
        raise NotImplementedError(f"{type(self).__name__} has no figure")

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, na_rep="—", float_format=lambda x: f"{x:.2f}")


def empty_plot(ax, message: str):
    """Draw ``message`` (Russian) instead of a figure when an analysis had no data, so a chapter says why
    the figure is missing instead of failing."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9, wrap=True)
    return ax
