"""Null simulation for the marking offsets: no teacher marks differently, so any inflated/deflated finding is false.

Each municipality is small (3 schools × 2 classes × 12 students, one teacher per school) because the cost is the
mixed-model fit per run, not the data; the count of simulations is kept at 200.
"""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from simnull import sim_count

from vsoko_toolkit.analysis.objectivity import objectivity

N_SIM = sim_count(200)
LEVEL = 0.05


def null_con(seed: int, n_schools: int = 3, n_classes: int = 2, n: int = 12,
             minimal: bool = False) -> duckdb.DuckDBPyConnection:
    """ВПР and journal marks both driven by the same ability with independent noise; no marking offsets.

    ``minimal``: the contract's form — no ``assessments.journal_mark``; the journal mark is the third-quarter
    mark in ``period_marks`` and the works have a date in April (the analysis derives the mark)."""
    rng = np.random.default_rng(seed)
    rows, asg = [], []
    for s in range(1, n_schools + 1):
        for c in range(n_classes):
            cls = f"S{s:02d}-2025-6{'АБВГ'[c]}"
            ability = rng.normal(0, 1, n)
            vpr = np.clip(np.round(3.5 + 0.8 * ability + rng.normal(0, 0.5, n)), 2, 5).astype(int)
            journal = np.clip(np.round(3.8 + 0.8 * ability + rng.normal(0, 0.5, n)), 2, 5).astype(int)
            rows.append(pd.DataFrame({"school_id": f"S{s:02d}", "year": 2025, "grade": 6, "class_id": cls,
                                      "subject": "Математика", "student_id": [f"{cls}-{i}" for i in range(n)],
                                      "kind": "VPR", "mark": vpr, "journal_mark": journal}))
            asg.append({"class_id": cls, "subject": "Математика", "teacher_id": f"T{s:02d}"})
    a, g = pd.concat(rows), pd.DataFrame(asg)  # noqa: F841 - read by DuckDB by name
    con = duckdb.connect()
    if minimal:
        con.execute("CREATE TABLE period_marks AS SELECT student_id, class_id, subject, year, 'q3' AS period, "
                    "journal_mark AS mark_value FROM a")
        a = a.drop(columns="journal_mark").assign(date=pd.Timestamp("2025-04-15"))
    con.execute("CREATE TABLE assessments AS SELECT * FROM a")
    con.execute("CREATE TABLE assignments AS SELECT * FROM g")
    return con


@pytest.mark.parametrize("minimal", [False, True], ids=["journal_mark", "derived_from_terms"])
def test_false_marking_offset_rate_on_null_marks(minimal):
    hits = 0
    for seed in range(N_SIM):
        con = null_con(seed, minimal=minimal)
        res = objectivity(con, "S01", 2025)
        hits += int(any(f.kind in ("inflated_marks", "deflated_marks") for f in res.findings))
        con.close()
    rate = hits / N_SIM
    bound = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / N_SIM)
    print(f"\nnull marks ({'derived' if minimal else 'given'} journal mark): {hits}/{N_SIM} runs with an inflated/deflated finding = {rate:.3f} (bound {bound:.3f})")
    assert rate <= bound
