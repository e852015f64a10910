"""`vsoko run --profile public` also writes ``RUN/site/``: files ready to put on the school's site.

::

    site/samoobsledovanie.html, .pdf          the self-examination section (Приказ № 1324 indicators, chapter 08)
    site/itogi_goda.html, .pdf                the public summary: key problems and decisions, strengths
    site/pokazateli_samoobsledovaniya.xlsx    the indicators (units; «нет данных» and hidden rows marked)
    site/README.txt                           what each file is (Russian), and why a PDF is missing if it is

Only what the public run already wrote is read (chapter 08's privacy-filtered table and the public
``findings.json``), so the site holds nothing the public book does not. PDFs are printed from the HTML
by headless Chromium (:func:`vsoko_toolkit.pipeline.book.print_to_pdf`, the book's own machinery); without
Chromium the HTML and XLSX are still written and README.txt says why there is no PDF.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..report import site as rs

SITE_DIR = "site"
SELF_EXAMINATION = "samoobsledovanie"
SUMMARY = "itogi_goda"
XLSX = "pokazateli_samoobsledovaniya.xlsx"
INDICATOR_TABLE = Path("tables") / "self_examination.csv"


@dataclass
class SiteResult:
    site_dir: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # Russian: what is missing and why


def publish_site(run_dir, pdf: bool = True, timeout: float = 120) -> SiteResult:
    """Write ``RUN/site/`` from a finished public run (``run.json``, ``findings.json``, chapter 08's table)."""
    from .book import find_chromium, print_to_pdf

    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    if run.get("profile") != "public":
        from ..errors import VsokoError

        raise VsokoError("Файлы для сайта школы готовятся только из публичной версии (vsoko run --profile public).")
    name, year = run.get("school_name") or str(run["school_id"]), int(run["year"])
    out = run_dir / SITE_DIR
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    res = SiteResult(out)
    pages = []
    table_path = run_dir / INDICATOR_TABLE
    if table_path.is_file():
        table = rs.read_indicator_table(table_path)
        pages.append((SELF_EXAMINATION, rs.self_examination_html(table, name, year)))
        res.files.append(rs.indicators_xlsx(table, out / XLSX, name, year))
    else:
        res.notes.append("Раздел самообследования и XLSX показателей не сформированы: глава «Показатели "
                         "самообследования» не записала таблицу (см. run.json и журнал главы).")
    doc = json.loads((run_dir / "findings.json").read_text(encoding="utf-8"))
    pages.append((SUMMARY, rs.public_summary_html(doc, name, year)))
    chromium = find_chromium() if pdf else None
    if pdf and chromium is None:
        res.notes.append("PDF не напечатаны: Chromium не установлен (sudo scripts/install_system_deps.sh "
                         "или apt-get install chromium); HTML-файлы можно напечатать в PDF из браузера.")
    for stem, text in pages:
        page = out / f"{stem}.html"
        page.write_text(text, encoding="utf-8")
        res.files.append(page)
        if chromium is not None:
            ok, why = print_to_pdf(chromium, page, out / f"{stem}.pdf", timeout)
            if ok:
                res.files.append(out / f"{stem}.pdf")
            else:
                res.notes.append(f"PDF {stem}.pdf не напечатан: {why}.")
    readme = out / "README.txt"
    readme.write_text(_readme(res, name, year), encoding="utf-8")
    res.files.append(readme)
    return res


def _readme(res: SiteResult, name: str, year: int) -> str:
    from ..report.text import academic_year

    what = {f"{SELF_EXAMINATION}.html": "отчёт о самообследовании: показатели приказа № 1324 (раздел для сайта)",
            f"{SELF_EXAMINATION}.pdf": "то же для печати и размещения файлом",
            f"{SUMMARY}.html": "публичные итоги года: ключевые проблемы, решения, сильные стороны",
            f"{SUMMARY}.pdf": "то же для печати и размещения файлом",
            XLSX: "показатели самообследования таблицей (единицы измерения, строки «нет данных» отмечены)"}
    lines = [f"Файлы для сайта школы: {name}, {academic_year(year)} учебный год.",
             "Публичная версия: без имён, без кодов учеников, без групп меньше 5 человек.", ""]
    lines += [f"{p.name} — {what[p.name]}" for p in res.files if p.name in what]
    if res.notes:
        lines += ["", "Замечания:"] + [f"- {n}" for n in res.notes]
    return "\n".join(lines) + "\n"
