"""Results of municipal-level fits kept beside the warehouse, so the schools of one municipality fit once.

A school's value added is read off a model of the whole municipality: every school of the municipality (a
batch, the internal and the public build of one school, the training book) would refit the same model on the
same rows. :func:`load` / :func:`save` keep such a result in ``<warehouse stem>.fits/`` beside the warehouse
file (like the extracts of :mod:`vsoko_toolkit.warehouse.extract`: it holds teacher-level estimates, so never in
an output folder; files are owner-only).

The key is a hash of what the result depends on: the caller's key (which includes a hash of the rows the model
read, so new data gives a new key) and the source code of the modules that compute it (a changed estimator
gives a new key, even without a new version number). A file that cannot be read or written only costs a
refit: the cache is never needed for a result to be right. An in-memory warehouse has no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from functools import cache
from pathlib import Path

FORMAT = 1


def settle(d):
    """A model's rows (a DataFrame) with computed floats rounded to 9 decimals. DuckDB's parallel sums (e.g. of
    the ВПР z-scores) differ in the 16th digit from one read to the next, and an optimizer that stops within its
    tolerance carries that into the 6th digit of an interval; settled, the same rows give the same fit (unless a
    value falls exactly on a rounding boundary, which 16th-digit noise makes vanishingly rare)."""
    floats = d.select_dtypes("floating").columns
    return d.assign(**{c: d[c].round(9) for c in floats}) if len(floats) else d


def data_hash(d) -> int:
    """A hash of a model's rows for the cache key, blind to their order and to the last bits of computed floats
    (the same rounding as :func:`settle`)."""
    import pandas as pd

    return int(pd.util.hash_pandas_object(settle(d), index=False).sum()) if len(d) else 0


@cache
def _code_hash(modules: tuple[str, ...]) -> str:
    import importlib

    h = hashlib.sha256()
    for name in modules:
        h.update(Path(importlib.import_module(name).__file__).read_bytes())
    return h.hexdigest()


def cache_dir(con) -> Path | None:
    """``<warehouse stem>.fits`` beside the warehouse file of ``con``; None for an in-memory database."""
    try:
        row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    except Exception:  # noqa: BLE001 - not a DuckDB connection we can ask: no cache
        return None
    if not row or not row[0]:
        return None
    db = Path(row[0])
    return db.with_name(db.stem + ".fits")


def _path(con, key: tuple, modules: tuple[str, ...]) -> Path | None:
    folder = cache_dir(con)
    if folder is None:
        return None
    from .. import __version__

    digest = hashlib.sha256(repr((FORMAT, __version__, _code_hash(modules), key)).encode()).hexdigest()
    return folder / f"{digest[:32]}.pkl"


def load(con, key: tuple, modules: tuple[str, ...]):
    """The result saved under ``key`` by this code (``modules``), or None."""
    path = _path(con, key, modules)
    if path is None or not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own file, owner-only, beside the warehouse it was made from
    except Exception:  # noqa: BLE001 - a damaged file is a miss
        return None


def save(con, key: tuple, modules: tuple[str, ...], value) -> Path | None:
    """Keep ``value`` under ``key``; returns the file, or None when it could not be written (read-only folder)."""
    path = _path(con, key, modules)
    if path is None:
        return None
    tmp = None
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # created owner-only
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # whole or not at all, also when two workers save the same fit
        return path
    except Exception:  # noqa: BLE001 - unwritable folder, unpicklable value: the cache only costs a refit
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return None
