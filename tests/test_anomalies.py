"""Score anomalies: the planted ОГЭ pile-up is found in its school; no pile-up on smooth null scores."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
from simnull import sim_count

from vsoko_toolkit.analysis.anomalies import bunching_test, score_anomalies
from vsoko_toolkit.analysis.tasks import task_analysis
from vsoko_toolkit.findings import validate_document

N_SIM = sim_count(200)
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


GH_X, GH_W = np.polynomial.hermite_e.hermegauss(41)
GH_W = GH_W / GH_W.sum()


def null_items_con(seed: int, n_classes: int = 3, n: int = 22, deficit: tuple | None = None, region: bool = True,
                   other_schools: int = 0) -> duckdb.DuckDBPyConnection:
    """Per-task scores of one work (14 tasks, 7 skills of two tasks) in a school's classes, with no deficit.

    A 2PL model, as in real works and the sample generator (tasks differ in discrimination, so the Rasch model of
    the analysis does not fit exactly): ``P = expit(a_j (theta - b_j))``, scores Binomial(max_j, P); the school
    and its classes differ in level; the benchmarks (``region_pct`` = ``russia_pct``) are the population averages
    of the tasks (theta ~ N(0, 1.05²)), not the logits the analysis assumes. ``deficit = (classes, size)``: the two
    tasks of skill 0 are one-point tasks of middle difficulty, and in those classes of S01 each of their points is
    removed with the probability that lowers the class's success on them by ``size``. ``region=False`` leaves
    the benchmarks out; ``other_schools`` adds schools S02… writing the same work (a municipal benchmark).
    """
    rng = np.random.default_rng(seed)
    n_tasks = 14
    max_score = rng.choice([1, 1, 1, 2], size=n_tasks)
    a = 1.7 * rng.uniform(0.7, 1.3, size=n_tasks)
    b = rng.uniform(-1.3, 1.3, size=n_tasks)
    if deficit is not None:
        max_score[:2] = 1
        b[:2] = rng.uniform(-0.8, 0.0, size=2)
    bench = (1 / (1 + np.exp(-a[:, None] * (1.05 * GH_X[None, :] - b[:, None])))) @ GH_W
    tasks = [str(i + 1) for i in range(n_tasks)]
    specs = pd.DataFrame({"kind": "VPR", "subject": "Математика", "grade": 6, "year": 2025, "task": tasks,
                          "max_score": max_score.astype(float), "skill": [f"умение {i // 2}" for i in range(n_tasks)]})
    if region:
        specs["region_pct"] = np.round(100 * bench, 1)
        specs["russia_pct"] = np.round(100 * bench, 1)
    rows, classes = [], []
    for s in range(1 + other_schools):
        sid, level = f"S{s + 1:02d}", rng.normal(0, 0.3)
        for c in range(n_classes):
            cls = f"{sid}-2025-6{'АБВГ'[c]}"
            classes.append((cls, sid))
            theta = rng.normal(level + rng.normal(0, 0.3), 1.0, size=n)
            p = 1 / (1 + np.exp(-a[None, :] * (theta[:, None] - b[None, :])))
            sc = rng.binomial(np.broadcast_to(max_score, p.shape), p)
            if deficit is not None and s == 0 and c in deficit[0]:
                share = sc[:, :2].sum() / (2 * n)
                sc[:, :2] = rng.binomial(sc[:, :2], 1 - min(deficit[1] / max(share, 1e-9), 1.0))
            rows.append(pd.DataFrame({"student_id": np.repeat([f"{cls}-{i}" for i in range(n)], n_tasks),
                                      "kind": "VPR", "subject": "Математика", "year": 2025,
                                      "task": np.tile(tasks, n), "score": sc.ravel().astype(float),
                                      "school_id": sid, "class_id": cls, "grade": 6}))
    items = pd.concat(rows)  # noqa: F841 - read by DuckDB by name
    asg = pd.DataFrame({"teacher_id": [f"T{k}" for k in range(len(classes))], "class_id": [c for c, _ in classes],  # noqa: F841
                        "subject": "Математика", "school_id": [s for _, s in classes], "year": 2025})
    con = duckdb.connect()
    con.execute("CREATE TABLE assessment_items AS SELECT * FROM items")
    con.execute("CREATE TABLE assessment_specs AS SELECT * FROM specs")
    con.execute("CREATE TABLE assignments AS SELECT * FROM asg")
    return con


def test_false_deficit_rate_on_null_tasks():
    """No deficit anywhere: the share of runs with any task_deficit (grade or class) stays within q = 0.05, with
    the region benchmark (200 runs: three classes, 2PL tasks) and with the municipal one (100 runs)."""
    bound = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / N_SIM)
    hits = 0
    for seed in range(N_SIM):
        con = null_items_con(seed)
        hits += int(bool(task_analysis(con, "S01", 2025).findings))
        con.close()
    rate = hits / N_SIM
    print(f"\nnull task scores: {hits}/{N_SIM} runs with a task_deficit finding = {rate:.3f} (bound {bound:.3f})")
    assert rate <= bound
    n_muni, muni = N_SIM // 2, 0
    for seed in range(n_muni):
        con = null_items_con(10_000 + seed, region=False, other_schools=3)
        res = task_analysis(con, "S01", 2025)
        assert res.skills["bench_source"].eq("municipality").all()
        muni += int(bool(res.findings))
        con.close()
    bound_m = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / n_muni)
    print(f"null, municipal benchmark: {muni}/{n_muni} runs with a finding = {muni / n_muni:.3f} (bound {bound_m:.3f})")
    assert muni / n_muni <= bound_m


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
