"""Root-cause checks: planted causes are supported, the others are not, and null data supports nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from simnull import null_warehouse

from vsoko_toolkit.analysis.anomalies import score_anomalies
from vsoko_toolkit.analysis.dynamics import results_dynamics
from vsoko_toolkit.analysis.objectivity import objectivity
from vsoko_toolkit.analysis.root_causes import check_causes
from vsoko_toolkit.findings import validate_document
from vsoko_toolkit.warehouse.store import connect

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "municipality"
TRUTH = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def con(sample_db_path):
    return connect(sample_db_path)


def _verdicts(rc, finding_id: str) -> dict[str, str]:
    d = rc.tidy()
    return dict(zip(d.loc[d["finding_id"] == finding_id, "check"], d.loc[d["finding_id"] == finding_id, "verdict"],
                    strict=True))


def test_planted_decline_names_the_teachers_it_was_planted_with(con):
    truth = TRUTH["declining_trend"]
    assert truth["cause"] == "teacher"
    year = max(truth["years"])
    res = results_dynamics(con, truth["school_id"], year)
    trend = [f.to_dict() for f in res.findings if f.kind == "declining_trend" and f.subject == truth["subject"]]
    assert trend
    rc = check_causes(con, truth["school_id"], year, trend)
    v = _verdicts(rc, trend[0]["id"])
    print("\nplanted decline (cause: teacher):", v)
    assert v["value_added"] == "supported" and v["staffing"] == "supported"
    assert "intake" not in v  # the cohort decomposition of the trend tests the intake (and finds it not supported)
    composition = [c for c in trend[0]["causes"] if "состав" in c["hypothesis"]]
    assert composition and composition[0]["verdict"] == "not_supported"
    upd = rc.updated[0]
    assert upd["recommendation"]["addressee_type"] == "teacher"
    assert set(upd["recommendation"]["addressee_id"].split(";")) <= set(truth["details"]["teacher_ids"])
    assert len(upd["causes"]) > len(trend[0]["causes"])  # the decomposition's causes are kept, new ones added


def test_planted_inflated_marking_classes_have_the_offset_as_cause(con):
    truth = TRUTH["marking_bias"][0]
    assert truth["direction"] == "inflated"
    year = 2025
    obj = objectivity(con, truth["school_id"], year)
    cls = [f.to_dict() for f in obj.findings if f.target_type == "class" and f.kind == "inflated_marks"]
    planted = {c for c in truth["class_ids"] if f"-{year}-" in c}
    print("\nclass findings:", [f["target_id"] for f in cls], "planted:", sorted(planted))
    assert cls and {f["target_id"] for f in cls} <= planted
    rc = check_causes(con, truth["school_id"], year, cls)
    for f in cls:
        assert _verdicts(rc, f["id"]) == {"marking_inflated": "supported"}
    d = rc.tidy()
    assert d["evidence"].str.contains(truth["teacher_id"]).all()
    public = check_causes(con, truth["school_id"], year, cls, name_teachers=False)
    assert not public.tidy()["evidence"].str.contains(truth["teacher_id"]).any()
    assert all(truth["teacher_id"] not in json.dumps(u, ensure_ascii=False) for u in public.updated)


def test_planted_threshold_peak_is_explained_by_moved_works(con):
    truth = TRUTH["threshold_peak"]
    an = score_anomalies(con, truth["school_id"], truth["year"])
    peak = [f.to_dict() for f in an.findings if f.kind == "threshold_peak" and f.subject == truth["subject"]]
    assert peak
    rc = check_causes(con, truth["school_id"], truth["year"], peak)
    assert _verdicts(rc, peak[0]["id"])["moved"] == "supported"


def test_updated_findings_still_speak_the_contract(con):
    truth = TRUTH["declining_trend"]
    res = results_dynamics(con, truth["school_id"], 2025)
    fs = [f.to_dict() for f in res.findings]
    rc = check_causes(con, truth["school_id"], 2025, fs)
    assert rc.updated and {u["id"] for u in rc.updated} <= {f["id"] for f in fs}
    validate_document({"school_id": truth["school_id"], "year": 2025, "toolkit_version": "t",
                       "findings": list(rc.updated), "decision_evaluations": [], "skipped": []})
    assert set(rc.tidy()["verdict"]) <= {"supported", "not_supported", "inconclusive"}


def _with_students(con):
    con.execute("CREATE TABLE students AS SELECT DISTINCT student_id FROM period_marks")
    return con


def _pseudo_findings(con, subjects) -> list[dict]:
    """A low-result "finding" for every grade × subject of S01: every candidate cause gets tested."""
    grades = [r[0] for r in con.execute(
        "SELECT DISTINCT grade FROM period_marks WHERE school_id = 'S01' AND year = 2025 ORDER BY 1").fetchall()]
    return [{"id": f"{g}-{s}", "area": "results", "kind": "low_result", "polarity": "problem", "severity": "medium",
             "school_id": "S01", "year": 2025, "metric": "mean_mark", "estimate": -0.3,
             "target_type": "grade", "target_id": str(g), "subject": s, "title": f"{g} {s}", "causes": [],
             "recommendation": None} for g in grades for s in subjects]


def test_intake_decline_is_told_apart_from_teaching():
    """The same decline planted two ways (simnull): a weaker intake vs worse teaching of the same students."""
    out = {}
    for cause in ("intake", "teaching"):
        con = _with_students(null_warehouse(7, decline=0.5, cause=cause, subjects=("Математика", "История")))
        f = _pseudo_findings(con, ("Математика",))
        rc = check_causes(con, "S01", 2025, f)
        d = rc.tidy()
        d = d[d["verdict"] != "inconclusive"]  # e.g. the first grade has no prior year to measure progress on
        out[cause] = d.groupby("check")["verdict"].agg(lambda v: (v == "supported").mean()).to_dict()
    print("\nshare of tested grades with the cause supported:", out)
    assert out["intake"]["intake"] >= 0.5 and out["intake"]["value_added"] == 0
    assert out["teaching"]["value_added"] >= 0.5


def test_null_data_supports_no_cause():
    """No effects anywhere (simnull): a run supports any cause at most 5 % + Monte-Carlo error of the time."""
    n_sims, hits = 100, 0
    for seed in range(n_sims):
        con = _with_students(null_warehouse(seed, n_schools=3, grades=range(5, 8), class_size=15,
                                            subjects=("Математика", "История")))
        rc = check_causes(con, "S01", 2025, _pseudo_findings(con, ("Математика", "История")))
        hits += bool((rc.tidy()["verdict"] == "supported").any())
    rate = hits / n_sims
    mc = math.sqrt(0.05 * 0.95 / n_sims)
    print(f"\nnull runs with any supported cause: {rate:.3f} ({hits}/{n_sims}); limit {0.05 + 2 * mc:.3f}")
    assert rate <= 0.05 + 2 * mc


def test_clustered_mean_interval_is_statsmodels_cluster_ols():
    """``_mean_ci`` in closed form = statsmodels' intercept-only OLS with cluster-robust SE (and plain OLS)."""
    import statsmodels.api as sm
    from scipy import stats

    from vsoko_toolkit.analysis.root_causes import _mean_ci

    rng = np.random.default_rng(4)
    for n_groups in (7, 3):
        g = rng.integers(0, n_groups, 80)
        x = rng.normal(0.2, 1, 80) + rng.normal(0, 0.5, n_groups)[g]
        m, lo, hi, p = _mean_ci(x, g, extra_var=0.01)
        if n_groups >= 5:
            fit = sm.OLS(x, np.ones((80, 1))).fit(cov_type="cluster", cov_kwds={"groups": g})
            df = n_groups - 1
        else:
            fit, df = sm.OLS(x, np.ones((80, 1))).fit(), 79
        se = np.sqrt(fit.bse[0] ** 2 + 0.01)
        assert m == pytest.approx(fit.params[0])
        assert hi - m == pytest.approx(stats.t.ppf(0.975, df) * se, rel=1e-9)
        assert p == pytest.approx(2 * stats.t.sf(abs(m) / se, df), rel=1e-9)


def test_low_value_added_of_a_deflating_teacher_is_traced_to_marking(con):
    """Value added on journal marks: the planted deflating teacher (T0082, S04) shows low "progress"; the cause
    checks say the ВПР progress is not low (not the teaching) and the marks are (the marking)."""
    from vsoko_toolkit.analysis.value_added import value_added

    b = next(x for x in TRUTH["marking_bias"] if x["direction"] == "deflated")
    fs = [f.to_dict() for f in value_added(con, b["school_id"], 2025, outcome="journal").findings
          if f.kind == "low_value_added" and f.target_id == b["teacher_id"]]
    assert fs, "the deflating teacher's low journal value added is the premise of this test"
    rc = check_causes(con, b["school_id"], 2025, fs)
    v = _verdicts(rc, fs[0]["id"])
    print("\ndeflating teacher's journal low value added:", v)
    assert v == {"value_added": "not_supported", "marking_deflated": "supported"}
    rec = rc.updated[0]["recommendation"]
    assert rec["addressee_id"] == b["teacher_id"] and "критерии оценивания" in rec["text"]


def test_value_added_findings_follow_vpr_and_low_teaching_is_a_supported_cause(con):
    """The chapter's value added (outcome 'auto'): the marking-biased teachers get no value-added finding in the
    direction of their bias; the planted low-effect teacher's low ВПР progress is a supported cause of its finding."""
    from vsoko_toolkit.analysis.value_added import value_added

    for b in TRUTH["marking_bias"]:
        va = value_added(con, b["school_id"], 2025)
        kind = "high_value_added" if b["direction"] == "inflated" else "low_value_added"
        assert not [f for f in va.findings if f.kind == kind and f.target_id == b["teacher_id"]], b["teacher_id"]
        dis = va.disagreements()
        row = dis[(dis["unit_id"] == b["teacher_id"]) & (dis["subject"] == b["subject"])]
        print(f"\n{b['teacher_id']} ({b['direction']}): disagreement", row["agreement"].tolist())
        assert row["agreement"].tolist() == ["journal_only_" + ("high" if b["direction"] == "inflated" else "low")]
    p = next(x for x in TRUTH["low_value_added"] if x["source"] == "value_added")
    fs = [f.to_dict() for f in value_added(con, p["school_id"], 2025).findings
          if f.kind == "low_value_added" and f.target_id == p["teacher_id"]]
    assert fs and fs[0]["outcome"] == "external"
    rc = check_causes(con, p["school_id"], 2025, fs)
    v = _verdicts(rc, fs[0]["id"])
    print(f"{p['teacher_id']} (planted low):", v)
    assert v["value_added"] == "supported"
    assert rc.updated[0]["recommendation"]["addressee_id"] == p["teacher_id"]


def _offset_check(estimates, se=0.1, kind="deflated_marks"):
    """The marking_standard check on hand-made class offsets of one teacher (no warehouse read)."""
    import pandas as pd

    from vsoko_toolkit.analysis.root_causes import _Data, _marking_standard

    d = _Data(con=None, school_id="S", year=2025, findings=[])
    d._cache["class_offsets"] = pd.DataFrame({
        "class_id": [f"C{i}" for i in range(len(estimates))], "teacher_id": "T1", "subject": "Математика",
        "raw_offset": estimates, "raw_se": se})
    f = {"kind": kind, "target_type": "teacher", "target_id": "T1", "subject": "Математика"}
    return _marking_standard(d, f, [], "Математика", True)


def test_marking_standard_needs_the_offset_in_every_class_not_one():
    # shared by three classes: each leave-one-out pool is about −0.5 ± 0.07 → supported, addressed to the teacher
    c = _offset_check([-0.5, -0.45, -0.55])
    assert c.verdict == "supported" and c.teachers == ("T1",) and c.p < 1e-6 and c.estimate < 0
    # one class of six drives it (the reviewer's case): without it the others are 0 → not the teacher's standard
    c = _offset_check([-1.2, 0.0, 0.02, -0.03, 0.01, 0.0])
    assert c.verdict == "not_supported" and c.p > 0.3
    # the offset's sign must be the finding's: a deflated pattern does not support an inflated finding
    assert _offset_check([-0.5, -0.45, -0.55], kind="inflated_marks").verdict == "not_supported"
    # a single class cannot tell teacher from class; a teacher blanked by the public profile is not guessed
    assert _offset_check([-0.6]).verdict == "inconclusive"


def test_value_added_shared_by_chapter_05_gives_the_same_causes(con, tmp_path):
    """Chapter 05 keeps its value-added table for chapter 09 (fit each model once): the table survives the
    Parquet round trip exactly, and the cause checks on it equal the checks that refit the model."""
    import pandas as pd

    from vsoko_toolkit.analysis.value_added import value_added
    from vsoko_toolkit.pipeline.context import RunContext

    p = next(x for x in TRUTH["low_value_added"] if x["source"] == "value_added")
    va = value_added(con, p["school_id"], 2025, outcome="auto")
    ctx = RunContext.open(tmp_path / "w.duckdb", p["school_id"], 2025, "internal", tmp_path, chapter="05_causes")
    assert ctx.shared("value_added") is None
    ctx.emit("value_added", va)
    shared = ctx.shared("value_added")
    pd.testing.assert_frame_equal(shared, va.tidy(), check_dtype=False)
    fs = [f.to_dict() for f in va.findings]
    assert fs
    refit = check_causes(con, p["school_id"], 2025, fs).tidy()
    reused = check_causes(con, p["school_id"], 2025, fs, precomputed={"va": shared}).tidy()
    pd.testing.assert_frame_equal(reused, refit)


def test_marking_offsets_shared_by_chapter_04_give_the_same_causes(con, tmp_path):
    """Chapter 04 keeps its marking offsets for chapter 09: the cause checks on the shared tables equal the checks
    that refit the offsets model; a school without offsets shares an empty table, not nothing."""
    import pandas as pd

    from vsoko_toolkit.pipeline.context import RunContext

    truth = TRUTH["marking_bias"][0]
    obj = objectivity(con, truth["school_id"], 2025)
    ctx = RunContext.open(tmp_path / "w.duckdb", truth["school_id"], 2025, "internal", tmp_path, chapter="04_external")
    assert ctx.shared("marking_offsets") is None
    ctx.emit("objectivity", obj)
    offsets, class_offsets = ctx.shared("marking_offsets"), ctx.shared("class_marking_offsets")
    pd.testing.assert_frame_equal(offsets, obj.offsets, check_dtype=False)
    pd.testing.assert_frame_equal(class_offsets, obj.class_offsets, check_dtype=False)
    fs = [f.to_dict() for f in obj.findings]
    assert fs
    refit = check_causes(con, truth["school_id"], 2025, fs).tidy()
    reused = check_causes(con, truth["school_id"], 2025, fs,
                          precomputed={"offsets": offsets, "class_offsets": class_offsets}).tidy()
    pd.testing.assert_frame_equal(reused, refit)
    ctx._share("marking_offsets", None)
    assert ctx.shared("marking_offsets").empty


def test_an_empty_shared_value_added_table_costs_causes_not_the_chapter(con, tmp_path):
    """Chapter 05 can share an empty value-added table (no teacher with enough students): it keeps its columns
    through the run's Parquet, and the cause checks run on it (and on a column-less one) without failing."""
    import pandas as pd

    from vsoko_toolkit.pipeline.context import RunContext

    truth = TRUTH["declining_trend"]
    year = max(truth["years"])
    trend = [f.to_dict() for f in results_dynamics(con, truth["school_id"], year).findings
             if f.kind == "declining_trend" and f.subject == truth["subject"]]
    ctx = RunContext.open(tmp_path / "w.duckdb", truth["school_id"], year, "internal", tmp_path, chapter="05_causes")
    empty = pd.DataFrame({"unit_id": pd.Series([], dtype=str), "n": pd.Series([], dtype="int64")})
    ctx._share("value_added", empty)
    assert list(ctx.shared("value_added").columns) == ["unit_id", "n"]
    for va in (ctx.shared("value_added"), pd.DataFrame()):
        rc = check_causes(con, truth["school_id"], year, trend, precomputed={"va": va})
        assert _verdicts(rc, trend[0]["id"])["value_added"] != "supported"
