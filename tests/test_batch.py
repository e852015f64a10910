"""`vsoko batch`: all schools, failures isolated, content-hash cache, dask LocalCluster."""

from __future__ import annotations

import copy

import pytest
from conftest import MINI, write_folder

from vsoko_toolkit import ingest
from vsoko_toolkit.pipeline.batch import run_batch
from vsoko_toolkit.pipeline.chapters import CHAPTERS

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
