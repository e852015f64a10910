"""The annual book: executed chapter notebooks of one run assembled by jupyter-book 1.

``build_book(RUN)`` reads ``RUN/run.json``, writes a jupyter-book project into
``RUN/book/`` (config, table of contents, a title page, copies of the executed
notebooks prepared for readers) and builds ``RUN/book/_build/html/index.html`` and,
when asked, ``RUN/book/_build/pdf/book.pdf``. Nothing is executed again
(``execute_notebooks: off``); the notebooks in ``RUN/notebooks/`` are never modified.

What readers get, and how:

- code hidden: every code cell of the copies is tagged ``remove-input`` (outputs stay);
  the papermill ``parameters`` and ``injected-parameters`` cells (the latter shows
  Cyrillic as ``\\uXXXX`` escapes) are tagged ``remove-cell``;
- a failed chapter shows a red box: which cell, which error; its text stops there,
  because what follows would rest on numbers that were not computed;
- offline: MathJax comes from the package (see :mod:`.assets`), widget, launch,
  repository, analytics and source-download features are off, so the HTML loads
  nothing from the web;
- PDF: xelatex with DejaVu fonts (Cyrillic, ₽) when TeX is installed, otherwise
  headless Chromium prints the single-page HTML; ``pdf_note`` says which, or why none.

Examples
--------
>>> from vsoko_toolkit.pipeline.book import build_book
>>> res = build_book("workspace/S01/2025", pdf=True)  # doctest: +SKIP
>>> res.html_index, res.pdf, res.pdf_note  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Literal

import nbformat
import yaml

from ..errors import VsokoError, check_option
from .assets import asset_text, copy_mathjax

# jupyter-book 1's default extensions less sphinx_thebe (its pages embed a CDN address of
# thebe and a Binder config) and intersphinx (nothing to do offline); sphinx_comments stays:
# jupyter-book always passes it a config, and with comments off it adds nothing
SPHINX_EXTENSIONS = ("sphinx_togglebutton", "sphinx_copybutton", "myst_nb", "jupyter_book",
                     "sphinx_comments", "sphinx_external_toc", "sphinx_design", "sphinx_book_theme")
PdfEngine = Literal["auto", "xelatex", "chromium"]
PROFILE_LABELS = {"public": "публичная версия", "internal": "для администрации школы"}
STATUSES = ("ok", "failed", "skipped")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Sphinx/jupyter-book log lines that are warnings or errors
_WARNING_LINE = re.compile(r"(WARNING|ERROR|CRITICAL|SEVERE):")


class BookError(VsokoError):
    """The book cannot be assembled or built (message in Russian)."""


@dataclass(frozen=True)
class BookResult:
    """What :func:`build_book` produced.

    Attributes
    ----------
    book_dir : the jupyter-book project (``RUN/book``).
    html_index : ``RUN/book/_build/html/index.html``.
    pdf : the PDF (``RUN/book/_build/pdf/book.pdf``) or None.
    pdf_engine : ``"xelatex"``, ``"chromium"`` or None (no PDF).
    pdf_note : in Russian: how the PDF was made, or why there is none.
    warnings : Sphinx/jupyter-book warnings of the builds, and assembly notes.
    seconds : wall time per stage (``assemble``, ``html``, ``pdf``).
    """

    book_dir: Path
    html_index: Path
    pdf: Path | None
    pdf_engine: str | None
    pdf_note: str
    warnings: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """Russian lines for the command line: where the book is, the PDF or why not."""
        lines = [f"Книга (HTML): {self.html_index}"]
        lines.append(f"PDF: {self.pdf} — {self.pdf_note}" if self.pdf else self.pdf_note)
        if self.warnings:
            lines.append(f"Предупреждения сборки ({len(self.warnings)}):")
            lines += [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def build_book(run_dir: str | Path, pdf: bool = True, *, pdf_engine: PdfEngine = "auto",
               timeout: float = 600) -> BookResult:
    """Assemble ``RUN/book`` from an executed run and build its HTML (and PDF).

    Parameters
    ----------
    run_dir : a run directory with ``run.json`` and ``notebooks/`` (``vsoko run`` output).
    pdf : also make a PDF.
    pdf_engine : ``"auto"`` (xelatex if TeX is installed, else Chromium), ``"xelatex"``
        or ``"chromium"`` (only that one; no PDF if it is missing).
    timeout : seconds allowed for each build command.

    Raises
    ------
    BookError : ``run.json`` missing or malformed, or the HTML build failed.
    """
    check_option("pdf_engine", pdf_engine, ("auto", "xelatex", "chromium"))
    run_dir = Path(run_dir).resolve()
    run = read_run(run_dir)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    book_dir = run_dir / "book"
    notes = assemble_book(run, run_dir, book_dir)
    seconds["assemble"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    warnings = list(notes) + _jupyter_book(book_dir, "html", timeout)
    seconds["html"] = time.perf_counter() - t0
    html_index = book_dir / "_build" / "html" / "index.html"
    if not html_index.is_file():
        raise BookError(f"Сборка HTML не создала {html_index}; журнал: {book_dir / '_build'}")

    pdf_path, engine, note = None, None, "PDF не запрашивался."
    if pdf:
        t0 = time.perf_counter()
        pdf_path, engine, note, pdf_warnings = _build_pdf(book_dir, pdf_engine, timeout)
        warnings += pdf_warnings
        seconds["pdf"] = time.perf_counter() - t0
    return BookResult(book_dir, html_index, pdf_path, engine, note, tuple(warnings), seconds)


# --------------------------------------------------------------------------- run.json
def read_run(run_dir: Path) -> dict:
    """Read and check ``RUN/run.json``; errors name the file and the field in Russian."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise BookError(f"Нет файла {path}: сначала выполните расчёт (vsoko run).")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BookError(f"Файл {path} повреждён: {err}") from err
    for key in ("school_id", "year", "profile", "chapters"):
        if key not in run:
            raise BookError(f"В {path} нет поля «{key}».")
    try:
        run["year"] = int(run["year"])
    except (TypeError, ValueError) as err:
        raise BookError(f"В {path} поле «year» не число: {run['year']!r}.") from err
    check_option("profile", run["profile"], PROFILE_LABELS)
    if not isinstance(run["chapters"], list) or not run["chapters"]:
        raise BookError(f"В {path} нет ни одной главы (поле «chapters»).")
    for i, ch in enumerate(run["chapters"], 1):
        if not isinstance(ch, dict) or "file" not in ch:
            raise BookError(f"В {path} у главы № {i} нет поля «file».")
        check_option(f"chapters[{i}].status", ch.get("status", "ok"), STATUSES)
    return run


def academic_year(year: int) -> str:
    """``2025`` (the year the academic year ends) -> ``"2024/2025"``."""
    return f"{year - 1}/{year}"


# --------------------------------------------------------------------------- assembly
def assemble_book(run: dict, run_dir: Path, book_dir: Path) -> list[str]:
    """Write the jupyter-book project into ``book_dir`` (replacing it); assembly notes."""
    if book_dir.exists():
        shutil.rmtree(book_dir)
    (book_dir / "chapters").mkdir(parents=True)
    notes: list[str] = []
    entries = []
    chapters = sorted(run["chapters"], key=lambda ch: "summary" not in Path(ch["file"]).stem)
    for ch in chapters:
        entry, note = _write_chapter(ch, run, run_dir, book_dir / "chapters")
        entries.append(entry)
        notes += note
    assets = book_dir / "_assets"
    assets.mkdir()
    (assets / "vsoko.css").write_text(asset_text("vsoko.css"), encoding="utf-8")
    mathjax = copy_mathjax(assets / "mathjax")
    if mathjax is None:
        notes.append("MathJax не найден в пакете: формулы будут показаны в виде LaTeX-кода.")
    _write_yaml(book_dir / "_config.yml", book_config(run, mathjax is not None))
    _write_yaml(book_dir / "_toc.yml", {"format": "jb-book", "root": "index", "chapters": entries})
    (book_dir / "index.md").write_text(title_page(run, chapters), encoding="utf-8")
    return notes


def book_config(run: dict, mathjax: bool = True) -> dict:
    """The ``_config.yml`` of the book, as data."""
    school = run.get("school_name") or run["school_id"]
    title = f"{school} — {run['book_title']}" if run.get("book_title") else (
        f"{school}: анализ за {academic_year(run['year'])} учебный год")
    author = f"{school} · {PROFILE_LABELS[run['profile']]}"
    sphinx_config = {
        "extensions": list(SPHINX_EXTENSIONS),
        "language": "ru",
        "today_fmt": "%d.%m.%Y",
        "html_static_path": ["_assets"],   # not "_static": jupyter-book would script-tag all js
        "html_css_files": ["vsoko.css"],
        "html_copy_source": False,         # no notebook sources (with removed cells) in the site
        "html_show_sourcelink": False,
        "nb_ipywidgets_js": {},            # otherwise require.js and widgets come from CDNs
        "nb_remove_code_source": True,
        "nb_output_stderr": "remove",
        "html_theme_options": {
            "use_download_button": False, "use_fullscreen_button": False,
            "use_repository_button": False, "use_issues_button": False,
            "use_edit_page_button": False, "launch_buttons": {},
            "search_bar_text": "Поиск по книге…",
        },
        "latex_elements": {"fontpkg": asset_text("preamble.tex"), "papersize": "a4paper",
                           "extraclassoptions": "openany,oneside", "fncychap": ""},
        "suppress_warnings": ["myst.domains"],   # jupyter-book's default
    }
    if mathjax:
        sphinx_config["mathjax_path"] = "mathjax/tex-chtml.js"   # relative to _static/
    return {
        "title": title,
        "author": author,
        "copyright": "",
        "logo": "",
        "only_build_toc_files": True,
        "exclude_patterns": ["_build", "_assets", "**.ipynb_checkpoints"],
        "execute": {"execute_notebooks": "off"},
        "parse": {"myst_enable_extensions": ["colon_fence", "dollarmath", "substitution"]},
        "html": {
            "favicon": "", "use_edit_page_button": False, "use_repository_button": False,
            "use_issues_button": False, "use_multitoc_numbering": False, "extra_footer": "",
            "home_page_in_navbar": True, "baseurl": "",
            "analytics": {"google_analytics_id": "", "plausible_analytics_domain": ""},
            "comments": {"hypothesis": False, "utterances": False},
        },
        "launch_buttons": {"notebook_interface": "classic", "binderhub_url": "",
                           "jupyterhub_url": "", "thebe": False, "colab_url": "",
                           "deepnote_url": ""},
        "repository": {"url": "", "path_to_book": "", "branch": ""},
        "latex": {"latex_engine": "xelatex", "use_jupyterbook_latex": False,
                  "latex_documents": {
                      "targetname": "book.tex",
                      "title": _book_title(run),
                      "author": f"{_tex(school)} \\and {PROFILE_LABELS[run['profile']]}"}},
        "sphinx": {"config": sphinx_config},
    }


def title_page(run: dict, chapters: list[dict]) -> str:
    """The title page (``index.md``): school, academic year, profile, chapter statuses."""
    failed = [ch for ch in chapters if ch.get("status") == "failed"]
    skipped = [ch for ch in chapters if ch.get("status") == "skipped"]
    lines = []
    if failed:
        names = "; ".join(f"«{_md(_chapter_title(ch))}»" for ch in failed)
        lines.append(f":::{{warning}}\nНе построены из-за ошибки расчёта ({len(failed)}): "
                     f"{names}. В этих главах указано, где и какая ошибка произошла.\n:::")
    if skipped:
        names = "; ".join(f"«{_md(_chapter_title(ch))}»" for ch in skipped)
        lines.append(f"Пропущены (анализ ещё не готов или не входит в эту версию): {names}.")
    if run.get("book_intro"):
        lines.insert(0, run["book_intro"])
    school = run.get("school_name") or run["school_id"]
    return Template(asset_text("title.md")).substitute(
        title=_book_title(run),
        school_name=_md(school),
        school_id=_md(run["school_id"]),
        academic_year=academic_year(run["year"]),
        profile_label=PROFILE_LABELS[run["profile"]],
        built_on=_dt.date.today().strftime("%d.%m.%Y"),
        status_note="\n\n".join(lines),
    )


def _book_title(run: dict) -> str:
    """The book's title: ``run["book_title"]`` (e.g. the training book's) or the annual analysis's."""
    return run.get("book_title") or f"Анализ работы школы за {academic_year(run['year'])} учебный год"


def _write_chapter(ch: dict, run: dict, run_dir: Path, dest: Path) -> tuple[dict, list[str]]:
    """Copy one chapter into the book, prepared for readers; its toc entry and notes."""
    src = run_dir / ch["file"]
    status = ch.get("status", "ok")
    stem = Path(ch["file"]).stem
    title = _chapter_title(ch)
    entry = {"file": f"chapters/{stem}", "title": title}
    if not src.is_file():
        if status == "ok":
            status, ch = "failed", {**ch, "error": {"evalue": f"нет файла {ch['file']}"}}
        text = f"# {_md(title)}\n\n" + (
            _failure_box(ch, None, run["profile"]) if status == "failed"
            else "Эта глава в этом расчёте пропущена: анализ для неё ещё не готов.\n")
        (dest / f"{stem}.md").write_text(text, encoding="utf-8")
        return entry, [f"Глава «{title}»: файл {ch['file']} не найден, вставлена заглушка."]
    try:
        nb = nbformat.read(src, as_version=4)
    except Exception as err:  # noqa: BLE001 - any unreadable notebook becomes a failed chapter
        failed = {**ch, "error": {"ename": type(err).__name__, "evalue": str(err)}}
        text = f"# {_md(title)}\n\n" + _failure_box(failed, None, run["profile"])
        (dest / f"{stem}.md").write_text(text, encoding="utf-8")
        return entry, [f"Глава «{title}»: тетрадь {ch['file']} не читается ({err})."]
    nb = prepare_notebook(nb, {**ch, "status": status}, run["profile"])
    nbformat.write(nb, dest / f"{stem}.ipynb")
    return entry, []


def prepare_notebook(nb, chapter: dict, profile: str = "public"):
    """A reader's copy of an executed notebook (the argument is not modified).

    Hides code and parameters cells, makes sure the chapter has a title, and for a
    failed chapter puts the failure box under the title and ends the text at the
    failed cell.
    """
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.metadata.pop("widgets", None)
    cells, failed_at, source_no = [], None, 0
    for cell in nb.cells:
        tags = list(cell.metadata.get("tags", []))
        if "papermill-error-cell-tag" in tags:
            continue
        if "injected-parameters" not in tags:
            source_no += 1   # numbering as in the chapter's own notebook (no injected cell)
        if cell.cell_type == "code":
            hide = "remove-cell" if {"parameters", "injected-parameters"} & set(tags) else (
                "remove-input")
            cell.metadata["tags"] = [*tags, hide] if hide not in tags else tags
            if failed_at is None and any(o.get("output_type") == "error" for o in cell.outputs):
                failed_at = (len(cells), source_no, cell)
        cells.append(cell)
    if not _has_title(cells):
        cells.insert(0, nbformat.v4.new_markdown_cell(f"# {_md(_chapter_title(chapter))}"))
        if failed_at is not None:
            failed_at = (failed_at[0] + 1, *failed_at[1:])
    if chapter.get("status") == "failed":
        cells = _cut_at_failure(cells, chapter, failed_at, profile)
    nb.cells = cells
    return nb


def _cut_at_failure(cells: list, chapter: dict, failed_at, profile: str) -> list:
    """Failure box under the title; text up to the failed cell; a note where it stopped."""
    title_at = next(i for i, c in enumerate(cells) if c.cell_type == "markdown"
                    and _TITLE.search(c.source))
    if failed_at is None:
        kept = cells[:title_at + 1]
        return [*kept, nbformat.v4.new_markdown_cell(_failure_box(chapter, None, profile))]
    index, number, cell = failed_at
    error = next(o for o in cell.outputs if o.get("output_type") == "error")
    cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"]
    known = {"ename": error.get("ename", ""), "evalue": error.get("evalue", ""),
             "traceback": error.get("traceback", [])}
    given = {k: v for k, v in (chapter.get("error") or {}).items() if v not in (None, "")}
    chapter = {**chapter, "error": {**known, **given}}
    box = nbformat.v4.new_markdown_cell(_failure_box(chapter, (number, cell), profile))
    stop = nbformat.v4.new_markdown_cell(
        ":::{note}\nЗдесь расчёт главы остановился. Остальная часть главы не показана: "
        "она опирается на результаты, которые не были вычислены.\n:::")
    if index < title_at:   # the failure happened before the title: keep the title only
        return [*cells[:index + 1], cells[title_at], box, stop]
    return [*cells[:title_at + 1], box, *cells[title_at + 1:index + 1], stop]


def _failure_box(chapter: dict, failed_cell, profile: str) -> str:
    """MyST for the red box of a failed chapter: which cell, which error."""
    err = chapter.get("error") or {}
    ename, evalue = err.get("ename") or "", err.get("evalue") or ""
    where = ""
    if failed_cell is not None:
        number, cell = failed_cell
        first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
        run_no = f"выполнение [{cell.execution_count}], " if cell.get("execution_count") else ""
        where = (f"Ошибка в ячейке № {number} тетради `{Path(chapter['file']).name}` "
                 f"({run_no}первая строка кода: `{_code(first.strip())[:80]}`).")
    elif err.get("cell") is not None:
        where = f"Ошибка в ячейке № {err['cell']} тетради `{Path(chapter['file']).name}`."
    what = f"{ename}: {evalue}" if ename else (evalue or "причина не записана")
    # {error} rather than a titled admonition: it is red in the PDF too
    text = [":::{error}\n**Глава не построена: ошибка расчёта.**", where,
            f"Ошибка: `{_code(what)}`."]
    text.append("Исправьте причину (данные или код анализа) и выполните расчёт заново; "
                "подробности — в исполненной тетради в папке расчёта.")
    tb = err.get("traceback")
    if tb and profile == "internal":
        tb_text = _ANSI.sub("", "\n".join(tb) if isinstance(tb, list) else str(tb))
        text.append(f"\n```text\n{tb_text[-3000:]}\n```")
    text.append(":::")
    return "\n\n".join(t for t in text if t) + "\n"


_TITLE = re.compile(r"^#\s+\S", re.MULTILINE)


def _has_title(cells: list) -> bool:
    return any(c.cell_type == "markdown" and _TITLE.search(c.source) for c in cells)


def _chapter_title(ch: dict) -> str:
    return ch.get("title") or Path(ch["file"]).stem


def _md(text: str) -> str:
    """Escape Markdown punctuation in plain text (school names, titles)."""
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", str(text))


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}


def _tex(text: str) -> str:
    """Escape LaTeX specials in plain text (the school name on the PDF title page)."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))


def _code(text: str) -> str:
    return str(text).replace("`", "'").replace("\n", " ")[:500]


def _write_yaml(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


# --------------------------------------------------------------------------- builds
def _jupyter_book(book_dir: Path, builder: str, timeout: float) -> list[str]:
    """Run ``jupyter-book build --builder builder``; its warnings. BookError if it fails."""
    code = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"
    cmd = [sys.executable, "-c", code, "build", str(book_dir), "--builder", builder]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    log = book_dir / "_build" / f"{builder}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=book_dir)
    except subprocess.TimeoutExpired as err:
        raise BookError(f"Сборка книги ({builder}) не уложилась в {timeout:.0f} с.") from err
    output = proc.stdout + proc.stderr
    log.write_text(output, encoding="utf-8")
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise BookError(f"Сборка книги ({builder}) завершилась с ошибкой; журнал: {log}\n{tail}")
    return [_ANSI.sub("", ln).strip() for ln in output.splitlines() if _WARNING_LINE.search(ln)]


def _build_pdf(book_dir: Path, engine: PdfEngine, timeout: float):
    """(pdf path or None, engine or None, note in Russian, warnings)."""
    out_dir = book_dir / "_build" / "pdf"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "book.pdf"
    reasons = []
    if engine in ("auto", "xelatex"):
        missing = [tool for tool in ("xelatex", "latexmk") if shutil.which(tool) is None]
        if missing:
            reasons.append(f"TeX не установлен (нет {', '.join(missing)})")
        else:
            try:
                warnings = _jupyter_book(book_dir, "pdflatex", timeout)
                built = book_dir / "_build" / "latex" / "book.pdf"
                if built.is_file():
                    shutil.copy2(built, target)
                    return target, "xelatex", "PDF собран через XeLaTeX (шрифты DejaVu).", warnings
                reasons.append("XeLaTeX не создал PDF (журнал: _build/latex/book.log)")
            except BookError as err:
                reasons.append(f"XeLaTeX завершился с ошибкой ({str(err).splitlines()[0]})")
    if engine in ("auto", "chromium"):
        chromium = find_chromium()
        if chromium is None:
            reasons.append("Chromium не установлен")
        else:
            warnings = _jupyter_book(book_dir, "singlehtml", timeout)
            html = book_dir / "_build" / "singlehtml" / "index.html"
            ok, why = print_to_pdf(chromium, html, target, timeout)
            if ok:
                note = "PDF напечатан из HTML через Chromium"
                if reasons:
                    note += f", потому что {'; '.join(reasons)}"
                return target, "chromium", note + ".", warnings
            reasons.append(f"Chromium не напечатал PDF ({why})")
    how = ("установите TeX: sudo scripts/install_system_deps.sh tex "
           "(или apt-get install texlive-xetex texlive-lang-cyrillic "
           "texlive-fonts-recommended texlive-latex-extra latexmk fonts-dejavu)")
    return None, None, f"PDF не собран: {'; '.join(reasons)}. Чтобы получить PDF, {how}.", []


def find_chromium() -> str | None:
    """Path of a Chromium binary (``$VSOKO_CHROMIUM`` or Debian's ``chromium``), or None."""
    for name in (os.environ.get("VSOKO_CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


CHROMIUM_FLAGS = ("--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--disable-extensions")


def chromium_flags() -> list[str]:
    """Offline headless flags; ``--no-sandbox`` only when running as root (Chromium demands it)."""
    flags = list(CHROMIUM_FLAGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")
    return flags


def print_to_pdf(chromium: str, html: Path, target: Path, timeout: float) -> tuple[bool, str]:
    """Headless Chromium's print-to-PDF of a local HTML file; (ok, reason if not)."""
    with tempfile.TemporaryDirectory(prefix="vsoko-chromium-") as profile:
        cmd = [chromium, *chromium_flags(), f"--user-data-dir={profile}",
               "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
               "--virtual-time-budget=10000", f"--print-to-pdf={target}", html.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"не уложился в {timeout:.0f} с"
    if target.is_file() and target.stat().st_size > 0:
        return True, ""
    return False, (proc.stderr.strip().splitlines() or ["код " + str(proc.returncode)])[-1]
