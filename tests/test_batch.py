"""`vsoko batch`: all schools, failures isolated, content-hash cache, dask LocalCluster."""

from __future__ import annotations

import copy

import pytest
from conftest import MINI, write_folder

from vsoko_toolkit import ingest
from vsoko_toolkit.pipeline.batch import run_batch
from vsoko_toolkit.pipeline.chapters import CHAPTERS, notebook_dir

FEW = tuple(c for c in CHAPTERS if c.stem in ("02_context", "03_results"))


def two_schools() -> dict:
    """MINI plus a second school S02 (same shape, other ids)."""
    t = copy.deepcopy(MINI)
    for name, rows in MINI.items():
        if name == "assessment_specs":  # task specs are the municipality's, not a school's
            continue
        for r in rows[1:]:
            t[name].append([v.replace("S01", "S02").replace("T0", "U0").replace("000", "900") for v in r])
    return t


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("batch")
    rep = ingest(write_folder(tmp / "data", two_schools()), tmp / "w.duckdb")
    assert rep.n_rejected == 0, rep.rejects
    return tmp / "w.duckdb"


def test_batch_runs_every_school_then_uses_the_cache(db, tmp_path):
    res = run_batch(db, 2025, tmp_path, workers=2, chapters=FEW)
    assert sorted(res.ran) == ["S01", "S02"] and res.ok
    again = run_batch(db, 2025, tmp_path, workers=2, chapters=FEW)
    assert again.ran == [] and sorted(again.cached) == ["S01", "S02"]


def test_one_school_failing_does_not_stop_the_others(db, tmp_path):
    res = run_batch(db, 2025, tmp_path, schools=["S01", "S77"], workers=2, chapters=FEW)
    assert res.ran == ["S01"] and list(res.failed) == ["S77"] and "S77" in res.failed["S77"]


def test_batch_on_a_dask_local_cluster(db, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        res = run_batch(db, 2025, tmp_path, scheduler=cluster.scheduler_address, chapters=FEW)
    assert sorted(res.ran) == ["S01", "S02"] and res.ok


def test_a_warehouse_made_before_the_newest_optional_tables_still_batches_and_summarises(db, tmp_path):
    """A warehouse ingested by an earlier version lacks the optional tables added since (issue 18): the batch's
    data hash and the warehouse summary read it without them."""
    import shutil

    import duckdb

    from vsoko_toolkit.pipeline.batch import data_hash
    from vsoko_toolkit.warehouse.store import summary

    old = tmp_path / "old.duckdb"
    shutil.copy(db, old)
    con = duckdb.connect(str(old))
    for t in ("destinations", "activities", "offences"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    con.close()
    assert data_hash(old, 2025) != data_hash(db, 2025)
    rows = summary(old)["tables"].set_index("table")["rows"]
    assert rows["destinations"] == 0 and rows["period_marks"] > 0


def test_the_rollup_counts_only_schools_whose_run_succeeded_and_covers_the_whole_year(db, tmp_path):
    """A school whose chapter failed wrote a findings.json, but the roll-up leaves it out; a later batch of one
    school updates the roll-up of all schools instead of replacing it with its own."""
    import nbformat
    import pandas as pd
    from openpyxl import load_workbook

    src = tmp_path / "nb"
    src.mkdir()
    nb = nbformat.read(notebook_dir() / "03_results.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell('if school_id == "S02":\n    raise RuntimeError("planted")'))
    nbformat.write(nb, src / "03_results.ipynb")
    few = tuple(c for c in CHAPTERS if c.stem == "03_results")
    res = run_batch(db, 2025, tmp_path / "out", workers=2, chapters=few, notebooks=src)
    assert res.ran == ["S01"] and list(res.failed) == ["S02"]
    assert (tmp_path / "out" / "S02" / "2025" / "findings.json").is_file()  # written, but not counted
    def analysed(path) -> str:
        return load_workbook(path)["Пояснение"]["A1"].value

    assert "школ с выполненным анализом: 1." in analysed(res.rollup)
    by = pd.read_csv(res.rollup.parent / "by_municipality.csv")
    assert by["schools"].eq(1).all()
    assert set(pd.read_csv(res.rollup.parent / "findings.csv")["school_id"]) <= {"S01"}
    ok = run_batch(db, 2025, tmp_path / "out", schools=["S02"], workers=1, chapters=few)
    assert ok.ran == ["S02"] and res.rollup == ok.rollup
    assert "школ с выполненным анализом: 2." in analysed(ok.rollup)  # S01, not in this batch, still counts
