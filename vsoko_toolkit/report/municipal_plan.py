"""The municipal action plan: addressed recommendations per school, in the shape of the municipal decisions register.

Mirrors :mod:`.action_plan` one level up. Each row is a decision of the municipality addressed to one school
(``target_type`` ``school``, ``target_ids`` = the school's id; a municipality-wide finding, ``target_id`` empty,
gives one row addressed to every school: ``target_ids`` empty): the action, the responsible (the school's head), the subject, the control metric
from the re-diagnosis catalogue (``quality``, ``success``, ``mean_mark``, ``vpr_confirm_share``,
``vpr_mean_pct``), its baseline, target and deadline. The first sheet's headers are the Russian labels of the
contract table ``municipal_decisions`` (``contract.spec.HEADER_LABELS``), so the approved file, saved as
``municipal_decisions.xlsx`` in the data folder, is read back next year as the municipal register and
re-diagnosed by :func:`vsoko_toolkit.analysis.municipal_decisions.municipal_decisions` (schools as units).
Two extra columns (the school's name, the finding it answers) are for people; the ingest ignores them.

Rules. One row per municipal finding with ``target_type`` ``school`` (problems first by severity, then
strengths; one row per school, kind and subject). The action and the responsible are the finding's
recommendation when it has one (a bare «директор школы» named by the school), else the template of its kind
(:data:`ACTIONS`). The control metric: the recommendation's when the re-diagnosis measures it; else the kind's
(:data:`KIND_METRIC` — schools compared on results are followed on ВПР, non-objective ones on the share of ВПР
marks confirming the journal); else the finding's metric when measurable, or its mapping (:data:`METRIC_MAP`);
else ``quality``. Baseline: the recommendation's when its metric is measurable; else, with a warehouse
connection, the school's level of the metric in ``year`` measured as the re-diagnosis measures it
(:func:`~vsoko_toolkit.analysis.municipal_decisions.school_levels`; a ВПР metric the school has no data for
falls back to ``quality``); else empty (computed next year from the data before the decision). Target: the
recommendation's, else the baseline plus :data:`STEP` (a strength: keep the baseline). Date 1 September of
``year``; deadline the recommendation's when not before 31 May of the next year, else 31 May (an earlier action
deadline is kept in the action's text: the effect can only be measured over the school year).
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter

from ..contract.spec import HEADER_LABELS
from .xlsx import append_header

CATALOGUE = ("quality", "success", "mean_mark", "vpr_confirm_share", "vpr_mean_pct")
_WIDTHS = {"problem": 50, "action": 60, "target_ids": 16, "subject": 16, "responsible": 26, "metric": 20,
           "municipality": 22}
COLUMNS: tuple[tuple[str, str, int], ...] = tuple(
    (col, label, _WIDTHS.get(col, 12)) for col, label in HEADER_LABELS["municipal_decisions"].items())
EXTRA: tuple[tuple[str, str, int], ...] = (("school_name", "Школа (название)", 26),
                                           ("basis", "Основание (находка анализа)", 60))
#: what each finding kind asks of the school (the school's head carries it out; the municipality controls)
ACTIONS = {
    "steadily_low": ("Включить школу в муниципальную программу повышения качества обучения{subj}: разобрать причины "
                     "устойчиво низких результатов вместе с муниципальной методической службой, организовать адресную "
                     "методическую помощь учителям, отслеживать результаты по четвертям."),
    "shnor": ("Разработать и реализовать программу антирисковых мер школы с низкими результатами в неблагоприятных "
              "социальных условиях{subj}: сетевое партнёрство и наставничество со школой с устойчиво высокими "
              "результатами, повышение квалификации учителей по выявленным дефицитам, работа с семьями."),
    "resilient_school": ("Описать и распространить практику школы, показывающей высокие результаты в "
                         "неблагоприятных условиях{subj}: муниципальная стажировочная площадка, наставничество для "
                         "школ с низкими результатами; сохранить достигнутый уровень."),
    "steadily_high": ("Описать и распространить практику школы с устойчиво высокими результатами{subj}: "
                      "стажировочная площадка и открытые уроки для школ муниципалитета; сохранить достигнутый уровень."),
    "non_objective_school": ("Обеспечить объективность оценивания{subj}: независимые наблюдатели на ВПР, перепроверка "
                             "работ муниципальной предметной комиссией, единые критерии оценивания в ШМО, сверка "
                             "текущих отметок с результатами ВПР."),
}
DEFAULT_ACTION = ("Разобрать причины проблемы «{title}»{subj} и утвердить адресные меры; отчитаться перед управлением "
                  "образования о выполнении.")
#: control metric of a kind when the finding's own metric is not measurable by the re-diagnosis: results of
#: schools compared with the municipality are followed on the external ВПР (journal marks can be inflated)
KIND_METRIC = {"non_objective_school": "vpr_confirm_share", "steadily_low": "vpr_mean_pct", "shnor": "vpr_mean_pct",
               "low_value_added": "vpr_mean_pct", "resilient_school": "vpr_mean_pct", "steadily_high": "vpr_mean_pct",
               "high_value_added": "vpr_mean_pct"}
#: finding metrics -> the re-diagnosis catalogue
METRIC_MAP = {"vpr_lowered_share": "vpr_confirm_share", "vpr_raised_share": "vpr_confirm_share",
              "marking_offset": "vpr_confirm_share", "threshold_peak": "vpr_confirm_share",
              "jump_vs_municipality": "vpr_confirm_share", "context_residual": "vpr_confirm_share",
              "task_pct_gap": "vpr_mean_pct", "slope": "quality", "risk_students": "success",
              # indicators of the eight directions' dashboard (analysis/municipal_directions.py)
              "d1.good": "quality", "d1.success": "success", "d2.vpr_low": "vpr_mean_pct"}
#: the default aim: improvement over the baseline per metric (shares are 0..1)
STEP = {"quality": 0.05, "success": 0.03, "mean_mark": 0.10, "vpr_confirm_share": 0.10, "vpr_mean_pct": 0.05}
_SEVERITY = {"high": 0, "medium": 1, "low": 2}


def _metric(f: dict, rec: dict | None) -> tuple[str, bool]:
    """The control metric and whether the recommendation's baseline/target are on its scale."""
    if rec and rec.get("control_metric") in CATALOGUE:
        return rec["control_metric"], True
    if f.get("kind") in KIND_METRIC:
        return KIND_METRIC[f["kind"]], False
    if f.get("metric") in CATALOGUE:
        return f["metric"], False
    for m in ((rec or {}).get("control_metric"), f.get("metric")):
        if m in METRIC_MAP:
            return METRIC_MAP[m], False
        if isinstance(m, str) and m.startswith("d1.quality."):  # a key subject's quality (the row's subject)
            return "quality", False
    return "quality", False


def _ru_date(iso: str) -> str:
    y, m, d = (iso.split("-") + ["", ""])[:3]
    return f"{d}.{m}.{y}" if d else iso


def _num(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if x == x else None


def plan_rows(findings: list[dict], municipality: str, year: int, con=None, school_names: dict | None = None) -> list[dict]:
    """Rows of the municipal plan for ``year + 1`` (see the module docstring), shaped like ``municipal_decisions``
    plus ``school_name`` and ``basis``. ``con`` (optional): the warehouse, for baselines and school names."""
    from ..analysis.municipal_decisions import school_levels

    names = dict(school_names or {})
    if con is not None and not names:
        names = dict(con.execute("SELECT school_id, name FROM schools").fetchall())
    picked, seen = [], set()
    order = sorted((f for f in findings if f.get("target_type", "school") == "school"),
                   key=lambda f: (f.get("polarity") != "problem", _SEVERITY.get(f.get("severity"), 3),
                                  str(f.get("target_id") or ""), str(f.get("kind"))))
    for f in order:
        key = (str(f.get("target_id") or ""), f.get("kind"), f.get("subject") or "")
        if key not in seen:
            seen.add(key)
            picked.append(f)
    levels: dict = {}
    rows = []
    for f in picked:
        rec = f.get("recommendation") or None
        sid = str(f.get("target_id") or "")
        subject = f.get("subject") or ""
        metric, on_scale = _metric(f, rec)
        subj = f" по предмету «{subject}»" if subject else ""
        action = (rec or {}).get("text") or ACTIONS.get(f.get("kind"), DEFAULT_ACTION).format(
            subj=subj, title=f.get("title", ""))
        # the action's own deadline stays in its text; the control deadline is the end of the next school year
        control_end = f"{year + 1}-05-31"
        deadline = str((rec or {}).get("deadline") or "")
        if deadline and deadline < control_end:
            action = f"{action} (срок выполнения мероприятия: {_ru_date(deadline)})"
            deadline = control_end
        base = _num(rec.get("baseline")) if on_scale else None
        goal = _num(rec.get("target")) if on_scale else None
        if base is None and con is not None and sid:
            for m in dict.fromkeys((metric, "quality")):  # a ВПР metric without ВПР data: term-mark quality
                key = (m, subject)
                if key not in levels:
                    levels[key] = school_levels(con, m, year, subject or None)
                if sid in levels[key]:
                    metric, base = m, round(levels[key][sid], 3)
                    break
        if goal is None and base is not None:
            goal = base if f.get("polarity") == "strength" else base + STEP[metric]
            goal = round(min(goal, 1.0) if metric != "mean_mark" else min(goal, 5.0), 3)
        head = f"директор школы {sid}" if sid else "управление образования"
        resp = str((rec or {}).get("responsible") or head)
        if sid and resp.strip().lower() in ("директор школы", "директор", "руководитель школы"):
            resp = head  # the school's head, named by the school
        rows.append({
            "decision_id": f"M{year + 1}-{len(rows) + 1:02d}", "municipality": municipality, "year": year + 1,
            "date": f"{year}-09-01", "problem": f.get("title", ""), "action": action, "target_type": "school",
            "target_ids": sid, "subject": subject, "responsible": resp,
            "metric": metric, "baseline": base, "target_value": goal, "deadline": deadline or control_end,
            "school_name": names.get(sid, "все школы муниципалитета" if not sid else ""),
            "basis": f"{f.get('kind', '')}: {f.get('evidence', '')}"[:1000],
        })
    return rows


def write_municipal_plan(findings: list[dict], path, municipality: str, year: int, con=None,
                         school_names: dict | None = None) -> Path:
    """Write the municipal action plan XLSX for ``year + 1`` from the municipal ``findings`` and return its path."""
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "План мероприятий"
    cols = COLUMNS + EXTRA
    append_header(ws, [c[1] for c in cols])
    for i, (_, _, width) in enumerate(cols, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    rows = plan_rows(findings, municipality, year, con, school_names)
    for r in rows:
        ws.append([r[c[0]] for c in cols])
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    note = wb.create_sheet("Пояснение")
    note.append([f"Муниципальный план мероприятий ({municipality}) на {year}/{year + 1} учебный год по итогам анализа "
                 f"{year - 1}/{year}: адресные рекомендации школам."])
    note.append(["Строки первого листа имеют форму муниципального реестра решений (municipal_decisions): через год этот "
                 "файл, положенный в папку данных как municipal_decisions.xlsx, позволит проверить, сработали ли решения "
                 "(сравнение школ, на которые направлено решение, с остальными школами)."])
    note.append(["Столбцы «Школа (название)» и «Основание (находка анализа)» — для чтения; при загрузке они не используются."])
    if not rows:
        note.append(["Проблем с адресными рекомендациями школам по данным этого года не выявлено."])
    ws.freeze_panes = "A2"
    wb.save(path)
    return path
