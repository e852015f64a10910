"""A region in one warehouse (issue 17): the bulk region writer, the municipality extract, batch on dask.

The region is small here (2 municipalities × 2 schools × 2 years); ``bench/bench_region.py`` runs it at size.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from openpyxl import load_workbook

from vsoko_toolkit import ingest
from vsoko_toolkit.pipeline.batch import comparable_findings, run_batch
from vsoko_toolkit.pipeline.chapters import CHAPTERS
from vsoko_toolkit.privacy import key_path
from vsoko_toolkit.synth.region import write_region
from vsoko_toolkit.warehouse.extract import (
    default_cache_dir,
    extract_municipality,
    municipality_db,
    municipality_of,
)

FEW = tuple(c for c in CHAPTERS if c.stem in ("03_results", "04_external"))
SCHOOLS = ("M001-S01", "M002-S02")


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("region")
    info = write_region(tmp / "region", n_municipalities=2, schools_per_municipality=2, n_years=2, seed=3)
    rep = ingest(info.folder, tmp / "region.duckdb")
    assert rep.n_rejected == 0, rep.rejects.head()
    one = write_region(tmp / "one", n_municipalities=1, schools_per_municipality=2, n_years=2, seed=3)
    assert ingest(one.folder, tmp / "one.duckdb").n_rejected == 0
    return tmp, info, rep


def test_region_copies_every_table_with_prefixed_ids(region):
    tmp, info, rep = region
    read = rep.tables.set_index("table")["read"]
    assert (read == read.index.map(info.rows)).all()
    con = duckdb.connect(str(tmp / "region.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(DISTINCT municipality), count(*) FROM schools").fetchone() == (2, 4)
        for t, col in (("classes", "class_id"), ("students", "student_id"), ("teachers", "teacher_id"),
                       ("period_marks", "student_id")):
            assert con.execute(f"SELECT count(*) FROM {t} WHERE NOT regexp_matches({col}, '^M00[12]-')"
                               ).fetchone()[0] == 0, t
        assert con.execute("SELECT count(*) FROM current_marks").fetchone()[0] > 0
        ids = con.execute("SELECT target_ids FROM decisions WHERE target_ids <> ''").fetchall()
        assert ids and all(all(x.strip().startswith(("M001-", "M002-")) for x in t.replace(";", ",").split(","))
                           for (t,) in ids)
        # the shared tables (works, scales, survey items) are written once
        one = duckdb.connect(str(tmp / "one.duckdb"), read_only=True)
        for t in ("assessment_specs", "scales", "survey_items"):
            assert con.execute(f"SELECT count(*) FROM {t}").fetchone() == one.execute(f"SELECT count(*) FROM {t}").fetchone()
        one.close()
    finally:
        con.close()


def test_extracts_partition_the_region_and_keep_the_pseudonyms(region, tmp_path):
    tmp, _, _ = region
    db = tmp / "region.duckdb"
    assert municipality_of(db, "M002-S01") == ("Муниципалитет M002", 2)
    parts = [extract_municipality(db, f"Муниципалитет M00{m}", tmp_path / f"m{m}.duckdb") for m in (1, 2)]
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'")
                  .fetchall()]
        for t in tables:
            whole = con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            cols = [d[0] for d in con.execute(f'SELECT * FROM "{t}" LIMIT 0').description]
            counts = [duckdb.connect(str(p), read_only=True).execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                      for p in parts]
            if {"school_id", "student_id", "municipality"} & set(cols):
                assert sum(counts) == whole, t  # every row in exactly one municipality
            else:
                assert counts == [whole, whole], t  # specs, scales, survey items, ingest log: whole
    finally:
        con.close()
    assert key_path(parts[0]).read_bytes() == key_path(db).read_bytes()
    assert key_path(parts[0]).stat().st_mode & 0o777 == 0o600
    from vsoko_toolkit.errors import FatalInputError

    with pytest.raises(FatalInputError, match="M009"):
        extract_municipality(db, "Муниципалитет M009", tmp_path / "none.duckdb")
    assert not list(tmp_path.glob("none*"))  # no half-made extract with personal data left behind
    # cached while the warehouse is unchanged; a different school of the same municipality reuses it
    first = municipality_db(db, "M001-S01", tmp_path / "cache")
    mtime = first.stat().st_mtime_ns
    assert municipality_db(db, "M001-S02", tmp_path / "cache") == first and first.stat().st_mtime_ns == mtime
    # a warehouse of one municipality is used as it is
    assert municipality_db(tmp / "one.duckdb", "M001-S01", tmp_path / "cache") == (tmp / "one.duckdb").resolve()


def test_batch_on_the_region_equals_one_municipality_and_dask_equals_the_pool(region, tmp_path):
    """A school's findings do not depend on the rest of the region (it reads its municipality's extract), and a
    dask LocalCluster over loopback gives the same findings as the local process pool."""
    distributed = pytest.importorskip("distributed")
    tmp, _, _ = region
    pool = run_batch(tmp / "region.duckdb", 2025, tmp_path / "pool", schools=SCHOOLS, workers=2, chapters=FEW)
    assert pool.ok and sorted(pool.ran) == sorted(SCHOOLS), pool.failed
    # the municipal value-added models were fitted once per municipality, before the schools, beside each extract
    extracts = sorted(default_cache_dir(tmp / "region.duckdb").glob("*.duckdb"))
    assert len(extracts) == 2 and all(list(e.with_name(e.stem + ".fits").glob("*.pkl")) for e in extracts)
    # the regional roll-up, computed once from the schools' findings
    by = pd.read_csv(pool.rollup.parent / "by_municipality.csv")
    assert set(by["municipality"]) == {"Муниципалитет M001", "Муниципалитет M002"}
    assert by["schools"].eq(1).all() and by["p_value"].notna().all()
    assert load_workbook(pool.rollup).sheetnames[0] == "Отличия муниципалитетов"
    again = run_batch(tmp / "region.duckdb", 2025, tmp_path / "pool", schools=SCHOOLS, workers=2, chapters=FEW)
    assert again.ran == [] and sorted(again.cached) == sorted(SCHOOLS)  # the cache key is the extract's data
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        dask = run_batch(tmp / "region.duckdb", 2025, tmp_path / "dask", schools=SCHOOLS,
                         scheduler=cluster.scheduler_address, chapters=FEW)
    assert dask.ok and sorted(dask.ran) == sorted(SCHOOLS), dask.failed
    alone = run_batch(tmp / "one.duckdb", 2025, tmp_path / "alone", schools=["M001-S01"], workers=1, chapters=FEW)
    assert alone.ok
    for s in SCHOOLS:
        got = comparable_findings(tmp_path / "pool" / s / "2025" / "findings.json")
        assert got, s
        assert got == comparable_findings(tmp_path / "dask" / s / "2025" / "findings.json"), s
    assert (comparable_findings(tmp_path / "pool" / "M001-S01" / "2025" / "findings.json")
            == comparable_findings(tmp_path / "alone" / "M001-S01" / "2025" / "findings.json"))
    assert len(list(default_cache_dir(tmp / "region.duckdb").glob("*.duckdb"))) == 2
    assert not list(tmp_path.rglob("*.key"))  # no key or extract in an output folder


def test_municipal_run_on_the_region_names_one_municipality(region, tmp_path):
    """`vsoko municipal --municipality`: the roll-up of one municipality of a region, computed once from its
    extract, equals the roll-up of a warehouse holding that municipality alone."""
    from vsoko_toolkit.errors import FatalInputError
    from vsoko_toolkit.pipeline.municipal import _one_municipality, run_municipal

    tmp, _, _ = region
    with pytest.raises(FatalInputError, match="--municipality"):
        _one_municipality(tmp / "region.duckdb", None, tmp_path / "x")
    with pytest.raises(FatalInputError, match="M009"):
        _one_municipality(tmp / "region.duckdb", "Муниципалитет M009", tmp_path / "x")
    assert _one_municipality(tmp / "one.duckdb", None, tmp_path / "x") == tmp / "one.duckdb"
    got = run_municipal(tmp / "region.duckdb", 2025, tmp_path / "r", book=False, municipality="Муниципалитет M001")
    alone = run_municipal(tmp / "one.duckdb", 2025, tmp_path / "a", book=False)
    assert not got.failed and not alone.failed
    assert comparable_findings(got.findings_path) == comparable_findings(alone.findings_path)
