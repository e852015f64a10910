"""Reading small text tables (exports, mapping files, existing contract CSVs) whole.

Export files and mapping tables are small; they are read at once as text in
UTF-8 (with or without BOM) or Windows-1251, with ``,``, ``;`` or tab detected.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..contract.reader import detect_delimiter
from ..contract.reader import normalise_name as column_name  # noqa: F401 (re-exported for the engine)


def read_text(path: Path) -> str:
    """The file's text: UTF-8 (a BOM is dropped) when it decodes as such, else Windows-1251."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251", errors="replace")


def sniff_delimiter(text: str) -> str:
    """The most frequent of ``;``, ``,`` and tab in the first lines (``,`` on a tie)."""
    return detect_delimiter("\n".join(text.splitlines()[:30]))


def read_rows(path: Path) -> list[list[str]]:
    """All rows of a CSV file as lists of strings."""
    text = read_text(path)
    return list(csv.reader(io.StringIO(text), delimiter=sniff_delimiter(text)))
