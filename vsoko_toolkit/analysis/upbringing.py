"""Personal and upbringing results: activities, offences, personal-results survey scales, associations.

Public entry point: :func:`upbringing`.

Participation (table ``activities``)
    Per kind (and ``any``): the share of the school's enrolled students with at least one activity of the
    kind that year, with Wilson's interval; compared (two-sample score test, Newcombe interval) with the other
    schools of the municipality that year and with the school's own share last year. By grade and by class:
    the share of students with any activity (groups under 5 are suppressed in public builds).

Offences (table ``offences``: counts only)
    Per year and kind: count, rate per 100 enrolled students with the exact Poisson (Garwood) interval; compared
    with the other schools by the conditional binomial test of the rate ratio; trend: Poisson regression of the
    school's yearly counts on the year with the log of its students as offset (≥ 3 years).

Personal results (``surveys`` with ``survey_items.scale`` starting ``personal``)
    Scale scores as in climate (``climate.scale_scores``), Cronbach's α with Feldt's interval; the school against
    the other schools (Welch). Only reliable scales (α ≥ 0.7) can give findings.

Family and findings
    Every comparison above (kinds × {municipality, last year}, offences × municipality, offence trends, reliable
    scales × municipality) forms one Benjamini–Hochberg family. Findings (area ``upbringing``) for q < 0.05:
    ``low_participation`` (a kind below the other schools or last year; not for the residual kind «другое», which
    names no activity to act on; its cause checked: below in most kinds — a school-wide cause — by a one-sided
    sign test over the kinds, or in a few), ``high_offences`` (a rate above
    the other schools or rising), ``low_personal_results`` (a reliable scale below the other schools).

Association with results
    Across the municipality's students of the year: OLS of the mean year mark on taking part in any activity,
    adjusted for last year's mean year mark (standard errors clustered by class). An association, never a cause:
    students who take part differ in many ways that marks and prior marks do not capture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..findings import Cause, Finding, Recommendation, Skipped
from ..report import upbringing_text as wording
from ..stats.intervals import (
    bh_qvalues,
    compare_means,
    compare_proportions,
    poisson_interval,
    wilson_interval,
)
from ..warehouse.schema import has_table
from .base import AnalysisResult, empty_plot
from .climate import MIN_ALPHA, alpha_interval, cronbach_alpha, scale_scores

KINDS = ("club", "additional_education", "volunteering", "gto", "school_event", "sport", "other")
ALPHA = 0.05
MIN_N = 5
TEST_COLUMNS = ["family", "item", "comparison", "value", "lower", "upper", "n", "value_cmp", "n_cmp", "diff",
                "diff_lower", "diff_upper", "p_value", "q_value", "flagged"]


@dataclass(frozen=True)
class UpbringingResult(AnalysisResult):
    participation: pd.DataFrame | None = None  # kind x year: school share, interval, municipality
    by_group: pd.DataFrame | None = None  # grade and class shares (any activity), current year
    offences: pd.DataFrame | None = None
    scales: pd.DataFrame | None = None  # personal-results scales: alpha, school vs others
    association: pd.DataFrame | None = None
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        p = self.participation
        if p is None or p.empty:
            return empty_plot(ax, self.skipped[0].reason if self.skipped else wording.NO_ACTIVITIES)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.4))
        c = p[p["year"] == self.year].reset_index(drop=True)
        y = np.arange(len(c))
        ax.errorbar(c["share"], y, xerr=[c["share"] - c["lower"], c["upper"] - c["share"]], fmt="o",
                    capsize=3, label="школа")
        ax.plot(c["share_mun"], y, "s", color="grey", label="другие школы")
        ax.set_yticks(y, [wording.KIND_RU.get(k, k) for k in c["kind"]])
        ax.set_xlim(0, 1)
        ax.set_xlabel("доля обучающихся")
        ax.legend(fontsize=8)
        return ax


def _students(con, year: int) -> pd.DataFrame:
    return con.execute("""SELECT DISTINCT ON (student_id, year) student_id, school_id, year, grade, class_id
                            FROM enrollments WHERE year IN (?, ?) ORDER BY student_id, year, class_id""",
                       [year, year - 1]).df()


def _participation(con, school_id: str, year: int, st: pd.DataFrame) -> tuple[pd.DataFrame, list, pd.DataFrame]:
    act = con.execute("SELECT DISTINCT student_id, year, kind FROM activities WHERE year IN (?, ?)",
                      [year, year - 1]).df()
    act = act.merge(st[["student_id", "year", "school_id"]], on=["student_id", "year"])
    n = st.groupby(["school_id", "year"]).size()
    rows, tests = [], []
    kinds = [k for k in KINDS if k in set(act["kind"])] + ["any"]
    for kind in kinds:
        a = act if kind == "any" else act[act["kind"] == kind]
        k = a.drop_duplicates(["student_id", "year"]).groupby(["school_id", "year"]).size()
        for y in (year - 1, year):
            n_own = int(n.get((school_id, y), 0))
            if n_own == 0:
                continue
            k_own = int(k.get((school_id, y), 0))
            n_oth = int(n.xs(y, level="year").drop(school_id, errors="ignore").sum()) if y in n.index.get_level_values(1) else 0
            k_oth = int(k.xs(y, level="year").drop(school_id, errors="ignore").sum()) if len(k) and y in k.index.get_level_values(1) else 0
            lo, hi = wilson_interval(k_own, n_own)
            rows.append({"kind": kind, "year": y, "k": k_own, "n": n_own, "share": k_own / n_own, "lower": lo,
                         "upper": hi, "k_mun": k_oth, "n_mun": n_oth,
                         "share_mun": k_oth / n_oth if n_oth else np.nan})
        cur = [r for r in rows if r["kind"] == kind and r["year"] == year]
        prev = [r for r in rows if r["kind"] == kind and r["year"] == year - 1]
        if not cur or kind == "any":  # "any" is shown, not tested (it repeats the kinds)
            continue
        c = cur[0]
        if c["n_mun"]:
            tests.append(("participation", kind, "municipality", c, c["k_mun"], c["n_mun"]))
        if prev:
            tests.append(("participation", kind, "last_year", c, prev[0]["k"], prev[0]["n"]))
    part = pd.DataFrame(rows)
    # by grade and class, current year, any activity
    cur = st[(st["school_id"] == school_id) & (st["year"] == year)].copy()
    who = set(act.loc[act["year"] == year, "student_id"])
    cur["any"] = cur["student_id"].isin(who)
    groups = []
    for level, col in (("grade", "grade"), ("class", "class_id")):
        for key, g in cur.groupby(col, sort=True):
            lo, hi = wilson_interval(int(g["any"].sum()), len(g))
            groups.append({"level": level, "group": str(key), "n": len(g), "k": int(g["any"].sum()),
                           "share": float(g["any"].mean()), "lower": lo, "upper": hi})
    return part, tests, pd.DataFrame(groups, columns=["level", "group", "n", "k", "share", "lower", "upper"])


def _offences(con, school_id: str, year: int) -> tuple[pd.DataFrame, list]:
    o = con.execute("""SELECT school_id, year, kind, sum("count")::BIGINT AS k FROM offences
                        WHERE year <= ? GROUP BY ALL""", [year]).df()
    n = con.execute("""SELECT school_id, year, count(DISTINCT student_id) AS n FROM enrollments
                        WHERE year <= ? GROUP BY ALL""", [year]).df()
    o = o.merge(n, on=["school_id", "year"])
    rows, tests = [], []
    for (kind, y), g in o.groupby(["kind", "year"], sort=True):
        own = g[g["school_id"] == school_id]
        if own.empty:
            continue
        k, nn = int(own["k"].iloc[0]), int(own["n"].iloc[0])
        oth = g[g["school_id"] != school_id]
        ko, no = int(oth["k"].sum()), int(oth["n"].sum())
        lo, hi = poisson_interval(k)
        p = np.nan
        if no and k + ko > 0:
            p = float(stats.binomtest(k, k + ko, nn / (nn + no)).pvalue)
        r = {"kind": kind, "year": int(y), "count": k, "n": nn, "rate": 100 * k / nn, "lower": 100 * lo / nn,
             "upper": 100 * hi / nn, "rate_mun": 100 * ko / no if no else np.nan, "p_value": p}
        rows.append(r)
        if y == year and no:
            tests.append(("offences", kind, "municipality", r, ko, no))
    table = pd.DataFrame(rows, columns=["kind", "year", "count", "n", "rate", "lower", "upper", "rate_mun",
                                        "p_value"])
    trends = []
    for kind, g in table.groupby("kind"):
        if len(g) >= 3 and g["count"].sum() > 0:
            from statsmodels.genmod import families
            from statsmodels.genmod.generalized_linear_model import GLM
            from statsmodels.tools.tools import add_constant

            X = add_constant(g["year"].to_numpy(dtype=float) - year)
            fit = GLM(g["count"].to_numpy(), X, family=families.Poisson(),
                      offset=np.log(g["n"].to_numpy(dtype=float))).fit()
            b, se = float(fit.params[1]), float(fit.bse[1])
            trends.append({"kind": kind, "irr": np.exp(b), "irr_lower": np.exp(b - 1.96 * se),
                           "irr_upper": np.exp(b + 1.96 * se), "p_value": float(fit.pvalues[1]),
                           "years": len(g)})
    for t in trends:
        tests.append(("offences_trend", t["kind"], "trend", t, None, None))
    table.attrs["trends"] = pd.DataFrame(trends)
    return table, tests


def _scales(con, school_id: str, year: int) -> tuple[pd.DataFrame | None, list]:
    if not (has_table(con, "surveys") and has_table(con, "survey_items")):
        return None, []
    a = con.execute("""SELECT s.school_id, s.year, s.respondent_type, s.respondent_id, NULL::VARCHAR AS class_id,
                              s.item_id, s.response, i.scale, i.reverse
                         FROM surveys s JOIN survey_items i USING (item_id)
                        WHERE s.year = ? AND starts_with(i.scale, 'personal')""", [year]).df()
    if a.empty:
        return None, []
    sc = scale_scores(a)
    rows, tests = [], []
    for (rt, scale), g in sc.groupby(["respondent_type", "scale"], sort=True):
        own = g[g["school_id"] == school_id]["score"]
        oth = g[g["school_id"] != school_id]["score"]
        w = a[(a["school_id"] == school_id) & (a["respondent_type"] == rt) & (a["scale"] == scale)]
        m = w.pivot_table(index="respondent_id", columns="item_id", values="response", aggfunc="first")
        rev = w.drop_duplicates("item_id").set_index("item_id")["reverse"].astype(bool)
        m = m.dropna()
        for c in m.columns:
            if rev.get(c, False):
                m[c] = 6 - m[c]
        alpha = cronbach_alpha(m.to_numpy()) if len(m) else float("nan")
        alo, ahi = alpha_interval(alpha, len(m), m.shape[1])
        reliable = bool(np.isfinite(alpha) and alpha >= MIN_ALPHA)
        r = {"respondent_type": rt, "scale": scale, "n": len(own), "mean": own.mean(), "sd": own.std(),
             "n_mun": len(oth), "mean_mun": oth.mean(), "alpha": alpha, "alpha_lower": alo, "alpha_upper": ahi,
             "reliable": reliable}
        if len(own) >= MIN_N and len(oth) >= MIN_N:
            cm = compare_means(own.mean(), own.std(), len(own), oth.mean(), oth.std(), len(oth)).iloc[0]
            r.update(diff=cm["diff"], diff_lower=cm["diff_lower"], diff_upper=cm["diff_upper"], p_value=cm["p_value"])
            if reliable:
                tests.append(("personal", f"{rt}:{scale}", "municipality", r, None, None))
        rows.append(r)
    return pd.DataFrame(rows), tests


def _association(con, year: int) -> pd.DataFrame | None:
    if not has_table(con, "period_marks"):
        return None
    d = con.execute("""
        WITH g AS (SELECT student_id, year, avg(mark_value) AS gpa, any_value(class_id) AS class_id
                     FROM period_marks WHERE period = 'year' AND mark_value IS NOT NULL AND year IN (?, ?)
                    GROUP BY ALL),
             a AS (SELECT DISTINCT student_id FROM activities WHERE year = ?)
        SELECT g.student_id, g.class_id, g.gpa, p.gpa AS gpa_prev, (a.student_id IS NOT NULL)::INTEGER AS active
          FROM g JOIN g p ON p.student_id = g.student_id AND p.year = g.year - 1
          LEFT JOIN a ON a.student_id = g.student_id WHERE g.year = ?""", [year, year - 1, year, year]).df()
    if len(d) < 30 or d["active"].nunique() < 2:
        return None
    from statsmodels.regression.linear_model import OLS
    from statsmodels.tools.tools import add_constant

    X = add_constant(d[["active", "gpa_prev"]].astype(float))
    fit = OLS(d["gpa"].astype(float), X).fit(cov_type="cluster",
                                             cov_kwds={"groups": pd.factorize(d["class_id"])[0]})
    lo, hi = fit.conf_int().loc["active"]
    return pd.DataFrame([{"outcome": "gpa", "exposure": "any_activity", "adjusted_for": "gpa_prev",
                          "estimate": float(fit.params["active"]), "lower": float(lo), "upper": float(hi),
                          "p_value": float(fit.pvalues["active"]), "n": len(d),
                          "share_active": float(d["active"].mean())}])


def _test_rows(tests: list) -> pd.DataFrame:
    rows = []
    for family, item, comparison, r, k2, n2 in tests:
        if family == "participation":
            cp = compare_proportions(r["k"], r["n"], k2, n2).iloc[0]
            rows.append({"family": family, "item": item, "comparison": comparison, "value": r["share"],
                         "lower": r["lower"], "upper": r["upper"], "n": r["n"], "value_cmp": k2 / n2, "n_cmp": n2,
                         "diff": cp["diff"], "diff_lower": cp["diff_lower"], "diff_upper": cp["diff_upper"],
                         "p_value": cp["p_value"]})
        elif family == "offences":
            rows.append({"family": family, "item": item, "comparison": comparison, "value": r["rate"],
                         "lower": r["lower"], "upper": r["upper"], "n": r["n"], "value_cmp": r["rate_mun"],
                         "n_cmp": n2, "diff": r["rate"] - r["rate_mun"], "diff_lower": np.nan,
                         "diff_upper": np.nan, "p_value": r["p_value"]})
        elif family == "offences_trend":
            rows.append({"family": family, "item": item, "comparison": comparison, "value": r["irr"],
                         "lower": r["irr_lower"], "upper": r["irr_upper"], "n": r["years"], "value_cmp": 1.0,
                         "n_cmp": np.nan, "diff": r["irr"] - 1, "diff_lower": r["irr_lower"] - 1,
                         "diff_upper": r["irr_upper"] - 1, "p_value": r["p_value"]})
        else:
            rows.append({"family": family, "item": item, "comparison": comparison, "value": r["mean"],
                         "lower": np.nan, "upper": np.nan, "n": r["n"], "value_cmp": r["mean_mun"],
                         "n_cmp": r["n_mun"], "diff": r["diff"], "diff_lower": r["diff_lower"],
                         "diff_upper": r["diff_upper"], "p_value": r["p_value"]})
    t = pd.DataFrame(rows, columns=TEST_COLUMNS[:-2])
    t["q_value"] = np.nan
    ok = t["p_value"].notna()
    if ok.any():
        t.loc[ok, "q_value"] = bh_qvalues(t.loc[ok, "p_value"].to_numpy())
    bad = np.where(t["family"] == "participation", t["diff"] < 0,
                   np.where(t["family"] == "personal", t["diff"] < 0, t["diff"] > 0))
    t["flagged"] = ok & (t["q_value"] < ALPHA) & bad
    return t


def upbringing(con, school_id: str, year: int, options: dict | None = None) -> UpbringingResult:
    """Participation, offences, personal-results scales and the association with results (module docstring)."""
    year = int(year)
    skipped, notes, tests = [], [], []
    st = _students(con, year)
    part = by_group = off = None
    if has_table(con, "activities") and con.execute("SELECT count(*) FROM activities WHERE year = ?",
                                                     [year]).fetchone()[0]:
        part, t1, by_group = _participation(con, school_id, year, st)
        tests += t1
    else:
        skipped.append(Skipped("upbringing_activities", wording.NO_ACTIVITIES))
    if has_table(con, "offences") and con.execute("SELECT count(*) FROM offences WHERE year = ?",
                                                   [year]).fetchone()[0]:
        off, t2 = _offences(con, school_id, year)
        tests += t2
    else:
        skipped.append(Skipped("upbringing_offences", wording.NO_OFFENCES))
    scales, t3 = _scales(con, school_id, year)
    tests += t3
    if scales is None:
        skipped.append(Skipped("upbringing_personal_scales", wording.NO_SCALES))
    elif not scales["reliable"].any():
        notes.append(wording.UNRELIABLE)
    assoc = _association(con, year) if part is not None else None
    table = _test_rows(tests)
    findings = _findings(table, school_id, year)
    return UpbringingResult(table=table, findings=findings, skipped=tuple(skipped), notes=tuple(notes),
                            participation=part, by_group=by_group, offences=off, scales=scales,
                            association=assoc, school_id=school_id, year=year)


KIND_OF = {"participation": "low_participation", "offences": "high_offences", "offences_trend": "high_offences",
           "personal": "low_personal_results"}


#: "other" is the residual kind: shown and tested, but a lower share of "other" activities is not a problem to act on
NOT_A_PROBLEM = {("participation", "other")}


def _widespread(table: pd.DataFrame) -> Cause:
    """Is the school's participation below the other schools' in most kinds (a school-wide cause), or in a few?
    A one-sided sign test over the kinds compared with the municipality (the residual kind left out)."""
    t = table[(table["family"] == "participation") & (table["comparison"] == "municipality")
              & (table["item"] != "other") & table["diff"].notna() & (table["diff"] != 0)]
    below, kinds = int((t["diff"] < 0).sum()), len(t)
    p = float(stats.binomtest(below, kinds, 0.5, alternative="greater").pvalue) if kinds else 1.0
    supported = kinds > 0 and p < ALPHA
    return Cause(wording.WIDESPREAD_HYPOTHESIS, "supported" if supported else "not_supported",
                 wording.widespread_evidence(below, kinds, p, supported))


def _findings(table: pd.DataFrame, school_id: str, year: int) -> tuple[Finding, ...]:
    out = []
    m = int(table["p_value"].notna().sum())
    flagged = table[table["flagged"]]
    widespread = _widespread(table)
    for (family, item), g in flagged.groupby(["family", "item"], sort=True):
        if (family, item) in NOT_A_PROBLEM:
            continue
        kind = KIND_OF[family]
        best = g.sort_values("q_value").iloc[0]
        severity = "high" if best["q_value"] < 0.001 else "medium" if best["q_value"] < 0.01 else "low"
        rt, _, scale = item.partition(":")
        metric = {"participation": f"participation_{item}", "offences": f"offences_per_100_{item}",
                  "offences_trend": f"offences_trend_{item}", "personal": f"survey_{scale}_{rt}"}[family]
        out.append(Finding(
            area="upbringing", kind=kind, polarity="problem", severity=severity, school_id=school_id, year=year,
            target_type="school", target_id="", subject=None, metric=metric, estimate=float(best["value"]),
            ci_low=None if pd.isna(best["lower"]) else float(best["lower"]),
            ci_high=None if pd.isna(best["upper"]) else float(best["upper"]),
            p_value=float(best["p_value"]), q_value=float(best["q_value"]), n=int(best["n"]),
            title=wording.title(kind, item, list(g["comparison"])),
            evidence=" ".join(wording.sentence(r, m) for r in g.itertuples()),
            recommendation=Recommendation(
                text=wording.recommendation(kind, item, year), addressee_type="school", addressee_id=school_id,
                responsible="заместитель директора по воспитательной работе", deadline=f"{year}-12-25",
                control_metric=metric, baseline=round(float(best["value"]), 3),
                target=None if pd.isna(best["value_cmp"]) else round(float(best["value_cmp"]), 3)),
            causes=(widespread,) if kind == "low_participation" else (),
            extra={"comparisons": list(g["comparison"]), "item": item}))
    return tuple(out)
