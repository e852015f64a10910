"""Graduates' self-determination: where the school's 9th and 11th graders go (optional table ``destinations``).

Public entry point :func:`destinations` ``(con, school_id, year, window=3) -> DestinationsResult``.

- **Shares by destination** (the year): per grade (9, 11) and destination, the school's share of its graduates
  with a Wilson interval, against the other schools of the municipality (pooled; the school itself is not in
  its comparison) with Newcombe's interval of the difference. Descriptive: no finding.
- **Trend**: the same shares for every year in the data; the year against the school's earlier years pooled
  for the two headline shares (stayed in the own 10th grade after grade 9, went to a university after grade 11).
  Descriptive: no finding (three or four cohorts of one school cannot carry a trend claim).
- **Outflow after grade 9 by profile** (``graduate_outflow``): over the last ``window`` years, the share of the
  school's 9th-grade graduates who left for a college or another school's 10th grade *of profile P*, against
  the other schools; one-sided score test (more than the comparison), one Benjamini–Hochberg family over the
  profiles observed. A finding when q < ``alpha``, the difference's interval is above 0, the difference is at
  least ``MIN_DIFF`` (10 percentage points: "many" leave, not a small shift in where a few go) and at least 5
  students left for P; its fields name the profile and whether the school's 10th grade offers it (``CLASS_PROFILES``).
- **Profile and elective exams after grade 11** (``profile_mismatch``): among graduates going on to a university
  or college with a stated profile who sat at least one elective ЕГЭ, the share whose profile matches one of
  their elective subjects (the stated mapping ``PROFILE_SUBJECTS``), against the other schools; one-sided (lower);
  BH over the tested grades; a finding when q < ``alpha``, the difference's interval is below 0, the school is at
  least ``MIN_DIFF`` lower and at least 5 graduates' profiles do not match. Shown for grade 9 (ОГЭ) as well, but only grade 11 is tested: after grade 9 the
  ОГЭ subjects are mostly chosen for the certificate, not for the college.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..findings import Cause, Finding, Recommendation, Skipped
from ..report import destinations_text as wording
from ..stats.intervals import bh_qvalues, compare_proportions, wilson_interval
from ..warehouse.schema import has_table
from .base import AnalysisResult, empty_plot

DESTINATIONS = ("own_10", "other_10", "spo", "university", "work", "other")
LEFT_AFTER_9 = ("spo", "other_10")
STUDIES = ("university", "spo")
COMPULSORY = ("Русский язык", "Математика")
#: Stated mapping: elective exam subjects that fit each profile of further study (a profile matches when
#: at least one of the graduate's elective ОГЭ/ЕГЭ subjects is in its set; "other" is not assessed).
PROFILE_SUBJECTS: dict[str, frozenset[str]] = {
    "technical": frozenset({"Физика", "Информатика"}),
    "science": frozenset({"Физика", "Химия", "Биология", "География"}),
    "socio_economic": frozenset({"Обществознание", "География", "Информатика", "Английский язык"}),
    "humanities": frozenset({"История", "Обществознание", "Литература", "Английский язык"}),
    "pedagogical": frozenset({"Обществознание", "История", "Биология", "Литература", "Английский язык"}),
    "medical": frozenset({"Биология", "Химия"}),
    "creative": frozenset({"Литература", "История"}),
}
#: Stated mapping: which profiles of further study a 10th-grade class profile (classes.profile, matched by
#: word stem, case-insensitive) prepares for; a universal class offers none in particular.
CLASS_PROFILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("технол", ("technical",)), ("инженер", ("technical",)), ("физ", ("technical", "science")),
    ("естеств", ("science", "medical")), ("хим", ("science", "medical")), ("био", ("science", "medical")),
    ("мед", ("medical",)), ("социал", ("socio_economic",)), ("эконом", ("socio_economic",)),
    ("гуманит", ("humanities", "pedagogical")), ("филолог", ("humanities",)), ("педагог", ("pedagogical",)),
    ("творч", ("creative",)), ("художеств", ("creative",)),
)
MIN_K = 5  # a finding names a group of at least 5 students
MIN_DIFF = 0.10  # "many leave": the school's share exceeds the comparison by at least 10 percentage points


def class_profile_directions(label: str | None) -> tuple[str, ...]:
    """Profiles of further study a 10th-grade class profile prepares for (``()`` for universal or empty)."""
    s = str(label or "").lower()
    out: list[str] = []
    for stem, dirs in CLASS_PROFILES:
        if stem in s:
            out += [d for d in dirs if d not in out]
    return tuple(out)


def profile_matches(profile: str | None, electives) -> bool | None:
    """Whether ``profile`` fits at least one elective subject (None when it cannot be judged)."""
    subjects = PROFILE_SUBJECTS.get(str(profile))
    electives = [e for e in electives if e not in COMPULSORY]
    if subjects is None or not electives:
        return None
    return bool(subjects.intersection(electives))


@dataclass(frozen=True)
class DestinationsResult(AnalysisResult):
    """``table`` (= ``shares``): grade, destination, n (school's graduates there), n_grade, share, ci_low, ci_high,
    muni_n, muni_n_grade, muni_share, muni_ci_low, muni_ci_high, diff, diff_low, diff_high (the year).
    ``trend``: year, grade, destination, n, n_grade, share, ci_low, ci_high. ``headline``: the year against the
    earlier years for own_10 (grade 9) and university (grade 11). ``outflow``: per profile of leavers after
    grade 9 over the window (n, n_grade, share, CI, comparison, diff and its CI, p, q, offered). ``match``: per
    grade, the profile/elective-exam match (n = judged graduates, n_match, share, comparison, p, q, tested)."""

    shares: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    trend: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    headline: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    outflow: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    match: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    offered: tuple[str, ...] | None = ()
    offered_labels: tuple[str, ...] = ()
    window: tuple[int, ...] = ()
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        if self.shares.empty:
            return empty_plot(ax, self.skipped[0].reason if self.skipped else "Нет данных о выпускниках.")
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.2))
        rows, labels = [], []
        for g in (9, 11):
            s = self.shares[self.shares["grade"] == g].set_index("destination")
            if s.empty:
                continue
            for who, col in (("школа", "share"), ("другие школы", "muni_share")):
                rows.append([float(s[col].get(d, 0.0) or 0.0) for d in DESTINATIONS])
                labels.append(f"{g} класс: {who}")
        data = np.nan_to_num(np.array(rows))
        left = np.zeros(len(rows))
        colors = plt.cm.tab10(np.arange(len(DESTINATIONS)))
        for j, d in enumerate(DESTINATIONS):
            ax.barh(labels, data[:, j], left=left, color=colors[j], label=wording.DESTINATION_RU[d])
            left += data[:, j]
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{100 * x:.0f} %"))
        ax.set_xlabel("доля выпускников")
        ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
        return ax


def _empty(reason: str, school_id: str, year: int) -> DestinationsResult:
    return DestinationsResult(table=pd.DataFrame(), skipped=(Skipped("destinations", reason),),
                              school_id=school_id, year=year)


def _rows(con, years: list[int]) -> pd.DataFrame:
    marks = ", ".join(str(int(y)) for y in years)
    return con.execute(
        f"SELECT student_id, school_id, year, grade, destination, profile FROM destinations "
        f"WHERE year IN ({marks}) AND grade IN (9, 11) AND school_id IS NOT NULL").df()


def _electives(con, years: list[int]) -> dict[tuple[str, int], set[str]]:
    if not has_table(con, "assessments"):
        return {}
    marks = ", ".join(str(int(y)) for y in years)
    a = con.execute(
        f"SELECT DISTINCT student_id, year, subject FROM assessments WHERE kind IN ('OGE', 'EGE') "
        f"AND year IN ({marks})").df()
    return {(s, int(y)): set(g) for (s, y), g in a.groupby(["student_id", "year"])["subject"]} if len(a) else {}


def _shares(d: pd.DataFrame, school_id: str, year: int) -> pd.DataFrame:
    d = d[d["year"] == year]
    out = []
    for g in (9, 11):
        own, oth = d[(d["grade"] == g) & (d["school_id"] == school_id)], d[(d["grade"] == g) & (d["school_id"] != school_id)]
        if own.empty:
            continue
        for dest in DESTINATIONS:
            k1, n1 = int((own["destination"] == dest).sum()), len(own)
            k2, n2 = int((oth["destination"] == dest).sum()), len(oth)
            if k1 == 0 and k2 == 0:
                continue
            out.append({"grade": g, "destination": dest, "n": k1, "n_grade": n1, "muni_n": k2, "muni_n_grade": n2})
    t = pd.DataFrame(out, columns=["grade", "destination", "n", "n_grade", "muni_n", "muni_n_grade"])
    if t.empty:
        return t
    lo, hi = wilson_interval(t["n"], t["n_grade"])
    mlo, mhi = wilson_interval(t["muni_n"], t["muni_n_grade"].clip(lower=0))
    cmp = compare_proportions(t["n"], t["n_grade"], t["muni_n"], t["muni_n_grade"])
    return t.assign(share=t["n"] / t["n_grade"], ci_low=lo, ci_high=hi,
                    muni_share=(t["muni_n"] / t["muni_n_grade"].replace(0, np.nan)), muni_ci_low=mlo, muni_ci_high=mhi,
                    diff=cmp["diff"].to_numpy(), diff_low=cmp["diff_lower"].to_numpy(),
                    diff_high=cmp["diff_upper"].to_numpy())


def _trend(d: pd.DataFrame, school_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    own = d[d["school_id"] == school_id]
    t = own.groupby(["year", "grade", "destination"]).size().rename("n").reset_index()
    t = t.merge(own.groupby(["year", "grade"]).size().rename("n_grade").reset_index(), on=["year", "grade"])
    lo, hi = wilson_interval(t["n"], t["n_grade"])
    t = t.assign(share=t["n"] / t["n_grade"], ci_low=lo, ci_high=hi).sort_values(["grade", "destination", "year"])
    return t.reset_index(drop=True), own


def _headline(own: pd.DataFrame, year: int) -> pd.DataFrame:
    out = []
    for g, dest in ((9, "own_10"), (11, "university")):
        x = own[own["grade"] == g]
        now, before = x[x["year"] == year], x[x["year"] < year]
        if now.empty or before.empty:
            continue
        c = compare_proportions(int((now["destination"] == dest).sum()), len(now),
                                int((before["destination"] == dest).sum()), len(before)).iloc[0]
        out.append({"grade": g, "destination": dest, "n": int(c.k1), "n_grade": int(c.n1), "share": c.p1,
                    "prev_n": int(c.k2), "prev_n_grade": int(c.n2), "prev_share": c.p2,
                    "prev_years": ", ".join(str(int(y)) for y in sorted(before["year"].unique())),
                    "diff": c["diff"], "diff_low": c.diff_lower, "diff_high": c.diff_upper, "p_value": c.p_value})
    return pd.DataFrame(out)


def _one_sided(cmp: pd.DataFrame, greater: bool) -> np.ndarray:
    p, diff = cmp["p_value"].to_numpy(float), cmp["diff"].to_numpy(float)
    right = diff > 0 if greater else diff < 0
    return np.where(np.isnan(p), np.nan, np.where(right, p / 2, 1 - p / 2))


def _offered(con, school_id: str, years: list[int]) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """Profiles of further study the school's 10th grades offered in ``years`` (None: classes.profile is not
    kept at all, so it is unknown) and their class labels."""
    if not has_table(con, "classes") or not con.execute("SELECT count(profile) FROM classes").fetchone()[0]:
        return None, ()
    marks = ", ".join(str(int(y)) for y in years)
    labels = [r[0] for r in con.execute(
        f"SELECT DISTINCT coalesce(profile, '') FROM classes WHERE school_id = ? AND grade = 10 AND year IN ({marks}) "
        "ORDER BY 1", [school_id]).fetchall()]
    dirs: list[str] = []
    for lab in labels:
        dirs += [x for x in class_profile_directions(lab) if x not in dirs]
    return tuple(dirs), tuple(lab or "без профиля" for lab in labels)


def _outflow(w: pd.DataFrame, school_id: str, offered: tuple[str, ...] | None) -> pd.DataFrame:
    g9 = w[w["grade"] == 9]
    own, oth = g9[g9["school_id"] == school_id], g9[g9["school_id"] != school_id]
    left = g9[g9["destination"].isin(LEFT_AFTER_9) & g9["profile"].notna() & (g9["profile"] != "other")]
    profiles = sorted(left["profile"].unique())
    if own.empty or oth.empty or not profiles:
        return pd.DataFrame()

    def k(frame, p):
        return int((frame["destination"].isin(LEFT_AFTER_9) & (frame["profile"] == p)).sum())

    t = pd.DataFrame({"profile": profiles, "n": [k(own, p) for p in profiles], "n_grade": len(own),
                      "muni_n": [k(oth, p) for p in profiles], "muni_n_grade": len(oth)})
    cmp = compare_proportions(t["n"], t["n_grade"], t["muni_n"], t["muni_n_grade"])
    lo, hi = wilson_interval(t["n"], t["n_grade"])
    mlo, mhi = wilson_interval(t["muni_n"], t["muni_n_grade"])
    p = _one_sided(cmp, greater=True)
    return t.assign(share=cmp["p1"].to_numpy(), ci_low=lo, ci_high=hi, muni_share=cmp["p2"].to_numpy(),
                    muni_ci_low=mlo, muni_ci_high=mhi, diff=cmp["diff"].to_numpy(),
                    diff_low=cmp["diff_lower"].to_numpy(), diff_high=cmp["diff_upper"].to_numpy(), p_value=p,
                    q_value=bh_qvalues(p), offered=[None if offered is None else x in offered for x in profiles])


def _match(w: pd.DataFrame, electives: dict, school_id: str) -> pd.DataFrame:
    x = w[w["destination"].isin(STUDIES)].copy()
    x["match"] = [profile_matches(p, electives.get((s, int(y)), ())) for s, y, p in
                  zip(x["student_id"], x["year"], x["profile"], strict=True)]
    x = x[x["match"].notna()]
    out = []
    for g in (9, 11):
        xg = x[x["grade"] == g]
        own, oth = xg[xg["school_id"] == school_id], xg[xg["school_id"] != school_id]
        if own.empty or oth.empty:
            continue
        out.append({"grade": g, "n_match": int(own["match"].sum()), "n": len(own),
                    "muni_n_match": int(oth["match"].sum()), "muni_n": len(oth), "tested": g == 11})
    t = pd.DataFrame(out)
    if t.empty:
        return t
    cmp = compare_proportions(t["n_match"], t["n"], t["muni_n_match"], t["muni_n"])
    lo, hi = wilson_interval(t["n_match"], t["n"])
    mlo, mhi = wilson_interval(t["muni_n_match"], t["muni_n"])
    p = np.where(t["tested"], _one_sided(cmp, greater=False), np.nan)
    q = np.full(len(t), np.nan)
    tested = t["tested"].to_numpy()
    if tested.any():
        q[tested] = bh_qvalues(p[tested])
    return t.assign(share=cmp["p1"].to_numpy(), ci_low=lo, ci_high=hi, muni_share=cmp["p2"].to_numpy(),
                    muni_ci_low=mlo, muni_ci_high=mhi, diff=cmp["diff"].to_numpy(),
                    diff_low=cmp["diff_lower"].to_numpy(), diff_high=cmp["diff_upper"].to_numpy(), p_value=p,
                    q_value=q)


def destinations(con, school_id: str, year: int, window: int = 3, alpha: float = 0.05) -> DestinationsResult:
    """Where the school's graduates of grades 9 and 11 went: shares, trend, outflow by profile, profile/exam match.

    Parameters
    ----------
    con : DuckDB connection to the warehouse (``destinations`` with its derived ``school_id``; ``classes`` and
        ``assessments`` are read when present).
    school_id, year : the school and the year of graduation.
    window : years pooled (up to ``year``) for the outflow and match tests.
    alpha : false-discovery rate of each family.
    """
    if not has_table(con, "destinations") or not con.execute("SELECT count(*) FROM destinations").fetchone()[0]:
        return _empty(wording.SKIP_NO_TABLE, school_id, year)
    all_years = [int(r[0]) for r in con.execute(
        "SELECT DISTINCT year FROM destinations WHERE year <= ? ORDER BY 1", [year]).fetchall()]
    if year not in all_years:
        return _empty(wording.skip_no_school(year), school_id, year)
    d = _rows(con, all_years)
    if d[(d["year"] == year) & (d["school_id"] == school_id)].empty:
        return _empty(wording.skip_no_school(year), school_id, year)
    win = [y for y in all_years if y > year - window]
    w = d[d["year"].isin(win)]
    shares = _shares(d, school_id, year)
    trend, own = _trend(d, school_id)
    offered, offered_labels = _offered(con, school_id, win)
    outflow = _outflow(w, school_id, offered)
    match = _match(w, _electives(con, win), school_id)
    notes = []
    if (d["school_id"] != school_id).sum() == 0:
        notes.append("В данных нет других школ муниципалитета: сравнение с муниципалитетом не проводится.")
    if "profile" in d and d["profile"].isna().all():
        notes.append("В таблице destinations не заполнен профиль (profile): уход по профилям и совпадение "
                     "профиля с экзаменами по выбору не оцениваются.")
    findings = _outflow_findings(outflow, school_id, year, win, offered_labels, alpha)
    findings += _match_findings(match, school_id, year, win, alpha)
    return DestinationsResult(table=shares, shares=shares, trend=trend, headline=_headline(own, year), outflow=outflow,
                              match=match, offered=offered, offered_labels=offered_labels, window=tuple(win),
                              findings=tuple(findings), notes=tuple(notes), school_id=school_id, year=year)


def _outflow_findings(t: pd.DataFrame, school_id: str, year: int, win, offered_labels, alpha) -> list[Finding]:
    out = []
    if t.empty:
        return out
    m = len(t)
    for r in t.itertuples(index=False):
        if not (r.q_value < alpha and r.diff_low > 0 and r.diff >= MIN_DIFF and r.n >= MIN_K):
            continue
        known = r.offered is not None
        offered_ru = ", ".join(offered_labels) or "нет данных о профилях 10 классов"
        rec = Recommendation(
            text=wording.outflow_recommendation(r.profile, bool(r.offered) or not known, year), addressee_type="school",
            addressee_id=school_id, responsible="заместитель директора по учебно-воспитательной работе",
            deadline=f"{year + 1}-08-31", control_metric=f"outflow_share_9_{r.profile}", baseline=round(float(r.share), 3),
            target=round(float(r.muni_share), 3))
        out.append(Finding(
            area="self_determination", kind="graduate_outflow", polarity="problem",
            severity="high" if known and not r.offered else "medium", school_id=school_id, year=year, target_type="grade",
            target_id="9", subject=None, metric="outflow_share", estimate=float(r.share), ci_low=float(r.ci_low),
            ci_high=float(r.ci_high), p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n_grade),
            title=wording.outflow_title(r.profile, bool(r.offered) or not known),
            evidence=wording.outflow_evidence(r.profile, r.n, r.n_grade, r.share, r.ci_low, r.ci_high, r.muni_n,
                                              r.muni_n_grade, r.muni_share, r.muni_ci_low, r.muni_ci_high, r.diff,
                                              r.diff_low, r.diff_high, r.q_value, m, win, offered_ru),
            recommendation=rec,
            causes=(Cause(wording.NOT_OFFERED_HYPOTHESIS,
                          "inconclusive" if not known else "not_supported" if r.offered else "supported",
                          wording.not_offered_evidence(r.profile, offered_ru, known, bool(r.offered))),),
            extra={"profile": r.profile, "profile_offered": bool(r.offered) if known else None,
                   "offered_profiles": list(offered_labels),
                   "comparison": "municipality", "comparison_estimate": float(r.muni_share), "n_students": int(r.n),
                   "years": [int(y) for y in win]}))
    return out


def _match_findings(t: pd.DataFrame, school_id: str, year: int, win, alpha) -> list[Finding]:
    out = []
    if t.empty:
        return out
    m = int(t["tested"].sum())
    for r in t[t["tested"]].itertuples(index=False):
        if not (r.q_value < alpha and r.diff_high < 0 and r.diff <= -MIN_DIFF and r.n - r.n_match >= MIN_K):
            continue
        rec = Recommendation(
            text=wording.mismatch_recommendation(int(r.grade), year), addressee_type="grade",
            addressee_id=str(int(r.grade)), responsible="заместитель директора по учебно-воспитательной работе",
            deadline=f"{year + 1}-08-31", control_metric=f"profile_exam_match_{int(r.grade)}",
            baseline=round(float(r.share), 3), target=round(float(r.muni_share), 3))
        out.append(Finding(
            area="self_determination", kind="profile_mismatch", polarity="problem", severity="medium",
            school_id=school_id, year=year, target_type="grade", target_id=str(int(r.grade)), subject=None,
            metric="profile_exam_match", estimate=float(r.share), ci_low=float(r.ci_low), ci_high=float(r.ci_high),
            p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n), title=wording.mismatch_title(int(r.grade)),
            evidence=wording.mismatch_evidence(int(r.grade), r.n_match, r.n, r.share, r.ci_low, r.ci_high,
                                               r.muni_n_match, r.muni_n, r.muni_share, r.muni_ci_low, r.muni_ci_high,
                                               r.diff, r.diff_low, r.diff_high, r.q_value, m, win),
            recommendation=rec,
            extra={"comparison": "municipality", "comparison_estimate": float(r.muni_share),
                   "years": [int(y) for y in win]}))
    return out
