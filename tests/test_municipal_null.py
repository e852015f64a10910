"""No school flagged on noise: the municipal comparison on 100 simulated null municipalities.

A null municipality has no school effects at all: every school's students are drawn from the same model, the
social index is drawn but does not act, no teacher marks differently, no scores are pushed to a threshold.
Any school flagged on any rule — contextualised value added, steadily low/high, ШНОР, resilient,
non-objective — is a false positive. The rate of flagged schools must stay within 5 % plus Monte-Carlo error.

Why not the sample generator (:mod:`vsoko_toolkit.synth`, ``Plants.null()``)? A null municipality of 8 schools ×
3 years takes ~1 s to generate (all 11 grades, surveys, olympiads, item scores) and ~5 s to ingest, and the
test must run in under 3 minutes on one core. :func:`null_tables` therefore draws the same model at the level
the analysis reads, for the grades that carry its results: students of grades 3–9 over 2023–2025 with
the sample model's variance structure (:class:`vsoko_toolkit.synth.ModelParams` defaults) — a class (lineage)
effect that follows the class through the years (sd 0.2), a persistent student ability (0.75) and
student × subject deviation (0.4), an AR(1) yearly fluctuation (0.35, ρ = 0.7), the day form of a work (0.3),
journal marks cut from the latent with the student's impression (0.35) and period noise (0.4) at the
sample's cuts; unequal schools (1–3 parallels, 18–28 students per class); ВПР (grades 4–8) and ОГЭ (grade 9)
in mathematics and Russian scored as sums of 20 logistic items, marks from fixed thresholds, the journal
mark beside each ВПР. These are the sources of variation that make schools' results differ without any
school effect, and they are what the rules' standard errors must absorb: class clustering within a year,
the persistence of classes and students across years (the steady rule), the smooth item-sum histograms
(the threshold test), the year-to-year movement of cohorts (jumps). Left out: grades 1–2 and 10–11 (ЕГЭ),
migration, surveys — not read by the comparison. ``test_real_generator_null_spot_check`` runs the rules on
a few municipalities of the real generator as a spot check of the same claim.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ProcessPoolExecutor
from unittest import mock

import duckdb
import numpy as np
import pandas as pd

N_SIM = 100
LEVEL = 0.05
N_SCHOOLS = 8
YEARS = (2023, 2024, 2025)
GRADES = range(3, 10)
SUBJECTS = ("Математика", "Русский язык", "История")
CUTS = (-2.10, -0.12, 1.23)  # latent -> year marks 2/3/4/5 (ModelParams.cuts_main)
N_ITEMS = 20
THRESHOLDS = (6, 11, 16)  # primary score for marks 3, 4, 5
OPTIONS = {"n_sim": 500, "methods": ("lbfgs",)}


def null_tables(seed: int, n_schools: int = N_SCHOOLS, shift: dict | None = None, gain: dict | None = None,
                inflate: dict | None = None, boost: dict | None = None) -> dict[str, pd.DataFrame]:
    """Warehouse tables (with the derived columns) of a null municipality (module docstring).

    For the power checks of ``tests/test_municipal.py`` (school index → latent sd): ``shift`` moves a school's
    students in every year (a lasting school effect), ``gain`` in the last year only (value added this year),
    ``inflate`` raises the school's journal marks (not its ВПР), ``boost`` raises its ОГЭ mathematics scores
    of the last year only (a result far above what the school's students get elsewhere)."""
    rng = np.random.default_rng(seed)
    ids = [f"S{s + 1:02d}" for s in range(n_schools)]
    schools = pd.DataFrame({"school_id": ids, "name": [f"Школа № {s + 1}" for s in range(n_schools)],
                            "municipality": "Тестовый округ", "social_index": np.round(rng.normal(0, 1, n_schools), 3)})
    parallels = rng.choice([1, 2, 3], size=n_schools, p=[0.35, 0.40, 0.25])
    difficulty = np.linspace(-2.2, 2.2, N_ITEMS)
    g_lo, g_hi, k = GRADES[0], GRADES[-1], len(SUBJECTS)
    pm = {c: [] for c in ("student_id", "class_id", "subject", "period", "mark_value")}
    wk = {c: [] for c in ("student_id", "class_id", "kind", "subject", "year", "primary_score", "journal_mark")}
    classes, assign = [], []
    for si, sid in enumerate(ids):
        for g0 in range(g_lo - len(YEARS) + 1, g_hi + 1):  # grade of the lineage in the first year
            for letter in "АБВ"[:parallels[si]]:
                n = int(rng.integers(18, 29))
                stu = np.array([f"{sid}-{g0}{letter}-{i:02d}" for i in range(n)], dtype=object)
                base = rng.normal(0, 0.2) + rng.normal(0, 0.75, (n, 1)) + rng.normal(0, 0.4, (n, k))
                eta = rng.normal(0, 0.35, (n, k))
                for yi, y in enumerate(YEARS):
                    if yi:
                        eta = 0.7 * eta + np.sqrt(1 - 0.49) * 0.35 * rng.normal(size=eta.shape)
                    g = g0 + yi
                    if not g_lo <= g <= g_hi:
                        continue
                    theta = base + eta + (shift or {}).get(si, 0.0)
                    if yi == len(YEARS) - 1:
                        theta = theta + (gain or {}).get(si, 0.0)
                    cls = f"{sid}-{y}-{g}{letter}"
                    classes.append((cls, sid, y, g))
                    # a teacher per grade, letter and subject, the same every year: a jump in a grade is
                    # never explained away by new teachers (the jump rule is tested in full)
                    assign += [(f"T-{sid}-{g}{letter}-{j}", cls, subj) for j, subj in enumerate(SUBJECTS)]
                    impression = rng.normal(0, 0.35, theta.shape)
                    q3 = None
                    for period in ("q3", "year"):
                        m = 2 + np.searchsorted(CUTS, theta + impression + rng.normal(0, 0.4, theta.shape)
                                                + (inflate or {}).get(si, 0.0))
                        q3 = m if q3 is None else q3
                        pm["student_id"].append(np.tile(stu, k))
                        pm["class_id"].append(np.full(n * k, cls, dtype=object))
                        pm["subject"].append(np.repeat(np.array(SUBJECTS, dtype=object), n))
                        pm["period"].append(np.full(n * k, period, dtype=object))
                        pm["mark_value"].append(m.T.ravel())
                    if g < 4:
                        continue
                    for j, subj in enumerate(SUBJECTS[:2]):
                        form = theta[:, j] + rng.normal(0, 0.3, n)
                        if g == 9 and j == 0 and yi == len(YEARS) - 1:
                            form = form + (boost or {}).get(si, 0.0)
                        p = 1 / (1 + np.exp(-1.7 * (form[:, None] - difficulty[None, :])))
                        wk["student_id"].append(stu)
                        wk["class_id"].append(np.full(n, cls, dtype=object))
                        wk["kind"].append(np.full(n, "VPR" if g <= 8 else "OGE", dtype=object))
                        wk["subject"].append(np.full(n, subj, dtype=object))
                        wk["year"].append(np.full(n, y))
                        wk["primary_score"].append((rng.random(p.shape) < p).sum(1).astype(float))
                        wk["journal_mark"].append(q3[:, j])
    cl = pd.DataFrame(classes, columns=["class_id", "school_id", "year", "grade"])
    derived = cl.set_index("class_id")
    pm = pd.DataFrame({c: np.concatenate(v) for c, v in pm.items()}).join(derived, on="class_id")
    pm["mark"] = pm["mark_value"].astype(str)
    a = pd.DataFrame({c: np.concatenate(v) for c, v in wk.items()}).drop(columns="year").join(derived, on="class_id")
    a["date"] = pd.to_datetime(a["year"].astype(str) + "-04-15")
    a["mark"] = 2 + np.searchsorted(THRESHOLDS, a["primary_score"], side="right")
    scales = pd.DataFrame([(kd, s, g, y, mk, t) for y in YEARS for g in range(4, 10) for s in SUBJECTS[:2]
                           for kd in (("VPR",) if g <= 8 else ("OGE",))
                           for mk, t in zip((3, 4, 5), THRESHOLDS, strict=True)],
                          columns=["kind", "subject", "grade", "year", "mark", "min_primary"])
    return {"schools": schools, "classes": cl, "period_marks": pm, "assessments": a,
            "assignments": pd.DataFrame(assign, columns=["teacher_id", "class_id", "subject"]).join(
                derived, on="class_id"),
            "scales": scales}


def to_duckdb(tables: dict[str, pd.DataFrame]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, df in tables.items():
        con.register("src", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM src")
        con.unregister("src")
    return con


def _flags(res) -> tuple[int, int, int, dict]:
    flagged = {f.target_id for f in res.findings}
    kinds: dict[str, int] = {}
    for f in res.findings:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    return len(flagged), len(res.table), int(bool(flagged)), kinds


def one(seed: int) -> tuple[int, int, int, dict]:
    """(schools flagged on any rule, schools compared, municipality with any flag, {kind: count})."""
    from vsoko_toolkit.analysis.municipal import municipal_comparison

    con = to_duckdb(null_tables(seed))
    try:
        return _flags(municipal_comparison(con, YEARS[-1], OPTIONS))
    finally:
        con.close()


def _report(label: str, runs, n_sim: int, t0: float) -> tuple[float, float]:
    flagged, schools = sum(r[0] for r in runs), sum(r[1] for r in runs)
    munis = sum(r[2] for r in runs)
    kinds: dict[str, int] = {}
    for r in runs:
        for k, v in r[3].items():
            kinds[k] = kinds.get(k, 0) + v
    rate = flagged / schools
    bound = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / schools)
    print(f"\n{label}: {flagged}/{schools} schools flagged on any rule = {rate:.4f} (bound {bound:.4f}); "
          f"municipalities with a flagged school {munis}/{n_sim}; findings by kind {kinds}; "
          f"{time.time() - t0:.0f} s")
    return rate, bound


def test_false_school_flag_rate_on_null_municipalities():
    t0 = time.time()
    with ProcessPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(one, range(70_000, 70_000 + N_SIM), chunksize=5))
    rate, bound = _report(f"null municipalities ({N_SIM} × {N_SCHOOLS} schools × {len(YEARS)} years)", runs,
                          N_SIM, t0)
    assert sum(r[1] for r in runs) >= N_SIM * N_SCHOOLS
    assert rate <= bound


# --------------------------------------------------------------------------- the real generator, spot check
N_REAL = 4


def real_generator_null(seed: int) -> duckdb.DuckDBPyConnection:
    """A null municipality of the sample generator (every plant off, no school effects: ``beta_social = 0``,
    ``sd_school = 0``), 8 schools × 3 years, loaded into DuckDB with the warehouse's derived columns."""
    import vsoko_toolkit.synth.generator as gen
    from vsoko_toolkit.synth import ModelParams, Plants

    t: dict[str, pd.DataFrame] = {}
    with mock.patch.object(gen, "write_tables", lambda out, tables, truth: t.update(tables)):
        gen.generate_municipality("unused", n_schools=N_SCHOOLS, n_years=3, seed=seed, plants=Plants.null(),
                                  current_marks=False, params=ModelParams(beta_social=0.0, sd_school=0.0))
    con = duckdb.connect()
    for name in ("schools", "classes", "scales", "assessments", "period_marks", "assignments"):
        df = t[name]
        if name == "period_marks":  # the marks the analysis reads: year marks and the terms before a ВПР
            df = df[df["period"].isin(["year", "q3", "h1"])]
        sel = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' if isinstance(df[c].dtype, pd.CategoricalDtype)
                        else f'"{c}"' for c in df.columns)
        con.register("src", df)
        if name in ("assessments", "period_marks", "assignments"):
            mv = ", TRY_CAST(mark AS INTEGER) AS mark_value" if name == "period_marks" else ""
            con.execute(f"CREATE TABLE {name} AS SELECT s.*, c.school_id, c.year, c.grade{mv} FROM "
                        f"(SELECT {sel} FROM src) s JOIN classes c USING (class_id)")
        else:
            con.execute(f"CREATE TABLE {name} AS SELECT {sel} FROM src")
        con.unregister("src")
    return con


def test_real_generator_null_spot_check():
    """A few null municipalities of the sample generator itself: the flagged share stays small there too
    (a spot check of the claim that the fast null above is faithful; 4 runs cannot measure a 5 % rate)."""
    from vsoko_toolkit.analysis.municipal import municipal_comparison

    t0 = time.time()
    runs = []
    for seed in range(N_REAL):
        con = real_generator_null(80_000 + seed)
        try:
            runs.append(_flags(municipal_comparison(con, 2025, OPTIONS)))
        finally:
            con.close()
    rate, _ = _report(f"real-generator null municipalities ({N_REAL} × {N_SCHOOLS} schools)", runs, N_REAL, t0)
    assert sum(r[0] for r in runs) <= 2
