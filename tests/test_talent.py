"""Talent work (issue 18): the planted concentration is found where it was planted, nothing on null data,
the minimal form skips with a reason, dirty rows are rejected, the chapter runs, public output suppresses."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from vsoko_toolkit import validate_folder
from vsoko_toolkit.analysis.talent import concentration_test, talent, top_share
from vsoko_toolkit.report import talent_text as tt

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
TRUTH = json.loads((SAMPLES / "municipality" / "truth.json").read_text(encoding="utf-8"))


def test_top_share_by_hand():
    assert top_share([3, 1, 0, 0]) == pytest.approx(0.75)  # ceil(0.05*4) = 1 student holds 3 of 4
    assert math.isnan(top_share([0, 0, 0]))


def test_planted_concentration_found_in_its_school_only(sample_con):
    planted = TRUTH["upbringing"]["talent_concentration"]
    target = planted["school_id"]
    schools = [s for (s,) in sample_con.execute("SELECT school_id FROM schools ORDER BY 1").fetchall()]
    found = {}
    for s in schools:
        res = talent(sample_con, s, 2025)
        found[s] = [f for f in res.findings if f.kind == "talent_concentration"]
    assert len(found[target]) == 1, found
    f = found[target][0]
    assert f.area == "talent" and f.target_type == "school" and f.polarity == "problem"
    assert f.estimate > f.extra["expected"] and f.q_value < 0.05  # the right sign: more concentrated
    assert f.ci_low > f.extra["expected"]
    assert f.estimate == pytest.approx(TRUTH["upbringing"]["top5_prize_share"][target]["2025"], abs=1e-4)
    assert all(not v for s, v in found.items() if s != target), "a concentration was found where none was planted"


def _null_municipality(rng, n_schools=4, n_students=150):
    """Exchangeable schools: per participant, rows ~ 1 + Poisson(1), prizes ~ Binomial(rows, expit(ability))."""
    rows = []
    for s in range(n_schools):
        ability = rng.normal(-1.2, 1.0, n_students)
        k = 1 + rng.poisson(1.0, n_students)
        prizes = rng.binomial(k, 1 / (1 + np.exp(-ability)))
        rows.append(pd.DataFrame({"school_id": f"S{s}", "year": 2025, "student_id": np.arange(n_students),
                                  "prizes": prizes}))
    return pd.concat(rows, ignore_index=True)


def test_null_rate_of_concentration_findings():
    rng = np.random.default_rng(20250918)
    n_sim, hits, tests = 150, 0, 0
    for i in range(n_sim):
        c = concentration_test(_null_municipality(rng), 2025, {"n_boot": 300, "seed": i})
        hits += int(c["flagged"].sum())
        tests += int(c["tested"].sum())
    rate = hits / tests
    margin = 2 * math.sqrt(0.05 * 0.95 / tests)
    print(f"talent_concentration on null data: {hits} of {tests} school tests ({rate:.3%}), allowed 5 % + {margin:.3%}")
    assert rate <= 0.05 + margin


def test_minimal_form_without_olympiads_says_what_is_missing():
    con = duckdb.connect()
    con.execute("CREATE TABLE enrollments (student_id VARCHAR, class_id VARCHAR, school_id VARCHAR, year INTEGER, "
                "grade INTEGER)")
    res = talent(con, "S01", 2025)
    assert res.findings == () and res.skipped and "olympiads.csv" in res.skipped[0].reason
    assert "olympiads.csv" in tt.stages_table(res).iloc[0, 0]
    res.plot()


def test_dirty_rows_of_olympiads_teacher_rejected():
    bad = pd.read_csv(SAMPLES / "municipality_dirty" / "bad_rows.csv", dtype=str, keep_default_na=False)
    mine = bad[(bad.table == "olympiads") & (bad.column == "teacher_id")]
    assert list(mine.rule) == ["foreign_key"]
    rep = validate_folder(SAMPLES / "municipality_dirty")
    got = {(r.table, int(r.row), r.rule) for r in rep.rejects.itertuples() if r.table in ("olympiads", "activities",
                                                                                          "offences")}
    want = {(r.table, int(r.row), r.rule) for r in bad.itertuples() if r.table in ("olympiads", "activities",
                                                                                  "offences")}
    assert got == want and {t for t, _, _ in want} == {"olympiads", "activities", "offences"}


def test_public_stage_table_suppresses_small_counts(sample_con):
    res = talent(sample_con, "S01", 2025)
    pub = tt.stages_table(res, public=True)
    raw = res.stages
    small = raw["winners"].between(1, 4)
    assert small.any()
    assert (pub.loc[small.to_numpy(), "победители"] == "< 5").all()
    assert not {"teacher_id"} & set(res.teachers.columns) - {"teacher_id"}  # internal table keeps ids
    from vsoko_toolkit.pipeline.context import public_table

    assert "teacher_id" not in public_table(tt.teachers_table(res)).columns
