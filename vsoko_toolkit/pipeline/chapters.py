"""The chapters of the annual problem-oriented analysis, in book order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks" / "school"


@dataclass(frozen=True)
class Chapter:
    stem: str  # notebook file stem in notebooks/school/
    title: str  # Russian title, as in the book


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("01_summary", "Ключевые проблемы года"),
    Chapter("02_context", "Контекст школы: контингент, кадры, условия"),
    Chapter("03_results", "Результаты обучения и их динамика"),
    Chapter("04_external", "Внешние оценочные процедуры и объективность оценивания"),
    Chapter("05_causes", "Причины: факторы и вклад учителей"),
    Chapter("06_decisions", "Эффективность управленческих решений"),
    Chapter("07_risk", "Группы риска"),
    Chapter("07b_destinations", "Самоопределение выпускников и профориентация"),
    Chapter("08_indicators", "Показатели самообследования и индекс качества"),
    Chapter("09_synthesis", "Проблемы, причины и управленческие решения"),
    Chapter("10_methods", "Приложение: методы"),
)

#: Chapters executed after all others (they read the other chapters' findings).
LATE = ("10_methods", "09_synthesis", "01_summary")


def notebook_dir() -> Path:
    """Where the chapter notebooks live (the repository's notebooks/school, or a copy shipped with the package)."""
    if NOTEBOOKS.is_dir():
        return NOTEBOOKS
    from importlib import resources

    return Path(str(resources.files("vsoko_toolkit") / "_notebooks" / "school"))
