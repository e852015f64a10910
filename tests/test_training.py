"""The training book (issue 16): lessons on the school's data, exercises checked, a public book.

One warehouse of the sample municipality per session (``sample_db_path``). The demo school's
lessons are executed twice by papermill — with the right answers (computed from the data by
``report.training``) and with a typical wrong answer — and each verdict is read back from the
glued ``verdict_<parameter>``. The right-answer run also builds the public book, which gets the
public school book's privacy scan.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vsoko_toolkit.pipeline.demo import demo_school, sample_folder
from vsoko_toolkit.pipeline.training import LESSONS, glued, run_training
from vsoko_toolkit.report import text as t
from vsoko_toolkit.report import training as tr

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "data_samples" / "municipality"


@pytest.fixture(scope="module")
def school(sample_db_path):
    return demo_school(sample_folder(sample_db_path.parent), sample_db_path)


@pytest.fixture(scope="module")
def expected(sample_db_path, school):
    sid, year = school
    right = tr.expected_answers(sample_db_path, sid, year, sample_db=sample_db_path)
    wrong = tr.expected_answers(sample_db_path, sid, year, wrong=True, sample_db=sample_db_path)
    return right, wrong


@pytest.fixture(scope="module")
def right_run(tmp_path_factory, sample_db_path, school, expected):
    sid, year = school
    return run_training(sample_db_path, sid, year, tmp_path_factory.mktemp("train_right"), answers=expected[0],
                        sample_db=sample_db_path, workers=2, book=True, pdf=_can_pdf())


def _can_pdf() -> bool:
    """The PDF is built where the school book's PDF path works (XeLaTeX or Chromium installed)."""
    import shutil

    from vsoko_toolkit.pipeline.book import find_chromium

    return bool(shutil.which("xelatex") and shutil.which("latexmk")) or find_chromium() is not None


@pytest.fixture(scope="module")
def wrong_run(tmp_path_factory, sample_db_path, school, expected):
    sid, year = school
    return run_training(sample_db_path, sid, year, tmp_path_factory.mktemp("train_wrong"), answers=expected[1],
                        sample_db=sample_db_path, workers=2, book=False)


# --------------------------------------------------------------------------- answer checks (unit)
def test_judge_numbers_yes_no_and_unanswered():
    ex = tr.Exercise("answer_1a", "?", "number", 9.746, "так", tolerance=1.0, unit="%", typical_wrong=27.3)
    assert tr.judge(ex, "9,5 %").correct and tr.judge(ex, 10.5).correct
    assert tr.judge(ex, 27.3).status == "неверно"
    assert tr.judge(ex, None).status == "нет ответа"
    assert tr.judge(ex, "много").status == "неверно" and "не понят" in tr.judge(ex, "много").text
    assert "с запятой без кавычек" in tr.judge(ex, (9, 7)).text   # answer_1a = 9,7 in Python
    yn = tr.Exercise("answer_1c", "?", "yesno", True, "так", typical_wrong=False)
    assert tr.judge(yn, "Да").correct and not tr.judge(yn, "нет").correct and tr.judge(yn, True).correct
    # a typical mistake that lands within the tolerance is replaced by a clearly wrong one
    near = tr.Exercise("a", "?", "number", 0.016, "так", tolerance=0.02, typical_wrong=-0.004)
    assert not tr.judge(near, near.typical_wrong).correct


# --------------------------------------------------------------------------- (a) right and wrong answers
def test_every_lesson_ran(right_run, wrong_run):
    assert len(LESSONS) == 8
    for run in (right_run, wrong_run):
        assert [c["status"] for c in run.lessons] == ["ok"] * len(LESSONS), run.failed


def test_right_answers_are_accepted(right_run, expected):
    for c in right_run.lessons:
        number = int(c["stem"][:2])
        g = glued(right_run.run_dir / c["file"])
        for key in expected[0][number]:
            assert g[f"verdict_{key}"] == "верно", (c["stem"], key, expected[0][number][key])
        text = _cell_text(right_run.run_dir / c["file"])
        assert "✔" in text and "✘" not in text


def test_typical_wrong_answers_are_rejected_with_the_right_answer(wrong_run, expected):
    for c in wrong_run.lessons:
        number = int(c["stem"][:2])
        g = glued(wrong_run.run_dir / c["file"])
        for key in expected[1][number]:
            assert g[f"verdict_{key}"] == "неверно", (c["stem"], key, expected[1][number][key])
        assert "Правильный ответ" in _cell_text(wrong_run.run_dir / c["file"])


def _cell_text(path: Path) -> str:
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return "\n".join(o.get("data", {}).get("text/markdown", "") for c in nb.cells for o in c.get("outputs", ()))


# --------------------------------------------------------------------------- (b) numbers follow the data
def test_quoted_numbers_come_from_the_result_object(right_run, sample_db_path, school):
    sid, year = school
    g = glued(right_run.run_dir / "notebooks" / "01_interval.ipynb")
    les = tr.open_lesson(1, sample_db_path, sid, year)
    v = les.values
    assert g["k"] == t.fmt_int(v["k"]) and g["n"] == t.fmt_int(v["n"])
    assert g["lo"] == t.pct(v["lo"], 1) and g["hi"] == t.pct(v["hi"], 1)
    from vsoko_toolkit.stats.intervals import wilson_interval

    assert (v["lo"], v["hi"]) == wilson_interval(v["k"], v["n"])


def test_quoted_numbers_change_with_the_school(right_run, sample_db_path, school, tmp_path):
    import papermill as pm

    sid, year = school
    other = next(s for s in ("S02", "S03", "S04") if s != sid)
    dst = tmp_path / "01_other.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "training" / "01_interval.ipynb"), str(dst),
                        parameters={"db": str(sample_db_path), "school_id": other, "year": year,
                                    "out_dir": str(tmp_path), "sample_db": str(sample_db_path)},
                        progress_bar=False, log_output=False, cwd=str(tmp_path))
    mine, theirs = glued(right_run.run_dir / "notebooks" / "01_interval.ipynb"), glued(dst)
    les = tr.open_lesson(1, sample_db_path, other, year)
    assert theirs["lo"] == t.pct(les.values["lo"], 1) and theirs["share"] == t.pct(les.values["p"], 1)
    assert (mine["k"], mine["n"], mine["lo"]) != (theirs["k"], theirs["n"], theirs["lo"])
    assert theirs["verdict_answer_1a"] == "нет ответа"


def test_lesson_without_school_data_uses_the_labelled_sample(right_run, sample_db_path, school):
    """The demo school's only decision is not due yet: the DiD lesson says so and uses the sample municipality."""
    sid, year = school
    les = tr.open_lesson(7, sample_db_path, sid, year, sample_db=sample_db_path)
    assert les.source == "sample" and les.school_id != sid
    g = glued(right_run.run_dir / "notebooks" / "07_did.ipynb")
    assert "учебного муниципалитета" in g["source"] and "это не ваша школа" in g["source"]


# --------------------------------------------------------------------------- (c) the book
def test_training_book_builds_offline_without_warnings(right_run):
    book = right_run.book
    assert book.html_index.is_file()
    assert [w for w in book.warnings if "WARNING" in w or "ERROR" in w] == []
    site = book.html_index.parent
    index = _text(site / "index.html")
    assert "Учебная книга" in index and "Урок 8" in index
    for page in sorted((site / "chapters").glob("*.html")):
        html = page.read_text(encoding="utf-8")
        assert "{glue" not in html and "cell_input" not in html and "answer_1a = " not in html, page.name
        assert not re.search(r"""(src|href)=["']https?://""", html), page.name
    lesson1 = _text(site / "chapters" / "01_interval.html")
    assert "Верно." in lesson1 and "Правильный ответ" in lesson1


def test_training_book_pdf_where_the_school_book_has_one(right_run):
    book = right_run.book
    if not _can_pdf():
        assert book.pdf is None and "PDF" in book.pdf_note
        pytest.skip(f"ни XeLaTeX, ни Chromium: {book.pdf_note}")
    assert book.pdf is not None and book.pdf.is_file(), book.pdf_note
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() or "" for page in PdfReader(book.pdf).pages)
    assert "Урок 1" in text and "Урок 8" in text


def test_training_book_passes_the_public_privacy_scan(right_run):
    from test_public_build import _texts, find_leaks, people

    scanned, leaks = find_leaks(_texts(right_run.run_dir), *people(FOLDER))
    assert scanned > 10 and not leaks, leaks[:10]
    teachers = _column_ids(FOLDER, "teachers", "teacher_id")
    site = right_run.book.html_index.parent
    for page in (site / "chapters").glob("*.html"):
        words = set(re.findall(r"\bT\d{4}\b", page.read_text(encoding="utf-8")))
        assert not words & teachers, (page.name, words & teachers)


def _column_ids(folder: Path, table: str, col: str) -> set[str]:
    import pandas as pd

    path = next(folder.glob(f"{table}.csv*"))
    return set(pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")[col]) - {""}


def _text(path: Path) -> str:
    html = path.read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ")
