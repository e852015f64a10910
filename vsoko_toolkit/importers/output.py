"""Writing imported rows into a contract folder: create or merge ``<table>.csv``.

Merging is an upsert by the table's contract key: a row whose key is already in
the file updates that row (its non-empty values replace the old ones, columns it
does not carry are kept); other rows are appended. Importing the same export
twice therefore gives the same folder. The file is written as UTF-8 with commas,
through a temporary file and an atomic rename.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from ..contract.spec import TABLES, Table
from ..errors import FatalInputError
from .textfile import column_name, read_rows
from .values import to_contract


def check_targets(out_dir: Path, tables: list[str]) -> None:
    """Fail before writing anything when a target table already exists as XLSX."""
    for name in tables:
        if (out_dir / f"{name}.xlsx").exists():
            raise FatalInputError(
                f"В папке {out_dir} таблица {name} уже задана файлом {name}.xlsx; импорт пишет "
                f"{name}.csv, и таблица оказалась бы задана дважды. Сохраните её как CSV "
                "или выберите другую папку."
            )


def _read_existing(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    raw = read_rows(path)
    names = [column_name(h) for h in (raw[0] if raw else [])]
    rows = [
        dict(zip(names, r + [""] * (len(names) - len(r)), strict=False)) for r in raw[1:] if any(r)
    ]
    return names, rows


def _key_of(table: Table, row: dict[str, str]) -> tuple:
    if not table.key:
        return tuple(sorted(row.items()))
    return tuple(to_contract(table.column(k), row.get(k, ""))[0] for k in table.key)


def merge_table(out_dir: Path, name: str, rows: list[dict[str, str]]) -> tuple[Path, int, int]:
    """Upsert ``rows`` into ``out_dir/<name>.csv``.

    Returns
    -------
    (path, added, updated)
        The file written, the rows appended and the existing rows changed.
    """
    table = TABLES[name]
    path = out_dir / f"{name}.csv"
    names: list[str] = []
    existing: list[dict[str, str]] = []
    if path.exists():
        names, existing = _read_existing(path)
    names = [n for n in names if n]
    index = {_key_of(table, r): i for i, r in enumerate(existing)}
    added = updated = 0
    for row in rows:
        k = _key_of(table, row)
        if k in index:
            old = existing[index[k]]
            new = {**old, **{c: v for c, v in row.items() if v != ""}}
            if new != old:
                existing[index[k]] = new
                updated += 1
        else:
            index[k] = len(existing)
            existing.append(dict(row))
            added += 1
    present = set(names)
    for row in rows:
        present.update(row)
    names += [c for c in table.names if c in present and c not in names]
    names += sorted(present - set(names))
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".csv", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(names)
            for r in existing:
                w.writerow([r.get(c, "") for c in names])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path, added, updated
