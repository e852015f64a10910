"""Year-mark metrics of a school: success, quality, СОУ, mean mark, with intervals.

Public entry point: :func:`year_metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .base import AnalysisResult
from .metrics import count_marks_sql, metrics_from_counts


@dataclass(frozen=True)
class YearMetricsResult(AnalysisResult):
    """Standard metrics of year marks.

    ``tidy()``: one row per class × subject (class_id, grade, subject, then the
    columns of :func:`~vsoko_toolkit.analysis.metrics.metrics_from_counts`).
    ``school``: the same metrics for the whole school (one row).
    """

    school: pd.DataFrame | None = None
    subjects: pd.DataFrame | None = None

    def by_subject(self) -> pd.DataFrame:
        cols = ["subject", "n_numeric", "success", "success_lower", "success_upper", "quality", "quality_lower",
                "quality_upper", "sou", "mean_mark", "n_non_numeric"]
        return self.subjects[cols].sort_values("quality")

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        df = self.subjects.sort_values("quality")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.35 * len(df) + 1.2))
        y = range(len(df))
        ax.errorbar(df["quality"] * 100, list(y), xerr=[(df["quality"] - df["quality_lower"]) * 100,
                                                        (df["quality_upper"] - df["quality"]) * 100],
                    fmt="o", color="#1f5f99", ecolor="#9bbbd9", capsize=3)
        ax.set_yticks(list(y), df["subject"])
        school_q = float(self.school["quality"].iloc[0]) * 100
        ax.axvline(school_q, color="grey", ls="--", lw=1, label=f"школа в целом: {school_q:.0f} %")
        ax.set_xlabel("качество знаний по годовым отметкам, % (95 % ДИ)")
        ax.set_title("Качество знаний по предметам")
        ax.legend(loc="lower right", fontsize=8)
        return ax


NON_NUMERIC = ["n_na", "n_zach", "n_nezach", "n_osv", "n_neosv", "n_ots"]


def year_metrics(con, school_id: str, year: int) -> YearMetricsResult:
    """Success, quality, СОУ and mean mark of the year marks of ``school_id`` in ``year``.

    Counts are aggregated in DuckDB; shares carry Wilson intervals, means t intervals.
    """
    rel = (f"(SELECT class_id, grade, subject, mark FROM period_marks WHERE period = 'year' "
           f"AND school_id = '{school_id.replace(chr(39), '')}' AND year = {int(year)})")
    by_class = metrics_from_counts(count_marks_sql(con, rel, ["class_id", "grade", "subject"]))
    school = metrics_from_counts(count_marks_sql(con, rel, None))
    subjects = metrics_from_counts(count_marks_sql(con, rel, ["subject"]))
    for df in (by_class, school, subjects):
        df["n_non_numeric"] = df[[c for c in NON_NUMERIC if c in df]].sum(axis=1)
    return YearMetricsResult(table=by_class, school=school, subjects=subjects)
