"""What every XLSX the toolkit writes shares: the look of a header row."""

from __future__ import annotations

from openpyxl.styles import Alignment, Font, PatternFill

HEADER_FILL = "DDEBF7"


def append_header(ws, labels) -> None:
    """Append ``labels`` to the sheet ``ws`` as a header row: bold, wrapped, top-aligned, light blue."""
    ws.append(list(labels))
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
