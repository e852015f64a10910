"""State final examinations: ОГЭ (grade 9) and ЕГЭ (grade 11) of a school against the municipality.

Public entry point: :func:`exam_results`.

For each examination subject written in the school in ``year``:

* **takers and mean score** — ОГЭ: primary score; ЕГЭ: test score (0..100); a t interval;
* **ОГЭ mark distribution** — counts of marks 2..5 (a missing mark is derived from ``scales``);
* **below the threshold** — ОГЭ: mark «2»; ЕГЭ: a test score under the subject's minimum
  (:data:`EGE_MINIMUM`, overridable with ``options["ege_minimum"]``); a Wilson interval;
* **high scorers** — ОГЭ: mark «5»; ЕГЭ: 80 and more, and exactly 100; Wilson intervals;
* **comparison with the municipality** — the same numbers for the other schools of the school's
  municipality; the difference of means (Welch) and of shares (Newcombe interval, score test);
* **year-on-year change** — the school against its own previous year (Welch / Newcombe).

All p-values of the analysis (municipality and year-on-year comparisons, the medallist indicator)
form one Benjamini–Hochberg family. A ``low_result`` finding (area ``results``) is emitted for a
subject where the school is worse than the other schools (lower mean, larger share below the
threshold, or fewer high scorers) with q < 0.05; a ``high_result`` finding (polarity ``strength``)
where it is better with q < 0.05. One finding per subject and direction: the metric with the
smallest q, the others named in its evidence. Year-on-year changes are shown, never findings
(the trends chapter and :mod:`.anomalies` judge changes).

**Medallists with ЕГЭ under 70** (the federal signal indicator of objectivity of final marks):
of the school's students with a medal (``enrollments.medal``) in ``year`` who wrote at least one
ЕГЭ with a test score, the count and share with a score under 70 in at least one subject (Wilson
interval), against the same share in the other schools. Rule for an ``inflated_marks`` finding
(area ``objectivity``, target ``school``): the school has at least :data:`MIN_MEDAL` such
medallists, its Wilson lower bound lies above the other schools' share, and the comparison's
q < 0.05 in the family above. Without the ``medal`` column, or without medallists with ЕГЭ, the
indicator is skipped with the reason stated.

Optional data (fall-backs): a missing ОГЭ mark (``assessments.mark``) is derived from ``scales``; without
both, ОГЭ is compared on the mean primary score only (a note says which shares are not computed). A ЕГЭ
subject without test scores in the warehouse (``assessments.test_score`` empty for that subject and year)
is compared on the primary score: the mean only — the minimum and the 80-point mark are on the test-score
scale, so those shares are not computed (a note says so); last year is compared only when it was measured
on the same scale. Without ``enrollments.medal`` the medallist indicator is skipped with the reason.

Notes
-----
Students are treated as independent: clustering in classes is ignored, which makes intervals
slightly narrow where classes differ a lot. The false-finding rate on null municipalities is
checked by simulation in ``tests/test_exams.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings import Finding, Recommendation, Skipped
from ..report import phrases as ph
from ..stats.intervals import (
    bh_qvalues,
    compare_means,
    compare_proportions,
    mean_interval,
    wilson_interval,
)
from ..warehouse.schema import has_column as _has_column
from ..warehouse.schema import select_optional
from .base import AnalysisResult

ALPHA = 0.05
MIN_N = 5  # smallest group compared (students) — smaller groups are shown, not compared
MIN_MEDAL = 3  # smallest number of medallists with ЕГЭ for an objectivity finding
HIGH_EGE = 80
MEDAL_CUT = 70
GRADE = {"OGE": 9, "EGE": 11}
KIND_RU = {"OGE": "ОГЭ", "EGE": "ЕГЭ"}

# Minimum ЕГЭ test scores set by Рособрнадзор (the minimum confirming mastery of the programme;
# for Russian and profile mathematics also the certificate minimum), unchanged 2021–2025, published on
# obrnadzor.gov.ru / ege.edu.ru ("Минимальное количество баллов ЕГЭ"). The contract's ЕГЭ rows with a
# test score in «Математика» are the profile level (the base level has marks, not test scores).
EGE_MINIMUM: dict[str, float] = {
    "Русский язык": 24, "Математика": 27, "Математика профильная": 27, "Математика (профильная)": 27,
    "Физика": 36, "Химия": 36, "Информатика": 40, "Информатика и ИКТ": 40, "Биология": 36, "История": 32,
    "География": 37, "Обществознание": 42, "Литература": 32, "Английский язык": 22, "Немецкий язык": 22,
    "Французский язык": 22, "Испанский язык": 22, "Китайский язык": 17,
}

COLUMNS = ["kind", "subject", "grade", "n", "mean", "mean_low", "mean_high", "sd", "threshold",
           "n_2", "n_3", "n_4", "n_5", "n_marked", "n_below", "below", "below_low", "below_high",
           "n_high", "high", "high_low", "high_high", "n_100", "top", "top_low", "top_high",
           "muni_n", "muni_mean", "muni_below", "muni_high",
           "diff_mean", "diff_mean_low", "diff_mean_high", "p_mean", "q_mean",
           "diff_below", "diff_below_low", "diff_below_high", "p_below", "q_below",
           "diff_high", "diff_high_low", "diff_high_high", "p_high", "q_high",
           "prev_n", "prev_mean", "yoy_mean", "yoy_mean_low", "yoy_mean_high", "p_yoy_mean", "q_yoy_mean",
           "prev_below", "yoy_below", "yoy_below_low", "yoy_below_high", "p_yoy_below", "q_yoy_below",
           "verdict"]
MEDAL_COLUMNS = ["n", "k", "share", "share_low", "share_high", "muni_n", "muni_k", "muni_share", "diff",
                 "diff_low", "diff_high", "p_value", "q_value", "flagged"]


@dataclass(frozen=True)
class ExamResult(AnalysisResult):
    """ОГЭ/ЕГЭ per subject against the municipality and last year.

    ``tidy()`` columns (one row per kind × subject): kind, subject, grade, n (takers), mean, mean_low,
    mean_high (t interval), sd, threshold (ОГЭ: min primary score for «3» from ``scales``; ЕГЭ: the
    minimum test score), n_2..n_5 (ОГЭ marks), n_marked (takers with a mark / with a test score),
    n_below, below, below_low, below_high (below the threshold, Wilson), n_high, high, high_low,
    high_high (ОГЭ «5», ЕГЭ ≥ 80), n_100, top, top_low, top_high (ЕГЭ 100), muni_n, muni_mean,
    muni_below, muni_high (other schools), diff_* / p_* / q_* (school − other schools: mean, below,
    high), prev_n, prev_mean, yoy_mean* / p_yoy_mean / q_yoy_mean, prev_below, yoy_below* /
    p_yoy_below / q_yoy_below (school − its previous year), verdict (``worse`` / ``better`` /
    ``no_difference`` / ``not_compared``).
    ``medallists``: one row (:data:`MEDAL_COLUMNS`) or empty when skipped.
    ``scores``: kind, subject, score of the school's takers in ``year``; ``thresholds``: kind,
    subject, mark, score (lines on the histograms).
    """

    medallists: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None
    thresholds: pd.DataFrame | None = None
    school_id: str = ""
    year: int = 0

    @property
    def has_data(self) -> bool:
        return len(self.table) > 0

    def plot(self, ax=None, work: tuple | None = None, public: bool = False):
        """Histograms of scores per subject with the thresholds marked.

        With ``ax`` (or ``work`` = (kind, subject)) one histogram is drawn into it and that Axes is
        returned; otherwise a grid with one panel per subject, returned as an array of Axes.
        ``public=True`` draws no histogram of fewer than MIN_GROUP participants (152-ФЗ).
        """
        import matplotlib.pyplot as plt

        works = list(zip(self.table["kind"], self.table["subject"], strict=True))
        if not works:
            if ax is None:
                _, ax = plt.subplots(figsize=(5, 1.5))
            ax.text(0.5, 0.5, "Результатов ОГЭ и ЕГЭ нет", ha="center", va="center")
            ax.set_axis_off()
            return ax
        if ax is not None or work is not None:
            if ax is None:
                _, ax = plt.subplots(figsize=(5, 3))
            return self._hist(ax, *(work or works[0]), public=public)
        ncol = 3
        nrow = max(1, -(-len(works) // ncol))
        width, height = 12, 2.8 * nrow
        fig, axes = plt.subplots(nrow, ncol, figsize=(width, height), squeeze=False)
        for a, w in zip(axes.flat, works, strict=False):
            self._hist(a, *w, public=public)
        for a in list(axes.flat)[len(works):]:
            a.set_visible(False)
        # Fixed margins and gaps in inches (what ``tight_layout`` chose for these fonts) instead of
        # ``tight_layout``, which measures every tick label of every panel; the saved figure is cropped to
        # its content anyway (``bbox_inches="tight"``).
        left, right, top, bottom, hgap, wgap = 0.64, 0.15, 0.32, 0.56, 0.73, 0.65
        ax_h = (height - top - bottom - hgap * (nrow - 1)) / nrow
        ax_w = (width - left - right - wgap * (ncol - 1)) / ncol
        fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height,
                            bottom=bottom / height, hspace=hgap / ax_h, wspace=wgap / ax_w)
        return axes

    def _hist(self, ax, kind: str, subject: str, public: bool = False):
        from matplotlib.ticker import MaxNLocator

        from ..privacy import MIN_GROUP

        s = self.scores
        d = s[(s["kind"] == kind) & (s["subject"] == subject)]["score"].dropna()
        if public and len(d) < MIN_GROUP:
            ax.text(0.5, 0.5, f"{KIND_RU.get(kind, kind)} «{subject}»:\nменьше {MIN_GROUP} участников — не показано",
                    ha="center", va="center", fontsize=9)
            ax.set_axis_off()
            return ax
        top = 100 if kind == "EGE" else (d.max() if len(d) else 1)
        bins = np.arange(0, top + 6, 5) if kind == "EGE" else np.arange(0, top + 2) - 0.5
        # One filled step patch and one collection of white bin separators look like ``ax.hist`` with white
        # edges but are two artists instead of one patch per bin (this grid has ~400 bins).
        counts, edges = np.histogram(d, bins=bins)
        ax.stairs(counts, edges, fill=True, color="#1f5f99")
        ax.vlines(edges[1:-1], 0, np.maximum(counts[:-1], counts[1:]), colors="white", lw=1)
        th = self.thresholds[(self.thresholds["kind"] == kind) & (self.thresholds["subject"] == subject)]
        colors = {"min": "#c0392b", "3": "#c0392b", "4": "#e67e22", "5": "#27ae60", "high": "#27ae60"}
        for r in th.itertuples():
            x = r.score if kind == "EGE" else r.score - 0.5
            ax.axvline(x, color=colors.get(r.mark, "grey"), ls="--", lw=1, label=r.label)
        row = self.table[(self.table["kind"] == kind) & (self.table["subject"] == subject)].iloc[0]
        # An explicit y keeps the title where matplotlib puts it (no ticks on top) without re-measuring the
        # x-axis at every draw.
        ax.set_title(f"{KIND_RU[kind]}, «{subject}»: {len(d)} уч., средний {ph.num(row['mean'], 1)}"
                     f" (др. школы {ph.num(row['muni_mean'], 1)})", fontsize=8, y=1.0)
        ax.set_xlabel("тестовый балл" if kind == "EGE" else "первичный балл", fontsize=8)
        ax.set_ylabel("учеников", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count of students: no "1,5 ученика"
        if len(th):
            ax.legend(fontsize=6)
        return ax


def exam_summary(scores, marks=None, kind: str = "OGE", minimum: float | None = None,
                 high: float = HIGH_EGE) -> dict:
    """Counts and means of one group's results on one examination (pure numbers).

    ``scores``: primary (ОГЭ) or test (ЕГЭ) scores; ``marks``: ОГЭ marks (NaN = none). Returns n, mean,
    sd, n_2..n_5, n_marked, n_below, n_high, n_100 (NaN where not applicable).
    """
    s = pd.to_numeric(pd.Series(scores, dtype=float), errors="coerce").dropna()
    out = {"n": int(len(s)), "mean": float(s.mean()) if len(s) else np.nan,
           "sd": float(s.std()) if len(s) >= 2 else np.nan}
    if kind == "OGE":
        m = pd.Series(marks, dtype=float).dropna().clip(lower=2)
        for v in (2, 3, 4, 5):
            out[f"n_{v}"] = int((m == v).sum())
        out.update(n_marked=int(len(m)), n_below=out["n_2"], n_high=out["n_5"], n_100=np.nan)
    else:
        out.update({f"n_{v}": np.nan for v in (2, 3, 4, 5)})
        out.update(n_marked=int(len(s)), n_below=int((s < minimum).sum()) if minimum is not None else np.nan,
                   n_high=int((s >= high).sum()), n_100=int((s >= 100).sum()))
    return out



def _load(con, school_id: str, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ОГЭ/ЕГЭ rows of ``year`` and ``year − 1`` of the school's municipality; the ОГЭ scales of both years."""
    cols = select_optional(con, "assessments", ("mark", "test_score"))
    d = con.execute(
        f"""SELECT school_id, year, class_id, student_id, kind, subject, primary_score, {cols}
              FROM assessments WHERE kind IN ('OGE', 'EGE') AND year IN (?, ?)""",
        [int(year), int(year) - 1]).df()
    if _has_column(con, "schools", "municipality") and len(d):
        sch = con.execute("SELECT school_id, municipality FROM schools").df()
        mine = sch.loc[sch["school_id"] == school_id, "municipality"]
        if len(mine) and pd.notna(mine.iloc[0]):
            same = set(sch.loc[sch["municipality"] == mine.iloc[0], "school_id"]) | {school_id}
            d = d[d["school_id"].isin(same)]
    scales = con.execute("SELECT kind, subject, year, mark, min_primary FROM scales WHERE kind = 'OGE' "
                         "AND year IN (?, ?)", [int(year), int(year) - 1]).df() \
        if _has_column(con, "scales", "min_primary") else pd.DataFrame(
            columns=["kind", "subject", "year", "mark", "min_primary"])
    d["test_score"] = pd.to_numeric(d["test_score"], errors="coerce").astype(float)
    # ЕГЭ on the test score where that subject-year has test scores, else on the primary score
    has_test = d.groupby(["kind", "subject", "year"])["test_score"].transform(lambda x: x.notna().any()) \
        if len(d) else pd.Series(dtype=bool)
    d["on_primary"] = (d["kind"] == "EGE") & ~has_test.astype(bool)
    d["score"] = np.where((d["kind"] == "EGE") & ~d["on_primary"], d["test_score"], d["primary_score"]).astype(float)
    d["mark"] = pd.to_numeric(d["mark"], errors="coerce").astype(float)
    for (subj, y), sc in scales.groupby(["subject", "year"]):  # a missing ОГЭ mark from the scale
        miss = (d["kind"] == "OGE") & (d["subject"] == subj) & (d["year"] == y) & d["mark"].isna() \
            & d["score"].notna()
        if miss.any():
            cuts = sc.sort_values("mark")
            d.loc[miss, "mark"] = 2 + np.searchsorted(cuts["min_primary"].to_numpy(), d.loc[miss, "score"],
                                                      side="right")
    return d, scales


def exam_results(con, school_id: str, year: int, **options) -> ExamResult:
    """ОГЭ and ЕГЭ of ``school_id`` in ``year`` against the municipality and last year (module docstring).

    Options: ``alpha`` (0.05), ``ege_minimum`` ({subject: minimum test score}, merged over
    :data:`EGE_MINIMUM`), ``high_score`` (80), ``min_n`` (5).

    Examples
    --------
    >>> import vsoko_toolkit, duckdb                                   # doctest: +SKIP
    >>> vsoko_toolkit.ingest("data_samples/municipality", "m.duckdb")  # doctest: +SKIP
    >>> res = exam_results(duckdb.connect("m.duckdb"), "S01", 2025)    # doctest: +SKIP
    >>> res.tidy()[["kind", "subject", "n", "mean", "below"]]          # doctest: +SKIP
    """
    alpha = float(options.get("alpha", ALPHA))
    high = float(options.get("high_score", HIGH_EGE))
    min_n = int(options.get("min_n", MIN_N))
    minima = {**EGE_MINIMUM, **(options.get("ege_minimum") or {})}
    year = int(year)
    d, scales = _load(con, school_id, year)
    mine = d[(d["school_id"] == school_id) & (d["year"] == year)]
    notes: list[str] = []
    if mine.empty:
        reason = (f"в таблице assessments нет результатов ОГЭ и ЕГЭ школы за {ph.academic_year(year)} "
                  "учебный год")
        return ExamResult(table=pd.DataFrame(columns=COLUMNS), skipped=(Skipped("exams", reason),),
                          medallists=pd.DataFrame(columns=MEDAL_COLUMNS),
                          scores=pd.DataFrame(columns=["kind", "subject", "score"]),
                          thresholds=pd.DataFrame(columns=["kind", "subject", "mark", "score", "label"]),
                          school_id=school_id, year=year)
    rows, on_primary, unmarked, extra_skips = [], [], [], []
    for (kind, subject), g in mine.groupby(["kind", "subject"], sort=True):
        primary = bool(g["on_primary"].any())
        minimum = minima.get(subject) if kind == "EGE" and not primary else None
        if kind == "EGE" and minimum is None and not primary:
            notes.append(f"Для ЕГЭ по предмету «{subject}» не задан минимальный балл: доля ниже минимума не "
                         "считается.")
        same = (d["kind"] == kind) & (d["subject"] == subject) & (d["on_primary"] == primary)
        others = d[(d["school_id"] != school_id) & (d["year"] == year) & same]
        prev = d[(d["school_id"] == school_id) & (d["year"] == year - 1) & same]
        if primary:
            on_primary.append(subject)
        elif kind == "OGE" and g["mark"].isna().all():
            unmarked.append(subject)
        sc = scales[(scales["subject"] == subject) & (scales["year"] == year) & (scales["mark"] == 3)]
        thr = float(sc["min_primary"].iloc[0]) if kind == "OGE" and len(sc) else \
            (float(minimum) if minimum is not None else np.nan)
        summaries = [exam_summary(x["score"], x["mark"], kind, minimum, high) for x in (g, others, prev)]
        if primary:  # shares of high scores are on the test-score scale: not computed on primary scores
            for sm in summaries:
                sm.update(n_below=np.nan, n_high=np.nan, n_100=np.nan)
            thr = np.nan
        rows.append(_row(kind, subject, thr, *summaries, min_n))
    if on_primary:
        notes.append(f"Тестовых баллов ЕГЭ (колонка test_score в таблице assessments) нет по предметам: "
                     f"{', '.join(on_primary)}. По ним средний результат сравнивается по первичному баллу, а доли "
                     "не набравших минимальный балл и набравших 80 и более баллов не рассчитываются.")
        extra_skips.append(Skipped("exams_ege_shares", notes[-1]))
    if unmarked:
        notes.append(f"Отметок ОГЭ нет (нужна колонка mark в таблице assessments или шкала перевода баллов в "
                     f"таблице scales) по предметам: {', '.join(unmarked)}. По ним сравнивается только средний "
                     "первичный балл, доли «2» и «5» не рассчитываются.")
        extra_skips.append(Skipped("exams_oge_marks", notes[-1]))
    table = pd.DataFrame(rows)
    medal, medal_skip = _medallists(con, d, school_id, year, min_n)
    # one BH family: every p-value that can become a finding (the comparisons with other schools and the
    # medallists); the year-on-year changes are descriptive and get their own family for the table
    pcols = ["p_mean", "p_below", "p_high"]
    allp = np.concatenate([table[pcols].to_numpy(dtype=float).ravel(),
                           medal["p_value"].to_numpy(dtype=float)])
    allq = bh_qvalues(allp)
    qt = allq[:table[pcols].size].reshape(len(table), len(pcols))
    for i, c in enumerate(pcols):
        table["q" + c[1:]] = qt[:, i]
    ycols = ["p_yoy_mean", "p_yoy_below"]
    qy = bh_qvalues(table[ycols].to_numpy(dtype=float).ravel()).reshape(len(table), len(ycols))
    for i, c in enumerate(ycols):
        table["q" + c[1:]] = qy[:, i]
    m = int(np.isfinite(allp).sum())
    findings: list[Finding] = []
    verdicts = []
    for r in table.itertuples():
        worse, better = _directions(r, alpha)
        verdicts.append("worse" if worse else "better" if better else
                        "not_compared" if all(np.isnan(getattr(r, c)) for c in pcols[:3]) else "no_difference")
        for group, problem in ((worse, True), (better, False)):
            if group:
                findings.append(_finding(r, group, problem, school_id, year, m))
    table["verdict"] = verdicts
    if len(medal):
        medal["q_value"] = allq[table[pcols].size:]
        medal["flagged"] = (medal["q_value"] < alpha) & (medal["share_low"] > medal["muni_share"]) \
            & (medal["n"] >= MIN_MEDAL)
        if bool(medal["flagged"].iloc[0]):
            findings.append(_medal_finding(medal.iloc[0], school_id, year, m))
    thresholds = _thresholds(table, scales, year, high, tuple(on_primary))
    return ExamResult(table=table.reindex(columns=COLUMNS), findings=tuple(findings),
                      skipped=tuple(extra_skips + medal_skip), notes=tuple(notes), medallists=medal.reindex(columns=MEDAL_COLUMNS),
                      scores=mine[["kind", "subject", "score"]].reset_index(drop=True), thresholds=thresholds,
                      school_id=school_id, year=year)


def _row(kind, subject, thr, s: dict, o: dict, p: dict, min_n: int) -> dict:
    """One table row from the school's (``s``), other schools' (``o``) and last year's (``p``) summaries."""
    r = {"kind": kind, "subject": subject, "grade": GRADE[kind], "threshold": thr,
         **{k: s[k] for k in ("n", "mean", "sd", "n_2", "n_3", "n_4", "n_5", "n_marked", "n_below", "n_high",
                              "n_100")}}
    r["mean_low"], r["mean_high"] = mean_interval(s["mean"], s["sd"], s["n"])
    nm = s["n_marked"]
    for name, k in (("below", s["n_below"]), ("high", s["n_high"]), ("top", s["n_100"])):
        ok = nm > 0 and not np.isnan(k)
        r[name] = k / nm if ok else np.nan
        r[f"{name}_low"], r[f"{name}_high"] = wilson_interval(k, nm) if ok else (np.nan, np.nan)
    r["muni_n"], r["muni_mean"] = o["n"], o["mean"]
    r["muni_below"] = o["n_below"] / o["n_marked"] if o["n_marked"] else np.nan
    r["muni_high"] = o["n_high"] / o["n_marked"] if o["n_marked"] else np.nan
    r["prev_n"], r["prev_mean"] = p["n"], p["mean"]
    r["prev_below"] = p["n_below"] / p["n_marked"] if p["n_marked"] else np.nan
    big = s["n"] >= min_n
    _means(r, "diff_mean", "p_mean", s, o, big, min_n)
    _props(r, "diff_below", "p_below", s["n_below"], nm, o["n_below"], o["n_marked"], big, min_n)
    _props(r, "diff_high", "p_high", s["n_high"], nm, o["n_high"], o["n_marked"], big, min_n)
    _means(r, "yoy_mean", "p_yoy_mean", s, p, big, min_n)
    _props(r, "yoy_below", "p_yoy_below", s["n_below"], nm, p["n_below"], p["n_marked"], big, min_n)
    return r


def _means(r: dict, name: str, pname: str, a: dict, b: dict, ok: bool, min_n: int = MIN_N) -> None:
    r[name] = r[f"{name}_low"] = r[f"{name}_high"] = r[pname] = np.nan
    if ok and b["n"] >= min_n:
        c = compare_means(a["mean"], a["sd"], a["n"], b["mean"], b["sd"], b["n"]).iloc[0]
        r[name], r[f"{name}_low"], r[f"{name}_high"], r[pname] = (c["diff"], c["diff_lower"], c["diff_upper"],
                                                                 c["p_value"])


def _props(r: dict, name: str, pname: str, k1, n1, k2, n2, ok: bool, min_n: int = MIN_N) -> None:
    r[name] = r[f"{name}_low"] = r[f"{name}_high"] = r[pname] = np.nan
    if ok and n1 >= min_n and n2 >= min_n and not (np.isnan(k1) or np.isnan(k2)):
        c = compare_proportions(int(k1), int(n1), int(k2), int(n2)).iloc[0]
        r[name], r[f"{name}_low"], r[f"{name}_high"], r[pname] = (c["diff"], c["diff_lower"], c["diff_upper"],
                                                                 c["p_value"])


METRIC = {"mean": "mean_score", "below": "fail_share", "high": "high_share"}
METRIC_RU = {"mean": "средний балл", "below": "доля не преодолевших порог", "high": "доля высоких результатов"}


def _directions(r, alpha: float) -> tuple[list, list]:
    """The school's metrics that are worse / better than the other schools' with q < alpha."""
    worse, better = [], []
    for key, sign in (("mean", 1), ("below", -1), ("high", 1)):
        diff, q = getattr(r, f"diff_{key}"), getattr(r, f"q_{key}")
        if np.isfinite(q) and q < alpha and diff != 0:
            (better if sign * diff > 0 else worse).append((q, key))
    return sorted(worse), sorted(better)


def _value(r, key: str) -> str:
    if key == "mean":
        return (f"средний балл школы {ph.num(r.mean, 1)} (95\u00a0% ДИ {ph.num(r.mean_low, 1)}–"
                f"{ph.num(r.mean_high, 1)}), в других школах муниципалитета {ph.num(r.muni_mean, 1)}; разница "
                f"{ph.signed(r.diff_mean, 1)} балла (95\u00a0% ДИ {ph.signed(r.diff_mean_low, 1)} … "
                f"{ph.signed(r.diff_mean_high, 1)})")
    k, lo, hi = {"below": (r.n_below, r.below_low, r.below_high), "high": (r.n_high, r.high_low, r.high_high)}[key]
    what = {"below": "не преодолели порог" if r.kind == "EGE" else "получили «2»",
            "high": f"набрали {HIGH_EGE} и более баллов" if r.kind == "EGE" else "получили «5»"}[key]
    return (f"{what} {ph.share_with_ci(k / r.n_marked, int(k), int(r.n_marked), lo, hi)}, в других школах "
            f"муниципалитета — {ph.pct(getattr(r, f'muni_{key}'))}; разница {ph.pp(getattr(r, f'diff_{key}'))} "
            f"(95\u00a0% ДИ {ph.pp(getattr(r, f'diff_{key}_low'))} … {ph.pp(getattr(r, f'diff_{key}_high'))})")


def _people(n) -> str:
    from ..report.text import count

    return count(int(n), "участник", "участника", "участников")


def _finding(r, group: list, problem: bool, school_id: str, year: int, m: int) -> Finding:
    q, key = group[0]
    work = f"{KIND_RU[r.kind]} по предмету «{r.subject}»"
    parts = "; ".join(f"{_value(r, k)}, {ph.q_text(qq, m)}" for qq, k in group)
    evidence = (f"На {work} ({_people(r.n)}): {parts}. Сравнение — с другими школами муниципалитета "
                f"({_people(r.muni_n)}).")
    diff, lo, hi, p = (getattr(r, f"diff_{key}"), getattr(r, f"diff_{key}_low"), getattr(r, f"diff_{key}_high"),
                       getattr(r, f"p_{key}"))
    value = {"mean": r.mean, "below": r.below, "high": r.high}[key]
    muni = {"mean": r.muni_mean, "below": r.muni_below, "high": r.muni_high}[key]
    metric = f"{r.kind.lower()}_{METRIC[key]}"
    if problem:
        title = f"{work}: {METRIC_RU[key]} хуже, чем в других школах муниципалитета"
        rec = Recommendation(
            text=(f"Руководителю ШМО: проанализировать результаты {work} по заданиям, выделить группу учеников "
                  "с риском не преодолеть порог и составить план подготовки с промежуточными диагностиками."),
            addressee_type="subject", addressee_id=r.subject, responsible="заместитель директора по УВР",
            deadline=f"{year}-10-15", control_metric=metric, baseline=round(float(value), 3),
            target=round(float(muni), 3))
    else:
        title = f"{work}: {METRIC_RU[key]} лучше, чем в других школах муниципалитета"
        rec = None
    severity = "high" if q < 0.001 else "medium" if q < 0.01 else "low"
    return Finding(area="results", kind="low_result" if problem else "high_result",
                   polarity="problem" if problem else "strength", severity=severity, school_id=school_id,
                   year=year, target_type="subject", target_id=r.subject, subject=r.subject, metric=metric,
                   estimate=float(diff), ci_low=float(lo), ci_high=float(hi), p_value=float(p), q_value=float(q),
                   n=int(r.n), title=title, evidence=evidence, recommendation=rec,
                   extra={"work_kind": r.kind, "grade": int(r.grade), "value": float(value),
                          "comparison": "другие школы муниципалитета"})


def _score(x: float) -> str:
    """A score as a school writes it: 8, 6,5 (a fractional threshold is not rounded away)."""
    return ph.num(x, 0 if float(x).is_integer() else 1)


def _medallists(con, d: pd.DataFrame, school_id: str, year: int, min_n: int):
    """Medallists of ``year`` with a ЕГЭ test score, and how many scored under 70 somewhere."""
    empty = pd.DataFrame(columns=MEDAL_COLUMNS)
    if not _has_column(con, "enrollments", "medal"):
        return empty, [Skipped("exams_medallists", "в хранилище нет сведений о медалях (enrollments.medal): "
                               "показатель «медалисты с ЕГЭ ниже 70 баллов» не рассчитан")]
    if not con.execute("SELECT count(medal) FROM enrollments").fetchone()[0]:
        return empty, [Skipped("exams_medallists", "в таблице enrollments не заполнена колонка medal (медали "
                               "выпускников): показатель «медалисты с ЕГЭ ниже 70 баллов» не рассчитан")]
    med = con.execute("SELECT DISTINCT student_id FROM enrollments WHERE medal IS NOT NULL AND year = ?",
                      [year]).df()
    e = d[(d["kind"] == "EGE") & (d["year"] == year) & d["score"].notna() & ~d["on_primary"]
          & d["student_id"].isin(set(med["student_id"]))]
    per = e.groupby(["school_id", "student_id"])["score"].min().reset_index()
    per["under"] = per["score"] < MEDAL_CUT
    mine, others = per[per["school_id"] == school_id], per[per["school_id"] != school_id]
    if mine.empty:
        return empty, [Skipped("exams_medallists", f"в {ph.academic_year(year)} учебном году у школы нет "
                               "медалистов с результатами ЕГЭ")]
    n, k = len(mine), int(mine["under"].sum())
    lo, hi = wilson_interval(k, n)
    row = {"n": n, "k": k, "share": k / n, "share_low": lo, "share_high": hi, "muni_n": len(others),
           "muni_k": int(others["under"].sum()), "muni_share": others["under"].mean() if len(others) else np.nan,
           "diff": np.nan, "diff_low": np.nan, "diff_high": np.nan, "p_value": np.nan}
    if n >= min_n and len(others) >= min_n:  # a comparison of a handful of medallists says nothing
        c = compare_proportions(k, n, row["muni_k"], len(others)).iloc[0]
        row.update(diff=c["diff"], diff_low=c["diff_lower"], diff_high=c["diff_upper"], p_value=c["p_value"])
    return pd.DataFrame([row]), []


def _medal_finding(r, school_id: str, year: int, m: int) -> Finding:
    evidence = (f"Из {int(r.n)} медалистов школы, сдававших ЕГЭ, ниже {MEDAL_CUT} баллов хотя бы по одному "
                f"предмету набрали {ph.share_with_ci(r.share, int(r.k), int(r.n), r.share_low, r.share_high)}; "
                f"в других школах муниципалитета — {ph.pct(r.muni_share)} ({int(r.muni_k)} из {int(r.muni_n)}). "
                f"Разница {ph.pp(r.diff)} (95\u00a0% ДИ {ph.pp(r.diff_low)} … {ph.pp(r.diff_high)}), "
                f"{ph.q_text(r.q_value, m)}. Медаль выдаётся за итоговые отметки «5»; их расхождение с ЕГЭ — "
                "признак возможной необъективности итоговых отметок.")
    rec = Recommendation(
        text=("Заместителю директора по УВР: сверить итоговые отметки выпускников-кандидатов на медаль с "
              "результатами независимых диагностик в 10–11 классах до выставления итоговых отметок."),
        addressee_type="school", addressee_id=school_id, responsible="директор", deadline=f"{year}-12-25",
        control_metric="medal_ege_under70_share", baseline=round(float(r.share), 3),
        target=round(float(r.muni_share), 3))
    return Finding(area="objectivity", kind="inflated_marks", polarity="problem",
                   severity="high" if r.q_value < 0.01 else "medium", school_id=school_id, year=year,
                   target_type="school", target_id="", subject=None, metric="medal_ege_under70_share",
                   estimate=float(r.diff), ci_low=float(r.diff_low), ci_high=float(r.diff_high),
                   p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n),
                   title=f"Медалисты школы чаще, чем в других школах, набирают на ЕГЭ меньше {MEDAL_CUT} баллов",
                   evidence=evidence, recommendation=rec,
                   extra={"value": float(r.share), "comparison": "другие школы муниципалитета"})


def _thresholds(table: pd.DataFrame, scales: pd.DataFrame, year: int, high: float,
                primary: tuple = ()) -> pd.DataFrame:
    """Lines of the figure; ЕГЭ subjects compared on primary scores (``primary``) get none."""
    rows = []
    for r in table.itertuples():
        if r.kind == "OGE":
            sc = scales[(scales["subject"] == r.subject) & (scales["year"] == year)]
            rows += [{"kind": "OGE", "subject": r.subject, "mark": str(int(x.mark)), "score": float(x.min_primary),
                      "label": f"«{int(x.mark)}» от {_score(x.min_primary)}"} for x in sc.itertuples()]
        elif r.subject not in primary:
            if np.isfinite(r.threshold):
                rows.append({"kind": "EGE", "subject": r.subject, "mark": "min", "score": float(r.threshold),
                             "label": f"минимум {_score(r.threshold)}"})
            rows.append({"kind": "EGE", "subject": r.subject, "mark": "high", "score": high,
                         "label": f"{_score(high)} баллов"})
    return pd.DataFrame(rows, columns=["kind", "subject", "mark", "score", "label"])
