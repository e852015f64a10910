"""Value added: recovery of planted teacher effects, false findings on null data, interval coverage.

The fast simulator (:func:`sim_warehouse`) writes an in-memory DuckDB with the tables the value-added and
factor analyses read: two years of year marks of the same students, teachers, attendance, schools. Students
have a persistent ability; teachers (one per school × grade × subject, two classes each) add ``tau`` marks
to their students' current-year marks; nothing else has any effect.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ProcessPoolExecutor

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from vsoko_toolkit.analysis.value_added import value_added
from vsoko_toolkit.findings import validate_document

N_SIM = 200
LEVEL = 0.05
YEAR = 2025
SUBJECTS = ("Математика", "Русский язык")


def sim_warehouse(seed: int, tau_sd: float = 0.0, n_schools: int = 3, grades=range(5, 9), classes: int = 2,
                  size: int = 20):
    """(connection, planted teacher effects {(teacher_id, subject): tau}) of a small simulated municipality."""
    rng = np.random.default_rng(seed)
    marks, asg, att, stu, tch, taus = [], [], [], [], [], {}
    for s in range(1, n_schools + 1):
        sid = f"S{s:02d}"
        for g in grades:
            for subj in SUBJECTS:
                tid = f"T{sid}{g}{subj[0]}"
                taus[(tid, subj)] = rng.normal(0, tau_sd) if tau_sd else 0.0
                tch.append((tid, sid, rng.choice(["highest", "first", "none"]), int(rng.integers(1, 35)),
                            int(rng.integers(0, 200))))
            for c in "АБВ"[:classes]:
                ids = [f"{sid}{g}{c}{i:02d}" for i in range(size)]
                a = rng.normal(0, 0.6, size)
                stu += [(i, bool(rng.random() < 0.05)) for i in ids]
                for yr, gr in ((YEAR - 1, g - 1), (YEAR, g)):
                    cls = f"{sid}-{yr}-{gr}{c}"
                    att += [(i, cls, "h1", 300, int(rng.integers(0, 40)), sid, yr, gr) for i in ids]
                    for subj in SUBJECTS:
                        tid = f"T{sid}{g}{subj[0]}" if yr == YEAR else f"P{sid}{gr}{c}{subj[0]}"
                        asg.append((tid, cls, subj, sid, yr, gr))
                        eff = taus[(tid, subj)] if yr == YEAR else 0.0
                        m = np.clip(np.round(3.7 + a + eff + rng.normal(0, 0.45, size)), 2, 5).astype(int)
                        marks.append(pd.DataFrame({"student_id": ids, "class_id": cls, "subject": subj,
                                                   "period": "year", "mark": m.astype(str), "mark_value": m,
                                                   "school_id": sid, "year": yr, "grade": gr}))
    con = duckdb.connect()
    tables = {
        "period_marks": pd.concat(marks, ignore_index=True),
        "assignments": pd.DataFrame(asg, columns=["teacher_id", "class_id", "subject", "school_id", "year", "grade"]),
        "attendance": pd.DataFrame(att, columns=["student_id", "class_id", "period", "lessons_total",
                                                 "lessons_missed", "school_id", "year", "grade"]),
        "students": pd.DataFrame(stu, columns=["student_id", "special_needs"]).drop_duplicates("student_id"),
        "teachers": pd.DataFrame(tch, columns=["teacher_id", "school_id", "category", "experience_years",
                                               "pd_hours_3y"]),
        "schools": pd.DataFrame({"school_id": [f"S{s:02d}" for s in range(1, n_schools + 1)],
                                 "social_index": rng.normal(0, 1, n_schools)}),
    }
    for name, df in tables.items():
        con.register("tmp", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM tmp")
        con.unregister("tmp")
    return con, taus


def _doc(findings) -> dict:
    return {"school_id": "S01", "year": YEAR, "toolkit_version": "test",
            "findings": [f.to_dict() for f in findings], "decision_evaluations": [], "skipped": []}


def one_null(seed: int) -> tuple[int, int, int]:
    """(any finding, intervals covering 0, teacher intervals) on a null municipality."""
    con, _ = sim_warehouse(seed)
    try:
        va = value_added(con, "S01", YEAR)
        t = va.tidy()
        t = t[t["unit_type"] == "teacher"]
        return int(bool(va.findings)), int(((t["ci_low"] <= 0) & (t["ci_high"] >= 0)).sum()), len(t)
    finally:
        con.close()


def one_planted(seed: int) -> tuple[int, int]:
    """(intervals covering the planted tau, teacher intervals) with tau ~ N(0, 0.15^2)."""
    con, taus = sim_warehouse(seed, tau_sd=0.15)
    try:
        t = value_added(con, "S01", YEAR).tidy()
        t = t[t["unit_type"] == "teacher"]
        truth = np.array([taus[(u, s)] for u, s in zip(t["unit_id"], t["subject"], strict=True)])
        return int(((t["ci_low"] <= truth) & (truth <= t["ci_high"])).sum()), len(t)
    finally:
        con.close()


def test_null_false_finding_rate_and_coverage():
    with ProcessPoolExecutor(max_workers=2) as pool:
        res = list(pool.map(one_null, range(20_000, 20_000 + N_SIM), chunksize=10))
        planted = list(pool.map(one_planted, range(30_000, 30_040), chunksize=10))
    hits = sum(r[0] for r in res)
    rate = hits / N_SIM
    bound = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / N_SIM)
    cov0 = sum(r[1] for r in res) / sum(r[2] for r in res)
    cov = sum(r[0] for r in planted) / sum(r[1] for r in planted)
    print(f"\nvalue added, null: {hits}/{N_SIM} runs with a finding = {rate:.3f} (bound {bound:.3f}); "
          f"coverage of 0: {cov0:.3f}; coverage of planted tau (sd 0.15, 40 sims): {cov:.3f}")
    assert rate <= bound
    assert cov0 >= 0.95
    # Known shortfall (issue 8 report): conditional EB intervals ignore the uncertainty of the fixed effects
    # and of the estimated teacher variance (24 teacher units per simulation), and rounding/clipping of marks
    # makes the planted latent tau differ from the effect on the mark scale; observed coverage is ~0.85.
    assert cov >= 0.78


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    from vsoko_toolkit import ingest

    db = tmp_path_factory.mktemp("va") / "sample.duckdb"
    ingest("data_samples/municipality", str(db))
    con = duckdb.connect(str(db), read_only=True)
    yield con
    con.close()


def test_sample_municipality_recovers_planted_teachers(sample_db):
    truth = json.load(open("data_samples/municipality/truth.json", encoding="utf-8"))
    tables, flagged = [], []
    for sid in ("S01", "S02", "S03", "S04"):
        va = value_added(sample_db, sid, YEAR)
        validate_document(_doc(va.findings))
        ax = va.plot()
        assert ax is not None
        tables.append(va.tidy())
        flagged += [(f.target_id, f.subject, f.kind) for f in va.findings if f.target_type == "teacher"]
    t = pd.concat(tables)
    t = t[t["unit_type"] == "teacher"]
    planted = np.array([truth["teacher_effects"].get(u, {}).get(s, np.nan)
                        for u, s in zip(t["unit_id"], t["subject"], strict=True)])
    ok = ~np.isnan(planted)
    rho = spearmanr(t["estimate"][ok], planted[ok]).statistic
    print(f"\nsample municipality: Spearman(estimated, planted teacher effects) = {rho:.3f} over {ok.sum()} "
          f"teacher × subject units; flagged teachers: {flagged}")
    assert rho >= 0.6
    for kind, key in (("low_value_added", "low_value_added"), ("high_value_added", "high_value_added")):
        for p in truth[key]:
            assert (p["teacher_id"], p["subject"], kind) in flagged, p
