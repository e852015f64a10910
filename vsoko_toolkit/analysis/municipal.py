"""The municipal comparison of schools (МСОКО): fair comparison, steady results, ШНОР and resilient
schools, signs of non-objective results.

Public entry point: :func:`municipal_comparison`; :func:`municipality_id` gives the id the municipal
findings are filed under. The whole analysis reads the warehouse once for the municipality: nothing is
computed per school that the municipality's computation already gives.

1. **Fair comparison** (:data:`MunicipalResult.value_added`). A student's result in a year is the mean of
   their standardised ВПР/ОГЭ/ЕГЭ scores (year marks in a year without external works; see
   :mod:`.municipal_data`). Contextualised value added: a linear mixed model of the result in ``year`` on
   the student's prior attainment (mean standardised external score of last year with an indicator for
   its absence; for students without one, the mean standardised year mark of last year — the school's own
   marking never enters a prior that an external result can give), grade and the school's social index (when
   ``schools.social_index`` is filled; without it prior attainment only, and a note says so), with random
   intercepts of schools and of classes nested in them (:func:`vsoko_toolkit.stats.mixed.fit_mixed`, fast
   engine). A school's estimate is its empirical-Bayes (shrunken) effect relative to the municipal mean 0:
   the posterior mean and SD with the school variance integrated out (:mod:`vsoko_toolkit.stats.eb_prior`:
   the plug-in EB interval treats the estimated variance as known and under-covers when it is poorly
   known — with a few schools it is often estimated as 0 and every interval collapses to a point; the flat
   prior of :func:`~vsoko_toolkit.stats._mixed_fast.integrated_eb` is improper-tailed with few schools, so the
   school SD gets a weakly informative half-normal prior with scale ``prior_sd`` = 0.5 SD of results),
   with ``estimate ± 1.96·se``. Two-sided tests, BH across schools;
   ``low_value_added`` / ``high_value_added`` for q < ``alpha``. **Ranks with uncertainty**: 95 % rank
   intervals by simulating the estimates' sampling distribution (:func:`vsoko_toolkit.stats.ranking.rank_intervals`).
   **Funnel plot** (:data:`MunicipalResult.funnel`): each school's raw mean result of ``year`` against its number
   of students, with 95 % and 99.8 % control limits around the municipal mean, ``mean ± z·sd·sqrt(deff/n)``
   (``sd`` of the municipality's individual results, ``deff`` the median design effect of class clustering).
2. **Steadily low / high** (:data:`MunicipalResult.steady`): the school's result below (above) the other
   schools' in each of the last ``steady_years`` (3) years — each year one-sided at the class-clustered
   standard error and by at least ``min_diff`` (0.1 SD) — with the intersection–union p-value (the largest
   yearly p; valid whatever the dependence between years), BH across schools.
3. **ШНОР / resilient** (:data:`MunicipalResult.context`): social index in the municipality's lower third
   (the ⌊k/3⌋ lowest of k schools with an index, at least one; k ≥ 3) and the ``year`` result below (ШНОР) /
   above (resilient) the other schools' — two-sided, BH across the schools in unfavourable conditions, and
   at least ``min_diff``. Without a social index both are skipped with the reason.
4. **Signs of non-objective results** (:data:`MunicipalResult.objectivity`):
   :mod:`.municipal_objectivity` — threshold pile-ups, results far above similar schools, unexplained jumps,
   ВПР against journal marks; municipal BH; ``non_objective_school`` per school with any sign.

The rules are stated in Russian in :data:`MunicipalResult.rules`. Too few schools or years for a rule give a
``Skipped`` with the reason, never a silent omission.

Calibration (``tests/test_municipal_null.py``): on 100 null municipalities (8 schools × 3 years, no school
effects) 7 of 800 schools (0.9 %) were flagged on any rule; on 20 null municipalities of the sample
generator itself 4 of 160 (2.5 %). Power (``tests/test_municipal.py``): a school 0.35 SD lower in every year
is found steadily low, a gain of 0.3 SD in one year is found as high value added, in most runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..findings import Skipped
from ..report import phrases as ph
from ..report.text import count
from ..stats.eb_prior import integrated_group_effects
from ..stats.intervals import bh_qvalues, funnel_limits_mean
from ..stats.ranking import rank_intervals
from . import municipal_findings as mf
from . import municipal_plots as mp
from .base import AnalysisResult
from .municipal_data import (
    EXTERNAL_KINDS,
    municipality_id,
    municipality_name,
    school_frame,
    student_results,
    yearly_results,
)
from .municipal_objectivity import CHECK_RU, objectivity_checks

__all__ = ["MunicipalResult", "municipal_comparison", "municipality_id"]

DEFAULTS = {"alpha": 0.05, "steady_years": 3, "min_diff": 0.1, "kinds": EXTERNAL_KINDS, "municipality": None,
            "engine": "fast", "methods": ("lbfgs", "bfgs"), "prior_sd": 0.5, "n_sim": 2000, "seed": 0, "fdr_family": "check",
            "min_schools": 8, "min_jump_sd": 0.3, "min_offset": 0.2, "term_ends": None}
MIN_VA_SCHOOLS = 3  # schools for a school random effect
MIN_CONTEXT_SCHOOLS = 3  # schools with a social index to speak of a lower third
FEW_SCHOOLS = 8  # below this the notes warn that the between-school comparisons are rough
SUMMARY_COLUMNS = ["school_id", "name", "social_index", "unfavourable", "n", "mean", "diff", "ci_low", "ci_high",
                   "funnel", "va_estimate", "va_low", "va_high", "va_q", "rank", "rank_low", "rank_high", "steady",
                   "context", "non_objective", "signs"]


@dataclass(frozen=True)
class MunicipalResult(AnalysisResult):
    """The municipal comparison of schools.

    ``tidy()`` (one row per school): school_id, name, social_index, unfavourable (lower third), n (students with
    a result in ``year``), mean (their mean standardised result), diff, ci_low, ci_high (against the other
    schools), funnel (``inside`` / ``above_95`` / ``above_998`` / ``below_95`` / ``below_998``), va_estimate,
    va_low, va_high, va_q (contextualised value added), rank, rank_low, rank_high (95 % rank interval),
    steady (``steadily_low`` / ``steadily_high`` / ``""``), context (``shnor`` / ``resilient_school`` / ``""``),
    non_objective (bool), signs (Russian list of the signs found).

    Sub-tables: ``value_added`` (school_id, name, n, mean_y, mean_prior (last year's mean standardised year
    mark), estimate, se, ci_low, ci_high, p_value,
    q_value, flagged, rank, rank_low, rank_high, rank_mean, p_top, p_bottom); ``funnel`` (school_id, name, n,
    mean, target, lower_95, upper_95, lower_998, upper_998, position, sd, deff); ``yearly`` (school × year:
    :data:`.municipal_data.YEARLY_COLUMNS`); ``steady`` (school_id, name, years, p_low, p_high, size_low,
    size_high, q_low, q_high, status, p_value, q_value); ``context`` (school_id, name, social_index, social_rank,
    unfavourable, n, mean, others_mean, diff, ci_low, ci_high, p_two, q_value, status); ``objectivity`` (one row
    per test: :data:`.municipal_objectivity.COLUMNS`). ``rules``: the rules in Russian, keyed result /
    value_added / steady / context / non_objective.
    """

    value_added: pd.DataFrame | None = None
    funnel: pd.DataFrame | None = None
    yearly: pd.DataFrame | None = None
    steady: pd.DataFrame | None = None
    context: pd.DataFrame | None = None
    objectivity: pd.DataFrame | None = None
    rules: dict = field(default_factory=dict)
    municipality_id: str = ""
    year: int = 0
    sources: dict = field(default_factory=dict)  # {year: "external" | "marks"}
    model: object = None  # the mixed-model fit behind ``value_added`` (MixedResult) or None

    def plot(self, ax=None):
        """The funnel plot (see :meth:`plot_funnel`)."""
        return self.plot_funnel(ax)

    def plot_funnel(self, ax=None):
        """Each school's mean result against its number of students, with 95 % / 99.8 % control limits."""
        return mp.plot_funnel(self, ax)

    def plot_value_added(self, ax=None):
        """Contextualised value added of every school with its 95 % interval."""
        return mp.plot_value_added(self, ax)

    def plot_ranks(self, ax=None):
        """Ranks with their 95 % intervals (never a bare league table)."""
        return mp.plot_ranks(self, ax)

    def plot_years(self, ax=None):
        """Each school's result against the other schools, year by year, with intervals."""
        return mp.plot_years(self, ax)

    def plot_context(self, ax=None):
        """Result against the social index: ШНОР and resilient schools."""
        return mp.plot_context(self, ax)

    def plot_objectivity(self, ax=None):
        """Signs of non-objectivity: the smallest q per school and sign."""
        return mp.plot_objectivity(self, ax)


def _options(options: dict | None) -> dict:
    opts = {**DEFAULTS, **(options or {})}
    opts["kinds"] = tuple(opts["kinds"])
    return opts


def _value_added(d: pd.DataFrame, schools: pd.DataFrame, year: int, social_ok: bool, opts: dict):
    """Contextualised value added of every school (module docstring, 1): (table, fit, notes)."""
    from ..stats.mixed import fit_mixed

    cur = d[(d["year"] == int(year)) & (d["prior_gpa"].notna() | d["prior_ext"].notna())].copy()
    cur = cur[cur["school_id"].isin(set(cur["school_id"].value_counts().loc[lambda s: s >= 5].index))]
    notes: list[str] = []
    if cur["school_id"].nunique() < MIN_VA_SCHOOLS:
        return None, None, [f"Контекстуальная добавленная стоимость не рассчитана: нужно не меньше "
                            f"{MIN_VA_SCHOOLS} школ с учениками, у которых есть результаты прошлого года."]
    if social_ok:
        si = cur["school_id"].map(schools.set_index("school_id")["social_index"]).astype(float)
        cur["social"] = si - si.mean()
    meta = cur.groupby("school_id").agg(n=("y", "size"), mean_y=("y", "mean"),
                                        mean_prior=("prior_gpa", "mean")).reset_index()
    cur, formula = _design(cur, social_ok)
    try:
        fit = fit_mixed(cur, formula, groups="school_id", vc_formula={"class": "0 + C(class_id)"},
                        engine=opts["engine"], methods=opts["methods"])
    except Exception as exc:  # noqa: BLE001 - a failed fit is reported, not raised
        return None, None, [f"Модель контекстуальной добавленной стоимости не оценена: {exc}"]
    serious = [w.message for w in fit.warnings if w.severity == "warning"]
    if serious:
        notes.append("Оценка модели добавленной стоимости сопровождалась предупреждениями: " + "; ".join(serious))
    variances = dict(zip(fit.variance["component"], fit.variance["estimate"], strict=True))
    eff = integrated_group_effects(cur, formula, "school_id", {"class": "0 + C(class_id)"}, variances,
                                   float(opts["prior_sd"])).set_index("group")
    meta["estimate"] = meta["school_id"].map(eff["estimate"]).astype(float)
    meta["se"] = meta["school_id"].map(eff["se"]).astype(float)
    meta["ci_low"], meta["ci_high"] = meta["estimate"] - 1.959964 * meta["se"], meta["estimate"] + 1.959964 * meta["se"]
    with np.errstate(divide="ignore", invalid="ignore"):
        meta["p_value"] = np.where(meta["se"] > 0, 2 * stats.norm.sf(np.abs(meta["estimate"] / meta["se"])), 1.0)
    meta["q_value"] = bh_qvalues(meta["p_value"].to_numpy(float))
    meta["flagged"] = meta["q_value"] < opts["alpha"]
    ranks = rank_intervals(meta["estimate"], meta["se"], n_sim=int(opts["n_sim"]), seed=int(opts["seed"]))
    meta = pd.concat([meta, ranks], axis=1)
    meta.insert(1, "name", meta["school_id"].map(schools.set_index("school_id")["name"]))
    return meta, fit, notes


def _design(cur: pd.DataFrame, social_ok: bool) -> tuple[pd.DataFrame, str]:
    """Columns of the value-added model, kept only where they add rank (e.g. no fourth grader has a prior
    ВПР, so the indicator of a missing prior ВПР is the grade-4 dummy and is dropped).

    Prior attainment is last year's external result where the student has one; last year's year marks enter
    only for students without it (their own slope and intercept). Year marks are the school's own marking:
    a school that marks leniently would carry an inflated prior, be predicted high and show a low value
    added (on simulated municipalities a school whose journal marks were 0.8 latent SD too high got a
    significant low value added in 2 of 3 runs when year marks entered for everybody)."""
    has_ext = cur["prior_ext"].notna().to_numpy()
    cols: dict[str, np.ndarray] = {
        "prior_ext": cur["prior_ext"].fillna(0.0).to_numpy(float),
        "no_prior_ext": (~has_ext).astype(float),
        "prior_gpa": np.where(has_ext, 0.0, cur["prior_gpa"].fillna(0.0).to_numpy(float)),
    }
    for g in sorted(cur["grade"].unique())[1:]:
        cols[f"g{int(g)}"] = (cur["grade"] == g).to_numpy(float)
    if social_ok:
        cols["social"] = cur["social"].to_numpy(float)
    names = list(cols)
    x = np.column_stack([np.ones(len(cur))] + [cols[n] for n in names])
    gram = x.T @ x
    kept = [0]
    for j in range(1, x.shape[1]):  # a column enters when it is not (nearly) a combination of those before it
        g_kk, g_kj = gram[np.ix_(kept, kept)], gram[kept, j]
        resid = gram[j, j] - g_kj @ np.linalg.solve(g_kk, g_kj)
        if gram[j, j] - gram[0, j] ** 2 / len(cur) > 1e-12 and resid > 1e-8 * max(gram[j, j], 1.0):
            kept.append(j)
    keep = [names[j - 1] for j in kept[1:]]
    out = cur.drop(columns=[c for c in keep if c in cur.columns]).assign(**{n: cols[n] for n in keep})
    return out, "y ~ " + (" + ".join(keep) if keep else "1")


def _funnel(d: pd.DataFrame, yearly: pd.DataFrame, schools: pd.DataFrame, year: int) -> pd.DataFrame:
    cur = d[d["year"] == int(year)]
    yr = yearly[yearly["year"] == int(year)]
    if cur.empty or yr.empty:
        return pd.DataFrame()
    target, sd = float(cur["y"].mean()), float(cur["y"].std())
    deff = float(np.nanmedian(yr["deff"])) if yr["deff"].notna().any() else 1.0
    lim = funnel_limits_mean(target, sd * np.sqrt(max(deff, 1.0)), yr["n"].to_numpy(float))
    f = pd.concat([yr[["school_id", "n", "mean"]].reset_index(drop=True), lim.drop(columns="n")], axis=1)
    f["position"] = np.select(
        [f["mean"] > f["upper_998"], f["mean"] > f["upper_95"], f["mean"] < f["lower_998"], f["mean"] < f["lower_95"]],
        ["above_998", "above_95", "below_998", "below_95"], "inside")
    f["sd"], f["deff"] = sd, deff
    f.insert(1, "name", f["school_id"].map(schools.set_index("school_id")["name"]))
    return f


def _steady(yearly: pd.DataFrame, schools: pd.DataFrame, years: list[int], opts: dict) -> pd.DataFrame:
    rows = []
    for sch, g in yearly[yearly["year"].isin(years)].groupby("school_id"):
        g = g[g["p_low"].notna()]
        if len(g) < len(years):
            continue
        rows.append({"school_id": sch, "years": ",".join(str(int(y)) for y in sorted(g["year"])),
                     "p_low": float(g["p_low"].max()), "p_high": float(g["p_high"].max()),
                     "size_low": bool((g["diff"] <= -opts["min_diff"]).all()),
                     "size_high": bool((g["diff"] >= opts["min_diff"]).all())})
    s = pd.DataFrame(rows, columns=["school_id", "years", "p_low", "p_high", "size_low", "size_high"])
    q = bh_qvalues(np.concatenate([s["p_low"].to_numpy(float), s["p_high"].to_numpy(float)]))
    s["q_low"], s["q_high"] = q[:len(s)], q[len(s):]
    a = opts["alpha"]
    s["status"] = np.select([(s["q_low"] < a) & s["size_low"], (s["q_high"] < a) & s["size_high"]],
                            ["steadily_low", "steadily_high"], "")
    low = s["status"] == "steadily_low"
    s["p_value"] = np.where(low, s["p_low"], s["p_high"])
    s["q_value"] = np.where(low, s["q_low"], s["q_high"])
    s.insert(1, "name", s["school_id"].map(schools.set_index("school_id")["name"]))
    return s


def _context(yearly: pd.DataFrame, schools: pd.DataFrame, year: int, opts: dict) -> pd.DataFrame:
    cur = yearly[(yearly["year"] == int(year)) & yearly["p_two"].notna()]
    c = cur.merge(schools[["school_id", "name", "social_index"]], on="school_id")
    c = c[c["social_index"].notna()].copy()
    k = len(c)
    c["social_rank"] = c["social_index"].rank(method="min").astype(int)
    c["unfavourable"] = c["social_rank"] <= max(1, k // 3)
    c["q_value"] = np.nan
    fav = c["unfavourable"]
    c.loc[fav, "q_value"] = bh_qvalues(c.loc[fav, "p_two"].to_numpy(float))
    hit = (c["q_value"] < opts["alpha"]) & (c["diff"].abs() >= opts["min_diff"])
    c["status"] = np.select([hit & (c["diff"] < 0), hit & (c["diff"] > 0)], ["shnor", "resilient_school"], "")
    return c[["school_id", "name", "social_index", "social_rank", "unfavourable", "n", "mean", "others_mean", "diff",
              "ci_low", "ci_high", "p_two", "q_value", "status"]].reset_index(drop=True)


def municipal_comparison(con, year: int, options: dict | None = None) -> MunicipalResult:
    """Compare the schools of the municipality in ``year`` (module docstring).

    ``options``: ``alpha`` (0.05), ``steady_years`` (3), ``min_diff`` (0.1 SD: the smallest difference from
    the other schools a rule reports), ``kinds`` (external works used: ВПР, ОГЭ, ЕГЭ), ``municipality``
    (compare only the schools of this ``schools.municipality``; default all schools of the warehouse),
    ``engine`` / ``methods`` (mixed-model engine and optimizers), ``n_sim`` (2000 rank simulations), ``seed``,
    and the options of :func:`.municipal_objectivity.objectivity_checks` (``fdr_family``, ``min_schools``,
    ``min_jump_sd``, ``min_offset``, ``term_ends``).
    """
    opts = _options(options)
    year = int(year)
    mid = municipality_id(con, opts["municipality"])
    schools = school_frame(con, opts["municipality"])
    social_ok = bool(len(schools)) and bool(schools["social_index"].notna().all())
    k_years = int(opts["steady_years"])
    years = list(range(year - k_years + 1, year + 1))
    d, sources = student_results(con, years, schools["school_id"], opts["kinds"])
    notes: list[str] = []
    skipped: list[Skipped] = []
    rules = mf.rules(opts, years, year, social_ok)
    base = {"rules": rules, "municipality_id": mid, "year": year, "sources": sources}
    if d.empty or year not in sources:
        reason = (f"нет результатов учеников за {ph.academic_year(year)} учебный год: ни внешних оценочных "
                  "процедур (assessments), ни годовых отметок (period_marks)")
        return MunicipalResult(table=pd.DataFrame(columns=SUMMARY_COLUMNS),
                               skipped=(Skipped("municipal_comparison", reason),), **base)
    name = municipality_name(con, opts["municipality"]) or "муниципалитет"
    n_sch = int(d.loc[d["year"] == year, "school_id"].nunique())
    if n_sch < FEW_SCHOOLS:
        notes.append(f"В сравнении {count(n_sch, 'школа', 'школы', 'школ')} ({name}): оценки различий между школами грубые, интервалы широкие; "
                     f"сравнение со школами со схожими социальными условиями требует не меньше {FEW_SCHOOLS} школ.")
    if sources.get(year) == "marks":
        notes.append("Результатов ВПР, ОГЭ и ЕГЭ за этот год нет: результат учеников — годовые отметки, "
                     "стандартизованные по муниципалитету; отметки ставят сами школы, поэтому сравнение школ по ним "
                     "отражает и строгость оценивания.")
    elif any(v == "marks" for v in sources.values()):
        notes.append("Для лет " + ", ".join(str(y) for y, v in sources.items() if v == "marks")
                     + " результатов внешних оценочных процедур нет: результат школы в эти годы — годовые отметки.")
    if not social_ok:
        notes.append("Социальный индекс школ (schools.social_index) не заполнен"
                     + (" для части школ" if schools["social_index"].notna().any() else "")
                     + ": контекстуальная добавленная стоимость учитывает только предыдущие результаты учеников, "
                     "а не социальные условия школ.")
    yearly = yearly_results(d, sources)
    va, fit, va_notes = _value_added(d, schools, year, social_ok, opts)
    notes += va_notes
    if va is None:
        skipped.append(Skipped("municipal_value_added", va_notes[-1]))
        va = pd.DataFrame()
    funnel = _funnel(d, yearly, schools, year)
    missing = [y for y in years if y not in sources]
    if missing:
        reason = (f"для правила устойчиво низких и высоких результатов нужны результаты {k_years} лет "
                  f"({years[0]}–{years[-1]}); нет данных за {', '.join(map(str, missing))}")
        skipped.append(Skipped("municipal_steady", reason))
        steady = pd.DataFrame(columns=["school_id", "name", "status"])
    else:
        steady = _steady(yearly, schools, years, opts)
    ctx = _context(yearly, schools, year, opts) if social_ok else pd.DataFrame()
    if not social_ok:
        reason = ("не заполнен социальный индекс школ (колонка social_index в таблице schools): без него нельзя "
                  "выделить школы в неблагоприятных социальных условиях")
        skipped += [Skipped("municipal_shnor", f"ШНОР не выделены: {reason}."),
                    Skipped("municipal_resilient", f"Резильентные школы не выделены: {reason}.")]
    elif len(ctx) < MIN_CONTEXT_SCHOOLS:
        reason = (f"в сравнении {count(len(ctx), 'школа', 'школы', 'школ')} с социальным индексом и результатами {year} года, а для нижней "
                  f"трети нужно не меньше {MIN_CONTEXT_SCHOOLS}")
        skipped += [Skipped("municipal_shnor", f"ШНОР не выделены: {reason}."),
                    Skipped("municipal_resilient", f"Резильентные школы не выделены: {reason}.")]
        ctx = pd.DataFrame()
    checks, obj_notes = objectivity_checks(con, year, schools, opts)
    notes += obj_notes
    findings = _findings(mid, year, va, steady, yearly, ctx, checks, schools, sources)
    table = _summary(schools, yearly, year, funnel, va, steady, ctx, checks)
    return MunicipalResult(table=table, findings=tuple(findings), skipped=tuple(skipped), notes=tuple(notes),
                           value_added=va, funnel=funnel, yearly=yearly, steady=steady, context=ctx,
                           objectivity=checks, model=fit, **base)


def _findings(mid, year, va, steady, yearly, ctx, checks, schools, sources) -> list:
    out = []
    if len(va):
        m = int(va["p_value"].notna().sum())
        social_ok = bool(schools["social_index"].notna().all())
        out += [mf.value_added_finding(r, mid, year, m, social_ok) for r in va[va["flagged"]].itertuples()]
    if len(steady) and "q_low" in steady:
        m = int(steady["p_low"].notna().sum() + steady["p_high"].notna().sum())
        for r in steady[steady["status"] != ""].itertuples():
            rows = yearly[(yearly["school_id"] == r.school_id) & yearly["year"].isin(map(int, r.years.split(",")))]
            out.append(mf.steady_finding(r, rows, mid, year, m, sources.get(year, "external")))
    if len(ctx):
        m = int(ctx["q_value"].notna().sum())
        st = steady.set_index("school_id")["status"] if len(steady) else pd.Series(dtype=object)
        out += [mf.context_finding(r, mid, year, m, len(ctx), str(st.get(r.school_id, "")))
                for r in ctx[ctx["status"] != ""].itertuples()]
    if len(checks):
        names = schools.set_index("school_id")["name"]
        for sch, g in checks[checks["flagged"]].groupby("school_id"):
            out.append(mf.non_objective_finding(sch, names.get(sch, sch), g, mid, year))
    return out


def _summary(schools, yearly, year, funnel, va, steady, ctx, checks) -> pd.DataFrame:
    t = schools[["school_id", "name", "social_index"]].copy()
    cur = yearly[yearly["year"] == int(year)].set_index("school_id")
    for c in ("n", "mean", "diff", "ci_low", "ci_high"):
        t[c] = t["school_id"].map(cur[c]) if len(cur) else np.nan
    t["unfavourable"] = t["school_id"].map(ctx.set_index("school_id")["unfavourable"]) if len(ctx) else np.nan
    t["funnel"] = t["school_id"].map(funnel.set_index("school_id")["position"]) if len(funnel) else ""
    if len(va):
        v = va.set_index("school_id")
        for a, b in (("va_estimate", "estimate"), ("va_low", "ci_low"), ("va_high", "ci_high"), ("va_q", "q_value"),
                     ("rank", "rank"), ("rank_low", "rank_low"), ("rank_high", "rank_high")):
            t[a] = t["school_id"].map(v[b])
    t["steady"] = t["school_id"].map(steady.set_index("school_id")["status"]) if len(steady) else ""
    t["context"] = t["school_id"].map(ctx.set_index("school_id")["status"]) if len(ctx) else ""
    flagged = checks[checks["flagged"]] if len(checks) else pd.DataFrame(columns=["school_id", "check"])
    signs = flagged.groupby("school_id")["check"].agg(lambda s: ", ".join(sorted({CHECK_RU[c] for c in s})))
    t["non_objective"] = t["school_id"].isin(set(flagged["school_id"]))
    t["signs"] = [str(signs.get(sch, "")) for sch in t["school_id"]]
    for c in ("steady", "context", "funnel"):
        t[c] = t[c].astype(object).fillna("")
    t = t[t["n"].notna()] if t["n"].notna().any() else t
    return t.reindex(columns=SUMMARY_COLUMNS).reset_index(drop=True)
