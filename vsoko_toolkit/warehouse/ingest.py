"""Ingest a data folder into the DuckDB warehouse: validated, idempotent, atomic.

* **Validated**: every row read is accepted or rejected with its rule
  (see :mod:`vsoko_toolkit.contract.validate`); accepted + rejected = read.
* **Idempotent**: a folder replaces the (school, year) slices it carries — the
  classes' slices for class-scoped tables, each row's own (school, year) for
  surveys, indicators and decisions — and upserts entities (schools, teachers,
  students, specs) by key. The same folder twice gives the same warehouse;
  other schools and years are untouched; an optional table absent from the
  folder leaves the warehouse's rows of that table as they were.
* **Atomic**: the work happens on a copy of the warehouse file that replaces
  the original only when everything succeeded (``os.replace``); a crash or a
  kill mid-way leaves the previous warehouse intact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from .. import __version__
from ..contract import validate as v
from ..contract.normalize import lit, q
from ..contract.reader import find_tables, open_source
from ..contract.rules import explain
from ..contract.spec import ORDER, Table
from ..privacy import ensure_key
from .profile import data_profile
from .schema import contract_columns, create_tables, derived_columns

MEMORY_LIMIT = os.environ.get("VSOKO_MEMORY_LIMIT", "2GB")


@dataclass
class IngestReport:
    """What an ingest or a validation read, accepted and rejected."""

    folder: Path
    tables: pd.DataFrame  # table, file, encoding, read, accepted, rejected
    rejects_path: Path | None
    rejects: pd.DataFrame = field(repr=False)  # table, file, row, column, rule, value, message
    db: Path | None = None
    #: rows and filled values per contract table of the accepted data (:func:`.profile.data_profile`):
    #: of the folder for a validation, of the whole warehouse after an ingest
    profile: dict = field(default_factory=dict, repr=False)

    @property
    def n_rejected(self) -> int:
        return int(self.tables["rejected"].sum()) if len(self.tables) else 0

    def _repr_html_(self) -> str:
        t = self.tables.rename(columns={"table": "таблица", "file": "файл", "read": "прочитано",
                                        "accepted": "принято", "rejected": "отклонено"})
        return t.drop(columns=["encoding"]).to_html(index=False)


def validate_folder(folder, rejects_dir=None, progress: bool = False) -> IngestReport:
    """Validate ``folder`` against the contract without writing a warehouse.

    Examples
    --------
    >>> from vsoko_toolkit import validate_folder
    >>> rep = validate_folder("data_samples/municipality")  # doctest: +SKIP
    >>> rep.tables[["table", "read", "accepted", "rejected"]]  # doctest: +SKIP
    """
    folder = Path(folder)
    with tempfile.TemporaryDirectory(prefix="vsoko-validate-") as work:
        con = duckdb.connect(os.path.join(work, "scratch.duckdb"))
        try:
            return _run(con, folder, Path(work), rejects_dir, progress, db=None)
        finally:
            con.close()


def ingest(folder, db, rejects_dir=None, progress: bool = False,
           _after_table: Callable[[str], None] | None = None) -> IngestReport:
    """Validate ``folder`` and load its accepted rows into the warehouse file ``db``.

    Parameters
    ----------
    folder : path
        A data folder speaking the contract (``<table>.csv`` / ``.xlsx``).
    db : path
        The workspace's DuckDB file (created if absent). Its pseudonymisation key
        is created beside it (``<db>.key``) at the first ingest.
    rejects_dir : path, optional
        Where ``rejects.csv`` and the rejected rows go (default: ``<db dir>/rejects/<folder name>``).

    Examples
    --------
    >>> from vsoko_toolkit import ingest
    >>> rep = ingest("data_samples/municipality", "workspace/vsoko.duckdb")  # doctest: +SKIP
    """
    folder, db = Path(folder), Path(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    if rejects_dir is None:
        rejects_dir = db.parent / "rejects" / folder.resolve().name
    tmp = db.with_name(db.name + ".ingest-tmp")
    with _lock(db), tempfile.TemporaryDirectory(prefix="vsoko-ingest-", dir=db.parent) as work:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        if db.exists():
            _checkpoint(db)
            shutil.copy2(db, tmp)
        con = duckdb.connect(str(tmp))
        try:
            report = _run(con, folder, Path(work), rejects_dir, progress, db=db, after_table=_after_table)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        ensure_key(db)
        os.replace(tmp, db)
    return report


def _checkpoint(db: Path) -> None:
    """Fold a leftover write-ahead log into the file before copying it."""
    if db.with_name(db.name + ".wal").exists():
        duckdb.connect(str(db)).close()


@contextlib.contextmanager
def _lock(db: Path):
    with open(db.with_name(db.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(con, folder: Path, work: Path, rejects_dir, progress: bool, db: Path | None,
         after_table: Callable[[str], None] | None = None) -> IngestReport:
    files = find_tables(folder)
    con.execute(f"SET memory_limit={lit(MEMORY_LIMIT)}; SET temp_directory={lit(str(work / 'spill'))}")
    con.execute(f"ATTACH {lit(str(work / 'stage.duckdb'))} AS stage")
    create_tables(con)
    con.execute("CREATE OR REPLACE TABLE stage.slices (school_id VARCHAR, year BIGINT)")
    rows, staged = [], []
    names = [n for n in ORDER if n in files]
    with _progress(progress, len(names)) as advance:
        for name in names:
            advance(f"{name}: чтение и проверка")
            st = v.stage(con, open_source(name, files[name], work), work)
            _validate_and_load(con, st)
            read, acc, rej = v.counts(con, st)
            rows.append({"table": name, "file": files[name].name, "encoding": st.source.encoding,
                         "read": read, "accepted": acc, "rejected": rej})
            staged.append(st)
            if after_table:
                after_table(name)
    if db is not None:
        con.execute("INSERT INTO main._ingests SELECT coalesce(max(ingest_id), 0) + 1, ?, ?, ? FROM main._ingests",
                    [dt.datetime.now(), str(folder.resolve()), __version__])
    rejects = _collect_rejects(con, staged)
    rejects_path = _write_rejects(con, staged, rejects, rejects_dir) if rejects_dir is not None else None
    return IngestReport(folder, pd.DataFrame(rows), rejects_path, rejects, db, data_profile(con))


def _validate_and_load(con, st: v.Staged) -> None:
    t = st.table
    v.check_rows(con, st)
    v.check_foreign_keys(con, st)
    if t.slice_by in ("class", "own", "student_year") or t.name == "classes":
        _replace_slices(con, st)
    if t.slice_by == "class" or t.name == "classes":
        v.check_class_rules(con, st)
    if t.slice_by == "student_year":
        v.check_student_year(con, st)
        v.check_graduates(con, st)
    sliced = t.slice_by in ("class", "own", "student_year")
    v.check_unique(con, st, against_warehouse=sliced)
    if t.name == "enrollments":
        v.check_one_class_per_year(con, st)
    v.fill_values(con, st)
    _insert(con, st, upsert=not sliced)


def _replace_slices(con, st: v.Staged) -> None:
    """Delete the warehouse rows of the slices this folder replaces (before checks against the warehouse)."""
    t, alive = st.table, v._alive(st)
    if t.name == "classes":
        con.execute(f"INSERT INTO stage.slices SELECT DISTINCT school_id, year FROM {st.typed} t "
                    f"WHERE {alive} AND school_id IS NOT NULL AND year IS NOT NULL")
    slices = "SELECT school_id, year FROM stage.slices"
    if t.slice_by == "own":
        slices += f" UNION SELECT DISTINCT school_id, year FROM {st.typed} t WHERE {alive}"
    con.execute(f"DELETE FROM main.{q(t.name)} WHERE (school_id, year) IN ({slices})")


def _insert(con, st: v.Staged, upsert: bool) -> None:
    t: Table = st.table
    alive = v._alive(st)
    if upsert and t.key:
        on = " AND ".join(f"w.{q(k)} = t.{q(k)}" for k in t.key)
        con.execute(f"DELETE FROM main.{q(t.name)} w WHERE EXISTS (SELECT 1 FROM {st.typed} t WHERE {alive} AND {on})")
    cols = [n for n, _ in contract_columns(t)]
    sel = [f"t.{q(c)}" for c in cols]
    join = ""
    derived = [n for n, _ in derived_columns(t)]
    if t.slice_by == "class":
        join = "JOIN main.classes c ON c.class_id = t.class_id"
        sel += [f"c.{q(d)}" for d in derived]
    elif t.slice_by == "student_year":
        join = f"JOIN {v.STUDENT_CLASS} sc ON sc.student_id = t.student_id AND sc.year = t.year"
        sel += [f"sc.{q(d)}" for d in derived]
    names = cols + derived + ["_source_file", "_source_row"]
    sel += [lit(st.source.path.name), "t._row"]
    con.execute(f"INSERT INTO main.{q(t.name)} ({', '.join(map(q, names))}) "
                f"SELECT {', '.join(sel)} FROM {st.typed} t {join} WHERE {alive}")


def _collect_rejects(con, staged: list[v.Staged]) -> pd.DataFrame:
    frames = []
    for st in staged:
        df = con.execute(f"SELECT _row AS row, column_name AS column, rule, value FROM {st.rej} ORDER BY _row, rule").df()
        if len(df):
            df.insert(0, "file", st.source.path.name)
            df.insert(0, "table", st.table.name)
            df["message"] = [explain(st.table, c, r) for c, r in zip(df["column"], df["rule"], strict=True)]
            frames.append(df)
    cols = ["table", "file", "row", "column", "rule", "value", "message"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def _write_rejects(con, staged, rejects: pd.DataFrame, rejects_dir) -> Path:
    """``rejects.csv`` (one line per broken rule) and ``<table>.rows.csv`` (the rejected rows as read)."""
    out = Path(rejects_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.rows.csv"):
        old.unlink()
    path = out / "rejects.csv"
    rejects.to_csv(path, index=False, encoding="utf-8-sig")
    for st in staged:
        n = con.execute(f"SELECT count(*) FROM {st.rej} WHERE _rid IS NOT NULL").fetchone()[0]
        if n:
            cols = ", ".join(f"{v.raw_ref(st.table, c)} AS {q(c)}" for c in st.source.columns
                             if c != st.source.row_column and c in st.present and c in st.table.names)
            con.execute(
                f"COPY (SELECT ty._row AS row, {cols} FROM {st.typed} ty "
                f"WHERE ty._rid IN (SELECT _rid FROM {st.rej}) ORDER BY ty._row) "
                f"TO {lit(str(out / (st.table.name + '.rows.csv')))} (HEADER, DELIMITER ',')"
            )
    return path


@contextlib.contextmanager
def _progress(enabled: bool, total: int):
    if not enabled:
        yield lambda _msg: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("загрузка", total=total)
        first = [True]

        def advance(msg: str) -> None:
            if not first[0]:
                bar.advance(task)
            first[0] = False
            bar.update(task, description=msg)

        yield advance
        bar.advance(task)
