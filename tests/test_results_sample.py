"""On the sample municipality: the planted declining trend is found in its school and subject, with its cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vsoko_toolkit import ingest
from vsoko_toolkit.analysis.dynamics import results_dynamics
from vsoko_toolkit.warehouse.store import connect

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "municipality"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("sample") / "w.duckdb"
    ingest(SAMPLE, db)
    return db


def test_planted_decline_found_with_sign_and_cause(sample_db):
    truth = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))["declining_trend"]
    year = max(truth["years"])
    con = connect(sample_db)
    res = results_dynamics(con, truth["school_id"], year)
    trend = [f for f in res.findings if f.kind in ("declining_trend", "improving_trend")]
    hit = [f for f in trend if f.subject == truth["subject"]]
    print(f"\nplanted: {truth['school_id']} {truth['subject']} cause={truth['cause']}; "
          f"found: {[(f.kind, f.subject, round(f.estimate, 3)) for f in trend]}")
    assert hit and hit[0].kind == "declining_trend" and hit[0].estimate < 0
    within, composition = (c.verdict for c in hit[0].causes)
    expected = ("supported", "not_supported") if truth["cause"] == "teacher" else ("not_supported", "supported")
    assert (within, composition) == expected
    # the other schools have no planted trend in that subject (random teacher effects may still move one)
    others = [s for s in ("S02", "S03", "S04") if s != truth["school_id"]]
    flagged = sum(bool([f for f in results_dynamics(con, s, year, n_boot=30).findings
                        if f.kind.endswith("_trend") and f.subject == truth["subject"]]) for s in others)
    assert flagged <= 1
