"""Objectivity of marking: ВПР marks against journal marks, and a marking offset per teacher.

Public entry point: :func:`objectivity`.

1. **Lowered / confirmed / raised.** For every student who wrote a ВПР and has the last
   journal mark in the subject (``assessments.journal_mark`` where given; else the mark of the last
   term that ended before the work, from ``period_marks`` — :mod:`vsoko_toolkit.warehouse.derive`;
   the chapter states which), the ВПР mark is below
   (lowered), equal to (confirmed) or above (raised) the journal mark. Shares with
   Wilson intervals by class, teacher, subject and school, next to the other schools of
   the municipality in the same year (and a region share when
   ``options["region_lowered"]`` = {subject: share} is given); agreement as
   quadratic-weighted Cohen's kappa.
2. **Marking offset.** A journal mark minus what the municipality's students with the
   same ВПР mark (same subject and grade) get in the journal on average: a common scale
   in mark points that removes the floor effect (weak students look "lowered" anyway).
   The offsets of the last ``window`` years of the whole municipality go into a
   multilevel model (teacher × subject random intercepts, classes nested), so small
   groups are shrunk toward zero; each of the school's teachers gets an empirical-Bayes
   estimate with its conditional 95 % interval. ``inflated_marks`` / ``deflated_marks``
   findings only where the z-test of that estimate survives Benjamini–Hochberg across
   the school's teachers (q < 0.05) and the offset is at least ``min_offset`` (0.2) mark
   points: a statistically clear but tiny offset is shown in the table, not reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..findings import Cause, Finding, Recommendation
from ..report import phrases as ph
from ..stats.intervals import bh_qvalues, compare_proportions, wilson_interval
from ..warehouse.derive import last_journal_mark_sql, mark_from_scale_sql
from ..warehouse.schema import has_column, has_table
from .base import AnalysisResult

ALPHA = 0.05
MIN_N = 5
MIN_OFFSET = 0.2  # mark points: a smaller offset is not reported as a finding even when it is "significant"
WINDOW = 3  # years before ``year`` pooled into the offset model (plus ``year`` itself)
CATS = ("lowered", "confirmed", "raised")
CAT_RU = {"lowered": "понизили", "confirmed": "подтвердили", "raised": "повысили"}


@dataclass(frozen=True)
class ObjectivityResult(AnalysisResult):
    """ВПР vs journal and marking offsets.

    ``tidy()`` columns (one row per group of ``year``): level (school / subject / class / teacher),
    target_id, subject, n, n_lowered, n_confirmed, n_raised, lowered, lowered_low, lowered_high,
    confirmed, raised (shares), kappa (quadratic-weighted), muni_lowered (other schools' share),
    diff_muni, diff_low, diff_high, p_muni, region_lowered.
    ``offsets``: teacher × subject marking offsets: teacher_id, subject, n, n_classes, raw_offset,
    estimate, se, ci_low, ci_high, p_value, q_value, flagged, direction.
    ``class_offsets``: class_id, teacher_id, subject, n, raw_offset, raw_se (the class's own mean offset and its
    standard error), estimate, se, ci_low, ci_high (shrunk: teacher + class effect of the model).
    """

    offsets: pd.DataFrame | None = None
    class_offsets: pd.DataFrame | None = None
    #: where the school's journal marks of ``year`` came from: {"given": n, "term": n, "last_year": n}
    journal_sources: dict | None = None
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None, subject: str | None = None):
        """Stacked bars: lowered / confirmed / raised shares per class (the school's ВПР of ``year``)."""
        import matplotlib.pyplot as plt

        d = self.table[self.table["level"] == "class"]
        if subject is not None:
            d = d[d["subject"] == subject]
        d = d.sort_values(["subject", "target_id"])
        if ax is None:
            _, ax = plt.subplots(figsize=(8, max(3, 0.3 * len(d) + 1)))
        labels = [f"{ph.class_label(c)} · {s}" for c, s in zip(d["target_id"], d["subject"], strict=True)]
        y = np.arange(len(d))
        left = np.zeros(len(d))
        for cat, color in zip(CATS, ("#c0392b", "#95a5a6", "#2e86c1"), strict=True):
            v = 100 * d[cat].to_numpy(dtype=float)
            ax.barh(y, v, left=left, color=color, label=CAT_RU[cat])
            left += v
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("доля учеников, %")
        ax.set_title("ВПР и журнальная отметка: понизили / подтвердили / повысили", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        return ax


def weighted_kappa(a, b, categories=(1, 2, 3, 4, 5)) -> float:
    """Cohen's kappa with quadratic weights of two ratings ``a`` and ``b`` (NaN if undefined)."""
    a = np.asarray(a, dtype=int)
    b = np.asarray(b, dtype=int)
    if len(a) == 0:
        return float("nan")
    cats = np.asarray(categories)
    k = len(cats)
    ia = np.searchsorted(cats, a)
    ib = np.searchsorted(cats, b)
    obs = np.zeros((k, k))
    np.add.at(obs, (ia, ib), 1.0)
    obs /= obs.sum()
    exp = np.outer(obs.sum(1), obs.sum(0))
    i, j = np.indices((k, k))
    w = (i - j) ** 2 / (k - 1) ** 2
    den = (w * exp).sum()
    return float("nan") if den == 0 else float(1 - (w * obs).sum() / den)


def _load(con, year: int, window: int, term_ends: dict | None = None) -> pd.DataFrame:
    """The municipality's ВПР works of ``year - window`` .. ``year`` with the journal mark each is compared
    with: ``assessments.journal_mark`` where given, else derived from ``period_marks``
    (:mod:`vsoko_toolkit.warehouse.derive`); ``jm_source`` says which (given / term / last_year)."""
    given = "a.journal_mark" if has_column(con, "assessments", "journal_mark") else "NULL"
    date = "a.date" if has_column(con, "assessments", "date") else "NULL::DATE AS date"
    vpr = "a.mark" if has_column(con, "assessments", "mark") else "NULL"
    if has_table(con, "scales") and has_column(con, "assessments", "primary_score"):
        vpr = f"coalesce({vpr}, {mark_from_scale_sql('a')})"  # the mark is optional: derive it from the scale
    works = (f"(SELECT a.school_id, a.year, a.grade, a.class_id, a.subject, a.student_id, {date}, "
             f"CAST({vpr} AS INTEGER) AS vpr_mark, CAST({given} AS INTEGER) AS given_mark FROM assessments a "
             f"WHERE a.kind = 'VPR' AND {vpr} IS NOT NULL AND a.year BETWEEN {int(year) - window} AND {int(year)})")
    if has_table(con, "period_marks") and has_column(con, "assessments", "date"):
        works = f"({last_journal_mark_sql(works, term_ends)})"
        derived, source = "w.derived_mark", "w.derived_source"
    else:
        derived, source = "NULL", "NULL"
    d = con.execute(
        f"""SELECT w.school_id, w.year, w.grade, w.class_id, w.subject, w.student_id, w.vpr_mark,
                   coalesce(w.given_mark, {derived}) AS journal_mark,
                   CASE WHEN w.given_mark IS NOT NULL THEN 'given' ELSE {source} END AS jm_source,
                   t.teacher_id
              FROM {works} w
              LEFT JOIN (SELECT class_id, subject, min(teacher_id) AS teacher_id FROM assignments GROUP BY ALL) t
                ON t.class_id = w.class_id AND t.subject = w.subject
             WHERE coalesce(w.given_mark, {derived}) IS NOT NULL""").df()
    d["journal_mark"] = d["journal_mark"].clip(lower=2)  # a journal 1 counts as 2, as in shares
    d["teacher_id"] = d["teacher_id"].fillna("—")
    d["cat"] = np.select([d["vpr_mark"] < d["journal_mark"], d["vpr_mark"] > d["journal_mark"]],
                         ["lowered", "raised"], "confirmed")
    # the common scale: journal mark minus the municipality's mean journal mark at the same ВПР mark
    ref = d.groupby(["subject", "grade", "vpr_mark"])["journal_mark"].transform("mean")
    d["offset"] = d["journal_mark"] - ref
    return d


def _source_note(mine: pd.DataFrame) -> str | None:
    """A Russian note when (some of) the school's journal marks were derived from term marks."""
    counts = mine["jm_source"].value_counts()
    derived = int(counts.get("term", 0) + counts.get("last_year", 0))
    if derived == 0:
        return None
    last_year = int(counts.get("last_year", 0))
    tail = (f"; для {last_year} из них четвертей этого года до работы не было, и взята годовая отметка прошлого "
            "года" if last_year else "")
    return (f"Журнальная отметка для сравнения с ВПР взята из отметок за четверть или полугодие для {derived} "
            f"из {len(mine)} работ: это отметка за последний период, закончившийся до даты работы (для ВПР в "
            f"апреле — за 3-ю четверть или 1-е полугодие){tail}. Колонки journal_mark в таблице assessments "
            "для этих работ нет.")


def _shares(g: pd.DataFrame, level: str, key: str | None) -> pd.DataFrame:
    cols = ["subject"] + ([key] if key else [])
    rows = []
    for k, x in g.groupby(cols, sort=True):
        k = k if isinstance(k, tuple) else (k,)
        counts = x["cat"].value_counts()
        rows.append({"level": level, "target_id": str(k[-1]) if key else "", "subject": k[0], "n": len(x),
                     **{f"n_{c}": int(counts.get(c, 0)) for c in CATS},
                     "kappa": weighted_kappa(x["vpr_mark"], x["journal_mark"])})
    return pd.DataFrame(rows)


def objectivity(con, school_id: str, year: int, options: dict | None = None) -> ObjectivityResult:
    """ВПР vs journal and marking offsets for ``school_id`` in ``year`` (see the module docstring).

    ``options``: ``alpha`` (0.05), ``min_offset`` (0.2 mark points: the smallest offset worth a
    finding), ``window`` (3 earlier years pooled into the offset model),
    ``region_lowered`` ({subject: share lowered in the region}), ``term_ends`` ({period: (month, day)}:
    the school calendar used to find the last term before a work when ``journal_mark`` is not given).
    """
    opts = options or {}
    alpha = float(opts.get("alpha", ALPHA))
    window = int(opts.get("window", WINDOW))
    min_offset = float(opts.get("min_offset", MIN_OFFSET))
    d = _load(con, year, window, opts.get("term_ends"))
    cur = d[d["year"] == int(year)]
    mine = cur[cur["school_id"] == school_id]
    skipped: tuple = ()
    if mine.empty:
        from ..findings import Skipped

        skipped = (Skipped("objectivity", f"нет результатов ВПР за {year} год, которые можно сравнить с "
                           "журнальной отметкой (нужны таблица assessments с колонкой mark для ВПР и отметки "
                           "за четверти или полугодия в period_marks)"),)
        return ObjectivityResult(table=pd.DataFrame(columns=_COLUMNS), skipped=skipped,
                                 offsets=pd.DataFrame(), class_offsets=pd.DataFrame(), school_id=school_id,
                                 year=int(year))
    parts = [_school_row(mine), _shares(mine, "subject", None), _shares(mine, "class", "class_id"),
             _shares(mine, "teacher", "teacher_id")]
    table = pd.concat(parts, ignore_index=True)
    table = _with_intervals(table, cur[cur["school_id"] != school_id], opts.get("region_lowered") or {})
    offsets, class_offsets, notes = _offsets(d, school_id, int(year))
    note = _source_note(mine)
    if note:
        notes = [note, *notes]
    findings: list[Finding] = []
    if len(offsets):
        offsets["q_value"] = bh_qvalues(offsets["p_value"].to_numpy(dtype=float))
        offsets["flagged"] = (offsets["q_value"] < alpha) & (offsets["estimate"].abs() >= min_offset)
        offsets["direction"] = np.where(offsets["estimate"] > 0, "inflated", "deflated")
        findings = [_finding(r, school_id, int(year), len(offsets), table)
                    for r in offsets[offsets["flagged"]].itertuples()]
    findings += _class_findings(table, school_id, int(year), alpha)
    sources = {k: int(v) for k, v in mine["jm_source"].value_counts().items()}
    return ObjectivityResult(table=table, findings=tuple(findings), skipped=skipped, notes=tuple(notes),
                             offsets=offsets, class_offsets=class_offsets, journal_sources=sources,
                             school_id=school_id,
                             year=int(year))


_COLUMNS = ["level", "target_id", "subject", "n", "n_lowered", "n_confirmed", "n_raised", "lowered",
            "lowered_low", "lowered_high", "confirmed", "raised", "kappa", "muni_lowered", "diff_muni",
            "diff_low", "diff_high", "p_muni", "region_lowered"]


def _school_row(mine: pd.DataFrame) -> pd.DataFrame:
    counts = mine["cat"].value_counts()
    return pd.DataFrame([{"level": "school", "target_id": "", "subject": "все предметы", "n": len(mine),
                          **{f"n_{c}": int(counts.get(c, 0)) for c in CATS},
                          "kappa": weighted_kappa(mine["vpr_mark"], mine["journal_mark"])}])


def _with_intervals(t: pd.DataFrame, others: pd.DataFrame, region: dict) -> pd.DataFrame:
    t = t.copy()
    for c in CATS:
        t[c] = t[f"n_{c}"] / t["n"]
    t["lowered_low"], t["lowered_high"] = wilson_interval(t["n_lowered"].to_numpy(), t["n"].to_numpy())
    if len(others):
        by_subj = others.groupby("subject")["cat"].agg(k=lambda s: int((s == "lowered").sum()), n="size")
        k2 = t["subject"].map(by_subj["k"]).astype(float)
        n2 = t["subject"].map(by_subj["n"]).astype(float)
        allk, alln = float((others["cat"] == "lowered").sum()), float(len(others))
        k2 = k2.where(t["level"] != "school", allk)
        n2 = n2.where(t["level"] != "school", alln)
        ok = (n2 > 0) & (t["n"] >= MIN_N)
        t["muni_lowered"] = k2 / n2
        for c in ("diff_muni", "diff_low", "diff_high", "p_muni"):
            t[c] = np.nan
        if ok.any():
            cmp = compare_proportions(t.loc[ok, "n_lowered"].to_numpy(), t.loc[ok, "n"].to_numpy(),
                                      k2[ok].to_numpy().astype(int), n2[ok].to_numpy().astype(int))
            t.loc[ok, "diff_muni"] = cmp["diff"].to_numpy()
            t.loc[ok, "diff_low"] = cmp["diff_lower"].to_numpy()
            t.loc[ok, "diff_high"] = cmp["diff_upper"].to_numpy()
            t.loc[ok, "p_muni"] = cmp["p_value"].to_numpy()
    else:
        for c in ("muni_lowered", "diff_muni", "diff_low", "diff_high", "p_muni"):
            t[c] = np.nan
    t["region_lowered"] = t["subject"].map(lambda s: region.get(s, np.nan)).astype(float)
    return t[_COLUMNS]


def _offsets(d: pd.DataFrame, school_id: str, year: int):
    """Teacher × subject and class marking offsets (EB, shrunk) for the school's teachers."""
    from ..stats.mixed import fit_mixed

    notes: list[str] = []
    d = d[d["teacher_id"] != "—"].copy()
    d["tkey"] = d["teacher_id"] + "|" + d["subject"]
    mine_keys = set(d.loc[(d["school_id"] == school_id), "tkey"])
    empty = pd.DataFrame(columns=["teacher_id", "subject", "n", "n_classes", "raw_offset", "estimate", "se",
                                  "ci_low", "ci_high", "p_value"])
    if not mine_keys or d["tkey"].nunique() < 3:
        return empty, pd.DataFrame(), ["Слишком мало учителей для модели смещения отметок."]
    try:
        fit = fit_mixed(d[["offset", "tkey", "class_id"]], "offset ~ 1", groups="tkey",
                        vc_formula={"class": "0 + C(class_id)"}, methods=("lbfgs",), engine="fast")
    except Exception as exc:  # noqa: BLE001 - a failed fit is reported, not raised
        return empty, pd.DataFrame(), [f"Модель смещения отметок не оценена: {exc}"]
    if fit.warnings:
        notes.append("Оценка модели смещения отметок сопровождалась предупреждениями: "
                     + ", ".join(fit.warning_codes))
    re = fit.random_effects
    intercept = float(fit.fixed["estimate"].iloc[0])
    tre = re[re["component"] == re["component"].iloc[0]].set_index("group")
    agg = d[d["tkey"].isin(mine_keys)].groupby("tkey").agg(n=("offset", "size"), n_classes=("class_id", "nunique"),
                                                          raw_offset=("offset", "mean"))
    agg = agg[agg["n"] >= MIN_N]
    est = intercept + tre["estimate"].reindex(agg.index).to_numpy()
    se = tre["se"].reindex(agg.index).to_numpy()
    off = agg.reset_index()
    off[["teacher_id", "subject"]] = off["tkey"].str.split("|", n=1, expand=True)
    off["estimate"] = est
    off["se"] = se
    off["ci_low"] = est - 1.96 * se
    off["ci_high"] = est + 1.96 * se
    with np.errstate(divide="ignore", invalid="ignore"):
        off["p_value"] = np.where(se > 0, 2 * stats.norm.sf(np.abs(est / se)), 1.0)
    off = off.drop(columns="tkey")[["teacher_id", "subject", "n", "n_classes", "raw_offset", "estimate", "se",
                                    "ci_low", "ci_high", "p_value"]]
    cre = re[re["component"] != re["component"].iloc[0]]
    cls = d[(d["school_id"] == school_id) & (d["year"] == year)].groupby(
        ["class_id", "teacher_id", "subject", "tkey"], as_index=False).agg(n=("offset", "size"),
                                                                          raw_offset=("offset", "mean"),
                                                                          raw_sd=("offset", "std"))
    cls["raw_se"] = cls.pop("raw_sd") / np.sqrt(cls["n"])  # the class's own mean offset, no pooling
    ckey = cre.set_index(["group", "unit"])
    pairs = list(zip(cls["tkey"], cls["class_id"], strict=True))
    c_est = ckey["estimate"].reindex(pairs).to_numpy()
    c_se = ckey["se"].reindex(pairs).to_numpy()
    t_est = tre["estimate"].reindex(cls["tkey"]).to_numpy()
    t_se = tre["se"].reindex(cls["tkey"]).to_numpy()
    cls["estimate"] = intercept + t_est + np.nan_to_num(c_est)
    cls["se"] = np.sqrt(t_se ** 2 + np.nan_to_num(c_se) ** 2)
    cls["ci_low"] = cls["estimate"] - 1.96 * cls["se"]
    cls["ci_high"] = cls["estimate"] + 1.96 * cls["se"]
    return off.sort_values("p_value").reset_index(drop=True), cls.drop(columns="tkey"), notes


MIN_CLASS_DIFF = 0.15  # a class's lowered share must exceed the other schools' by 15 points to be reported


def _class_findings(table: pd.DataFrame, school_id: str, year: int, alpha: float) -> list[Finding]:
    """Classes whose ВПР lowered the journal mark more often than in the other schools of the municipality:
    a one-sided reading of the two-sided Newcombe comparison, BH across the school's classes, and at least
    ``MIN_CLASS_DIFF`` above (the federal objectivity screen looks at exactly this share)."""
    c = table[(table["level"] == "class") & table["p_muni"].notna()].copy()
    if c.empty:
        return []
    c["q"] = bh_qvalues(c["p_muni"].to_numpy(dtype=float))
    hit = c[(c["q"] < alpha) & (c["diff_low"] > 0) & (c["diff_muni"] >= MIN_CLASS_DIFF)]
    out = []
    for r in hit.itertuples():
        label = ph.class_label(r.target_id)
        low = ph.share_with_ci(r.lowered, int(r.n_lowered), int(r.n), r.lowered_low, r.lowered_high)
        evidence = (f"В {label} классе ВПР по предмету «{r.subject}» понизили журнальную отметку {low}; в других "
                    f"школах муниципалитета — {ph.pct(r.muni_lowered)}. Разница {ph.pp(r.diff_muni)} (95 % ДИ "
                    f"{ph.pp(r.diff_low)} … {ph.pp(r.diff_high)}), {ph.q_text(r.q, len(c))}. Частое понижение "
                    "отметок на ВПР — признак того, что журнальные отметки выше, чем подтверждает внешняя оценка.")
        rec = Recommendation(
            text=(f"Руководителю ШМО: сверить критерии оценивания по предмету «{r.subject}» в {label} классе с "
                  "критериями ВПР, провести независимую проверку одной контрольной работы."),
            addressee_type="class", addressee_id=r.target_id, responsible="заместитель директора по УВР",
            deadline=f"{year}-12-25", control_metric="vpr_lowered_share", baseline=round(float(r.lowered), 3),
            target=round(float(r.muni_lowered), 3))
        out.append(Finding(
            area="objectivity", kind="inflated_marks", polarity="problem",
            severity="high" if r.diff_muni >= 0.3 else "medium", school_id=school_id, year=year,
            target_type="class", target_id=r.target_id, subject=r.subject, metric="vpr_lowered_share",
            estimate=float(r.diff_muni), ci_low=float(r.diff_low), ci_high=float(r.diff_high),
            p_value=float(r.p_muni), q_value=float(r.q), n=int(r.n),
            title=f"ВПР по предмету «{r.subject}» в {label} классе часто понижает журнальную отметку",
            evidence=evidence, recommendation=rec, extra={"value": float(r.lowered),
                                                          "comparison": "другие школы муниципалитета"}))
    return out


def _finding(r, school_id: str, year: int, m: int, table: pd.DataFrame) -> Finding:
    inflated = r.estimate > 0
    kind = "inflated_marks" if inflated else "deflated_marks"
    t_rows = table[(table["level"] == "teacher") & (table["target_id"] == r.teacher_id)
                   & (table["subject"] == r.subject)]
    share = ""
    if len(t_rows):
        x = t_rows.iloc[0]
        low = ph.share_with_ci(x.lowered, int(x.n_lowered), int(x.n), x.lowered_low, x.lowered_high)
        share = f" В {year} году у этого учителя ВПР понизили {low}, повысили {ph.pct(x.raised)}."
    word = "выше" if inflated else "ниже"
    evidence = (f"Журнальные отметки учителя {r.teacher_id} по предмету «{r.subject}» в среднем на "
                f"{ph.num(abs(r.estimate), 2)} балла {word}, чем у учеников муниципалитета с той же отметкой "
                f"за ВПР (оценка многоуровневой модели со сжатием к среднему, 95\u00a0% ДИ "
                f"{ph.signed(r.ci_low)} … {ph.signed(r.ci_high)}; {r.n} учеников в {r.n_classes} классах "
                f"за {WINDOW + 1} года; {ph.q_text(r.q_value, m)}).{share} Это расхождение журнала с внешней "
                "оценкой, а не доказательство необъективности: оно может отражать и то, что журнал оценивает "
                "другое (работу в течение года), и особенности классов.")
    title = (f"Журнальные отметки по предмету «{r.subject}» у учителя {r.teacher_id} систематически "
             f"{word} результатов ВПР")
    severity = "high" if abs(r.estimate) >= 0.4 else "medium" if abs(r.estimate) >= 0.2 else "low"
    causes = (Cause("Расхождение объясняется уровнем учеников (у слабых журнальная отметка реже ниже «3»)",
                    "not_supported",
                    "Смещение считается относительно учеников муниципалитета с той же отметкой за ВПР "
                    "того же предмета и класса обучения."),)
    rec = Recommendation(
        text=(f"Руководителю ШМО совместно с учителем {r.teacher_id}: сверить критерии оценивания по предмету "
              f"«{r.subject}» с критериями ВПР, провести взаимопроверку двух контрольных работ и обсудить "
              "результаты на заседании ШМО."),
        addressee_type="teacher", addressee_id=r.teacher_id, responsible="заместитель директора по УВР",
        deadline=f"{year}-12-25", control_metric="vpr_lowered_share" if inflated else "vpr_raised_share",
        baseline=round(float(r.estimate), 3), target=0.0)
    return Finding(area="objectivity", kind=kind, polarity="problem", severity=severity, school_id=school_id,
                   year=year, target_type="teacher", target_id=r.teacher_id, subject=r.subject,
                   metric="marking_offset", estimate=float(r.estimate), ci_low=float(r.ci_low),
                   ci_high=float(r.ci_high), p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n),
                   title=title, evidence=evidence, causes=causes, recommendation=rec,
                   extra={"teacher_ids": [r.teacher_id]})
