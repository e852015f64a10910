"""Results and dynamics: comparisons by hand, planted declines found with the right cause."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from simnull import null_warehouse

from vsoko_toolkit.analysis.comparisons import compare_results
from vsoko_toolkit.analysis.dynamics import results_dynamics


def tiny() -> duckdb.DuckDBPyConnection:
    """Two classes of grade 7 in S01 (10 and 8 students), grade 7 of S02 for the municipality."""
    marks = {"S01-2025-7А": [5, 5, 4, 4, 4, 4, 3, 3, 3, 3], "S01-2025-7Б": [3, 3, 3, 3, 3, 3, 2, 4],
             "S02-2025-7А": [4, 4, 4, 5, 3, 3]}
    rows = [{"school_id": c[:3], "year": 2025, "grade": 7, "class_id": c, "student_id": f"{c}-{i}",
             "subject": "Математика", "period": "year", "mark_value": m, "mark": str(m)}
            for c, ms in marks.items() for i, m in enumerate(ms)]
    con = duckdb.connect()
    con.register("m", pd.DataFrame(rows))
    con.execute("CREATE TABLE period_marks AS SELECT * FROM m")
    con.execute("CREATE TABLE assignments AS SELECT 'T1' AS teacher_id, 'S01-2025-7Б' AS class_id, "
                "'Математика' AS subject, 'S01' AS school_id, 2025 AS year")
    return con


def test_class_vs_rest_of_parallel_by_hand():
    t = compare_results(tiny(), "S01", 2025).tidy().set_index(["comparison", "target_id", "metric"])
    r = t.loc[("parallel", "S01-2025-7Б", "quality")]
    # 7Б: one 4 of 8 -> 1/8; the rest of the parallel (7А): 6 of 10
    assert (r.k1, r.n1, r.k2, r.n2) == (1, 8, 6, 10)
    assert r.p1 == pytest.approx(0.125) and r.p2 == pytest.approx(0.6) and r["diff"] == pytest.approx(-0.475)
    r = t.loc[("parallel", "S01-2025-7Б", "success")]
    assert (r.k1, r.n1, r.k2, r.n2) == (7, 8, 10, 10)
    # the school's grade 7 vs S02's grade 7: quality 7/18 vs 4/6
    r = t.loc[("municipality", "7", "quality")]
    assert (r.k1, r.n1, r.k2, r.n2) == (7, 18, 4, 6)
    tested = t[t["tested"]]
    assert tested["q_value"].notna().all() and (tested["q_value"] >= tested["p_value"] - 1e-12).all()
    assert set(t[~t["tested"]].index.get_level_values("comparison")) == {"school"}
    # class vs the rest of the school: both classes have a parallel, so reported untested (no p/q, no finding);
    # 7Б against 7А is the same data as its parallel comparison (a one-grade school)
    s = t.loc[("school", "S01-2025-7Б", "quality")]
    assert (s.k1, s.n1, s.k2, s.n2) == (1, 8, 6, 10) and not s.tested and pd.isna(s.q_value) and not s.flagged


@pytest.mark.parametrize("cause,within,composition", [("teaching", "supported", "not_supported"),
                                                      ("intake", "not_supported", "supported")])
def test_planted_decline_is_found_with_its_cause(cause, within, composition):
    con = null_warehouse(7, decline=0.45, cause=cause, class_size=25)
    res = results_dynamics(con, "S01", 2025, n_boot=200)
    trend = [f for f in res.findings if f.kind in ("declining_trend", "improving_trend")]
    math = [f for f in trend if f.subject == "Математика"]
    assert math and math[0].kind == "declining_trend" and math[0].estimate < 0
    verdicts = [c.verdict for c in math[0].causes]
    assert verdicts == [within, composition], math[0].causes
    assert math[0].recommendation is not None and math[0].recommendation.control_metric == "mean_mark"
