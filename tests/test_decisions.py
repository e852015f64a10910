"""Effectiveness of decisions: planted truth of the sample municipality, and false positives on null data."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from vsoko_toolkit.analysis.decisions import evaluate_decisions
from vsoko_toolkit.findings import validate_document

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "municipality"
CUTS = (-1.9, -0.1, 1.1)  # latent -> marks 2/3/4/5
TERMS = ("q1", "q2", "q3", "q4")


def null_decision_warehouse(seed: int, n_schools: int = 4, n_classes: int = 2, class_size: int = 22,
                            metric: str | None = None) -> duckdb.DuckDBPyConnection:
    """A null municipality with a placebo decision for S01's grade-6 classes of 2024 (no effect at all).

    Students keep their class from grade 5 (2023) to grade 6 (2024); latent = ability + class-year
    shock + class-term shock + student-year + term noise: classes and years differ, but the decision
    does nothing, so any ``effective`` verdict is a false positive.
    """
    rng = np.random.default_rng(seed)
    marks, classes = [], []
    for s in range(1, n_schools + 1):
        sid = f"S{s:02d}"
        school = rng.normal(0, 0.3)
        for letter in "АБВ"[:n_classes]:
            ids = [f"{sid}{letter}{i:02d}" for i in range(class_size)]
            ability = school + rng.normal(0, 0.8, class_size)
            for year, grade in ((2023, 5), (2024, 6)):
                cid = f"{sid}-{year}-{grade}{letter}"
                classes.append((cid, sid, year, grade))
                lat_year = ability + rng.normal(0, 0.2) + rng.normal(0, 0.35, class_size)
                for term in TERMS:
                    lat = lat_year + rng.normal(0, 0.08) + rng.normal(0, 0.4, class_size)
                    marks.append(pd.DataFrame({
                        "student_id": ids, "class_id": cid, "school_id": sid, "year": year, "grade": grade,
                        "subject": "Математика", "period": term,
                        "mark_value": 2 + np.searchsorted(CUTS, lat)}))
    pm = pd.concat(marks, ignore_index=True)
    cl = pd.DataFrame(classes, columns=["class_id", "school_id", "year", "grade"])
    metric = metric or str(rng.choice(["quality", "success", "mean_mark"]))
    dec = pd.DataFrame([{
        "decision_id": "D001", "school_id": "S01", "year": 2024, "date": pd.Timestamp("2023-11-10"),
        "problem": "п", "action": "д", "target_type": "class",
        "target_ids": ";".join(f"S01-2024-6{x}" for x in "АБВ"[:n_classes]), "subject": "Математика",
        "responsible": "зам", "metric": metric, "baseline": 0.5, "target_value": 0.6,
        "deadline": pd.Timestamp("2024-05-31")}])
    con = duckdb.connect()
    for name, df in (("period_marks", pm), ("classes", cl), ("decisions", dec)):
        con.register("_t", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _t")
        con.unregister("_t")
    return con


def _doc(res) -> dict:
    return {"school_id": res.school_id, "year": res.year, "toolkit_version": "test", "findings": [],
            "decision_evaluations": [e.to_dict() for e in res.evaluations], "skipped": []}


def test_planted_decisions(sample_con):
    truth = {d["decision_id"]: d for d in json.loads((SAMPLE / "truth.json").read_text("utf-8"))["decisions"]}
    seen = set()
    for school in sorted({d["school_id"] for d in truth.values()}):
        res = evaluate_decisions(sample_con, school, 2025)
        validate_document(_doc(res))
        t = res.tidy().set_index("decision_id")
        for did, row in t.iterrows():
            tr = truth[did]
            seen.add(did)
            print(f"\n{did} {tr['kind']:9s} planted={tr['effect']:+.3f} -> {row['method']} {row['verdict']} "
                  f"effect={row['effect']} CI=({row['ci_low']}, {row['ci_high']}) pretrend p={row['pretrend_p']}")
            if tr["kind"] == "effective":
                assert row["verdict"] == "effective"
                assert row["ci_low"] <= tr["effect"] <= row["ci_high"]
            elif tr["kind"] == "placebo":
                assert row["verdict"] != "effective"
            elif tr["kind"] == "not_due":
                assert row["verdict"] == "not_due"
        for ev in res.evaluations:
            assert ev.explanation and any(ch in ev.explanation for ch in "абвгд")
        for did in res.evaluated():
            ax = res.plot(did)
            assert ax.get_title()
            import matplotlib.pyplot as plt

            plt.close(ax.figure)
    assert seen == set(truth)


def test_null_placebo_rate():
    n, hits, methods = 200, 0, {}
    for seed in range(n):
        con = null_decision_warehouse(seed)
        res = evaluate_decisions(con, "S01", 2024)
        ev = res.evaluations[0]
        methods[ev.method] = methods.get(ev.method, 0) + 1
        hits += ev.verdict == "effective"
        if seed == 0:
            validate_document(_doc(res))
        con.close()
    rate, se = hits / n, np.sqrt(0.05 * 0.95 / n)
    print(f"\nnull DiD: placebo called effective in {hits}/{n} = {rate:.1%} "
          f"(limit {0.05 + 2 * se:.1%}); methods {methods}")
    assert methods.get("did", 0) == n
    assert rate <= 0.05 + 2 * se


def test_null_its_rate():
    """A single school (no comparison classes): interrupted time series on the targets' own history."""
    n, hits, methods = 100, 0, {}
    for seed in range(n):
        con = null_decision_warehouse(10_000 + seed, n_schools=1, n_classes=2)
        ev = evaluate_decisions(con, "S01", 2024).evaluations[0]
        methods[ev.method] = methods.get(ev.method, 0) + 1
        hits += ev.verdict == "effective"
        con.close()
    rate = hits / n
    print(f"\nnull ITS: placebo called effective in {hits}/{n} = {rate:.1%}; methods {methods}")
    assert methods.get("its", 0) == n
    assert rate <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / n)


def test_not_due_and_missing_register():
    con = null_decision_warehouse(1)
    con.execute("UPDATE decisions SET date = DATE '2024-08-30', deadline = DATE '2025-05-31'")
    ev = evaluate_decisions(con, "S01", 2024).evaluations[0]
    assert ev.verdict == "not_due" and ev.method == "none"
    con.execute("UPDATE decisions SET date = DATE '2023-11-10', metric = 'vpr_confirm_share'")
    ev = evaluate_decisions(con, "S01", 2024).evaluations[0]
    assert ev.verdict == "insufficient_data"
    con.execute("DELETE FROM decisions")
    res = evaluate_decisions(con, "S01", 2024)
    assert res.tidy().empty and res.skipped[0].analysis == "decision_effects"
    con.execute("DROP TABLE decisions")
    res = evaluate_decisions(con, "S01", 2024)
    assert res.tidy().empty and res.skipped
    con.close()
