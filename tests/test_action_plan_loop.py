"""Diagnosis → action → re-diagnosis: year N's action plan, fed back as the decisions register, is evaluated in N+1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl

from vsoko_toolkit import ingest
from vsoko_toolkit.pipeline.chapters import CHAPTERS
from vsoko_toolkit.pipeline.run import run_school

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "municipality"


def _chapters(*stems):
    return tuple(c for c in CHAPTERS if c.stem in stems)


def test_action_plan_of_year_n_is_rediagnosed_in_year_n_plus_1(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("decisions.*", "truth.json"))
    db = tmp_path / "n.duckdb"
    ingest(data, db)
    run = run_school(db, "S01", 2024, "internal", tmp_path / "out",
                     chapters=_chapters("03_results", "04_external", "05_causes", "09_synthesis"))
    assert run.ok, run.failed
    plan = run.run_dir / "action_plan.xlsx"
    ws = openpyxl.load_workbook(plan).active
    n_rows = ws.max_row - 1
    assert n_rows >= 1
    shutil.copy(plan, data / "decisions.xlsx")  # the approved plan becomes next year's register, as it is

    db2 = tmp_path / "n1.duckdb"
    summary = ingest(data, db2)
    print("\nplan rows:", n_rows, "| ingest of decisions:", summary.tables.get("decisions") if hasattr(summary, "tables")
          else summary)
    run2 = run_school(db2, "S01", 2025, "internal", tmp_path / "out", chapters=_chapters("06_decisions"))
    assert run2.ok, run2.failed
    doc = json.loads(run2.findings_path.read_text(encoding="utf-8"))
    ev = {e["decision_id"]: e for e in doc["decision_evaluations"]}
    ids = {f"S01-2025-{i:02d}" for i in range(1, n_rows + 1)}
    print({k: (e["method"], e["verdict"]) for k, e in sorted(ev.items())})
    assert ids <= set(ev)  # every decision of the plan is re-diagnosed (or says why it cannot be)
    assert any(ev[i]["method"] in ("did", "its") for i in ids)  # and at least one is actually estimated
    assert all(ev[i]["explanation"] for i in ids)
