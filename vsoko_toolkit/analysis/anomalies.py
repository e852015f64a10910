"""Score anomalies: pile-ups of primary scores at the mark-3 threshold, sharp year-on-year jumps.

Public entry point: :func:`score_anomalies`.

**Bunching test.** For each work of ``year`` written in the school (kind, subject, grade) with a
scale (``scales``: the minimum primary score for a «3», ``t``), the school's students'
primary scores are counted per point. A smooth expected histogram is a Poisson regression of
the counts on a quadratic in the score, fitted on the bins of ``[t - 8, t + 8]`` outside the
window ``[t - 3, t]`` (three points just below the threshold and the threshold itself).
Given the number of students inside the window, the fitted curve gives the share expected
exactly at ``t``; the observed count at ``t`` is tested against it with a one-sided
binomial test (more than expected). Benjamini–Hochberg across the school's works; a
``threshold_peak`` finding for q < 0.05 with at least ``MIN_AT`` students at the threshold.

**Jumps.** The school's mean primary score of each work against the same work last year
(Welch interval); shown in the table, not a finding by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings import Cause, Finding, Recommendation
from ..report import phrases as ph
from ..stats.intervals import bh_qvalues, binom_test, compare_means
from .base import AnalysisResult

ALPHA = 0.05
MIN_AT = 3
MIN_N = 15
SPAN = 8
KIND_RU = {"VPR": "ВПР", "OGE": "ОГЭ", "EGE": "ЕГЭ", "GVE": "ГВЭ"}
COLUMNS = ["kind", "subject", "grade", "n", "threshold", "n_window", "at_threshold", "expected_at",
           "excess", "p_value", "q_value", "flagged", "mean", "mean_prev", "jump", "jump_low", "jump_high",
           "jump_p"]


@dataclass(frozen=True)
class AnomalyResult(AnalysisResult):
    """Bunching tests and jumps per work.

    ``tidy()`` columns: kind, subject, grade, n (students), threshold (min primary score for «3»),
    n_window (students with scores in [t−3, t]), at_threshold (observed at t), expected_at
    (expected at t from the smooth fit), excess (observed − expected), p_value, q_value, flagged,
    mean, mean_prev (last year), jump (difference), jump_low, jump_high, jump_p (Welch).
    ``scores``: kind, subject, grade, primary_score of the school's students (for the histogram).
    """

    scores: pd.DataFrame | None = None
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None, work: tuple | None = None):
        """Histogram of primary scores of ``work`` with the mark thresholds and the smooth expectation."""
        import matplotlib.pyplot as plt

        if work is None:
            work = self.focus_work()
        s = self.scores
        d = s[(s["kind"] == work[0]) & (s["subject"] == work[1]) & (s["grade"] == work[2])]["primary_score"]
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        bins = np.arange(0, (d.max() if len(d) else 1) + 2) - 0.5
        ax.hist(d, bins=bins, color="#1f5f99", edgecolor="white")
        row = self.table[(self.table["kind"] == work[0]) & (self.table["subject"] == work[1])
                         & (self.table["grade"] == work[2])]
        if len(row):
            t = row.iloc[0]["threshold"]
            ax.axvline(t - 0.5, color="#c0392b", ls="--", label=f"порог «3»: {t:.0f} балл.")
        ax.set_xlabel("первичный балл")
        ax.set_ylabel("учеников")
        ax.set_title(f"{KIND_RU.get(work[0], work[0])}, «{work[1]}», {work[2]} класс: распределение баллов",
                     fontsize=10)
        ax.legend(fontsize=8)
        return ax

    def focus_work(self) -> tuple:
        t = self.table
        if len(t) and t["flagged"].any():
            r = t[t["flagged"]].sort_values("p_value").iloc[0]
        else:
            oge = t[(t["kind"] == "OGE") & (t["subject"] == "Математика")]
            r = (oge if len(oge) else t).iloc[0]
        return (r["kind"], r["subject"], int(r["grade"]))


def bunching_test(scores, threshold: float, span: int = SPAN) -> dict:
    """Excess of scores exactly at ``threshold`` against a smooth Poisson-quadratic fit (module docstring)."""
    import statsmodels.api as sm

    s = np.round(np.asarray(scores, dtype=float)).astype(int)
    t = int(round(threshold))
    lo, hi = max(0, t - span), t + span
    x = np.arange(lo, hi + 1)
    y = np.array([(s == v).sum() for v in x], dtype=float)
    window = (x >= t - 3) & (x <= t)
    n_window = int(y[window].sum())
    at = int(y[x == t].sum())
    out = {"n_window": n_window, "at_threshold": at, "expected_at": np.nan, "excess": np.nan, "p_value": np.nan}
    fit_mask = ~window
    if n_window == 0 or y[fit_mask].sum() < 5 or fit_mask.sum() < 4:
        return out
    xc = (x - t) / span
    X = np.column_stack([np.ones_like(xc), xc, xc ** 2])
    try:
        mu = sm.GLM(y[fit_mask], X[fit_mask], family=sm.families.Poisson()).fit().predict(X)
    except Exception:  # noqa: BLE001 - a degenerate histogram is not tested
        return out
    share = float(mu[x == t].sum() / mu[window].sum())
    out["expected_at"] = share * n_window
    out["excess"] = at - out["expected_at"]
    out["p_value"] = float(binom_test(at, n_window, min(max(share, 1e-9), 1 - 1e-9), alternative="greater"))
    return out


def _load(con, school_id: str, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    scores = con.execute(
        """SELECT kind, subject, grade, year, primary_score FROM assessments
            WHERE school_id = ? AND year IN (?, ?) AND primary_score IS NOT NULL""",
        [school_id, int(year), int(year) - 1]).df()
    scales = con.execute("SELECT kind, subject, grade, year, min_primary FROM scales WHERE mark = 3 AND year = ?",
                         [int(year)]).df()
    return scores, scales


def score_anomalies(con, school_id: str, year: int, options: dict | None = None) -> AnomalyResult:
    """Bunching at the mark-3 threshold and year-on-year jumps for ``school_id`` in ``year``.

    ``options``: ``alpha`` (0.05), ``kinds`` (default ("OGE", "VPR")).
    """
    opts = options or {}
    alpha = float(opts.get("alpha", ALPHA))
    kinds = tuple(opts.get("kinds", ("OGE", "VPR")))
    scores, scales = _load(con, school_id, year)
    scores = scores[scores["kind"].isin(kinds)]
    cur = scores[scores["year"] == int(year)]
    prev = scores[scores["year"] == int(year) - 1]
    rows = []
    for (kind, subject, grade), g in cur.groupby(["kind", "subject", "grade"]):
        sc = scales[(scales["kind"] == kind) & (scales["subject"] == subject) & (scales["grade"] == grade)]
        p = prev[(prev["kind"] == kind) & (prev["subject"] == subject) & (prev["grade"] == grade)]["primary_score"]
        row = {"kind": kind, "subject": subject, "grade": int(grade), "n": len(g),
               "threshold": float(sc["min_primary"].iloc[0]) if len(sc) else np.nan,
               "mean": g["primary_score"].mean(), "mean_prev": p.mean() if len(p) else np.nan}
        if len(sc) and len(g) >= MIN_N:
            row.update(bunching_test(g["primary_score"], row["threshold"]))
        if len(p) >= 2 and len(g) >= 2:
            c = compare_means(g["primary_score"].mean(), g["primary_score"].std(), len(g), p.mean(), p.std(),
                              len(p)).iloc[0]
            row.update(jump=c["diff"], jump_low=c["diff_lower"], jump_high=c["diff_upper"], jump_p=c["p_value"])
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    if len(table):
        table["q_value"] = bh_qvalues(table["p_value"].to_numpy(dtype=float))
        table["flagged"] = (table["q_value"] < alpha) & (table["at_threshold"] >= MIN_AT)
    findings = tuple(_finding(r, school_id, int(year), int(table["p_value"].notna().sum()))
                     for r in table[table["flagged"].fillna(False).astype(bool)].itertuples())
    return AnomalyResult(table=table, findings=findings, scores=cur[["kind", "subject", "grade", "primary_score"]],
                         school_id=school_id, year=int(year))


def _finding(r, school_id: str, year: int, m: int) -> Finding:
    work = f"{KIND_RU.get(r.kind, r.kind)} по предмету «{r.subject}» ({r.grade} класс)"
    t = int(r.threshold)
    evidence = (f"На {work} ровно {t} первичных баллов (минимум для отметки «3») набрали {r.at_threshold} из "
                f"{r.n_window} учеников с баллами от {t - 3} до {t}; по гладкому распределению баллов "
                f"ожидалось {ph.num(r.expected_at, 1)}. Избыток {ph.num(r.excess, 1)} ученика, "
                f"{ph.q_text(r.q_value, m)}. Такой «пик на пороге» — признак возможной необъективности "
                "проверки или проведения работы; он не доказывает её и требует проверки.")
    severity = "high" if r.q_value < 0.001 else "medium" if r.q_value < 0.01 else "low"
    rec = Recommendation(
        text=(f"Директору: организовать перепроверку работ {work} с баллами {t - 3}–{t} независимыми экспертами "
              "и обеспечить независимое наблюдение при проведении работы в следующем году."),
        addressee_type="school", addressee_id=school_id, responsible="директор",
        deadline=f"{year}-10-01", control_metric="threshold_excess", baseline=round(float(r.excess), 2),
        target=0.0)
    causes = (Cause("Пик объясняется общим уровнем подготовки учеников", "not_supported",
                    "Ожидаемое число у порога рассчитано по гладкой кривой, подогнанной к баллам этой же школы "
                    "вне окна у порога."),)
    return Finding(area="objectivity", kind="threshold_peak", polarity="problem", severity=severity,
                   school_id=school_id, year=year, target_type="subject", target_id=r.subject,
                   subject=r.subject, metric="threshold_excess", estimate=float(r.excess), ci_low=None,
                   ci_high=None, p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n), title=(
                       f"Аномальный пик первичных баллов на пороге «3»: {work}"), evidence=evidence,
                   causes=causes, recommendation=rec,
                   extra={"work_kind": r.kind, "grade": int(r.grade), "threshold_score": t})
