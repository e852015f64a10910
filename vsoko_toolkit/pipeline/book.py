"""The annual book: executed chapter notebooks of one run assembled by jupyter-book 1.

``build_book(RUN)`` reads ``RUN/run.json``, copies the book's template (the repository's
``book/<kind>/``: ``_config.yml``, ``_toc.yml``, the title page ``index.md``, ``vsoko.css``,
``preamble.tex``; see :func:`find_template`) into ``RUN/book/``, fills it with the run's
values (:data:`PIPELINE_KEYS` of the config, chapter order and titles, the title page's
:data:`PLACEHOLDERS`), adds copies of the executed notebooks prepared for readers, and
builds ``RUN/book/_build/html/index.html`` and, when asked, ``RUN/book/_build/pdf/book.pdf``.
Nothing is executed again (``execute_notebooks: off``); the notebooks in ``RUN/notebooks/``
are never modified.

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
from typing import Literal

import nbformat
import yaml

from ..errors import VsokoError, check_option
from .assets import copy_mathjax

PdfEngine = Literal["auto", "xelatex", "chromium"]
PROFILE_LABELS = {"public": "публичная версия", "internal": "для администрации школы"}
STATUSES = ("ok", "failed", "skipped")
DEFAULT_TITLES = {
    "school": "Анализ работы школы за {} учебный год",
    "municipality": "Анализ муниципальной системы оценки качества образования за {} учебный год",
}

#: The editable book templates: ``book/<kind>/`` of the repository (kind = run.json's
#: ``kind``, default ``school``); a wheel installs them as data files under
#: ``<prefix>/share/vsoko_toolkit/book/<kind>/`` (pyproject ``[tool.setuptools.data-files]``).
REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "book"
INSTALLED_TEMPLATES = ("share", "vsoko_toolkit", "book")
#: What a template folder must hold.
TEMPLATE_FILES = ("_config.yml", "_toc.yml", "index.md", "vsoko.css", "preamble.tex")
#: Keys of ``_config.yml`` the pipeline sets at each build, whatever the template says
#: (dotted paths; ``html_static_path`` only gains ``_assets`` if the template dropped it).
TABLES_EXTENSION = "vsoko_toolkit.pipeline.sphinx_tables"
PIPELINE_KEYS = ("title", "author", "execute.execute_notebooks", "latex.latex_engine",
                 "latex.latex_documents", "sphinx.config.latex_elements.fontpkg",
                 "sphinx.config.mathjax_path", "sphinx.config.html_static_path")
#: The ``${name}`` placeholders of a template's ``index.md``.
PLACEHOLDERS = ("title", "school_name", "school_id", "academic_year", "year", "profile_label",
                "built_on", "book_intro", "status_note")
_KIND = re.compile(r"[a-z][a-z0-9_]*")
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
    template : the template folder the book was made from (:func:`find_template`).
    """

    book_dir: Path
    html_index: Path
    pdf: Path | None
    pdf_engine: str | None
    pdf_note: str
    warnings: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    template: Path | None = None

    def summary(self) -> str:
        """Russian lines for the command line: where the book is, the PDF or why not."""
        lines = [f"Книга (HTML): {self.html_index}"]
        lines.append(f"PDF: {self.pdf} — {self.pdf_note}" if self.pdf else self.pdf_note)
        if self.template:
            lines.append(f"Шаблон книги: {self.template}")
        if self.warnings:
            lines.append(f"Предупреждения сборки ({len(self.warnings)}):")
            lines += [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def build_book(run_dir: str | Path, pdf: bool = True, *, pdf_engine: PdfEngine = "auto",
               timeout: float = 600, template_dir: str | Path | None = None) -> BookResult:
    """Assemble ``RUN/book`` from an executed run and build its HTML (and PDF).

    Parameters
    ----------
    run_dir : a run directory with ``run.json`` and ``notebooks/`` (``vsoko run`` output).
    pdf : also make a PDF.
    pdf_engine : ``"auto"`` (xelatex if TeX is installed, else Chromium), ``"xelatex"``
        or ``"chromium"`` (only that one; no PDF if it is missing).
    timeout : seconds allowed for each build command.
    template_dir : the book's template folder (``_config.yml``, ``_toc.yml``, ``index.md``,
        ``vsoko.css``, ``preamble.tex``), or a folder like ``book/`` holding ``<kind>/``;
        default: the repository's ``book/<kind>`` (see :func:`find_template`).

    Raises
    ------
    BookError : ``run.json`` missing or malformed, no usable template, or the HTML build
        failed.
    """
    check_option("pdf_engine", pdf_engine, ("auto", "xelatex", "chromium"))
    run_dir = Path(run_dir).resolve()
    run = read_run(run_dir)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    book_dir = run_dir / "book"
    template = find_template(run.get("kind", "school"), template_dir)
    notes = assemble_book(run, run_dir, book_dir, template)
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
    return BookResult(book_dir, html_index, pdf_path, engine, note, tuple(warnings), seconds,
                      template)


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


# --------------------------------------------------------------------------- templates
def find_template(kind: str = "school", template_dir: str | Path | None = None) -> Path:
    """The template folder of a book of ``kind`` (``"school"``, ``"training"``, ...).

    Looked up in this order: ``template_dir`` if given (the folder itself, or a folder
    like ``book/`` holding ``<kind>/``); the repository's ``book/<kind>``; the copy
    installed with the package (``<prefix>/share/vsoko_toolkit/book/<kind>``, the wheel's
    data files). BookError (in Russian) if none is found or a template file is missing.
    """
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise BookError(f"Вид книги {kind!r} (поле «kind» в run.json) — не имя папки шаблона "
                        "(строчные латинские буквы, цифры, _).")
    if template_dir is not None:
        folder = Path(template_dir).expanduser().resolve()
        if not (folder / "_config.yml").is_file() and (folder / kind).is_dir():
            folder = folder / kind
        return _checked_template(folder)
    # the repository's book/ only in a source checkout (for an installed package, parents[2]
    # is site-packages)
    repo = [REPO_TEMPLATES / kind] if (REPO_TEMPLATES.parent / "pyproject.toml").is_file() else []
    candidates = list(dict.fromkeys([*repo, *_installed_templates(kind)]))
    for folder in candidates:
        if folder.is_dir():
            return _checked_template(folder)
    raise BookError(f"Шаблон книги «{kind}» не найден (искали: "
                    f"{'; '.join(str(c) for c in candidates)}). Укажите папку шаблона: "
                    "--book-template ПАПКА.")


def _installed_templates(kind: str) -> list[Path]:
    """Where a non-editable install put ``book/<kind>`` (pyproject ``data-files``)."""
    import site
    import sysconfig
    from importlib import metadata

    found = []
    for dist in metadata.distributions(name="vsoko_toolkit"):
        for f in dist.files or ():
            if tuple(f.parts[-5:]) == (*INSTALLED_TEMPLATES, kind, "_config.yml"):
                found.append(Path(dist.locate_file(f)).resolve().parent)
    for base in (sysconfig.get_path("data"), site.getuserbase()):
        found.append(Path(base, *INSTALLED_TEMPLATES, kind))
    return found


def _checked_template(folder: Path) -> Path:
    if not folder.is_dir():
        raise BookError(f"Папка шаблона книги {folder} не найдена.")
    missing = [name for name in TEMPLATE_FILES if not (folder / name).is_file()]
    if missing:
        raise BookError(f"В шаблоне книги {folder} нет файлов: {', '.join(missing)} "
                        "(образец — папка book/ репозитория).")
    return folder


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise BookError(f"Файл шаблона {path} не разобран (ошибка YAML): {err}") from err
    if not isinstance(data, dict):
        raise BookError(f"Файл шаблона {path} должен быть словарём YAML (ключ: значение).")
    return data


# --------------------------------------------------------------------------- assembly
def assemble_book(run: dict, run_dir: Path, book_dir: Path,
                  template_dir: str | Path | None = None) -> list[str]:
    """Write the jupyter-book project into ``book_dir`` (replacing it); assembly notes.

    The book's template (:func:`find_template`: ``template_dir``, else ``book/<kind>``) is
    copied into ``book_dir`` and filled: ``_config.yml`` (:func:`book_config`), ``_toc.yml``
    (:func:`book_toc`), ``index.md`` (:func:`title_page`), ``_assets/vsoko.css``; the
    chapters go to ``chapters/``. Other files of the template are copied as they are.
    """
    template = find_template(run.get("kind", "school"), template_dir)
    book_dir = Path(book_dir).resolve()
    if book_dir == template or book_dir in template.parents:
        raise BookError(f"Шаблон книги {template} лежит внутри папки собираемой книги {book_dir}: "
                        "она пересоздаётся при каждой сборке. Возьмите шаблон из другой папки.")
    if book_dir.exists():
        shutil.rmtree(book_dir)
    shutil.copytree(template, book_dir, ignore=_template_ignore(template))
    (book_dir / "chapters").mkdir(exist_ok=True)
    toc, order = book_toc(_read_yaml(template / "_toc.yml"), run["chapters"],
                          template / "_toc.yml")
    by_stem = {Path(ch["file"]).stem: ch for ch in run["chapters"]}
    chapters = [by_stem[stem] for stem in order]
    notes: list[str] = []
    for ch in chapters:
        notes += _write_chapter(ch, run, run_dir, book_dir / "chapters")
    assets = book_dir / "_assets"
    assets.mkdir(exist_ok=True)
    shutil.copyfile(template / "vsoko.css", assets / "vsoko.css")
    mathjax = copy_mathjax(assets / "mathjax")
    if mathjax is None:
        notes.append("MathJax не найден в пакете: формулы будут показаны в виде LaTeX-кода.")
    _write_yaml(book_dir / "_config.yml", book_config(run, mathjax is not None, template))
    _write_yaml(book_dir / "_toc.yml", toc)
    (book_dir / "index.md").write_text(title_page(run, chapters, template), encoding="utf-8")
    return notes


def _template_ignore(template: Path):
    """copytree's ignore: build output anywhere; the files the pipeline fills, at the top."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in ("_build", ".ipynb_checkpoints", "__pycache__")}
        if Path(folder).resolve() == template:
            skip |= set(TEMPLATE_FILES) & set(names)
        return skip
    return ignore


def book_toc(template: dict, chapters: list[dict], path: Path | str = "_toc.yml"
             ) -> tuple[dict, list[str]]:
    """The book's ``_toc.yml`` from the template's and the run's chapters; (toc, stems in order).

    An entry ``file: chapters/<stem>`` of the template is a chapter of the run: kept (its
    title from run.json unless the entry has ``title``) when the run has it, dropped when
    not. The run's chapters the template does not list are appended in run.json order
    (to the last part when the template has ``parts``). Other entries (a school's own
    pages) are kept as they are.
    """
    titles = {Path(ch["file"]).stem: _chapter_title(ch) for ch in chapters}
    placed: list[str] = []

    def entries(items, where: str) -> list:
        if items is None:
            return []
        if not isinstance(items, list):
            raise BookError(f"В {path}: «{where}» должно быть списком.")
        out = []
        for item in items:
            if not isinstance(item, dict):
                raise BookError(f"В {path}: элемент «{where}» {item!r} — не словарь (file: …).")
            item = dict(item)
            stem = _chapter_stem(item.get("file"))
            if stem is not None:
                if stem not in titles or stem in placed:
                    continue
                placed.append(stem)
                item["file"] = f"chapters/{stem}"
                item.setdefault("title", titles[stem])
            if "sections" in item:
                item["sections"] = entries(item["sections"], "sections")
                if not item["sections"]:
                    del item["sections"]
            out.append(item)
        return out

    toc = {k: v for k, v in template.items() if k not in ("chapters", "parts")}
    if "parts" in template:
        if not isinstance(template["parts"], list):
            raise BookError(f"В {path}: «parts» должно быть списком.")
        parts = []
        for part in template["parts"]:
            if not isinstance(part, dict):
                raise BookError(f"В {path}: часть {part!r} — не словарь (caption, chapters).")
            part = {**part, "chapters": entries(part.get("chapters"), "chapters")}
            if part["chapters"]:
                parts.append(part)
        rest = [{"file": f"chapters/{s}", "title": t} for s, t in titles.items() if s not in placed]
        if rest and parts:
            parts[-1]["chapters"] += rest
        elif rest:
            parts = [{"chapters": rest}]
        toc["parts"] = parts
    else:
        kept = entries(template.get("chapters"), "chapters")
        rest = [{"file": f"chapters/{s}", "title": t} for s, t in titles.items() if s not in placed]
        toc["chapters"] = kept + rest
    return toc, placed + [Path(e["file"]).name for e in rest]


_CHAPTER_FILE = re.compile(r"chapters/([^/]+?)(?:\.ipynb|\.md)?")


def _chapter_stem(file) -> str | None:
    """``"chapters/01_summary"`` -> ``"01_summary"``; None for any other entry."""
    m = _CHAPTER_FILE.fullmatch(file) if isinstance(file, str) else None
    return m.group(1) if m else None


def _merge(base: dict, over: dict) -> dict:
    """``base`` with ``over`` merged in, recursively for dicts (neither is modified)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def book_config(run: dict, mathjax: bool = True, template: str | Path | None = None) -> dict:
    """The ``_config.yml`` of the book, as data: the template's, with :data:`PIPELINE_KEYS` set.

    ``template``: the template folder (default: :func:`find_template` of the run's kind).
    """
    template = find_template(run.get("kind", "school"), template)
    config = _read_yaml(template / "_config.yml")
    school = run.get("school_name") or run["school_id"]
    title = f"{school} — {run['book_title']}" if run.get("book_title") else (
        f"{school}: анализ за {academic_year(run['year'])} учебный год")
    label = PROFILE_LABELS[run["profile"]]
    config = _merge(config, {
        "title": title,
        "author": f"{school} · {label}",
        "execute": {"execute_notebooks": "off"},
        "latex": {"latex_engine": "xelatex",
                  "latex_documents": {"targetname": "book.tex", "title": _book_title(run),
                                      "author": f"{_tex(school)} \\and {label}"}},
        "sphinx": {"config": {"latex_elements": {
            "fontpkg": (template / "preamble.tex").read_text(encoding="utf-8")}}},
    })
    sphinx_config = config["sphinx"]["config"]
    # tables of the PDF as LaTeX, not formulas (sphinx_tables.py): added to the template's own extension list, or,
    # when a template leaves jupyter-book's defaults alone, as an extra extension (a list of one would replace them)
    if "extensions" in sphinx_config:
        extensions = list(sphinx_config.get("extensions") or [])
        if TABLES_EXTENSION not in extensions:
            sphinx_config["extensions"] = [*extensions, TABLES_EXTENSION]
    else:
        extra = list(config["sphinx"].get("extra_extensions") or [])
        config["sphinx"]["extra_extensions"] = extra if TABLES_EXTENSION in extra else [*extra, TABLES_EXTENSION]
    static = list(sphinx_config.get("html_static_path") or [])
    sphinx_config["html_static_path"] = static if "_assets" in static else [*static, "_assets"]
    if mathjax:
        sphinx_config["mathjax_path"] = "mathjax/tex-chtml.js"   # relative to _static/
    else:
        sphinx_config.pop("mathjax_path", None)
    return config


def title_page(run: dict, chapters: list[dict], template: str | Path | None = None) -> str:
    """The title page (``index.md``): the template's ``index.md`` with its placeholders filled.

    ``${name}`` for each name of :data:`PLACEHOLDERS`: the book's title, school, academic
    year, profile, build date, the run's ``book_intro``, and the failed/skipped chapters.
    """
    template = find_template(run.get("kind", "school"), template)
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
    school = run.get("school_name") or run["school_id"]
    values = {
        "title": _book_title(run),
        "school_name": _md(school),
        "school_id": _md(run["school_id"]),
        "academic_year": academic_year(run["year"]),
        "year": str(run["year"]),
        "profile_label": PROFILE_LABELS[run["profile"]],
        "built_on": _dt.date.today().strftime("%d.%m.%Y"),
        "book_intro": run.get("book_intro") or "",
        "status_note": "\n\n".join(lines),
    }
    path = template / "index.md"

    def fill(m: re.Match) -> str:
        if m.group(1) not in values:
            raise BookError(f"В {path} неизвестная подстановка ${{{m.group(1)}}}; "
                            f"допустимы: {', '.join(PLACEHOLDERS)}.")
        return values[m.group(1)]

    return _PLACEHOLDER.sub(fill, path.read_text(encoding="utf-8"))


_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def _book_title(run: dict) -> str:
    """The book's title: ``run["book_title"]`` (e.g. the training book's) or the kind's default."""
    default = DEFAULT_TITLES.get(run.get("kind", "school"), DEFAULT_TITLES["school"])
    return run.get("book_title") or default.format(academic_year(run["year"]))


def _write_chapter(ch: dict, run: dict, run_dir: Path, dest: Path) -> list[str]:
    """Copy one chapter into the book, prepared for readers; assembly notes."""
    src = run_dir / ch["file"]
    status = ch.get("status", "ok")
    stem = Path(ch["file"]).stem
    title = _chapter_title(ch)
    if not src.is_file():
        if status == "ok":
            status, ch = "failed", {**ch, "error": {"evalue": f"нет файла {ch['file']}"}}
        text = f"# {_md(title)}\n\n" + (
            _failure_box(ch, None, run["profile"]) if status == "failed"
            else "Эта глава в этом расчёте пропущена: анализ для неё ещё не готов.\n")
        (dest / f"{stem}.md").write_text(text, encoding="utf-8")
        return [f"Глава «{title}»: файл {ch['file']} не найден, вставлена заглушка."]
    try:
        nb = nbformat.read(src, as_version=4)
    except Exception as err:  # noqa: BLE001 - any unreadable notebook becomes a failed chapter
        failed = {**ch, "error": {"ename": type(err).__name__, "evalue": str(err)}}
        text = f"# {_md(title)}\n\n" + _failure_box(failed, None, run["profile"])
        (dest / f"{stem}.md").write_text(text, encoding="utf-8")
        return [f"Глава «{title}»: тетрадь {ch['file']} не читается ({err})."]
    nb = prepare_notebook(nb, {**ch, "status": status}, run["profile"])
    nbformat.write(nb, dest / f"{stem}.ipynb")
    return []


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
