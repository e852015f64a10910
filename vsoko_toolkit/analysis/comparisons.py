"""Comparisons that mean something: class vs its parallel and the school, this year vs last, school vs municipality.

Public entry point: :func:`compare_results`.

Every comparison is of two independent groups of year marks (one mark per
student and subject): a class against the *other* classes of its parallel; a
class against all *other* classes of the school in the subject; the school's
grade against the same grade of the school last year (the previous cohort); the
school's grade and the school's subject against the other schools of the
municipality. For each, the difference of shares (quality, success) with
Newcombe's hybrid-score interval and a score-test p-value; the whole family of
comparisons of a run is FDR-controlled (Benjamini–Hochberg), and a
``low_result`` finding is emitted only for q < 0.05 with the group below its
comparison. Groups under 5 students are not compared.

Class vs the rest of the school (``comparison = "school"``) is coarser than
class vs its parallel: the other classes of the school are in other grades,
with other programmes and other marking habits (quality in grades 2–4 is
typically well above grades 5–9), so the difference mixes the class's result
with the school's grade composition. It is always reported in the table (counts,
shares, difference and its interval), but it is *tested* — and can become a
finding — only when the class has no fair comparison this year: no parallel
comparison (it is the only class of its grade with year marks in the subject)
and no comparison of its grade with the same grade of other schools (the
warehouse holds no other school with that grade and subject) — typically a
one-parallel school analysed on its own data. Where a fairer comparison exists,
the school comparison would either repeat its fact (two findings on one class
and subject) or contradict it through grade composition alone; such rows have
``tested = False`` and no p- or q-value, so they neither produce findings nor
dilute the FDR family (BH counts only the tested rows, here and in the joint
family of :func:`vsoko_toolkit.analysis.dynamics.results_dynamics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings import Finding, Recommendation
from ..report import phrases as ph
from ..stats.intervals import (
    bh_qvalues,
    compare_proportions,
    funnel_limits_proportion,
    wilson_interval,
)
from .base import AnalysisResult

METRICS = ("quality", "success")
MIN_N = 5
ALPHA = 0.05


@dataclass(frozen=True)
class ComparisonResult(AnalysisResult):
    """All comparisons of a run.

    ``tidy()`` columns: comparison (parallel / school / last_year / municipality), target_type, target_id, grade,
    subject, metric, k1, n1, p1, k2, n2, p2, diff, diff_lower, diff_upper, p_value, tested (False: a class-vs-school
    row reported without a test because a fairer comparison exists, p_value NaN; see the module docstring), q_value,
    flagged.
    ``classes``: per class × subject counts and shares (for the funnel plot).
    """

    classes: pd.DataFrame | None = None
    reference: dict | None = None  # (subject, metric) -> the other schools' share, for the funnel limits
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None, subject: str | None = None, metric: str = "quality"):
        """Funnel plot of the school's classes in ``subject``.

        Each class is placed at its difference from the same grade in the other schools (percentage
        points) against its size; the limits are the 95 % and 99.8 % normal-approximation funnel limits
        of a share of that size around the municipality's share in the subject — a class outside them differs from its
        grade elsewhere more than its size explains.
        """
        import matplotlib.pyplot as plt

        subject = subject or self.focus_subject()
        d = self.classes[self.classes["subject"] == subject].dropna(subset=[f"{metric}_ref"])
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        p = float(self.reference.get((subject, metric), np.nan))
        grid = np.linspace(max(3, d["n"].min() - 2), d["n"].max() + 4, 80)
        lim = funnel_limits_proportion(p, grid, method="normal")
        for lv, style, lab in (("95", "--", "границы 95 %"), ("998", ":", "границы 99,8 %")):
            ax.plot(grid, 100 * (lim[f"upper_{lv}"] - p), "k" + style, lw=1, label=lab)
            ax.plot(grid, 100 * (lim[f"lower_{lv}"] - p), "k" + style, lw=1)
        ax.axhline(0, color="grey", lw=1)
        diff = 100 * (d[metric] - d[f"{metric}_ref"])
        ax.scatter(d["n"], diff, color="#1f5f99", zorder=3)
        for n_, y_, c_ in zip(d["n"], diff, d["class_id"], strict=True):
            ax.annotate(ph.class_label(c_), (n_, y_), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("число учеников с годовой отметкой")
        municipal = bool(len(self.table)) and (self.table["comparison"] == "municipality").any()
        against = "той же\nпараллелью других школ" if municipal else "школой\nв целом"
        ax.set_ylabel(f"{ph.METRIC_RU[metric]}: разница с {against}, п. п.")
        ax.set_title(f"«{subject}»: классы школы против "
                     f"{'своих параллелей в муниципалитете' if municipal else 'школы в целом'}", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        return ax

    def focus_subject(self) -> str:
        flagged = self.table[self.table["flagged"]]
        if len(flagged):
            return flagged["subject"].value_counts().index[0]
        subjects = self.classes["subject"].value_counts()
        return "Математика" if "Математика" in subjects.index else subjects.index[0]


def _counts(con, year: int) -> pd.DataFrame:
    """Per school × class × subject year-mark counts for ``year`` and ``year - 1`` (the whole municipality)."""
    return con.execute(
        """SELECT school_id, year, grade, class_id, subject,
                  count(mark_value) AS n,
                  count(CASE WHEN mark_value >= 4 THEN 1 END) AS k_quality,
                  count(CASE WHEN mark_value >= 3 THEN 1 END) AS k_success
             FROM period_marks WHERE period = 'year' AND year IN (?, ?) AND mark_value IS NOT NULL
            GROUP BY ALL""", [int(year), int(year) - 1]).df()


def _rows(kind: str, target_type: str, a: pd.DataFrame, b: pd.DataFrame, keys: list[str], id_col: str) -> list[dict]:
    """Pair group rows ``a`` with comparison rows ``b`` on ``keys``; one row per metric."""
    m = a.merge(b, on=keys, suffixes=("", "_cmp"))
    m = m[(m["n"] >= MIN_N) & (m["n_cmp"] >= MIN_N)]
    out = []
    for metric in METRICS:
        if m.empty:
            continue
        cmp = compare_proportions(m[f"k_{metric}"].to_numpy(), m["n"].to_numpy(),
                                  m[f"k_{metric}_cmp"].to_numpy(), m["n_cmp"].to_numpy())
        for i, r in enumerate(m.itertuples(index=False)):
            c = cmp.iloc[i]
            out.append({"comparison": kind, "target_type": target_type, "target_id": str(getattr(r, id_col)),
                        "grade": getattr(r, "grade", None), "subject": r.subject, "metric": metric,
                        "k1": int(c.k1), "n1": int(c.n1), "p1": c.p1, "k2": int(c.k2), "n2": int(c.n2), "p2": c.p2,
                        "diff": c["diff"], "diff_lower": c.diff_lower, "diff_upper": c.diff_upper,
                        "p_value": c.p_value})
    return out


def compare_results(con, school_id: str, year: int, alpha: float = ALPHA) -> ComparisonResult:
    """Every comparison of ``school_id``'s year marks in ``year`` (see the module docstring).

    Examples
    --------
    >>> res = compare_results(con, "S01", 2025)  # doctest: +SKIP
    >>> res.tidy().query("flagged")  # doctest: +SKIP
    """
    c = _counts(con, year)
    num = ["n", "k_quality", "k_success"]
    cur = c[c["year"] == year]
    mine = cur[cur["school_id"] == school_id]
    rows: list[dict] = []
    # class vs the other classes of its parallel (same grade, same subject, same school)
    par = mine.groupby(["grade", "subject"], as_index=False)[num].sum()
    rest = mine.merge(par, on=["grade", "subject"], suffixes=("", "_all"))
    for col in num:
        rest[col + "_cmp"] = rest[col + "_all"] - rest[col]
    rest = rest[rest["n_cmp"] > 0]
    rows += _rows("parallel", "class", rest[["class_id", "grade", "subject", *num]],
                  rest[["class_id", "subject", *[x + "_cmp" for x in num]]].rename(
                      columns={x + "_cmp": x for x in num}), ["class_id", "subject"], "class_id")
    # class vs all other classes of the school in the subject (every grade; see the module docstring)
    sch = mine.groupby("subject", as_index=False)[num].sum()
    rest_s = mine.merge(sch, on="subject", suffixes=("", "_all"))
    for col in num:
        rest_s[col] = rest_s[col + "_all"] - rest_s[col]
    school_rows = _rows("school", "class", mine[["class_id", "grade", "subject", *num]],
                        rest_s[["class_id", "subject", *num]], ["class_id", "subject"], "class_id")
    # the school's grade vs the same grade of the school last year (the previous cohort at that grade)
    g_now = mine.groupby(["grade", "subject"], as_index=False)[num].sum()
    prev = c[(c["year"] == year - 1) & (c["school_id"] == school_id)].groupby(["grade", "subject"], as_index=False)[num].sum()
    g_now["target"] = g_now["grade"].astype(str)
    rows += _rows("last_year", "grade", g_now, prev, ["grade", "subject"], "target")
    # the school's grade and the school's subject vs the other schools of the municipality
    others = cur[cur["school_id"] != school_id]
    if len(others):
        rows += _rows("municipality", "grade", g_now, others.groupby(["grade", "subject"], as_index=False)[num].sum(),
                      ["grade", "subject"], "target")
        s_now = mine.groupby("subject", as_index=False)[num].sum()
        s_now["target"] = s_now["subject"]
        rows += _rows("municipality", "subject", s_now, others.groupby("subject", as_index=False)[num].sum(),
                      ["subject"], "target")
    table = pd.DataFrame(rows + school_rows)
    if table.empty:
        table = pd.DataFrame(columns=["comparison", "target_type", "target_id", "grade", "subject", "metric", "k1",
                                      "n1", "p1", "k2", "n2", "p2", "diff", "diff_lower", "diff_upper", "p_value"])
    table["tested"] = _tested(table)
    table.loc[~table["tested"], "p_value"] = np.nan  # not in the family: BH skips NaN
    table["q_value"] = bh_qvalues(table["p_value"].to_numpy(dtype=float)) if len(table) else []
    table["flagged"] = (table["q_value"] < alpha) & (table["diff"] < 0)
    classes = mine.copy()
    ref_grade = others.groupby(["grade", "subject"], as_index=False)[num].sum() if len(others) else None
    reference = {}
    for metric in METRICS:
        classes[metric] = classes[f"k_{metric}"] / classes["n"]
        if ref_grade is not None:
            rg = ref_grade.assign(**{f"{metric}_ref": ref_grade[f"k_{metric}"] / ref_grade["n"]})
            classes = classes.merge(rg[["grade", "subject", f"{metric}_ref"]], on=["grade", "subject"], how="left")
            tot = others.groupby("subject")[num].sum()
            reference.update({(s_, metric): tot.loc[s_, f"k_{metric}"] / tot.loc[s_, "n"] for s_ in tot.index})
        else:  # a single school: the funnel is drawn against the school itself
            own = mine.groupby("subject")[num].sum()
            share = own[f"k_{metric}"] / own["n"]
            classes[f"{metric}_ref"] = classes["subject"].map(share)
            reference.update({(s_, metric): share[s_] for s_ in share.index})
    teachers = _teachers(con, school_id, year)
    findings = tuple(_finding(r, school_id, year, int(table["p_value"].notna().sum()), teachers) for r in table[table["flagged"]].itertuples())
    return ComparisonResult(table=table, findings=findings, classes=classes, reference=reference, school_id=school_id,
                            year=year)


def _tested(table: pd.DataFrame) -> np.ndarray:
    """False for a class-vs-school row when the class has a parallel comparison or its grade a municipal one."""
    school = (table["comparison"] == "school").to_numpy(dtype=bool)
    if not school.any():
        return np.ones(len(table), dtype=bool)
    grade = pd.to_numeric(table["grade"], errors="coerce")
    par = table[table["comparison"] == "parallel"]
    has_par = set(zip(par["target_id"], par["subject"], strict=True))
    mun = table[(table["comparison"] == "municipality") & (table["target_type"] == "grade")]
    has_mun = set(zip(pd.to_numeric(mun["grade"], errors="coerce"), mun["subject"], strict=True))
    fairer = np.array([(t, s) in has_par or (g, s) in has_mun
                       for t, s, g in zip(table["target_id"], table["subject"], grade, strict=True)], dtype=bool)
    return ~(school & fairer)


def _teachers(con, school_id: str, year: int) -> dict[tuple[str, str], str]:
    rows = con.execute("SELECT class_id, subject, min(teacher_id) FROM assignments WHERE school_id = ? AND year = ? "
                       "GROUP BY ALL", [school_id, int(year)]).fetchall()
    return {(c, s): t for c, s, t in rows}


AGAINST = {"parallel": "против остальных классов параллели", "school": "против остальных классов школы",
           "last_year": "против той же параллели прошлого года", "municipality": "против других школ муниципалитета"}
AGAINST_SHORT = {"parallel": "в остальных классах параллели", "school": "в остальных классах школы",
                 "last_year": "в той же параллели годом раньше", "municipality": "в других школах муниципалитета"}


def _who(r) -> str:
    if r.target_type == "class":
        return f"в {ph.class_label(r.target_id)} классе"
    if r.target_type == "grade":
        return f"в {r.target_id}-х классах"
    return "по школе в целом"


def _finding(r, school_id: str, year: int, m: int, teachers: dict) -> Finding:
    lo1, hi1 = wilson_interval(r.k1, r.n1)
    lo2, hi2 = wilson_interval(r.k2, r.n2)
    who = _who(r)
    evidence = ph.comparison_evidence(r.metric, r.subject, who, r.p1, r.k1, r.n1, lo1, hi1, AGAINST_SHORT[r.comparison],
                                      r.p2, r.k2, r.n2, lo2, hi2, r.diff, r.diff_lower, r.diff_upper, r.q_value, m)
    severity = "high" if r.diff <= -0.20 and r.q_value < 0.01 else "medium" if r.diff <= -0.10 else "low"
    rec = None
    if r.target_type == "class":
        teacher = teachers.get((r.target_id, r.subject), "")
        rec = Recommendation(
            text=(f"Учителю ({teacher or 'учитель предмета'}) и классному руководителю {ph.class_label(r.target_id)}: "
                  f"выявить темы с наибольшими пробелами по предмету «{r.subject}», провести адресную "
                  f"работу с учениками с отметкой ниже «{'4' if r.metric == 'quality' else '3'}», "
                  f"проверить результат на промежуточной аттестации за первое полугодие."),
            addressee_type="teacher" if teacher else "class", addressee_id=teacher or r.target_id,
            responsible="заместитель директора по УВР", deadline=f"{year}-12-25", control_metric=r.metric,
            baseline=round(float(r.p1), 3), target=round(float(r.p2), 3))
    title = ph.low_result_title(r.metric, r.subject, who, AGAINST[r.comparison])
    return Finding(area="results", kind="low_result", polarity="problem", severity=severity, school_id=school_id,
                   year=int(year), target_type=r.target_type, target_id=r.target_id, subject=r.subject,
                   metric=r.metric, estimate=float(r.diff), ci_low=float(r.diff_lower), ci_high=float(r.diff_upper),
                   p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n1), title=title, evidence=evidence,
                   recommendation=rec, extra={"comparison": r.comparison, "value": float(r.p1),
                                              "comparison_value": float(r.p2)})
