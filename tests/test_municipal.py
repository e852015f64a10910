"""The municipal comparison (issue 15): the sample municipality's planted schools, the contract's minimal form,
the municipal roll-up against the school analysis it reuses, rank intervals, figures, and power on planted
school effects (the false-positive rate is in ``test_municipal_null.py``)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import duckdb
import matplotlib
import numpy as np
import pandas as pd
import pytest
from test_municipal_null import null_tables, to_duckdb

from vsoko_toolkit.analysis.anomalies import class_variance, score_anomalies
from vsoko_toolkit.analysis.municipal import (
    MunicipalResult,
    _steady,
    municipal_comparison,
    municipality_id,
)
from vsoko_toolkit.analysis.municipal_data import (
    _one_class_variance,
    class_stats,
    class_variances,
    school_frame,
    student_results,
)
from vsoko_toolkit.analysis.municipal_objectivity import _class_works, objectivity_checks
from vsoko_toolkit.findings import validate_document
from vsoko_toolkit.stats.ranking import rank_intervals

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
TRUTH = json.loads((ROOT / "data_samples" / "municipality" / "truth.json").read_text(encoding="utf-8"))
YEAR = 2025
SCHOOL_KINDS = {"shnor", "resilient_school", "non_objective_school"}


@pytest.fixture(scope="module")
def sample(sample_con) -> MunicipalResult:
    t0 = time.time()
    res = municipal_comparison(sample_con, YEAR)
    print(f"\nmunicipal comparison of the sample: {time.time() - t0:.1f} s")
    return res


def _by_kind(res, kind: str) -> set[str]:
    return {f.target_id for f in res.findings if f.kind == kind}


# ------------------------------------------------------------------------------------------ the sample


def test_sample_planted_schools_found_and_no_other(sample):
    resilient = TRUTH["resilient_school"]["school_id"]
    peak = TRUTH["threshold_peak"]["school_id"]
    print(sample.table[["school_id", "social_index", "n", "diff", "va_estimate", "rank_low", "rank_high", "steady",
                        "context", "non_objective"]].round(3).to_string())
    for f in sample.findings:
        print(f"  {f.kind:22s} {f.target_id}  estimate {f.estimate:+.3f}  q {f.q_value:.4f}  {f.title}")
    assert _by_kind(sample, "resilient_school") == {resilient}
    assert _by_kind(sample, "non_objective_school") == {peak}
    assert _by_kind(sample, "shnor") == set()
    # the non-objective finding rests on the planted ОГЭ pile-up
    f = next(f for f in sample.findings if f.kind == "non_objective_school")
    signs = f.extra["signs"]
    assert any(s["check"] == "threshold_peak" and s["kind"] == TRUTH["threshold_peak"]["kind"]
               and s["subject"] == TRUTH["threshold_peak"]["subject"] for s in signs)
    assert f.q_value < 0.05 and f.metric == "threshold_excess"
    # steadily low/high are not planted, but follow the generator's school means (truth "school_effects")
    effects = TRUTH["school_effects"]
    for f in sample.findings:
        if f.kind in ("steadily_low", "steadily_high"):
            assert (effects[f.target_id] < 0) == (f.kind == "steadily_low"), f.target_id


def test_sample_findings_follow_the_contract(sample, sample_con):
    mid = municipality_id(sample_con)
    assert mid == "Приреченский муниципальный округ"
    doc = {"school_id": mid, "year": YEAR, "toolkit_version": "test",
           "findings": [f.to_dict() for f in sample.findings], "decision_evaluations": [],
           "skipped": [s.to_dict() for s in sample.skipped]}
    validate_document(doc)
    ids = [f["id"] for f in doc["findings"]]
    assert len(ids) == len(set(ids))
    for f in sample.findings:
        assert f.school_id == mid and f.target_type == "school" and f.target_id in set(sample.table["school_id"])
        assert f.q_value is not None and f.q_value < 0.05 and f.p_value is not None
        if f.metric != "threshold_excess":  # the threshold test has no interval (a count excess)
            assert f.ci_low <= f.estimate <= f.ci_high
        assert f.recommendation is not None and f.recommendation.addressee_id == f.target_id
        assert f.evidence and f.title
    assert set(sample.rules) == {"result", "value_added", "steady", "context", "non_objective"}
    assert "нижней трети" in sample.rules["context"] and "Бенджамини" in sample.rules["non_objective"]


def test_sample_tables(sample):
    t = sample.table
    assert len(t) == 4 and t["n"].gt(100).all()
    va = sample.value_added
    assert va["ci_low"].le(va["estimate"]).all() and va["estimate"].le(va["ci_high"]).all()
    assert va["rank_low"].le(va["rank"]).all() and va["rank"].le(va["rank_high"]).all()
    assert set(sample.funnel.columns) >= {"n", "mean", "lower_95", "upper_95", "lower_998", "upper_998", "position"}
    assert sample.funnel["lower_998"].lt(sample.funnel["lower_95"]).all()
    # the resilient school sits in the lowest third of the social index and above the others beyond noise
    ctx = sample.context.set_index("school_id")
    r = TRUTH["resilient_school"]["school_id"]
    assert ctx.at[r, "unfavourable"] and ctx.at[r, "ci_low"] > 0
    assert set(sample.yearly["year"]) == {2023, 2024, 2025}
    assert sample.sources == {2023: "external", 2024: "external", 2025: "external"}
    # 4 schools: the context regression of the non-objectivity checks is not made, and the notes say so
    assert any("8 школ" in n for n in sample.notes)
    assert not (sample.objectivity["check"] == "context").any()


def test_sample_figures(sample):
    import matplotlib.pyplot as plt

    for name in ("plot", "plot_funnel", "plot_value_added", "plot_ranks", "plot_years", "plot_context",
                 "plot_objectivity"):
        ax = getattr(sample, name)()
        assert ax is not None and ax.get_title() or ax.texts, name
        plt.close("all")


def test_municipal_rollup_equals_the_school_analysis(sample_con):
    """The roll-up computes the school analysis' tests (anomalies.py) for every school in one pass: the same
    threshold and jump p-values, school by school."""
    schools = school_frame(sample_con)
    checks, _ = objectivity_checks(sample_con, YEAR, schools)
    for sch in ("S01", "S03"):
        a = score_anomalies(sample_con, sch, YEAR).table.set_index(["kind", "subject", "grade"])
        mine = checks[checks["school_id"] == sch]
        jump = mine[mine["check"] == "jump"].set_index(["kind", "subject", "grade"])["p_value"]
        peak = mine[mine["check"] == "threshold_peak"].set_index(["kind", "subject", "grade"])["p_value"]
        both = a.index.intersection(jump.index)
        assert len(both) > 10
        np.testing.assert_allclose(a.loc[both, "dic_p"].to_numpy(float), jump.loc[both].to_numpy(float), atol=1e-12)
        both = a.index.intersection(peak.index)
        np.testing.assert_allclose(a.loc[both, "p_value"].to_numpy(float), peak.loc[both].to_numpy(float),
                                   atol=1e-12)
    w = _class_works(sample_con, YEAR, schools["school_id"], schools.set_index("school_id")["social_index"])
    fast = class_variances(w, ["kind", "subject", "grade"])
    slow = pd.Series({k: class_variance(g) for k, g in w.groupby(["kind", "subject", "grade"])})
    np.testing.assert_allclose(fast.sort_index().to_numpy(), slow.sort_index().to_numpy(), atol=1e-12)
    students, _ = student_results(sample_con, [YEAR], schools["school_id"])
    cls = class_stats(students)
    assert _one_class_variance(cls) == pytest.approx(class_variance(cls), abs=1e-12)


def test_one_family_for_all_signs_is_an_option(sample_con):
    checks, _ = objectivity_checks(sample_con, YEAR, school_frame(sample_con), {"fdr_family": "all"})
    assert checks["m"].nunique() == 1 and int(checks["m"].iloc[0]) == int(checks["p_value"].notna().sum())


def test_options_choose_a_municipality(sample_con):
    res = municipal_comparison(sample_con, YEAR, {"municipality": "Другой район", "steady_years": 3})
    assert res.table.empty and res.skipped and not res.findings


# ----------------------------------------------------------------------------------------- the rules


def test_steady_rule_needs_every_year():
    """Intersection–union: below in two years of three is not «steadily low», however low."""
    rows = []
    for sch, diffs in (("A", (-0.5, -0.5, -0.5)), ("B", (-0.9, -0.9, 0.0)), ("C", (0.0, 0.0, 0.0))):
        for y, d in zip((2023, 2024, 2025), diffs, strict=True):
            z = d / 0.1
            from scipy import stats

            rows.append({"school_id": sch, "year": y, "diff": d, "p_low": stats.norm.cdf(z),
                         "p_high": stats.norm.sf(z)})
    yearly = pd.DataFrame(rows)
    schools = pd.DataFrame({"school_id": ["A", "B", "C"], "name": ["A", "B", "C"]})
    s = _steady(yearly, schools, [2023, 2024, 2025], {"alpha": 0.05, "min_diff": 0.1}).set_index("school_id")
    assert s.at["A", "status"] == "steadily_low"
    assert s.at["B", "status"] == "" and s.at["B", "p_low"] == pytest.approx(0.5)
    assert s.at["C", "status"] == ""


def test_rank_intervals():
    r = rank_intervals([0.5, 0.0, -0.5], [0.01, 0.01, 0.01])
    assert r["rank"].tolist() == [1, 2, 3] and r["rank_low"].tolist() == [1, 2, 3]
    r = rank_intervals([0.02, 0.0, -0.02, np.nan], [0.2, 0.2, 0.2, 0.1], n_sim=4000, seed=3)
    assert r.loc[:2, "rank_low"].eq(1).all() and r.loc[:2, "rank_high"].eq(3).all()
    assert r.loc[3].isna().all()
    assert r.loc[:2, "p_top"].sum() == pytest.approx(1.0)
    again = rank_intervals([0.02, 0.0, -0.02, np.nan], [0.2, 0.2, 0.2, 0.1], n_sim=4000, seed=3)
    pd.testing.assert_frame_equal(r, again)
    low = rank_intervals([1.0, 0.0], [0.01, 0.01], higher_is_better=False)
    assert low["rank"].tolist() == [2, 1]


def _groups_data(seed: int, k: int, tau: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(k):
        u = rng.normal(0, tau)
        for c in range(3):
            v = rng.normal(0, 0.15)
            x = rng.normal(0, 1, 25)
            rows.append(pd.DataFrame({"school_id": f"G{g:02d}", "class_id": f"G{g:02d}-{c}", "x": x,
                                      "y": 0.5 * x + u + v + rng.normal(0, 0.8, 25)}))
    return pd.concat(rows, ignore_index=True)


def test_integrated_effects_with_a_weak_prior():
    """Many groups: the same as the flat-prior integration of the mixed-model engine (the prior does not
    matter); a few groups with the variance estimated at 0: shrunk but honest intervals, not points."""
    from vsoko_toolkit.stats.eb_prior import integrated_group_effects
    from vsoko_toolkit.stats.mixed import fit_mixed

    vc = {"class": "0 + C(class_id)"}
    d = _groups_data(1, 40, 0.3)
    fit = fit_mixed(d, "y ~ x", groups="school_id", vc_formula=vc, engine="fast", methods=("lbfgs",),
                    integrate_eb=True)
    variances = dict(zip(fit.variance["component"], fit.variance["estimate"], strict=True))
    mine = integrated_group_effects(d, "y ~ x", "school_id", vc, variances, 0.5).set_index("group")
    re = fit.random_effects
    re = re[re["component"] != "class"].drop_duplicates("group").set_index("group")
    np.testing.assert_allclose(mine["estimate"], re.loc[mine.index, "estimate_int"], atol=0.01)
    np.testing.assert_allclose(mine["se"], re.loc[mine.index, "se_int"], rtol=0.05)
    d = _groups_data(2, 4, 0.0)
    fit = fit_mixed(d, "y ~ x", groups="school_id", vc_formula=vc, engine="fast", methods=("lbfgs",))
    variances = dict(zip(fit.variance["component"], fit.variance["estimate"], strict=True))
    few = integrated_group_effects(d, "y ~ x", "school_id", vc, variances, 0.5)
    assert few["se"].between(0.03, 0.5).all() and few["estimate"].abs().lt(0.2).all()


# ------------------------------------------------------------------------------------------ power


def test_power_on_planted_school_effects():
    """The fast null generator with planted effects: a school 0.35 SD lower in every year is steadily low, a
    school whose students gained 0.3 SD this year has a high contextualised value added."""
    opts = {"n_sim": 500, "methods": ("lbfgs",)}
    low_hits = va_hits = 0
    for seed in range(3):
        con = to_duckdb(null_tables(90_000 + seed, shift={2: -0.35}, gain={5: 0.3}))
        res = municipal_comparison(con, YEAR, opts)
        low_hits += "S03" in _by_kind(res, "steadily_low")
        va_hits += "S06" in _by_kind(res, "high_value_added")
        others = {f.target_id for f in res.findings if f.kind in ("steadily_low", "low_value_added")}
        assert others <= {"S03"}
        con.close()
    assert low_hits >= 2 and va_hits >= 2


def test_power_on_planted_signs_of_non_objectivity():
    """Journal marks inflated in one school (ВПР disagrees with the journal), ОГЭ mathematics scores lifted in
    another in the last year only (far above similar schools, a jump): both are non-objective, no other is."""
    hits = {"vpr_journal": 0, "context_or_jump": 0}
    for seed in range(3):
        con = to_duckdb(null_tables(91_000 + seed, inflate={1: 0.8}, boost={4: 2.0}))
        res = municipal_comparison(con, YEAR, {"n_sim": 500, "methods": ("lbfgs",)})
        con.close()
        found = {f.target_id: {s["check"] for s in f.extra["signs"]} for f in res.findings
                 if f.kind == "non_objective_school"}
        hits["vpr_journal"] += "vpr_journal" in found.get("S02", set())
        hits["context_or_jump"] += bool({"context", "jump"} & found.get("S05", set()))
        assert set(found) <= {"S02", "S05"}
        assert not {f.target_id for f in res.findings if f.kind.endswith("value_added")}  # leniency is not VA
    assert hits["vpr_journal"] >= 2 and hits["context_or_jump"] >= 2, hits


# --------------------------------------------------------------------------- the contract's minimal form


@pytest.fixture(scope="module")
def minimal_db(tmp_path_factory) -> Path:
    """A generated municipality (3 schools, 3 years) ingested from the contract's required columns only:
    no social index, no journal_mark/mark/test_score in assessments, and so on."""
    import vsoko_toolkit
    from vsoko_toolkit.contract.spec import TABLES
    from vsoko_toolkit.synth import generate_municipality

    root = tmp_path_factory.mktemp("municipal_minimal")
    full, mini = root / "full", root / "mini"
    generate_municipality(full, n_schools=3, n_years=3, seed=11, current_marks=False)
    mini.mkdir()
    for f in full.glob("*.csv"):
        t = TABLES.get(f.stem)
        if t is None:
            continue
        d = pd.read_csv(f, dtype=str, keep_default_na=False)
        d[[c.name for c in t.columns if c.required and c.name in d.columns]].to_csv(mini / f.name, index=False)
    db = root / "mini.duckdb"
    vsoko_toolkit.ingest(mini, db)
    return db


def _texts(res) -> str:
    return " ".join([s.reason for s in res.skipped] + list(res.notes))


def test_minimal_contract_runs_and_skips_shnor_with_a_reason(minimal_db):
    con = duckdb.connect(str(minimal_db), read_only=True)
    try:
        assert "social_index" not in school_frame(con).dropna(axis=1, how="all").columns
        res = municipal_comparison(con, YEAR)
    finally:
        con.close()
    assert len(res.table) == 3 and res.table["n"].gt(0).all()
    skipped = {s.analysis: s.reason for s in res.skipped}
    assert {"municipal_shnor", "municipal_resilient"} <= set(skipped)
    assert "social_index" in skipped["municipal_shnor"] and "ШНОР" in skipped["municipal_shnor"]
    assert "social_index" in skipped["municipal_resilient"]
    assert any("только предыдущие результаты" in n for n in res.notes)
    assert "только прошлые результаты" in res.rules["value_added"]
    assert not (_by_kind(res, "shnor") | _by_kind(res, "resilient_school"))
    assert res.context.empty and len(res.value_added) == 3 and len(res.steady) == 3
    assert res.plot_context() is not None  # an explanation instead of the figure


def test_minimal_contract_without_assessments_uses_year_marks(minimal_db, tmp_path):
    db = tmp_path / "no_assessments.duckdb"
    shutil.copy(minimal_db, db)
    con = duckdb.connect(str(db))
    try:
        con.execute("DELETE FROM assessments")
        res = municipal_comparison(con, YEAR)
    finally:
        con.close()
    assert set(res.sources.values()) == {"marks"}
    assert len(res.table) == 3 and len(res.value_added) == 3
    assert "годовые отметки" in _texts(res)
    assert not (_by_kind(res, "non_objective_school"))
    assert res.objectivity.empty
    assert res.plot_objectivity() is not None


def test_no_results_at_all_is_a_skip(minimal_db, tmp_path):
    db = tmp_path / "empty.duckdb"
    shutil.copy(minimal_db, db)
    con = duckdb.connect(str(db))
    try:
        con.execute("DELETE FROM assessments")
        con.execute("DELETE FROM period_marks")
        res = municipal_comparison(con, YEAR)
    finally:
        con.close()
    assert res.table.empty and not res.findings
    assert res.skipped[0].analysis == "municipal_comparison" and "period_marks" in res.skipped[0].reason
    assert res.plot() is not None
