"""Reading an export file into grids of cell texts (one grid per sheet).

XLSX: every sheet, merged ranges filled with their top-left value (so a title
merged across a row, or «ФИО» merged down two header rows, reads in every cell
it covers). CSV: one grid named after the file, in UTF-8 or Windows-1251, with
``,``, ``;`` or tab as the delimiter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import FatalInputError
from .textfile import read_rows
from .values import cell_text


@dataclass(frozen=True)
class Grid:
    """One sheet as text: ``cells[r][c]`` is the user's row ``r + 1``, column ``c + 1``."""

    file: Path
    name: str
    cells: list[list[str]]

    def row(self, r: int) -> list[str]:
        return self.cells[r] if 0 <= r < len(self.cells) else []

    def at(self, r: int, c: int) -> str:
        row = self.row(r)
        return row[c] if 0 <= c < len(row) else ""

    @property
    def width(self) -> int:
        return max((len(r) for r in self.cells), default=0)

    def is_empty(self) -> bool:
        return not any(any(c for c in row) for row in self.cells)


def col_letter(c: int) -> str:
    """Spreadsheet column letters of the 0-based column ``c`` (0 -> A, 26 -> AA)."""
    s = ""
    c += 1
    while c:
        c, rem = divmod(c - 1, 26)
        s = chr(65 + rem) + s
    return s


def cell_ref(r: int, c: int) -> str:
    """``A1``-style address of the 0-based cell (``r``, ``c``)."""
    return f"{col_letter(c)}{r + 1}"


def parse_ref(ref: str) -> tuple[int, int]:
    """0-based (row, column) of an ``A1``-style address."""
    letters = "".join(ch for ch in ref if ch.isalpha()).upper()
    digits = "".join(ch for ch in ref if ch.isdigit())
    c = 0
    for ch in letters:
        c = c * 26 + (ord(ch) - 64)
    return int(digits) - 1, c - 1


def read_grids(path: Path, fmt: str) -> list[Grid]:
    """All sheets of ``path`` as grids (``fmt`` is the profile's ``format``)."""
    path = Path(path)
    if not path.is_file():
        raise FatalInputError(f"Файл не найден: {path}.")
    try:
        if fmt == "xlsx":
            return _read_xlsx(path)
        return [_read_csv(path)]
    except FatalInputError:
        raise
    except Exception as exc:
        want = "XLSX (Excel 2007+)" if fmt == "xlsx" else "CSV (UTF-8 или Windows-1251)"
        raise FatalInputError(
            f"Файл {path.name} не удаётся прочитать как {want} ({type(exc).__name__}: {exc}). "
            f"Проверьте, что профиль подходит к файлу, или сохраните файл заново как {want}."
        ) from exc


def _read_xlsx(path: Path) -> list[Grid]:
    import openpyxl

    wb = openpyxl.load_workbook(path, data_only=True)
    try:
        grids = []
        for ws in wb.worksheets:
            cells = [[cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
            for rng in ws.merged_cells.ranges:
                top = (
                    cells[rng.min_row - 1][rng.min_col - 1] if rng.min_row - 1 < len(cells) else ""
                )
                for r in range(rng.min_row - 1, min(rng.max_row, len(cells))):
                    row = cells[r]
                    row.extend([""] * (rng.max_col - len(row)))
                    for c in range(rng.min_col - 1, rng.max_col):
                        row[c] = top
            while cells and not any(cells[-1]):
                cells.pop()
            grids.append(Grid(path, ws.title, cells))
        return grids
    finally:
        wb.close()


def _read_csv(path: Path) -> Grid:
    cells = [[cell_text(v) for v in row] for row in read_rows(path)]
    while cells and not any(cells[-1]):
        cells.pop()
    return Grid(path, path.stem, cells)
