"""The warehouse: idempotent, additive by (school, year), atomic under failure and kill."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest
from conftest import MINI, write_folder

from vsoko_toolkit import ingest
from vsoko_toolkit.contract.spec import TABLES
from vsoko_toolkit.privacy import key_path, load_key, pseudonym


def snapshot(db) -> dict[str, list]:
    """Every contract table's rows (sorted), without the source-row bookkeeping."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: sorted(map(repr, con.execute(f'SELECT * EXCLUDE (_source_row) FROM "{t}"').fetchall()))
                for t in TABLES}
    finally:
        con.close()


def other_year(year: int) -> dict:
    """MINI moved to another year (same school, same students a year earlier)."""
    t = copy.deepcopy(MINI)
    for rows in t.values():
        for r in rows[1:]:
            for i, v in enumerate(r):
                r[i] = v.replace("2025", str(year))
    return t


def test_same_folder_twice_gives_the_same_warehouse(mini, tmp_path):
    db = tmp_path / "w.duckdb"
    ingest(mini, db)
    first = snapshot(db)
    ingest(mini, db)
    assert snapshot(db) == first


def test_new_year_is_added_without_touching_others(mini, tmp_path):
    db = tmp_path / "w.duckdb"
    ingest(mini, db)
    before = snapshot(db)
    rep = ingest(write_folder(tmp_path / "y2024", other_year(2024)), db)
    assert rep.n_rejected == 0
    after = snapshot(db)
    for t in ("period_marks", "classes", "assessments"):
        assert set(before[t]) <= set(after[t]) and len(after[t]) == 2 * len(before[t])
    # re-ingesting 2025 with one mark changed replaces that slice only
    changed = copy.deepcopy(MINI)
    changed["period_marks"][1][4] = "4"
    ingest(write_folder(tmp_path / "y2025b", changed), db)
    con = duckdb.connect(str(db), read_only=True)
    marks = dict(con.execute("SELECT year, list(mark ORDER BY student_id) FROM period_marks GROUP BY year").fetchall())
    assert marks == {2024: ["5", "3", "4", "н/а"], 2025: ["4", "3", "4", "н/а"]}


def test_failure_midway_leaves_previous_warehouse_intact(mini, tmp_path):
    db = tmp_path / "w.duckdb"
    ingest(mini, db)
    before = snapshot(db)

    def boom(table):
        if table == "period_marks":
            raise RuntimeError("simulated failure mid-ingest")

    with pytest.raises(RuntimeError):
        ingest(write_folder(tmp_path / "y2024", other_year(2024)), db, _after_table=boom)
    assert snapshot(db) == before
    ingest(write_folder(tmp_path / "y2024b", other_year(2024)), db)  # and the next ingest works
    assert len(snapshot(db)["classes"]) == 4


def test_kill_midway_leaves_previous_warehouse_intact(mini, tmp_path):
    db = tmp_path / "w.duckdb"
    ingest(mini, db)
    before = snapshot(db)
    big = write_folder(tmp_path / "big", other_year(2024))
    with open(big / "current_marks.csv", "w", encoding="utf-8") as fh:  # big enough to kill mid-way
        fh.write("student_id,class_id,subject,date,mark\n")
        row = "0001,S01-2024-5А,Математика,2024-01-15,5\n"
        fh.write(row * 1_500_000)
    code = f"from vsoko_toolkit import ingest; ingest({str(big)!r}, {str(db)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code])
    tmp = db.with_name(db.name + ".ingest-tmp")
    deadline = time.time() + 60
    while not tmp.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    assert proc.poll() is None, "ingest finished before it could be killed; make the file bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert snapshot(db) == before


def test_pseudonymisation_key_is_created_once_and_stable(mini, tmp_path):
    db = tmp_path / "w.duckdb"
    ingest(mini, db)
    key = load_key(db)
    assert oct(key_path(db).stat().st_mode & 0o777) == "0o600"
    assert not any(p.suffix == ".key" for p in mini.iterdir())  # never in the data folder
    ingest(mini, db)
    assert load_key(db) == key
    a, b = pseudonym("0001", key), pseudonym("0002", key)
    assert a != b and a == pseudonym("0001", key) and "0001" not in a
    assert pseudonym("0001", b"other-key") != a


def test_a_warehouse_of_an_earlier_version_takes_a_new_ingest(mini, tmp_path):
    """A warehouse made before optional columns and tables joined the contract (issue 18) gains them on the next
    ingest instead of failing on an unknown column."""
    db = tmp_path / "w.duckdb"
    ingest(mini, db)
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE assessments DROP COLUMN level")
    con.execute("DROP TABLE destinations")
    con.close()
    ingest(mini, db)
    con = duckdb.connect(str(db), read_only=True)
    cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'assessments'").fetchall()]
    assert "level" in cols
    assert con.execute("SELECT count(*) FROM assessments").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM destinations").fetchone()[0] == 0
    con.close()
