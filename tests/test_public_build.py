"""The public build on the sample municipality: no names, no student ids, no small groups — anywhere.

Builds the public book (HTML and PDF) for the demo school and scans every
output file — HTML pages and the search index, the PDF's text, CSV tables,
the XLSX action plan, findings.json — for every student and teacher name and
every raw student id of the input. Vendored third-party assets (the theme's
and MathJax's scripts and fonts) are not outputs of the data and are not scanned.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import openpyxl
import pytest

from vsoko_toolkit.pipeline.book import build_book

SKIP_DIRS = {"_static", "_assets", "_sphinx_design_static"}


@pytest.fixture(scope="module")
def public_run(public_school_run):
    folder, res = public_school_run
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


def test_the_site_folder_is_in_the_scan(public_run):
    """The files for the school's site (``site/``: HTML, PDF, XLSX) are outputs like the book: scanned too."""
    folder, res, _ = public_run
    site = [(p, text) for p, text in _texts(res.run_dir) if "site" in p.relative_to(res.run_dir).parts[:1]]
    assert {p.suffix for p, _ in site} >= {".html", ".xlsx", ".txt"}, [p.name for p, _ in site]
    scanned, leaks = find_leaks(site, *people(folder))
    assert scanned == len(site) and not leaks, leaks[:10]


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


def _planted_subjects(truth: dict, school: str) -> set[str]:
    """Subjects of the effects the generator planted in ``school``."""
    out = set()
    if truth["declining_trend"]["school_id"] == school:
        out.add(truth["declining_trend"]["subject"])
    if truth["threshold_peak"]["school_id"] == school:
        out.add(truth["threshold_peak"]["subject"])
    for k in ("low_value_added", "high_value_added", "marking_bias", "task_deficits"):
        out |= {x["subject"] for x in truth[k] if x["school_id"] == school}
    return out


def test_key_problems_are_the_planted_ones_with_causes_and_addressees(public_run):
    """Issue 10: the summary names the planted problems of the demo school among its key problems, each with a
    supported cause, an addressee and a control metric; nothing unplanted is a key problem."""
    from vsoko_toolkit.report.summary import _recommendation, key

    folder, res, _ = public_run
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    school = res.run_dir.parent.name
    doc = json.loads(res.findings_path.read_text(encoding="utf-8"))
    probs = key(doc["findings"])
    planted = _planted_subjects(truth, school)
    below_muni = truth["school_effects"][school] < 0  # a planted school effect: results below other schools
    print(f"\nplanted subjects in {school}: {sorted(planted)}; school effect {truth['school_effects'][school]}")
    for fs in probs:
        kinds = sorted({f["kind"] for f in fs})
        causes = [c["hypothesis"][:40] for f in fs for c in f["causes"] if c["verdict"] == "supported"]
        print(f"- {fs[0]['title']} | {kinds} | supported: {sorted(set(causes))}")
    assert probs
    kinds_found = {(f["kind"], f["subject"]) for fs in probs for f in fs}
    assert ("declining_trend", truth["declining_trend"]["subject"]) in kinds_found
    if truth["threshold_peak"]["school_id"] == school:
        assert ("threshold_peak", truth["threshold_peak"]["subject"]) in kinds_found
    for fs in probs:
        assert any(c["verdict"] == "supported" for f in fs for c in f["causes"]), fs[0]["title"]
        rec = _recommendation(fs)
        assert rec and rec["addressee_type"] and rec["control_metric"], fs[0]["title"]
        planted_here = fs[0]["subject"] in planted or (
            fs[0]["kind"] == "climate_problem"  # the generator's survey effect of the school on that scale
            and truth["survey_school_effects"][school].get(fs[0].get("scale"), 0) < 0) or (
            fs[0]["kind"] == "graduate_outflow"  # issue 18: the planted outflow after grade 9, with its profile
            and (truth.get("graduate_outflow") or {}).get("school_id") == school
            and fs[0].get("profile") == truth["graduate_outflow"]["profile"])
        school_level = below_muni and all(f["kind"] == "low_result" for f in fs) and any(
            c["verdict"] == "supported" and c["hypothesis"].startswith(("Общее отставание", "Отставание сложилось"))
            for f in fs for c in f["causes"])
        assert planted_here or school_level, f"not planted: {fs[0]['title']}"
