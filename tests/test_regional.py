"""The regional roll-up of a batch (issue 17): planted municipality found, nothing found on null data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from openpyxl import load_workbook

from vsoko_toolkit.analysis.regional import FINDING_COLUMNS, regional_rollup
from vsoko_toolkit.report.regional import write_rollup


def _region(n_munis: int, per: int, rates: dict[str, float], rng, planted: dict | None = None):
    schools = pd.DataFrame({"school_id": [f"M{m:02d}-S{s:02d}" for m in range(n_munis) for s in range(per)],
                            "municipality": [f"M{m:02d}" for m in range(n_munis) for _ in range(per)]})
    schools["analysed"] = True
    rows = []
    for s, m in zip(schools["school_id"], schools["municipality"], strict=True):
        for kind, rate in rates.items():
            rate = (planted or {}).get((m, kind), rate)
            for _ in range(int(rng.random() < rate) * int(rng.integers(1, 4))):  # a school may have several
                rows.append({"municipality": m, "school_id": s, "area": "objectivity", "kind": kind,
                             "polarity": "problem", "title": "…"})
    return pd.DataFrame(rows, columns=list(FINDING_COLUMNS)), schools


def test_planted_municipality_is_found_and_no_other():
    rng = np.random.default_rng(17)
    found, schools = _region(8, 10, {"inflated_marks": 0.1, "low_result": 0.5}, rng,
                             planted={("M03", "inflated_marks"): 0.95})
    r = regional_rollup(found, schools, 2025)
    flagged = r.flagged()
    assert list(zip(flagged["municipality"], flagged["kind"], flagged["direction"], strict=True)) == [
        ("M03", "inflated_marks", "higher")]
    row = r.table.query("municipality == 'M03' and kind == 'inflated_marks'").iloc[0]
    assert row.share_low <= row.share <= row.share_high and row.schools == 10
    assert row.rest_schools == 70 and row.flagged_schools + row.rest_flagged == found.query(
        "kind == 'inflated_marks'")["school_id"].nunique()  # schools, not findings, are counted


def test_no_municipality_flagged_on_null_data():
    """Every school has each kind at the same rate: at most alpha of the regions show any flagged row (BH
    controls the family-wise rate under the global null; Fisher's test is conservative)."""
    rng = np.random.default_rng(1717)
    reps, hits = 200, 0
    for _ in range(reps):
        found, schools = _region(10, 10, {"inflated_marks": 0.15, "low_result": 0.5, "risk_students": 0.8}, rng)
        hits += bool(regional_rollup(found, schools, 2025).flagged().shape[0])
    assert hits / reps <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / reps), hits


def test_one_municipality_and_failed_schools(tmp_path):
    rng = np.random.default_rng(3)
    found, schools = _region(1, 6, {"low_result": 0.5}, rng)
    schools.loc[0, "analysed"] = False
    found = found[found["school_id"] != schools.loc[0, "school_id"]]
    r = regional_rollup(found, schools, 2025)
    assert r.table["schools"].eq(5).all() and r.table["q_value"].isna().all() and not r.table["flagged"].any()
    path = write_rollup(r, tmp_path / "roll")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Отличия муниципалитетов", "Все муниципалитеты", "Находки школ", "Пояснение"]
    ws = wb["Все муниципалитеты"]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["муниципалитет", "что найдено", "код находки"]
    assert ws.cell(2, header.index("отличие") + 1).value == "сравнивать не с чем"
    assert ws.cell(2, 2).value == "низкие результаты"
    assert (tmp_path / "roll" / "by_municipality.csv").is_file()


def test_empty_findings_give_an_empty_table():
    schools = pd.DataFrame({"school_id": ["A", "B"], "municipality": ["M1", "M2"], "analysed": [True, True]})
    r = regional_rollup(pd.DataFrame(columns=list(FINDING_COLUMNS)), schools, 2025)
    assert r.table.empty and r.flagged().empty
