"""The self-examination XLSX in the shape schools publish: № п/п, Показатели, Единица измерения, Значение.

One sheet per framework (the Приказ № 1324 list first); every indicator is a row,
with the column «Источник»: «вычислено», «из indicators.csv» or «нет данных». Index
and map frameworks add «Баллы» and «Максимум баллов», and a row per criterion whose
indicators are not all encoded. The public profile prints «данные скрыты (< 5)»
instead of a value resting on fewer than 5 students.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from ..privacy import MIN_GROUP
from ..report import text as t
from ..report.xlsx import append_header
from .evaluate import STATUS_RU, IndicatorResult

HEADERS = ("№ п/п", "Показатели", "Единица измерения", "Значение", "Источник")
SCORE_HEADERS = ("Баллы", "Максимум баллов")
SHEET_NAMES = {"self_examination_1324": "Самообследование", "quality_index": "Индекс качества",
               "vsoko_map": "Карта ВСОКО"}
_WIDTHS = (10, 80, 16, 18, 18, 10, 10)
HIDDEN = f"данные скрыты (< {MIN_GROUP})"


def _sheet_name(fw, used: set) -> str:
    name = SHEET_NAMES.get(fw.id) or re.sub(r"[\[\]:*?/\\]", " ", fw.title)[:31].strip() or fw.id[:31]
    base, i = name, 2
    while name in used:
        name = f"{base[:28]} {i}"
        i += 1
    used.add(name)
    return name


def _small(row) -> bool:
    n = row["n_students"]
    return n is not None and not (isinstance(n, float) and math.isnan(n)) and 0 < n < MIN_GROUP


def self_examination_xlsx(result: IndicatorResult, path, public: bool = False) -> Path:
    """Write the indicators of ``result`` to ``path`` (XLSX, Russian headers) and return the path."""
    path = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    used: set = set()
    scores = result.scores.set_index("framework") if result.scores is not None and len(result.scores) else None
    for fw in result.frameworks:
        ws = wb.create_sheet(_sheet_name(fw, used))
        scored = fw.kind in ("index", "map")
        ws.append([fw.title])
        ws["A1"].font = Font(bold=True, size=12)
        ws.append([f"{fw.source}" if fw.source else ""])
        ws.append([f"Школа {result.school_id}, {t.academic_year(result.year)} учебный год"])
        header = [*HEADERS, *(SCORE_HEADERS if scored else ())]
        append_header(ws, header)
        for i, w in enumerate(_WIDTHS[:len(header)]):
            ws.column_dimensions["ABCDEFG"[i]].width = w
        d = result.framework(fw.id)
        for g in fw.groups:
            own = d[d["group_id"] == g.id]
            ws.append([g.number or "", g.name])
            ws.cell(ws.max_row, 2).font = Font(bold=True)
            for _, r in own.iterrows():
                value = HIDDEN if public and _small(r) else r["display"]
                line = [r["number"], r["name"], r["unit"], value, STATUS_RU[r["status"]]]
                if scored:
                    pts = r["points"]
                    line += [None if pts is None or (isinstance(pts, float) and math.isnan(pts)) else pts,
                             r["max_points"]]
                ws.append(line)
                ws.cell(ws.max_row, 2).alignment = Alignment(wrap_text=True, vertical="top")
            if g.n_indicators and len(own) < g.n_indicators:
                left = g.n_indicators - len(own)
                ws.append(["", f"Показатели критерия {g.id}, не закодированные в наборе: {left} из "
                               f"{g.n_indicators} (перечень добавляется региональным файлом)", "", "нет данных",
                           STATUS_RU["missing"], None, left * g.max_points_per_indicator])
        if scored and scores is not None and fw.id in scores.index:
            s = scores.loc[fw.id]
            ws.append([])
            total = f"{t.num(s['points'], 0)} из {t.num(s['max_points'], 0)}"
            if s["lower_bound"]:
                total += f" (нижняя граница: без данных {s['n_missing']} показателей)"
            ws.append(["", "Итого баллов", "балл", total])
            ws.cell(ws.max_row, 2).font = Font(bold=True)
            if fw.levels:
                ws.append(["", "Уровень", "", s["level"] or f"от «{s['level_low']}» до «{s['level_high']}»"])
        ws.freeze_panes = "A5"
    note = wb.create_sheet("Пояснение")
    for line in ("Источник значения: «вычислено» — рассчитано по данным школы (журнал, ГИА, кадры); "
                 "«из indicators.csv» — внесено школой в таблицу показателей; «нет данных» — ни того, ни другого.",
                 "Доли указаны в процентах; для показателей «человек/%» — число человек / процент."):
        note.append([line])
    note.column_dimensions["A"].width = 120
    wb.save(path)
    return path
