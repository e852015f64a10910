"""The chapters of the annual problem-oriented analysis, in book order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks" / "school"


@dataclass(frozen=True)
class Chapter:
    stem: str  # notebook file stem in notebooks/school/
    title: str  # Russian title, as in the book
    cost: float = 1.0  # relative run time, to start the longest chapters first (measured on the sample, S01)


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("01_summary", "Ключевые проблемы года"),
    Chapter("02_context", "Контекст школы: контингент, кадры, условия", 4),
    Chapter("03_results", "Результаты обучения и их динамика", 5),
    Chapter("04_external", "Внешние оценочные процедуры и объективность оценивания", 7),
    Chapter("04a_literacy", "Метапредметные результаты и функциональная грамотность", 2),
    Chapter("05_causes", "Причины: факторы и вклад учителей", 9),
    Chapter("06_decisions", "Эффективность управленческих решений", 2),
    Chapter("07_risk", "Группы риска", 3),
    Chapter("07a_upbringing", "Воспитание, личностные результаты и работа с одарёнными", 2),
    Chapter("07b_destinations", "Самоопределение выпускников и профориентация", 2),
    Chapter("08_indicators", "Показатели самообследования и индекс качества", 4),
    Chapter("09_synthesis", "Проблемы, причины и управленческие решения"),
    Chapter("10_methods", "Приложение: методы"),
)

#: Chapters executed after all others (they read the other chapters' findings), in stages: the chapters of a
#: stage run side by side, a stage starts when the one before it has finished. 10_methods lists what the
#: other chapters skipped, 09_synthesis tests the causes of their findings, 01_summary reads 09's causes.
LATE: tuple[tuple[str, ...], ...] = (("09_synthesis", "10_methods"), ("01_summary",))


def late_stems(late) -> tuple[str, ...]:
    """The stems of ``late`` in execution order (stages flattened; a plain stem is a stage of its own)."""
    return tuple(s for stage in late for s in ((stage,) if isinstance(stage, str) else stage))


def notebook_dir() -> Path:
    """Where the chapter notebooks live (the repository's notebooks/school, or a copy shipped with the package)."""
    if NOTEBOOKS.is_dir():
        return NOTEBOOKS
    from importlib import resources

    return Path(str(resources.files("vsoko_toolkit") / "_notebooks" / "school"))
