"""Multi-year trends per subject, and cohort tracking that tells intake from teaching.

Public entry point: :func:`subject_trends`.

**Trend.** For each subject, the school's year marks over the years on record
(at least three) are modelled as ``mark ~ year + C(grade)`` with a random
intercept per class (a class is one group of students in one year), fitted by
the guarded mixed-model engine (:func:`vsoko_toolkit.stats.mixed.fit_mixed`).
The slope of ``year`` is the trend in mark points per year, with its interval;
grade is adjusted for so that a change in the mix of grades is not read as a
trend. The p-values of all subjects go into the run's FDR family.

**Cohort tracking.** The change of the school's mean mark between consecutive
years is split, per subject, into the change *within the same students*
(students with a year mark in both years) and the *composition* change (who
left, who arrived). Both are compared with the same quantities in the other
schools of the municipality, which removes what every school sees when
students move up a grade. A decline carried by the same students points to
teaching or marking; a decline carried by composition points to the intake.
Intervals: percentile bootstrap over students (seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings import Skipped
from ..stats.intervals import mean_interval
from .base import AnalysisResult

MIN_YEARS = 3
N_BOOT = 300


@dataclass(frozen=True)
class TrendResult(AnalysisResult):
    """Trends of a school's subjects.

    ``tidy()`` columns: subject, n_years, first_year, last_year, n_obs, slope, slope_lower, slope_upper, p_value,
    within, within_lower, within_upper, composition, composition_lower, composition_upper, engine_warnings.
    ``yearly``: subject, year, n, mean_mark, mean_lower, mean_upper, quality (for the trend figure).
    """

    yearly: pd.DataFrame | None = None
    by_grade: pd.DataFrame | None = None  # subject, year, grade, cohort, n, mean_mark (cohort trajectories)
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None, subjects=None):
        import matplotlib.pyplot as plt

        y = self.yearly
        subjects = list(subjects) if subjects is not None else self.focus_subjects()
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        for s in subjects:
            d = y[y["subject"] == s].sort_values("year")
            line, = ax.plot(d["year"], d["mean_mark"], marker="o", label=s)
            ax.fill_between(d["year"], d["mean_lower"], d["mean_upper"], color=line.get_color(), alpha=0.15)
        ax.set_xticks(sorted(y["year"].unique()), [f"{v - 1}/{str(v)[2:]}" for v in sorted(y["year"].unique())])
        ax.set_ylabel("средняя годовая отметка (95 % ДИ)")
        ax.set_title("Динамика по предметам")
        ax.legend(fontsize=8)
        return ax

    def plot_cohorts(self, subject: str | None = None, ax=None):
        """Cohort trajectories: each line is one group of students (by the year they were in grade 1) across
        grades; points at the same grade are successive cohorts. A line that bends down marks a change for the
        same students; lines that start lower mark a weaker intake."""
        import matplotlib.pyplot as plt

        subject = subject or (self.focus_subjects(1) or [self.by_grade["subject"].iloc[0]])[0]
        d = self.by_grade[self.by_grade["subject"] == subject]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        cohorts = sorted(d["cohort"].unique())
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(cohorts)))
        for color, (cohort, g) in zip(colors, d.groupby("cohort"), strict=True):
            g = g.sort_values("grade")
            ax.plot(g["grade"], g["mean_mark"], marker="o", lw=1.2, color=color,
                    label=f"в 1 классе в {cohort - 1}/{str(cohort)[2:]}")
        ax.set_xlabel("класс (параллель)")
        ax.set_ylabel("средняя годовая отметка")
        ax.set_title(f"«{subject}»: траектории потоков учеников")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        return ax

    def focus_subjects(self, k: int = 4) -> list[str]:
        t = self.table.dropna(subset=["p_value"]).sort_values("p_value")
        if "flagged" in t and t["flagged"].any():
            t = t.sort_values(["flagged", "p_value"], ascending=[False, True])
        return list(t["subject"].head(k))


def _marks(con, school_id: str | None, year: int) -> pd.DataFrame:
    where = "AND school_id = ?" if school_id else ""
    params = [int(year)] + ([school_id] if school_id else [])
    return con.execute(
        f"""SELECT school_id, student_id, class_id, grade, year, subject, mark_value
              FROM period_marks WHERE period = 'year' AND mark_value IS NOT NULL AND year <= ? {where}""",
        params).df()


def _yearly(m: pd.DataFrame) -> pd.DataFrame:
    g = m.groupby(["subject", "year"])["mark_value"]
    out = g.agg(n="count", mean_mark="mean", sd="std").reset_index()
    out["quality"] = m.assign(q=m["mark_value"] >= 4).groupby(["subject", "year"])["q"].mean().to_numpy()
    lo, hi = mean_interval(out["mean_mark"].to_numpy(), out["sd"].to_numpy(), out["n"].to_numpy())
    out["mean_lower"], out["mean_upper"] = lo, hi
    return out.drop(columns="sd")


def _slope(d: pd.DataFrame, methods=None) -> dict:
    from ..stats.mixed import fit_mixed

    d = d.assign(year_c=d["year"] - d["year"].max())
    formula = "mark_value ~ year_c + C(grade)" if d["grade"].nunique() > 1 else "mark_value ~ year_c"
    res = fit_mixed(d, formula, groups="class_id", engine="fast", methods=methods)
    row = res.fixed.set_index("term").loc["year_c"]
    return {"slope": row["estimate"], "slope_lower": row["ci_low"], "slope_upper": row["ci_high"],
            "p_value": row["p_value"], "engine_warnings": "; ".join(w.message for w in res.warnings)}


def _matrix(m: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
    """Students × years matrix of each student's mean year mark in the subject (NaN = no mark that year)."""
    wide = m.groupby(["student_id", "year"])["mark_value"].mean().unstack()  # rows sorted by student_id
    return wide.to_numpy(dtype=float), list(wide.columns)


def _decompose(x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Sum over consecutive years of (within-student change, composition change) of the mean mark.

    ``x`` is students × years (NaN where absent); ``w`` are bootstrap weights, shape (B, students)
    (default: one weight of 1 per student). Returns shape (B, 2).
    """
    # Float weights: an integer matrix (the multinomial draws) would be cast to float at every product below.
    w = np.ones((1, x.shape[0])) if w is None else np.asarray(w, dtype=float)
    present = ~np.isnan(x)
    xv = np.nan_to_num(x)
    out = np.zeros((w.shape[0], 2))
    for j in range(x.shape[1] - 1):
        a, b = present[:, j], present[:, j + 1]
        both = a & b
        wb = w @ both
        if not np.all(wb > 0):
            continue
        within = (w @ (both * (xv[:, j + 1] - xv[:, j]))) / wb
        total = (w @ (b * xv[:, j + 1])) / (w @ b) - (w @ (a * xv[:, j])) / (w @ a)
        out[:, 0] += within
        out[:, 1] += total - within
    return out


def _cohort(d: pd.DataFrame, other: pd.DataFrame, rng, n_boot: int) -> dict:
    """Within/composition change of the school minus the municipality's, with bootstrap intervals."""
    x, years = _matrix(d)
    point = _decompose(x)[0]
    weights = rng.multinomial(x.shape[0], np.full(x.shape[0], 1 / x.shape[0]), size=n_boot)
    boot = _decompose(x, weights)
    if len(other):
        xo, yo = _matrix(other[other["year"].isin(years)])
        point = point - _decompose(xo)[0]
        boot = boot - _decompose(xo, rng.multinomial(xo.shape[0], np.full(xo.shape[0], 1 / xo.shape[0]),
                                                      size=n_boot))
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    return {"within": point[0], "within_lower": lo[0], "within_upper": hi[0],
            "composition": point[1], "composition_lower": lo[1], "composition_upper": hi[1]}


def subject_trends(con, school_id: str, year: int, min_years: int = MIN_YEARS, n_boot: int = N_BOOT,
                   seed: int = 0, methods=None) -> TrendResult:
    """Trend and cohort decomposition per subject of ``school_id`` up to ``year`` (see the module docstring).

    Subjects with fewer than ``min_years`` years on record are listed with NaN slope (not tested).
    ``methods``: the engine's optimizers (default: all of them; simulations may pass one).
    """
    all_m = _marks(con, None, year)
    m = all_m[all_m["school_id"] == school_id]
    others = all_m[all_m["school_id"] != school_id]
    rng = np.random.default_rng(seed)
    rows = []
    for subject, d in m.groupby("subject"):
        years = sorted(d["year"].unique())
        row = {"subject": subject, "n_years": len(years), "first_year": years[0], "last_year": years[-1],
               "n_obs": len(d)}
        if len(years) >= min_years and years[-1] == year:
            row.update(_slope(d, methods))
            row.update(_cohort(d, others[others["subject"] == subject], rng, n_boot))
        rows.append(row)
    cols = ["subject", "n_years", "first_year", "last_year", "n_obs", "slope", "slope_lower", "slope_upper",
            "p_value", "within", "within_lower", "within_upper", "composition", "composition_lower",
            "composition_upper", "engine_warnings"]
    table = pd.DataFrame(rows).reindex(columns=cols)
    notes = ()
    if len(table) and table["slope"].isna().all():
        from ..report import phrases as ph  # noqa: PLC0415 - the report layer only when the note is needed

        notes = (f"Динамика за несколько лет не оценивается: годовые отметки школы (таблица period_marks) есть "
                 f"меньше чем за {min_years} учебных года подряд до {ph.academic_year(int(year))} учебного года "
                 "включительно — нужны отметки прошлых лет.",)
    by_grade = (m.groupby(["subject", "year", "grade"])["mark_value"].agg(n="count", mean_mark="mean")
                .reset_index().assign(cohort=lambda d: d["year"] - d["grade"] + 1))
    return TrendResult(table=table, notes=notes, skipped=tuple(Skipped("trends", n) for n in notes), yearly=_yearly(m), by_grade=by_grade, school_id=school_id,
                       year=int(year))
