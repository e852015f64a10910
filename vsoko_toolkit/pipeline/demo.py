"""`vsoko demo` (what `make demo` calls): sample data → warehouse → one school, both profiles → books."""

from __future__ import annotations

import json
from pathlib import Path

from ..warehouse.ingest import ingest
from .run import run_school

SAMPLE = Path(__file__).resolve().parents[2] / "data_samples" / "municipality"


def sample_folder(workspace: Path) -> Path:
    """The committed sample municipality, or (outside a clone) one generated into the workspace."""
    if any(SAMPLE.glob("schools.csv*")):
        return SAMPLE
    from ..synth import generate_municipality

    out = workspace / "sample_municipality"
    if not (out / "schools.csv").exists():
        generate_municipality(out, n_schools=4, n_years=4, seed=1)
    return out


def demo_school(folder: Path, db: Path) -> tuple[str, int]:
    """The sample's school with planted problems (its truth file names it) and the last year on record;
    without a truth file, the warehouse's first school."""
    from ..warehouse.store import connect

    con = connect(db)
    try:
        first, last = con.execute("SELECT min(school_id), max(year) FROM classes").fetchone()
    finally:
        con.close()
    truth = folder / "truth.json"
    if truth.exists():
        t = json.loads(truth.read_text(encoding="utf-8"))
        demo = t.get("demo") or t.get("declining_trend") or {}
        first = demo.get("school_id") or first
    return first, int(last)


def run_demo(workspace, school: str | None = None, pdf: bool = True, console=None) -> dict:
    say = console.print if console is not None else print
    workspace = Path(workspace).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    folder = sample_folder(workspace)
    db = workspace / "vsoko.duckdb"
    say(f"1/5 Загрузка учебного муниципалитета {folder} → {db}")
    rep = ingest(folder, db, progress=console is not None)
    say(f"    прочитано строк: {int(rep.tables['read'].sum()):,}, отклонено: {rep.n_rejected}".replace(",", " "))
    sid, year = demo_school(folder, db)
    sid = school or sid
    out = workspace / "out"
    books = {}
    from .book import build_book

    for step, profile in ((2, "internal"), (3, "public")):
        say(f"{step}/5 Анализ школы {sid}, {year - 1}/{year} учебный год, версия «{profile}»")
        res = run_school(db, sid, year, profile, out / profile, progress=console is not None)
        for c in res.failed:
            say(f"    глава «{c['title']}»: ошибка {c['error']}")
        book = build_book(res.run_dir, pdf=pdf)
        books[profile] = book
    say(f"4/5 Учебная книга: уроки на данных школы {sid} (публичная версия)")
    from .training import run_training

    training = run_training(db, sid, year, out / "public", profile="public", pdf=pdf, sample_db=db)
    for c in training.failed:
        say(f"    урок «{c['title']}»: ошибка {c['error']}")
    books["training"] = training.book
    say(f"5/5 Муниципальный анализ: все школы учебного муниципалитета, {year - 1}/{year} учебный год (публичная версия)")
    from .municipal import run_municipal

    municipal = run_municipal(db, year, out / "public", profile="public", pdf=pdf)
    for c in municipal.failed:
        say(f"    глава «{c['title']}»: ошибка {c['error']}")
    books["municipality"] = municipal.book
    say("Готово.")
    for profile, book in books.items():
        if profile == "training":
            say(f"  Учебная книга, HTML: {book.html_index}")
            if book.pdf:
                say(f"  Учебная книга, PDF:  {book.pdf}")
            say("  Упражнения учебной книги: jupyter lab notebooks/training")
            continue
        if profile == "municipality":
            say(f"  Муниципальная книга, HTML: {book.html_index}")
            if book.pdf:
                say(f"  Муниципальная книга, PDF:  {book.pdf}")
            say(f"  Муниципальный план мероприятий: {municipal.plan_path}")
            continue
        label = "для администрации" if profile == "internal" else "публичная"
        say(f"  Книга ({label}), HTML: {book.html_index}")
        if book.pdf:
            say(f"  Книга ({label}), PDF:  {book.pdf}")
        elif pdf:
            say(f"  PDF не собран: {book.pdf_note}")
        site = Path(book.book_dir).parent / "site"
        if profile == "public" and site.is_dir():
            say(f"  Файлы для сайта школы (самообследование, итоги года, показатели XLSX): {site}")
    return books
