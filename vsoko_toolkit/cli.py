"""Командная строка `vsoko` (messages for people in Russian)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import cli_ru  # noqa: F401 (Russian for click/typer's own words)
from .errors import VsokoError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="ВСОКО: загрузка и проверка данных школы, анализ и книга проблемно-ориентированного анализа.",
)
console = Console()
err = Console(stderr=True)


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]Ошибка:[/] {exc}")
    raise typer.Exit(code=2)


def _report_table(rep, title: str) -> Table:
    t = Table(title=title)
    for col in ("таблица", "файл", "кодировка", "прочитано", "принято", "отклонено"):
        t.add_column(col, justify="right" if col in ("прочитано", "принято", "отклонено") else "left")
    for r in rep.tables.itertuples():
        style = "red" if r.rejected else None
        t.add_row(r.table, r.file, r.encoding, f"{r.read:,}".replace(",", " "),
                  f"{r.accepted:,}".replace(",", " "), f"{r.rejected:,}".replace(",", " "), style=style)
    return t


def _print_report(rep, title: str) -> None:
    console.print(_report_table(rep, title))
    if rep.n_rejected:
        console.print(f"Отклонено строк: [red]{rep.n_rejected}[/]. Причины по каждой строке: {rep.rejects_path}")
        top = rep.rejects.groupby(["table", "rule", "message"]).size().reset_index(name="n").head(10)
        for r in top.itertuples():
            console.print(f"  • {r.table}: {r.message} — {r.n}")
    else:
        console.print("[green]Все строки приняты.[/]")


def _print_readiness(profile: dict) -> None:
    """Which analyses the data allows (issue 14): runs / runs on a fall-back / cannot run, and what is missing."""
    from .pipeline.chapters import CHAPTERS
    from .report.readiness import HEADERS, counts_line, readiness_frame

    frame = readiness_frame(profile, {c.stem: c.title for c in CHAPTERS})
    # a list, not a table: it stays readable (and whole words) in a narrow terminal or a log file
    console.print("[bold]Готовность данных к анализам[/]")
    colors = {"не выполняется": "red", "выполняется с заменой": "yellow", "выполняется": "green"}
    for row in frame.to_dict("records"):
        st = row[HEADERS["status_ru"]]
        need, instead = escape(str(row[HEADERS["needs_ru"]])), escape(str(row[HEADERS["fallback_ru"]]))
        if st == "не выполняется":
            why = f" — {need}"
        elif st == "выполняется с заменой":
            why = f" — не хватает: {need}; вместо этого: {instead}"
        else:
            why = ""
        console.print(f"  • {row[HEADERS['title']]}: [{colors.get(st, 'white')}]{st}[/]{why}", soft_wrap=True)
    console.print(f"Итого — {counts_line(frame)}.")


@app.command("validate")
def validate_cmd(
    data: Path = typer.Argument(..., help="Папка с таблицами (CSV/XLSX) по контракту данных."),
    rejects: Path = typer.Option(None, "--rejects", help="Папка для файла отклонённых строк (по умолчанию ./rejects-ПАПКА)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Показывать ход работы."),
) -> None:
    """Проверить папку с данными, ничего не загружая.

    Пример: [bold]vsoko validate data_samples/municipality[/]
    """
    from .warehouse.ingest import validate_folder

    try:
        rep = validate_folder(data, rejects_dir=rejects or Path.cwd() / f"rejects-{data.resolve().name}",
                              progress=progress)
    except VsokoError as exc:
        _fail(exc)
    _print_report(rep, f"Проверка {data}")
    _print_readiness(rep.profile)


@app.command("ingest")
def ingest_cmd(
    data: Path = typer.Argument(..., help="Папка с таблицами (CSV/XLSX) по контракту данных."),
    db: Path = typer.Option(..., "--db", help="Файл хранилища DuckDB (создаётся, если его нет)."),
    rejects: Path = typer.Option(None, "--rejects", help="Папка для отклонённых строк (по умолчанию рядом с хранилищем)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Показывать ход работы."),
) -> None:
    """Проверить папку и загрузить принятые строки в хранилище.

    Повторная загрузка той же папки даёт то же хранилище; другие школы и годы не затрагиваются.

    Пример: [bold]vsoko ingest data_samples/municipality --db workspace/vsoko.duckdb[/]
    """
    from .warehouse.ingest import ingest

    try:
        rep = ingest(data, db, rejects_dir=rejects, progress=progress)
    except VsokoError as exc:
        _fail(exc)
    _print_report(rep, f"Загрузка {data} → {db}")
    _print_readiness(rep.profile)


@app.command("info")
def info_cmd(db: Path = typer.Option(..., "--db", help="Файл хранилища DuckDB.")) -> None:
    """Показать, что лежит в хранилище: школы, годы, объёмы таблиц.

    Пример: [bold]vsoko info --db workspace/vsoko.duckdb[/]
    """
    from .warehouse.store import summary

    try:
        s = summary(db)
    except VsokoError as exc:
        _fail(exc)
    t = Table(title=f"Хранилище {db}: школы и годы")
    for col in ("школа", "название", "уч. год", "классов", "учеников", "отметок", "внешних работ"):
        t.add_column(col)
    for r in s["slices"].itertuples():
        t.add_row(r.school_id, r.name, f"{r.year - 1}/{r.year}", str(r.classes), str(r.students),
                  str(r.period_marks), str(r.assessments))
    console.print(t)
    tt = Table(title="Таблицы")
    tt.add_column("таблица")
    tt.add_column("строк", justify="right")
    for r in s["tables"].itertuples():
        tt.add_row(r.table, f"{r.rows:,}".replace(",", " "))
    console.print(tt)
    console.print(f"Загрузок: {len(s['ingests'])}")


@app.command("synth")
def synth_cmd(
    out: Path = typer.Argument(..., help="Папка, куда записать таблицы муниципалитета."),
    schools: int = typer.Option(4, "--schools", help="Число школ."),
    years: int = typer.Option(4, "--years", help="Число учебных лет."),
    seed: int = typer.Option(1, "--seed", help="Зерно генератора (тот же seed — те же данные)."),
    last_year: int = typer.Option(2025, "--last-year", help="Последний учебный год (по году окончания)."),
    null: bool = typer.Option(False, "--null", help="Без заложенных эффектов (нулевой муниципалитет)."),
    gzip_: bool = typer.Option(False, "--gzip", help="Сжать таблицы (.csv.gz): так хранится учебная выборка."),
    dirty: Path = typer.Option(None, "--dirty", help="Ещё и «грязная» копия (cp1251, «;», ошибки) в эту папку."),
) -> None:
    """Сгенерировать учебный муниципалитет с известной «правдой» (truth.json).

    Пример: [bold]vsoko synth out/muni --schools 4 --years 4 --seed 1[/]
    """
    from .synth import Plants, generate_municipality

    plants = Plants.null() if null else Plants()
    generate_municipality(out, n_schools=schools, n_years=years, seed=seed, last_year=last_year, plants=plants)
    console.print(f"Муниципалитет записан в {out} (школ: {schools}, лет: {years}, seed={seed}).")
    if dirty:
        from .synth import make_dirty

        bad = make_dirty(out, dirty, seed=seed)
        console.print(f"«Грязная» копия: {dirty} (заложено ошибочных строк: {len(bad)}, список — bad_rows.csv).")
    if gzip_:
        import gzip
        import shutil

        for p in sorted(Path(out).glob("*.csv")):
            with open(p, "rb") as src, gzip.GzipFile(p.with_name(p.name + ".gz"), "wb", mtime=0) as dst:
                shutil.copyfileobj(src, dst)
            p.unlink()
        console.print("Таблицы сжаты (.csv.gz); vsoko читает их как есть.")


@app.command("import")
def import_cmd(
    profile: str = typer.Argument(..., help="Профиль выгрузки: ejournal_summary, ejournal_blocks, vpr_class_results или путь к .yaml."),
    files: list[Path] = typer.Argument(..., help="Файлы выгрузки."),
    out: Path = typer.Option(..., "--out", help="Папка таблиц по контракту (файлы дополняются)."),
    year: int = typer.Option(None, "--year", help="Учебный год по году окончания."),
    school: str = typer.Option(None, "--school", help="Код школы."),
    date: str = typer.Option(None, "--date", help="Дата работы (для ВПР), ГГГГ-ММ-ДД или ДД.ММ.ГГГГ."),
    codes: Path = typer.Option(None, "--codes", help="CSV соответствия кодов участников и student_id."),
) -> None:
    """Перевести выгрузку (сводную ведомость журнала, протокол ВПР) в таблицы контракта.

    Пример: [bold]vsoko import ejournal_summary data_samples/raw/ejournal_summary_5B.xlsx --out data --year 2025 --school S01[/]
    """
    from .importers import import_files

    opts = {k: v for k, v in {"year": year, "school": school, "date": date,
                              "codes": str(codes) if codes else None}.items() if v is not None}
    try:
        res = import_files(profile, files, out, options=opts)
    except VsokoError as exc:
        _fail(exc)
    console.print(str(res))
    if not res.ok:
        raise typer.Exit(code=1)


@app.command("run")
def run_cmd(
    db: Path = typer.Option(..., "--db", help="Файл хранилища DuckDB."),
    school: str = typer.Option(..., "--school", help="Код школы (school_id)."),
    year: int = typer.Option(..., "--year", help="Учебный год по году окончания (2025 — это 2024/2025)."),
    profile: str = typer.Option("internal", "--profile", help="public — публичная версия; internal — для администрации."),
    out: Path = typer.Option(Path("out"), "--out", help="Папка результатов; анализ ляжет в ПАПКА/школа/год."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Показывать ход работы."),
    cyclogram: Path = typer.Option(None, "--cyclogram", help="Циклограмма ВСОКО школы (YAML, формат — docs/BOOK.md); по умолчанию — встроенная."),
) -> None:
    """Выполнить все главы анализа для школы и года (papermill): находки, таблицы, план мероприятий.

    С --profile public в папке результата появляется site/ — файлы для сайта школы (HTML, PDF, XLSX).

    Пример: [bold]vsoko run --db workspace/vsoko.duckdb --school S01 --year 2025 --profile internal --out out[/]
    """
    from .pipeline.run import run_school

    try:
        res = run_school(db, school, year, profile, out, progress=progress, cyclogram=cyclogram)
    except VsokoError as exc:
        _fail(exc)
    _print_run(res)
    if not res.ok:
        raise typer.Exit(code=1)


def _print_run(res) -> None:
    t = Table(title=f"Анализ: {res.run_dir}")
    t.add_column("глава")
    t.add_column("итог")
    t.add_column("с", justify="right")
    status_ru = {"ok": "[green]готово[/]", "skipped": "[yellow]пропущено (нет анализа или данных)[/]",
                 "failed": "[red]ошибка[/]"}
    for c in res.chapters:
        t.add_row(c["title"], status_ru[c["status"]], f"{c.get('seconds', 0):.1f}")
    console.print(t)
    for c in res.failed:
        e = c["error"] or {}
        console.print(f"[red]Глава «{c['title']}» завершилась ошибкой[/] в ячейке {e.get('cell')}: "
                      f"{e.get('ename')}: {e.get('evalue')}")
    console.print(f"Находки: {res.findings_path}")
    if (res.run_dir / "site").is_dir():
        console.print(f"Файлы для сайта школы: {res.run_dir / 'site'} (что есть что — в README.txt)")


@app.command("batch")
def batch_cmd(
    db: Path = typer.Option(..., "--db", help="Файл хранилища DuckDB."),
    year: int = typer.Option(..., "--year", help="Учебный год по году окончания."),
    schools: list[str] = typer.Option(None, "--schools", help="Коды школ (по умолчанию все школы года)."),
    profile: str = typer.Option("internal", "--profile", help="public или internal."),
    out: Path = typer.Option(Path("out"), "--out", help="Папка результатов."),
    workers: int = typer.Option(2, "--workers", help="Число параллельных процессов."),
    scheduler: str = typer.Option(None, "--scheduler", help="Адрес планировщика dask.distributed (tcp://хост:порт)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Показывать ход работы."),
    cyclogram: Path = typer.Option(None, "--cyclogram", help="Циклограмма ВСОКО: файл YAML для всех школ или папка с файлами <код школы>.yaml (и default.yaml для остальных); по умолчанию — встроенная."),
) -> None:
    """Анализ всех школ года параллельно; неизменившиеся школы пропускаются (кэш по содержимому).

    Пример: [bold]vsoko batch --db workspace/vsoko.duckdb --year 2025 --workers 2 --out out[/]
    """
    from .pipeline.batch import run_batch

    try:
        res = run_batch(db, year, out, schools=schools or None, profile=profile, workers=workers,
                        scheduler=scheduler, progress=progress, cyclogram=cyclogram)
    except VsokoError as exc:
        _fail(exc)
    console.print(f"Выполнено школ: {len(res.ran)}; без изменений (из кэша): {len(res.cached)}; "
                  f"с ошибками: {len(res.failed)}")
    for school, error in res.failed.items():
        console.print(f"[red]Школа {school}:[/] {error.splitlines()[0]}")
    if res.rollup is not None:
        console.print(f"Сводка по муниципалитетам (какие находки в каком муниципалитете чаще): {res.rollup}")
    if res.rollup_error:
        console.print(f"[red]Сводку по муниципалитетам записать не удалось:[/] {res.rollup_error.splitlines()[-1]}")
    if not res.ok:
        raise typer.Exit(code=1)


@app.command("book")
def book_cmd(
    run_dir: Path = typer.Argument(..., help="Папка выполненного анализа (ПАПКА/школа/год)."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Собрать и PDF."),
    book_template: Path = typer.Option(None, "--book-template", help="Папка шаблона книги (_config.yml, _toc.yml, index.md, vsoko.css, preamble.tex); по умолчанию book/school репозитория."),
) -> None:
    """Собрать книгу отчёта (HTML и PDF) из выполненных глав, без повторного выполнения.

    Пример: [bold]vsoko book out/S01/2025[/]
    """
    from .pipeline.book import build_book

    try:
        res = build_book(run_dir, pdf=pdf, template_dir=book_template)
    except VsokoError as exc:
        _fail(exc)
    console.print(f"Книга (HTML): {res.html_index}")
    if res.pdf:
        console.print(f"Книга (PDF): {res.pdf}")
    elif pdf:
        console.print(f"[yellow]PDF не собран:[/] {res.pdf_note}")


@app.command("training")
def training_cmd(
    db: Path = typer.Option(..., "--db", help="Файл хранилища DuckDB."),
    school: str = typer.Option(..., "--school", help="Код школы (school_id)."),
    year: int = typer.Option(..., "--year", help="Учебный год по году окончания (2025 — это 2024/2025)."),
    out: Path = typer.Option(Path("out"), "--out", help="Папка результатов; книга ляжет в ПАПКА/школа/год/training."),
    profile: str = typer.Option("public", "--profile", help="public — без имён и групп меньше 5; internal — для администрации."),
    pdf: bool = typer.Option(False, "--pdf/--no-pdf", help="Собрать и PDF."),
    workers: int = typer.Option(1, "--workers", help="Число параллельных процессов."),
    book_template: Path = typer.Option(None, "--book-template", help="Папка шаблона учебной книги; по умолчанию book/training репозитория."),
) -> None:
    """Учебная книга: восемь уроков о том, как читать анализ ВСОКО, на данных школы, с упражнениями.

    Пример: [bold]vsoko training --db workspace/vsoko.duckdb --school S01 --year 2025 --out out[/]
    """
    from .pipeline.training import run_training

    try:
        res = run_training(db, school, year, out, profile=profile, pdf=pdf, workers=workers,
                           book_template=book_template)
    except VsokoError as exc:
        _fail(exc)
    for c in res.lessons:
        mark = "[green]готово[/]" if c["status"] == "ok" else f"[red]ошибка[/] {c.get('error')}"
        console.print(f"{c['title']}: {mark} ({c.get('seconds', 0):.0f} с)")
    console.print(f"Учебная книга (HTML): {res.book.html_index}")
    if res.book.pdf:
        console.print(f"Учебная книга (PDF): {res.book.pdf}")
    elif pdf:
        console.print(f"[yellow]PDF не собран:[/] {res.book.pdf_note}")
    console.print("Упражнения решаются в тетрадях: jupyter lab notebooks/training")
    if not res.ok:
        raise typer.Exit(code=1)


@app.command("municipal")
def municipal_cmd(
    db: Path = typer.Option(..., "--db", help="Файл хранилища DuckDB со всеми школами муниципалитета."),
    year: int = typer.Option(..., "--year", help="Учебный год по году окончания (2025 — это 2024/2025)."),
    out: Path = typer.Option(Path("out"), "--out", help="Папка результатов; книга ляжет в ПАПКА/муниципалитет/год/municipality."),
    profile: str = typer.Option("public", "--profile", help="public — публичная версия (по умолчанию); internal — для управления образования."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Собрать и PDF."),
    book: bool = typer.Option(True, "--book/--no-book", help="Собрать книгу."),
    workers: int = typer.Option(None, "--workers", help="Число параллельных процессов (по умолчанию — число ядер)."),
    book_template: Path = typer.Option(None, "--book-template", help="Папка шаблона книги; по умолчанию book/municipality репозитория."),
    municipality: str = typer.Option(None, "--municipality", help="Какой муниципалитет анализировать, когда в хранилище школы нескольких (регион): название из schools.municipality."),
) -> None:
    """Муниципальный анализ (МСОКО): справедливое сравнение школ, ШНОР и резильентные школы, признаки
    необъективности, восемь направлений, муниципальные решения — выводы, план мероприятий и книга.

    Пример: [bold]vsoko municipal --db workspace/vsoko.duckdb --year 2025 --out out[/]
    """
    from .pipeline.municipal import run_municipal

    try:
        res = run_municipal(db, year, out, profile=profile, book=book, pdf=pdf, workers=workers,
                            book_template=book_template, progress=True, municipality=municipality)
    except VsokoError as exc:
        _fail(exc)
    for c in res.chapters:
        mark = {"ok": "[green]готово[/]", "skipped": "[yellow]нет данных[/]"}.get(c["status"], f"[red]ошибка[/] {c.get('error')}")
        console.print(f"{c['title']}: {mark} ({c.get('seconds', 0):.0f} с)")
    console.print(f"Выводы: {res.findings_path}")
    console.print(f"План мероприятий: {res.plan_path}")
    if res.book is not None:
        console.print(f"Книга (HTML): {res.book.html_index}")
        if res.book.pdf:
            console.print(f"Книга (PDF): {res.book.pdf}")
        elif pdf:
            console.print(f"[yellow]PDF не собран:[/] {res.book.pdf_note}")
    if res.failed:
        raise typer.Exit(code=1)


@app.command("demo")
def demo_cmd(
    workspace: Path = typer.Option(Path("workspace"), "--workspace", help="Рабочая папка демонстрации."),
    school: str = typer.Option(None, "--school", help="Школа для демонстрации (по умолчанию из описания выборки)."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Собрать и PDF."),
) -> None:
    """Демонстрация целиком: учебные данные → хранилище → анализ школы (две версии) → книга.

    Пример: [bold]vsoko demo --workspace workspace[/]
    """
    from .pipeline.demo import run_demo

    try:
        run_demo(workspace, school=school, pdf=pdf, console=console)
    except VsokoError as exc:
        _fail(exc)


def main() -> None:  # pragma: no cover
    try:
        app()
    except VsokoError as exc:
        err.print(f"[bold red]Ошибка:[/] {exc}")
        sys.exit(2)
