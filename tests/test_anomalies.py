"""Score anomalies: the planted ОГЭ pile-up is found in its school; no pile-up on smooth null scores."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd

from vsoko_toolkit.analysis.anomalies import bunching_test, score_anomalies
from vsoko_toolkit.analysis.tasks import task_analysis
from vsoko_toolkit.findings import validate_document

N_SIM = 200
LEVEL = 0.05
WORKS = (("OGE", "Математика", 9, 25, 8), ("OGE", "Русский язык", 9, 33, 15), ("VPR", "Математика", 7, 19, 7))


def null_con(seed: int, n: int = 60) -> duckdb.DuckDBPyConnection:
    """One school, two years, three works; scores = sums of Bernoulli tasks with a student ability (smooth)."""
    rng = np.random.default_rng(seed)
    rows, scales = [], []
    for kind, subject, grade, max_score, thr in WORKS:
        diff = rng.normal(0, 1, size=max_score)
        for year in (2024, 2025):
            ability = rng.normal(0, 1, size=n)
            p = 1 / (1 + np.exp(-(ability[:, None] - diff[None, :])))
            score = (rng.random(p.shape) < p).sum(1)
            rows.append(pd.DataFrame({"school_id": "S01", "year": year, "kind": kind, "subject": subject,
                                      "grade": grade, "class_id": f"S01-{year}-{grade}A",
                                      "student_id": [f"P{year}{grade}{i:03d}" for i in range(n)],
                                      "primary_score": score.astype(float)}))
        scales.append({"kind": kind, "subject": subject, "grade": grade, "year": 2025, "mark": 3,
                       "min_primary": float(thr)})
    con = duckdb.connect()
    a, s = pd.concat(rows), pd.DataFrame(scales)  # noqa: F841 - read by DuckDB by name
    con.execute("CREATE TABLE assessments AS SELECT * FROM a")
    con.execute("CREATE TABLE scales AS SELECT * FROM s")
    return con


def test_bunching_test_sees_a_pile_up():
    rng = np.random.default_rng(1)
    s = rng.binomial(25, 0.45, size=200).astype(float)
    base = bunching_test(s, 8)
    piled = s.copy()
    piled[(piled >= 5) & (piled <= 7)] = 8
    hit = bunching_test(piled, 8)
    assert hit["at_threshold"] > base["at_threshold"]
    assert hit["p_value"] < 0.001


def test_false_peak_rate_on_null_scores():
    hits = 0
    for seed in range(N_SIM):
        con = null_con(seed)
        hits += int(bool(score_anomalies(con, "S01", 2025).findings))
        con.close()
    rate = hits / N_SIM
    bound = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / N_SIM)
    print(f"\nnull scores: {hits}/{N_SIM} runs with a threshold_peak finding = {rate:.3f} (bound {bound:.3f})")
    assert rate <= bound


def null_items_con(seed: int, n_classes: int = 3, n: int = 22) -> duckdb.DuckDBPyConnection:
    """Per-task scores of a null school: class levels differ, tasks have benchmark rates, no deficit."""
    rng = np.random.default_rng(seed)
    n_tasks = 14
    max_score = rng.choice([1, 1, 1, 2], size=n_tasks)
    bench = rng.uniform(0.35, 0.85, size=n_tasks)
    skills = [f"умение {i // 2}" for i in range(n_tasks)]
    specs = pd.DataFrame({"kind": "VPR", "subject": "Математика", "grade": 6, "year": 2025,
                          "task": [str(i + 1) for i in range(n_tasks)], "max_score": max_score.astype(float),
                          "skill": skills, "region_pct": 100 * bench, "russia_pct": 100 * bench})
    rows = []
    lb = np.log(bench / (1 - bench))
    for c in range(n_classes):
        cls = f"S01-2025-6{'АБВГ'[c]}"
        shift = rng.normal(0, 0.3)
        ability = rng.normal(shift, 0.8, size=n)
        p = 1 / (1 + np.exp(-(lb[None, :] + ability[:, None])))
        sc = rng.binomial(np.broadcast_to(max_score, p.shape), p)
        for i in range(n):
            rows.append(pd.DataFrame({"student_id": f"{cls}-{i}", "kind": "VPR", "subject": "Математика",
                                      "year": 2025, "task": specs["task"], "score": sc[i].astype(float),
                                      "school_id": "S01", "class_id": cls, "grade": 6}))
    items = pd.concat(rows)  # noqa: F841 - read by DuckDB by name
    asg = pd.DataFrame({"teacher_id": "T1", "class_id": [f"S01-2025-6{'АБВГ'[c]}" for c in range(n_classes)],  # noqa: F841
                        "subject": "Математика", "school_id": "S01", "year": 2025})
    con = duckdb.connect()
    con.execute("CREATE TABLE assessment_items AS SELECT * FROM items")
    con.execute("CREATE TABLE assessment_specs AS SELECT * FROM specs")
    con.execute("CREATE TABLE assignments AS SELECT * FROM asg")
    return con


def test_false_deficit_rate_on_null_tasks():
    hits = 0
    for seed in range(N_SIM):
        con = null_items_con(seed)
        hits += int(bool(task_analysis(con, "S01", 2025).findings))
        con.close()
    rate = hits / N_SIM
    bound = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / N_SIM)
    print(f"\nnull task scores: {hits}/{N_SIM} runs with a task_deficit finding = {rate:.3f} (bound {bound:.3f})")
    assert rate <= bound


def test_planted_oge_pile_up_is_found_in_its_school(sample_con):
    import json
    from pathlib import Path

    truth = json.loads(Path("data_samples/municipality/truth.json").read_text(encoding="utf-8"))["threshold_peak"]
    flagged = {}
    for s in ("S01", "S02", "S03", "S04"):
        res = score_anomalies(sample_con, s, truth["year"])
        flagged[s] = [(f.extra["work_kind"], f.subject) for f in res.findings]
        validate_document({"school_id": s, "year": truth["year"], "toolkit_version": "test",
                           "findings": [f.to_dict() for f in res.findings], "decision_evaluations": [],
                           "skipped": []})
        assert res.plot() is not None
    print("\nthreshold_peak findings:", flagged)
    assert (truth["kind"], truth["subject"]) in flagged[truth["school_id"]]
    others = [s for s in flagged if s != truth["school_id"]]
    assert not any(flagged[s] for s in others)


def test_school_year_variance_recovers_a_known_spread_despite_tiny_groups():
    """Changes = true spread (τ² = 0.07) + sampling noise with very unequal variances (tiny ЕГЭ groups next
    to large ОГЭ cohorts): the DerSimonian–Laird estimate is near τ², and 0 when there is no spread."""
    from vsoko_toolkit.analysis.anomalies import school_year_variance

    rng = np.random.default_rng(3)
    v = np.concatenate([rng.uniform(0.02, 0.08, 300), rng.uniform(0.5, 3.0, 300)])
    est = [school_year_variance(list(zip(rng.normal(0, np.sqrt(0.07 + v)), v, strict=True))) for _ in range(50)]
    print(f"\nmean DL estimate {np.mean(est):.3f} (true 0.070)")
    assert abs(np.mean(est) - 0.07) < 0.015
    null = [school_year_variance(list(zip(rng.normal(0, np.sqrt(v)), v, strict=True))) for _ in range(50)]
    assert np.mean(null) < 0.01
    assert school_year_variance([(1.0, 0.1), (2.0, 0.1)]) == 0.0
