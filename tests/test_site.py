"""The files for the school's site (``RUN/site/``) that ``vsoko run --profile public`` writes.

Uses the shared public run of the sample's demo school (``public_school_run`` in conftest.py: one papermill
run per test process, shared with tests/test_public_build.py).
"""

from __future__ import annotations

import json
import re
import shutil

import duckdb
import openpyxl
import pandas as pd
import pytest

from vsoko_toolkit.errors import VsokoError
from vsoko_toolkit.indicators import evaluate_frameworks
from vsoko_toolkit.pipeline.book import find_chromium
from vsoko_toolkit.pipeline.site import SUMMARY, XLSX, publish_site
from vsoko_toolkit.privacy import MIN_GROUP
from vsoko_toolkit.report import glue_indicators as gi
from vsoko_toolkit.report.site import COLUMNS, NOTE_HIDDEN, NOTE_MISSING
from vsoko_toolkit.report.summary import key

HEADER_ROW = 3  # title, school and year, then the header


def _xlsx_rows(path) -> tuple[list, pd.DataFrame, list]:
    wb = openpyxl.load_workbook(path)
    ws = wb["Самообследование"]
    rows = list(ws.iter_rows(values_only=True))
    header = list(rows[HEADER_ROW - 1])
    body = pd.DataFrame([["" if v is None else str(v) for v in r] for r in rows[HEADER_ROW:]], columns=header)
    fills = [ws.cell(i, 1).fill.fgColor.rgb for i in range(HEADER_ROW + 1, ws.max_row + 1)]
    return header, body, fills


@pytest.fixture(scope="module")
def site(public_school_run):
    folder, res = public_school_run
    return folder, res, res.run_dir / "site"


def test_the_site_files_exist_after_a_public_run(site):
    _, res, out = site
    names = {p.name for p in out.iterdir()}
    assert {"samoobsledovanie.html", f"{SUMMARY}.html", XLSX, "README.txt"} <= names, names
    readme = (out / "README.txt").read_text(encoding="utf-8")
    if find_chromium():
        assert {"samoobsledovanie.pdf", f"{SUMMARY}.pdf"} <= names
        from pypdf import PdfReader

        text = " ".join(p.extract_text() or "" for p in PdfReader(out / "samoobsledovanie.pdf").pages)
        assert "Общая численность учащихся" in text
    else:
        assert "Chromium не установлен" in readme
    html = (out / "samoobsledovanie.html").read_text(encoding="utf-8")
    assert "<table>" in html and "http" not in html.replace("http-equiv", "")  # self-contained, nothing from the web
    print(f"\nsite files: {sorted(names)}")


def test_the_xlsx_reads_back_equal_to_chapter_08s_table(site):
    _, res, out = site
    header, body, fills = _xlsx_rows(out / XLSX)
    assert header == [*COLUMNS, "Примечание"]
    chapter = pd.read_csv(res.run_dir / "tables" / "self_examination.csv", dtype=str, keep_default_na=False)
    assert len(body) == len(chapter) > 40
    pd.testing.assert_frame_equal(body[list(COLUMNS)], chapter[list(COLUMNS)])
    # and equal to the indicators recomputed from the warehouse now (not only to the file the site was made from)
    run = json.loads((res.run_dir / "run.json").read_text(encoding="utf-8"))
    con = duckdb.connect(run["warehouse"], read_only=True)
    try:
        ind = evaluate_frameworks(con, run["school_id"], run["year"])
    finally:
        con.close()
    fresh = gi.framework_table(ind, "self_examination_1324", public=True).astype(str)
    assert list(body["Показатели"]) == list(fresh["Показатели"])
    assert list(body["Значение"]) == list(fresh["Значение"])
    assert list(body["Единица измерения"]) == list(fresh["Единица измерения"])
    # «нет данных» rows: marked (grey, a note) exactly where the indicator is missing
    d = ind.framework("self_examination_1324")
    missing = (d["status"] == "missing").to_numpy()
    assert missing.sum() > 0
    assert ((body["Примечание"] == NOTE_MISSING).to_numpy() == missing).all()
    assert all((f == "00F2F2F2") == m for f, m in zip(fills, missing, strict=True))
    print(f"\nindicators: {len(body)}, computed {int((d['status'] == 'computed').sum())}, "
          f"missing {int(missing.sum())}")


def test_no_group_under_5_in_the_site_files(site):
    """Every indicator resting on 1–4 students is hidden in the XLSX and the HTML; none of its numbers shows."""
    _, res, out = site
    run = json.loads((res.run_dir / "run.json").read_text(encoding="utf-8"))
    con = duckdb.connect(run["warehouse"], read_only=True)
    try:
        d = evaluate_frameworks(con, run["school_id"], run["year"]).framework("self_examination_1324")
    finally:
        con.close()
    small = pd.to_numeric(d["n_students"], errors="coerce").between(1, MIN_GROUP - 1).to_numpy()
    assert small.any(), "the sample should hold a small group to test against"
    _, body, _ = _xlsx_rows(out / XLSX)
    hidden = (body["Примечание"] == NOTE_HIDDEN).to_numpy()
    assert (hidden == small).all()
    html = (out / "samoobsledovanie.html").read_text(encoding="utf-8")
    for value, number in zip(d.loc[small, "display"], d.loc[small, "number"], strict=True):
        row = re.search(rf"<tr[^>]*><td>{re.escape(number)}</td>(.*?)</tr>", html).group(1)
        assert value not in row and "скрыто" in row, (number, row)


def test_the_site_holds_no_names_or_ids(site):
    """The public-build scan (names, «Фамилия Имя», student ids) on the site folder, plus teacher ids."""
    from test_public_build import _column, _texts, find_leaks, people

    folder, _, out = site
    texts = list(_texts(out))
    assert {p.suffix for p, _ in texts} >= {".html", ".xlsx", ".txt"}
    names, ids = people(folder)
    scanned, leaks = find_leaks(texts, names, ids | _column(folder, "teachers", "teacher_id"))
    print(f"\nsite privacy scan: {scanned} files, {len(names)} names, {len(ids)} student ids")
    assert scanned == len(texts) >= 4 and not leaks, leaks[:10]


def test_the_public_summary_lists_the_key_problems_and_decisions(site):
    _, res, out = site
    doc = json.loads(res.findings_path.read_text(encoding="utf-8"))
    probs = key(doc["findings"])
    assert probs
    html = (out / f"{SUMMARY}.html").read_text(encoding="utf-8")
    import html as h

    for fs in probs:
        assert h.escape(fs[0]["title"]) in html
    assert html.count("Что будет сделано:") == sum(1 for fs in probs if any(f.get("recommendation") for f in fs))
    assert "q =" not in html and "p =" not in html  # public wording, not statistics


def test_publish_site_needs_a_public_run_and_says_what_is_missing(site, tmp_path):
    _, res, _ = site
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(res.findings_path, run_dir / "findings.json")
    run = json.loads((res.run_dir / "run.json").read_text(encoding="utf-8"))
    (run_dir / "run.json").write_text(json.dumps({**run, "profile": "internal"}), encoding="utf-8")
    with pytest.raises(VsokoError, match="только из публичной версии"):
        publish_site(run_dir, pdf=False)
    (run_dir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    got = publish_site(run_dir, pdf=False)  # chapter 08's table is absent: no section, no XLSX, a note
    names = {p.name for p in got.files}
    assert names == {f"{SUMMARY}.html", "README.txt"}
    assert "Раздел самообследования" in (got.site_dir / "README.txt").read_text(encoding="utf-8")
