"""ОГЭ/ЕГЭ analysis: hand-computed numbers on a tiny table, the sample municipality, and null simulations for
false ``low_result``/``high_result`` and ``result_anomaly`` findings (rate ≤ 5 % + 2 Monte-Carlo SE)."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from vsoko_toolkit.analysis.anomalies import context_residual, score_anomalies
from vsoko_toolkit.analysis.exams import exam_results, exam_summary
from vsoko_toolkit.findings import validate_document

N_SIM = 200
LEVEL = 0.05
BOUND = LEVEL + 2 * math.sqrt(LEVEL * (1 - LEVEL) / N_SIM)


def _con(assess: pd.DataFrame, enroll: pd.DataFrame | None = None, schools: pd.DataFrame | None = None,
         scales: pd.DataFrame | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    a = assess  # noqa: F841 - read by DuckDB by name
    con.execute("CREATE TABLE assessments AS SELECT * FROM a")
    if enroll is not None:
        e = enroll  # noqa: F841
        con.execute("CREATE TABLE enrollments AS SELECT * FROM e")
    if schools is not None:
        s = schools  # noqa: F841
        con.execute("CREATE TABLE schools AS SELECT * FROM s")
    sc = scales if scales is not None else pd.DataFrame(  # noqa: F841
        {"kind": ["OGE"] * 3, "subject": ["Математика"] * 3, "grade": [9] * 3, "year": [2025] * 3,
         "mark": [3, 4, 5], "min_primary": [8.0, 15.0, 22.0]})
    con.execute("CREATE TABLE scales AS SELECT * FROM sc")
    return con


def _rows(school, year, kind, subject, scores, marks=None, ids=None):
    n = len(scores)
    return pd.DataFrame({"school_id": school, "year": year, "grade": 9 if kind == "OGE" else 11,
                         "class_id": f"{school}-{year}-{'9' if kind == 'OGE' else '11'}А",
                         "student_id": ids or [f"{school}-{year}-{kind}-{i}" for i in range(n)], "kind": kind,
                         "subject": subject,
                         "primary_score": [float(x) for x in scores] if kind == "OGE" else np.nan,
                         "mark": marks if marks is not None else [np.nan] * n,
                         "test_score": np.nan if kind == "OGE" else [float(x) for x in scores]})


def test_summary_hand_values():
    s = exam_summary([5, 10, 20, 25], [2, 3, 4, 5], "OGE")
    assert s["n"] == 4 and s["mean"] == pytest.approx(15.0) and s["n_below"] == 1 and s["n_high"] == 1
    assert s["sd"] == pytest.approx(np.std([5, 10, 20, 25], ddof=1))
    e = exam_summary([20, 30, 80, 100, 95], kind="EGE", minimum=24)
    assert e["n_below"] == 1 and e["n_high"] == 3 and e["n_100"] == 1 and e["mean"] == pytest.approx(65.0)


def test_tiny_table_and_medallists():
    ids = ["m1", "m2", "m3", "x4", "x5"]
    a = pd.concat([
        _rows("S01", 2025, "OGE", "Математика", [5, 10, 20, 25, 12, 9], [2, 3, 4, 5, None, 3]),
        _rows("S01", 2025, "EGE", "Русский язык", [20, 69, 85, 100, 72], ids=ids),
        _rows("S01", 2025, "EGE", "Математика", [75, 90], ids=["m1", "m3"]),
        _rows("S02", 2025, "EGE", "Русский язык", [50, 71, 90, 80, 75, 60], ids=[f"o{i}" for i in range(6)]),
        _rows("S02", 2025, "OGE", "Математика", [8, 9, 10, 11, 12, 13], [3, 3, 3, 3, 3, 3]),
    ])
    enroll = pd.DataFrame({"student_id": ["m1", "m2", "m3", "x4", "x5", "o0", "o1", "o2"],
                           "year": 2025, "medal": ["gold", "silver", "gold", None, None, "gold", "gold", "silver"]})
    res = exam_results(_con(a, enroll), "S01", 2025)
    t = res.tidy().set_index(["kind", "subject"])
    oge = t.loc[("OGE", "Математика")]
    assert oge["n"] == 6 and oge["mean"] == pytest.approx(81 / 6)
    # the missing mark (score 12) is derived from the scale: 8 ≤ 12 < 15 -> «3»
    assert (oge["n_2"], oge["n_3"], oge["n_4"], oge["n_5"]) == (1, 3, 1, 1)
    assert oge["below"] == pytest.approx(1 / 6) and oge["high"] == pytest.approx(1 / 6)
    assert oge["muni_below"] == 0 and oge["muni_mean"] == pytest.approx(10.5)
    rus = t.loc[("EGE", "Русский язык")]
    assert rus["threshold"] == 24 and rus["n_below"] == 1 and rus["n_high"] == 2 and rus["n_100"] == 1
    assert rus["below_low"] < 0.2 < rus["below_high"]
    # medallists with ЕГЭ: m1 (75, 20 -> under 70), m2 (69 -> under), m3 (85, 90 -> not); others: o0 50, o1 71, o2 90
    m = res.medallists.iloc[0]
    assert (m["n"], m["k"]) == (3, 2) and m["share"] == pytest.approx(2 / 3)
    assert (m["muni_n"], m["muni_k"]) == (3, 1)
    assert not m["flagged"]  # 3 vs 3 medallists: nothing beyond noise
    assert res.plot() is not None
    _public_hides_small_groups(res)


def _public_hides_small_groups(res):
    """152-ФЗ: the public tables, glue and histograms describe no group under 5 (ЕГЭ Математика: 2 takers,
    medallists: 3), while groups of 5 and more stay visible."""
    from vsoko_toolkit.pipeline.context import public_table
    from vsoko_toolkit.report import glue_exams as gx

    pub = public_table(gx.exams_table(res)).set_index(["экзамен", "предмет"])
    small = pub.loc[("ЕГЭ", "Математика")]
    assert small["suppressed"] == "< 5" and small["средний балл (95 % ДИ)"] == "" and pd.isna(small["n"])
    assert "82,5" not in pub.to_string()  # the two takers' mean (75 + 90) / 2
    assert pub.loc[("ОГЭ", "Математика"), "средний балл (95 % ДИ)"] != ""
    med = public_table(gx.medallists_table(res)).iloc[0]
    assert med["доля (95 % ДИ)"] == "" and med["другие школы"] == ""
    glued = {}
    orig = gx._glue
    gx._glue = lambda k, v: glued.__setitem__(k, v)
    try:
        gx.exams(res, public=True)
    finally:
        gx._glue = orig
    assert glued["exam_ege_math"] == gx.HIDDEN and "меньше 5 медалистов" in glued["exam_medal"]
    assert "82,5" not in " ".join(map(str, glued.values()))
    ax = res.plot(work=("EGE", "Математика"), public=True)
    assert not ax.patches  # no bars drawn for 2 takers


def test_medal_column_absent_is_skipped():
    a = _rows("S01", 2025, "EGE", "Русский язык", [50, 60, 70])
    res = exam_results(_con(a, pd.DataFrame({"student_id": ["x"], "year": [2025]})), "S01", 2025)
    assert any(s.analysis == "exams_medallists" and "medal" in s.reason for s in res.skipped)
    empty = exam_results(_con(a), "S09", 2025)
    assert empty.tidy().empty and empty.skipped[0].analysis == "exams"


def test_sample_municipality(sample_con):
    for s in ("S01", "S03"):
        res = exam_results(sample_con, s, 2025)
        t = res.tidy()
        print(f"\n{s}:", t[["kind", "subject", "n", "mean", "below", "verdict"]].round(2).to_string())
        validate_document({"school_id": s, "year": 2025, "toolkit_version": "test",
                           "findings": [f.to_dict() for f in res.findings], "decision_evaluations": [],
                           "skipped": [x.to_dict() for x in res.skipped]})
        assert {"OGE", "EGE"} <= set(t["kind"])
        oge = t[t["kind"] == "OGE"]
        ege = t[t["kind"] == "EGE"]
        assert oge["mean"].between(3, 40).all() and ege["mean"].between(20, 100).all()
        assert t["below"].between(0, 1).all() and (t["below_low"] <= t["below"]).all()
        assert ((t["q_mean"] >= t["p_mean"]) | t["p_mean"].isna()).all()
    anom = score_anomalies(sample_con, "S01", 2025)
    assert anom.notes  # four schools: too few for the social-context regression
    assert anom.tidy()["context_p"].isna().all()


def test_context_residual_matches_statsmodels():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = 1 + 2 * x + rng.normal(size=12)
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    ext = fit.get_influence().resid_studentized_external
    for i in (0, 5):
        assert context_residual(y, x, i)["t"] == pytest.approx(ext[i], rel=1e-8)


def null_municipality(seed: int, n_schools: int = 10, beta: float = 0.3, school_sd: float = 0.3, works=(("OGE", "Математика", 9), ("OGE", "Русский язык", 9),
                                                            ("EGE", "Русский язык", 11))):
    """Schools differ (stable school effect + social index), students are iid within a school-year, and no
    school changes between years: no finding is true."""
    rng = np.random.default_rng(seed)
    social = rng.normal(size=n_schools)
    effect = beta * social + rng.normal(0, school_sd, n_schools)
    cols: dict[str, list] = {k: [] for k in ("school_id", "year", "grade", "class_id", "student_id", "kind",
                                              "subject", "primary_score", "mark", "test_score")}
    for s in range(n_schools):  # the same random stream as one data frame per school x work x year
        sid = f"S{s + 1:02d}"
        for kind, subject, grade in works:
            for year in (2024, 2025):
                n = int(rng.integers(12, 40))
                latent = effect[s] + rng.normal(0, 1, n)
                oge = kind == "OGE"
                score = np.clip(np.round(15 + 5 * latent), 0, 31) if oge else np.clip(np.round(60 + 15 * latent), 0, 100)
                mark = (2 + np.searchsorted([8, 15, 22], score, side="right")).astype(float) if oge else np.full(n, np.nan)
                nan = np.full(n, np.nan)
                for k, v in (("school_id", [sid] * n), ("year", [year] * n), ("grade", [grade] * n),
                             ("class_id", [f"{sid}-{year}-{grade}А"] * n),
                             ("student_id", [f"{sid}-{year}-{kind}-{subject}-{i}" for i in range(n)]),
                             ("kind", [kind] * n), ("subject", [subject] * n),
                             ("primary_score", score if oge else nan), ("mark", mark),
                             ("test_score", nan if oge else score)):
                    cols[k].extend(v)
    rows = [pd.DataFrame(cols)]
    schools = pd.DataFrame({"school_id": [f"S{s + 1:02d}" for s in range(n_schools)], "municipality": "М",
                            "social_index": social})
    scales = pd.DataFrame({"kind": "OGE", "subject": ["Математика"] * 3 + ["Русский язык"] * 3, "grade": 9,
                           "year": 2025, "mark": [3, 4, 5] * 2, "min_primary": [8.0, 15.0, 22.0] * 2})
    return _con(pd.concat(rows), schools=schools, scales=scales)


def test_false_findings_on_null_municipalities():
    """Exams: a municipality without school effects (the school equals the others). Anomalies: stable school
    effects on a linear social gradient — no school changes between years, none is above its context."""
    exam_hits = anomaly_hits = 0
    for seed in range(N_SIM):
        con = null_municipality(seed)
        anomaly_hits += int(any(f.kind == "result_anomaly" for f in score_anomalies(con, "S01", 2025).findings))
        con.close()
        con = null_municipality(seed + 10_000, n_schools=4, beta=0.0, school_sd=0.0)
        exam_hits += int(bool([f for f in exam_results(con, "S01", 2025).findings
                               if f.kind in ("low_result", "high_result")]))
        con.close()
    print(f"\nnull: result_anomaly in {anomaly_hits}/{N_SIM} runs = {anomaly_hits / N_SIM:.3f}; "
          f"exam low/high_result in {exam_hits}/{N_SIM} runs = {exam_hits / N_SIM:.3f} (bound {BOUND:.3f})")
    assert anomaly_hits / N_SIM <= BOUND
    assert exam_hits / N_SIM <= BOUND


def test_public_table_blanks_formatted_small_rows_by_their_size_column():
    """A Russian table whose size column is «учеников» and whose numbers are strings: a row of 3 keeps its
    labels only; a row of 12 is untouched."""
    from vsoko_toolkit.pipeline.context import public_table

    df = pd.DataFrame({"группа": ["5А", "6Б"], "предмет": ["Математика"] * 2, "значение": ["33 %", "58 %"],
                       "учеников": [3, 12], "q": ["0,010", "0,200"]})
    df.attrs["labels"] = ["группа", "предмет"]
    out = public_table(df)
    assert out.loc[0, ["группа", "значение", "q"]].tolist() == ["5А", "", ""] and pd.isna(out.loc[0, "учеников"])
    assert out.loc[1, ["значение", "учеников"]].tolist() == ["58 %", 12]
    assert out["suppressed"].tolist() == ["< 5", ""]
