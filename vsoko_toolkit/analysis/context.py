"""School context: the contingent (students, classes) and the staff, over the years on record.

Public entry point: :func:`school_context`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .base import AnalysisResult

LEVELS = {"1–4 классы": (1, 4), "5–9 классы": (5, 9), "10–11 классы": (10, 11)}
CATEGORY_RU = {"highest": "высшая", "first": "первая", "conformity": "соответствие", "none": "без категории"}


@dataclass(frozen=True)
class ContextResult(AnalysisResult):
    """Contingent and staff of a school.

    ``tidy()`` columns: year, level, classes, students, mean_class_size, special_needs (students with ОВЗ).
    ``staff``: category, teachers, share; ``staff_summary``: one row of staff figures for ``year``.
    """

    staff: pd.DataFrame | None = None
    staff_summary: dict | None = None
    school_id: str = ""
    year: int = 0

    def current(self) -> pd.DataFrame:
        return self.table[self.table["year"] == self.year]

    def totals(self) -> dict:
        cur = self.current()
        return {"students": int(cur["students"].sum()), "classes": int(cur["classes"].sum()),
                "special_needs": int(cur["special_needs"].sum())}

    def plot(self, ax=None):
        import matplotlib.pyplot as plt
        import seaborn as sns

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        df = self.table.assign(**{"учебный год": self.table["year"].map(lambda y: f"{y - 1}/{y}")})
        sns.barplot(df, x="учебный год", y="students", hue="level", ax=ax)
        ax.set_ylabel("обучающихся")
        ax.set_title("Контингент по уровням образования")
        ax.legend(title=None)
        return ax


def school_context(con, school_id: str, year: int) -> ContextResult:
    """Contingent by level and year, and the staff of ``school_id`` (teachers of the school).

    Examples
    --------
    >>> res = school_context(con, "S01", 2025)  # doctest: +SKIP
    >>> res.totals()  # doctest: +SKIP
    """
    cases = " ".join(f"WHEN c.grade BETWEEN {lo} AND {hi} THEN '{name}'" for name, (lo, hi) in LEVELS.items())
    cont = con.execute(
        f"""SELECT c.year, CASE {cases} END AS level, count(DISTINCT c.class_id) AS classes,
                   count(DISTINCT e.student_id) AS students,
                   count(DISTINCT CASE WHEN s.special_needs THEN e.student_id END) AS special_needs
              FROM classes c LEFT JOIN enrollments e USING (class_id) LEFT JOIN students s USING (student_id)
             WHERE c.school_id = ? AND c.year <= ? GROUP BY ALL ORDER BY c.year, level""", [school_id, year]).df()
    cont["mean_class_size"] = (cont["students"] / cont["classes"]).round(1)
    teachers = con.execute(
        """SELECT t.* FROM teachers t WHERE t.school_id = ? AND t.teacher_id IN
             (SELECT a.teacher_id FROM assignments a WHERE a.school_id = ? AND a.year = ?)""",
        [school_id, school_id, year]).df()
    staff = (teachers["category"].map(CATEGORY_RU).value_counts().rename_axis("category").reset_index(name="teachers"))
    staff["share"] = staff["teachers"] / max(len(teachers), 1)
    summary = {
        "teachers": len(teachers),
        "mean_experience": float(teachers["experience_years"].mean()) if len(teachers) else float("nan"),
        "share_highest_first": float(teachers["category"].isin(["highest", "first"]).mean()) if len(teachers) else float("nan"),
        "share_pd": float((teachers["pd_hours_3y"].fillna(0) > 0).mean()) if "pd_hours_3y" in teachers and len(teachers) else float("nan"),
        "share_young": float((teachers["experience_years"] < 5).mean()) if len(teachers) else float("nan"),
    }
    return ContextResult(table=cont, staff=staff, staff_summary=summary, school_id=school_id, year=year)
