"""Factor models: no factor finding on null data; findings and decomposition on the sample municipality.

Null data come from the fast simulator of ``tests/test_value_added.py`` (no teacher effects; absence,
special needs, teacher category/experience/PD hours and the social index are drawn independently of
marks). 200 simulations; to keep the test near a minute of CPU the fits use one optimizer (``lbfgs``):
the selection guard is tested in ``tests/test_mixed*.py``, here only the false-finding rate matters.
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor

import duckdb
from simnull import sim_count
from test_value_added import YEAR, sim_warehouse

from vsoko_toolkit.analysis.factors import factor_models
from vsoko_toolkit.findings import validate_document

N_SIM = sim_count(200)
LEVEL = 0.05


def one(seed: int) -> int:
    con, _ = sim_warehouse(seed)
    try:
        return int(bool(factor_models(con, "S01", YEAR, methods=("lbfgs",)).findings))
    finally:
        con.close()


def test_null_false_factor_rate():
    with ProcessPoolExecutor(max_workers=2) as pool:
        hits = sum(pool.map(one, range(40_000, 40_000 + N_SIM), chunksize=10))
    rate = hits / N_SIM
    bound = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / N_SIM)
    print(f"\nfactor models, null: {hits}/{N_SIM} runs with a factor finding = {rate:.3f} (bound {bound:.3f})")
    assert rate <= bound


def test_factor_result_shape_and_findings():
    con, _ = sim_warehouse(7)
    res = factor_models(con, "S01", YEAR)
    t = res.tidy()
    assert {"subject", "factor", "estimate", "ci_low", "ci_high", "q_value", "flagged", "unadjusted"} <= set(t)
    assert set(res.variance["level"]) >= {"school_id", "class", "teacher"}
    assert res.plot() is not None
    doc = {"school_id": "S01", "year": YEAR, "toolkit_version": "test",
           "findings": [f.to_dict() for f in res.findings], "decision_evaluations": [], "skipped": []}
    validate_document(doc)
    con.close()


def test_sample_municipality_factor_findings_validate(sample_db_path):
    con = duckdb.connect(str(sample_db_path), read_only=True)
    res = factor_models(con, "S01", YEAR)
    validate_document({"school_id": "S01", "year": YEAR, "toolkit_version": "test",
                       "findings": [f.to_dict() for f in res.findings], "decision_evaluations": [],
                       "skipped": []})
    print("\n" + res.tidy()[["subject", "factor", "estimate", "unadjusted", "q_value"]].to_string())
    assert len(res.tidy()) >= 10
    con.close()
