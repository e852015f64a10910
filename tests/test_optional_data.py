"""Analyses on data without the contract's optional tables and columns (issue 14).

A tiny generated municipality is ingested twice: in full, and as a *minimal* copy whose CSVs keep only
the contract's required columns. Optional tables are then emptied one at a time on copies of the minimal
warehouse (in the warehouse an absent table is an empty one). Every analysis must run without an exception
and give either a non-empty table or a skip / note whose Russian text names the missing data.
"""

from __future__ import annotations

import math
import shutil
import warnings

import duckdb
import pandas as pd
import pytest

from vsoko_toolkit.analysis.readiness import ANALYSES, optional_usage, readiness
from vsoko_toolkit.contract.spec import TABLES
from vsoko_toolkit.pipeline.chapters import CHAPTERS
from vsoko_toolkit.warehouse.profile import data_profile

SCHOOL, YEAR = "S01", 2025
OPTIONAL_TABLES = [t.name for t in TABLES.values() if not t.required]


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory):
    """(full db, minimal db) paths."""
    import vsoko_toolkit
    from vsoko_toolkit.synth import generate_municipality

    root = tmp_path_factory.mktemp("optional")
    full = root / "full"
    generate_municipality(full, n_schools=3, n_years=3, seed=5, current_marks=False)
    mini = root / "mini"
    mini.mkdir()
    for f in full.glob("*.csv"):
        t = TABLES.get(f.stem)
        if t is None:
            continue
        d = pd.read_csv(f, dtype=str, keep_default_na=False)
        d[[c.name for c in t.columns if c.required and c.name in d.columns]].to_csv(mini / f.name, index=False)
    dbs = {}
    for name, folder in (("full", full), ("mini", mini)):
        dbs[name] = root / f"{name}.duckdb"
        vsoko_toolkit.ingest(folder, dbs[name])
    return dbs


def _copy(src, tmp_path, sql: list[str]) -> duckdb.DuckDBPyConnection:
    """A writable copy of the warehouse ``src`` changed by ``sql``."""
    dst = tmp_path / f"{src.stem}_copy.duckdb"
    shutil.copy(src, dst)
    con = duckdb.connect(str(dst))
    for s in sql:
        con.execute(s)
    return con


def _run(key: str, con):
    from vsoko_toolkit.analysis.anomalies import score_anomalies
    from vsoko_toolkit.analysis.climate import climate
    from vsoko_toolkit.analysis.context import school_context
    from vsoko_toolkit.analysis.decisions import evaluate_decisions
    from vsoko_toolkit.analysis.dynamics import results_dynamics
    from vsoko_toolkit.analysis.exams import exam_results
    from vsoko_toolkit.analysis.factors import factor_models
    from vsoko_toolkit.analysis.results import year_metrics
    from vsoko_toolkit.analysis.risk import risk_groups
    from vsoko_toolkit.indicators import evaluate_frameworks

    calls = {
        "context": lambda: school_context(con, SCHOOL, YEAR),
        "climate": lambda: climate(con, SCHOOL, YEAR),
        "year_metrics": lambda: year_metrics(con, SCHOOL, YEAR),
        "comparisons": lambda: results_dynamics(con, SCHOOL, YEAR, n_boot=20).comparisons,
        "trends": lambda: results_dynamics(con, SCHOOL, YEAR, n_boot=20).trends,
        "score_anomalies": lambda: score_anomalies(con, SCHOOL, YEAR),
        "exams": lambda: exam_results(con, SCHOOL, YEAR),
        "factor_models": lambda: factor_models(con, SCHOOL, YEAR),
        "decisions": lambda: evaluate_decisions(con, SCHOOL, YEAR),
        "risk_groups": lambda: risk_groups(con, SCHOOL, YEAR),
        "indicators": lambda: evaluate_frameworks(con, SCHOOL, YEAR),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calls[key]()


MINE = ("context", "climate", "year_metrics", "comparisons", "trends", "score_anomalies", "exams",
        "factor_models", "decisions", "risk_groups", "indicators")


def _texts(res) -> str:
    return " ".join([s.reason for s in res.skipped] + list(res.notes))


def _check(res, *names: str) -> None:
    """A non-empty table, or a skip/note naming one of ``names`` (tables/columns of the contract)."""
    if len(res.table):
        return
    text = _texts(res)
    assert text, f"{type(res).__name__}: empty table without a skip or note"
    assert any(n in text for n in names), f"{type(res).__name__}: the reason does not name {names}: {text}"


# ----------------------------------------------------------------------------------------------- minimal


def test_minimal_warehouse_every_analysis_runs(warehouses):
    con = duckdb.connect(str(warehouses["mini"]), read_only=True)
    for key in MINE:
        res = _run(key, con)
        _check(res, "assessments", "surveys", "decisions", "period_marks")
        assert len(res.table), key  # with every optional table present (required columns only) all give rows


def test_minimal_notes_name_missing_columns(warehouses):
    con = duckdb.connect(str(warehouses["mini"]), read_only=True)
    ctx = _run("context", con)
    text = _texts(ctx)
    for col in ("age", "higher_pedagogical", "pd_hours_3y", "special_needs", "hours_per_week"):
        assert col in text
    assert ctx.table["special_needs"].isna().all()  # unknown, not zero
    assert "class_id" in _texts(_run("climate", con))
    fa = _texts(_run("factor_models", con))
    assert "pd_hours_3y" in fa and "social_index" in fa and "special_needs" in fa
    an = _run("score_anomalies", con)
    assert "social_index" in _texts(an) and len(an.table)
    ex = _run("exams", con)
    assert "test_score" in _texts(ex) and "medal" in _texts(ex)
    ege = ex.table[ex.table["kind"] == "EGE"]
    assert len(ege) and ege["mean"].notna().all() and ege["high"].isna().all()  # primary-score means only
    risk = _run("risk_groups", con)
    assert len(risk.table) and "special_needs" in _texts(risk)
    # partial fall-backs are also recorded as skips, so that findings.json / the methods appendix lists them
    skips = {s.analysis for key in MINE for s in _run(key, con).skipped}
    assert {"context_overload", "climate_classes", "factor_models_factors", "score_anomalies_context",
            "exams_ege_shares", "exams_medallists", "risk_groups_factors"} <= skips
    dec = _run("decisions", con)
    assert dec.table["explanation"].str.contains("target_ids").any()


def test_full_warehouse_has_no_fallback_notes(warehouses):
    con = duckdb.connect(str(warehouses["full"]), read_only=True)
    skips = {s.analysis for key in MINE for s in _run(key, con).skipped}
    assert not skips & {"context_overload", "climate_classes", "factor_models_factors", "score_anomalies_context",
                        "score_anomalies_threshold", "exams_ege_shares", "exams_oge_marks", "trends"}
    assert "hours_per_week" not in _texts(_run("context", con))
    assert not any("class_id" in n for n in _run("climate", con).notes)
    assert not any("Без данных" in n for n in _run("factor_models", con).notes)
    ex = _run("exams", con)
    assert "test_score" not in _texts(ex) and ex.table.query("kind == 'EGE'")["high"].notna().all()


@pytest.mark.parametrize("table", OPTIONAL_TABLES)
def test_minimal_without_each_optional_table(warehouses, tmp_path, table):
    con = _copy(warehouses["mini"], tmp_path, [f"DELETE FROM {table}"])
    readers = [a.key for a in ANALYSES if a.key in MINE and any(
        n.table == table for n in (*a.requires, *(o.need for o in a.optional)))]
    for key in readers:
        res = _run(key, con)
        _check(res, table)


def test_bare_warehouse_skips_with_reasons(warehouses, tmp_path):
    con = _copy(warehouses["mini"], tmp_path, [f"DELETE FROM {t}" for t in OPTIONAL_TABLES])
    assert "assessments" in _texts(_run("score_anomalies", con))
    assert "ОГЭ" in _texts(_run("exams", con))
    assert "surveys" in _texts(_run("climate", con))
    assert "decisions" in _texts(_run("decisions", con))
    risk = _run("risk_groups", con)  # crashed before: the absence share was all NaN
    assert len(risk.table) and "attendance" in _texts(risk)
    assert "absence" not in set(risk.coefficients["feature"])


def test_risk_without_optional_tables_on_a_handmade_connection(warehouses, tmp_path):
    con = _copy(warehouses["mini"], tmp_path, ["DROP TABLE current_marks", "DROP TABLE attendance",
                                               "ALTER TABLE students DROP COLUMN special_needs",
                                               "ALTER TABLE students DROP COLUMN full_name"])
    risk = _run("risk_groups", con)
    assert len(risk.table) and "attendance" in _texts(risk)


def test_context_and_climate_on_a_handmade_connection(warehouses, tmp_path):
    con = _copy(warehouses["mini"], tmp_path, ["ALTER TABLE teachers DROP COLUMN age",
                                               "ALTER TABLE teachers DROP COLUMN pd_hours_3y",
                                               "ALTER TABLE assignments DROP COLUMN hours_per_week",
                                               "ALTER TABLE surveys DROP COLUMN class_id",
                                               "ALTER TABLE students DROP COLUMN special_needs"])
    assert "age" in _texts(_run("context", con))
    assert "class_id" in _texts(_run("climate", con))
    assert len(_run("factor_models", con).table)


def test_one_year_of_marks(warehouses, tmp_path):
    con = _copy(warehouses["mini"], tmp_path, [f"DELETE FROM period_marks WHERE year < {YEAR}"])
    assert "period_marks" in " ".join(_run("trends", con).notes)
    assert "period_marks" in _texts(_run("factor_models", con))
    assert "годовыми отметками" in _texts(_run("risk_groups", con))
    assert len(_run("year_metrics", con).table) and len(_run("comparisons", con).table)


def test_climate_answers_without_items(warehouses, tmp_path):
    con = _copy(warehouses["full"], tmp_path, ["DELETE FROM survey_items"])
    assert "survey_items" in _texts(_run("climate", con))


# ---------------------------------------------------------------------------------------------- fall-backs


def test_anomaly_thresholds_inferred_without_scales(warehouses, tmp_path):
    full = _run("score_anomalies", duckdb.connect(str(warehouses["full"]), read_only=True))
    con = _copy(warehouses["full"], tmp_path, ["DELETE FROM scales"])
    res = _run("score_anomalies", con)
    assert "scales" in _texts(res)
    both = full.table.merge(res.table, on=["kind", "subject", "grade"], suffixes=("_s", "_i"))
    oge = both[both["kind"] == "OGE"]
    assert oge["threshold_i"].notna().all()
    # inferred from the marks: the lowest score with a «3»; equal to the scale where someone scored exactly it
    assert (oge["threshold_i"] >= oge["threshold_s"]).all()
    assert (oge["threshold_i"] == oge["threshold_s"]).mean() >= 0.5


def test_anomalies_and_exams_without_scales_and_marks(warehouses, tmp_path):
    con = _copy(warehouses["mini"], tmp_path, ["DELETE FROM scales"])
    an = _run("score_anomalies", con)
    assert len(an.table) and an.table["threshold"].isna().all()
    assert "scales" in _texts(an) and "mark" in _texts(an)
    ex = _run("exams", con)
    oge = ex.table[ex.table["kind"] == "OGE"]
    assert len(oge) and oge["mean"].notna().all() and oge["below"].isna().all()
    assert "scales" in _texts(ex)


def test_gia9_marks_from_scales(warehouses):
    from vsoko_toolkit.indicators import evaluate_frameworks

    vals = {}
    for name in ("full", "mini"):
        con = duckdb.connect(str(warehouses[name]), read_only=True)
        t = evaluate_frameworks(con, SCHOOL, YEAR).table
        vals[name] = t[t["source"].isin(["gia9_mean_mark", "gia9_fail_share"])].set_index(
            ["framework", "indicator_id"])["value"]
    assert len(vals["mini"]) and len(vals["mini"]) == len(vals["full"])
    pd.testing.assert_series_equal(vals["mini"].sort_index(), vals["full"].sort_index())


def test_decision_baseline_computed(warehouses, tmp_path):
    con = _copy(warehouses["full"], tmp_path, ["UPDATE decisions SET baseline = NULL"])
    res = _run("decisions", con)
    done = res.table[res.table["method"].isin(["did", "its"])]
    assert len(done)
    assert done["baseline"].map(lambda x: x is not None and math.isfinite(float(x))).all()
    assert done["explanation"].str.contains("baseline").all()
    orig = _run("decisions", duckdb.connect(str(warehouses["full"]), read_only=True)).table
    assert not orig["explanation"].str.contains("baseline").any()


# ---------------------------------------------------------------------------------------------- readiness


def _full_profile() -> dict:
    return {t.name: {"rows": 10, "columns": {c.name: 10 for c in t.columns}, "years": [2023, 2024, 2025]}
            for t in TABLES.values()}


def test_registry_is_consistent():
    stems = {c.stem for c in CHAPTERS}
    keys = [a.key for a in ANALYSES]
    assert len(keys) == len(set(keys))
    for a in ANALYSES:
        assert a.chapter in stems, a.key
        for n in (*a.requires, *(o.need for o in a.optional)):
            assert n.table in TABLES, n
            assert n.column is None or n.column in TABLES[n.table].names, n
        for o in a.optional:  # an optional item must be optional in the contract
            t = TABLES[o.need.table]
            assert (not t.required) if o.need.column is None else not t.column(o.need.column).required, o.need


def test_readiness_full_profile_all_ok():
    r = readiness(_full_profile())
    assert list(r.columns) == ["analysis", "title", "chapter", "status", "status_ru", "needs_ru", "fallback_ru"]
    assert (r["status"] == "ok").all() and (r["status_ru"] == "выполняется").all()
    assert (r["needs_ru"] == "").all()


def test_readiness_minimal_profile(warehouses):
    r = readiness(data_profile(duckdb.connect(str(warehouses["mini"]), read_only=True), SCHOOL, YEAR)) \
        .set_index("analysis")
    assert r.at["task_analysis", "status"] == "fallback"
    assert "region_pct" in r.at["task_analysis", "needs_ru"]
    assert r.at["climate", "status"] == "fallback" and "class_id" in r.at["climate", "needs_ru"]
    assert r.at["year_metrics", "status"] == "ok"
    # without assessments.mark the ВПР mark is read off the scale, without journal_mark the journal mark is
    # the last term mark: objectivity runs on both fall-backs
    assert r.at["objectivity", "status"] == "fallback"
    assert "scales" in r.at["objectivity", "fallback_ru"] and "period_marks" in r.at["objectivity", "fallback_ru"]
    assert set(r["status_ru"]) <= {"выполняется", "выполняется с заменой", "не выполняется"}
    assert (r.loc[r["status"] == "fallback", "fallback_ru"] != "").all()


def test_readiness_objectivity_without_journal_mark():
    p = _full_profile()
    p["assessments"]["columns"]["journal_mark"] = 0
    r = readiness(p).set_index("analysis")
    assert r.at["objectivity", "status"] == "fallback"
    assert r.at["objectivity", "status_ru"] == "выполняется с заменой"
    assert "journal_mark" in r.at["objectivity", "needs_ru"] and "period_marks" in r.at["objectivity", "fallback_ru"]


def test_readiness_alternatives_and_years():
    p = _full_profile()
    p["scales"] = {"rows": 0, "columns": {c.name: 0 for c in TABLES["scales"].columns}, "years": []}
    r = readiness(p).set_index("analysis")
    assert r.at["exams", "status"] == "ok"  # ОГЭ marks are given: the scales are not needed
    assert r.at["score_anomalies", "status"] == "fallback"
    assert "восстанавливается" in r.at["score_anomalies", "fallback_ru"]
    p["assessments"]["columns"]["mark"] = 0  # neither marks nor scales: the fall-back from marks is gone
    r = readiness(p).set_index("analysis")
    assert "восстанавливается" not in r.at["score_anomalies", "fallback_ru"]
    assert "не проводится" in r.at["score_anomalies", "fallback_ru"]
    assert "выводятся" not in r.at["exams", "fallback_ru"] and "«2» и «5»" in r.at["exams", "fallback_ru"]
    p["period_marks"]["years"] = [2025]
    r = readiness(p).set_index("analysis")
    assert r.at["trends", "status"] == "missing" and "3 учебных года" in r.at["trends", "needs_ru"]
    assert r.at["year_metrics", "status"] == "ok"
    assert r.at["risk_groups", "status"] == "missing"  # the model learns on earlier years


def test_readiness_bare_profile(warehouses, tmp_path):
    con = _copy(warehouses["mini"], tmp_path, [f"DELETE FROM {t}" for t in OPTIONAL_TABLES])
    r = readiness(data_profile(con, SCHOOL, YEAR)).set_index("analysis")
    assert r.at["climate", "status"] == "missing" and "нужна таблица surveys" in r.at["climate", "needs_ru"]
    assert r.at["exams", "status"] == "missing"
    assert r.at["risk_groups", "status"] == "fallback" and "attendance" in r.at["risk_groups", "needs_ru"]
    assert (r.loc[r["status"] == "missing", "fallback_ru"] == "").all()


def test_optional_usage_lists_every_optional_item():
    u = optional_usage()
    expected = set(OPTIONAL_TABLES) | {f"{t.name}.{c.name}" for t in TABLES.values() for c in t.columns
                                       if not c.required}
    assert expected <= set(u["item"])
    assert (u["fallback_ru"] != "").all()
    used = u[u["analyses"] != ""]
    assert {"schools.social_index", "assessments.journal_mark", "attendance", "decisions.baseline"} <= set(used["item"])
