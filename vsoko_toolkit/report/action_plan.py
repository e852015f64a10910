"""The action plan: an XLSX ready to approve by order, whose rows are shaped like decisions.csv.

Russian headers for people — the contract accepts them as the decisions
table's column names (``contract.spec.HEADER_LABELS``), so next year the same
file, saved as ``decisions.xlsx`` in the data folder, is read back as the
decisions register and re-diagnosed.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from ..contract.spec import HEADER_LABELS
from .xlsx import append_header

_WIDTHS = {"problem": 50, "action": 60, "target_ids": 24, "subject": 18, "responsible": 18, "metric": 18}
COLUMNS: tuple[tuple[str, str, int], ...] = tuple(
    (col, label, _WIDTHS.get(col, 12)) for col, label in HEADER_LABELS["decisions"].items())


# control metrics of findings -> the metric catalogue next year's re-diagnosis measures (decisions.py)
REDIAGNOSABLE = {"value_added": "mean_mark", "slope": "mean_mark", "risk_students": "success",
                 "marking_offset": "vpr_confirm_share", "vpr_lowered_share": "vpr_confirm_share",
                 "vpr_raised_share": "vpr_confirm_share", "task_pct_gap": "vpr_mean_pct"}


def plan_rows(doc: dict, school_id: str, year: int) -> list[dict]:
    """One decision row per problem of the synthesis (:func:`.summary.problems`, in its ranking): the
    decision addressed to the problem's supported cause, with its control metric, baseline and target."""
    from .summary import _recommendation, problems

    rows = []
    for fs in problems(doc["findings"]):
        rec = _recommendation(fs)
        if rec is None:
            continue
        head = fs[0]
        rows.append({
            "decision_id": f"{school_id}-{year + 1}-{len(rows) + 1:02d}", "school_id": school_id, "year": year + 1,
            "date": f"{year}-09-01", "problem": head["title"], "action": rec["text"],
            "target_type": rec["addressee_type"], "target_ids": rec["addressee_id"],
            "subject": head.get("subject") or "", "responsible": rec["responsible"],
            "metric": REDIAGNOSABLE.get(rec["control_metric"], rec["control_metric"]),
            # a baseline on another scale than the re-diagnosed metric would mislead: next year's run measures it
            "baseline": rec["baseline"] if rec["control_metric"] not in REDIAGNOSABLE else None,
            "target_value": rec["target"] if rec["control_metric"] not in REDIAGNOSABLE else None,
            "deadline": rec["deadline"],
        })
    return rows


def write_action_plan(doc: dict, path, school_id: str, year: int) -> Path:
    """Write ``action_plan.xlsx`` for the run ``doc`` (findings contract) and return its path."""
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "План мероприятий"
    append_header(ws, [c[1] for c in COLUMNS])
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
