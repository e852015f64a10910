"""One municipality's slice of a larger warehouse, for the school runs of a region (issue 17).

A school's analyses compare it with the other schools of *its municipality* (``schools.municipality``). On a
regional warehouse every chapter would otherwise scan the region and compare the school with all of it.
:func:`extract_municipality` copies the rows of one municipality's schools — every table with a ``school_id``
(contract or derived), the students enrolled in them, the municipality's own decisions, and the tables that
describe works (specs, scales, survey items) whole — into a small DuckDB file beside the warehouse, with the
warehouse's pseudonymisation key, so that ten chapters read a municipality instead of a region ten times.

:func:`municipality_db` is what the pipeline calls: the warehouse itself when it holds one municipality (or
none is given), otherwise the cached extract, rebuilt when the warehouse changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

import duckdb

from ..contract.normalize import lit, q
from ..privacy import key_path
from .store import connect


def municipalities(con) -> dict[str | None, list[str]]:
    """{municipality: [school_id, ...]} of the warehouse (``None`` when the column is absent or empty)."""
    cols = [d[0] for d in con.execute("SELECT * FROM schools LIMIT 0").description]
    if "municipality" not in cols:
        return {None: [r[0] for r in con.execute("SELECT school_id FROM schools ORDER BY 1").fetchall()]}
    out: dict[str | None, list[str]] = {}
    for m, s in con.execute("SELECT municipality, school_id FROM schools ORDER BY 1, 2").fetchall():
        out.setdefault(m, []).append(s)
    return out


def municipality_of(db, school_id: str) -> tuple[str | None, int]:
    """The school's municipality and the number of municipalities in the warehouse."""
    con = connect(db)
    try:
        groups = municipalities(con)
    finally:
        con.close()
    for m, schools in groups.items():
        if school_id in schools:
            return m, len(groups)
    return None, len(groups)


def _stamp(db: Path) -> str:
    """What the extract was made from: the warehouse file, its key and the toolkit's version."""
    from .. import __version__

    st, key = db.stat(), key_path(db)
    k = key.stat().st_mtime_ns if key.exists() else 0
    return f"{st.st_size}-{st.st_mtime_ns}-{k}-{__version__}"


def default_cache_dir(db) -> Path:
    """Extracts live beside the warehouse (``<db stem>.extracts/``): they hold personal data and a copy of the
    pseudonymisation key, so they stay where the warehouse is, never in an output folder that gets shared."""
    db = Path(db).resolve()
    return db.with_name(db.stem + ".extracts")


def municipality_db(db, school_id: str, cache_dir=None) -> Path:
    """The warehouse to run ``school_id`` on: ``db`` itself when it holds one municipality, else the extract of the
    school's municipality in ``cache_dir`` (default :func:`default_cache_dir`; made once, reused while ``db``
    is unchanged)."""
    db = Path(db).resolve()
    muni, n = municipality_of(db, school_id)
    if n <= 1 or muni is None:
        return db
    return cached_extract(db, muni, cache_dir)


def cached_extract(db, municipality: str, cache_dir=None) -> Path:
    """The extract of ``municipality``, made when absent or made from another state of ``db``.

    Several processes may ask at once (``vsoko run`` twice, batch workers): the check and the build happen under a
    lock file, and the stamp is taken before the copy and compared after it (a warehouse re-ingested meanwhile
    leaves no stamp, so the next call rebuilds)."""
    db = Path(db).resolve()
    cache = Path(cache_dir) if cache_dir else default_cache_dir(db)
    cache.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{db}|{municipality}".encode()).hexdigest()[:16]
    dest = cache / f"municipality-{key}.duckdb"
    stamp = dest.with_name(dest.name + ".stamp")
    with open(dest.with_name(dest.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            before = _stamp(db)
            if dest.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == before:
                return dest
            stamp.unlink(missing_ok=True)
            extract_municipality(db, municipality, dest)
            if _stamp(db) == before:
                tmp = stamp.with_name(stamp.name + f".tmp{os.getpid()}")
                tmp.write_text(before, encoding="utf-8")
                os.replace(tmp, stamp)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return dest


def extract_municipality(db, municipality: str, dest) -> Path:
    """Copy ``municipality``'s rows of every table of ``db`` into a new DuckDB file ``dest`` (module docstring).

    Written to a temporary name and renamed, so a reader never sees a half-made extract; the key is written
    owner-only under a temporary name and renamed too. Municipal decisions without a municipality go into every
    extract. A student who moved between municipalities keeps, in each extract, only the rows of that
    municipality's schools (as in a warehouse of that municipality alone)."""
    from ..errors import FatalInputError

    db, dest = Path(db).resolve(), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        con.execute(f"ATTACH {lit(str(db))} AS src (READ_ONLY)")
        schools = [r[0] for r in con.execute("SELECT school_id FROM src.schools WHERE municipality = ? ORDER BY 1",
                                             [municipality]).fetchall()]
        if not schools:
            raise FatalInputError(f"В хранилище {db} нет школ муниципалитета {municipality!r} (schools.municipality).")
        in_list = ", ".join(lit(s) for s in schools)
        # the range lets DuckDB skip row groups by their min/max (zone maps) before testing the list
        by_school = f"school_id BETWEEN {lit(schools[0])} AND {lit(schools[-1])} AND school_id IN ({in_list})"
        con.execute(f"CREATE TEMP TABLE sel_students AS SELECT DISTINCT student_id FROM src.enrollments "
                    f"WHERE {by_school}")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' AND schema_name = 'main'").fetchall()]
        for t in tables:
            cols = [d[0] for d in con.execute(f"SELECT * FROM src.main.{q(t)} LIMIT 0").description]
            if "school_id" in cols:
                where = f"WHERE {by_school}"
            elif "student_id" in cols:
                where = "WHERE student_id IN (SELECT student_id FROM sel_students)"
            elif "municipality" in cols:
                where = f"WHERE municipality = {lit(municipality)} OR coalesce(trim(municipality), '') = ''"
            else:
                where = ""
            con.execute(f"CREATE TABLE main.{q(t)} AS SELECT * FROM src.main.{q(t)} {where}")
        con.execute("DETACH src")
        con.execute("CHECKPOINT")
        con.close()
        key = key_path(db)
        if key.exists():  # the same pseudonyms as the warehouse's
            ktmp = key_path(dest).with_name(key_path(dest).name + f".tmp{os.getpid()}")
            fd = os.open(ktmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key.read_bytes())
            os.replace(ktmp, key_path(dest))
        os.replace(tmp, dest)
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    return dest
