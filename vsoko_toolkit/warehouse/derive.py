"""Values an analysis needs that the contract leaves optional, derived from required tables.

The last journal mark before an external work. The federal assessment system compares a
student's ВПР mark with the last journal mark in the subject: the mark of the last term
(quarter or semester) that ended before the work. Our generator writes it as
``assessments.journal_mark`` (an optional extension of the contract); real exports
usually do not have it. It is then derived from ``period_marks`` (required):

1. the student's numeric term mark (``q1``..``q4``, ``h1``, ``h2``) in the subject in the
   work's school year whose term ended before the work's date — the latest such term
   (a ВПР in April takes the third-quarter or first-semester mark);
2. when no term of that year has ended (a work in September or October), last year's
   year mark in the subject.

Term ends follow the usual Russian school calendar (:data:`TERM_ENDS`; months September
to December belong to the first calendar year of the school year) and can be changed
with the ``term_ends`` argument. A given ``journal_mark`` is used where it is present;
the source of each mark is kept (``given`` / ``term`` / ``last_year``).
"""

from __future__ import annotations

#: (month, day) on which each term ends, by the usual calendar: autumn break from early
#: November, winter break from 29 December, spring break from the last week of March.
TERM_ENDS: dict[str, tuple[int, int]] = {
    "q1": (10, 31), "q2": (12, 31), "q3": (3, 25), "q4": (5, 31), "h1": (12, 31), "h2": (5, 31)}

TERM_RU = {"q1": "1-я четверть", "q2": "2-я четверть", "q3": "3-я четверть", "q4": "4-я четверть",
           "h1": "1-е полугодие", "h2": "2-е полугодие"}


def term_ends_sql(term_ends: dict[str, tuple[int, int]] | None = None) -> str:
    """A VALUES list ``(period, month, day)`` of the term ends."""
    ends = term_ends or TERM_ENDS
    return ", ".join(f"('{p}', {int(m)}, {int(d)})" for p, (m, d) in sorted(ends.items()))


def last_journal_mark_sql(works: str, term_ends: dict[str, tuple[int, int]] | None = None) -> str:
    """SQL selecting ``*`` of the relation ``works`` (it must have ``student_id``, ``subject``,
    ``year``, ``date``) plus ``derived_mark`` (1..5 or NULL) and ``derived_source``
    (``term`` / ``last_year`` / NULL) — the last journal mark before each work (module docstring).

    ``works`` is a table or a parenthesised subquery; an ASOF join takes the latest term end
    strictly before the work's date.
    """
    return f"""
        WITH _w AS (SELECT *, row_number() OVER () AS _wid FROM {works}),
             _ends(period, m, d) AS (VALUES {term_ends_sql(term_ends)}),
             _terms AS (
                SELECT p.student_id, p.subject, p.year, p.mark_value,
                       make_date(CAST(CASE WHEN e.m >= 9 THEN p.year - 1 ELSE p.year END AS BIGINT),
                                 CAST(e.m AS BIGINT), CAST(e.d AS BIGINT)) AS term_end
                  FROM period_marks p JOIN _ends e ON e.period = p.period
                 WHERE p.mark_value IS NOT NULL),
             _in_year AS (
                SELECT _w._wid, t.mark_value
                  FROM _w ASOF JOIN _terms t
                    ON _w.student_id = t.student_id AND _w.subject = t.subject AND _w.year = t.year
                   AND _w.date > t.term_end),
             _last_year AS (
                SELECT student_id, subject, year + 1 AS year, max(mark_value) AS mark_value
                  FROM period_marks WHERE period = 'year' AND mark_value IS NOT NULL GROUP BY ALL)
        SELECT _w.* EXCLUDE (_wid),
               coalesce(i.mark_value, ly.mark_value) AS derived_mark,
               CASE WHEN i.mark_value IS NOT NULL THEN 'term'
                    WHEN ly.mark_value IS NOT NULL THEN 'last_year' END AS derived_source
          FROM _w
          LEFT JOIN _in_year i ON i._wid = _w._wid
          LEFT JOIN _last_year ly ON ly.student_id = _w.student_id AND ly.subject = _w.subject
                                 AND ly.year = _w.year"""


def mark_from_scale_sql(alias: str = "a") -> str:
    """SQL expression: the mark a work's primary score earns by ``scales`` (the highest mark whose
    ``min_primary`` the score reaches; 2 below the mark-3 threshold; NULL when the work has no scale).

    ``alias`` names an assessments row with ``kind``, ``subject``, ``grade``, ``year``, ``primary_score``.
    Used where ``assessments.mark`` (optional in the contract) is empty.
    """
    return f"""(SELECT CASE WHEN count(*) = 0 THEN NULL
                        ELSE coalesce(max(CASE WHEN {alias}.primary_score >= s.min_primary THEN s.mark END), 2) END
                  FROM scales s
                 WHERE s.kind = {alias}.kind AND s.subject = {alias}.subject AND s.grade = {alias}.grade
                   AND s.year = {alias}.year)"""
