"""Root-cause checks: which of the standard causes the data supports for each problem.

Public entry point: :func:`check_causes`.

For every problem finding of the results, trends, assessments and objectivity
analyses, the standard candidate causes a deputy director would name are tested
with the school's data, each against a stated comparison:

``intake``      the students were already behind a year earlier: their previous-year
                mark in the subject, as a deviation from other schools' students of
                the same grade, and how much that gap widened this year (paired, the same
                students). Supported when the earlier gap is below zero beyond noise.
``general``     the same students are behind in their other subjects too (this year, deviation from other
                schools' students of the same grade): the problem is the school's general level and
                context rather than this subject's teaching.
``value_added`` the teachers who teach the target in the subject have low value added
                (:mod:`.value_added`, its p-value): measured on ВПР where the teacher has enough
                ВПР results (a low result caused by weak teaching shows in ВПР progress, which the
                teacher's own marking does not move), on year marks otherwise. For a low value
                added finding itself the check asks the ВПР only: is the low progress there too
                (teaching), or only in the journal (marking)?
``staffing``    the target's teachers changed (new to the subject in this school since the
                comparison year) and the new teachers' value added is below the continuing
                teachers' beyond noise (both on ВПР when both groups have it, else on year marks).
``attendance``  the target students missed more lessons than other schools' students of
                the same grades, by at least 1 percentage point beyond noise.
``marking``     a marking offset (:mod:`.objectivity`) of the target's teachers: deflated
                journal marks explain a low journal result (and a low value added, which is
                measured on journal marks); inflated journal marks hide a problem that
                external results show.
``tasks``       task/skill deficits (:mod:`.tasks`) found in the target classes.
``moved``       (threshold peaks) works were moved up to the threshold: fewer scores in the three
                points just below it than the school's own smooth score distribution predicts
                (Poisson fit outside the window, as in :mod:`.anomalies`; one-sided Poisson test).
``climate``     the target classes' students rate the class climate lower than the rest of
                the school's students (surveys, scale ``climate``, reverse items recoded).
``climate_widespread`` (school-wide survey problems) the low rating is shared by most classes:
                class means of the same respondents and scale below the other schools' mean
                in more classes than chance allows (one-sided sign test over classes with
                three or more respondents). Not supported means the problem may sit in a few
                classes — the class comparisons of the climate chapter show which.

Means are taken over students with standard errors clustered by class (five or more
classes; otherwise ordinary), because students of one class are not independent.
All p-values of one run form one family under Benjamini–Hochberg: a cause is
``supported`` only when its test clears q < 0.05 (and, where stated, a materiality
threshold); ``not_supported`` when the test ran and does not clear it; ``inconclusive``
when the data is too thin or missing. A cause's ``supported`` verdict says the data
is consistent with it beyond noise, not that it is proven: the evidence names the
comparison, so the reader can judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..report import phrases as ph
from ..report import text as t
from ..stats.intervals import bh_qvalues
from ..warehouse.schema import has_column, has_table
from .base import AnalysisResult

ALPHA = 0.05
MIN_STUDENTS = 10
MIN_RESPONDENTS = 5
MIN_ABSENCE_PP = 1.0  # percentage points of lessons: a smaller excess is not a cause worth naming
CLUSTER_MIN = 5

HYPOTHESES = {
    "intake": "Отставание сложилось раньше: эти ученики отставали и год назад",
    "general": "Общее отставание учеников, не только по этому предмету (контекст школы)",
    "value_added": "Низкий вклад учителей, которые ведут предмет в этих классах",
    "staffing": "Смена учителей: новые учителя дают меньший прирост, чем работавшие раньше",
    "attendance": "Пропуски уроков",
    "marking_deflated": "Журнальные отметки занижены относительно внешних результатов",
    "marking_inflated": "Завышенные журнальные отметки скрывают проблему",
    "tasks": "Дефициты отдельных умений (по заданиям ВПР)",
    "climate": "Неблагоприятный климат в классе (по анкетам учеников)",
    "climate_widespread": "Причина общая для школы: низкие оценки в большинстве классов, а не в отдельных",
    "marking_standard": "Смещение — особенность оценивания учителя, а не одного класса: оно сохраняется в его "
                        "классах без любого одного из них",
    "moved": "Работы с баллами чуть ниже порога «дотянуты» до отметки «3» (сразу под порогом работ недостаёт)",
}
CHECKS = {
    "low_result": ("intake", "general", "value_added", "staffing", "attendance", "marking_deflated", "tasks", "climate"),
    "declining_trend": ("intake", "value_added", "staffing", "attendance", "marking_deflated", "tasks", "climate"),
    "task_deficit": ("intake", "value_added", "staffing", "attendance", "marking_inflated", "climate"),
    "threshold_peak": ("moved", "marking_inflated"),
    "result_anomaly": ("marking_inflated",),
    "inflated_marks": ("marking_inflated",),
    # a teacher's marking offset: is it the teacher's standard, shared by the classes, or one class's story?
    "deflated_marks": ("marking_standard",),
    "climate_problem": ("climate_widespread",),
    # a low value added on journal marks may be the teacher's strict marking: does ВПР progress show it too
    # (teaching), and are the teacher's journal marks below what ВПР confirms (marking)?
    "low_value_added": ("value_added", "marking_deflated"),
}
AREAS = ("results", "trends", "assessments", "objectivity", "factors")


@dataclass(frozen=True)
class RootCauseResult(AnalysisResult):
    """Cause checks of a run's problem findings.

    ``tidy()`` columns: finding_id, finding_title, check, hypothesis, verdict, estimate, ci_low, ci_high,
    p_value, q_value, evidence. ``updated``: the checked findings as dicts, their ``causes``
    extended with the checks (existing causes kept) and, where a cause is supported, the
    recommendation addressed to it.
    """

    updated: tuple = field(default=(), repr=False)

    def summary(self) -> pd.DataFrame:
        """Verdict counts per check (rows) — how often each cause was supported."""
        d = self.table
        if d.empty:
            return pd.DataFrame({"итог": ["Проблем, для которых проверяются причины, нет."]})
        out = pd.crosstab(d["hypothesis"], d["verdict"]).reindex(
            columns=["supported", "not_supported", "inconclusive"], fill_value=0)
        return out.rename(columns={"supported": "подтверждается", "not_supported": "не подтверждается",
                                   "inconclusive": "данных недостаточно"}).reset_index().rename(
            columns={"hypothesis": "возможная причина"})


@dataclass
class _Check:
    key: str
    verdict: str
    evidence: str
    p: float | None = None
    estimate: float | None = None
    lo: float | None = None
    hi: float | None = None
    teachers: tuple = ()
    q: float | None = None


@dataclass
class _Data:
    """Lazily computed inputs shared by all checks of one run."""

    con: object
    school_id: str
    year: int
    findings: list
    _cache: dict = field(default_factory=dict)

    def get(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def has(self, table: str) -> bool:
        return self.get(("has", table), lambda: has_table(self.con, table))

    def va(self) -> pd.DataFrame:
        def run():  # imported only when chapter 05 did not share its result (the model code is heavy to import)
            from .value_added import value_added

            return value_added(self.con, self.school_id, self.year, outcome="auto").tidy()
        return self.get("va", run)

    def offsets(self) -> pd.DataFrame:
        def run():
            if not self.has("assessments"):
                return pd.DataFrame()
            from .objectivity import objectivity

            off = objectivity(self.con, self.school_id, self.year).offsets
            return off if off is not None else pd.DataFrame()
        return self.get("offsets", run)

    def class_offsets(self) -> pd.DataFrame:
        def run():
            if not self.has("assessments"):
                return pd.DataFrame()
            from .objectivity import objectivity

            off = objectivity(self.con, self.school_id, self.year).class_offsets
            return off if off is not None else pd.DataFrame()
        return self.get("class_offsets", run)

    def marks(self, subject: str) -> pd.DataFrame:
        """Year marks in ``subject`` of this and the previous year, all schools, with the deviation from the
        other schools' mean of the same year and grade."""
        return self.get(("marks", subject), lambda: self.con.execute("""
            WITH m AS (SELECT student_id, class_id, school_id, year, grade, mark_value::DOUBLE AS y
                       FROM period_marks WHERE period = 'year' AND subject = ? AND year IN (?, ?)
                         AND mark_value IS NOT NULL),
                 ref AS (SELECT year, grade, avg(y) AS ref, coalesce(var_samp(y) / count(*), 0) AS ref_var
                         FROM m WHERE school_id <> ? GROUP BY year, grade)
            SELECT m.*, m.y - ref.ref AS dev, ref.ref_var FROM m JOIN ref USING (year, grade)""",
            [subject, self.year, self.year - 1, self.school_id]).df())

    def classes(self, f: dict) -> list[str]:
        """The school's classes of ``year`` the finding is about (all classes for a school/subject target)."""
        tt, tid, subj = f["target_type"], f.get("target_id") or "", f.get("subject")
        if tt == "class":
            return [tid]
        if tt == "grade" and not tid.isdigit():
            return []
        if tt == "teacher" and tid and self.has("assignments"):
            return [r[0] for r in self.con.execute(
                "SELECT DISTINCT class_id FROM assignments WHERE teacher_id = ? AND year = ? AND subject = ?",
                [tid, self.year, subj]).fetchall()]
        # classes with year marks: what the results analyses compare (one query for all findings)
        rows = self.get(("classes", self.year), lambda: self.con.execute(
            "SELECT DISTINCT class_id, grade FROM period_marks WHERE school_id = ? AND year = ? ORDER BY 1",
            [self.school_id, self.year]).fetchall())
        return list(dict.fromkeys(c for c, g in rows if tt != "grade" or g == int(tid)))

    def _assignments(self, year: int) -> tuple[dict, dict]:
        """The teachers of ``year`` by (subject, class) and by (school, subject): one query per year, not one per
        check."""
        def run():
            by_class, by_school = {}, {}
            for subject, class_id, school_id, teacher_id in self.con.execute(
                    "SELECT DISTINCT subject, class_id, school_id, teacher_id FROM assignments WHERE year = ?",
                    [int(year)]).fetchall():
                by_class.setdefault((subject, class_id), set()).add(teacher_id)
                by_school.setdefault((school_id, subject), set()).add(teacher_id)
            return by_class, by_school
        return self.get(("assignments", int(year)), run)

    def teachers(self, classes: list[str], subject: str, year: int) -> set[str]:
        if not self.has("assignments") or not subject:
            return set()
        by_class = self._assignments(year)[0]
        return set().union(*(by_class.get((subject, c), ()) for c in classes))

    def subject_teachers(self, subject: str, year: int) -> set[str]:
        if not self.has("assignments"):
            return set()
        return set(self._assignments(year)[1].get((self.school_id, subject), ()))


def _ref_var(rows: pd.DataFrame, cells: list[str], col: str = "ref_var") -> float:
    """Variance that the other schools' cell means add to a mean of deviations from them: the mean of
    ``rows`` weights each cell's reference mean by its share of the rows."""
    if not len(rows):
        return 0.0
    g = rows.groupby(cells)[col].agg(["size", "first"])
    return float(((g["size"] / len(rows)) ** 2 * g["first"]).sum())


def _mean_ci(values: np.ndarray, groups: np.ndarray, extra_var: float = 0.0) -> tuple[float, float, float, float]:
    """Mean, 95 % CI and two-sided p of H0: mean = 0; SE clustered by ``groups`` when there are enough, plus
    ``extra_var`` (the sampling variance of the reference the values are deviations from).

    The clustered SE is statsmodels' ``OLS(...).fit(cov_type="cluster")`` of an intercept-only model in
    closed form — G/(G−1) · Σ_g (Σ_{i∈g} (x_i − x̄))² / n², t with G − 1 df — (a test checks the two agree);
    otherwise s/√n with n − 1 df."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    m = float(x.mean()) if n else float("nan")
    g = pd.factorize(np.asarray(groups))[0]
    n_g = int(g.max()) + 1 if n else 0
    if n_g >= CLUSTER_MIN:
        u = np.bincount(g, weights=x - m, minlength=n_g)
        var, df = n_g / (n_g - 1) * float(u @ u) / n ** 2, n_g - 1
    else:
        var, df = (float(x.var(ddof=1)) / n if n > 1 else float("nan")), n - 1
    se = float(np.sqrt(var + extra_var))
    q = stats.t.ppf(0.975, max(df, 1))
    p = float(2 * stats.t.sf(abs(m) / se, max(df, 1))) if se > 0 else 1.0
    return m, m - q * se, m + q * se, p


def _ci(lo: float, hi: float) -> str:
    return f"95\u00a0% ДИ {ph.signed(lo)} … {ph.signed(hi)}"


def _listed(rows: pd.DataFrame, id_col: str, name: bool, k: int = 4) -> str:
    """The first ``k`` rows (sorted by estimate) as "T01: −0,25 балла (95 % ДИ …)"; "и ещё N" for the rest."""
    rows = rows.sort_values("estimate")
    unit = {"external": "ст. откл. по ВПР", "journal": "балла по годовым отметкам"}
    out = "; ".join(f"{(getattr(r, id_col) + ': ') if name else ''}{ph.signed(r.estimate)} "
                    f"{unit.get(getattr(r, 'outcome', ''), 'балла')} "
                    f"({_ci(r.ci_low, r.ci_high)})" for r in rows.head(k).itertuples())
    return out + (f"; и ещё {len(rows) - k}" if len(rows) > k else "")


def _who(teachers, name: bool) -> str:
    teachers = sorted(teachers)
    if not name:
        return t.count(len(teachers), "учитель", "учителя", "учителей")
    return ", ".join(teachers)


# --- the checks ------------------------------------------------------------------------------------------

def _intake(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    m = d.marks(subject)
    now = m[(m["year"] == d.year) & m["class_id"].isin(classes)]
    prev = m[m["year"] == d.year - 1][["student_id", "dev", "ref_var"]].rename(
        columns={"dev": "dev_prev", "ref_var": "ref_var_prev"})
    both = now.merge(prev, on="student_id")
    if len(both) < MIN_STUDENTS:
        have = f"есть только у {t.count(len(both), 'ученика', 'учеников', 'учеников')}" if len(both) else "нет"
        return _Check("intake", "inconclusive", f"Годовых отметок прошлого года по предмету у этих учеников {have} — "
                      f"сравнить подготовку нельзя." if not len(both) else
                      f"Годовые отметки прошлого года по предмету {have} — сравнить подготовку нельзя.")
    prev_var = _ref_var(both.assign(g_prev=both["grade"] - 1), ["g_prev"], "ref_var_prev")
    gap, lo, hi, p = _mean_ci(both["dev_prev"].to_numpy(), both["class_id"].to_numpy(), prev_var)
    wid, wlo, whi, _ = _mean_ci((both["dev"] - both["dev_prev"]).to_numpy(), both["class_id"].to_numpy(),
                                prev_var + _ref_var(both, ["grade"]))
    ev = (f"Те же {t.count(len(both), 'ученик', 'ученика', 'учеников')} год назад имели годовую отметку на "
          f"{ph.signed(gap)} балла от средней по другим школам для своей параллели ({_ci(lo, hi)}); за год "
          f"разрыв изменился на {ph.signed(wid)} балла ({_ci(wlo, whi)}).")
    if hi < 0:
        more = " Отставание было и раньше; за год оно ещё выросло." if whi < 0 else " Отставание было и раньше."
        return _Check("intake", "supported", ev + more, p, gap, lo, hi)
    return _Check("intake", "not_supported", ev + " Год назад эти ученики не отставали за пределами случайного "
                  "разброса.", p, gap, lo, hi)


def _general(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    g = d.get("general", lambda: d.con.execute("""
        WITH m AS (SELECT student_id, class_id, school_id, grade, subject, mark_value::DOUBLE AS y FROM period_marks
                   WHERE period = 'year' AND year = ? AND mark_value IS NOT NULL),
             ref AS (SELECT grade, subject, avg(y) AS ref, coalesce(var_samp(y) / count(*), 0) AS ref_var
                     FROM m WHERE school_id <> ? GROUP BY grade, subject)
        SELECT m.student_id, m.class_id, m.subject, m.grade, m.y - ref.ref AS dev, ref.ref_var
        FROM m JOIN ref USING (grade, subject)
        WHERE m.school_id = ?""", [d.year, d.school_id, d.school_id]).df())
    rows = g[g["class_id"].isin(classes) & (g["subject"] != subject)]
    x = rows.groupby(["student_id", "class_id"])["dev"].mean()
    if len(x) < MIN_STUDENTS:
        return _Check("general", "inconclusive", "Отметок этих учеников по другим предметам слишком мало.")
    gap, lo, hi, p = _mean_ci(x.to_numpy(), x.index.get_level_values("class_id").to_numpy(),
                              _ref_var(rows, ["grade", "subject"]))
    ev = (f"По остальным предметам годовые отметки тех же учеников в среднем на {ph.signed(gap)} балла отличаются "
          f"от отметок учеников тех же параллелей других школ ({_ci(lo, hi)}).")
    if hi < 0:
        return _Check("general", "supported", ev + " Отставание общее: дело не только в преподавании предмета.",
                      p, gap, lo, hi)
    return _Check("general", "not_supported", ev + " По другим предметам эти ученики не отстают за пределами случайного разброса: проблема "
                  "скорее относится к самому предмету.", p, gap, lo, hi)


def _mean_of(rows: pd.DataFrame) -> tuple[float, float]:
    """Mean of value-added estimates and its SE (estimation errors assumed independent)."""
    return float(rows["estimate"].mean()), float(np.sqrt((rows["se"] ** 2).sum()) / len(rows))


def _z_test(est: float, se: float) -> tuple[float, float, float]:
    """Two-sided normal p-value and 95 % interval of ``est`` with standard error ``se``."""
    from scipy import stats

    p = float(2 * stats.norm.sf(abs(est) / se)) if se > 0 else 1.0
    return p, est - 1.959964 * se, est + 1.959964 * se


def _va_rows(d: _Data, teachers, subject: str) -> pd.DataFrame:
    """The decisive value-added rows (ВПР where the teacher has enough of it) of ``teachers`` in ``subject``."""
    va = d.va()
    if not len(va):
        return va
    rows = va[(va["unit_type"] == "teacher") & va["unit_id"].isin(teachers) & (va["subject"] == subject)]
    return rows[rows["decisive"].astype(bool)] if "decisive" in rows else rows


def _unit(rows: pd.DataFrame) -> str:
    return "ст. откл." if (rows.get("outcome", pd.Series(dtype=str)) == "external").all() and len(rows) else "балла"


def _va_of_low_va(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    """A low value added finding: is the low progress in ВПР too (teaching), not only in the journal (marking)?"""
    tch = {f["target_id"]} if f["target_type"] == "teacher" else d.teachers(classes, subject, d.year)
    va = d.va()
    rows = va[(va["unit_type"] == "teacher") & va["unit_id"].isin(tch) & (va["subject"] == subject)
              & (va["outcome"] == "external")] if len(va) else va
    if not len(rows):
        return _Check("value_added", "inconclusive", "Результатов ВПР у учеников этого учителя по предмету нет "
                      "(или их слишком мало): по одним журнальным отметкам нельзя отличить слабое преподавание от "
                      "строгого оценивания.")
    lst = _listed(rows, "unit_id", name)
    low = rows[rows["flagged"].astype(bool) & (rows["estimate"] < 0)]
    if len(low):
        r = low.sort_values("p_value").iloc[0]
        return _Check("value_added", "supported", f"Прирост учеников ниже среднего и по результатам ВПР, которые "
                      f"не зависят от отметок учителя: {lst}. Дело в преподавании, а не только в оценивании.",
                      float(r["p_value"]), float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]),
                      tuple(low["unit_id"]))
    r = rows.sort_values("p_value").iloc[0]
    return _Check("value_added", "not_supported", f"По результатам ВПР, которые не зависят от отметок учителя, "
                  f"прирост учеников не ниже среднего за пределами случайного разброса: {lst}. Низкий прирост "
                  f"виден только по журнальным отметкам.", float(r["p_value"]), float(r["estimate"]),
                  float(r["ci_low"]), float(r["ci_high"]))


def _value_added(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    if f["kind"] == "low_value_added":
        return _va_of_low_va(d, f, classes, subject, name)
    tch = d.teachers(classes, subject, d.year)
    rows = _va_rows(d, tch, subject)
    if not len(rows):
        return _Check("value_added", "inconclusive", "Вклад учителей этих классов в предмет оценить не удалось "
                      "(нужны годовые отметки или результаты ВПР двух лет подряд и не меньше 5 учеников у учителя).")
    low = rows[rows["flagged"].astype(bool) & (rows["estimate"] < 0)]
    lst = _listed(rows, "unit_id", name)
    # the target's teachers together: the mean of their estimates on one scale (independent errors assumed)
    same = rows
    if "outcome" in rows and rows["outcome"].nunique() > 1:
        same = rows[rows["outcome"] == rows["outcome"].value_counts().sort_index().idxmax()]
    pooled, pse = _mean_of(same)
    pp, plo, phi = _z_test(pooled, pse)
    together = (f" Вместе (среднее по {t.count(len(same), 'учителю', 'учителям', 'учителям')}): "
                f"{ph.signed(pooled)} {_unit(same)} ({_ci(plo, phi)}).") if len(same) > 1 else ""
    if len(low):
        r = low.sort_values("p_value").iloc[0]
        return _Check("value_added", "supported", f"Прирост учеников ниже, чем у сравнимых учеников "
                      f"муниципалитета: {lst}.{together}", float(r["p_value"]), float(r["estimate"]),
                      float(r["ci_low"]), float(r["ci_high"]), tuple(low["unit_id"]))
    if len(same) > 1 and phi < 0:
        neg = tuple(same.loc[same["estimate"] < 0, "unit_id"])
        return _Check("value_added", "supported", f"Прирост учеников ниже, чем у сравнимых учеников муниципалитета, "
                      f"у учителей этих классов в целом, хотя по отдельности оценки в пределах разброса: {lst}."
                      f"{together}", pp, pooled, plo, phi, neg)
    p_use = pp if len(same) > 1 else float(same["p_value"].iloc[0])
    return _Check("value_added", "not_supported", f"Вклад учителей ({lst}) не отличается от среднего по "
                  f"муниципалитету за пределами случайного разброса.{together}", p_use, pooled, plo, phi)


def _staffing(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    back = 3 if f["kind"] == "declining_trend" else 1
    then_year = d.year - back
    before = d.subject_teachers(subject, then_year)
    if not before:
        return _Check("staffing", "inconclusive", f"Нет данных о том, кто вёл предмет в {then_year} году.")
    target = d.teachers(classes, subject, d.year)
    new = target - before
    if not new:
        return _Check("staffing", "not_supported", f"Предмет в этих классах ведут учителя, которые вели его в школе "
                      f"и в {then_year} году: смены учителей не было.")
    cont = d.subject_teachers(subject, d.year) & before
    va = d.va()
    v = va[(va["unit_type"] == "teacher") & (va["subject"] == subject)] if len(va) else va
    from .value_added import MIN_EXTERNAL_N

    vn = vc = v.iloc[0:0]
    for outcome in ("external", "journal"):  # both groups on one scale: ВПР when both have it
        o = v[v["outcome"] == outcome] if "outcome" in v else v
        if outcome == "external" and "n" in o:
            o = o[o["n"] >= MIN_EXTERNAL_N]
        if "unit_id" not in o:  # no value added at all (an empty table without columns)
            break
        vn, vc = o[o["unit_id"].isin(new)], o[o["unit_id"].isin(cont)]
        if len(vn) and len(vc):
            break
    if not len(vn) or not len(vc):
        return _Check("staffing", "inconclusive", f"С {then_year} года пришли новые учителя ({_who(new, name)}), "
                      f"но сравнить их вклад с вкладом прежних учителей по этим данным нельзя.", teachers=tuple(new))
    (mn, sn), (mc, sc) = _mean_of(vn), _mean_of(vc)
    diff, se = mn - mc, float(np.hypot(sn, sc))
    p, lo, hi = _z_test(diff, se)
    ev = (f"После {then_year} года предмет в этих классах стали вести новые учителя ({_who(new, name)}); их вклад в среднем "
          f"на {ph.signed(diff)} {_unit(vn)}{' по ВПР' if _unit(vn) != 'балла' else ''} отличается от вклада учителей, работавших и раньше ({_ci(lo, hi)}).")
    verdict = "supported" if hi < 0 else "not_supported"
    return _Check("staffing", verdict, ev, p, float(diff), float(lo), float(hi), tuple(new))


def _attendance(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    if not d.has("attendance"):
        return _Check("attendance", "inconclusive", "Данных о посещаемости нет.")
    a = d.get("attendance", lambda: d.con.execute("""
        WITH s AS (SELECT student_id, class_id, school_id, grade, 100.0 * sum(lessons_missed) / sum(lessons_total) AS ab
                   FROM attendance WHERE year = ? AND lessons_total > 0 GROUP BY ALL),
             ref AS (SELECT grade, avg(ab) AS ref, coalesce(var_samp(ab) / count(*), 0) AS ref_var FROM s
                     WHERE school_id <> ? GROUP BY grade)
        SELECT s.*, s.ab - ref.ref AS dev, ref.ref, ref.ref_var FROM s JOIN ref USING (grade)""",
        [d.year, d.school_id]).df())
    x = a[a["class_id"].isin(classes)]
    if len(x) < MIN_STUDENTS:
        return _Check("attendance", "inconclusive", "Данных о посещаемости этих классов слишком мало.")
    gap, lo, hi, p = _mean_ci(x["dev"].to_numpy(), x["class_id"].to_numpy(), _ref_var(x, ["grade"]))
    ev = (f"Ученики пропустили {t.num(x['ab'].mean(), 1)} % уроков, ученики тех же параллелей других школ — "
          f"{t.num(x['ref'].mean(), 1)} %; разница {ph.signed(gap, 1)} п.\u00a0п. ({_ci(lo, hi)}).")
    verdict = "supported" if lo > 0 and gap >= MIN_ABSENCE_PP else "not_supported"
    return _Check("attendance", verdict, ev, p, gap, lo, hi)


def _marking(direction: str):
    def check(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
        key = f"marking_{direction}"
        off = d.offsets()
        tch = ({f["target_id"]} if f["target_type"] == "teacher" and f.get("target_id")
               else d.teachers(classes, subject, d.year))
        rows = off[off["teacher_id"].isin(tch) & (off["subject"] == subject)] if len(off) else off
        if not len(rows):
            return _Check(key, "inconclusive", "Смещение журнальных отметок для этих классов оценить нельзя "
                          "(нет учеников, у которых есть и отметка ВПР, и журнальная отметка).")
        sign = 1 if direction == "inflated" else -1
        hit = rows[rows["flagged"].astype(bool) & (np.sign(rows["estimate"]) == sign)]
        lst = _listed(rows, "teacher_id", name)
        what = "выше" if direction == "inflated" else "ниже"
        if len(hit):
            r = hit.sort_values("p_value").iloc[0]
            return _Check(key, "supported", f"Журнальные отметки учителей систематически {what} того, что "
                          f"подтверждает ВПР: {lst}.", float(r["p_value"]), float(r["estimate"]),
                          float(r["ci_low"]), float(r["ci_high"]), tuple(hit["teacher_id"]))
        r = rows.sort_values("p_value").iloc[0]
        return _Check(key, "not_supported", f"Смещение журнальных отметок относительно ВПР ({lst}) не выходит за "
                      f"пределы случайного разброса или меньше 0,2 балла.", float(r["p_value"]), float(r["estimate"]),
                      float(r["ci_low"]), float(r["ci_high"]))
    return check


def _marking_standard(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    """Leave-one-class-out on the classes' own mean offsets (not the model's shrunk ones, which all carry the
    teacher effect fitted on every class): without each class in turn, the others, pooled by a random-effects
    meta-analysis (DerSimonian–Laird, statsmodels), keep an offset of the finding's sign. The check's p is
    the largest of these one-sided pooled tests."""
    from scipy import stats
    from statsmodels.stats.meta_analysis import combine_effects

    tid = f.get("target_id") or f.get("teacher_id")
    if not tid:
        return _Check("marking_standard", "inconclusive", "В публичной версии учитель не называется, и проверка "
                      "по его классам не проводится; она есть в версии для администрации.")
    off = d.class_offsets()
    rows = (off[(off["teacher_id"] == tid) & (off["subject"] == subject) & (off["raw_se"] > 0)]
            if len(off) and "raw_se" in off else pd.DataFrame())
    if len(rows) < 2:
        return _Check("marking_standard", "inconclusive", "У учителя по этому предмету меньше двух классов с "
                      "результатами ВПР: отличить особенность оценивания учителя от особенности класса нельзя.")
    sign = 1.0 if f["kind"] == "inflated_marks" else -1.0
    est, var = rows["raw_offset"].to_numpy(float), rows["raw_se"].to_numpy(float) ** 2
    worst_p, worst = -1.0, (0.0, 0.0, 0.0)
    for i in range(len(rows)):
        keep = np.arange(len(rows)) != i
        if keep.sum() == 1:
            e, s_ = float(est[keep][0]), float(np.sqrt(var[keep][0]))
        else:
            r = combine_effects(est[keep], var[keep], method_re="dl")
            e, s_ = float(r.mean_effect_re), float(r.sd_eff_w_re)
        p = float(stats.norm.sf(sign * e / s_))  # one-sided, in the finding's direction
        if p > worst_p:
            worst_p, worst = p, (e, e - 1.96 * s_, e + 1.96 * s_)
    what = "выше" if sign > 0 else "ниже"
    who = f"{tid}: " if name else ""
    if worst_p < ALPHA:
        return _Check("marking_standard", "supported", f"{who}журнальные отметки {what} подтверждённых ВПР не в одном "
                      f"классе: без любого одного из {len(rows)} классов учителя смещение остаётся не меньше "
                      f"{ph.signed(worst[0])} балла ({_ci(worst[1], worst[2])}).", worst_p, *worst, teachers=(tid,))
    return _Check("marking_standard", "not_supported", f"{who}без одного из {len(rows)} классов учителя смещение "
                  f"отметок ({ph.signed(worst[0])} балла, {_ci(worst[1], worst[2])}) не выходит за пределы "
                  "случайного разброса: возможно, дело в особенностях одного класса.", worst_p, *worst)


def _tasks(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    deficits = [g for g in d.findings if g["kind"] == "task_deficit" and g.get("subject") == subject
                and g["polarity"] == "problem" and (g["target_type"] != "class" or g["target_id"] in classes)]
    if deficits:
        skills = sorted({g.get("extra", {}).get("skill") or g["title"] for g in deficits})
        p = min((g["p_value"] for g in deficits if g.get("p_value") is not None), default=None)
        return _Check("tasks", "supported", "По заданиям ВПР найдены дефициты: " + "; ".join(skills[:4]) +
                      ("" if len(skills) <= 4 else f" и ещё {len(skills) - 4}") + ".", p)
    tested = d.has("assessment_items") and d.con.execute("""
        SELECT count(*) FROM assessment_items i JOIN assessments a
          ON a.student_id = i.student_id AND a.kind = i.kind AND a.subject = i.subject AND a.year = i.year
        WHERE i.year = ? AND i.subject = ? AND a.class_id IN (SELECT unnest(?::VARCHAR[]))""",
        [d.year, subject, classes]).fetchone()[0] > 0
    if tested:
        return _Check("tasks", "not_supported", "Выполнение заданий ВПР этими классами проверено: дефицитов "
                      "отдельных умений за пределами случайного разброса нет.")
    return _Check("tasks", "inconclusive", "Поэлементных результатов ВПР по этому предмету в этих классах нет.")


def _climate(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    if not (d.has("surveys") and d.has("survey_items")):
        return _Check("climate", "inconclusive", "Анкетирования учеников нет.")
    s = d.get("climate", lambda: d.con.execute("""
        SELECT s.respondent_id, s.class_id,
               avg(CASE WHEN coalesce(i.reverse, false) THEN 6 - s.response ELSE s.response END) AS score
        FROM surveys s JOIN survey_items i USING (item_id)
        WHERE s.school_id = ? AND s.year = ? AND s.respondent_type = 'student' AND i.scale = 'climate'
          AND s.class_id IS NOT NULL
        GROUP BY ALL""", [d.school_id, d.year]).df())
    tgt, rest = s[s["class_id"].isin(classes)], s[~s["class_id"].isin(classes)]
    if len(tgt) < MIN_RESPONDENTS or len(rest) < MIN_RESPONDENTS:
        return _Check("climate", "inconclusive", "Анкет учеников этих классов (или остальных классов школы) "
                      "слишком мало для сравнения.")
    from ..stats.intervals import compare_means

    a, b = tgt["score"], rest["score"]
    r = compare_means(a.mean(), a.std(), len(a), b.mean(), b.std(), len(b)).iloc[0]
    diff, lo, hi, p = (float(r[k]) for k in ("diff", "diff_lower", "diff_upper", "p_value"))
    if np.isnan(p):
        return _Check("climate", "inconclusive", "Ответы учеников не различаются — сравнивать нечего.")
    ev = (f"Оценка климата учениками этих классов {t.num(tgt['score'].mean())} из 5, остальными учениками школы — "
          f"{t.num(rest['score'].mean())}; разница {ph.signed(diff)} ({_ci(lo, hi)}).")
    return _Check("climate", "supported" if hi < 0 else "not_supported", ev, p, diff, lo, hi)


def _climate_widespread(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    from scipy import stats

    rt, scale = f.get("respondent_type"), f.get("scale")  # the finding's extra fields, flattened
    if not (d.has("surveys") and d.has("survey_items")) or not rt or not scale:
        return _Check("climate_widespread", "inconclusive", "Данных анкетирования для проверки нет.")
    if not has_column(d.con, "surveys", "class_id"):  # optional in the contract
        return _Check("climate_widespread", "inconclusive", "В анкетах не указан класс: нельзя понять, общая это "
                      "проблема школы или отдельных классов.")
    s = d.con.execute("""
        SELECT s.school_id, s.class_id, s.respondent_id,
               avg(CASE WHEN coalesce(i.reverse, false) THEN 6 - s.response ELSE s.response END) AS score
        FROM surveys s JOIN survey_items i USING (item_id)
        WHERE s.year = ? AND s.respondent_type = ? AND i.scale = ? AND s.response IS NOT NULL
        GROUP BY ALL""", [d.year, rt, scale]).df()
    ref = s.loc[s["school_id"] != d.school_id, "score"]
    own = s[(s["school_id"] == d.school_id) & s["class_id"].notna()]
    size = own.groupby("class_id")["score"].agg(["mean", "size"])
    size = size[size["size"] >= 3]
    if len(ref) < MIN_RESPONDENTS or len(size) < 5:
        return _Check("climate_widespread", "inconclusive", "Анкет с указанием класса слишком мало (нужно не меньше "
                      "5 классов по 3 и более ответа), чтобы понять, общая это проблема школы или отдельных классов.")
    below, n = int((size["mean"] < ref.mean()).sum()), len(size)
    p = float(stats.binomtest(below, n, 0.5, alternative="greater").pvalue)
    ev = (f"Средняя оценка ниже, чем в других школах муниципалитета ({t.num(ref.mean())} из 5), в {below} из {n} "
          f"классов (классы с тремя и более ответами).")
    if p < ALPHA:
        return _Check("climate_widespread", "supported", ev + " Так много классов ниже среднего не бывает случайно: "
                      "причину стоит искать в общешкольных условиях, а не в отдельных классах.", p, below / n)
    return _Check("climate_widespread", "not_supported", ev + " Это не выходит за пределы случайного: проблема "
                  "может быть сосредоточена в отдельных классах.", p, below / n)


def _moved(d: _Data, f: dict, classes: list[str], subject: str, name: bool) -> _Check:
    from scipy import stats
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    from .anomalies import SPAN

    thr, kind, grade = f.get("threshold_score"), f.get("work_kind"), f.get("grade")
    if thr is None or kind is None:
        return _Check("moved", "inconclusive", "Порог отметки для этой работы неизвестен.")
    s = np.round(d.con.execute(
        "SELECT primary_score FROM assessments WHERE school_id = ? AND year = ? AND kind = ? AND subject = ? "
        "AND grade = ? AND primary_score IS NOT NULL", [d.school_id, d.year, kind, subject, grade]).df()
        ["primary_score"].to_numpy(dtype=float)).astype(int)
    t0 = int(round(thr))
    x = np.arange(max(0, t0 - SPAN), t0 + SPAN + 1)
    y = np.array([(s == v).sum() for v in x], dtype=float)
    below, window = (x >= t0 - 3) & (x < t0), (x >= t0 - 3) & (x <= t0)
    if y[~window].sum() < 5 or (~window).sum() < 4 or not below.any():
        return _Check("moved", "inconclusive", "Баллов вне окна у порога слишком мало, чтобы оценить ожидаемое "
                      "число работ сразу под порогом.")
    xc = (x - t0) / SPAN
    X = np.column_stack([np.ones_like(xc), xc, xc ** 2])
    mu = GLM(y[~window], X[~window], family=families.Poisson()).fit().predict(X)
    obs, exp = int(y[below].sum()), float(mu[below].sum())
    at, exp_at = int(y[x == t0].sum()), float(mu[x == t0].sum())
    ev = (f"С баллами {t0 - 3}–{t0 - 1} (сразу под порогом «3») работ {obs}, а по гладкому распределению баллов "
          f"этой же школы ожидалось {t.num(exp, 1)}; ровно на пороге — {at} при ожидаемых {t.num(exp_at, 1)}.")
    if obs >= exp:
        return _Check("moved", "not_supported", ev + " Недостачи работ под порогом нет: пик не похож на "
                      "перенос работ через порог.", float(stats.poisson.cdf(obs, exp)), obs - exp)
    # missing mass below + excess at: the within-window split (the bunching test of the finding) is the test
    p = f.get("p_value")
    return _Check("moved", "supported" if p is not None and p < ALPHA else "inconclusive",
                  ev + " Работ под порогом меньше, а на пороге больше ожидаемого: баллы не добавились, а сместились "
                  "к порогу.", p, obs - exp)


FUNCS = {"moved": _moved, "general": _general, "intake": _intake, "value_added": _value_added, "staffing": _staffing, "attendance": _attendance,
         "marking_deflated": _marking("deflated"), "marking_inflated": _marking("inflated"), "tasks": _tasks,
         "marking_standard": _marking_standard,
         "climate": _climate, "climate_widespread": _climate_widespread}


def _applicable(f: dict) -> tuple[str, ...]:
    if f["kind"] == "climate_problem" and f["target_type"] == "school":
        return CHECKS["climate_problem"]
    if f["polarity"] != "problem" or f["area"] not in AREAS or not f.get("subject"):
        return ()
    checks = CHECKS.get(f["kind"], ())
    have = " ".join(c["hypothesis"] for c in f.get("causes", ()))
    if f["kind"] == "declining_trend" and "состав" in have:  # the cohort decomposition already tests the intake
        checks = tuple(c for c in checks if c != "intake")
    if f["kind"] == "inflated_marks" and f["target_type"] == "teacher":
        checks = ("marking_standard",)  # the finding is the offset itself: is it the teacher's or one class's?
    return checks


def check_causes(con, school_id: str, year: int, findings: list[dict], alpha: float = ALPHA,
                 name_teachers: bool = True, precomputed: dict | None = None) -> RootCauseResult:
    """Test the standard candidate causes of every problem finding in ``findings`` (dicts, as in findings.json).

    ``name_teachers=False`` (public builds) keeps teacher ids out of the evidence. ``precomputed`` holds inputs
    another chapter already computed, by their key in :class:`_Data` (``"va"``: ``value_added(con, school_id,
    year, outcome="auto").tidy()``), so that no model is fitted twice in a run.

    Examples
    --------
    >>> rc = check_causes(con, "S01", 2025, doc["findings"])  # doctest: +SKIP
    >>> rc.tidy().query("verdict == 'supported'")  # doctest: +SKIP
    """
    d = _Data(con, str(school_id), int(year), list(findings), dict(precomputed or {}))
    per: list[tuple[dict, list[_Check]]] = []
    for f in findings:
        keys = _applicable(f)
        if not keys:
            continue
        classes = d.classes(f)
        per.append((f, [FUNCS[k](d, f, classes, f["subject"], name_teachers) for k in keys]))
    tested = [c for _, cs in per for c in cs if c.p is not None]
    if tested:
        qs = bh_qvalues(np.array([c.p for c in tested], dtype=float))
        for c, q in zip(tested, qs, strict=True):
            c.q = float(q)
            if c.verdict == "supported" and q >= alpha:
                c.verdict = "inconclusive"
                c.evidence += (" С поправкой на число проверенных причин (q = " + t.num(q, 3) +
                               ") это различие не выходит за пределы случайного разброса.")
    rows, updated = [], []
    for f, cs in per:
        for c in cs:
            rows.append({"finding_id": f["id"], "finding_title": f["title"], "check": c.key,
                         "hypothesis": HYPOTHESES[c.key], "verdict": c.verdict, "estimate": c.estimate,
                         "ci_low": c.lo, "ci_high": c.hi, "p_value": c.p, "q_value": c.q,
                         "evidence": c.evidence})
        existing = {c["hypothesis"] for c in f.get("causes", ())}
        causes = list(f.get("causes", ())) + [
            {"hypothesis": HYPOTHESES[c.key], "verdict": c.verdict, "evidence": c.evidence}
            for c in cs if HYPOTHESES[c.key] not in existing]
        updated.append({**f, "causes": causes, "recommendation": _recommend(f, cs, name_teachers)})
    cols = ["finding_id", "finding_title", "check", "hypothesis", "verdict", "estimate", "ci_low", "ci_high",
            "p_value", "q_value", "evidence"]
    return RootCauseResult(table=pd.DataFrame(rows, columns=cols), updated=tuple(updated))


_ACTIONS = {
    "value_added": ("teacher", "Методическое сопровождение учителя по предмету «{s}»: взаимопосещение уроков, "
                    "наставник, разбор приёмов работы с классом; промежуточный контроль в конце каждой четверти."),
    "staffing": ("teacher", "Адаптация и наставничество для учителя, недавно принявшего предмет «{s}»; "
                 "посещение уроков руководителем методического объединения."),
    "intake": ("class", "Индивидуальные планы восполнения пробелов по предмету «{s}» для учеников, пришедших "
               "с отставанием; входная диагностика в начале года."),
    "attendance": ("class", "Классным руководителям: еженедельный учёт пропусков, работа с семьями учеников, "
                   "пропускающих уроки; консультации по пропущенным темам по предмету «{s}»."),
    "marking_deflated": ("teacher", "Согласовать критерии оценивания по предмету «{s}» в методическом "
                         "объединении; перекрёстная проверка контрольных работ."),
    "marking_inflated": ("teacher", "Согласовать критерии оценивания по предмету «{s}» с критериями ВПР; "
                         "перекрёстная проверка контрольных работ."),
    "marking_standard": ("teacher", "Согласовать критерии оценивания по предмету «{s}» в методическом "
                         "объединении с критериями ВПР; перекрёстная проверка контрольных работ учителя."),
    "tasks": ("class", "Включить в уроки по предмету «{s}» задания на умения, по которым найдены дефициты; "
              "повторная диагностика этих умений."),
    "general": ("class", "Поддержка учеников, отстающих по нескольким предметам: консультации, индивидуальные "
                "образовательные маршруты, работа с семьями; по предмету «{s}» — входная и промежуточная диагностика."),
    "climate": ("class", "Классному руководителю с педагогом-психологом: занятия на сплочение класса, "
                "повторное анкетирование через полгода."),
}
PRIORITY = ("value_added", "staffing", "marking_standard", "marking_inflated", "marking_deflated", "tasks", "intake", "general",
            "attendance", "climate")


def _recommend(f: dict, cs: list[_Check], name: bool) -> dict | None:
    """The finding's recommendation, addressed to its strongest supported cause (kept when none is)."""
    old = f.get("recommendation")
    sup = {c.key: c for c in cs if c.verdict == "supported"}
    key = next((k for k in PRIORITY if k in sup), None)
    if key is None:
        return old
    if old is None:  # the analysis named the problem but no addressee: the supported cause gives one
        base = f.get("value")
        goal = None if base is None or f.get("estimate") is None else round(float(base) + abs(f["estimate"]) / 2, 3)
        old = {"text": "", "addressee_type": "school", "addressee_id": f.get("school_id", ""),
               "responsible": "заместитель директора по УВР", "deadline": f"{f.get('year', 2000)}-12-25",
               "control_metric": f.get("metric") or "quality",
               "baseline": None if base is None else round(float(base), 3), "target": goal}
    kind, text = _ACTIONS[key]
    c = sup[key]
    if kind == "teacher" and c.teachers:
        addressee_type, addressee_id = "teacher", ";".join(sorted(c.teachers))
    elif f["target_type"] in ("class", "grade"):
        addressee_type, addressee_id = f["target_type"], f["target_id"]
    else:
        addressee_type, addressee_id = old.get("addressee_type", "school"), old.get("addressee_id", "")
    who = f" ({addressee_id})" if addressee_type == "teacher" and name else ""
    return {**old, "text": text.format(s=f["subject"]).replace("учителя по", f"учителя{who} по", 1),
            "addressee_type": addressee_type, "addressee_id": addressee_id if (name or addressee_type != "teacher")
            else ""}

