"""Pseudonymisation (152-ФЗ): keyed hashes of student ids; small-group suppression.

The key is created at the first ingest and kept beside the warehouse
(``<db>.key``, readable by its owner only) — never in the data folder, never in
a build. The same id and key always give the same code, so codes are stable
across years and runs of one workspace, and useless without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

MIN_GROUP = 5  # public builds show no group smaller than this


def key_path(db) -> Path:
    db = Path(db)
    return db.with_name(db.stem + ".key")


def ensure_key(db) -> Path:
    """Create the workspace key beside ``db`` if it does not exist yet; return its path."""
    path = key_path(db)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path


def load_key(db) -> bytes:
    path = key_path(db)
    if not path.exists():
        from .errors import FatalInputError

        raise FatalInputError(f"Нет ключа псевдонимизации {path}: он создаётся при первой загрузке данных (vsoko ingest).")
    return bytes.fromhex(path.read_text().strip())


def pseudonym(student_id: str, key: bytes, prefix: str = "У") -> str:
    """A stable pseudonymous code for ``student_id`` (HMAC-SHA256 with the workspace key).

    >>> pseudonym("0042", b"k" * 32)
    'У-...'  # doctest: +SKIP
    """
    digest = hmac.new(key, str(student_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{prefix}-{digest[:10].upper()}"


def pseudonymize(values, key: bytes) -> list[str]:
    return [pseudonym(v, key) for v in values]


def suppress_small(n: int | float) -> str:
    """Public display of a count: the number, or "< 5" for groups under :data:`MIN_GROUP`."""
    return f"< {MIN_GROUP}" if 0 < n < MIN_GROUP else f"{int(n)}"
