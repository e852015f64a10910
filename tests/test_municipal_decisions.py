"""Municipal decisions re-diagnosed with schools as units; the municipal action plan read back as the register.

Planted truth comes from a small simulated municipality (:func:`sim_municipality`): schools differ, and so do
their years and terms, but only the treated schools gain — by a stated latent effect — after the decision's date.
With the effect switched off every ``effective`` verdict is a false positive (the null rates are printed).
"""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pytest
from simnull import sim_count

from vsoko_toolkit.analysis.municipal_decisions import municipal_decisions, school_levels
from vsoko_toolkit.contract.spec import HEADER_LABELS
from vsoko_toolkit.findings import validate_document
from vsoko_toolkit.report.municipal_plan import plan_rows, write_municipal_plan

CUTS = (-1.9, -0.1, 1.1)  # latent -> marks 2/3/4/5
TERMS = ("q1", "q2", "q3", "q4")
DATE, DEADLINE = pd.Timestamp("2023-11-10"), pd.Timestamp("2024-05-31")


def sim_municipality(seed: int, n_schools: int = 10, size: int = 60, treated=("S01",), effect: float = 0.0,
                     pretrend: float = 0.0, metric: str = "quality", target_ids: str | None = None):
    """(connection, realised effect on quality) of a simulated municipality, 2023–2024, one subject.

    latent = school + school-year shock + school-term shock + student ability + noise; ``effect`` is added to
    the treated schools' terms after ``DATE`` (q2–q4 of 2024); ``pretrend`` adds a per-term drift to the
    treated schools over all terms (a violation of parallel trends). The realised effect is the change of the
    treated schools' quality after the date against their own marks drawn without the effect (same draws).
    """
    rng = np.random.default_rng(seed)
    rows, gain, n_post = [], 0.0, 0
    for s in range(1, n_schools + 1):
        sid = f"S{s:02d}"
        is_t = sid in treated
        school = rng.normal(0, 0.3)
        ability = school + rng.normal(0, 0.8, size)
        k = 0
        for year in (2023, 2024):
            y_shock = rng.normal(0, 0.12)
            for term in TERMS:
                lat = ability + y_shock + rng.normal(0, 0.06) + rng.normal(0, 0.5, size)
                if is_t:
                    lat = lat + pretrend * k
                post = year == 2024 and term != "q1"
                mark = 2 + np.searchsorted(CUTS, lat + (effect if (is_t and post) else 0.0))
                if is_t and post:
                    gain += float((mark >= 4).sum() - ((2 + np.searchsorted(CUTS, lat)) >= 4).sum())
                    n_post += size
                rows.append(pd.DataFrame({"student_id": [f"{sid}-{i}" for i in range(size)], "school_id": sid,
                                          "class_id": f"{sid}-{year}", "year": year, "grade": 6, "period": term,
                                          "subject": "Математика", "mark": mark.astype(str), "mark_value": mark}))
                k += 1
    pm = pd.concat(rows, ignore_index=True)
    schools = pd.DataFrame({"school_id": [f"S{s:02d}" for s in range(1, n_schools + 1)], "name": "школа",
                            "municipality": "Энский округ"})
    reg = pd.DataFrame([{"decision_id": "M001", "municipality": "Энский округ", "year": 2024, "date": DATE,
                         "problem": "п", "action": "д", "target_type": "school",
                         "target_ids": ";".join(treated) if target_ids is None else target_ids,
                         "subject": "Математика", "responsible": "директор", "metric": metric, "baseline": None,
                         "target_value": None, "deadline": DEADLINE}])
    con = duckdb.connect()
    for name, df in (("period_marks", pm), ("schools", schools), ("municipal_decisions", reg)):
        con.register("_t", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _t")
        con.unregister("_t")
    return con, gain / n_post if n_post else 0.0


def _doc(res) -> dict:
    return {"school_id": "Энский округ", "year": res.year, "toolkit_version": "test", "findings": [],
            "decision_evaluations": [e.to_dict() for e in res.evaluations], "skipped": []}


def test_planted_effect_found_with_schools_as_units():
    n, hits, covered = 20, 0, 0
    for seed in range(n):
        con, realised = sim_municipality(seed, treated=("S01", "S02", "S03"), effect=0.6)
        res = municipal_decisions(con, 2024)
        row = res.tidy().iloc[0]
        assert row["method"] == "did" and row["n_target"] == 3 and row["n_comparison"] == 7
        hits += row["verdict"] == "effective"
        covered += row["ci_low"] <= realised <= row["ci_high"]
        if seed == 0:
            validate_document(_doc(res))
            print(f"\nplanted effect (quality) {realised:+.3f}: estimate {row['effect']:+.3f} "
                  f"[{row['ci_low']:+.3f}; {row['ci_high']:+.3f}], pre-trend p = {row['pretrend_p']:.2f}")
            assert "разность разностей" in row["explanation"] and "параллельные тренды" in row["explanation"]
            ax = res.plot("M001")
            assert ax.get_title()
            import matplotlib.pyplot as plt

            plt.close(ax.figure)
        con.close()
    print(f"planted effect called effective in {hits}/{n}; interval covers the realised effect in {covered}/{n}")
    assert hits >= 0.8 * n
    assert covered >= 0.8 * n


def test_null_rate_did():
    n, hits, methods = sim_count(200), 0, {}
    rng = np.random.default_rng(7)
    for seed in range(n):
        k = int(rng.integers(1, 4))
        treated = tuple(f"S{s:02d}" for s in sorted(rng.choice(np.arange(1, 11), k, replace=False)))
        metric = str(rng.choice(["quality", "success", "mean_mark"]))
        con, _ = sim_municipality(1000 + seed, treated=treated, metric=metric)
        ev = municipal_decisions(con, 2024).evaluations[0]
        methods[ev.method] = methods.get(ev.method, 0) + 1
        hits += ev.verdict == "effective"
        con.close()
    rate, se = hits / n, np.sqrt(0.05 * 0.95 / n)
    print(f"\nnull municipal DiD: a decision without effect called effective in {hits}/{n} = {rate:.1%} "
          f"(limit {0.05 + 2 * se:.1%}); methods {methods}")
    assert methods.get("did", 0) == n
    assert rate <= 0.05 + 2 * se


def test_null_rate_its_for_every_school():
    """A decision for every school (``target_ids`` empty): no comparison, each school's own trend."""
    n, hits, methods = sim_count(80), 0, {}
    for seed in range(n):
        con, _ = sim_municipality(5000 + seed, n_schools=4, target_ids="")
        ev = municipal_decisions(con, 2024).evaluations[0]
        methods[ev.method] = methods.get(ev.method, 0) + 1
        hits += ev.verdict == "effective"
        con.close()
    rate = hits / n
    print(f"\nnull municipal ITS: called effective in {hits}/{n} = {rate:.1%}; methods {methods}")
    assert methods.get("its", 0) == n
    assert rate <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / n)


def test_pretrend_violation_is_not_called_effective():
    verdicts = []
    for seed in range(20):
        con, _ = sim_municipality(9000 + seed, treated=("S01", "S02"), pretrend=0.12)
        row = municipal_decisions(con, 2024).tidy().iloc[0]
        verdicts.append(row["verdict"])
        con.close()
    print("\npre-trend violation verdicts:", pd.Series(verdicts).value_counts().to_dict())
    assert verdicts.count("insufficient_data") >= 10  # the check catches most diverging pre-trends


def test_register_missing_or_not_addressed_to_schools():
    con, _ = sim_municipality(1)
    con.execute("UPDATE municipal_decisions SET target_type = 'class'")
    ev = municipal_decisions(con, 2024).evaluations[0]
    assert ev.verdict == "insufficient_data" and "decisions.csv" in ev.explanation
    con.execute("UPDATE municipal_decisions SET target_type = 'school', target_ids = 'S99'")
    assert "S99" in municipal_decisions(con, 2024).evaluations[0].explanation
    con.execute("UPDATE municipal_decisions SET target_ids = 'S01', date = DATE '2024-08-30', "
                "deadline = DATE '2025-05-31', year = 2024")
    assert municipal_decisions(con, 2024).evaluations[0].verdict == "not_due"
    con.execute("DELETE FROM municipal_decisions")
    res = municipal_decisions(con, 2024)
    assert res.tidy().empty and "municipal_decisions" in res.skipped[0].reason
    con.execute("DROP TABLE municipal_decisions")
    res = municipal_decisions(con, 2024)
    assert res.tidy().empty and "municipal_decisions" in res.skipped[0].reason
    con.close()


def test_sample_register(sample_con):
    """Hand-made municipal decisions over the sample municipality: term and ВПР metrics, all schools, not due."""
    base = {"problem": "п", "action": "д", "target_type": "school", "responsible": "директор",
            "baseline": None, "target_value": None, "deadline": "2025-05-31", "year": 2025, "date": "2024-09-01"}
    reg = pd.DataFrame([
        {**base, "decision_id": "M1", "target_ids": "S03", "subject": "Русский язык", "metric": "quality"},
        {**base, "decision_id": "M2", "target_ids": "S01", "subject": "Математика", "metric": "vpr_confirm_share",
         "baseline": 0.6, "target_value": 0.7},
        {**base, "decision_id": "M3", "target_ids": "", "subject": "", "metric": "mean_mark"},
        {**base, "decision_id": "M4", "target_ids": "S02", "subject": "", "metric": "quality", "year": 2025,
         "date": "2025-08-30", "deadline": "2026-05-31"},
        {**base, "decision_id": "M5", "target_ids": "S02", "subject": "", "metric": "staff_turnover"},
    ])
    res = municipal_decisions(sample_con, 2025, {"register": reg})
    validate_document(_doc(res))
    t = res.tidy().set_index("decision_id")
    print("\n" + t[["method", "verdict", "effect", "ci_low", "ci_high", "n_target", "n_comparison"]].to_string())
    assert t.loc["M1", "method"] == "did" and t.loc["M2", "method"] == "did"
    assert t.loc["M3", "method"] == "its" and "всех школ" in t.loc["M3", "explanation"]
    assert t.loc["M4", "verdict"] == "not_due" and t.loc["M5", "verdict"] == "insufficient_data"
    assert all(e.explanation for e in res.evaluations)
    lv = school_levels(sample_con, "vpr_confirm_share", 2025, "Математика")
    assert set(lv) == {"S01", "S02", "S03", "S04"} and all(0 < v < 1 for v in lv.values())


FINDINGS = [
    {"kind": "steadily_low", "polarity": "problem", "severity": "high", "target_type": "school",
     "target_id": "S01", "subject": "Математика", "metric": "result_vs_municipality", "estimate": -0.3,
     "title": "Устойчиво низкие результаты по математике", "evidence": "три года ниже муниципалитета",
     "recommendation": {"text": "Директору школы: программа повышения качества", "addressee_type": "school",
                        "addressee_id": "S01", "responsible": "директор школы", "deadline": "2024-10-01",
                        "control_metric": "result_vs_municipality", "baseline": -0.3, "target": 0.0}},
    {"kind": "shnor", "polarity": "problem", "severity": "medium", "target_type": "school", "target_id": "S02",
     "subject": None, "metric": "context_residual", "estimate": -0.4, "title": "ШНОР", "evidence": "низкий индекс",
     "recommendation": None},
    {"kind": "non_objective_school", "polarity": "problem", "severity": "high", "target_type": "school",
     "target_id": "S03", "subject": "Русский язык", "metric": "vpr_lowered_share", "estimate": 0.4,
     "title": "Признаки необъективности", "evidence": "пик у границы",
     "recommendation": {"text": "Перепроверить работы ВПР муниципальной комиссией", "addressee_type": "school",
                        "addressee_id": "S03", "responsible": "директор школы S03", "deadline": "2025-04-30",
                        "control_metric": "vpr_lowered_share", "baseline": 0.4, "target": 0.2}},
    {"kind": "resilient_school", "polarity": "strength", "severity": "low", "target_type": "school",
     "target_id": "S04", "subject": None, "metric": "quality", "estimate": 0.6, "title": "Резильентная школа",
     "evidence": "выше ожидаемого", "recommendation": None},
    {"kind": "direction_decline", "polarity": "problem", "severity": "high", "target_type": "school",
     "target_id": "", "subject": None, "metric": "msoko_direction_1", "estimate": -0.05,
     "title": "Направление 1: ухудшение", "evidence": "доля хорошистов снизилась",
     "recommendation": {"text": "Управлению образования: меры по направлению 1", "addressee_type": "school",
                        "addressee_id": "", "responsible": "управление образования", "deadline": "2025-05-31",
                        "control_metric": "d1.good", "baseline": 0.24, "target": 0.29}},
    {"kind": "low_result", "polarity": "problem", "severity": "low", "target_type": "class", "target_id": "7А",
     "subject": None, "metric": "quality", "estimate": 0.1, "title": "класс", "evidence": "",
     "recommendation": None},
]


def test_plan_rows_are_addressed_with_metric_baseline_target_deadline():
    rows = plan_rows(FINDINGS, "Энский округ", 2024)
    assert len(rows) == 5  # the class-level finding is not a municipal decision
    by = {(r["target_ids"], r["problem"]): r for r in rows}
    low = by[("S01", "Устойчиво низкие результаты по математике")]
    assert low["metric"] == "vpr_mean_pct" and low["subject"] == "Математика"  # followed on the external ВПР
    assert low["responsible"] == "директор школы S01" and low["baseline"] is None  # z-difference: not its scale
    assert low["deadline"] == "2025-05-31" and "01.10.2024" in low["action"]  # the action's own deadline is kept
    assert by[("S02", "ШНОР")]["metric"] == "vpr_mean_pct" and "ШНОР" not in by[("S02", "ШНОР")]["action"][:5]
    obj = by[("S03", "Признаки необъективности")]
    assert obj["metric"] == "vpr_confirm_share" and obj["baseline"] is None  # lowered share is not the confirm share
    assert obj["responsible"] == "директор школы S03"
    muni = by[("", "Направление 1: ухудшение")]  # a dashboard indicator: re-diagnosed on term-mark quality,
    assert muni["metric"] == "quality" and muni["baseline"] is None  # its baseline measured next year
    assert [r["decision_id"] for r in rows] == [f"M2025-{i:02d}" for i in range(1, 6)]
    assert rows[-1]["target_ids"] == "S04"  # strengths after problems
    assert all(r["deadline"] and r["date"] == "2024-09-01" and r["year"] == 2025 for r in rows)


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    """A generated 4-school municipality (2024–2025) ingested: its data folder and warehouse."""
    from vsoko_toolkit import ingest
    from vsoko_toolkit.synth import generate_municipality

    root = tmp_path_factory.mktemp("muni_plan")
    generate_municipality(root / "data", n_schools=4, n_years=2, seed=11, current_marks=False)
    ingest(root / "data", root / "n.duckdb")
    return root


def test_plan_xlsx_reads_back_as_next_years_register(small_db, tmp_path):
    from vsoko_toolkit import ingest

    con = duckdb.connect(str(small_db / "n.duckdb"), read_only=True)
    plan = write_municipal_plan(FINDINGS, tmp_path / "municipal_plan.xlsx", "Энский округ", 2024, con=con)
    con.close()
    ws = openpyxl.load_workbook(plan).active
    header = [c.value for c in ws[1]]
    assert header[:len(HEADER_LABELS["municipal_decisions"])] == list(HEADER_LABELS["municipal_decisions"].values())
    n_rows = ws.max_row - 1
    values = {h: [ws.cell(r, i + 1).value for r in range(2, ws.max_row + 1)] for i, h in enumerate(header)}
    schools = values["Школы (коды через ;)"]
    # baselines and targets of the rows addressed to one school are measured from the warehouse
    assert all(b is not None and g is not None for s, b, g in zip(
        schools, values["Исходное значение"], values["Целевое значение"], strict=True) if s)

    data = tmp_path / "data"
    shutil.copytree(small_db / "data", data)
    (data / "municipal_decisions.csv").unlink(missing_ok=True)  # synth's register is empty this year
    shutil.copy(plan, data / "municipal_decisions.xlsx")  # the approved plan becomes next year's register
    db = tmp_path / "n1.duckdb"
    rep = ingest(data, db)
    row = rep.tables.set_index("table").loc["municipal_decisions"]
    print(f"\nplan rows: {n_rows}; municipal_decisions read {row['read']}, accepted {row['accepted']}")
    assert row["read"] == row["accepted"] == n_rows
    con = duckdb.connect(str(db), read_only=True)
    res = municipal_decisions(con, 2025)
    con.close()
    validate_document(_doc(res))
    t = res.tidy().set_index("decision_id")
    print(t[["metric", "target_ids", "method", "verdict", "baseline", "current"]].to_string())
    for did, r in t.iterrows():
        print(did, r["explanation"][:200])
    assert set(t.index) == {f"M2025-{i:02d}" for i in range(1, n_rows + 1)}  # every row is re-diagnosed
    assert (t["method"].isin(["did", "its"])).sum() >= 2  # and estimated where the data allow
    assert t["explanation"].str.len().gt(50).all()
