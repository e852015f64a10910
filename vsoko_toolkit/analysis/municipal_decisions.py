"""Re-diagnosis of the municipality's management decisions, with schools as units.

Public entry point: :func:`municipal_decisions`. The same design as the school level
(:mod:`.decisions`, whose numerics are reused: the two-sample *t*, the slopes, the verdict), one level up:

**The register.** Municipal decisions live in their own optional contract table ``municipal_decisions``
(``municipal_decisions.csv`` / ``.xlsx``; the municipal action plan of :mod:`vsoko_toolkit.report.municipal_plan`
is written in its shape and with its Russian headers, so next year it is read back as the register). Its
columns are those of ``decisions`` with ``municipality`` (optional) in place of ``school_id``; ``target_type``
is ``school`` (the default; ``subject`` is read the same way) and ``target_ids`` the ``;``-separated school
ids — empty means every school of the municipality. Decisions addressed to classes, teachers or students
belong to the schools' own registers (``decisions.csv``) and are not evaluated here.

**Units and metrics.** A unit is a school. Term metrics (``quality``, ``success``, ``mean_mark``) are
pooled over the school's numeric term marks (quarters and semesters; in the decision's subject when given)
per term; terms ending on the same day (the second quarter and the first semester) form one time point.
Yearly metrics are measured once a year on ВПР: ``vpr_confirm_share`` — the share of ВПР participants whose
ВПР mark equals the last journal mark (``assessments.journal_mark`` or, without it, the derived one of
:func:`vsoko_toolkit.warehouse.derive.last_journal_mark_sql`; the ВПР mark from ``scales`` when empty),
``vpr_mean_pct`` — the mean primary score as a share of the work's maximum (``assessment_specs``).
A term is *pre* when it ended by the decision's date and *post* when its middle is on or after the date and it
ended by the deadline (else the end of the decision's academic year); a yearly ВПР is pre when written before
the date and post when written after it in a school year up to the deadline's (a deadline of 30 April still
takes that spring's ВПР).

**Methods.** ``did`` when at least ``min_comparison`` (3) schools not targeted have data in both periods:
per school the change post − pre; the effect is the mean change of the targeted schools minus that of the
others, with a two-sample *t* interval on the school changes (inference at the level of schools, which are
what the decision was assigned to). Assumption: parallel trends — checked on the pre-period (slopes of the
targeted and the other schools over the pre terms, two-sample *t*; a difference at p < ``pretrend_alpha``
makes the verdict ``insufficient_data``). ``its`` when the comparison is missing (a decision for every school,
or too few other schools): each targeted school's linear pre-trend (at least ``min_pre_its`` points) is
projected over the post period; the effect is the mean gap, with a one-sample *t* interval over schools (one
school: the regression prediction interval). Assumption: without the decision the trend would have continued
and nothing else changed at the date — not checkable without a comparison, and the explanation says so.
``insufficient_data`` otherwise; ``not_due`` when no term (or ВПР) after the date is in the data up to
``year``. Verdict ``effective`` when the whole 95 % interval lies on the improvement side (the side of
``target_value`` against ``baseline``; up when either is missing).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..findings.model import DecisionEvaluation, Skipped
from ..report import text as t
from ..warehouse.schema import has_column, has_table
from .base import AnalysisResult, empty_plot
from .decisions import (
    METRIC_RU,
    TERM_METRICS,
    _conclusion,
    _date,
    _fmt_eff,
    _fmt_level,
    _p,
    _slopes,
    _ttest,
    _value,
    _verdict,
    term_bounds,
)

YEAR_METRICS = ("vpr_confirm_share", "vpr_mean_pct")
DEFAULTS = {"alpha": 0.05, "pretrend_alpha": 0.05, "min_comparison": 3, "min_pre_its": 3, "pre_years": 1,
            "pre_years_annual": 2, "match_ratio": None, "min_marks": 30, "min_vpr": 10, "register": None,
            "municipality": None}
COLUMNS = ["decision_id", "municipality", "year", "date", "deadline", "metric", "subject", "target_type",
           "target_ids", "method", "verdict", "effect", "ci_low", "ci_high", "p_value", "pretrend_diff", "pretrend_p",
           "n_pre", "n_target", "n_comparison", "baseline", "current", "target", "direction", "explanation"]
__all__ = ["COLUMNS", "YEAR_METRICS", "MunicipalDecisionsResult", "municipal_decisions", "school_levels"]
SERIES_COLUMNS = ["decision_id", "group", "t", "end", "phase", "value", "n"]


@dataclass(frozen=True)
class MunicipalDecisionsResult(AnalysisResult):
    """``tidy()`` (:data:`COLUMNS`): one row per municipal decision — method, verdict, effect with its 95 %
    interval and p-value, the pre-trend check, numbers of targeted and comparison schools, baseline, current
    value of the targeted schools after the decision, target, explanation (Russian). ``evaluations``: the
    same as ``decision_evaluations`` of the findings contract. ``series`` (:data:`SERIES_COLUMNS`): the
    metric of the targeted and the comparison schools per time point; ``plot(decision_id)``."""

    series: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SERIES_COLUMNS), repr=False)
    year: int = 0

    def evaluated(self) -> list[str]:
        t = self.table
        return t.loc[t["method"].isin(["did", "its"]), "decision_id"].tolist() if len(t) else []

    def plot(self, decision_id: str | None = None, ax=None):
        import matplotlib.pyplot as plt

        ids = self.evaluated()
        decision_id = decision_id or (ids[0] if ids else None)
        row = self.table[self.table["decision_id"] == decision_id] if len(self.table) else self.table
        s = self.series[self.series["decision_id"] == decision_id] if len(self.series) else self.series
        if row.empty or s.empty:
            return empty_plot(ax, "Нет данных для графика: решение не оценивалось.")
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 4))
        r = row.iloc[0]
        names = {"target": "школы, на которые направлено решение", "comparison": "остальные школы"}
        for grp, d in s.groupby("group", sort=False):
            d = d.sort_values("end")
            ax.plot(pd.to_datetime(d["end"]), d["value"], marker="o", label=names.get(grp, grp),
                    color="C3" if grp == "target" else "C0")
        ax.axvline(pd.Timestamp(r["date"]), color="k", ls="--", lw=1, label="дата решения")
        ax.set_ylabel(METRIC_RU.get(r["metric"], r["metric"]))
        subj = f", {r['subject']}" if isinstance(r["subject"], str) and r["subject"] else ""
        ax.set_title(f"Муниципальное решение {decision_id}: {METRIC_RU.get(r['metric'], r['metric'])}{subj}")
        ax.legend(loc="best", fontsize=8)
        ax.figure.autofmt_xdate()
        return ax


def _register(con, year: int, o: dict) -> pd.DataFrame | None:
    if o["register"] is not None:
        dec = pd.DataFrame(o["register"]).copy()
    elif has_table(con, "municipal_decisions"):
        dec = con.execute("SELECT * FROM municipal_decisions").df()
    else:
        return None
    for c in ("municipality", "target_type", "target_ids", "subject", "baseline", "target_value", "deadline"):
        if c not in dec:
            dec[c] = None
    dec = dec[pd.to_numeric(dec["year"]) <= int(year)]
    if o["municipality"] is not None:
        m = dec["municipality"]
        dec = dec[m.isna() | (m.astype(str).str.strip() == "") | (m.astype(str) == str(o["municipality"]))]
    return dec.sort_values(["date", "decision_id"], kind="stable").reset_index(drop=True)


def municipal_decisions(con, year: int, options: dict | None = None) -> MunicipalDecisionsResult:
    """Evaluate every municipal decision taken up to academic ``year`` (see the module docstring).

    ``options``: ``alpha`` (0.05), ``pretrend_alpha`` (0.05), ``min_comparison`` (3 schools for DiD),
    ``min_pre_its`` (3 pre points for ITS), ``pre_years`` (1 academic year of term history before the
    decision's year), ``pre_years_annual`` (2 years of ВПР before the date), ``match_ratio`` (None: every other
    school is a comparison; k: the k × n_targets nearest in the pre-period level), ``min_marks`` (30 term marks
    per school and period), ``min_vpr`` (10 ВПР participants per school and year), ``register`` (a frame of
    decisions in the contract's shape to evaluate instead of the warehouse table), ``municipality`` (keep the
    register's rows of this municipality or with it empty).
    """
    o = {**DEFAULTS, **(options or {})}
    year = int(year)
    dec = _register(con, year, o)
    if dec is None or dec.empty:
        why = ("нет муниципального реестра управленческих решений (таблица municipal_decisions)" if dec is None
               else "в муниципальном реестре решений (municipal_decisions) нет решений за этот и прошлые годы")
        return MunicipalDecisionsResult(table=pd.DataFrame(columns=COLUMNS), year=year, notes=(why[0].upper() + why[1:] + ".",),
                                        skipped=(Skipped("municipal_decision_effects", why),))
    schools = sorted(r[0] for r in con.execute("SELECT school_id FROM schools").fetchall())
    rows, evals, series = [], [], []
    for d in dec.to_dict("records"):
        d = {k: (None if (not isinstance(v, list | tuple) and pd.isna(v)) else v) for k, v in d.items()}
        r, ev, s = _one(con, d, o, year, schools)
        rows.append(r)
        evals.append(ev)
        if s is not None and len(s):
            series.append(s)
    ser = pd.concat(series, ignore_index=True) if series else pd.DataFrame(columns=SERIES_COLUMNS)
    return MunicipalDecisionsResult(table=pd.DataFrame(rows, columns=COLUMNS), evaluations=tuple(evals), series=ser,
                                    year=year)


# --------------------------------------------------------------------------- panels


def _term_panel(con, subject, years, date, end) -> pd.DataFrame:
    """Counts per school and term, with the term's end, middle and phase."""
    subj = "AND subject = ?" if subject else ""
    ph = ",".join("?" * len(years))
    p = con.execute(f"""
        SELECT school_id AS unit, year, period, count(*) AS n,
               sum(CASE WHEN mark_value >= 4 THEN 1 ELSE 0 END) AS k4,
               sum(CASE WHEN mark_value >= 3 THEN 1 ELSE 0 END) AS k3, sum(mark_value) AS s
          FROM period_marks
         WHERE mark_value IS NOT NULL AND period IN ('q1','q2','q3','q4','h1','h2') {subj} AND year IN ({ph})
         GROUP BY ALL""", [*([subject] if subject else []), *years]).df()
    if p.empty:
        return p.assign(end=None, phase=None)
    bounds = [term_bounds(int(y), q) for y, q in zip(p["year"], p["period"], strict=True)]
    p["end"] = [b for _, b in bounds]
    mids = [a + (b - a) / 2 for a, b in bounds]
    p["phase"] = ["pre" if b <= date else "post" if (m >= date and b <= end) else "none"
                  for (_, b), m in zip(bounds, mids, strict=True)]
    return p


def _vpr_panel(con, metric, subject, years, date, end) -> tuple[pd.DataFrame, str]:
    """Per school and year of ВПР: n participants and the count (confirm) or the sum of shares (mean pct)."""
    if not has_table(con, "assessments") or not con.execute(
            "SELECT count(*) FROM assessments WHERE kind = 'VPR'").fetchone()[0]:
        return pd.DataFrame(), "в данных нет результатов ВПР (таблица assessments, вид работы ВПР)"
    ph = ",".join("?" * len(years))
    subj = "AND a.subject = ?" if subject else ""
    args = [*years, *([subject] if subject else [])]
    if metric == "vpr_confirm_share":
        from ..warehouse.derive import last_journal_mark_sql, mark_from_scale_sql

        mark = "a.mark" if has_column(con, "assessments", "mark") else "NULL"
        if has_table(con, "scales"):
            mark = f"coalesce({mark}, {mark_from_scale_sql('a')})"
        given = "a.journal_mark" if has_column(con, "assessments", "journal_mark") else "NULL::INTEGER"
        works = (f"(SELECT a.school_id, a.year, a.student_id, a.subject, a.date, {mark} AS vmark, {given} AS given "
                 f"FROM assessments a WHERE a.kind = 'VPR' AND a.year IN ({ph}) {subj})")
        p = con.execute(f"""SELECT school_id AS unit, year, max(date) AS d, count(*) AS n,
                                   sum(CASE WHEN vmark = coalesce(given, derived_mark) THEN 1 ELSE 0 END) AS k4
                              FROM ({last_journal_mark_sql(works)})
                             WHERE vmark IS NOT NULL AND coalesce(given, derived_mark) IS NOT NULL
                             GROUP BY ALL""", args).df()
        p["k3"], p["s"] = p["k4"], p["k4"]
    else:
        if not has_table(con, "assessment_specs") or not con.execute(
                "SELECT count(*) FROM assessment_specs WHERE kind = 'VPR'").fetchone()[0]:
            return pd.DataFrame(), ("нет максимальных баллов заданий ВПР (таблица assessment_specs) — средний "
                                    "процент выполнения не рассчитать")
        p = con.execute(f"""
            WITH mx AS (SELECT kind, subject, grade, year, sum(max_score) AS mx FROM assessment_specs GROUP BY ALL)
            SELECT a.school_id AS unit, a.year, max(a.date) AS d, count(*) AS n,
                   sum(least(a.primary_score / mx.mx, 1.0)) AS s
              FROM assessments a JOIN mx USING (kind, subject, grade, year)
             WHERE a.kind = 'VPR' AND a.primary_score IS NOT NULL AND a.year IN ({ph}) {subj} GROUP BY ALL""",
                        args).df()
        p["k4"], p["k3"] = p["s"], p["s"]
    if p.empty:
        return p, "у школ нет результатов ВПР по предмету решения в нужные годы"
    # one time point per year: the municipality's last ВПР date of that year (schools write within weeks)
    p["end"] = [pd.Timestamp(x).date() for x in p.groupby("year")["d"].transform("max")]
    end_ay = end.year + (1 if end.month >= 9 else 0)  # the spring ВПР of the deadline's school year counts
    p["phase"] = ["pre" if e < date else "post" if y <= end_ay else "none" for e, y in zip(p["end"], p["year"],
                                                                                           strict=True)]
    return p, ""


def _calc(metric: str) -> str:
    """How a panel's counts give the metric (:func:`.decisions._value`)."""
    return {"vpr_confirm_share": "quality", "vpr_mean_pct": "mean_mark"}.get(metric, metric)


def _points(panel: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value per school and time point (terms ending the same day pooled); ``t`` = rank of the end."""
    g = panel.groupby(["unit", "end", "phase"], as_index=False)[["n", "k4", "k3", "s"]].sum()
    g["value"] = _value(g["n"], g["k4"], g["k3"], g["s"], _calc(metric))
    order = {e: i for i, e in enumerate(sorted(g["end"].unique()))}
    g["t"] = g["end"].map(order)
    return g


# --------------------------------------------------------------------------- estimation


def _did(pts: pd.DataFrame, uv: pd.DataFrame, target: list, comp: list, o: dict):
    d = uv["post"] - uv["pre"]
    est, lo, hi, p = _ttest(d.reindex(target).to_numpy(float), d.reindex(comp).to_numpy(float), o["alpha"])
    pre = pts[(pts["phase"] == "pre") & pts["unit"].isin(target + comp)]
    n_pre = pre["t"].nunique()
    sl = _slopes(pre) if n_pre >= 2 else pd.Series(dtype=float)
    sT, sC = sl.reindex(target).dropna().to_numpy(), sl.reindex(comp).dropna().to_numpy()
    pt, _, _, pt_p = _ttest(sT, sC, o["alpha"]) if n_pre >= 2 else (np.nan,) * 4
    return est, lo, hi, p, pt, pt_p, n_pre


def _its(pts: pd.DataFrame, target: list, o: dict):
    gaps, fits, n_pre = [], [], 0
    for u in target:
        g = pts[pts["unit"] == u].dropna(subset=["value"])
        a, b = g[g["phase"] == "pre"], g[g["phase"] == "post"]
        n_pre = max(n_pre, len(a))
        if len(a) < o["min_pre_its"] or b.empty:
            continue
        coef = np.polyfit(a["t"], a["value"], 1)
        gaps.append(float(np.mean(b["value"] - np.polyval(coef, b["t"]))))
        fits.append((a, b, coef))
    if not gaps:
        return np.nan, np.nan, np.nan, np.nan, n_pre
    if len(gaps) >= 2:
        return (*_ttest(np.array(gaps), None, o["alpha"]), n_pre)
    a, b, coef = fits[0]
    df = len(a) - 2
    if df < 1:
        return np.nan, np.nan, np.nan, np.nan, n_pre
    s2 = float(((a["value"] - np.polyval(coef, a["t"])) ** 2).sum() / df)
    sxx = float(((a["t"] - a["t"].mean()) ** 2).sum())
    se = np.sqrt(s2 / len(b) + s2 * (1 / len(a) + (b["t"].mean() - a["t"].mean()) ** 2 / sxx))
    q = stats.t.ppf(1 - o["alpha"] / 2, df)
    est = gaps[0]
    if not se > 0:
        return est, est, est, np.nan, n_pre
    return est, est - q * se, est + q * se, 2 * stats.t.sf(abs(est / se), df), n_pre


def _series(decision_id: str, pts: pd.DataFrame, target: set) -> pd.DataFrame:
    """Mean over the schools of each group per time point (schools weigh equally, as in the estimate)."""
    p = pts.assign(group=np.where(pts["unit"].isin(target), "target", "comparison"), decision_id=decision_id)
    g = p.groupby(["decision_id", "group", "t", "end", "phase"], as_index=False)
    return g.agg(value=("value", "mean"), n=("n", "sum"))[SERIES_COLUMNS]


def _one(con, d: dict, o: dict, year: int, schools: list[str]):
    date, deadline = _date(d["date"]), _date(d.get("deadline"))
    metric = str(d.get("metric") or "").strip()
    mname = METRIC_RU.get(metric, metric)
    base, goal = d.get("baseline"), d.get("target_value")
    base = None if base is None else float(base)
    goal = None if goal is None else float(goal)
    direction = -1 if (base is not None and goal is not None and goal < base) else 1
    ttype = str(d.get("target_type") or "school").strip() or "school"
    ids = [x.strip() for x in str(d.get("target_ids") or "").split(";") if x.strip()]
    row = {k: None for k in COLUMNS} | {
        "decision_id": d["decision_id"], "municipality": d.get("municipality"), "year": int(d["year"]),
        "date": date, "deadline": deadline, "metric": metric, "subject": d.get("subject"), "target_type": ttype,
        "target_ids": ";".join(ids), "baseline": base, "target": goal, "direction": direction, "n_target": 0,
        "n_comparison": 0, "n_pre": 0}
    note = []

    def done(method, verdict, text, ser=None, **num):
        text = "".join(note) + text
        row.update(num, method=method, verdict=verdict, explanation=text)
        extra = {"level": "municipality", "municipality": d.get("municipality"), "subject": d.get("subject"),
                 "target_type": ttype, "target_ids": ";".join(ids), "date": str(date), "p_value": row["p_value"],
                 "pretrend_p": row["pretrend_p"], "n_target": row["n_target"], "n_comparison": row["n_comparison"]}
        ev = DecisionEvaluation(str(d["decision_id"]), metric, row["baseline"], row["current"], goal, row["effect"],
                                row["ci_low"], row["ci_high"], method, verdict, text, extra)
        return row, ev, ser

    if ttype not in ("school", "subject"):
        return done("none", "insufficient_data", f"Решение адресовано не школам (тип адресата «{ttype}»): "
                    "муниципальный реестр оценивается по школам, а решения для классов, учителей и учеников "
                    "проверяются в реестре решений самой школы (decisions.csv).")
    unknown = [i for i in ids if i not in schools]
    if unknown:
        return done("none", "insufficient_data", "Оценка невозможна: в данных нет школ с кодами "
                    f"{', '.join(unknown)} (колонка target_ids муниципального реестра).")
    if metric not in TERM_METRICS + YEAR_METRICS:
        return done("none", "insufficient_data", f"Контрольный показатель «{metric}» не входит в каталог "
                    "показателей, которые можно рассчитать по школам (quality, success, mean_mark — по отметкам "
                    "за четверти; vpr_confirm_share, vpr_mean_pct — по ВПР); оценка невозможна.")
    if date is None:
        return done("none", "insufficient_data", "Оценка невозможна: не указана дата вступления решения в силу.")
    ay = date.year + (1 if date.month >= 9 else 0)
    report_end = dt.date(year, 8, 31)
    end = min(deadline or dt.date(ay, 5, 31), report_end)
    target = ids or list(schools)
    if metric in TERM_METRICS:
        years = list(range(ay - int(o["pre_years"]), min(ay, year) + 1))
        panel = _term_panel(con, d.get("subject"), years, date, end) if has_table(con, "period_marks") else \
            pd.DataFrame()
        min_n, unit_word = o["min_marks"], "отметок за четверти"
    else:
        years = list(range(ay - int(o["pre_years_annual"]), min(ay, year) + 1))
        panel, why = _vpr_panel(con, metric, d.get("subject"), years, date, end)
        if panel.empty:
            return done("none", "insufficient_data", f"Оценка невозможна: {why}.")
        min_n, unit_word = o["min_vpr"], "участников ВПР"
    if date > report_end or panel.empty or not (panel["end"] > date).any():
        return done("none", "not_due", f"Решение (вступает в силу {date:%d.%m.%Y}) ещё не могло дать результата: "
                    "после даты его вступления в силу в данных нет ни одного периода измерения. Оно будет "
                    "оценено при повторной диагностике в следующем году.")
    panel = panel[(panel["phase"] != "none") & panel["unit"].isin(schools)]
    pts = _points(panel, metric)
    agg = panel.groupby(["unit", "phase"])[["n", "k4", "k3", "s"]].sum()
    agg["value"] = _value(agg["n"], agg["k4"], agg["k3"], agg["s"], _calc(metric))
    uv = agg["value"].unstack("phase").reindex(columns=["pre", "post"])
    un = agg["n"].unstack("phase").reindex(columns=["pre", "post"]).fillna(0)
    ok = set(un.index[(un["pre"] >= min_n) & (un["post"] >= min_n)])
    tgt = [u for u in target if u in ok]
    comp = [u for u in schools if u in ok and u not in target]
    n_all = len(comp)
    if o["match_ratio"] and tgt and len(comp) > o["match_ratio"] * len(tgt):
        lvl = uv.loc[tgt, "pre"].mean()
        dist = (uv.loc[comp, "pre"] - lvl).abs().sort_values(kind="stable")
        comp = sorted(dist.index[: int(o["match_ratio"] * len(tgt))])
    tp = panel[panel["unit"].isin(tgt)]
    cur = tp[tp["phase"] == "post"]
    if len(cur):
        row["current"] = float(_value(cur["n"].sum(), cur["k4"].sum(), cur["k3"].sum(), cur["s"].sum(), _calc(metric)))
    row.update(n_target=len(tgt), n_comparison=len(comp))
    if base is None and tgt:
        pre = tp[tp["phase"] == "pre"]
        if len(pre):
            base = round(float(_value(pre["n"].sum(), pre["k4"].sum(), pre["k3"].sum(), pre["s"].sum(),
                                      _calc(metric))), 3)
            row["baseline"] = base
            direction = -1 if (goal is not None and goal < base) else 1
            row["direction"] = direction
            note.append(f"Исходное значение в реестре не указано (колонка baseline) — оно рассчитано по школам, на "
                        f"которые направлено решение, до его даты: {_fmt_level(base, metric)}. ")
    if not tgt:
        late = "" if (panel["phase"] == "post").any() else (
            " Между датой решения и сроком его выполнения нет ни одного измерения — оценить можно будет по "
            "данным, собранным после срока, при следующей повторной диагностике.")
        return done("none", "insufficient_data", f"Оценка невозможна: у школ, на которые направлено решение, нет "
                    f"достаточного числа {unit_word} (не менее {min_n}) и до, и после даты решения.{late}")
    pts = pts[pts["unit"].isin(tgt + comp)]
    ser = _series(str(d["decision_id"]), pts, set(tgt))
    who = (f"всех школ муниципалитета ({len(tgt)})" if not ids else f"школы {tgt[0]}" if len(tgt) == 1
           else f"школ {', '.join(tgt)} ({len(tgt)})")
    if len(comp) >= o["min_comparison"]:
        est, lo, hi, p, pt, pt_p, n_pre = _did(pts, uv, tgt, comp, o)
        row.update(effect=est, ci_low=lo, ci_high=hi, p_value=p, pretrend_diff=pt, pretrend_p=pt_p, n_pre=n_pre)
        match = f", отобранных из {n_all} по близости уровня до решения" if n_all > len(comp) else ""
        text = (f"Метод — разность разностей, единица анализа — школа. Изменение показателя «{mname}» у "
                f"{who} от периода до решения к периоду после него сравнивается с изменением у "
                f"{len(comp)} других школ муниципалитета{match}. Оценка эффекта: {_fmt_eff(est, metric)} (95\u00a0% "
                f"ДИ: {_fmt_eff(lo, metric)} … {_fmt_eff(hi, metric)}); интервал построен по изменениям на уровне "
                "школ, то есть учитывает, что результаты учеников одной школы связаны. Допущение метода — "
                "параллельные тренды: без решения эти школы менялись бы так же, как остальные. ")
        if not np.isfinite(pt_p):
            text += "Проверить его по периодам до решения нельзя: до решения меньше двух точек измерения. "
        elif pt_p < o["pretrend_alpha"]:
            text += (f"Проверка по периодам до решения его не подтверждает: наклоны рядов до решения различаются "
                     f"({_fmt_eff(pt, metric)} за период, p = {_p(pt_p)}), поэтому оценка ненадёжна. ")
            return done("did", "insufficient_data", text + "Вывод: данных недостаточно для вывода об "
                        "эффективности.", ser)
        else:
            text += (f"Проверка по {t.count(n_pre, 'точке', 'точкам', 'точкам')} до решения не выявила расхождения трендов: разность наклонов "
                     f"{_fmt_eff(pt, metric)} за период, p = {_p(pt_p)}. ")
        return done("did", _verdict(lo, hi, direction), text + _conclusion(lo, hi, direction), ser)
    est, lo, hi, p, n_pre = _its(pts, tgt, o)
    row["n_pre"] = n_pre
    why = ("решение касается всех школ муниципалитета, сравнивать не с кем" if not ids else
           f"других школ с данными меньше {o['min_comparison']} ({len(comp)})")
    if not (np.isfinite(est) and np.isfinite(lo)):
        return done("none", "insufficient_data", f"Оценка невозможна: {why}, а собственная история школ слишком "
                    f"коротка для прерванного временного ряда (точек до решения: {n_pre}, нужно не менее "
                    f"{o['min_pre_its']}).", ser)
    row.update(effect=est, ci_low=lo, ci_high=hi, p_value=p)
    text = (f"Метод — прерванный временной ряд, единица анализа — школа: {why}, поэтому показатель «{mname}» "
            f"{who} после решения сравнивается с продолжением собственного линейного тренда каждой "
            f"школы за {t.count(n_pre, 'точку', 'точки', 'точек')} до решения. Оценка эффекта: {_fmt_eff(est, metric)} (95\u00a0% ДИ: "
            f"{_fmt_eff(lo, metric)} … {_fmt_eff(hi, metric)}). Допущение метода — без решения тренд продолжился бы и "
            "в ту же дату не случилось ничего другого (смена руководителя, программы, состава учеников); проверить "
            "это без группы сравнения нельзя, поэтому вывод слабее, чем при сравнении с другими школами. ")
    return done("its", _verdict(lo, hi, direction), text + _conclusion(lo, hi, direction), ser)



def school_levels(con, metric: str, year: int, subject: str | None = None) -> dict[str, float]:
    """Each school's level of a control metric in academic ``year``, measured as the re-diagnosis measures it
    (term marks pooled over the year's terms; ВПР of that year) — the baseline of a municipal plan."""
    if metric in TERM_METRICS:
        if not has_table(con, "period_marks"):
            return {}
        far = dt.date(9999, 1, 1)
        p = _term_panel(con, subject, [int(year)], far, far)
    elif metric in YEAR_METRICS:
        p, _ = _vpr_panel(con, metric, subject, [int(year)], dt.date(9999, 1, 1), dt.date(9999, 1, 1))
    else:
        return {}
    if p.empty:
        return {}
    g = p.groupby("unit")[["n", "k4", "k3", "s"]].sum()
    v = _value(g["n"], g["k4"], g["k3"], g["s"], _calc(metric))
    return {u: float(x) for u, x in zip(g.index, v, strict=True) if np.isfinite(x)}
