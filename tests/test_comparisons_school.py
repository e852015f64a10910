"""Class vs the rest of the school: counts, Newcombe interval and the finding rule, by hand.

The rule (module docstring of ``analysis/comparisons.py``): the class-vs-school comparison is always in the table,
but it is tested (p/q values, a possible ``low_result``) only when the class has neither a parallel comparison nor a
municipal comparison of its grade.
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor

import duckdb
import numpy as np
import pandas as pd
import pytest
from simnull import null_warehouse

from vsoko_toolkit.analysis.comparisons import compare_results
from vsoko_toolkit.analysis.dynamics import results_dynamics

Z = 1.959964  # 97.5 % normal quantile to 7 digits: intervals agree to ~1e-8
# one-parallel school S01, Математика, 2025
BASE = {"S01-2025-5А": [2, 3, 3, 3, 3, 3, 3, 3, 4, 3],  # quality 1/10, success 9/10
        "S01-2025-6А": [5, 5, 4, 4, 4, 4, 4, 3, 3, 3],  # quality 7/10, success 10/10
        "S01-2025-7А": [5, 4, 4, 4, 4, 4, 3, 3, 4, 5]}  # quality 8/10, success 10/10


def warehouse(marks: dict[str, list[int]]) -> duckdb.DuckDBPyConnection:
    rows = [{"school_id": c[:3], "year": 2025, "grade": int(c.rsplit("-", 1)[1][:-1]), "class_id": c,
             "student_id": f"{c}-{i}", "subject": "Математика", "period": "year", "mark_value": m, "mark": str(m)}
            for c, ms in marks.items() for i, m in enumerate(ms)]
    con = duckdb.connect()
    con.register("m", pd.DataFrame(rows))
    con.execute("CREATE TABLE period_marks AS SELECT * FROM m")
    con.execute("CREATE TABLE assignments AS SELECT DISTINCT 'T1' AS teacher_id, class_id, subject, school_id, year "
                "FROM m")
    con.unregister("m")
    return con


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


def test_single_class_grades_are_tested_against_the_rest_of_the_school():
    res = compare_results(warehouse(BASE), "S01", 2025)
    t = res.tidy().set_index(["comparison", "target_id", "metric"])
    assert set(res.tidy()["comparison"]) == {"school"}  # no parallel, no other school, no last year
    r = t.loc[("school", "S01-2025-5А", "quality")]
    # 5А: one 4 of 10; the rest of the school (6А + 7А): 7 + 8 = 15 of 20
    assert (r.k1, r.n1, r.k2, r.n2) == (1, 10, 15, 20) and r.grade == 5 and r.tested
    assert r["diff"] == pytest.approx(0.1 - 0.75)
    (l1, u1), (l2, u2) = wilson(1, 10), wilson(15, 20)  # Newcombe (1998) method 10
    assert r.diff_lower == pytest.approx(-0.65 - math.hypot(0.1 - l1, u2 - 0.75), abs=1e-7)
    assert r.diff_upper == pytest.approx(-0.65 + math.hypot(u1 - 0.1, 0.75 - l2), abs=1e-7)
    pooled = 16 / 30  # score test
    z = -0.65 / math.sqrt(pooled * (1 - pooled) * (1 / 10 + 1 / 20))
    assert r.p_value == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(abs(z) / math.sqrt(2)))), rel=1e-6)
    # 6 tests (3 classes x 2 metrics) in the family; this one has the smallest p
    assert r.q_value == pytest.approx(6 * r.p_value) and r.flagged
    r = t.loc[("school", "S01-2025-6А", "success")]
    assert (r.k1, r.n1, r.k2, r.n2) == (10, 10, 19, 20) and not r.flagged
    assert not t.loc[("school", "S01-2025-7А", "quality"), "flagged"]  # 8/10 vs 8/20: above, never a finding
    (f,) = res.findings
    assert (f.kind, f.target_type, f.target_id, f.metric, f.extra["comparison"]) == \
        ("low_result", "class", "S01-2025-5А", "quality", "school")
    assert "против остальных классов школы" in f.title and "в остальных классах школы" in f.evidence
    assert f.estimate == pytest.approx(-0.65) and f.n == 10


def test_a_parallel_takes_precedence_over_the_school():
    marks = {**BASE, "S01-2025-5Б": [5, 4, 4, 4, 4, 4, 4, 4, 3, 3]}  # quality 8/10
    res = compare_results(warehouse(marks), "S01", 2025)
    t = res.tidy().set_index(["comparison", "target_id", "metric"])
    r = t.loc[("school", "S01-2025-5А", "quality")]
    # reported, with its interval, but not tested: 5А has a parallel comparison
    assert (r.k1, r.n1, r.k2, r.n2) == (1, 10, 23, 30) and r.diff_upper < 0
    assert not r.tested and np.isnan(r.p_value) and np.isnan(r.q_value) and not r.flagged
    assert t.loc[("school", "S01-2025-6А", "quality"), "tested"]  # still alone in its grade
    tested = res.tidy()[res.tidy()["tested"]]
    assert len(tested) == 8 and tested["q_value"].notna().all()  # 2 parallel + 2 school rows, x 2 metrics
    p = t.loc[("parallel", "S01-2025-5А", "quality")]
    assert (p.k1, p.n1, p.k2, p.n2) == (1, 10, 8, 10) and p.flagged
    found = [(f.target_id, f.metric, f.extra["comparison"]) for f in res.findings]
    assert found == [("S01-2025-5А", "quality", "parallel")]  # one finding on one fact


def test_a_municipal_comparison_of_the_grade_takes_precedence_over_the_school():
    marks = {**BASE, "S02-2025-5А": [5, 4, 4, 4, 4, 4, 4, 4, 3, 3]}
    t = compare_results(warehouse(marks), "S01", 2025).tidy().set_index(["comparison", "target_id", "metric"])
    assert not t.loc[("school", "S01-2025-5А", "quality"), "tested"]
    assert t.loc[("municipality", "5", "quality"), "flagged"]
    assert t.loc[("school", "S01-2025-6А", "quality"), "tested"]  # S02 has no grade 6


def test_the_chapter_family_counts_only_tested_school_rows():
    marks = {**BASE, "S01-2025-5Б": [5, 4, 4, 4, 4, 4, 4, 4, 3, 3]}
    res = results_dynamics(warehouse(marks), "S01", 2025, n_boot=20)
    t = res.comparisons.tidy()
    school = t[t["comparison"] == "school"]
    assert school.loc[~school["tested"], "q_value"].isna().all()
    assert school.loc[school["tested"], "q_value"].notna().all()
    assert not any(f.extra.get("comparison") == "school" for f in res.findings)


def one_null(seed: int) -> tuple[int, int]:
    """(any class-vs-school finding, school comparisons tested) on a null one-parallel school analysed alone."""
    con = null_warehouse(seed, n_schools=1, classes_per_grade=1)
    try:
        res = compare_results(con, "S01", 2025)
    finally:
        con.close()
    t = res.tidy()
    return (int(any(f.extra["comparison"] == "school" for f in res.findings)),
            int((t["tested"] & (t["comparison"] == "school")).sum()))


def test_no_school_finding_on_null_one_parallel_schools():
    """Nothing planted; every class is tested against the rest of its school (5 grades x 3 subjects x 2 metrics)."""
    n_sim, level = 200, 0.05
    with ProcessPoolExecutor(max_workers=2) as pool:
        res = list(pool.map(one_null, range(40_000, 40_000 + n_sim), chunksize=20))
    hits, tested = sum(r[0] for r in res), sum(r[1] for r in res)
    bound = level + 2 * math.sqrt(level * (1 - level) / n_sim)
    print(f"\nclass vs school on {n_sim} null one-parallel schools: {hits} runs with a finding = {hits / n_sim:.3f} "
          f"(bound {bound:.3f}); {tested / n_sim:.0f} school comparisons tested per run")
    assert tested == 30 * n_sim
    assert hits / n_sim <= bound
