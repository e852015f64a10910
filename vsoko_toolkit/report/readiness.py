"""The data-readiness report in Russian: which analyses the loaded data allows.

Shared by ``vsoko validate`` / ``vsoko ingest`` (on the folder just read) and the book's methods
appendix (on the school's rows of the warehouse).
"""

from __future__ import annotations

import pandas as pd

from ..analysis.readiness import readiness
from ..warehouse.profile import data_profile

HEADERS = {"title": "анализ", "chapter_ru": "глава", "status_ru": "состояние", "needs_ru": "каких данных не хватает",
           "fallback_ru": "что сделано вместо"}
ORDER = {"missing": 0, "fallback": 1, "ok": 2}


def readiness_frame(profile: dict, chapter_titles: dict | None = None) -> pd.DataFrame:
    """The readiness of every analysis for ``profile`` (:func:`vsoko_toolkit.warehouse.profile.data_profile`),
    Russian headers, analyses that cannot run first. ``chapter_titles``: {chapter stem: title} (the
    pipeline's chapters), else the chapter number is shown."""
    titles = chapter_titles or {}
    r = readiness(profile).copy()
    r["chapter_ru"] = r["chapter"].map(lambda s: titles.get(s) or f"глава {str(s)[:2]}")
    r = r.sort_values(["status", "chapter"], key=lambda s: s.map(ORDER) if s.name == "status" else s, kind="stable")
    for c in ("needs_ru", "fallback_ru"):
        r[c] = r[c].fillna("").replace("", "—")
    return r[list(HEADERS)].rename(columns=HEADERS).reset_index(drop=True)


def school_readiness(con, school_id: str, year: int, chapter_titles: dict | None = None) -> pd.DataFrame:
    """:func:`readiness_frame` on the school's data up to ``year``."""
    return readiness_frame(data_profile(con, school_id, year), chapter_titles)


def counts_line(frame: pd.DataFrame) -> str:
    """«выполняется: 12, с заменой данных: 3, не выполняется: 2» for a :func:`readiness_frame`."""
    s = frame[HEADERS["status_ru"]].value_counts()
    return ", ".join(f"{k}: {int(v)}" for k, v in s.items())


def render_optional_docs() -> str:
    """``docs/OPTIONAL_DATA.md``: every optional table and column of the contract, the analyses that read it
    and what each does without it (``python -m vsoko_toolkit.report.readiness > docs/OPTIONAL_DATA.md``)."""
    from ..analysis.readiness import ANALYSES, optional_usage
    from ..warehouse.derive import TERM_ENDS, TERM_RU

    lines = [
        "# Необязательные данные: кто их читает и что происходит без них",
        "",
        "Файл создан командой `python -m vsoko_toolkit.report.readiness > docs/OPTIONAL_DATA.md` из реестра "
        "`vsoko_toolkit/analysis/readiness.py`; тест следит, чтобы он не устарел. Тот же реестр печатает "
        "`vsoko validate` / `vsoko ingest` («Готовность данных к анализам») и приложение книги «Методы».",
        "",
        "## Необязательные таблицы и колонки",
        "",
        "| данные | анализы | что делается без них |",
        "|---|---|---|",
    ]
    for r in optional_usage().itertuples(index=False):
        lines.append(f"| `{r.item}` | {r.analyses or '—'} | {r.fallback_ru} |")
    lines += ["", "## Что нужно каждому анализу", "",
              "| анализ | глава | обязательно | необязательно (замена) |", "|---|---|---|---|"]
    for a in ANALYSES:
        req = ", ".join(f"`{n.label()}`" + (f" ({n.text_ru})" if n.text_ru else "") for n in a.requires)
        opt = "; ".join(f"`{o.need.label()}` — {o.fallback_ru}" for o in a.optional) or "—"
        lines.append(f"| {a.title} (`{a.key}`) | {a.chapter} | {req} | {opt} |")
    ends = ", ".join(f"{TERM_RU[p]} — {d:02d}.{m:02d}" for p, (m, d) in TERM_ENDS.items())
    lines += ["", "## Журнальная отметка для сравнения с ВПР", "",
              "Если в `assessments` нет колонки `journal_mark` (в контракте её нет; это расширение), журнальная "
              "отметка берётся из `period_marks`: отметка ученика по предмету за последний период (четверть или "
              "полугодие) этого учебного года, закончившийся до даты работы; если ни один период ещё не "
              "закончился (работа в сентябре–октябре) — годовая отметка прошлого года. Даты окончания периодов "
              f"(обычный календарь, меняется параметром `term_ends` анализа объективности): {ends}. Где "
              "`journal_mark` задана, используется она; глава «Внешние оценочные процедуры» говорит, откуда "
              "взята отметка.", ""]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(render_optional_docs(), end="")
