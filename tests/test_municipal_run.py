"""`vsoko municipal` end to end on the sample municipality (issue 15): chapters, municipal findings.json in the
contract, the action plan, the public book and its privacy scan; the CLI prints where everything is."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import openpyxl
import pytest

from vsoko_toolkit.findings import validate_document
from vsoko_toolkit.pipeline.municipal import CHAPTERS, run_municipal

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "data_samples" / "municipality"
TRUTH = json.loads((FOLDER / "truth.json").read_text(encoding="utf-8"))
YEAR = TRUTH["params"]["last_year"]


@pytest.fixture(scope="module")
def mun_run(sample_db_path, tmp_path_factory):
    return run_municipal(sample_db_path, YEAR, tmp_path_factory.mktemp("mun"), profile="public", pdf=False,
                         workers=2)


def test_every_chapter_runs_and_the_findings_speak_the_contract(mun_run):
    assert [c["stem"] for c in mun_run.chapters] == [c.stem for c in CHAPTERS]
    assert not mun_run.failed, mun_run.failed
    doc = json.loads(mun_run.findings_path.read_text(encoding="utf-8"))
    validate_document(doc)
    assert doc["school_id"] == mun_run.municipality_id != ""
    assert doc["findings"] and {f["target_type"] for f in doc["findings"]} == {"school"}
    # computed once for the municipality: every school-level finding appears once
    ids = [f["id"] for f in doc["findings"]]
    assert len(ids) == len(set(ids))


def test_planted_schools_are_named_and_no_unplanted_school_is(mun_run):
    doc = json.loads(mun_run.findings_path.read_text(encoding="utf-8"))
    by_kind: dict[str, set[str]] = {}
    for f in doc["findings"]:
        by_kind.setdefault(f["kind"], set()).add(f["target_id"])
    resilient = TRUTH["resilient_school"]
    resilient = resilient["school_id"] if isinstance(resilient, dict) else resilient
    assert by_kind.get("resilient_school") == {resilient}
    assert by_kind.get("non_objective_school") == {TRUTH["threshold_peak"]["school_id"]}
    assert not by_kind.get("shnor")


def test_action_plan_names_schools_and_control_metrics(mun_run):
    ws = openpyxl.load_workbook(mun_run.plan_path, read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    doc = json.loads(mun_run.findings_path.read_text(encoding="utf-8"))
    problems = {f["target_id"] for f in doc["findings"] if f["polarity"] == "problem"}
    assert len(rows) > 1
    text = "\n".join(str(v) for r in rows[1:] for v in r if v is not None)
    assert all(s in text for s in problems)


def test_public_municipal_book_holds_no_names_ids_or_small_groups(mun_run):
    from test_public_build import _column, _texts, find_leaks, people

    scanned, leaks = find_leaks(_texts(mun_run.run_dir), *people(FOLDER))
    assert scanned > 10 and not leaks, leaks[:10]
    for p in (mun_run.run_dir / "tables").glob("*.csv"):
        with open(p, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for col in ("n", "n_students"):
                    if row.get(col) not in (None, ""):
                        assert float(row[col]) == 0 or float(row[col]) >= 5, (p.name, row)
                assert not {"student_id", "full_name", "teacher_id"} & set(row)
    site = mun_run.book.html_index.parent
    teachers = _column(FOLDER, "teachers", "teacher_id")
    assert teachers
    for page in (site / "chapters").glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "{glue" not in html, page.name
        assert not set(re.findall(r"\bT\d{4}\b", html)) & teachers, page.name


def test_book_has_the_chapters_in_the_template_order(mun_run):
    import yaml

    site = mun_run.book.html_index.parent
    toc = yaml.safe_load((mun_run.run_dir / "book" / "_toc.yml").read_text(encoding="utf-8"))
    assert [e["file"] for e in toc["chapters"]] == [f"chapters/{c.stem}" for c in CHAPTERS]
    for c in CHAPTERS:
        assert (site / "chapters" / f"{c.stem}.html").exists(), c.stem
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "муниципальн" in index.lower()
