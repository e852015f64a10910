"""The public build on the sample municipality: no names, no student ids, no small groups — anywhere.

Builds the public book (HTML and PDF) for the demo school and scans every
output file — HTML pages and the search index, the PDF's text, CSV tables,
the XLSX action plan, findings.json — for every student and teacher name and
every raw student id of the input. Vendored third-party assets (the theme's
and MathJax's scripts and fonts) are not outputs of the data and are not scanned.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import openpyxl
import pytest

from vsoko_toolkit import ingest
from vsoko_toolkit.pipeline.book import build_book
from vsoko_toolkit.pipeline.demo import demo_school, sample_folder
from vsoko_toolkit.pipeline.run import run_school

SKIP_DIRS = {"_static", "_assets", "_sphinx_design_static"}


@pytest.fixture(scope="module")
def public_run(tmp_path_factory):
    ws = tmp_path_factory.mktemp("public")
    folder = sample_folder(ws)
    ingest(folder, ws / "w.duckdb")
    school, year = demo_school(folder, ws / "w.duckdb")
    res = run_school(ws / "w.duckdb", school, year, "public", ws / "out")
    book = build_book(res.run_dir, pdf=True)
    return folder, res, book


def _texts(run_dir: Path):
    for p in sorted(run_dir.rglob("*")):
        if not p.is_file() or SKIP_DIRS & set(p.parts) or "notebooks" in p.parts or ".doctrees" in p.parts:
            continue
        if p.suffix in (".html", ".js", ".csv", ".json", ".md", ".txt", ".tex"):
            yield p, p.read_text(encoding="utf-8", errors="replace")
        elif p.suffix == ".xlsx":
            wb = openpyxl.load_workbook(p, read_only=True)
            yield p, "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                               for v in row if v is not None)
        elif p.suffix == ".pdf":
            from pypdf import PdfReader

            yield p, "\n".join(page.extract_text() or "" for page in PdfReader(p).pages)


def _column(folder: Path, table: str, col: str) -> set[str]:
    import pandas as pd

    path = next(folder.glob(f"{table}.csv*"))
    return set(pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")[col]) - {""}


def find_leaks(texts, names: set[str], ids: set[str]) -> tuple[int, list]:
    """(files scanned, leaks): a full name or its "Фамилия Имя" start, or a raw id as a whole token."""
    patterns = names | {" ".join(n.split()[:2]) for n in names}
    id_re = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(ids, key=len, reverse=True))) + r")(?![\w.])")
    scanned, leaks = 0, []
    for path, text in texts:
        scanned += 1
        leaks += [(path.name, n) for n in patterns if n in text]
        leaks += [(path.name, m.group(1)) for m in id_re.finditer(text)]
    return scanned, leaks


def people(folder: Path) -> tuple[set[str], set[str]]:
    names = _column(folder, "students", "full_name") | _column(folder, "teachers", "full_name")
    return names, _column(folder, "students", "student_id")


def test_public_outputs_hold_no_names_and_no_student_ids(public_run):
    folder, res, book = public_run
    scanned, leaks = find_leaks(_texts(res.run_dir), *people(folder))
    assert scanned > 20 and book.html_index.exists()
    assert not leaks, leaks[:10]


def test_public_tables_suppress_groups_under_5(public_run):
    _, res, _ = public_run
    for p in (res.run_dir / "tables").glob("*.csv"):
        with open(p, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for col in ("n", "n_numeric", "n_students"):
                    if row.get(col) not in (None, ""):
                        assert float(row[col]) == 0 or float(row[col]) >= 5, (p.name, row)
                assert not {"student_id", "full_name", "teacher_id"} & set(row)


def test_results_chapter_renders_without_placeholders(public_run):
    _, res, _ = public_run
    html = (res.run_dir / "book" / "_build" / "html" / "chapters" / "03_results.html").read_text(encoding="utf-8")
    assert "Результаты обучения" in html and "{glue" not in html and "глю" not in html
    assert re.search(r"успеваемость по годовым отметкам — <strong>[\d,]+\s%", html.replace("\xa0", " ")) or \
        re.search(r"успеваемость по годовым отметкам — .{0,80}\d+,\d", html)


def test_the_scan_finds_a_planted_leak(public_run, tmp_path):
    """Positive control: the same scan flags a name and an id written into an output file."""
    folder, _, _ = public_run
    names, ids = people(folder)
    name, sid = sorted(names)[0], sorted(ids)[0]
    (tmp_path / "leak.html").write_text(f"<p>{name}</p><td>{sid}</td>", encoding="utf-8")
    _, leaks = find_leaks(_texts(tmp_path), names, ids)
    assert ("leak.html", name) in leaks and ("leak.html", sid) in leaks


def test_public_tables_do_not_identify_teachers(public_run):
    _, res, _ = public_run
    import pandas as pd

    for p in (res.run_dir / "tables").glob("*.csv"):
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        for kind_col, id_col in (("level", "target_id"), ("unit_type", "unit_id"), ("target_type", "target_id")):
            if kind_col in df and id_col in df:
                assert (df.loc[df[kind_col] == "teacher", id_col] == "").all(), p.name
