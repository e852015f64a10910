"""Climate and satisfaction: survey scales, their reliability, comparisons with intervals, the link to results.

Public entry point: :func:`climate`.

Scale scores
    A respondent's score on a scale is the mean of their answers to the scale's
    items (Likert 1..5), with reverse-worded items recoded ``6 − x``. The items
    of a scale are those that respondents of that type answered in that year
    anywhere in the municipality; a score is computed only when the respondent
    answered at least ``min_answered`` (default one half) of them — otherwise
    the respondent is left out of that scale.

Reliability
    Cronbach's α per scale × respondent type on the school's respondents of the
    year who answered every item (listwise), with Feldt's 95 % interval
    (Feldt, Woodruff & Salih 1987). A scale with α < ``min_alpha`` (0.7) is
    reported but not interpreted: no finding is drawn from it.

Comparisons
    Welch's t interval and test on respondents' scale scores (respondents are
    anonymous, so years and groups are independent samples): the school against
    the other schools of the municipality per scale × respondent type; the
    school this year against the school last year; each class against the other
    student respondents of the school (student surveys with ``class_id``; without it the class
    comparisons and the class link to results are not made and a note says so; answers without
    ``survey_items`` are skipped with that reason).
    Groups under ``min_n`` (5) respondents are neither shown nor tested. All
    comparisons of a run form one Benjamini–Hochberg family; a
    ``climate_problem`` finding (``climate_strength`` for the other sign) is
    emitted for q < 0.05 on a reliable scale, one per group and scale (the
    comparisons that cleared the rule are listed together in its evidence).

Link to results
    Across classes with at least ``min_n`` student respondents: Pearson's
    correlation between the class mean scale score and the class mean year mark
    (all subjects), with Fisher's z interval — for the school's classes and for
    all classes of the municipality. An association, not an effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..findings import Finding, Recommendation, Skipped
from ..report import glue_context as wording
from ..stats.intervals import bh_qvalues, compare_means, mean_interval
from ..warehouse.schema import has_column as _has_column
from ..warehouse.schema import has_table as _has_table
from .base import AnalysisResult

SCALE_RU = {"climate": "психологический климат", "satisfaction": "удовлетворённость", "motivation": "мотивация",
            "safety": "безопасность"}
RESPONDENT_RU = {"student": "ученики", "parent": "родители", "teacher": "учителя"}
MIN_ANSWERED = 0.5
MIN_N = 5
MIN_ALPHA = 0.7
ALPHA = 0.05

COMPARISON_COLUMNS = ["comparison", "respondent_type", "scale", "target_type", "target_id", "n", "mean", "sd",
                      "mean_lower", "mean_upper", "n_cmp", "mean_cmp", "sd_cmp", "diff", "diff_lower", "diff_upper",
                      "p_value", "q_value", "reliable", "flagged"]
MEAN_COLUMNS = ["group", "respondent_type", "scale", "n", "mean", "sd", "mean_lower", "mean_upper"]
ALPHA_COLUMNS = ["respondent_type", "scale", "k_items", "n", "alpha", "alpha_lower", "alpha_upper", "alpha_mun",
                 "reliable"]
LINK_COLUMNS = ["level", "scale", "n_classes", "r", "r_lower", "r_upper", "p_value"]


# --------------------------------------------------------------------------- numerics


def cronbach_alpha(items) -> float:
    """Cronbach's α of an ``n × k`` matrix (rows = respondents, columns = items; complete rows only).

    ``α = k / (k − 1) · (1 − Σ var(item) / var(total))`` with sample variances (ddof = 1).
    ``NaN`` when ``k < 2``, ``n < 2`` or the total has no variance.

    Notes
    -----
    Cronbach (1951). Validated in ``tests/test_climate.py`` against a hand computation and the α
    published for the ``psych::bfi`` scales (Revelle, psych package).

    Examples
    --------
    >>> round(cronbach_alpha([[1, 2, 2], [2, 3, 3], [4, 4, 5], [3, 5, 4]]), 4)
    0.9512
    """
    x = np.asarray(items, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2 or x.shape[0] < 2:
        return float("nan")
    k = x.shape[1]
    total_var = x.sum(axis=1).var(ddof=1)
    if not total_var > 0:
        return float("nan")
    return float(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / total_var))


def alpha_interval(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt's interval for Cronbach's α from ``n`` respondents and ``k`` items.

    ``1 − (1 − α) · F(1 − γ/2; n − 1, (n − 1)(k − 1))`` … ``1 − (1 − α) · F(γ/2; …)``
    (Feldt, Woodruff & Salih 1987, *Appl Psych Meas* 11:93; the interval of R's ``psych::alpha.ci``).
    """
    if not (np.isfinite(alpha) and n >= 2 and k >= 2):
        return float("nan"), float("nan")
    df1, df2 = n - 1, (n - 1) * (k - 1)
    g = 1 - level
    return (float(1 - (1 - alpha) * stats.f.ppf(1 - g / 2, df1, df2)),
            float(1 - (1 - alpha) * stats.f.ppf(g / 2, df1, df2)))


def correlation_interval(r: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Fisher's z interval for a Pearson correlation (``NaN`` for ``n < 4``)."""
    if not (np.isfinite(r) and n >= 4):
        return float("nan"), float("nan")
    z = np.arctanh(np.clip(r, -0.999999, 0.999999))
    h = stats.norm.ppf(0.5 + level / 2) / math.sqrt(n - 3)
    return float(np.tanh(z - h)), float(np.tanh(z + h))


def scale_scores(answers: pd.DataFrame, min_answered: float = MIN_ANSWERED) -> pd.DataFrame:
    """Respondents' scale scores from survey answers joined with their items (see the module docstring).

    ``answers`` columns: school_id, year, respondent_type, respondent_id, class_id, item_id, response, scale,
    reverse. Returns school_id, year, respondent_type, respondent_id, class_id, scale, k_items, answered, score.
    """
    a = answers.dropna(subset=["response"]).copy()
    rev = a["reverse"].astype("boolean").fillna(False).astype(bool)
    a["value"] = np.where(rev, 6 - a["response"].astype(float), a["response"].astype(float))
    k = a.groupby(["year", "respondent_type", "scale"])["item_id"].nunique().rename("k_items")
    keys = ["school_id", "year", "respondent_type", "respondent_id", "scale"]
    s = a.groupby(keys, as_index=False).agg(answered=("item_id", "nunique"), score=("value", "mean"))
    cls = a.dropna(subset=["class_id"]).groupby(["school_id", "year", "respondent_type", "respondent_id"])[
        "class_id"].first()
    s = s.join(k, on=["year", "respondent_type", "scale"]).join(
        cls, on=["school_id", "year", "respondent_type", "respondent_id"])
    need = np.maximum(1, np.ceil(min_answered * s["k_items"] - 1e-9))
    s = s[s["answered"] >= need]
    return s[["school_id", "year", "respondent_type", "respondent_id", "class_id", "scale", "k_items", "answered",
              "score"]].reset_index(drop=True)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class ClimateResult(AnalysisResult):
    """Survey scales of a school: reliability, comparisons, class link to results.

    ``tidy()`` columns (:data:`COMPARISON_COLUMNS`): comparison (``municipality`` / ``last_year`` / ``class``),
    respondent_type, scale, target_type (``school`` / ``class``), target_id, n, mean, sd, mean_lower, mean_upper
    (the group's mean score, t 95 % interval), n_cmp, mean_cmp, sd_cmp (the comparison group), diff (group
    minus comparison, points of the 1..5 scale), diff_lower, diff_upper (Welch 95 %), p_value, q_value (BH over
    the run's family), reliable (α ≥ ``min_alpha``), flagged (q < 0.05 on a reliable scale).
    ``means`` (:data:`MEAN_COLUMNS`): group (``school`` / ``municipality`` = the other schools /
    ``last_year``) × respondent_type × scale. ``reliability`` (:data:`ALPHA_COLUMNS`). ``links``
    (:data:`LINK_COLUMNS`): level (``school`` / ``municipality``) × scale. ``scores``: the respondent-level
    scores of ``year`` (school and other schools) behind ``plot``.
    """

    means: pd.DataFrame | None = None
    reliability: pd.DataFrame | None = None
    links: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None
    options: dict | None = None
    school_id: str = ""
    year: int = 0

    @property
    def has_data(self) -> bool:
        return self.means is not None and bool((self.means["group"] == "school").any())

    def plot(self, ax=None):
        """Mean scale scores of the school and of the other schools, with t 95 % intervals (seaborn)."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        shown = self.means[self.means["group"].isin(["school", "municipality"])] if self.means is not None else None
        if ax is None:
            n_rows = 0 if shown is None else shown[["respondent_type", "scale"]].drop_duplicates().shape[0]
            _, ax = plt.subplots(figsize=(7, 0.45 * max(n_rows, 2) + 1.4))
        if shown is None or shown.empty:
            ax.text(0.5, 0.5, "нет данных анкетирования", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return ax
        keep = shown[["group", "respondent_type", "scale"]]
        d = self.scores[self.scores["year"] == self.year].assign(
            group=lambda x: np.where(x["school_id"] == self.school_id, "school", "municipality"))
        d = d.merge(keep, on=["group", "respondent_type", "scale"])
        d["шкала"] = d["respondent_type"].map(lambda r: RESPONDENT_RU.get(r, r)) + ": " + \
            d["scale"].map(lambda s: SCALE_RU.get(s, s))
        d["группа"] = d["group"].map({"school": "школа", "municipality": "другие школы муниципалитета"})
        order = sorted(d["шкала"].unique())

        def t_interval(x):
            return mean_interval(np.mean(x), np.std(x, ddof=1), len(x))

        sns.pointplot(d, x="score", y="шкала", hue="группа", order=order,
                      hue_order=["школа", "другие школы муниципалитета"], errorbar=t_interval, dodge=0.4,
                      linestyle="none", capsize=0.15, palette=["#1f5f99", "#9a9a9a"], ax=ax)
        ax.set_xlim(1, 5)
        ax.set_xlabel("средний балл шкалы (1 — плохо, 5 — хорошо), 95 % ДИ")
        ax.set_ylabel("")
        ax.set_title("Климат и удовлетворённость: школа и муниципалитет", fontsize=10)
        ax.legend(title=None, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
        return ax


# --------------------------------------------------------------------------- analysis



def _answers(con, year: int) -> pd.DataFrame:
    cols = ["school_id", "year", "respondent_type", "respondent_id", "class_id", "item_id", "response", "scale",
            "reverse"]
    if not (_has_table(con, "surveys") and _has_table(con, "survey_items")):
        return pd.DataFrame(columns=cols)
    cls = "s.class_id" if _has_column(con, "surveys", "class_id") else "NULL::VARCHAR AS class_id"
    return con.execute(
        f"""SELECT s.school_id, s.year, s.respondent_type, s.respondent_id, {cls}, s.item_id, s.response,
                   i.scale, i.reverse
              FROM surveys s JOIN survey_items i USING (item_id)
             WHERE s.year IN (?, ?) AND NOT starts_with(i.scale, 'personal')""",  # personal results: upbringing
        [int(year), int(year) - 1]).df()[cols]


def _skip_reason(con, school_id: str, year: int) -> str | None:
    """Why the school's surveys of ``year`` cannot be scored, when the answers are there but the items are
    not (``None`` otherwise: the chapter's usual wording, no survey data, applies)."""
    if not _has_table(con, "surveys"):
        return None
    n = con.execute("SELECT count(*) FROM surveys WHERE school_id = ? AND year = ?", [school_id, int(year)]) \
        .fetchone()[0]
    if n and not (_has_table(con, "survey_items") and con.execute("SELECT count(*) FROM survey_items").fetchone()[0]):
        return ("Ответы анкет (таблица surveys) есть, но нет описания вопросов (таблица survey_items: шкала и "
                "обратные пункты) — без него ответы нельзя сложить в шкалы, анализ климата не выполнен.")
    return None


def _summary(g: pd.DataFrame) -> dict:
    x = g["score"].to_numpy(dtype=float)
    n = len(x)
    sd = float(np.std(x, ddof=1)) if n >= 2 else float("nan")
    lo, hi = mean_interval(float(np.mean(x)), sd, n) if n else (float("nan"), float("nan"))
    return {"n": n, "mean": float(np.mean(x)) if n else float("nan"), "sd": sd, "mean_lower": lo, "mean_upper": hi}


def _reliability(answers: pd.DataFrame, school_id: str, year: int, min_n: int, min_alpha: float) -> pd.DataFrame:
    a = answers[answers["year"] == year].dropna(subset=["response"]).copy()
    rev = a["reverse"].astype("boolean").fillna(False).astype(bool)
    a["value"] = np.where(rev, 6 - a["response"].astype(float), a["response"].astype(float))
    rows = []
    for (rt, scale), g in a.groupby(["respondent_type", "scale"]):
        wide_all = g.set_index(["school_id", "respondent_id", "item_id"])["value"].unstack().dropna()
        k = wide_all.shape[1]
        mine = wide_all.xs(school_id, level="school_id") if school_id in wide_all.index.get_level_values(0) \
            else wide_all.iloc[:0]
        n = len(mine)
        if n == 0 and not (g["school_id"] == school_id).any():
            continue
        a_s = cronbach_alpha(mine.to_numpy()) if n >= min_n else float("nan")
        lo, hi = alpha_interval(a_s, n, k)
        rows.append({"respondent_type": rt, "scale": scale, "k_items": k, "n": n, "alpha": a_s, "alpha_lower": lo,
                     "alpha_upper": hi, "alpha_mun": cronbach_alpha(wide_all.to_numpy()),
                     "reliable": bool(np.isfinite(a_s) and a_s >= min_alpha)})
    return pd.DataFrame(rows, columns=ALPHA_COLUMNS)


def _compare(kind: str, rt: str, scale: str, target_type: str, target_id: str, a: pd.DataFrame,
             b: pd.DataFrame) -> dict:
    sa, sb = _summary(a), _summary(b)
    c = compare_means(sa["mean"], sa["sd"], sa["n"], sb["mean"], sb["sd"], sb["n"]).iloc[0]
    return {"comparison": kind, "respondent_type": rt, "scale": scale, "target_type": target_type,
            "target_id": target_id, **sa, "n_cmp": sb["n"], "mean_cmp": sb["mean"], "sd_cmp": sb["sd"],
            "diff": c["diff"], "diff_lower": c["diff_lower"], "diff_upper": c["diff_upper"], "p_value": c["p_value"]}


def _links(con, scores: pd.DataFrame, school_id: str, year: int, min_n: int) -> pd.DataFrame:
    st = scores[(scores["year"] == year) & (scores["respondent_type"] == "student") & scores["class_id"].notna()]
    if st.empty or not _has_table(con, "period_marks"):
        return pd.DataFrame(columns=LINK_COLUMNS)
    marks = con.execute("""SELECT class_id, avg(mark_value) AS mean_mark FROM period_marks
                            WHERE period = 'year' AND year = ? AND mark_value IS NOT NULL GROUP BY ALL""",
                        [int(year)]).df()
    cm = st.groupby(["school_id", "class_id", "scale"]).agg(n=("score", "size"), score=("score", "mean")).reset_index()
    cm = cm[cm["n"] >= min_n].merge(marks, on="class_id")
    rows = []
    for level, d in (("school", cm[cm["school_id"] == school_id]), ("municipality", cm)):
        for scale, g in d.groupby("scale"):
            n = len(g)
            if n < MIN_N or g["score"].nunique() < 2 or g["mean_mark"].nunique() < 2:
                continue
            r, p = stats.pearsonr(g["score"], g["mean_mark"])
            lo, hi = correlation_interval(float(r), n)
            rows.append({"level": level, "scale": scale, "n_classes": n, "r": float(r), "r_lower": lo, "r_upper": hi,
                         "p_value": float(p)})
    return pd.DataFrame(rows, columns=LINK_COLUMNS)


def _empty(school_id: str, year: int, reason: str, opts: dict) -> ClimateResult:
    return ClimateResult(table=pd.DataFrame(columns=COMPARISON_COLUMNS), skipped=(Skipped("climate", reason),),
                         means=pd.DataFrame(columns=MEAN_COLUMNS), reliability=pd.DataFrame(columns=ALPHA_COLUMNS),
                         links=pd.DataFrame(columns=LINK_COLUMNS), scores=pd.DataFrame(), options=opts,
                         school_id=school_id, year=int(year))


def climate(con, school_id: str, year: int, *, min_answered: float = MIN_ANSWERED, min_n: int = MIN_N,
            min_alpha: float = MIN_ALPHA, alpha: float = ALPHA) -> ClimateResult:
    """Survey scales of ``school_id`` in ``year`` (see the module docstring).

    Parameters
    ----------
    min_answered : float, default 0.5
        Share of a scale's items a respondent must answer to get a score on it.
    min_n : int, default 5
        Smallest group (respondents) shown and tested.
    min_alpha : float, default 0.7
        Cronbach's α from which a scale is reliable enough to draw a finding from.
    alpha : float, default 0.05
        FDR level of the findings.

    Examples
    --------
    >>> res = climate(con, "S01", 2025)  # doctest: +SKIP
    >>> res.reliability  # doctest: +SKIP
    >>> res.tidy().query("flagged")  # doctest: +SKIP
    """
    opts = {"min_answered": min_answered, "min_n": min_n, "min_alpha": min_alpha, "alpha": alpha}
    year = int(year)
    answers = _answers(con, year)
    if not ((answers["school_id"] == school_id) & (answers["year"] == year)).any():
        return _empty(school_id, year, _skip_reason(con, school_id, year) or wording.climate_skip_reason(year), opts)
    scores = scale_scores(answers, min_answered)
    rel = _reliability(answers, school_id, year, min_n, min_alpha)
    cur = scores[scores["year"] == year]
    mine = cur[cur["school_id"] == school_id]
    others = cur[cur["school_id"] != school_id]
    last = scores[(scores["year"] == year - 1) & (scores["school_id"] == school_id)]
    rows, means, notes = [], [], []
    small_classes = set()
    for (rt, scale), g in mine.groupby(["respondent_type", "scale"]):
        groups = {"school": g, "municipality": others[(others["respondent_type"] == rt) & (others["scale"] == scale)],
                  "last_year": last[(last["respondent_type"] == rt) & (last["scale"] == scale)]}
        for name, d in groups.items():
            if len(d) >= min_n:
                means.append({"group": name, "respondent_type": rt, "scale": scale, **_summary(d)})
        if len(g) < min_n:
            notes.append(wording.climate_small_group_note(rt, scale, min_n))
            continue
        for kind in ("municipality", "last_year"):
            if len(groups[kind]) >= min_n:
                rows.append(_compare(kind, rt, scale, "school", "", g, groups[kind]))
        if rt == "student":
            for cls, c in g.dropna(subset=["class_id"]).groupby("class_id"):
                rest = g[g["class_id"] != cls]
                if len(c) < min_n:
                    small_classes.add(cls)
                    continue
                if len(rest) >= min_n:
                    rows.append(_compare("class", rt, scale, "class", str(cls), c, rest))
    if small_classes:
        notes.append(wording.climate_small_classes_note(len(small_classes), min_n))
    table = pd.DataFrame(rows, columns=[c for c in COMPARISON_COLUMNS if c not in ("q_value", "reliable", "flagged")])
    table["q_value"] = bh_qvalues(table["p_value"].to_numpy(dtype=float)) if len(table) else []
    reliable = {(r.respondent_type, r.scale): r.reliable for r in rel.itertuples()}
    table["reliable"] = [bool(reliable.get((r, s), False)) for r, s in
                         zip(table["respondent_type"], table["scale"], strict=True)]
    table["flagged"] = (table["q_value"] < alpha) & table["reliable"]
    table = table[COMPARISON_COLUMNS]
    unreliable = rel[~rel["reliable"]]
    if len(unreliable):
        notes.append(wording.climate_unreliable_note(unreliable, min_alpha))
    links = _links(con, scores, school_id, year, min_n)
    st = mine[mine["respondent_type"] == "student"]
    if len(st) and st["class_id"].isna().all():
        notes.append("В анкетах учеников не указан класс (колонка class_id в таблице surveys): сравнение классов "
                     "между собой и связь климата класса с его отметками не проводятся; школа сравнивается "
                     "с другими школами муниципалитета и со своим прошлым годом.")
        skipped = (Skipped("climate_classes", notes[-1]),)
    else:
        skipped = ()
    findings = _findings(table, rel, school_id, year)
    return ClimateResult(table=table.reset_index(drop=True), findings=findings, notes=tuple(notes), skipped=skipped,
                         means=pd.DataFrame(means, columns=MEAN_COLUMNS), reliability=rel, links=links,
                         scores=cur.reset_index(drop=True), options=opts, school_id=school_id, year=year)


def _findings(table: pd.DataFrame, rel: pd.DataFrame, school_id: str, year: int) -> tuple[Finding, ...]:
    flagged = table[table["flagged"]].copy()
    if flagged.empty:
        return ()
    m = int(table["p_value"].notna().sum())
    flagged["positive"] = flagged["diff"] > 0
    alphas = rel.set_index(["respondent_type", "scale"])
    out = []
    for (tt, tid, rt, scale, positive), g in flagged.groupby(
            ["target_type", "target_id", "respondent_type", "scale", "positive"], sort=True):
        best = g.sort_values("q_value").iloc[0]
        a = alphas.loc[(rt, scale)]
        big = abs(best["diff"])
        severity = "high" if big >= 0.5 and best["q_value"] < 0.01 else "medium" if big >= 0.25 else "low"
        evidence = " ".join(wording.climate_comparison_sentence(r, m) for r in g.itertuples()) + " " + \
            wording.alpha_sentence(a["alpha"], a["alpha_lower"], a["alpha_upper"], int(a["n"]))
        rec = None
        if not positive:
            rec = Recommendation(
                text=wording.climate_recommendation(tt, tid, rt, scale, year),
                addressee_type="class" if tt == "class" else "school", addressee_id=tid or school_id,
                responsible="заместитель директора по воспитательной работе", deadline=f"{year}-12-25",
                control_metric=f"survey_{scale}_{rt}", baseline=round(float(best["mean"]), 2),
                target=round(float(best["mean_cmp"]), 2))
        out.append(Finding(
            area="climate", kind="climate_strength" if positive else "climate_problem",
            polarity="strength" if positive else "problem", severity=severity, school_id=school_id, year=int(year),
            target_type=tt, target_id=tid, subject=None, metric=f"survey_{scale}_{rt}",
            estimate=float(best["diff"]), ci_low=float(best["diff_lower"]), ci_high=float(best["diff_upper"]),
            p_value=float(best["p_value"]), q_value=float(best["q_value"]), n=int(best["n"]),
            title=wording.climate_title(tt, tid, rt, scale, positive, list(g["comparison"])), evidence=evidence,
            recommendation=rec,
            extra={"comparisons": list(g["comparison"]), "respondent_type": rt, "scale": scale,
                   "value": float(best["mean"]), "comparison_value": float(best["mean_cmp"]),
                   "alpha": float(a["alpha"])}))
    return tuple(out)
