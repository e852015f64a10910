"""`vsoko municipal`: the municipal book (МСОКО) — schools compared fairly, ШНОР and resilient schools,
signs of non-objective results, the eight directions, the municipal decisions' re-diagnosis.

``run_municipal(db, year, out)`` executes the chapters of ``notebooks/municipality/`` with papermill into
``OUT/<municipality>/<year>/municipality/`` (public profile by default) and builds the book from the
editable template ``book/municipality/``::

    notebooks/NN_*.ipynb      executed chapters
    parts/NN_*.json           each chapter's findings, evaluations, skips
    tables/*.csv              main tables (privacy-filtered in the public profile)
    findings.json             the municipal findings (``school_id`` = the municipality's id,
                              ``target_type`` = ``school``), computed once for the municipality
    municipal_plan.xlsx       addressed recommendations per school; reads back as municipal_decisions
    run.json, book/_build/html/index.html
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import check_option
from .chapters import Chapter
from .context import PROFILES
from .run import collect, execute_chapters

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks" / "municipality"
BOOK_TITLE = "Анализ муниципальной системы оценки качества образования"
BOOK_INTRO = ("Школы муниципалитета сравниваются справедливо — с учётом того, с чем к ним пришли ученики и в каких "
              "социальных условиях они работают, с интервалами, а не таблицей мест; выделены школы с устойчиво "
              "низкими и высокими результатами, школы с низкими результатами в неблагоприятных условиях (ШНОР) и "
              "резильентные школы, школы с признаками необъективных результатов; восемь направлений "
              "муниципальной системы оценки качества и оценка муниципальных решений.")

CHAPTERS: tuple[Chapter, ...] = (
    Chapter("01_summary", "Главное: какие школы требуют внимания"),
    Chapter("02_schools", "Сравнение школ: результаты, вклад, условия, объективность"),
    Chapter("03_directions", "Восемь направлений муниципальной системы оценки качества"),
    Chapter("04_decisions", "Эффективность муниципальных решений"),
    Chapter("05_methods", "Приложение: правила и методы"),
)
LATE = ("05_methods", "01_summary")


@dataclass
class MunicipalRunResult:
    run_dir: Path
    municipality_id: str
    chapters: list[dict]
    findings_path: Path
    plan_path: Path
    book: object = None  # BookResult

    @property
    def failed(self) -> list[dict]:
        return [c for c in self.chapters if c["status"] == "failed"]


def notebook_dir() -> Path:
    if NOTEBOOKS.is_dir():
        return NOTEBOOKS
    from importlib import resources

    return Path(str(resources.files("vsoko_toolkit") / "_notebooks" / "municipality"))


def _slug(text: str) -> str:
    """A folder name for a municipality's name: spaces and punctuation to «_» (Cyrillic kept)."""
    import re

    return re.sub(r"[^\w-]+", "_", text, flags=re.UNICODE).strip("_") or "municipality"


def municipality_of(db) -> tuple[str, str]:
    """(id, name) of the warehouse's municipality."""
    from ..analysis.municipal_data import municipality_id, municipality_name
    from ..warehouse.store import connect

    con = connect(db)
    try:
        return municipality_id(con), municipality_name(con)
    finally:
        con.close()


def _one_municipality(db: Path, municipality: str | None, cache_dir: Path | None) -> Path:
    from ..errors import FatalInputError
    from ..warehouse.extract import cached_extract, municipalities
    from ..warehouse.store import connect

    con = connect(db)
    try:
        groups = municipalities(con)
    finally:
        con.close()
    names = sorted(str(m) for m in groups if m is not None)
    if municipality is None:
        if len(groups) <= 1:
            return db
        raise FatalInputError(f"В хранилище {db} школы {len(groups)} муниципалитетов. Укажите один: --municipality "
                              f"«название» (например, {names[0]!r}); все названия: vsoko info --db {db}")
    if municipality not in groups:
        raise FatalInputError(f"Муниципалитета {municipality!r} нет в хранилище {db}. Есть: "
                              f"{', '.join(names[:10])}{' …' if len(names) > 10 else ''}")
    return db if len(groups) == 1 else cached_extract(db, municipality, cache_dir)


def run_municipal(db, year: int, out, profile: str = "public", book: bool = True, pdf: bool = False,
                  workers: int | None = None, kernel_name: str = "python3", progress: bool = False,
                  notebooks=None, book_template=None, municipality: str | None = None) -> MunicipalRunResult:
    """Execute the municipal chapters for ``year`` into ``out/<municipality id>/<year>/municipality``, collect
    the municipal findings, write the municipal action plan and (``book``) build the book.

    On a warehouse of several municipalities (a region) ``municipality`` (``schools.municipality``) names the one
    to analyse; its rows are read from an extract made once beside the warehouse
    (:func:`vsoko_toolkit.warehouse.extract.cached_extract`)."""
    check_option("profile", profile, PROFILES)
    if book:
        from .book import find_template

        find_template("municipality", book_template)
    db, out = Path(db).resolve(), Path(out).resolve()
    db = _one_municipality(db, municipality, None)
    mid, name = municipality_of(db)
    run_dir = out / _slug(mid) / str(year) / "municipality"
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    for stale in (run_dir / "parts").glob("*.json") if (run_dir / "parts").exists() else ():
        stale.unlink()
    params = {"db": str(db), "school_id": mid, "year": int(year), "profile": profile, "out_dir": str(run_dir)}
    t0 = time.perf_counter()
    records = execute_chapters(run_dir, Path(notebooks) if notebooks else notebook_dir(), CHAPTERS, params,
                               late=LATE, kernel_name=kernel_name, progress=progress, workers=workers)
    chapter_list = [records[c.stem] for c in CHAPTERS]
    doc = collect(run_dir, mid, year, profile)
    findings_path = run_dir / "findings.json"
    findings_path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    (run_dir / "run.json").write_text(json.dumps(
        {"school_id": mid, "school_name": name, "year": int(year), "profile": profile, "kind": "municipality",
         "toolkit_version": __version__, "book_title": BOOK_TITLE, "book_intro": BOOK_INTRO,
         "seconds": round(time.perf_counter() - t0, 2), "chapters": chapter_list},
        ensure_ascii=False, indent=1), encoding="utf-8")
    from ..report.municipal_plan import write_municipal_plan
    from ..warehouse.store import connect

    plan_path = run_dir / "municipal_plan.xlsx"
    con = connect(db)
    try:
        write_municipal_plan(doc["findings"], plan_path, name, int(year), con=con)
    finally:
        con.close()
    res = MunicipalRunResult(run_dir, mid, chapter_list, findings_path, plan_path)
    if book:
        from .book import build_book

        res.book = build_book(run_dir, pdf=pdf, template_dir=book_template)
    return res
