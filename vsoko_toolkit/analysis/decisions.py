"""Effectiveness of management decisions (re-diagnosis of the decisions register).

For every decision of the school taken up to ``year`` the control metric of the
targeted units is followed over terms before and after the decision's date:

* units are the targeted classes of the decision's year, each followed through its
  *students* (so a class is compared with its own students' earlier terms, even in
  another class id the year before); comparison units are the untargeted classes of
  the same grade(s) in the school and in the other schools of the warehouse, matched on
  the prior level when there are many;
* **difference in differences** (``did``) when at least ``min_comparison`` comparison
  units exist: per unit the change post − pre of the metric, the effect is the mean
  change of the targets minus that of the comparison units, with a two-sample
  *t* interval on the unit changes (inference at the class level = cluster-robust by
  class, valid with few classes); the event-study pre-trend check compares the units'
  slopes over the pre-period terms (two-sample *t*);
* **interrupted time series** (``its``) when only the targets' own history exists (at
  least ``min_pre_its`` pre terms): the pre-period linear trend of each target is
  projected over the post period;
* ``insufficient_data`` otherwise (no pre period, too few units, metric not measurable
  per term), ``not_due`` when no term after the date is in the data yet.

Terms are placed in time by the usual school calendar (quarters end 31 Oct, 31 Dec,
31 Mar, 31 May; semesters 31 Dec, 31 May); a term belongs to the post period when its
middle is on or after the decision's date, to the pre period when it ended by the date.
The post window ends at the decision's deadline (else the end of its academic year).

Optional columns of the register (fall-backs): without ``baseline`` the baseline is computed — the metric
of the target classes pooled over the pre-decision terms — and the explanation says so; without
``target_value`` the improvement direction is "up" and reaching the target is not judged; without
``deadline`` the post window ends with the academic year; without ``subject`` the metric is over all
subjects; without ``target_ids`` only school-wide decisions can be evaluated (the others get
``insufficient_data`` naming the missing ids).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..findings.model import DecisionEvaluation
from .base import AnalysisResult

TERMS = {  # period -> (start month, start day, end month, end day); months >= 9 belong to year - 1
    "q1": (9, 1, 10, 31), "q2": (11, 1, 12, 31), "q3": (1, 1, 3, 31), "q4": (4, 1, 5, 31),
    "h1": (9, 1, 12, 31), "h2": (1, 1, 5, 31),
}
TERM_METRICS = ("quality", "success", "mean_mark")
VPR_METRICS = ("vpr_confirm_share", "vpr_mean_pct")
METRIC_RU = {"quality": "качество знаний", "success": "успеваемость", "mean_mark": "средняя отметка",
             "vpr_confirm_share": "доля подтвердивших отметку на ВПР", "vpr_mean_pct": "средний процент ВПР"}
METHOD_RU = {"did": "разность разностей", "its": "прерванный временной ряд", "pre_post": "до/после",
             "none": "—"}
VERDICT_RU = {"effective": "эффективно", "not_effective": "эффект не доказан",
              "insufficient_data": "недостаточно данных", "not_due": "срок оценки не наступил"}
DEFAULTS = {"alpha": 0.05, "pretrend_alpha": 0.05, "min_comparison": 3, "min_pre_its": 3,
            "pre_years": 1, "match_ratio": 3, "min_marks": 10}


def _date(x) -> dt.date | None:
    if x is None or (isinstance(x, float) and np.isnan(x)) or pd.isna(x):
        return None
    return pd.Timestamp(x).date()


def term_bounds(year: int, period: str) -> tuple[dt.date, dt.date]:
    """Calendar start and end of a term of academic ``year`` (ending in ``year``)."""
    sm, sd, em, ed = TERMS[period]
    return (dt.date(year - 1 if sm >= 9 else year, sm, sd), dt.date(year - 1 if em >= 9 else year, em, ed))


def _phase(year: int, period: str, date: dt.date, end: dt.date) -> str:
    start, stop = term_bounds(year, period)
    mid = start + (stop - start) / 2
    if stop <= date:
        return "pre"
    if mid >= date and stop <= end:
        return "post"
    return "none"


def _value(n, k4, k3, s, metric: str):
    n = np.asarray(n, float)
    num = {"quality": k4, "success": k3, "mean_mark": s}[metric]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.asarray(num, float) / n, np.nan)


@dataclass(frozen=True)
class DecisionsResult(AnalysisResult):
    """``tidy()``: one row per decision (method, verdict, effect and interval, checks);
    ``series``: the metric per group and term (for the figures); ``plot(decision_id)``."""

    series: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    school_id: str = ""
    year: int = 0

    def evaluated(self) -> list[str]:
        """Decisions that were estimated (method ``did`` or ``its``)."""
        t = self.table
        return t.loc[t["method"].isin(["did", "its"]), "decision_id"].tolist() if len(t) else []

    def plot(self, decision_id: str | None = None, ax=None):
        import matplotlib.pyplot as plt

        ids = self.evaluated()
        decision_id = decision_id or (ids[0] if ids else None)
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        row = self.table[self.table["decision_id"] == decision_id]
        s = self.series[self.series["decision_id"] == decision_id] if len(self.series) else self.series
        if row.empty or s.empty:
            ax.text(0.5, 0.5, "Нет данных для графика", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return ax
        r = row.iloc[0]
        names = {"target": "целевые классы", "comparison": "группа сравнения"}
        for grp, d in s.groupby("group", sort=False):
            d = d.sort_values("mid")
            ax.plot(d["mid"], d["value"], marker="o", label=names.get(grp, grp),
                    color="C3" if grp == "target" else "C0")
        ax.axvline(pd.Timestamp(r["date"]), color="k", ls="--", lw=1, label="дата решения")
        ax.set_ylabel(METRIC_RU.get(r["metric"], r["metric"]))
        ax.set_title(f"Решение {decision_id}: {METRIC_RU.get(r['metric'], r['metric'])}"
                     + (f", {r['subject']}" if isinstance(r["subject"], str) and r["subject"] else ""))
        ax.legend(loc="best", fontsize=8)
        ax.figure.autofmt_xdate()
        return ax


def _followed(con, class_ids: list[str], year: int) -> list[str]:
    """Classes of ``year`` that hold most students of each of ``class_ids`` (classes of another year): a plan
    written in May for "7Б" targets the same children, who are "8Б" from September."""
    if not class_ids:
        return []
    rows = con.execute("""
        WITH old AS (SELECT student_id, class_id AS old_id FROM enrollments WHERE class_id IN (SELECT unnest(?::VARCHAR[]))),
             cnt AS (SELECT old.old_id, e.class_id, count(*) AS n FROM old JOIN enrollments e USING (student_id)
                     WHERE e.year = ? GROUP BY ALL)
        SELECT old_id, arg_max(class_id, n) FROM cnt GROUP BY old_id""", [class_ids, int(year)]).fetchall()
    return [r[1] for r in rows]


def _units(con, d: dict, units_year: int) -> tuple[list[str], list[str], str]:
    """Target and candidate comparison classes of ``units_year``; a reason when impossible."""
    school, ttype = d["school_id"], (d["target_type"] or "").strip()
    ids = [x.strip() for x in str(d["target_ids"] or "").split(";") if x.strip()]
    if ttype in ("class", "grade") and not ids:
        what = "классов" if ttype == "class" else "параллелей"
        return [], [], f"в решении не указаны коды целевых {what} (колонка target_ids реестра decisions)"
    cl = con.execute("SELECT class_id, school_id, grade FROM classes WHERE year = ?", [units_year]).df()
    own = cl[cl["school_id"] == school]
    if ttype == "class":
        followed = _followed(con, [i for i in ids if i not in set(own["class_id"])], units_year)
        # only the school's own classes: after grade 9 most of a class may sit in another school's 10th grade
        target = sorted((set(ids) | set(followed)) & set(own["class_id"]))
    elif ttype == "grade":
        grades = {int(x) for x in ids if x.isdigit()}
        target = own.loc[own["grade"].isin(grades), "class_id"].tolist()
    elif ttype == "school":
        target = own["class_id"].tolist()
    elif ttype == "teacher":
        if not ids:
            return [], [], "в решении для учителя не указан код учителя (колонка target_ids реестра decisions)"
        subj = " AND subject = ?" if d["subject"] else ""
        a = con.execute("SELECT DISTINCT class_id FROM assignments WHERE year = ? AND school_id = ? "
                        f"AND teacher_id IN ({','.join('?' * len(ids))}){subj}",
                        [units_year, school, *ids, *([d["subject"]] if d["subject"] else [])]).df()
        target = sorted(set(a["class_id"]) & set(own["class_id"]))
    else:
        return [], [], (f"цель решения типа «{ttype}» (отдельные ученики) не образует классов, "
                        "для которых можно построить сравнение")
    if not target:
        return [], [], "в хранилище нет классов, на которые направлено решение, в год решения"
    grades = set(cl.loc[cl["class_id"].isin(target), "grade"])
    comp = cl[cl["grade"].isin(grades) & ~cl["class_id"].isin(target)]
    if ttype == "school":
        comp = comp[comp["school_id"] != school]
    return sorted(target), sorted(comp["class_id"]), ""


def _panel(con, classes: list[str], subject: str | None, years: list[int]) -> pd.DataFrame:
    """Counts of numeric term marks per unit (class of the decision's year, via its students) and term."""
    if not classes:
        return pd.DataFrame(columns=["unit", "year", "period", "n", "k4", "k3", "s"])
    con.register("_dec_units", pd.DataFrame({"class_id": classes}))
    subj = "AND m.subject = ?" if subject else ""
    args = [*( [subject] if subject else []), *years]
    ph = ",".join("?" * len(years))
    q = f"""
        WITH roster AS (
            SELECT student_id, min(class_id) AS unit FROM period_marks
            WHERE class_id IN (SELECT class_id FROM _dec_units) GROUP BY student_id)
        SELECT r.unit, m.year, m.period, count(*) AS n,
               sum(CASE WHEN m.mark_value >= 4 THEN 1 ELSE 0 END) AS k4,
               sum(CASE WHEN m.mark_value >= 3 THEN 1 ELSE 0 END) AS k3,
               sum(m.mark_value) AS s
        FROM period_marks m JOIN roster r USING (student_id)
        WHERE m.mark_value IS NOT NULL AND m.period IN ('q1','q2','q3','q4','h1','h2') {subj}
          AND m.year IN ({ph})
        GROUP BY 1, 2, 3"""
    try:
        return con.execute(q, args).df()
    finally:
        con.unregister("_dec_units")


def _ttest(a: np.ndarray, b: np.ndarray | None, alpha: float):
    """Mean of a − mean of b with a pooled two-sample t interval (one-sample when b is None)."""
    a = a[np.isfinite(a)]
    if b is None:
        n = len(a)
        if n < 2:
            return np.nan, np.nan, np.nan, np.nan
        est, se, df = a.mean(), a.std(ddof=1) / np.sqrt(n), n - 1
    else:
        b = b[np.isfinite(b)]
        na, nb = len(a), len(b)
        if na < 1 or nb < 2 or na + nb < 3:
            return np.nan, np.nan, np.nan, np.nan
        df = na + nb - 2
        ss = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
        se = np.sqrt(ss / df * (1 / na + 1 / nb))
        est = a.mean() - b.mean()
    if not se > 0:
        return est, est, est, np.nan
    q = stats.t.ppf(1 - alpha / 2, df)
    p = 2 * stats.t.sf(abs(est / se), df)
    return est, est - q * se, est + q * se, p


def _slopes(w: pd.DataFrame) -> pd.Series:
    """OLS slope of each unit's value over the pre-period term index."""
    out = {}
    for u, g in w.groupby("unit"):
        g = g.dropna(subset=["value"])
        if g["t"].nunique() >= 2:
            out[u] = np.polyfit(g["t"], g["value"], 1)[0]
    return pd.Series(out, dtype=float)


def _pooled(p: pd.DataFrame, metric: str) -> float:
    return float(_value(p["n"].sum(), p["k4"].sum(), p["k3"].sum(), p["s"].sum(), metric)) if len(p) else np.nan


def _fmt_eff(x: float, metric: str, signed: bool = True) -> str:
    if x is None or not np.isfinite(x):
        return "—"
    if metric in ("quality", "success", "vpr_confirm_share"):
        s = f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"
        return s.replace(".", ",").replace("-", "\u2212") + "\u00a0п.\u00a0п."
    s = f"{x:+.2f}" if signed else f"{x:.2f}"
    return s.replace(".", ",").replace("-", "\u2212") + "\u00a0балла"


def _fmt_level(x: float, metric: str) -> str:
    """A level of the metric (not a change): 45,0 % or 3,85."""
    if metric in ("quality", "success", "vpr_confirm_share"):
        return f"{100 * x:.1f}".replace(".", ",") + "\u00a0%"
    return f"{x:.2f}".replace(".", ",")


def _p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "—"
    return "< 0,001" if p < 0.001 else f"{p:.3f}".replace(".", ",")


def _terms_ru(rows: pd.DataFrame) -> str:
    names = {"q1": "I ч.", "q2": "II ч.", "q3": "III ч.", "q4": "IV ч.", "h1": "I полуг.", "h2": "II полуг."}
    keys = rows[["year", "period"]].drop_duplicates().sort_values(["year", "period"])
    return ", ".join(f"{names[p]} {y - 1}/{str(y)[2:]}" for y, p in keys.itertuples(index=False))


def _unit_values(panel: pd.DataFrame, metric: str) -> pd.DataFrame:
    g = panel.groupby(["unit", "phase"])[["n", "k4", "k3", "s"]].sum().reset_index()
    g["value"] = _value(g["n"], g["k4"], g["k3"], g["s"], metric)
    return g.pivot(index="unit", columns="phase", values=["value", "n"])


def _series(decision_id: str, panel: pd.DataFrame, target: set, metric: str) -> pd.DataFrame:
    p = panel.assign(group=np.where(panel["unit"].isin(target), "target", "comparison"))
    g = p.groupby(["group", "year", "period", "mid", "phase"])[["n", "k4", "k3", "s"]].sum().reset_index()
    g["value"] = _value(g["n"], g["k4"], g["k3"], g["s"], metric)
    g.insert(0, "decision_id", decision_id)
    return g[["decision_id", "group", "year", "period", "mid", "phase", "value", "n"]]


def _did(uv, target, comp, panel, metric, o):
    dT = (uv.loc[target, ("value", "post")] - uv.loc[target, ("value", "pre")]).to_numpy(float)
    dC = (uv.loc[comp, ("value", "post")] - uv.loc[comp, ("value", "pre")]).to_numpy(float)
    est, lo, hi, p = _ttest(dT, dC, o["alpha"])
    pre = panel[panel["phase"] == "pre"].copy()
    pre = pre[pre["unit"].isin(target + comp)]
    order = {k: i for i, k in enumerate(sorted(pre[["year", "period"]].drop_duplicates()
                                               .itertuples(index=False, name=None),
                                               key=lambda k: term_bounds(*k)[1]))}
    pre["t"] = [order[(y, q)] for y, q in zip(pre["year"], pre["period"], strict=True)]
    pre["value"] = _value(pre["n"], pre["k4"], pre["k3"], pre["s"], metric)
    sl = _slopes(pre)
    sT, sC = sl.reindex(target).dropna().to_numpy(), sl.reindex(comp).dropna().to_numpy()
    pt_est, _, _, pt_p = _ttest(sT, sC, o["alpha"]) if len(order) >= 2 else (np.nan,) * 4
    return est, lo, hi, p, pt_est, pt_p, len(order)


def _its(uv, target, panel, metric, o):
    pre = panel[panel["unit"].isin(target) & (panel["phase"] != "none")].copy()
    keys = sorted(pre[["year", "period"]].drop_duplicates().itertuples(index=False, name=None),
                  key=lambda k: term_bounds(*k)[1])
    order = {k: i for i, k in enumerate(keys)}
    pre["t"] = [order[(y, q)] for y, q in zip(pre["year"], pre["period"], strict=True)]
    pre["value"] = _value(pre["n"], pre["k4"], pre["k3"], pre["s"], metric)
    gaps, npre, fits = [], 0, []
    for _, g in pre.groupby("unit"):
        a, b = g[g["phase"] == "pre"], g[g["phase"] == "post"]
        npre = max(npre, len(a))
        if len(a) < o["min_pre_its"] or b.empty:
            continue
        coef = np.polyfit(a["t"], a["value"], 1)
        gaps.append(float(np.mean(b["value"] - np.polyval(coef, b["t"]))))
        fits.append((a, b, coef))
    if not gaps:
        return np.nan, np.nan, np.nan, np.nan, npre
    if len(gaps) >= 2:
        est, lo, hi, p = _ttest(np.array(gaps), None, o["alpha"])
        return est, lo, hi, p, npre
    a, b, coef = fits[0]
    res = a["value"] - np.polyval(coef, a["t"])
    df = len(a) - 2
    if df < 1:
        return np.nan, np.nan, np.nan, np.nan, npre
    s2 = float((res ** 2).sum() / df)
    sxx = float(((a["t"] - a["t"].mean()) ** 2).sum())
    se = np.sqrt(s2 / len(b) + s2 * (1 / len(a) + (b["t"].mean() - a["t"].mean()) ** 2 / sxx))
    est = gaps[0]
    q = stats.t.ppf(1 - o["alpha"] / 2, df)
    return est, est - q * se, est + q * se, 2 * stats.t.sf(abs(est / se), df), npre


def _last_end(con) -> dt.date | None:
    t = con.execute("SELECT DISTINCT year, period FROM period_marks "
                    "WHERE period IN ('q1','q2','q3','q4','h1','h2')").df()
    return max((term_bounds(int(y), p)[1] for y, p in t.itertuples(index=False)), default=None)


def evaluate_decisions(con, school_id: str, year: int, options: dict | None = None) -> DecisionsResult:
    """Evaluate every decision of ``school_id`` taken up to academic ``year`` (see the module docstring).

    ``options``: ``alpha`` (0.05), ``pretrend_alpha`` (0.05), ``min_comparison`` (3 comparison
    classes for DiD), ``min_pre_its`` (3 pre terms for ITS), ``pre_years`` (1 academic year of
    history before the decision's year), ``match_ratio`` (3 comparison classes per target kept,
    nearest in prior level), ``min_marks`` (10 numeric marks per unit and phase).
    """
    o = {**DEFAULTS, **(options or {})}
    try:
        dec = con.execute("SELECT * FROM decisions WHERE school_id = ? AND year <= ? ORDER BY date, decision_id",
                          [school_id, int(year)]).df()
    except Exception:  # noqa: BLE001 - the optional table is absent
        from ..findings.model import Skipped
        return DecisionsResult(table=_empty(), skipped=(Skipped("decision_effects",
                               "нет реестра управленческих решений (decisions.csv)"),),
                               school_id=school_id, year=year)
    last = _last_end(con)
    report_end = dt.date(int(year), 8, 31)
    rows, evals, series = [], [], []
    for d in dec.to_dict("records"):
        d = {k: (None if (not isinstance(v, list | tuple) and pd.isna(v)) else v) for k, v in d.items()}
        r, ev, s = _evaluate_one(con, d, o, last, report_end)
        rows.append(r)
        evals.append(ev)
        if s is not None:
            series.append(s)
    table = pd.DataFrame(rows) if rows else _empty()
    ser = pd.concat(series, ignore_index=True) if series else pd.DataFrame(
        columns=["decision_id", "group", "year", "period", "mid", "phase", "value", "n"])
    notes, skipped = (), ()
    if not len(dec):
        from ..findings.model import Skipped

        notes = ("В реестре нет решений школы за этот и прошлые годы.",)
        skipped = (Skipped("decision_effects", "в реестре управленческих решений (decisions.csv) нет "
                           "решений школы за этот и прошлые годы — оценивать нечего"),)
    return DecisionsResult(table=table, evaluations=tuple(evals), series=ser, notes=notes,
                           skipped=skipped, school_id=school_id, year=int(year))


COLUMNS = ["decision_id", "school_id", "year", "date", "deadline", "metric", "subject", "target_type",
           "target_ids", "method", "verdict", "effect", "ci_low", "ci_high", "p_value", "pretrend_diff",
           "pretrend_p", "n_pre_terms", "n_target", "n_comparison", "baseline", "current", "target",
           "direction", "explanation"]


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS)


def _evaluate_one(con, d: dict, o: dict, last: dt.date | None, report_end: dt.date):
    date = _date(d["date"])
    deadline = _date(d.get("deadline"))
    metric = d["metric"] or ""
    mname = METRIC_RU.get(metric, metric)
    base, goal = d.get("baseline"), d.get("target_value")
    direction = -1 if (base is not None and goal is not None and goal < base) else 1
    ids = d.get("target_ids") or ""
    base_note = ""
    row = {k: None for k in COLUMNS} | {
        "decision_id": d["decision_id"], "school_id": d["school_id"], "year": int(d["year"]),
        "date": date, "deadline": deadline, "metric": metric, "subject": d.get("subject"),
        "target_type": d.get("target_type"), "target_ids": ids, "baseline": base, "target": goal,
        "direction": direction, "n_target": 0, "n_comparison": 0, "n_pre_terms": 0}

    def done(method, verdict, text, series=None, **num):
        text = base_note + text
        row.update(num, method=method, verdict=verdict, explanation=text)
        extra = {"school_id": d["school_id"], "subject": d.get("subject"), "target_type": d.get("target_type"),
                 "date": str(date), "p_value": row["p_value"], "pretrend_p": row["pretrend_p"],
                 "n_target": row["n_target"], "n_comparison": row["n_comparison"]}
        ev = DecisionEvaluation(d["decision_id"], metric, base, row["current"], goal, row["effect"],
                                row["ci_low"], row["ci_high"], method, verdict, text, extra)
        return row, ev, series

    if date is None or last is None or date > report_end or not any(
            _phase(y, p, date, dt.date(9999, 1, 1)) == "post" for y, p in _terms_until(last)):
        when = f" (вступает в силу {date:%d.%m.%Y})" if date else ""
        return done("none", "not_due", f"Решение{when} ещё не могло дать результата: после даты его "
                    "вступления в силу в данных нет ни одной учебной четверти (полугодия). Оно включено в "
                    "перечень и будет оценено при повторной диагностике в следующем году.")
    if metric in VPR_METRICS:
        return done("none", "insufficient_data", f"Контрольный показатель «{mname}» измеряется только раз "
                    "в год (весной, по ВПР), поэтому динамику по четвертям до и после решения построить "
                    "нельзя, а одного измерения до и одного после недостаточно, чтобы отделить действие "
                    "решения от колебаний состава участников и заданий. Эффективность не оценивалась.")
    if metric not in TERM_METRICS:
        return done("none", "insufficient_data", f"Контрольный показатель «{metric}» не входит в каталог "
                    "показателей, которые можно рассчитать по отметкам за четверти; оценка невозможна.")
    ay = date.year + (1 if date.month >= 9 else 0)
    end = min(deadline or dt.date(ay, 5, 31), report_end)
    units_year = int(d["year"])
    target, comp, why = _units(con, d, units_year)
    if why:
        return done("none", "insufficient_data", f"Оценка невозможна: {why}.")
    years = list(range(units_year - int(o["pre_years"]), end.year + (1 if end.month >= 9 else 0) + 1))
    panel = _panel(con, target + comp, d.get("subject"), years)
    if panel.empty:
        return done("none", "insufficient_data", "Оценка невозможна: у целевых классов нет отметок за "
                    "четверти (полугодия) по предмету решения.")
    panel["phase"] = [_phase(int(y), p, date, end) for y, p in zip(panel["year"], panel["period"], strict=True)]
    panel["mid"] = [pd.Timestamp(a + (b - a) / 2) for a, b in
                    (term_bounds(int(y), p) for y, p in zip(panel["year"], panel["period"], strict=True))]
    panel = panel[panel["phase"] != "none"]
    uv = _unit_values(panel, metric)
    ok = [u for u in uv.index if all(("n", ph) in uv.columns and uv.loc[u, ("n", ph)] >= o["min_marks"]
                                     for ph in ("pre", "post"))]
    target = [u for u in target if u in ok]
    comp = [u for u in comp if u in ok]
    n_match = len(comp)
    if target and len(comp) > o["match_ratio"] * len(target):
        level = uv.loc[target, ("value", "pre")].mean()
        dist = (uv.loc[comp, ("value", "pre")] - level).abs().sort_values(kind="stable")
        comp = sorted(dist.index[: int(o["match_ratio"] * len(target))])
    panel = panel[panel["unit"].isin(target + comp)]
    tp = panel[panel["unit"].isin(target)]
    row.update(n_target=len(target), n_comparison=len(comp),
               current=_pooled(tp[tp["phase"] == "post"], metric))
    base_note = ""
    if base is None and target:  # the register's optional baseline: the target classes before the decision
        computed = _pooled(tp[tp["phase"] == "pre"], metric)
        if np.isfinite(computed):
            base = round(float(computed), 3)
            row["baseline"] = base
            direction = -1 if (goal is not None and goal < base) else 1
            row["direction"] = direction
            base_note = (f"Исходное значение показателя в реестре не указано (колонка baseline) — оно рассчитано "
                         f"по отметкам целевых классов до решения: {_fmt_level(base, metric)}. ")
    if not target:
        return done("none", "insufficient_data", "Оценка невозможна: у целевых классов нет достаточного "
                    f"числа отметок (не менее {o['min_marks']}) и до, и после даты решения — нет периода "
                    "«до» или «после».")
    ser = _series(d["decision_id"], panel, set(target), metric)
    pre_txt, post_txt = _terms_ru(tp[tp["phase"] == "pre"]), _terms_ru(tp[tp["phase"] == "post"])
    if len(comp) >= o["min_comparison"]:
        est, lo, hi, p, pt, pt_p, npre = _did(uv, target, comp, panel, metric, o)
        row.update(effect=est, ci_low=lo, ci_high=hi, p_value=p, pretrend_diff=pt, pretrend_p=pt_p,
                   n_pre_terms=npre)
        match = (f", отобранными из {n_match} по близости уровня показателя до решения"
                 if n_match > len(comp) else "")
        text = (f"Метод — разность разностей. Изменение показателя «{mname}» у целевых классов "
                f"({len(target)}) от периода до решения ({pre_txt}) к периоду после него ({post_txt}) "
                f"сравнивается с изменением у {len(comp)} классов той же параллели, не затронутых решением"
                f"{match}; классы прослежены по их ученикам. Оценка эффекта: {_fmt_eff(est, metric)} "
                f"(95\u00a0% ДИ: {_fmt_eff(lo, metric)} … {_fmt_eff(hi, metric)}); интервал построен по "
                "изменениям на уровне классов, то есть учитывает, что отметки учеников одного класса "
                "связаны. Допущение метода — параллельные тренды: без решения целевые классы менялись бы "
                "так же, как группа сравнения. ")
        if not np.isfinite(pt_p):
            text += "Проверить его по периодам до решения нельзя: до решения меньше двух четвертей с данными. "
        elif pt_p < o["pretrend_alpha"]:
            text += (f"Проверка по периодам до решения его не подтверждает: наклоны рядов до решения различаются "
                     f"({_fmt_eff(pt, metric)} за четверть, p = {_p(pt_p)}), поэтому оценка ненадёжна. ")
            return done("did", "insufficient_data", text + "Вывод: данных недостаточно для вывода об "
                        "эффективности.", ser)
        else:
            text += (f"Проверка по {npre} периодам до решения (событийный анализ) не выявила расхождения трендов: "
                     f"разность наклонов {_fmt_eff(pt, metric)} за четверть, p = {_p(pt_p)}. ")
        return done("did", _verdict(lo, hi, direction), text + _conclusion(lo, hi, direction), ser)
    est, lo, hi, p, npre = _its(uv, target, panel, metric, o)
    row.update(n_pre_terms=npre)
    if not np.isfinite(est) or not np.isfinite(lo):
        return done("none", "insufficient_data", f"Оценка невозможна: сопоставимых классов без решения меньше "
                    f"{o['min_comparison']} ({len(comp)}), а собственная история целевых классов слишком "
                    f"коротка для прерванного временного ряда (периодов до решения: {npre}, нужно не менее "
                    f"{o['min_pre_its']}).", ser)
    row.update(effect=est, ci_low=lo, ci_high=hi, p_value=p)
    text = (f"Метод — прерванный временной ряд: сопоставимых классов без решения меньше {o['min_comparison']}, "
            f"поэтому показатель «{mname}» целевых классов ({len(target)}) после решения ({post_txt}) "
            f"сравнивается с продолжением их собственного линейного тренда за {npre} периодов до решения "
            f"({pre_txt}). Оценка эффекта: {_fmt_eff(est, metric)} (95\u00a0% ДИ: {_fmt_eff(lo, metric)} … "
            f"{_fmt_eff(hi, metric)}). Допущение метода — без решения тренд продолжился бы, и в ту же дату "
            "не случилось ничего другого (смена учителя, программы); проверить это без группы сравнения "
            "нельзя, поэтому вывод слабее, чем при сравнении с другими классами. ")
    return done("its", _verdict(lo, hi, direction), text + _conclusion(lo, hi, direction), ser)


def _terms_until(last: dt.date):
    for y in range(last.year - 30, last.year + 1):
        for p in TERMS:
            if term_bounds(y, p)[1] <= last:
                yield y, p


def _verdict(lo: float, hi: float, direction: int) -> str:
    return "effective" if (direction > 0 and lo > 0) or (direction < 0 and hi < 0) else "not_effective"


def _conclusion(lo: float, hi: float, direction: int) -> str:
    if _verdict(lo, hi, direction) == "effective":
        return "Вывод: интервал не включает ноль и лежит в нужную сторону — решение эффективно."
    return ("Вывод: интервал включает ноль или лежит не в ту сторону — эффект решения не доказан "
            "(решение не признаётся эффективным).")
