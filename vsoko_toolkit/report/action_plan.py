"""The action plan: an XLSX ready to approve by order, whose rows are shaped like decisions.csv.

Russian headers for people — the contract accepts them as the decisions
table's column names (``contract.spec.HEADER_LABELS``), so next year the same
file, saved as ``decisions.xlsx`` in the data folder, is read back as the
decisions register and re-diagnosed.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from ..contract.spec import HEADER_LABELS

_WIDTHS = {"problem": 50, "action": 60, "target_ids": 24, "subject": 18, "responsible": 18, "metric": 18}
COLUMNS: tuple[tuple[str, str, int], ...] = tuple(
    (col, label, _WIDTHS.get(col, 12)) for col, label in HEADER_LABELS["decisions"].items())


def plan_rows(doc: dict, school_id: str, year: int) -> list[dict]:
    """One decision row per finding that carries a recommendation (problems first, by severity)."""
    rank = {"high": 0, "medium": 1, "low": 2}
    fs = [f for f in doc["findings"] if f.get("recommendation") and f["polarity"] == "problem"]
    fs.sort(key=lambda f: (rank[f["severity"]], f["area"], f["title"]))
    rows = []
    for i, f in enumerate(fs, start=1):
        rec = f["recommendation"]
        rows.append({
            "decision_id": f"{school_id}-{year + 1}-{i:02d}", "school_id": school_id, "year": year + 1,
            "date": f"{year}-09-01", "problem": f["title"], "action": rec["text"],
            "target_type": rec["addressee_type"], "target_ids": rec["addressee_id"], "subject": f.get("subject") or "",
            "responsible": rec["responsible"], "metric": rec["control_metric"], "baseline": rec["baseline"],
            "target_value": rec["target"], "deadline": rec["deadline"],
        })
    return rows


def write_action_plan(doc: dict, path, school_id: str, year: int) -> Path:
    """Write ``action_plan.xlsx`` for the run ``doc`` (findings contract) and return its path."""
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "План мероприятий"
    ws.append([c[1] for c in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for i, (_, _, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    rows = plan_rows(doc, school_id, year)
    for r in rows:
        ws.append([r[c[0]] for c in COLUMNS])
    note = wb.create_sheet("Пояснение")
    note.append([f"План мероприятий школы {school_id} на {year}/{year + 1} учебный год по итогам анализа {year - 1}/{year}."])
    note.append(["Строки первого листа имеют форму реестра решений (decisions): через год этот файл, положенный в папку "
                 "данных как decisions.xlsx, позволит проверить, сработали ли решения."])
    if not rows:
        note.append(["Проблем с адресными рекомендациями по данным этого года не выявлено."])
    ws.freeze_panes = "A2"
    wb.save(path)
    return path
