"""The contract-minimal matrix (issue 14): the pipeline on data shaped like a real export, not like our generator.

A small municipality is generated once, then written back in other shapes the contract allows
(`vsoko_toolkit.synth.variants.write_variant`):

- the contract's minimal form (required columns only, so no ``journal_mark``), in Windows-1251 with ``;``,
  decimal commas, Russian labels and dates ``ДД.ММ.ГГГГ``;
- the generator's habits varied (teacher, class and student id formats, ВПР dates spread over the term, a
  subject absent in the first year);
- each optional table dropped, one at a time.

For every variant: every chapter finishes; each planted effect that the full form finds is found again
whenever the analysis that finds it still has its data (by the readiness registry); an analysis that lost
its data says so (readiness «не выполняется» and a ``skipped`` entry in findings.json).

Two variants go through the real pipeline (`vsoko run`: papermill, one kernel per chapter); the rest run the
same chapter cells in this process (tests/chapters_inprocess.py), only the chapters the dropped table feeds
plus the late ones, to keep the suite short.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from chapters_inprocess import run_inprocess
from planted import found, planted_findings

from vsoko_toolkit import ingest
from vsoko_toolkit.analysis.readiness import ANALYSES, readiness
from vsoko_toolkit.pipeline.chapters import LATE, late_stems
from vsoko_toolkit.pipeline.run import run_school
from vsoko_toolkit.synth import generate_municipality
from vsoko_toolkit.synth.variants import write_variant
from vsoko_toolkit.warehouse.profile import data_profile

YEAR = 2025
SCHOOLS = ("S02", "S03")  # S02: the declining trend, the ОГЭ pile-up; S03: marking bias, value added, a deficit
#: which analysis (readiness key) finds each planted kind
FINDS = {"inflated_marks": "objectivity", "deflated_marks": "objectivity", "task_deficit": "task_analysis",
         "low_value_added": "value_added", "high_value_added": "value_added", "declining_trend": "trends",
         "threshold_peak": "score_anomalies", "literacy_deficit": "literacy",
         "graduate_outflow": "destinations", "talent_concentration": "talent"}
OPTIONAL_TABLES = ("current_marks", "attendance", "assessments", "assessment_items", "assessment_specs",
                   "assessment_benchmarks", "scales", "olympiads", "surveys", "survey_items", "indicators",
                   "decisions", "activities", "offences", "destinations")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("matrix")
    truth = generate_municipality(tmp / "full", n_schools=3, n_years=3, seed=7, last_year=YEAR)
    return tmp, truth


def _load(tmp: Path, name: str, **variant) -> tuple[Path, dict]:
    """Write the variant, ingest it (zero rejects), return the warehouse and the variant's truth."""
    folder = tmp / name if variant else tmp / "full"
    truth = write_variant(tmp / "full", folder, **variant) if variant else json.loads(
        (tmp / "full" / "truth.json").read_text(encoding="utf-8"))
    db = tmp / f"{name}.duckdb"
    rep = ingest(folder, db)
    assert rep.n_rejected == 0, rep.rejects.head(10).to_dict("records")
    return db, truth


@pytest.fixture(scope="module")
def baseline(work):
    """The full form, run in process: which planted effects it finds (the matrix's reference)."""
    tmp, _ = work
    db, truth = _load(tmp, "base")
    out = {}
    for school in SCHOOLS:
        run = run_inprocess(db, school, YEAR, tmp / "out-base")
        assert not run["failed"], run["failed"]
        keys = planted_findings(truth, school, YEAR)
        out[school] = [i for i, k in enumerate(keys) if k in found(run["doc"]["findings"], [k])]
        print(f"\nfull form, {school}: planted {keys}; found {[keys[i] for i in out[school]]}")
    # the matrix is only as strong as what the full form finds
    assert sum(len(v) for v in out.values()) >= 4
    return out


def _check(db: Path, truth: dict, baseline: dict, doc_of, name: str, stems=None) -> None:
    """The matrix's assertions for one variant (``doc_of(school)`` gives the run's findings.json; ``stems``: the
    chapters that ran, all by default)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        for school in SCHOOLS:
            ready = readiness(data_profile(con, school, YEAR)).set_index("analysis")
            if stems is not None:
                ready = ready[ready["chapter"].isin(stems)]
            doc = doc_of(school)
            keys = planted_findings(truth, school, YEAR)
            got = found(doc["findings"], keys)
            skipped = " ".join(f"{s['analysis']} {s['reason']}" for s in doc["skipped"])
            for i in baseline[school]:
                key = keys[i]
                if FINDS[key[0]] not in ready.index:
                    continue
                status = ready.loc[FINDS[key[0]], "status"]
                if status == "missing":
                    assert FINDS[key[0]] in skipped or ready.loc[FINDS[key[0]], "needs_ru"] in skipped, (
                        f"{name}/{school}: {FINDS[key[0]]} lost its data but says nothing")
                else:
                    assert key in got, f"{name}/{school}: planted {key} not found ({status})"
            for a in ready[ready["status"] == "missing"].index:
                assert a in skipped or ready.loc[a, "needs_ru"] in skipped, (
                    f"{name}/{school}: {a} cannot run and findings.json does not say so")
            print(f"{name}, {school}: planted found {sorted(got)}; "
                  f"fall-backs {list(ready.index[ready['status'] == 'fallback'])}; "
                  f"missing {list(ready.index[ready['status'] == 'missing'])}")
    finally:
        con.close()


def test_minimal_windows_export_through_the_real_pipeline(work, baseline, tmp_path):
    """Required columns only, cp1251, ``;``, decimal commas, Russian labels: `vsoko run` on one school."""
    tmp, _ = work
    db, truth = _load(tmp, "minimal-ru", minimal=True, encoding="cp1251", delimiter=";", decimal=",",
                      russian_labels=True)
    docs = {}
    res = run_school(db, "S03", YEAR, "internal", tmp_path / "out")
    assert res.ok, res.failed
    docs["S03"] = json.loads(res.findings_path.read_text(encoding="utf-8"))
    run = run_inprocess(db, "S02", YEAR, tmp_path / "out-inproc")
    assert not run["failed"], run["failed"]
    docs["S02"] = run["doc"]
    _check(db, truth, baseline, docs.__getitem__, "minimal-ru")


def test_other_generator_habits_through_the_real_pipeline(work, baseline, tmp_path):
    """Other id formats, ВПР dates spread over the term, a subject taught from the second year only."""
    tmp, _ = work
    db, truth = _load(tmp, "habits", habits=True, seed=3)
    docs = {}
    res = run_school(db, "S02", YEAR, "internal", tmp_path / "out")
    assert res.ok, res.failed
    docs["S02"] = json.loads(res.findings_path.read_text(encoding="utf-8"))
    run = run_inprocess(db, "S03", YEAR, tmp_path / "out-inproc")
    assert not run["failed"], run["failed"]
    docs["S03"] = run["doc"]
    _check(db, truth, baseline, docs.__getitem__, "habits")


def _chapters_reading(table: str) -> tuple[str, ...]:
    """Chapters whose analyses read ``table`` (required or optional, by the readiness registry), plus the late ones."""
    stems = {a.chapter for a in ANALYSES
             if any(n.table == table for n in a.requires) or any(o.need.table == table for o in a.optional)}
    return tuple(sorted(stems)) + late_stems(LATE)


@pytest.mark.parametrize("table", OPTIONAL_TABLES)
def test_each_optional_table_dropped(work, baseline, tmp_path, table):
    tmp, _ = work
    db, truth = _load(tmp, f"drop-{table}", drop_tables=(table,))
    stems = _chapters_reading(table)
    docs = {}
    for school in SCHOOLS:
        run = run_inprocess(db, school, YEAR, tmp_path / "out", stems=stems)
        assert not run["failed"], run["failed"]
        docs[school] = run["doc"]
    _check(db, truth, baseline, docs.__getitem__, f"drop {table}", stems)
