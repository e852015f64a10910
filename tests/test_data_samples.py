"""The committed samples: the municipality validates cleanly; the dirty export rejects exactly its listed rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vsoko_toolkit import validate_folder

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def test_sample_municipality_has_zero_rejects():
    rep = validate_folder(SAMPLES / "municipality")
    assert rep.n_rejected == 0, rep.rejects.head()
    assert set(rep.tables["table"]) >= {"period_marks", "assessments", "assessment_items", "decisions", "surveys"}


def test_dirty_export_rejects_exactly_the_listed_rows():
    bad = pd.read_csv(SAMPLES / "municipality_dirty" / "bad_rows.csv", dtype=str, keep_default_na=False)
    rep = validate_folder(SAMPLES / "municipality_dirty")
    got = {(r.table, int(r.row), r.rule) for r in rep.rejects.itertuples()}
    want = {(r.table, int(r.row), r.rule) for r in bad.itertuples()}
    assert got == want
    assert (rep.tables["accepted"] + rep.tables["rejected"] == rep.tables["read"]).all()
    assert set(rep.tables["encoding"]) >= {"cp1251"}
