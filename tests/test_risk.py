"""Risk groups on the sample municipality: discrimination, calibration, and privacy of the chapter."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from vsoko_toolkit import ingest
from vsoko_toolkit.analysis.risk import THRESHOLD, risk_groups
from vsoko_toolkit.findings import validate_document
from vsoko_toolkit.privacy import load_key
from vsoko_toolkit.warehouse.store import connect

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "municipality"
CODE_RE = re.compile(r"У-[0-9A-F]{10}")


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("risk") / "w.duckdb"
    ingest(SAMPLE, db)
    return db


@pytest.fixture(scope="module")
def result(sample_db):
    con = connect(sample_db)
    try:
        return risk_groups(con, "S01", 2025, key=load_key(sample_db))
    finally:
        con.close()


def _run(db, out, profile):
    from vsoko_toolkit.pipeline.chapters import CHAPTERS
    from vsoko_toolkit.pipeline.run import run_school

    res = run_school(db, "S01", 2025, profile, out, chapters=tuple(c for c in CHAPTERS if c.stem == "07_risk"),
                     workers=1)
    assert res.ok, res.failed
    return res


def test_cross_validated_auc_and_calibration(result):
    m = result.metrics
    print(f"\nrisk model: CV AUC = {m['cv_auc']:.3f} (held-out students), calibration intercept = "
          f"{m['calib_intercept']:.3f}, slope = {m['calib_slope']:.3f}; n = {m['n_train']}, "
          f"events = {m['n_events']}, train years = {m['train_years']}; "
          f"out-of-time AUC on 2025 = {m.get('target_year_auc', float('nan')):.3f}")
    assert m["cv_auc"] >= 0.75
    assert 0.8 <= m["calib_slope"] <= 1.2
    assert 2025 not in m["train_years"]  # no leakage of the target year's outcome


def test_scores_table_and_findings(result, sample_db):
    d = result.tidy()
    assert list(d.columns) == ["student_code", "subject", "risk", "top_factor"]
    assert d["risk"].between(0, 1).all() and d["student_code"].str.fullmatch(CODE_RE).all()
    assert d["top_factor"].str.contains("[а-я]").all()
    for f in result.findings:
        assert f.kind == "risk_students" and f.target_type == "students" and f.estimate >= 5
        assert not CODE_RE.search(f.evidence + f.title)
    doc = {"school_id": "S01", "year": 2025, "toolkit_version": "test",
           "findings": [f.to_dict() for f in result.findings], "decision_evaluations": [], "skipped": []}
    validate_document(doc)
    at = result.scores[result.scores["risk"] >= THRESHOLD]
    assert (result.counts["n"].sum()) == len(at)


def test_public_chapter_has_no_codes_and_no_ids(sample_db, tmp_path, result):
    res = _run(sample_db, tmp_path / "out", "public")
    ids = set(result.scores["student_id"])
    id_re = re.compile(r"(?<![\w.,])(" + "|".join(map(re.escape, sorted(ids))) + r")(?![\w.,])")
    scanned = 0
    for p in res.run_dir.rglob("*"):
        if p.is_file() and p.suffix in (".ipynb", ".csv", ".json"):
            text = p.read_text(encoding="utf-8", errors="replace")
            scanned += 1
            assert not CODE_RE.search(text), p
            assert not id_re.search(text), (p, id_re.search(text))
    assert scanned >= 3
    assert not (res.run_dir / "private").exists()
    assert not (res.run_dir / "tables" / "risk_scores.csv").exists()
    counts = pd.read_csv(res.run_dir / "tables" / "risk_counts.csv")
    assert "student_id" not in counts.columns


def test_internal_chapter_writes_scores_and_code_map(sample_db, tmp_path):
    res = _run(sample_db, tmp_path / "out", "internal")
    scores = pd.read_csv(res.run_dir / "tables" / "risk_scores.csv", dtype=str)
    assert list(scores.columns) == ["student_code", "subject", "risk", "top_factor"]
    cmap = pd.read_csv(res.run_dir / "private" / "code_map.csv", dtype=str)
    assert list(cmap.columns) == ["student_code", "student_id", "full_name"]
    assert set(scores["student_code"]) == set(cmap["student_code"])
