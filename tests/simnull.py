"""Small, fast null municipalities for false-positive tests (no group, year or teacher effects at all).

Students persist across years (promotion) and carry a persistent ability, so
marks of a student are correlated across years and subjects, as in real data;
but classes, schools, teachers and years have no effect: any finding on such
data is a false positive.
"""

from __future__ import annotations

import os

import duckdb
import numpy as np
import pandas as pd


def sim_count(full: int) -> int:
    """Number of simulations of a long null/power test: half of ``full`` in ``make test`` (small and seeded,
    to keep the suite short); ``full`` with ``VSOKO_FULL_SIMS=1`` (``make test-full``)."""
    return full if os.environ.get("VSOKO_FULL_SIMS") == "1" else full // 2


CUTS = (-1.9, -0.1, 1.1)  # latent -> marks 2/3/4/5 (about 3 %, 43 %, 40 %, 14 %)


def null_marks(seed: int, n_schools: int = 3, years=(2023, 2024, 2025), grades=range(5, 10),
               classes_per_grade: int = 2, class_size: int = 20,
               subjects=("Математика", "Русский язык", "История"), decline: float = 0.0,
               cause: str = "teaching") -> pd.DataFrame:
    """Year marks of a null municipality; ``decline`` > 0 plants a decline in S01's Математика.

    ``cause="teaching"``: every S01 student loses ``decline`` latent units per year in Математика;
    ``cause="intake"``: each later cohort of S01 enters ``decline`` units weaker (in every subject).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, n_schools + 1):
        sid = f"S{s:02d}"
        # a cohort per (entry grade offset, class letter); students keep their class letter as they move up
        n_cohorts = len(grades) + len(years) - 1
        for c in range(n_cohorts):
            for letter in "АБВ"[:classes_per_grade]:
                ids = [f"{sid}-{c}-{letter}-{i}" for i in range(class_size)]
                ability = rng.normal(0, 0.8, size=class_size)
                if s == 1 and cause == "intake":
                    ability = ability - decline * c
                for yi, y in enumerate(years):
                    g = grades[0] + yi - (c - (len(years) - 1))
                    if g not in grades:
                        continue
                    cls = f"{sid}-{y}-{g}{letter}"
                    for subj in subjects:
                        latent = ability + rng.normal(0, 0.6, size=class_size)
                        if s == 1 and cause == "teaching" and subj == "Математика":
                            latent = latent - decline * yi
                        mark = 2 + np.searchsorted(CUTS, latent)
                        rows.append(pd.DataFrame({"school_id": sid, "year": y, "grade": g, "class_id": cls,
                                                  "student_id": ids, "subject": subj, "mark_value": mark}))
    d = pd.concat(rows, ignore_index=True)
    d["period"] = "year"
    d["mark"] = d["mark_value"].astype(str)
    return d


def null_warehouse(seed: int, **kw) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the tables the results analyses read."""
    marks = null_marks(seed, **kw)
    con = duckdb.connect()
    con.register("m", marks)
    con.execute("CREATE TABLE period_marks AS SELECT * FROM m")
    con.execute("CREATE TABLE assignments AS SELECT DISTINCT 'T-' || class_id || '-' || subject AS teacher_id, "
                "class_id, subject, school_id, year FROM m")
    con.unregister("m")
    return con
