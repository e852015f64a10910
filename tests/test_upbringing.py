"""Upbringing (issue 18): participation / offences / personal scales tested under BH — nothing on null data,
planted school differences found with the right sign, the minimal form skips with reasons, the chapter runs
in-process in both profiles, public tables suppress groups under 5."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from vsoko_toolkit.analysis.upbringing import KINDS, upbringing
from vsoko_toolkit.report import upbringing_text as ut
from vsoko_toolkit.stats.intervals import poisson_interval

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
TRUTH = json.loads((SAMPLES / "municipality" / "truth.json").read_text(encoding="utf-8"))


def _con(rng, n_schools=3, n_students=200, school_shift=None, offences=True, personal_shift=0.0):
    """Exchangeable schools (unless ``school_shift``/``personal_shift``): two years of enrollments, activities
    drawn with the same probabilities, Poisson offence counts, a reliable personal-results scale."""
    en, act, off, sv = [], [], [], []
    base = {k: p for k, p in zip(KINDS, (0.35, 0.35, 0.15, 0.18, 0.45, 0.25, 0.07), strict=True)}
    for s in range(n_schools):
        sid = f"S{s + 1:02d}"
        for y in (2024, 2025):
            ids = [f"{sid}-{i:04d}" for i in range(n_students)]
            grade = rng.integers(1, 12, n_students)
            en.append(pd.DataFrame({"student_id": ids, "class_id": [f"{sid}-{y}-{g}" for g in grade],
                                    "school_id": sid, "year": y, "grade": grade}))
            for kind, p in base.items():
                shift = (school_shift or {}).get(sid, 0.0)
                take = rng.random(n_students) < p + shift
                act.append(pd.DataFrame({"student_id": np.array(ids)[take], "year": y, "kind": kind}))
            if offences:
                for kind, rate in (("offence", 1.5), ("pdn_registration", 0.5)):
                    off.append({"school_id": sid, "year": y, "kind": kind, "count": int(rng.poisson(rate * 2))})
            if y == 2025:
                trait = rng.normal(personal_shift if s == 0 else 0.0, 1, n_students)
                for item in range(4):
                    resp = np.clip(np.round(3 + 0.8 * trait + rng.normal(0, 0.6, n_students)), 1, 5).astype(int)
                    sv.append(pd.DataFrame({"school_id": sid, "year": y, "respondent_type": "student",
                                            "respondent_id": ids, "item_id": f"p{item}", "response": resp}))
    con = duckdb.connect()
    for name, df in (("enrollments", pd.concat(en)), ("activities", pd.concat(act)), ("surveys", pd.concat(sv))):
        con.register("_df", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _df")
        con.unregister("_df")
    con.execute("CREATE TABLE survey_items AS SELECT 'p' || i AS item_id, 'пункт' AS text, "
                "'personal_citizenship' AS scale, false AS reverse FROM range(4) t(i)")
    if offences:
        con.register("_df", pd.DataFrame(off))
        con.execute("CREATE TABLE offences AS SELECT * FROM _df")
    return con


def test_poisson_interval_garwood():
    lo, hi = poisson_interval(0)
    assert lo == 0 and abs(hi - 3.689) < 1e-3


def test_null_rate_of_upbringing_findings():
    rng = np.random.default_rng(18)
    n_sim, runs_with_finding, runs = 40, 0, 0
    for _ in range(n_sim):
        con = _con(rng)
        for s in ("S01", "S02"):
            res = upbringing(con, s, 2025)
            runs += 1
            runs_with_finding += bool(res.findings)
    rate = runs_with_finding / runs
    margin = 2 * math.sqrt(0.05 * 0.95 / runs)
    print(f"upbringing findings on null data: {runs_with_finding} of {runs} school runs ({rate:.1%}), "
          f"allowed 5 % + {margin:.1%}")
    assert rate <= 0.05 + margin


def test_planted_low_participation_and_personal_scale_found():
    con = _con(np.random.default_rng(5), school_shift={"S01": -0.15}, personal_shift=-0.6)
    res = upbringing(con, "S01", 2025)
    kinds = {(f.kind, f.metric) for f in res.findings}
    assert ("low_participation", "participation_club") in kinds
    assert ("low_personal_results", "survey_personal_citizenship_student") in kinds
    assert all(f.area == "upbringing" and f.polarity == "problem" for f in res.findings)
    assert res.scales["reliable"].all()
    other = upbringing(con, "S02", 2025)
    assert not [f for f in other.findings if f.kind == "low_participation"]


def test_sample_culture_sign(sample_con):
    """Participation in the sample follows the planted school culture: the school with the highest culture has no
    low_participation finding, the one with the lowest has some."""
    cult = TRUTH["upbringing"]["school_culture"]
    hi, lo = max(cult, key=cult.get), min(cult, key=cult.get)
    assert not [f for f in upbringing(sample_con, hi, 2025).findings if f.kind == "low_participation"]
    res = upbringing(sample_con, lo, 2025)
    assert [f for f in res.findings if f.kind == "low_participation"]
    assert res.association is not None and res.association["n"].iloc[0] > 100


def test_minimal_form_without_new_tables():
    con = duckdb.connect()
    con.execute("CREATE TABLE enrollments AS SELECT 'a' AS student_id, 'c' AS class_id, 'S01' AS school_id, "
                "2025 AS year, 5 AS grade")
    res = upbringing(con, "S01", 2025)
    reasons = " ".join(s.reason for s in res.skipped)
    assert res.findings == () and "activities.csv" in reasons and "offences.csv" in reasons
    assert "personal" in reasons
    res.plot()
    assert "activities.csv" in ut.participation_table(res).iloc[0, 0]


def test_public_group_table_suppresses_small_groups():
    con = _con(np.random.default_rng(1), n_students=40)
    res = upbringing(con, "S01", 2025)
    pub = ut.groups_table(res, public=True)
    from vsoko_toolkit.pipeline.context import public_table

    shown = public_table(pub)
    small = res.by_group["n"].between(1, 4).to_numpy()
    assert small.any()
    assert (shown.loc[small, "доля"] == "").all() and (shown.loc[small, "suppressed"] == "< 5").all()


def test_chapter_runs_inprocess(sample_db_path, tmp_path):
    from chapters_inprocess import run_inprocess

    target = TRUTH["upbringing"]["talent_concentration"]["school_id"]
    for profile in ("internal", "public"):
        r = run_inprocess(sample_db_path, target, 2025, tmp_path / profile, stems=("07a_upbringing",),
                          profile=profile)
        assert r["failed"] == [], r["failed"]
        kinds = {f["kind"] for f in r["doc"]["findings"]}
        assert "talent_concentration" in kinds
        assert {f["area"] for f in r["doc"]["findings"]} <= {"upbringing", "talent"}
    tables = tmp_path / "public" / target / "2025" / "tables"
    assert (tables / "talent.csv").exists() and (tables / "upbringing.csv").exists()
