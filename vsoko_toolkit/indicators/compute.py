"""Indicators computed from the warehouse for (school, year) — registered for ``compute:`` in frameworks.

Definitions (each also stated in the framework YAML's ``note`` where it matters):

- students: enrolled in the school's classes that year and not left by its end
  (an enrollment row without ``date_out``); «graduates of grade 9/11» are such students of grade 9/11;
- good marks («на 4 и 5»): every numeric year mark of the student is 4 or 5 and
  none is ``н/а``/``незач`` — counted with :mod:`vsoko_toolkit.analysis.metrics` on each
  student's worst year mark, so the share is the «quality» of worst marks, with its Wilson interval;
- ГИА-9 mean: mean of each student's best ОГЭ/ГВЭ mark in the subject (5-point scale), t interval; a
  missing mark (the optional ``assessments.mark``) is derived from the primary score with ``scales``
  (the highest mark whose ``min_primary`` the score reaches, else 2);
- ЕГЭ mean: mean of each student's best test score in the subject, t interval;
- shares of graduates failing ГИА: best mark 2 (ОГЭ/ГВЭ), or no ЕГЭ result at/above
  ``min_score`` and no base-level mark 3+ (ЕГЭ), over all graduates of that grade; Wilson interval;
- olympiads: distinct students of the school in ``olympiads`` that year (winners/prize-winners
  if asked, stages if given) over all students; Wilson interval;
- staff: teachers of the school with a teaching load that year (``assignments``), as in the
  chapter «Контекст школы»; a share is over the teachers whose field is filled in.
"""

from __future__ import annotations

import numpy as np

from ..analysis.metrics import count_marks_sql, metrics_from_counts
from ..stats.intervals import mean_interval, wilson_interval
from ..warehouse.schema import has_table
from .registry import ComputeContext, Value, register


def _lit(s) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _opt(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _share(k: int, n: int, n_students: int | None, detail: str) -> Value | None:
    if n <= 0:
        return None
    lo, hi = wilson_interval(k, n)
    return Value(k / n, count=int(k), denominator=int(n), ci_low=_opt(lo), ci_high=_opt(hi),
                 n_students=n_students, detail=detail)


def _students(ctx: ComputeContext, lo: int = 1, hi: int = 11) -> int:
    return ctx.once(("students", lo, hi), lambda: ctx.con.execute(
        """SELECT count(DISTINCT student_id) FROM enrollments
            WHERE school_id = ? AND year = ? AND grade BETWEEN ? AND ? AND date_out IS NULL""",
        [ctx.school_id, ctx.year, lo, hi]).fetchone()[0])


@register("students_total")
def students_total(ctx: ComputeContext) -> Value | None:
    n = _students(ctx)
    return Value(float(n), count=n, detail="ученики классов школы на конец года") if n else None


@register("students_in_grades")
def students_in_grades(ctx: ComputeContext, grades: list[int]) -> Value | None:
    if not _students(ctx):
        return None
    lo, hi = int(grades[0]), int(grades[-1])
    n = _students(ctx, lo, hi)
    return Value(float(n), count=n, detail=f"ученики {lo}–{hi} классов на конец года")


@register("students_good_marks")
def students_good_marks(ctx: ComputeContext) -> Value | None:
    worst = f"""SELECT student_id,
                       CASE WHEN bool_or(mark IN ('н/а', 'незач')) THEN '2'
                            ELSE CAST(min(mark_value) AS VARCHAR) END AS mark
                  FROM period_marks
                 WHERE school_id = {_lit(ctx.school_id)} AND year = {int(ctx.year)} AND period = 'year'
                 GROUP BY student_id
                HAVING count(mark_value) > 0 OR bool_or(mark IN ('н/а', 'незач'))"""
    m = metrics_from_counts(count_marks_sql(ctx.con, worst)).iloc[0]
    n = int(m["n_numeric"])
    if n == 0:
        return None
    return Value(float(m["quality"]), count=int(m["n_quality"]), denominator=n,
                 ci_low=_opt(m["quality_lower"]), ci_high=_opt(m["quality_upper"]), n_students=n,
                 detail="по годовым отметкам: все числовые отметки «4» и «5», без «н/а» и «незач»")


def _subject_sql(subject: str) -> str:
    """The subject itself or its level variants: «Математика» matches «Математика (профильная)»."""
    return f"(subject = {_lit(subject)} OR subject LIKE {_lit(subject + ' (%')})"


def _gia9_marks(ctx: ComputeContext, subject: str) -> str:
    """SQL: the school's ОГЭ/ГВЭ rows of grade 9 in ``subject`` with ``mark`` — given, or derived from the
    primary score with ``scales`` when the optional mark is empty."""
    where = (f"a.school_id = {_lit(ctx.school_id)} AND a.year = {int(ctx.year)} AND a.grade = 9 "
             f"AND a.kind IN ('OGE', 'GVE') AND {_subject_sql(subject).replace('subject', 'a.subject')}")
    if not ctx.once("has_scales", lambda: has_table(ctx.con, "scales")):
        return f"SELECT a.student_id, a.mark FROM assessments a WHERE {where}"
    return f"""SELECT a.student_id,
                      coalesce(a.mark, CASE WHEN a.primary_score IS NULL THEN NULL ELSE coalesce(
                          (SELECT max(s.mark) FROM scales s WHERE s.kind = a.kind AND s.subject = a.subject
                              AND s.grade = a.grade AND s.year = a.year AND a.primary_score >= s.min_primary),
                          CASE WHEN EXISTS (SELECT 1 FROM scales s WHERE s.kind = a.kind AND s.subject = a.subject
                                               AND s.grade = a.grade AND s.year = a.year) THEN 2 END) END) AS mark
                 FROM assessments a WHERE {where}"""


@register("gia9_mean_mark")
def gia9_mean_mark(ctx: ComputeContext, subject: str) -> Value | None:
    best = f"""SELECT student_id, max(mark) AS mark FROM ({_gia9_marks(ctx, subject)})
                WHERE mark IS NOT NULL GROUP BY student_id"""
    m = metrics_from_counts(count_marks_sql(ctx.con, best)).iloc[0]
    n = int(m["n_numeric"])
    if n == 0:
        return None
    return Value(float(m["mean_mark"]), denominator=n, ci_low=_opt(m["mean_mark_lower"]),
                 ci_high=_opt(m["mean_mark_upper"]), n_students=n,
                 detail=f"средняя отметка ОГЭ/ГВЭ, {n} выпускников")


@register("ege_mean_score")
def ege_mean_score(ctx: ComputeContext, subject: str) -> Value | None:
    scores = ctx.con.execute(
        f"""SELECT max(test_score) FROM assessments
             WHERE school_id = ? AND year = ? AND grade = 11 AND kind = 'EGE' AND {_subject_sql(subject)}
               AND test_score IS NOT NULL GROUP BY student_id""", [ctx.school_id, ctx.year]).fetchnumpy()
    x = np.asarray(next(iter(scores.values())), dtype=float)
    if x.size == 0:
        return None
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if x.size > 1 else float("nan")
    lo, hi = mean_interval(mean, sd, x.size)
    lo, hi = (None, None) if not np.isfinite(lo) else (max(float(lo), 0.0), min(float(hi), 100.0))
    return Value(mean, denominator=int(x.size), ci_low=lo, ci_high=hi, n_students=int(x.size),
                 detail=f"средний тестовый балл ЕГЭ, {x.size} выпускников")


def _graduates_failing(ctx: ComputeContext, grade: int, results_sql: str, fail_sql: str) -> Value | None:
    """Share of the grade's students (at year end) whose results in ``results_sql`` satisfy ``fail_sql``."""
    n_grad = _students(ctx, grade, grade)
    row = ctx.con.execute(
        f"""WITH r AS ({results_sql}),
                 g AS (SELECT DISTINCT student_id FROM enrollments
                        WHERE school_id = ? AND year = ? AND grade = ? AND date_out IS NULL)
            SELECT count(*), count(*) FILTER (WHERE {fail_sql}) FROM r JOIN g USING (student_id)""",
        [ctx.school_id, ctx.year, grade]).fetchone()
    if not n_grad or row[0] == 0:
        return None
    return _share(int(row[1]), n_grad, n_grad, f"из {n_grad} выпускников {grade} класса")


@register("gia9_fail_share")
def gia9_fail_share(ctx: ComputeContext, subject: str) -> Value | None:
    results = f"""SELECT student_id, max(mark) AS best FROM ({_gia9_marks(ctx, subject)})
                   WHERE mark IS NOT NULL GROUP BY student_id"""
    return _graduates_failing(ctx, 9, results, "best <= 2")


@register("ege_below_min_share")
def ege_below_min_share(ctx: ComputeContext, subject: str, min_score: float) -> Value | None:
    results = f"""SELECT student_id,
                         bool_or(coalesce(test_score >= {float(min_score)}, false) OR coalesce(mark >= 3, false)) AS passed
                    FROM assessments
                   WHERE school_id = {_lit(ctx.school_id)} AND year = {int(ctx.year)} AND grade = 11
                     AND kind = 'EGE' AND {_subject_sql(subject)}
                     AND (test_score IS NOT NULL OR mark IS NOT NULL)
                   GROUP BY student_id"""
    return _graduates_failing(ctx, 11, results, "NOT passed")


@register("olympiad_share")
def olympiad_share(ctx: ComputeContext, winners: bool = False, stages: list[str] | None = None) -> Value | None:
    any_rows = ctx.con.execute("SELECT count(*) FROM olympiads WHERE school_id = ? AND year = ?",
                               [ctx.school_id, ctx.year]).fetchone()[0]
    n = _students(ctx)
    if not any_rows or not n:
        return None
    cond = ["status IN ('prize', 'winner')"] if winners else []
    if stages:
        cond.append("stage IN (" + ", ".join(_lit(s) for s in stages) + ")")
    where = " AND ".join(["o.school_id = ?", "o.year = ?", *cond])
    k = ctx.con.execute(
        f"""SELECT count(DISTINCT o.student_id) FROM olympiads o
             WHERE {where} AND o.student_id IN (SELECT student_id FROM enrollments
                   WHERE school_id = ? AND year = ? AND date_out IS NULL)""",
        [ctx.school_id, ctx.year, ctx.school_id, ctx.year]).fetchone()[0]
    return _share(int(k), n, n, f"из {n} учеников")


def _teachers(ctx: ComputeContext):
    return ctx.once("teachers", lambda: ctx.con.execute(
        """SELECT * FROM teachers WHERE school_id = ? AND teacher_id IN
             (SELECT teacher_id FROM assignments WHERE school_id = ? AND year = ?)""",
        [ctx.school_id, ctx.school_id, ctx.year]).df())


@register("teachers_total")
def teachers_total(ctx: ComputeContext) -> Value | None:
    n = len(_teachers(ctx))
    return Value(float(n), count=n, detail="учителя с учебной нагрузкой в этом году") if n else None


#: condition name -> (column that must be filled in, test on the teachers frame)
TEACHER_CONDITIONS = {
    "higher_pedagogical": ("higher_pedagogical", lambda t: t["higher_pedagogical"].astype(bool)),
    "category_any": ("category", lambda t: t["category"].isin(["highest", "first"])),
    "category_highest": ("category", lambda t: t["category"] == "highest"),
    "category_first": ("category", lambda t: t["category"] == "first"),
    "experience_under_5": ("experience_years", lambda t: t["experience_years"] < 5),
    "experience_over_30": ("experience_years", lambda t: t["experience_years"] > 30),
    "age_under_30": ("age", lambda t: t["age"] < 30),
    "age_55_plus": ("age", lambda t: t["age"] >= 55),
}


@register("teachers_share")
def teachers_share(ctx: ComputeContext, condition: str) -> Value | None:
    if condition not in TEACHER_CONDITIONS:
        raise ValueError(f"Неизвестное условие teachers_share: {condition!r}. "
                         f"Допустимы: {', '.join(TEACHER_CONDITIONS)}.")
    column, test = TEACHER_CONDITIONS[condition]
    t = _teachers(ctx)
    t = t[t[column].notna()] if column in t else t.iloc[0:0]
    if t.empty:
        return None
    return _share(int(test(t).sum()), len(t), None, f"из {len(t)} учителей с заполненным полем {column}")


# ---------------------------------------------------------------- graduates (issue 18): certificates, profiles,
# destinations

_FAILING_YEAR_MARK = "(mark_value <= 2 OR mark IN ('н/а', 'незач'))"


def _has_gia(ctx: ComputeContext, grade: int) -> bool:
    kinds = "('OGE', 'GVE')" if grade == 9 else "('EGE', 'GVE')"
    return bool(ctx.con.execute(
        f"SELECT count(*) FROM assessments WHERE school_id = ? AND year = ? AND grade = ? AND kind IN {kinds}",
        [ctx.school_id, ctx.year, grade]).fetchone()[0])


@register("graduates_without_certificate")
def graduates_without_certificate(ctx: ComputeContext, grade: int) -> Value | None:
    """Grade-9/11 students at year end who do not get the certificate: a failing year mark (2, н/а, незач — not
    admitted to ГИА) or a compulsory ГИА subject failed on the results present (9: best ОГЭ/ГВЭ mark in Russian or
    mathematics 2; 11: Russian below 24 or mathematics below 27 profile and no base mark 3+). Needs ГИА results of
    the grade that year (else None: the data cannot tell)."""
    grade = int(grade)
    n = _students(ctx, grade, grade)
    if not n or not _has_gia(ctx, grade):
        return None
    failing = {r[0] for r in ctx.con.execute(
        f"""SELECT DISTINCT student_id FROM period_marks WHERE school_id = ? AND year = ? AND grade = ?
             AND period = 'year' AND {_FAILING_YEAR_MARK}""", [ctx.school_id, ctx.year, grade]).fetchall()}
    graduates = {r[0] for r in ctx.con.execute(
        "SELECT DISTINCT student_id FROM enrollments WHERE school_id = ? AND year = ? AND grade = ? "
        "AND date_out IS NULL", [ctx.school_id, ctx.year, grade]).fetchall()}
    k = len(graduates & (failing | without_certificate_ids(ctx, grade)))
    return _share(k, n, n, f"из {n} выпускников {grade} класса (годовая «2»/«н/а» или ГИА по русскому языку "
                           f"или математике не сдана)")


@register("certificates_with_honours")
def certificates_with_honours(ctx: ComputeContext, grade: int) -> Value | None:
    """Grade-9/11 students at year end with a certificate with honours: every numeric year mark «5» (at least one,
    no н/а/незач) and, where ГИА results of the grade exist, the compulsory ГИА passed; grade 11 with
    ``enrollments.medal`` filled that year: the gold medal («за особые успехи» I степени, awarded with it)."""
    grade = int(grade)
    n = _students(ctx, grade, grade)
    if not n:
        return None
    g = ("SELECT DISTINCT student_id FROM enrollments WHERE school_id = ? AND year = ? AND grade = ? "
         "AND date_out IS NULL")
    args = [ctx.school_id, ctx.year, grade]
    if grade == 11 and ctx.con.execute("SELECT count(medal) FROM enrollments WHERE school_id = ? AND year = ? "
                                       "AND grade = ?", args).fetchone()[0]:
        k = ctx.con.execute(f"SELECT count(DISTINCT student_id) FROM enrollments WHERE medal = 'gold' AND "
                            f"student_id IN ({g}) AND school_id = ? AND year = ? AND grade = ?", args + args).fetchone()[0]
        return _share(int(k), n, n, f"из {n} выпускников 11 класса: медаль «За особые успехи» I степени")
    marks = ctx.con.execute(
        """SELECT student_id FROM period_marks WHERE school_id = ? AND year = ? AND grade = ? AND period = 'year'
             GROUP BY student_id
            HAVING count(mark_value) > 0 AND min(mark_value) = 5 AND NOT bool_or(mark IN ('н/а', 'незач'))""",
        args).df()
    if not ctx.con.execute("SELECT count(*) FROM period_marks WHERE school_id = ? AND year = ? AND grade = ? "
                           "AND period = 'year'", args).fetchone()[0]:
        return None
    ids = set(marks["student_id"])
    if ids and _has_gia(ctx, grade):
        w = without_certificate_ids(ctx, grade)
        ids -= w
    return _share(len(ids), n, n, f"из {n} выпускников {grade} класса: все годовые отметки «5»")


def without_certificate_ids(ctx: ComputeContext, grade: int) -> set[str]:
    """Students of ``grade`` with a result in Russian or mathematics at ГИА that is not a pass (grade 9: best
    ОГЭ/ГВЭ mark 2; grade 11: no ЕГЭ result at/above the minimum and no mark 3+ among their results in the
    subject). A student without a result in the subject is not counted (the data cannot tell why)."""
    if grade == 9:
        parts = [f"""SELECT student_id FROM ({_gia9_marks(ctx, s)}) WHERE mark IS NOT NULL
                     GROUP BY student_id HAVING max(mark) <= 2""" for s in ("Русский язык", "Математика")]
    else:
        parts = [f"""SELECT student_id FROM assessments
                      WHERE school_id = {_lit(ctx.school_id)} AND year = {int(ctx.year)} AND grade = 11
                        AND kind IN ('EGE', 'GVE') AND {_subject_sql(s)} AND (test_score IS NOT NULL OR mark IS NOT NULL)
                      GROUP BY student_id
                     HAVING NOT bool_or(coalesce(test_score >= {float(m)}, false) OR coalesce(mark >= 3, false))"""
                 for s, m in (("Русский язык", 24), ("Математика", 27))]
    rows = ctx.con.execute(" UNION ".join(parts)).fetchall()
    return {r[0] for r in rows}


@register("profile_students_share")
def profile_students_share(ctx: ComputeContext) -> Value | None:
    """Students at year end in a class with a stated profile other than «универсальный» (``classes.profile``),
    over all students; None when the school's classes carry no profile that year."""
    n = _students(ctx)
    filled = ctx.con.execute("SELECT count(profile) FROM classes WHERE school_id = ? AND year = ?",
                             [ctx.school_id, ctx.year]).fetchone()[0]
    if not n or not filled:
        return None
    k = ctx.con.execute(
        """SELECT count(DISTINCT e.student_id) FROM enrollments e JOIN classes c USING (class_id)
            WHERE c.school_id = ? AND c.year = ? AND e.date_out IS NULL AND c.profile IS NOT NULL
              AND lower(trim(c.profile)) NOT IN ('', 'универсальный', 'универсальный профиль')""",
        [ctx.school_id, ctx.year]).fetchone()[0]
    return _share(int(k), n, n, f"из {n} учеников: классы с профилем, кроме универсального")


@register("destination_share")
def destination_share(ctx: ComputeContext, grade: int, destinations: list[str],
                      profiles: list[str] | None = None) -> Value | None:
    """Share of the school's graduates of ``grade`` that year (rows of ``destinations``) whose destination is one
    of ``destinations`` (and, if given, profile one of ``profiles``); Wilson interval. For a school's or region's
    own indicator set: the order № 1324 has no row on destinations."""
    if not has_table(ctx.con, "destinations"):
        return None
    args = [ctx.school_id, ctx.year, int(grade)]
    n = ctx.con.execute("SELECT count(*) FROM destinations WHERE school_id = ? AND year = ? AND grade = ?",
                        args).fetchone()[0]
    if not n:
        return None
    cond = "destination IN (" + ", ".join(_lit(d) for d in destinations) + ")"
    if profiles:
        cond += " AND profile IN (" + ", ".join(_lit(p) for p in profiles) + ")"
    k = ctx.con.execute(f"SELECT count(*) FROM destinations WHERE school_id = ? AND year = ? AND grade = ? AND {cond}",
                        args).fetchone()[0]
    return _share(int(k), int(n), int(n), f"из {n} выпускников {int(grade)} класса (таблица destinations)")
