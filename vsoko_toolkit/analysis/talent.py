"""Talent work: olympiads by stage, how many students carry the school's results, the teachers who prepare them.

Public entry point: :func:`talent`.

Stages
    Per year and stage (school, municipal, regional, final): unique students who took part, who won a prize
    place (``prize`` or ``winner``) and who won (``winner``), as counts and as shares of the school's students
    of grades 4–11 that year, with Wilson intervals; the other schools of the municipality beside (the same
    shares pooled), compared with the two-sample score test.

Concentration
    A *prize place* is an olympiad row with status ``prize`` or ``winner`` (any subject, any stage). The
    statistic ``T`` is the share of the school's prize places held by its top 5 % of participants
    (``ceil(0.05·N)`` students with the most prize places, ``N`` = students with at least one row).
    Interval: percentile bootstrap over the school's participants. Comparison: what ``T`` a school of the
    same ``N`` would show if its participants were drawn from the other schools' participants (their
    per-student prize counts, with replacement; ``expected`` is the mean of that distribution) — the one-sided
    p-value ``(1 + #{T* ≥ T}) / (B + 1)``. Every school of the municipality is tested against the others in the
    year, the tests form one Benjamini–Hochberg family, and a ``talent_concentration`` finding (area
    ``talent``) is emitted for this school when ``q < 0.05`` and ``T`` is above ``expected``. Schools with fewer
    than ``min_participants`` (20) participants or ``min_prizes`` (5) prize places are not tested.

Teachers
    When ``olympiads.teacher_id`` is filled: per teacher, unique students prepared, students with a prize place,
    prize places and their share of the school's (internal use; public builds drop teacher ids).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings import Finding, Recommendation, Skipped
from ..report import talent_text as wording
from ..stats.intervals import bh_qvalues, compare_proportions, wilson_interval
from ..warehouse.schema import has_column, has_table
from .base import AnalysisResult, empty_plot

STAGES = ("school", "municipal", "regional", "final")
DEFAULTS = {"top": 0.05, "n_boot": 2000, "seed": 0, "alpha": 0.05, "min_participants": 20, "min_prizes": 5}
STAGE_COLUMNS = ["year", "stage", "n", "participants", "participants_share", "participants_lower",
                 "participants_upper", "prize_winners", "prize_share", "prize_lower", "prize_upper", "winners",
                 "winners_share", "mun_participants_share", "mun_prize_share", "p_value"]
CONC_COLUMNS = ["school_id", "year", "participants", "prize_places", "top_m", "top_share", "lower", "upper",
                "expected", "p_value", "q_value", "tested", "flagged"]


@dataclass(frozen=True)
class TalentResult(AnalysisResult):
    stages: pd.DataFrame | None = None
    concentration: pd.DataFrame | None = None  # every school, the current year
    trend: pd.DataFrame | None = None  # this school, every year
    teachers: pd.DataFrame | None = None
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        if self.trend is None or self.trend.empty:
            return empty_plot(ax, self.skipped[0].reason if self.skipped else "Нет данных об олимпиадах.")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.2))
        t = self.trend.dropna(subset=["top_share"])
        ax.errorbar(t["year"], t["top_share"], yerr=[t["top_share"] - t["lower"], t["upper"] - t["top_share"]],
                    fmt="o-", capsize=3, label="школа")
        ax.plot(t["year"], t["expected"], "s--", color="grey", label="ожидание по другим школам")
        ax.set_ylim(0, 1.05)
        ax.set_xticks(t["year"])
        ax.set_ylabel("доля призовых мест у 5 % участников")
        ax.legend(fontsize=8)
        return ax


def top_share(prizes, top: float = 0.05) -> float:
    """Share of all prize places held by the ``ceil(top · N)`` participants with the most (``NaN`` if none).

    >>> top_share([5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    0.8333333333333334
    """
    x = np.sort(np.asarray(prizes, dtype=float))[::-1]
    total = x.sum()
    if not total > 0:
        return float("nan")
    m = max(1, math.ceil(top * len(x)))
    return float(x[:m].sum() / total)


def _top_share_rows(draws: np.ndarray, top: float) -> np.ndarray:
    """``top_share`` of every row of a (B × N) matrix of prize counts."""
    m = max(1, math.ceil(top * draws.shape[1]))
    total = draws.sum(axis=1)
    part = -np.partition(-draws, m - 1, axis=1)[:, :m] if m < draws.shape[1] else draws
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, part.sum(axis=1) / total, np.nan)


def concentration_test(per_student: pd.DataFrame, year: int, opts: dict | None = None) -> pd.DataFrame:
    """Concentration of prize places for every school in ``year`` against the other schools (module docstring).

    ``per_student`` columns: school_id, year, student_id, prizes (prize places of the participant that year).
    """
    o = {**DEFAULTS, **(opts or {})}
    rng = np.random.default_rng(o["seed"])
    cur = per_student[per_student["year"] == year]
    rows = []
    for s, g in cur.groupby("school_id", sort=True):
        x = g["prizes"].to_numpy(dtype=float)
        others = cur.loc[cur["school_id"] != s, "prizes"].to_numpy(dtype=float)
        n, p = len(x), float(x.sum())
        t = top_share(x, o["top"])
        row = {"school_id": s, "year": int(year), "participants": n, "prize_places": int(p),
               "top_m": max(1, math.ceil(o["top"] * n)) if n else 0, "top_share": t, "lower": np.nan,
               "upper": np.nan, "expected": np.nan, "p_value": np.nan, "tested": False}
        if n >= o["min_participants"] and p >= o["min_prizes"] and len(others) >= o["min_participants"]:
            boot = _top_share_rows(x[rng.integers(n, size=(o["n_boot"], n))], o["top"])
            null = _top_share_rows(others[rng.integers(len(others), size=(o["n_boot"], n))], o["top"])
            null = null[np.isfinite(null)]
            row.update(lower=float(np.nanpercentile(boot, 2.5)), upper=float(np.nanpercentile(boot, 97.5)),
                       expected=float(null.mean()), tested=True,
                       p_value=float((1 + (null >= t - 1e-12).sum()) / (len(null) + 1)))
        rows.append(row)
    out = pd.DataFrame(rows, columns=[c for c in CONC_COLUMNS if c not in ("q_value", "flagged")])
    out["q_value"] = np.nan
    tested = out["tested"] & out["p_value"].notna()
    if tested.any():
        out.loc[tested, "q_value"] = bh_qvalues(out.loc[tested, "p_value"].to_numpy())
    out["flagged"] = tested & (out["q_value"] < o["alpha"]) & (out["top_share"] > out["expected"])
    return out[CONC_COLUMNS]


def _per_student(con, years: list[int]) -> pd.DataFrame:
    return con.execute(
        f"""SELECT school_id, year, student_id,
                   sum(CASE WHEN status IN ('prize', 'winner') THEN 1 ELSE 0 END)::INTEGER AS prizes
              FROM olympiads WHERE school_id IS NOT NULL AND year IN ({','.join('?' * len(years))})
             GROUP BY ALL ORDER BY school_id, year, student_id""", years).df()  # the bootstrap draws rows by position


def _stages(con, school_id: str, years: list[int]) -> pd.DataFrame:
    ph = ",".join("?" * len(years))
    n = con.execute(f"""SELECT school_id = ? AS own, year, count(DISTINCT student_id) AS n FROM enrollments
                         WHERE grade >= 4 AND year IN ({ph}) GROUP BY ALL""", [school_id, *years]).df()
    k = con.execute(f"""SELECT school_id = ? AS own, year, stage, count(DISTINCT student_id) AS participants,
                        count(DISTINCT CASE WHEN status IN ('prize', 'winner') THEN student_id END) AS prize_winners,
                        count(DISTINCT CASE WHEN status = 'winner' THEN student_id END) AS winners
                        FROM olympiads WHERE year IN ({ph}) GROUP BY ALL""", [school_id, *years]).df()
    rows = []
    for y in years:
        nn = n.set_index(["own", "year"])["n"]
        n_own, n_oth = int(nn.get((True, y), 0)), int(nn.get((False, y), 0))
        if n_own == 0:
            continue
        for st in STAGES:
            def get(own, col, y=y, st=st):
                m = k[(k["own"] == own) & (k["year"] == y) & (k["stage"] == st)]
                return int(m[col].iloc[0]) if len(m) else 0
            kp, kz, kw = get(True, "participants"), get(True, "prize_winners"), get(True, "winners")
            if kp == 0 and get(False, "participants") == 0:
                continue
            lo, hi = wilson_interval(kp, n_own)
            zlo, zhi = wilson_interval(kz, n_own)
            op, oz = get(False, "participants"), get(False, "prize_winners")
            p = float(compare_proportions(kp, n_own, op, n_oth)["p_value"].iloc[0]) if n_oth else np.nan
            rows.append({"year": y, "stage": st, "n": n_own, "participants": kp, "participants_share": kp / n_own,
                         "participants_lower": lo, "participants_upper": hi, "prize_winners": kz,
                         "prize_share": kz / n_own, "prize_lower": zlo, "prize_upper": zhi, "winners": kw,
                         "winners_share": kw / n_own,
                         "mun_participants_share": op / n_oth if n_oth else np.nan,
                         "mun_prize_share": oz / n_oth if n_oth else np.nan, "p_value": p})
    return pd.DataFrame(rows, columns=STAGE_COLUMNS)


def _teachers(con, school_id: str, year: int) -> pd.DataFrame | None:
    if not has_column(con, "olympiads", "teacher_id"):
        return None
    t = con.execute("""SELECT teacher_id, count(DISTINCT student_id) AS n_students,
                       count(DISTINCT CASE WHEN status IN ('prize', 'winner') THEN student_id END) AS prize_students,
                       sum(CASE WHEN status IN ('prize', 'winner') THEN 1 ELSE 0 END)::INTEGER AS prize_places
                       FROM olympiads WHERE school_id = ? AND year = ? AND teacher_id IS NOT NULL
                       GROUP BY teacher_id ORDER BY prize_places DESC, teacher_id""", [school_id, int(year)]).df()
    if t.empty:
        return None
    total = con.execute("""SELECT count(*) FROM olympiads WHERE school_id = ? AND year = ?
                           AND status IN ('prize', 'winner')""", [school_id, int(year)]).fetchone()[0]
    t["prize_share"] = t["prize_places"] / total if total else np.nan
    return t


def talent(con, school_id: str, year: int, options: dict | None = None) -> TalentResult:
    """Olympiads by stage, concentration of prize places (tested against the other schools), teachers."""
    o = {**DEFAULTS, **(options or {})}
    year = int(year)
    if not has_table(con, "olympiads") or not con.execute(
            "SELECT count(*) FROM olympiads WHERE year <= ?", [year]).fetchone()[0]:
        reason = wording.MISSING_OLYMPIADS
        return TalentResult(table=pd.DataFrame(columns=CONC_COLUMNS), skipped=(Skipped("talent", reason),),
                            notes=(reason,), school_id=school_id, year=year)
    years = [int(y) for (y,) in con.execute("SELECT DISTINCT year FROM olympiads WHERE year <= ? ORDER BY year",
                                            [year]).fetchall()]
    per = _per_student(con, years)
    stages = _stages(con, school_id, years)
    tests = [concentration_test(per, y, o) for y in years] if len(per) else []
    trend = pd.concat([c[c["school_id"] == school_id] for c in tests], ignore_index=True) if tests else \
        pd.DataFrame(columns=CONC_COLUMNS)
    conc = tests[-1] if tests and years[-1] == year else concentration_test(per, year, o)
    teachers = _teachers(con, school_id, year)
    notes, skipped = [], []
    if teachers is None:
        msg = wording.NO_TEACHERS
        notes.append(msg)
        skipped.append(Skipped("talent_teachers", msg))
    if school_id not in set(conc["school_id"]):
        notes.append(wording.NO_OWN_ROWS)
    findings = _findings(conc, school_id, year)
    return TalentResult(table=conc, findings=findings, skipped=tuple(skipped), notes=tuple(notes), stages=stages,
                        concentration=conc, trend=trend, teachers=teachers, school_id=school_id, year=year)


def _findings(conc: pd.DataFrame, school_id: str, year: int) -> tuple[Finding, ...]:
    r = conc[(conc["school_id"] == school_id) & conc["flagged"]]
    if r.empty:
        return ()
    r = r.iloc[0]
    n_tested = int(conc["tested"].sum())
    big = r["top_share"] - r["expected"]
    severity = "high" if big >= 0.3 and r["q_value"] < 0.01 else "medium" if big >= 0.15 else "low"
    rec = Recommendation(
        text=wording.recommendation(year), addressee_type="school", addressee_id=school_id,
        responsible="заместитель директора по учебно-воспитательной работе", deadline=f"{year}-10-31",
        control_metric="top5_prize_share", baseline=round(float(r["top_share"]), 3),
        target=round(float(r["expected"]), 3))
    return (Finding(
        area="talent", kind="talent_concentration", polarity="problem", severity=severity, school_id=school_id,
        year=year, target_type="school", target_id="", subject=None, metric="top5_prize_share",
        estimate=float(r["top_share"]), ci_low=float(r["lower"]), ci_high=float(r["upper"]),
        p_value=float(r["p_value"]), q_value=float(r["q_value"]), n=int(r["participants"]),
        title=wording.title(r), evidence=wording.evidence(r, n_tested), recommendation=rec,
        extra={"expected": float(r["expected"]), "prize_places": int(r["prize_places"]), "top_m": int(r["top_m"])}),)
