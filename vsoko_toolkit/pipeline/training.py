"""`vsoko training`: the training book — short lessons on the school's own data, with exercises.

``run_training(db, school, year, out)`` executes the lesson notebooks of
``notebooks/training/`` with papermill into ``OUT/S/Y/training/`` and builds a book there
with the annual book's machinery (:func:`vsoko_toolkit.pipeline.book.build_book`; the
public profile by default: no names, no ids, no group under 5) from the editable template
``book/training/`` (title page, lesson order, config; ``book_template`` names another)::

    OUT/S/Y/training/notebooks/NN_*.ipynb   executed lessons (answers checked where given)
    OUT/S/Y/training/run.json               lessons, status, timings (read by the book builder)
    OUT/S/Y/training/book/_build/html/index.html

Learners' answers are the notebooks' parameters ``answer_<lesson><letter>`` (None = not
answered); ``answers={1: {"answer_1a": 9.7}}`` passes them, lesson by lesson.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import check_option
from .chapters import Chapter
from .context import PROFILES
from .run import _execute, school_name

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks" / "training"
BOOK_TITLE = "Учебная книга: как читать анализ ВСОКО"
BOOK_INTRO = ("Восемь коротких уроков о том, как читать числа анализа ВСОКО: каждый пример посчитан на данных "
              "школы теми же методами, что и годовая книга анализа. В конце каждого урока — упражнения: ответы "
              "вписываются в первую ячейку тетради урока (`jupyter lab notebooks/training`), и тетрадь сама "
              "говорит, верно ли и почему.")

LESSONS: tuple[Chapter, ...] = (
    Chapter("01_interval", "Урок 1. Доля в маленьком классе и её интервал"),
    Chapter("02_funnel", "Урок 2. Почему средние по классам обманывают"),
    Chapter("03_regression", "Урок 3. Возврат к среднему"),
    Chapter("04_simpson", "Урок 4. Парадокс Симпсона"),
    Chapter("05_confounding", "Урок 5. Связь — ещё не причина"),
    Chapter("06_vpr", "Урок 6. Что значат «понизили» и «подтвердили» на ВПР"),
    Chapter("07_did", "Урок 7. Разность разностей: сработало ли решение"),
    Chapter("08_decision", "Урок 8. От находки к адресному решению"),
)


@dataclass
class TrainingResult:
    run_dir: Path
    lessons: list[dict]
    book: object = None  # BookResult, when the book was built

    @property
    def ok(self) -> bool:
        return all(c["status"] == "ok" for c in self.lessons)

    @property
    def failed(self) -> list[dict]:
        return [c for c in self.lessons if c["status"] == "failed"]


def notebook_dir() -> Path:
    """The lesson notebooks (the repository's notebooks/training, or a copy shipped with the package)."""
    if NOTEBOOKS.is_dir():
        return NOTEBOOKS
    from importlib import resources

    return Path(str(resources.files("vsoko_toolkit") / "_notebooks" / "training"))


def run_training(db, school_id: str, year: int, out, profile: str = "public", answers: dict | None = None,
                 book: bool = True, pdf: bool = False, sample_db=None, lessons: tuple[Chapter, ...] = LESSONS,
                 kernel_name: str = "python3", workers: int = 1, notebooks=None,
                 book_template=None) -> TrainingResult:
    """Execute the lessons for ``school_id`` and ``year`` into ``out/school_id/year/training`` and build the book.

    ``answers``: {lesson number or stem: {parameter: answer}}. ``sample_db``: an ingested sample
    municipality for lessons the school's data cannot illustrate (default: ingested once into
    ``out/_sample``). A failing lesson does not stop the others; the book shows its error.
    ``book_template``: the book's template folder (default: the repository's ``book/training``).
    """
    check_option("profile", profile, PROFILES)
    if book:  # a wrong template folder is reported before the lessons run, not after
        from .book import find_template

        find_template("training", book_template)
    db, out = Path(db).resolve(), Path(out).resolve()
    name = school_name(db, school_id)
    run_dir = out / str(school_id) / str(year) / "training"
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    src_dir = Path(notebooks) if notebooks else notebook_dir()
    answers = answers or {}
    if sample_db is None:
        sample_db = out / "_sample" / "sample.duckdb"
    if workers > 1 and not Path(sample_db).exists():  # parallel lessons must not ingest it concurrently
        from ..report.training import sample_warehouse

        sample_warehouse(sample_db, out)
    jobs = []
    for c in lessons:
        number = int(c.stem.split("_", 1)[0])
        params = {"db": str(db), "school_id": str(school_id), "year": int(year), "profile": profile,
                  "out_dir": str(out), "sample_db": str(sample_db),
                  **answers.get(number, {}), **answers.get(c.stem, {})}
        jobs.append((str(src_dir / f"{c.stem}.ipynb"), str(run_dir / "notebooks" / f"{c.stem}.ipynb"), params,
                     kernel_name, str(run_dir / "notebooks"), c.stem, c.title))
    t0 = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            records = list(pool.map(_execute, *zip(*jobs, strict=True)))
    else:
        records = [_execute(*j) for j in jobs]
    (run_dir / "run.json").write_text(json.dumps(
        {"school_id": str(school_id), "school_name": name, "year": int(year), "profile": profile,
         "toolkit_version": __version__, "kind": "training", "book_title": BOOK_TITLE,
         "book_intro": BOOK_INTRO, "seconds": round(time.perf_counter() - t0, 2), "chapters": records},
        ensure_ascii=False, indent=1), encoding="utf-8")
    res = TrainingResult(run_dir, records)
    if book:
        from .book import build_book

        res.book = build_book(run_dir, pdf=pdf, template_dir=book_template)
    return res


def glued(path) -> dict[str, str]:
    """The values glued in an executed notebook (``{name: text}``): the verdicts ``verdict_<key>`` and numbers."""
    import ast

    import nbformat

    out = {}
    for cell in nbformat.read(str(path), as_version=4).cells:
        for o in cell.get("outputs", ()):
            book = o.get("metadata", {}).get("scrapbook", {})
            if book.get("name"):
                name = book["name"]
                raw = o.get("data", {}).get(book.get("mime_prefix", "") + "text/plain", "")
                try:
                    out[name] = ast.literal_eval(raw)
                except (ValueError, SyntaxError):
                    out[name] = raw
    return out
