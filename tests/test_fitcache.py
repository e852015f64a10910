"""Municipal fits kept beside the warehouse: the schools of a municipality fit once across processes, and a
saved fit is never used for other data or other code."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from vsoko_toolkit.analysis import value_added as va
from vsoko_toolkit.warehouse import fitcache
from vsoko_toolkit.warehouse.store import connect

MODULES = ("vsoko_toolkit.warehouse.fitcache",)


def test_the_key_ignores_row_order_and_float_noise():
    d = pd.DataFrame({"a": ["x", "y", "z"], "z": [0.1, 0.2, 0.3]})
    noisy = d.iloc[::-1].assign(z=lambda t: t["z"] + 1e-15)
    assert fitcache.data_hash(noisy) == fitcache.data_hash(d)
    assert fitcache.data_hash(d.assign(z=[0.1, 0.2, 0.31])) != fitcache.data_hash(d)


def test_saved_beside_the_warehouse_owner_only_and_keyed_on_data_and_code(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert fitcache.cache_dir(con) == tmp_path / "w.fits"
    path = fitcache.save(con, ("k", 1), MODULES, {"a": 1})
    assert path.parent == tmp_path / "w.fits" and oct(path.stat().st_mode)[-3:] == "600"
    assert oct(path.parent.stat().st_mode)[-3:] == "700"
    assert fitcache.load(con, ("k", 1), MODULES) == {"a": 1}
    assert fitcache.load(con, ("k", 2), MODULES) is None  # other data
    assert fitcache.load(con, ("k", 1), ("vsoko_toolkit.warehouse.store",)) is None  # other code
    path.write_bytes(b"not a pickle")
    assert fitcache.load(con, ("k", 1), MODULES) is None  # a damaged file is a miss


def test_no_cache_in_memory_or_in_a_read_only_folder(tmp_path):
    assert fitcache.cache_dir(duckdb.connect()) is None
    assert fitcache.save(duckdb.connect(), ("k",), MODULES, 1) is None
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    (tmp_path / "w.fits").write_text("a file where the folder should be")
    assert fitcache.save(con, ("k",), MODULES, 1) is None
    assert fitcache.load(con, ("k",), MODULES) is None


@pytest.fixture()
def warehouse(sample_db_path, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db_path, db)
    return db


def test_a_second_process_reads_the_municipal_fit_and_gets_the_same_value_added(warehouse, monkeypatch):
    va._CACHE.clear()
    con = connect(warehouse, read_only=True)
    first = va.value_added(con, "S01", 2025, outcome="auto")
    saved = sorted((warehouse.parent / "copy.fits").glob("*.pkl"))
    assert len(saved) == 2  # journal and external
    va._CACHE.clear()  # as in another process
    calls = []
    monkeypatch.setattr(va, "_unit_effects", lambda *a, **k: calls.append(a))  # a refit would be recorded
    again = va.value_added(con, "S01", 2025, outcome="auto")
    assert calls == []  # both outcomes read from the files
    pd.testing.assert_frame_equal(again.tidy(), first.tidy())
    assert [f.id for f in again.findings] == [f.id for f in first.findings]
