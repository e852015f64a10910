"""Functional literacy (issue 18, item 1): planted deficit found, null rate, minimal form, dirty rows, chapter."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from chapters_inprocess import run_inprocess
from simnull import sim_count

from vsoko_toolkit import validate_folder
from vsoko_toolkit.analysis.literacy import literacy_analysis
from vsoko_toolkit.synth import generate_municipality, make_dirty
from vsoko_toolkit.synth.literacy import DOMAINS, MAX, B, level_of, region_pct

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "municipality"
YEAR = 2025


@pytest.fixture(scope="module")
def truth():
    return json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))


def test_planted_deficit_found_with_sign_and_target_and_nothing_else(sample_con, truth):
    planted = [d for d in truth["literacy_deficits"] if d["year"] == YEAR]
    assert len(planted) == 1 and planted[0]["delta_pct"] < 0
    p = planted[0]
    for school in ("S01", "S02", "S03", "S04"):
        res = literacy_analysis(sample_con, school, YEAR)
        assert not res.skipped
        got = [(f.target_type, f.target_id, f.extra["domain"]) for f in res.findings]
        print(school, got)
        if school != p["school_id"]:
            assert got == []
            continue
        assert len(res.findings) == 1
        f = res.findings[0]
        assert f.kind == "literacy_deficit" and f.area == "metasubject" and f.extra["domain"] == p["domain"]
        assert f.estimate < 0 and f.ci_high < 0 and f.q_value <= 0.05
        # a whole-grade plant: the grade, or one of its classes
        assert (f.target_type, f.target_id) == ("grade", str(p["grade"])) or f.target_id in p["class_ids"]
        assert set(f.extra["class_ids"]) <= set(p["class_ids"]) and f.extra["teacher_ids"]
        assert f.to_dict()["area"] == "metasubject"
    # shares by level: five levels per group, intervals around the share
    lv = literacy_analysis(sample_con, p["school_id"], YEAR).levels
    school = lv[lv["scope"] == "school"]
    assert list(school["level"]) == ["low", "reduced", "basic", "advanced", "high"]
    assert school["k"].sum() == school["n"].iloc[0]
    assert ((lv["ci_low"] <= lv["share"]) & (lv["share"] <= lv["ci_high"])).all()
    assert {"school", "grade", "class"} <= set(lv["scope"])


def test_trend_and_the_other_analyses_leave_literacy_tasks_alone(sample_con):
    from vsoko_toolkit.analysis.tasks import task_analysis

    res = literacy_analysis(sample_con, "S02", YEAR)
    assert res.trend["year"].nunique() == 4
    tasks = task_analysis(sample_con, "S02", YEAR)
    assert not (tasks.table["subject"] == "Функциональная грамотность").any()


# --------------------------------------------------------------------------- null data

def _null_con(seed: int, n_schools: int = 3, classes: int = 2, size: int = 22) -> duckdb.DuckDBPyConnection:
    """A literacy work in grades 5-9 where schools and classes differ in general ability but no domain does."""
    rng = np.random.default_rng(seed)
    reg = region_pct(-0.05) / 100
    a_rows, i_rows, cl_rows = [], [], []
    for s in range(n_schools):
        mu = rng.normal(0, 0.3)
        for g in range(5, 10):
            for c in range(classes):
                cid = f"S0{s + 1}-{YEAR}-{g}{'АБВ'[c]}"
                cl_rows.append((cid, f"S0{s + 1}", YEAR, g))
                general = mu + rng.normal(0, 0.2) + rng.normal(0, 0.85, size)
                day = rng.normal(0, 0.3, size)
                scores = []
                for _ in DOMAINS:
                    ab = 0.9 * general + 0.55 * rng.normal(0, 1, size) + day
                    p = 1 / (1 + np.exp(-1.7 * (ab[:, None] - B[None, :])))
                    scores.append(rng.binomial(MAX[None, :].repeat(size, 0), p))
                sc = np.concatenate(scores, 1)
                for k in range(size):
                    sid = f"{cid}-{k}"
                    a_rows.append((sid, cid, f"S0{s + 1}", YEAR, g, "RDR", "ФГ", "2025-03-12", float(sc[k].sum())))
                    i_rows += [(sid, "RDR", "ФГ", YEAR, str(t + 1), float(v)) for t, v in enumerate(sc[k])]
    specs = [("RDR", "ФГ", g, YEAR, str(3 * j + k + 1), float(MAX[k]), "умение", 100 * reg[k], d)
             for g in range(5, 10) for j, d in enumerate(DOMAINS) for k in range(3)]
    con = duckdb.connect()
    frames = {
        "assessments": pd.DataFrame(a_rows, columns=["student_id", "class_id", "school_id", "year", "grade", "kind",
                                                     "subject", "date", "primary_score"]),
        "assessment_items": pd.DataFrame(i_rows, columns=["student_id", "kind", "subject", "year", "task", "score"]),
        "assessment_specs": pd.DataFrame(specs, columns=["kind", "subject", "grade", "year", "task", "max_score",
                                                         "skill", "region_pct", "literacy_domain"]),
        "classes": pd.DataFrame(cl_rows, columns=["class_id", "school_id", "year", "grade"]),
    }
    for name, df in frames.items():
        con.register("f", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM f")
        con.unregister("f")
    con.execute("CREATE TABLE schools AS SELECT DISTINCT school_id FROM classes")
    return con


def test_no_literacy_deficit_on_null_data():
    n_sim = sim_count(40)
    runs = hits = 0
    for seed in range(n_sim):
        con = _null_con(1000 + seed)
        for school in ("S01", "S02", "S03"):
            res = literacy_analysis(con, school, YEAR)
            assert not res.skipped and res.levels["source"].eq("derived").all()
            runs += 1
            hits += bool(res.findings)
        con.close()
    rate = hits / runs
    margin = 2 * np.sqrt(0.05 * 0.95 / runs)
    print(f"\nnull: school runs with any literacy_deficit {hits}/{runs} = {rate:.3f} (limit 0.05 + {margin:.3f})")
    assert rate <= 0.05 + margin


def test_power_on_a_planted_null_copy():
    """The same null data with one grade's reading tasks zeroed: found, in that grade and domain only."""
    con = _null_con(7)
    con.execute("""UPDATE assessment_items SET score = 0 WHERE CAST(task AS INTEGER) <= 3 AND student_id IN (
                     SELECT student_id FROM assessments WHERE school_id = 'S02' AND grade = 6)""")
    res = literacy_analysis(con, "S02", YEAR)
    assert [(f.extra["domain"], f.extra["grade"]) for f in res.findings] == [("reading", 6)]


# --------------------------------------------------------------------------- minimal form

def test_minimal_form_says_what_is_missing(sample_db_path, tmp_path):
    src = duckdb.connect(str(sample_db_path), read_only=True)
    con = duckdb.connect()
    for t in ("assessments", "assessment_items", "assessment_specs", "classes", "schools", "assignments"):
        con.register("f", src.execute(f"SELECT * FROM {t}").df())
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM f")
        con.unregister("f")
    src.close()
    # no level: derived from the percent of the maximum score, with the same cut points as the generator's
    con.execute("UPDATE assessments SET level = NULL")
    res = literacy_analysis(con, "S02", YEAR)
    assert res.levels["source"].eq("derived").all() and any("выведены" in n for n in res.notes)
    assert [f.extra["domain"] for f in res.findings] == ["reading"]
    assert level_of(np.array([0, 19.9, 20, 59.9, 60, 80, 100])).tolist() == [0, 0, 1, 2, 3, 4, 4]
    # no region_pct: compared with the other schools of the municipality
    con.execute("UPDATE assessment_specs SET region_pct = NULL")
    res = literacy_analysis(con, "S02", YEAR)
    assert set(res.table["bench_source"]) == {"municipality"}
    # no literacy work this year / no domain column filled: skipped with a reason naming the data
    res = literacy_analysis(con, "S02", 2000)
    assert res.skipped and "literacy_domain" in res.skipped[0].reason and not res.findings
    con.execute("UPDATE assessment_specs SET literacy_domain = NULL")
    res = literacy_analysis(con, "S02", YEAR)
    assert res.skipped and "literacy_domain" in res.skipped[0].reason and res.table.empty
    res.plot()
    con.execute("ALTER TABLE assessment_specs DROP COLUMN literacy_domain")
    assert literacy_analysis(con, "S02", YEAR).skipped


# --------------------------------------------------------------------------- dirty rows, chapter

def test_dirty_literacy_rows_rejected_with_their_rule(tmp_path):
    clean = tmp_path / "clean"
    generate_municipality(clean, n_schools=2, n_years=2, seed=3, current_marks=False)
    bad = make_dirty(clean, tmp_path / "dirty", seed=3)
    lit = bad[bad["column"].isin(["level", "literacy_domain"])]
    assert set(zip(lit["table"], lit["column"], lit["rule"], strict=True)) == {
        ("assessments", "level", "vocabulary"), ("assessment_specs", "literacy_domain", "vocabulary")}
    rep = validate_folder(tmp_path / "dirty")
    rej = rep.rejects
    for r in lit.itertuples():
        hit = rej[(rej["table"] == r.table) & (rej["row"].astype(int) == r.row) & (rej["column"] == r.column)]
        assert (hit["rule"] == r.rule).any(), (r, hit)
    got = {(r.table, int(r.row)) for r in rej.itertuples() if r.table in ("assessments", "assessment_specs")}
    want = {(r.table, int(r.row)) for r in bad.itertuples() if r.table in ("assessments", "assessment_specs")}
    assert got == want


def test_chapter_runs_in_process(sample_db_path, tmp_path, truth):
    for profile in ("internal", "public"):
        run = run_inprocess(sample_db_path, "S02", YEAR, tmp_path / profile, stems=("04a_literacy",), profile=profile)
        assert not run["failed"], run["failed"]
        kinds = [f["kind"] for f in run["doc"]["findings"]]
        assert kinds == ["literacy_deficit"]
        tables = tmp_path / profile / "S02" / str(YEAR) / "tables"
        assert (tables / "literacy_levels.csv").exists()
        if profile == "public":
            assert "teacher_id" not in pd.read_csv(tables / "literacy_classes.csv").columns
