"""The cyclogram of the ВСОКО year as the methods appendix shows it: a calendar table and its sentence."""

from __future__ import annotations

import re

import pandas as pd

from ..cycle import MONTH_SHORT, SCHOOL_YEAR_MONTHS, Cyclogram, coverage, run_cyclogram
from . import text as t
from .glue import _glue

COVERAGE_RU = {"covered": "есть", "partial": "частично", "absent": "нет", "no_data": "не требуются"}
MARK = "●"
LABELS = ["Процедура", "Ответственный", "Раздел книги", "Данные этого года"]


def _chapter(stem: str, chapters: dict[str, str]) -> str:
    title = chapters.get(stem)
    return f"гл. {int(stem[:2])} «{title}»" if title else stem


def _data_ru(proc, cov_row) -> str:
    """«есть: assessments (kind=VPR); нет: assessment_items (kind=VPR)» — which tables have rows this year."""
    if not proc.data:
        return COVERAGE_RU["no_data"]
    rows = cov_row["rows"]
    have = [d for d in proc.data if rows.get(d.label(), 0) > 0]
    lack = [d for d in proc.data if rows.get(d.label(), 0) <= 0]

    def name(d) -> str:
        return d.table + (f" ({', '.join(f'{c}={v}' for c, v in d.filters)})" if d.filters else "")

    parts = []
    if have:
        parts.append("есть: " + ", ".join(map(name, have)))
    if lack:
        parts.append("нет: " + ", ".join(map(name, lack)))
    return "; ".join(parts)


NAMED = "указан по фамилии (в публичной версии не показывается)"


def calendar_table(cyc: Cyclogram, cov: pd.DataFrame, chapters: dict[str, str],
                   surnames: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Procedure × month of the school year (September first): «●» in its months, the date where one is set;
    the responsible, the book's sections it feeds and whether this year's data holds its tables.

    ``surnames``: a responsible naming one of them is replaced by :data:`NAMED` (the public profile passes the
    school's teachers' surnames: a school's own file may name people, the public book names no one)."""
    by_id = cov.set_index("id")
    rows = []
    for p in cyc.procedures:
        row = {"Процедура": p.name}
        for m in SCHOOL_YEAR_MONTHS:
            dates = [d for d in p.dates if int(d.split(".")[1]) == m]
            row[MONTH_SHORT[m]] = ", ".join(dates) if dates else (MARK if m in p.months else "")
        words = set(re.findall(r"\w+", p.responsible.lower()))
        row["Ответственный"] = NAMED if words & surnames else p.responsible
        row["Раздел книги"] = "; ".join(_chapter(s, chapters) for s in p.feeds)
        row["Данные этого года"] = _data_ru(p, by_id.loc[p.id])
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["labels"] = LABELS
    return out


def cyclogram_section(ctx, chapters: dict[str, str]) -> pd.DataFrame:
    """Load the run's cyclogram (the school's own file, else the default), glue the section's numbers and
    return the calendar table."""
    cyc = run_cyclogram(ctx.out_dir, chapters)
    cov = coverage(ctx.wh, ctx.school_id, ctx.year, cyc)
    glue_cyclogram(cyc, cov)
    return calendar_table(cyc, cov, chapters, staff_surnames(ctx.wh, ctx.school_id) if ctx.public else frozenset())


def staff_surnames(con, school_id: str) -> frozenset[str]:
    """Lower-case surnames (first word of ``teachers.full_name``) of the school's teachers."""
    from ..warehouse.schema import has_column

    if not has_column(con, "teachers", "full_name"):
        return frozenset()
    rows = con.execute("SELECT DISTINCT lower(split_part(trim(full_name), ' ', 1)) FROM main.teachers "
                       "WHERE school_id = ? AND full_name IS NOT NULL", [str(school_id)]).fetchall()
    return frozenset(r[0] for r in rows if r[0] and len(r[0]) >= 3)


def glue_cyclogram(cyc: Cyclogram, cov: pd.DataFrame) -> None:
    counts = cov["status"].value_counts()
    names = {p.id: p.name for p in cyc.procedures}
    _glue("cyc_source", "циклограмма по умолчанию (составлена по методическим материалам о ВСОКО)"
          if cyc.is_default else f"циклограмма школы (файл {cyc.path.replace(chr(92), '/').rsplit('/', 1)[-1]})")
    _glue("cyc_title", cyc.title)
    _glue("cyc_n", t.count(len(cyc.procedures), "процедуры", "процедур", "процедур"))  # «из N процедур»
    with_data = int(len(cov) - counts.get("no_data", 0))
    _glue("cyc_with_data", t.fmt_int(with_data))
    _glue("cyc_covered", t.fmt_int(counts.get("covered", 0)))
    _glue("cyc_partial", t.fmt_int(counts.get("partial", 0)))
    _glue("cyc_absent", t.fmt_int(counts.get("absent", 0)))
    missing = [names[i] for i, s in zip(cov["id"], cov["status"], strict=True) if s in ("absent", "partial")]
    _glue("cyc_missing_list", "; ".join(f"«{n}»" for n in missing) if missing else "таких нет")
