"""What an import returns: per-table counts, problems (not imported), notes (skipped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Problem:
    """Something in an export that could not be imported (the row or value was not written)."""

    file: str
    sheet: str
    row: int | None  # row as the user sees it in the file; None for a whole sheet or file
    cell: str  # "D7", or "" when no single cell is at fault
    message: str  # Russian: what is wrong and what happened to the data


@dataclass(frozen=True)
class Note:
    """An informational remark: a sheet, row or column the profile skips on purpose."""

    file: str
    sheet: str
    row: int | None
    cell: str
    message: str


@dataclass(frozen=True)
class SheetSummary:
    """What happened to one sheet: ``status`` is ``imported``, ``skipped`` or ``failed``."""

    file: str
    sheet: str
    status: str
    data_rows: int
    rows_with_problems: int


@dataclass(frozen=True)
class ImportResult:
    """The outcome of :func:`import_files`.

    Attributes
    ----------
    profile : str
        Profile name.
    out_dir : Path
        The contract folder written to.
    counts : dict[str, int]
        Rows this import produced per contract table (after merging exact repeats).
    added, updated : dict[str, int]
        Of those, rows appended to the table's file and existing rows changed.
    written : dict[str, Path]
        The files written.
    problems : tuple[Problem, ...]
        Rows/cells not imported, with the reason (empty when everything mapped).
    notes : tuple[Note, ...]
        Sheets, rows and columns skipped on purpose (summary rows, unused columns).
    sheets : tuple[SheetSummary, ...]
        One line per sheet read.
    """

    profile: str
    out_dir: Path
    counts: dict[str, int]
    added: dict[str, int]
    updated: dict[str, int]
    written: dict[str, Path]
    problems: tuple[Problem, ...] = field(repr=False)
    notes: tuple[Note, ...] = field(repr=False)
    sheets: tuple[SheetSummary, ...] = field(repr=False)

    @property
    def ok(self) -> bool:
        """True when every row and value of the files was imported."""
        return not self.problems

    def tidy(self) -> pd.DataFrame:
        """Per-table counts: columns ``table``, ``rows``, ``added``, ``updated``, ``file``."""
        return pd.DataFrame(
            [
                {
                    "table": t,
                    "rows": n,
                    "added": self.added.get(t, 0),
                    "updated": self.updated.get(t, 0),
                    "file": str(self.written.get(t, "")),
                }
                for t, n in self.counts.items()
            ],
            columns=["table", "rows", "added", "updated", "file"],
        )

    def problems_frame(self) -> pd.DataFrame:
        """Problems as a table: ``file``, ``sheet``, ``row``, ``cell``, ``message``."""
        return pd.DataFrame(
            [p.__dict__ for p in self.problems], columns=["file", "sheet", "row", "cell", "message"]
        ).astype({"row": "Int64"})

    def notes_frame(self) -> pd.DataFrame:
        """Notes as a table: ``file``, ``sheet``, ``row``, ``cell``, ``message``."""
        return pd.DataFrame(
            [n.__dict__ for n in self.notes], columns=["file", "sheet", "row", "cell", "message"]
        ).astype({"row": "Int64"})

    def __str__(self) -> str:
        parts = [f"{t}: {n}" for t, n in self.counts.items()]
        head = f"Импорт по профилю {self.profile} в {self.out_dir}: " + (
            ", ".join(parts) or "нет строк"
        )
        if not self.problems:
            return head + ". Все строки сопоставлены."
        lines = [head + f". Не импортировано (проблем: {len(self.problems)}):"]
        for p in self.problems[:20]:
            where = ", ".join(
                x for x in (p.file, p.sheet, f"строка {p.row}" if p.row else "", p.cell) if x
            )
            lines.append(f"  • {where}: {p.message}")
        if len(self.problems) > 20:
            lines.append(f"  … и ещё {len(self.problems) - 20}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False) + (
            self.problems_frame().to_html(index=False)
            if self.problems
            else "<p>Все строки сопоставлены.</p>"
        )
