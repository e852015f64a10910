"""Meta-subject results and functional literacy: diagnostic works with tasks tagged by literacy domain.

Entry point :func:`literacy_analysis` (con, school, year, options) -> :class:`LiteracyResult`.

Data: works (``assessments`` of any kind, usually ``RDR``/``NIKO``/``SCHOOL``) whose tasks in
``assessment_specs`` carry ``literacy_domain``; per-task scores in ``assessment_items``.

* **Levels** -- ``assessments.level`` where given; else derived from the percent of the work's
  maximum primary score (sum of its tasks' ``max_score``) with the contract's cut points
  ``LITERACY_LEVEL_CUTS`` (< 20 % low, 20-40 reduced, 40-60 basic, 60-80 advanced, >= 80 high).
  Shares per school, grade and class with Wilson 95 % intervals.
* **Domains vs the benchmark** -- per grade x domain: the school's solve rate (points / possible)
  against the region (``region_pct`` of the tasks, weighted by ``max_score``); where a task has no
  ``region_pct``, the other schools of the municipality pooled. The gap's 95 % CI is a t interval
  over students (each student's domain percent minus the benchmark).
* **The deficit test** -- a domain deficit is a domain weaker than the same students' own level:
  per student ``D = (domain % - its benchmark) - (other domains % - their benchmark)``; one-sided
  t-test ``mean D < 0``; every grade x domain unit with >= ``MIN_N`` students is one BH family per
  school and year. A ``literacy_deficit`` finding needs ``q <= alpha`` *and* the domain below its
  benchmark (gap < 0): a school that is weaker (or stronger) overall is not a domain deficit.
* **Classes and teachers** -- classes of a flagged unit are tested the same way (Benjamini-Bogomolov:
  BH within the unit at ``alpha * R / m``). The finding targets the class when the grade has one class
  or exactly one of its classes is flagged, else the grade. The teacher it points to: the class's
  teacher (``assignments``) of the first subject of :data:`DOMAIN_SUBJECTS` the class is taught that
  year; for creative thinking, or without such a subject, the homeroom teacher.
* **Trends** -- per domain and year (all grades): gap to the benchmark with its CI, where >= 2 years
  exist (descriptive; no finding).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from ..contract.spec import LITERACY_LEVEL_CUTS
from ..findings import Finding, Recommendation, Skipped
from ..report import literacy_text as lt
from ..stats.intervals import bh_qvalues, mean_interval, wilson_interval
from ..warehouse.schema import has_column, has_table
from .base import AnalysisResult, empty_plot

ALPHA = 0.05
MIN_N = 10  # students of a unit (grade x domain, class x domain) to be tested
LEVELS = ("low", "reduced", "basic", "advanced", "high")
DOMAINS = ("reading", "math", "science", "financial", "global", "creative")
#: the subjects closest to a domain, in order of preference (the class's teacher of the first one taught)
DOMAIN_SUBJECTS = {
    "reading": ("Русский язык", "Литература"),
    "math": ("Математика", "Алгебра"),
    "science": ("Биология", "Физика", "Химия", "География", "Окружающий мир"),
    "financial": ("Обществознание", "Математика"),
    "global": ("Обществознание", "География", "История"),
    "creative": (),  # homeroom teacher
}


@dataclass(frozen=True)
class LiteracyResult(AnalysisResult):
    """``table``: grade x domain (grade, domain, n, pct, bench, gap, ci_low, ci_high, rest_gap, rel_gap,
    p_value, q_value, flagged, bench_source); ``levels``: scope (school/grade/class), target_id, level,
    k, n, share, ci_low, ci_high, source (given/derived); ``classes``: class x domain tests of flagged
    units; ``trend``: year, domain, n, pct, bench, gap, ci_low, ci_high."""

    levels: pd.DataFrame | None = None
    classes: pd.DataFrame | None = None
    trend: pd.DataFrame | None = None
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        if self.table.empty:
            return empty_plot(ax, self.skipped[0].reason if self.skipped else "Нет данных.")
        t = self.table
        grades = sorted(t["grade"].unique())
        doms = [d for d in DOMAINS if d in set(t["domain"])]
        m = t.pivot_table(index="grade", columns="domain", values="gap").reindex(index=grades, columns=doms)
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 0.5 + 0.5 * len(grades)))
        lim = max(0.1, float(np.nanmax(np.abs(m.to_numpy()))))
        ax.imshow(m.to_numpy(), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        flag = t.set_index(["grade", "domain"])["flagged"]
        for i, g in enumerate(grades):
            for j, d in enumerate(doms):
                v = m.loc[g, d]
                if pd.notna(v):
                    star = "*" if bool(flag.get((g, d), False)) else ""
                    ax.text(j, i, f"{100 * v:+.0f}{star}".replace("-", "−"), ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(doms)), [lt.DOMAIN_RU[d] for d in doms], rotation=20, ha="right", fontsize=8)
        ax.set_yticks(range(len(grades)), [f"{g} кл." for g in grades], fontsize=8)
        ax.set_title("Разница решаемости с регионом, п. п. (* — дефицит направления)", fontsize=9)
        return ax

    def plot_levels(self, ax=None):
        import matplotlib.pyplot as plt

        lv = self.levels
        if lv is None or lv.empty:
            return empty_plot(ax, self.skipped[0].reason if self.skipped else "Нет данных.")
        d = lv[lv["scope"].isin(["school", "grade"])].copy()
        d["row"] = np.where(d["scope"] == "school", "школа", d["target_id"].astype(str) + " кл.")
        p = d.pivot_table(index="row", columns="level", values="share", sort=False).reindex(columns=list(LEVELS))
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 0.6 + 0.35 * len(p)))
        left = np.zeros(len(p))
        colors = ["#c0392b", "#e67e22", "#f1c40f", "#7fb3d5", "#1f618d"]
        for lev, c in zip(LEVELS, colors, strict=True):
            v = p[lev].fillna(0).to_numpy()
            ax.barh(range(len(p)), v, left=left, color=c, label=lt.LEVEL_RU[lev])
            left += v
        ax.set_yticks(range(len(p)), list(p.index), fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("доля учеников", fontsize=8)
        ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)
        return ax

    def plot_trend(self, ax=None):
        import matplotlib.pyplot as plt

        tr = self.trend
        if tr is None or tr.empty or tr["year"].nunique() < 2:
            return empty_plot(ax, "Динамика не строится: данные диагностики есть меньше чем за два года.")
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3))
        for d, g in tr.groupby("domain", sort=False):
            ax.errorbar(g["year"], 100 * g["gap"], yerr=[100 * (g["gap"] - g["ci_low"]), 100 * (g["ci_high"] - g["gap"])],
                        marker="o", capsize=3, label=lt.DOMAIN_RU.get(d, d))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(sorted(tr["year"].unique()))
        ax.set_ylabel("разница с регионом, п. п.", fontsize=8)
        ax.legend(fontsize=7, ncol=3)
        return ax


def _empty(school_id, year, reason) -> LiteracyResult:
    return LiteracyResult(table=pd.DataFrame(), levels=pd.DataFrame(), classes=pd.DataFrame(), trend=pd.DataFrame(),
                          skipped=(Skipped("literacy", reason),), school_id=school_id, year=int(year))


def _load(con, school_id: str, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(items, works) of literacy-tagged works of the school's municipality up to ``year``."""
    muni = ("AND a.school_id IN (SELECT school_id FROM schools WHERE municipality IS NOT DISTINCT FROM "
            "(SELECT any_value(municipality) FROM schools WHERE school_id = $school))"
            if has_column(con, "schools", "municipality") else "")
    level = "CAST(a.level AS VARCHAR)" if has_column(con, "assessments", "level") else "NULL"
    region = "CAST(s.region_pct AS DOUBLE)" if has_column(con, "assessment_specs", "region_pct") else "NULL"
    base = f"""
        WITH s AS (SELECT kind, subject, grade, year, CAST(task AS VARCHAR) AS task, max_score, {region} AS region_pct,
                          CAST(literacy_domain AS VARCHAR) AS domain FROM assessment_specs s),
             w AS (SELECT kind, subject, grade, year, sum(max_score) AS max_total FROM s GROUP BY ALL
                   HAVING count(domain) > 0),
             a AS (SELECT a.student_id, a.class_id, a.school_id, a.grade, a.year, a.kind, a.subject,
                          a.primary_score, {level} AS level, w.max_total
                     FROM assessments a JOIN w ON w.kind = a.kind AND w.subject = a.subject AND w.grade = a.grade
                                              AND w.year = a.year
                    WHERE a.year <= $year {muni}
                  QUALIFY row_number() OVER (PARTITION BY a.student_id, a.kind, a.subject, a.year ORDER BY a.date) = 1)"""
    args = {"school": school_id, "year": int(year)} if muni else {"year": int(year)}
    works = con.execute(base + " SELECT * FROM a", args).df()
    items = con.execute(base + """
        SELECT a.student_id, a.class_id, a.school_id, a.grade, a.year, s.domain, s.task, i.score, s.max_score,
               s.region_pct / 100 AS region_pct
          FROM assessment_items i JOIN a ON a.student_id = i.student_id AND a.kind = i.kind
                                         AND a.subject = i.subject AND a.year = i.year
          JOIN s ON s.kind = i.kind AND s.subject = i.subject AND s.grade = a.grade AND s.year = i.year
                AND s.task = CAST(i.task AS VARCHAR)
         WHERE s.domain IS NOT NULL AND i.score IS NOT NULL AND s.max_score > 0""", args).df()
    return items, works


def _benchmarks(items: pd.DataFrame, school_id: str) -> pd.DataFrame:
    """Add ``bench`` (per task, share of points) and ``bench_source``: region_pct, else the other schools."""
    others = items[items["school_id"] != school_id]
    muni = (others.groupby(["year", "grade", "domain", "task"])[["score", "max_score"]].sum()
            .pipe(lambda g: g["score"] / g["max_score"]).rename("muni"))
    items = items.join(muni, on=["year", "grade", "domain", "task"])
    items["bench"] = items["region_pct"].fillna(items["muni"])
    items["bench_source"] = np.where(items["region_pct"].notna(), "region",
                                     np.where(items["muni"].notna(), "municipality", None))
    return items.dropna(subset=["bench"])


def _per_student(it: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per student x domain: pct, bench (max-score weighted), and the same over the other domains."""
    it = it.assign(exp=it["bench"] * it["max_score"])
    d = it.groupby([*keys, "student_id", "domain"], observed=True)[["score", "max_score", "exp"]].sum().reset_index()
    tot = d.groupby([*keys, "student_id"])[["score", "max_score", "exp"]].transform("sum")
    d["pct"] = d["score"] / d["max_score"]
    d["bench"] = d["exp"] / d["max_score"]
    rest_max = tot["max_score"] - d["max_score"]
    d["rest_gap"] = np.where(rest_max > 0, (tot["score"] - d["score"] - tot["exp"] + d["exp"]) / rest_max.where(rest_max > 0),
                             np.nan)
    d["gap"] = d["pct"] - d["bench"]
    d["D"] = d["gap"] - d["rest_gap"]
    return d


def _unit_tests(ps: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rows = []
    for k, g in ps.groupby(keys, observed=True):
        k = k if isinstance(k, tuple) else (k,)
        n = len(g)
        gap_m, gap_sd = float(g["gap"].mean()), float(g["gap"].std(ddof=1)) if n > 1 else np.nan
        lo, hi = mean_interval(gap_m, gap_sd, n)
        D = g["D"].dropna()
        p = float(stats.ttest_1samp(D, 0.0, alternative="less").pvalue) if len(D) >= MIN_N and D.std() > 0 else np.nan
        rows.append({**dict(zip(keys, k, strict=True)), "n": n, "pct": float(g["pct"].mean()),
                     "bench": float(g["bench"].mean()), "gap": gap_m, "ci_low": lo, "ci_high": hi,
                     "rest_gap": float(g["rest_gap"].mean()), "rel_gap": float(D.mean()) if len(D) else np.nan,
                     "p_value": p})
    return pd.DataFrame(rows)


def _level_table(works: pd.DataFrame) -> pd.DataFrame:
    w = works.copy()
    pct = 100 * w["primary_score"] / w["max_total"]
    derived = pd.Series(np.array(LEVELS, dtype=object)[np.searchsorted(np.array(LITERACY_LEVEL_CUTS), pct.fillna(0),
                                                                           side="right")], index=w.index)
    given = w["level"].where(w["level"].isin(LEVELS))
    w["source"] = np.where(given.notna(), "given", "derived")
    w["lvl"] = given.fillna(derived.where(pct.notna()))
    w = w.dropna(subset=["lvl"])
    out = []
    for scope, key in (("school", None), ("grade", "grade"), ("class", "class_id")):
        groups = [("", w)] if key is None else list(w.groupby(key))
        for tid, g in groups:
            n = len(g)
            cnt = g["lvl"].value_counts()
            for lev in LEVELS:
                k = int(cnt.get(lev, 0))
                lo, hi = wilson_interval(k, n)
                out.append({"scope": scope, "target_id": str(tid) if key else "", "level": lev, "k": k, "n": n,
                            "share": k / n, "ci_low": lo, "ci_high": hi,
                            "source": "given" if (g["source"] == "given").all() else
                            "derived" if (g["source"] == "derived").all() else "mixed"})
    return pd.DataFrame(out)


def _teachers(con, classes: list[str], domain: str) -> dict[str, str | None]:
    """The teacher a class's domain result points to (module docstring rule)."""
    out: dict[str, str | None] = dict.fromkeys(classes)
    if not classes:
        return out
    subj = DOMAIN_SUBJECTS.get(domain, ())
    if subj and has_table(con, "assignments"):
        a = con.execute("SELECT CAST(class_id AS VARCHAR) AS class_id, CAST(subject AS VARCHAR) AS subject, "
                        "min(CAST(teacher_id AS VARCHAR)) AS teacher_id FROM assignments "
                        "WHERE class_id IN (SELECT unnest($c::VARCHAR[])) GROUP BY ALL", {"c": classes}).df()
        for c in classes:
            ac = a[a["class_id"] == c].set_index("subject")["teacher_id"]
            out[c] = next((ac[s] for s in subj if s in ac.index), None)
    if any(v is None for v in out.values()) and has_column(con, "classes", "homeroom_teacher_id"):
        hr = dict(con.execute("SELECT CAST(class_id AS VARCHAR), CAST(homeroom_teacher_id AS VARCHAR) FROM classes "
                              "WHERE class_id IN (SELECT unnest($c::VARCHAR[]))", {"c": classes}).fetchall())
        out = {c: v if v is not None else hr.get(c) for c, v in out.items()}
    return out


def literacy_analysis(con, school_id: str, year: int, options: dict | None = None) -> LiteracyResult:
    """Levels, domain gaps vs the region, domain deficits (BH), classes/teachers and trends (module docstring).

    ``options``: ``alpha`` (0.05)."""
    alpha = float((options or {}).get("alpha", ALPHA))
    need = ("assessments", "assessment_items", "assessment_specs")
    if not all(has_table(con, t) for t in need) or not has_column(con, "assessment_specs", "literacy_domain") \
            or not con.execute("SELECT count(literacy_domain) FROM assessment_specs").fetchone()[0]:
        return _empty(school_id, year, lt.SKIP_NO_COLUMN)
    items_all, works_all = _load(con, school_id, year)
    works = works_all[(works_all["school_id"] == school_id) & (works_all["year"] == int(year))]
    if works.empty:
        return _empty(school_id, year, lt.skip_no_works(year))
    levels = _level_table(works)
    notes = []
    if (levels["source"] != "given").any():
        notes.append("Уровни выведены из процента выполнения работы (assessments.level не заполнен): "
                     + lt.cuts_text(LITERACY_LEVEL_CUTS) + ".")
    items_all = _benchmarks(items_all, school_id)
    mine = items_all[items_all["school_id"] == school_id]
    cur = mine[mine["year"] == int(year)]
    if cur.empty:
        return LiteracyResult(table=pd.DataFrame(), levels=levels, classes=pd.DataFrame(), trend=pd.DataFrame(),
                              skipped=(Skipped("literacy", lt.skip_no_works(year)),), notes=tuple(notes),
                              school_id=school_id, year=int(year))
    ps = _per_student(cur, ["grade", "class_id"])
    table = _unit_tests(ps, ["grade", "domain"])
    src = cur.groupby(["grade", "domain"])["bench_source"].agg(lambda s: s.mode().iat[0] if s.notna().any() else None)
    table = table.join(src, on=["grade", "domain"])
    tested = table["p_value"].notna()
    table["q_value"] = np.nan
    if tested.any():
        table.loc[tested, "q_value"] = bh_qvalues(table.loc[tested, "p_value"].to_numpy())
    table["flagged"] = (table["q_value"] <= alpha) & (table["gap"] < 0)
    m, R = int(tested.sum()), int(table["flagged"].sum())
    cls_rows, findings = [], []
    for r in table[table["flagged"]].itertuples():
        sub = ps[(ps["grade"] == r.grade) & (ps["domain"] == r.domain)]
        ct = _unit_tests(sub, ["class_id", "domain"])
        ct["grade"] = r.grade
        ok = ct["p_value"].notna()
        ct["q_value"] = np.nan
        if ok.any():
            ct.loc[ok, "q_value"] = bh_qvalues(ct.loc[ok, "p_value"].to_numpy())
        ct["flagged"] = (ct["q_value"] <= alpha * R / max(m, 1)) & (ct["gap"] < 0)
        teach = _teachers(con, list(ct["class_id"].astype(str)), r.domain)
        ct["teacher_id"] = ct["class_id"].map(teach)
        cls_rows.append(ct)
        findings.append(_finding(r, ct, school_id, int(year), m))
    classes = pd.concat(cls_rows, ignore_index=True) if cls_rows else pd.DataFrame()
    trend = _trend(mine)
    if trend["year"].nunique() < 2:
        notes.append("Динамика по годам не показывается: результаты диагностики есть только за один год.")
    return LiteracyResult(table=table, findings=tuple(findings), levels=levels, classes=classes, trend=trend,
                          notes=tuple(notes), school_id=school_id, year=int(year))


def _trend(mine: pd.DataFrame) -> pd.DataFrame:
    ps = _per_student(mine, ["year", "grade", "class_id"])
    t = _unit_tests(ps, ["year", "domain"]).drop(columns=["p_value", "rel_gap", "rest_gap"])
    order = {d: i for i, d in enumerate(DOMAINS)}
    return t.sort_values(["domain", "year"], key=lambda s: s.map(order) if s.name == "domain" else s).reset_index(drop=True)


def _finding(r, ct: pd.DataFrame, school_id: str, year: int, m: int) -> Finding:
    flagged = ct[ct["flagged"]]
    base = {k: getattr(r, k) for k in ("grade", "domain", "n", "pct", "bench", "gap", "ci_low", "ci_high", "rest_gap",
                                       "rel_gap", "p_value", "q_value", "bench_source")}
    if len(ct) == 1 or len(flagged) == 1:  # the class is the deficit: its own numbers
        row = ct.iloc[0] if len(ct) == 1 else flagged.iloc[0]
        target_type, target_id = "class", str(row["class_id"])
        who = f"в {lt.ph.class_label(target_id)} классе"
        teachers = [row["teacher_id"]] if row["teacher_id"] else []
        if len(ct) > 1:
            base.update({k: row[k] for k in ("n", "pct", "bench", "gap", "ci_low", "ci_high", "rest_gap", "rel_gap",
                                             "p_value")})
            base["q_value"] = float(r.q_value)  # the family's (grade x domain) q: the class passed alpha * R / m
        pointed = []
    else:
        target_type, target_id = "grade", str(int(r.grade))
        who = f"в {int(r.grade)}-х классах"
        teachers = sorted({t for t in flagged["teacher_id"] if t}) or sorted({t for t in ct["teacher_id"] if t})
        pointed = [{"class_id": str(x.class_id), "pct": float(x.pct), "rel_gap": float(x.rel_gap),
                    "teacher_id": x.teacher_id} for x in flagged.itertuples()]
    s = SimpleNamespace(**base)
    title, evidence, rec = lt.finding_text(s, s.domain, who, m, s.bench_source, pointed, teachers)
    severity = "high" if s.gap <= -0.20 else "medium" if s.gap <= -0.10 else "low"
    addressee = ("teacher", teachers[0]) if len(teachers) == 1 else (target_type, target_id)
    return Finding(
        area="metasubject", kind="literacy_deficit", polarity="problem", severity=severity, school_id=school_id,
        year=year, target_type=target_type, target_id=target_id, subject=None, metric="domain_pct_gap",
        estimate=float(s.gap), ci_low=float(s.ci_low), ci_high=float(s.ci_high), p_value=float(s.p_value),
        q_value=float(s.q_value), n=int(s.n), title=title, evidence=evidence,
        recommendation=Recommendation(text=rec, addressee_type=addressee[0], addressee_id=addressee[1],
                                      responsible="заместитель директора по УВР", deadline=f"{year}-12-25",
                                      control_metric="domain_pct", baseline=round(float(s.pct), 3),
                                      target=round(float(s.bench), 3)),
        extra={"skill": s.domain, "domain": s.domain, "grade": int(s.grade), "relative_gap": round(float(s.rel_gap), 4),
               "benchmark": round(float(s.bench), 4), "benchmark_source": s.bench_source,
               "class_ids": [p["class_id"] for p in pointed] or ([target_id] if target_type == "class" else []),
               "teacher_ids": teachers})
