"""The annual book (vsoko_toolkit.pipeline.book) built from a synthetic executed run.

The run is made here: three small chapter notebooks executed with papermill (Russian
narrative, a matplotlib figure with a Cyrillic title, glued numbers referenced with
``{glue:text}``, a formula, a table with the rouble sign), one of them failing in its
fourth cell, plus a skipped chapter without a notebook. The book is built once per
session (HTML and PDF) and the tests read what it produced.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
import yaml

from vsoko_toolkit.errors import OptionError
from vsoko_toolkit.pipeline.book import (
    BookError,
    _build_pdf,
    build_book,
    find_chromium,
    prepare_notebook,
    read_run,
)

SCHOOL = "МБОУ «СОШ № 1» г. Энска"
PARAMS = 'school_id: str = "S00"  # школа\nschool_name: str = "Школа"\nyear: int = 2025'
CHAPTERS = {
    "01_summary": ("Сводка ключевых проблем", [
        ("md", "# Сводка ключевых проблем\n\nДоля неуспевающих составила "
               "{glue:text}`share_low:.1f` % — главный вывод года.\n\n"
               "Средний балл: $\\bar x = \\frac{1}{n}\\sum_i x_i$."),
        ("code", "from myst_nb import glue\nglue('share_low', 12.345, display=False)"),
        ("code", "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(5, 3))\n"
                 "ax.bar(['5А', '6Б', '7В'], [4.1, 3.8, 3.5])\n"
                 "ax.set_title('Средний балл по классам')\nplt.show()"),
    ]),
    "02_results": ("Результаты и их динамика", [
        ("md", "# Результаты и их динамика\n\nВ школе учится {glue:text}`n_students` "
               "обучающихся; стоимость питания — 100 ₽."),
        ("code", "from myst_nb import glue\nimport pandas as pd\n"
                 "glue('n_students', 412, display=False)\n"
                 "pd.DataFrame({'Класс': ['5А', '6Б'], 'Средний балл': [4.1, 3.8]})"),
    ]),
    "03_external": ("Внешние оценки и объективность", [
        ("md", "# Внешние оценки и объективность\n\nСравнение отметок с ВПР."),
        ("code", "x = 1"),
        ("code", "y = x / 0  # сбой"),
        ("md", "Расхождение составило {glue:text}`gap`."),
    ]),
}


def _notebook(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(src) if kind == "code"
                           else nbformat.v4.new_markdown_cell(src) for kind, src in cells]
    return nb


def make_run_dir(run: Path, profile: str = "internal") -> Path:
    """A run directory as ``vsoko run`` writes it (executed notebooks + run.json)."""
    import papermill as pm

    (run / "notebooks").mkdir(parents=True)
    source = run.parent / f"_{run.name}_source"
    source.mkdir()
    chapters = []
    for name, (title, cells) in CHAPTERS.items():
        nbformat.write(_notebook(cells), source / f"{name}.ipynb")
        entry = {"file": f"notebooks/{name}.ipynb", "title": title, "status": "ok"}
        try:
            pm.execute_notebook(source / f"{name}.ipynb", run / entry["file"],
                                parameters={"school_id": "S01", "school_name": SCHOOL,
                                            "year": 2025},
                                progress_bar=False, log_output=False, kernel_name="python3")
        except pm.PapermillExecutionError as err:
            entry["status"] = "failed"
            entry["error"] = {"cell": err.cell_index, "ename": err.ename, "evalue": err.evalue}
        chapters.append(entry)
    chapters.append({"file": "notebooks/07_risk_groups.ipynb", "title": "Группы риска",
                     "status": "skipped"})
    # the summary is listed last on purpose: the book must still put it first
    chapters = chapters[1:] + chapters[:1]
    run_json = {"school_id": "S01", "school_name": SCHOOL, "year": 2025, "profile": profile,
                "chapters": chapters}
    (run / "run.json").write_text(json.dumps(run_json, ensure_ascii=False, indent=1),
                                  encoding="utf-8")
    (run / "findings.json").write_text("[]", encoding="utf-8")
    return run


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


_BUILT: dict[str, tuple] = {}


def built_book(tmp_path_factory) -> tuple:
    """(run dir, BookResult, digests of the source notebooks), built once per process.

    Shared with test_book_browser.py, so that one pytest process builds one book.
    """
    if "run" not in _BUILT:
        run = make_run_dir(tmp_path_factory.mktemp("book") / "S01" / "2025")
        before = _digest(run / "notebooks")
        _BUILT["run"] = (run, build_book(run, pdf=True), before)
    return _BUILT["run"]


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    return built_book(tmp_path_factory)


def _html(res, name: str) -> str:
    return (res.html_index.parent / name).read_text(encoding="utf-8")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --------------------------------------------------------------------------- project
def test_book_project_is_offline_and_not_executed(built):
    run, res, _ = built
    cfg = yaml.safe_load((res.book_dir / "_config.yml").read_text(encoding="utf-8"))
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert cfg["sphinx"]["config"]["language"] == "ru"
    assert cfg["latex"] == {**cfg["latex"], "latex_engine": "xelatex",
                            "use_jupyterbook_latex": False}
    assert cfg["sphinx"]["config"]["mathjax_path"] == "mathjax/tex-chtml.js"
    assert "sphinx_thebe" not in cfg["sphinx"]["config"]["extensions"]
    assert (res.html_index.parent / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert not (res.book_dir / "_static").exists()   # jupyter-book would script-tag its js


def test_summary_first_then_run_order(built):
    _, res, _ = built
    toc = yaml.safe_load((res.book_dir / "_toc.yml").read_text(encoding="utf-8"))
    assert [c["file"] for c in toc["chapters"]] == [
        "chapters/01_summary", "chapters/02_results", "chapters/03_external",
        "chapters/07_risk_groups"]


def test_source_notebooks_untouched(built):
    run, _, before = built
    assert _digest(run / "notebooks") == before


def test_normal_build_has_no_sphinx_warnings(built):
    _, res, _ = built
    assert [w for w in res.warnings if "WARNING" in w or "ERROR" in w] == []
    # the only note: the skipped chapter has no notebook
    assert len(res.warnings) == 1 and "Группы риска" in res.warnings[0]


# --------------------------------------------------------------------------- HTML content
def test_title_page(built):
    _, res, _ = built
    text = _text(_html(res, "index.html"))
    assert "Анализ работы школы за 2024/2025 учебный год" in text
    assert "МБОУ «СОШ № 1» г. Энска" in text
    assert "для администрации школы" in text
    assert "Внешние оценки и объективность" in text   # named as failed on the title page


def test_glued_numbers_in_chapters(built):
    _, res, _ = built
    assert "Доля неуспевающих составила 12.3 %" in _text(_html(res, "chapters/01_summary.html"))
    assert "В школе учится 412 обучающихся" in _text(_html(res, "chapters/02_results.html"))


def test_code_and_parameters_hidden(built):
    _, res, _ = built
    for page in (res.html_index.parent / "chapters").glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "cell_input" not in html, page.name
        for code in ("glue(", "plt.subplots", "# Parameters", "school_name", "\\u041c"):
            assert code not in html, (page.name, code)
    assert not (res.html_index.parent / "_sources").exists()


def test_figure_and_table_rendered(built):
    _, res, _ = built
    summary = _html(res, "chapters/01_summary.html")
    (img,) = re.findall(r'<img[^>]+src="([^"]+)"', summary)
    assert (res.html_index.parent / "chapters" / img).resolve().stat().st_size > 1000
    results = _html(res, "chapters/02_results.html")
    assert "<table" in results and "Средний балл" in results


def test_failed_chapter_shows_cell_and_error(built):
    _, res, _ = built
    text = _text(_html(res, "chapters/03_external.html"))
    assert "Глава не построена" in text
    assert "ячейке № 4" in text and "y = x / 0" in text
    assert "ZeroDivisionError: division by zero" in text
    assert "Сравнение отметок с ВПР" in text           # the text before the failure stays
    assert "Расхождение составило" not in text         # what rests on missing numbers goes


def test_skipped_chapter_without_notebook_says_so(built):
    _, res, _ = built
    assert "пропущена" in _text(_html(res, "chapters/07_risk_groups.html"))


class _Loads(HTMLParser):
    """Collects what a page would load (scripts, styles, images, frames) and inline scripts."""

    def __init__(self):
        super().__init__()
        self.loads: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video", "embed") and a.get(
                "src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href"):
            self.loads.append(a["href"])
        if tag == "object" and a.get("data"):
            self.loads.append(a["data"])
        self._in_script = tag == "script" and not a.get("src")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline.append(data)


# URL strings allowed inside local JS files: XML namespaces and documentation links in
# messages, never fetched; MathJax's speech-rule-engine and IE fallbacks (only used when a
# reader enables speech in its menu, and then loaded from the local mathjax folder in a
# modern browser) are the vendored file's own
_JS_URL_OK = re.compile(r"https?://(www\.w3\.org/|www\.mathjax\.org|www\.sphinx-doc\.org/|"
                        r"developer\.mozilla\.org/|pydata-sphinx-theme\.readthedocs\.io/|"
                        r"clipboardjs\.com/|snowballstem\.org/)")
_JS_URL_MATHJAX = re.compile(r"https://cdn\.jsdelivr\.net/npm/(speech-rule-engine|"
                             r"sre-mathmaps-ie|wicked-good-xpath)@")


def test_no_remote_resources_in_html(built):
    _, res, _ = built
    root = res.html_index.parent
    for page in root.rglob("*.html"):
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        remote = [u for u in parser.loads if urlparse(u).scheme not in ("", "file", "data")
                  or u.startswith("//")]
        assert remote == [], page
        inline = [u for s in parser.inline for u in re.findall(r"https?://[^\s\"']+", s)]
        assert inline == [], page
    for css in root.rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import\s+url\(\s*['\"]?https?:",
                             css.read_text(encoding="utf-8", errors="replace")), css
    for js in root.rglob("*.js"):
        text = js.read_text(encoding="utf-8", errors="replace")
        urls = re.findall(r"https?://[^\s\"'`)]+", text)
        bad = [u for u in urls if not _JS_URL_OK.match(u) and not (
            js.parent.name == "mathjax" and _JS_URL_MATHJAX.match(u))]
        assert bad == [], (js, bad[:5])


# --------------------------------------------------------------------------- PDF
def _pdf_text(path: Path) -> str:
    pypdf = pytest.importorskip("pypdf", reason="pypdf нужен, чтобы прочитать текст PDF")
    return " ".join(p.extract_text() or "" for p in pypdf.PdfReader(path).pages)


def _assert_russian_pdf(path: Path):
    text = re.sub(r"\s+", " ", _pdf_text(path))
    assert "Сводка ключевых проблем" in text
    assert "2024/2025" in text
    assert "12.3" in text and "412" in text
    assert "₽" in text
    assert "ZeroDivisionError" in text


def test_pdf_with_cyrillic(built):
    _, res, _ = built
    if res.pdf is None:
        pytest.skip(f"нет ни TeX, ни Chromium: {res.pdf_note}")
    assert res.pdf == res.book_dir / "_build" / "pdf" / "book.pdf"
    assert res.pdf_engine == ("xelatex" if shutil.which("xelatex") and shutil.which("latexmk")
                              else "chromium")
    _assert_russian_pdf(res.pdf)


def test_pdf_fallback_prints_html_with_chromium(built, tmp_path):
    if find_chromium() is None:
        pytest.skip("Chromium не установлен (scripts/install_system_deps.sh chromium)")
    _, res, _ = built
    book = tmp_path / "book"
    shutil.copytree(res.book_dir, book, ignore=shutil.ignore_patterns("_build"))
    pdf, engine, note, warnings = _build_pdf(book, "chromium", timeout=300)
    assert engine == "chromium" and pdf is not None, note
    assert "Chromium" in note and warnings == []
    _assert_russian_pdf(pdf)


# --------------------------------------------------------------------------- units
def test_run_json_errors_in_russian(tmp_path):
    with pytest.raises(BookError, match="Нет файла .*run.json"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps(
        {"school_id": "S01", "year": 2025, "profile": "секрет", "chapters": [{"file": "a"}]}))
    with pytest.raises(OptionError, match="Допустимые значения: public, internal"):
        read_run(tmp_path)


def test_prepare_notebook_without_error_output_and_public_traceback():
    nb = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell('school_name = "\\u041c"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [injected, nbformat.v4.new_markdown_cell("Текст без заголовка {glue:text}`a`")]
    chapter = {"file": "notebooks/05_causes.ipynb", "title": "Причины", "status": "failed",
               "error": {"cell": 3, "ename": "DeadKernelError", "evalue": "ядро остановилось",
                         "traceback": ["секретная строка"]}}
    out = prepare_notebook(nb, chapter, profile="public")
    assert out.cells[0].source == "# Причины"
    box = out.cells[-1].source
    assert "ячейке № 3" in box and "DeadKernelError: ядро остановилось" in box
    assert "секретная строка" not in box
    assert not any("glue" in c.source for c in out.cells)   # text after the title dropped
    assert nb.cells[0].metadata["tags"] == ["injected-parameters"]   # input not modified


def test_no_pdf_engine_says_why_and_how(built, monkeypatch):
    _, res, _ = built
    monkeypatch.setattr(shutil, "which", lambda name: None)
    pdf, engine, note, _ = _build_pdf(res.book_dir, "auto", timeout=60)
    assert pdf is None and engine is None
    assert "TeX не установлен" in note and "Chromium не установлен" in note
    assert "install_system_deps.sh" in note
    assert "PDF" in res.summary() and str(res.html_index) in res.summary()


def test_tables_reach_the_pdf_as_latex_not_as_formulas():
    """myst-nb renders a table's text/latex as a display formula, where a longtable stops XeLaTeX (the school book
    then fell back to a Chromium PDF); the book's extension turns it into raw LaTeX, and every book loads it."""
    from docutils import nodes
    from docutils.utils import new_document

    from vsoko_toolkit.pipeline import sphinx_tables
    from vsoko_toolkit.pipeline.book import TABLES_EXTENSION, book_config

    doc = new_document("x")
    doc += nodes.math_block("", "{\\footnotesize\n\\begin{longtable}{ll}a & b \\\\\n\\end{longtable}}")
    doc += nodes.math_block("", "x^2")
    sphinx_tables.raw_tables(None, doc, "x")
    kinds = [(type(n).__name__, n.get("format")) for n in doc.children]
    assert kinds == [("raw", "latex"), ("math_block", None)]
    cfg = book_config({"school_id": "S01", "year": 2025, "profile": "public"})
    assert TABLES_EXTENSION in cfg["sphinx"]["config"]["extensions"]
