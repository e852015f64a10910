"""Book templates (issue 15, item 3): the editable ``book/<kind>/`` folders the pipeline copies and fills.

Fast checks of the templates, the lookup order, the chapter-order rules, the keys the pipeline
sets and the title page placeholders; one HTML build (``test_changed_template_reaches_the_book``,
about 30 s) of the small synthetic run of ``test_book`` from a copied and edited template. The
default template's book is checked by ``test_book.py`` (unchanged expectations).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vsoko_toolkit.cli import app
from vsoko_toolkit.pipeline import book as bk
from vsoko_toolkit.pipeline.book import (
    PIPELINE_KEYS,
    PLACEHOLDERS,
    TEMPLATE_FILES,
    BookError,
    book_config,
    book_toc,
    build_book,
    find_template,
    title_page,
)

ROOT = Path(__file__).resolve().parents[1]
BOOKS = ROOT / "book"
KINDS = sorted(p.name for p in BOOKS.iterdir() if p.is_dir())
RUN = {"school_id": "S01", "school_name": "МБОУ «СОШ № 1» г. Энска", "year": 2025,
       "profile": "internal",
       "chapters": [{"file": "notebooks/02_results.ipynb", "title": "Результаты", "status": "ok"},
                    {"file": "notebooks/03_external.ipynb", "title": "Внешние", "status": "failed"},
                    {"file": "notebooks/01_summary.ipynb", "title": "Сводка", "status": "ok"}]}


def _copy(kind: str, dest: Path) -> Path:
    shutil.copytree(BOOKS / kind, dest)
    return dest


def _get(data: dict, dotted: str):
    for key in dotted.split("."):
        data = data[key]
    return data


# --------------------------------------------------------------------------- the templates
def test_school_training_and_municipality_templates_exist():
    assert {"school", "training", "municipality"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_template_is_complete_and_shows_what_the_pipeline_fills(kind):
    folder = BOOKS / kind
    assert [f for f in TEMPLATE_FILES if not (folder / f).is_file()] == []
    config = yaml.safe_load((folder / "_config.yml").read_text(encoding="utf-8"))
    for key in PIPELINE_KEYS:   # every key the pipeline sets is visible in the template
        _get(config, key)
    marked = [ln for ln in (folder / "_config.yml").read_text(encoding="utf-8").splitlines()
              if "ЗАПОЛНЯЕТ КОНВЕЙЕР" in ln and not ln.lstrip().startswith("#")]
    assert len(marked) >= 6
    used = set(re.findall(r"\$\{(\w+)\}", (folder / "index.md").read_text(encoding="utf-8")))
    assert used and used <= set(PLACEHOLDERS)
    toc = yaml.safe_load((folder / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["format"] == "jb-book" and toc["root"] == "index"


def test_default_chapter_order_is_the_packages():
    from vsoko_toolkit.pipeline.chapters import CHAPTERS
    from vsoko_toolkit.pipeline.training import LESSONS

    for kind, chapters in (("school", CHAPTERS), ("training", LESSONS)):
        toc = yaml.safe_load((BOOKS / kind / "_toc.yml").read_text(encoding="utf-8"))
        assert [e["file"] for e in toc["chapters"]] == [f"chapters/{c.stem}" for c in chapters]


# --------------------------------------------------------------------------- lookup order
def test_lookup_order_explicit_then_repository_then_installed(tmp_path, monkeypatch):
    mine = _copy("school", tmp_path / "mine" / "school")
    assert find_template("school", mine) == mine.resolve()
    assert find_template("school", mine.parent) == mine.resolve()   # a folder like book/
    assert find_template("school") == BOOKS / "school"
    assert find_template("training") == BOOKS / "training"

    installed = _copy("school", tmp_path / "prefix" / "share" / "vsoko_toolkit" / "book" / "school")
    monkeypatch.setattr(bk, "_installed_templates", lambda kind: [installed.parent / kind])
    monkeypatch.setattr(bk, "REPO_TEMPLATES", tmp_path / "site-packages" / "book")
    (tmp_path / "site-packages" / "book" / "school").mkdir(parents=True)   # no pyproject.toml
    assert find_template("school") == installed
    with pytest.raises(BookError, match="«training» не найден.*--book-template"):
        find_template("training")


def test_lookup_errors_in_russian(tmp_path):
    with pytest.raises(BookError, match="не найдена"):
        find_template("school", tmp_path / "нет")
    broken = _copy("school", tmp_path / "broken")
    (broken / "preamble.tex").unlink()
    with pytest.raises(BookError, match="нет файлов: preamble.tex"):
        find_template("school", broken)
    with pytest.raises(BookError, match="поле «kind»"):
        find_template("../school")


def test_template_inside_the_book_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps(RUN, ensure_ascii=False), encoding="utf-8")
    _copy("school", run / "book" / "tpl")
    with pytest.raises(BookError, match="внутри папки собираемой книги"):
        build_book(run, pdf=False, template_dir=run / "book" / "tpl")
    assert (run / "book" / "tpl" / "_config.yml").is_file()


# --------------------------------------------------------------------------- chapter order
def test_toc_keeps_template_order_drops_absent_appends_unlisted():
    chapters = [{"file": f"notebooks/{s}.ipynb", "title": s.upper()}
                for s in ("02_b", "05_e", "01_a", "03_c")]
    template = {"format": "jb-book", "root": "index", "chapters": [
        {"file": "chapters/03_c", "title": "Своё название"},
        {"file": "preface"},                       # the school's own page stays
        {"file": "chapters/99_absent"},            # not in the run: dropped
        {"file": "chapters/01_a.ipynb"},
        {"file": "chapters/03_c"},                 # twice: the first place counts
    ]}
    toc, order = book_toc(template, chapters)
    assert list(toc) == ["format", "root", "chapters"]
    assert toc["chapters"] == [
        {"file": "chapters/03_c", "title": "Своё название"}, {"file": "preface"},
        {"file": "chapters/01_a", "title": "01_A"},
        {"file": "chapters/02_b", "title": "02_B"}, {"file": "chapters/05_e", "title": "05_E"}]
    assert order == ["03_c", "01_a", "02_b", "05_e"]
    assert template["chapters"][0] == {"file": "chapters/03_c", "title": "Своё название"}


def test_toc_with_parts_and_sections():
    chapters = [{"file": f"notebooks/{s}.ipynb", "title": s} for s in ("01_a", "02_b", "03_c")]
    template = {"format": "jb-book", "root": "index", "parts": [
        {"caption": "Пусто", "chapters": [{"file": "chapters/09_x"}]},
        {"caption": "Главное", "chapters": [
            {"file": "chapters/02_b", "sections": [{"file": "chapters/01_a"},
                                                   {"file": "chapters/08_y"}]}]},
    ]}
    toc, order = book_toc(template, chapters)
    assert toc["parts"] == [{"caption": "Главное", "chapters": [
        {"file": "chapters/02_b", "title": "02_b",
         "sections": [{"file": "chapters/01_a", "title": "01_a"}]},
        {"file": "chapters/03_c", "title": "03_c"}]}]
    assert order == ["02_b", "01_a", "03_c"]
    with pytest.raises(BookError, match="должно быть списком"):
        book_toc({"chapters": {"file": "x"}}, chapters)


# --------------------------------------------------------------------------- config, title page
def test_pipeline_keys_override_the_template_the_rest_is_kept(tmp_path):
    tpl = _copy("school", tmp_path / "tpl")
    config = yaml.safe_load((tpl / "_config.yml").read_text(encoding="utf-8"))
    config["title"] = "Своё"
    config["execute"]["execute_notebooks"] = "force"
    config["latex"]["latex_engine"] = "pdflatex"
    config["latex"]["latex_documents"]["targetname"] = "other.tex"
    sphinx = config["sphinx"]["config"]
    sphinx["html_static_path"] = []
    sphinx["mathjax_path"] = "https://cdn.example/mathjax.js"
    sphinx["html_theme_options"]["search_bar_text"] = "Искать в отчёте…"
    (tpl / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (tpl / "preamble.tex").write_text("\\setmainfont{PT Serif}\n", encoding="utf-8")

    out = book_config(RUN, True, tpl)
    assert out["title"] == "МБОУ «СОШ № 1» г. Энска: анализ за 2024/2025 учебный год"
    assert out["author"] == "МБОУ «СОШ № 1» г. Энска · для администрации школы"
    assert out["execute"]["execute_notebooks"] == "off"
    assert out["latex"]["latex_engine"] == "xelatex"
    assert out["latex"]["latex_documents"] == {
        "targetname": "book.tex", "title": "Анализ работы школы за 2024/2025 учебный год",
        "author": "МБОУ «СОШ № 1» г. Энска \\and для администрации школы"}
    sphinx = out["sphinx"]["config"]
    assert sphinx["latex_elements"]["fontpkg"] == "\\setmainfont{PT Serif}\n"
    assert sphinx["mathjax_path"] == "mathjax/tex-chtml.js"
    assert sphinx["html_static_path"] == ["_assets"]
    assert sphinx["html_theme_options"]["search_bar_text"] == "Искать в отчёте…"
    assert sphinx["latex_elements"]["papersize"] == "a4paper"
    assert "mathjax_path" not in book_config(RUN, False, tpl)["sphinx"]["config"]


def test_title_page_placeholders(tmp_path):
    tpl = _copy("school", tmp_path / "tpl")
    (tpl / "index.md").write_text("# ${title}\n\n${school_name}, ${year}: ${academic_year}\n\n"
                                  "${status_note}\n", encoding="utf-8")
    page = title_page(RUN, RUN["chapters"], tpl)
    assert page.startswith("# Анализ работы школы за 2024/2025 учебный год\n")
    assert "МБОУ «СОШ № 1» г. Энска, 2025: 2024/2025" in page
    assert "«Внешние»" in page
    (tpl / "index.md").write_text("# ${title}\n\n${school}\n", encoding="utf-8")
    with pytest.raises(BookError, match=r"неизвестная подстановка \$\{school\}; допустимы: title"):
        title_page(RUN, RUN["chapters"], tpl)


# --------------------------------------------------------------------------- entry points
def test_cli_book_and_training_take_a_template(tmp_path):
    runner = CliRunner()
    for command in ("book", "training"):
        r = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert r.exit_code == 0 and "--book-template" in r.output
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps(RUN, ensure_ascii=False), encoding="utf-8")
    r = runner.invoke(app, ["book", str(run), "--no-pdf", "--book-template", str(tmp_path / "нет")],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 2 and "не найдена" in " ".join(r.output.split())  # rich wraps in a narrow console
    assert not (run / "book").exists()


def test_training_checks_its_template_before_running_lessons(tmp_path):
    from vsoko_toolkit.pipeline.training import run_training

    with pytest.raises(BookError, match="не найдена"):
        run_training(tmp_path / "нет.duckdb", "S01", 2025, tmp_path / "out",
                     book_template=tmp_path / "нет")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- one build
def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ")


def test_changed_template_reaches_the_book(tmp_path):
    """A school's copy of book/: new title page, new chapter order, its own page, its CSS."""
    from test_book import make_run_dir

    run = make_run_dir(tmp_path / "S01" / "2025")
    mine = _copy("school", tmp_path / "school_book" / "school")
    index = (mine / "index.md").read_text(encoding="utf-8")
    index = index.replace("**Школа:**", "**Образовательная организация:**").replace(
        "# ${title}\n", "# ${title}\n\nРассмотрено на педагогическом совете в ${year} году.\n")
    (mine / "index.md").write_text(index, encoding="utf-8")
    toc = yaml.safe_load((mine / "_toc.yml").read_text(encoding="utf-8"))
    toc["chapters"] = [{"file": "chapters/03_external"}, {"file": "preface"},
                       {"file": "chapters/01_summary", "title": "Главное за год"}]
    (mine / "_toc.yml").write_text(yaml.safe_dump(toc, allow_unicode=True), encoding="utf-8")
    (mine / "preface.md").write_text("# Обращение директора\n\nУважаемые коллеги!\n",
                                     encoding="utf-8")
    with open(mine / "vsoko.css", "a", encoding="utf-8") as css:
        css.write("\n.vsoko-school-mark { color: #123456; }\n")

    res = build_book(run, pdf=False, template_dir=mine.parent)
    assert res.template == mine.resolve()
    assert [w for w in res.warnings if "WARNING" in w or "ERROR" in w] == []
    site = res.html_index.parent
    home = (site / "index.html").read_text(encoding="utf-8")
    text = _text(home)
    assert "Рассмотрено на педагогическом совете в 2025 году." in text
    assert "Образовательная организация: МБОУ «СОШ № 1» г. Энска" in text
    assert "Анализ работы школы за 2024/2025 учебный год" in text
    assert "Главное за год" in text and "Обращение директора" in text
    assert "подстановки" not in text   # the template's % comment lines stay out of the book
    # the template's order, then the run's unlisted chapters in run.json order
    built = yaml.safe_load((res.book_dir / "_toc.yml").read_text(encoding="utf-8"))
    files = ["chapters/03_external", "preface", "chapters/01_summary", "chapters/02_results",
             "chapters/07_risk_groups"]
    assert [e["file"] for e in built["chapters"]] == files
    links = [f"{f}.html" for f in files]
    first = [home.find(f'href="{link}"') for link in links]
    assert -1 not in first and first == sorted(first), dict(zip(links, first, strict=True))
    assert "Уважаемые коллеги" in _text((site / "preface.html").read_text(encoding="utf-8"))
    assert ".vsoko-school-mark" in (site / "_static" / "vsoko.css").read_text(encoding="utf-8")
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert not (res.book_dir / "vsoko.css").exists() and not (res.book_dir / "preamble.tex").exists()
    assert "Шаблон книги:" in res.summary()
