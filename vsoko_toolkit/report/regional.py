"""The regional roll-up of a batch for people: an XLSX (and CSVs) with Russian headers.

``OUT/_rollup/<year>/rollup.xlsx`` has three sheets — municipalities that differ from the rest of the region
(the flagged rows first), every municipality × kind, and every school's findings — plus ``Пояснение`` with the
method. The CSVs beside it hold the same tables with the code's column names, for further processing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from ..analysis.regional import RegionalRollup
from . import phrases as ph
from .xlsx import append_header

KIND_RU = {
    "low_result": "низкие результаты", "high_result": "высокие результаты",
    "declining_trend": "ухудшение за несколько лет", "improving_trend": "улучшение за несколько лет",
    "inflated_marks": "завышение отметок", "deflated_marks": "занижение отметок",
    "threshold_peak": "пик баллов у границы отметки", "task_deficit": "дефицит умений (задания ВПР)",
    "low_value_added": "низкая добавленная ценность", "high_value_added": "высокая добавленная ценность",
    "factor_effect": "фактор, связанный с результатами", "risk_students": "ученики группы риска",
    "low_indicator": "показатель ниже порога", "climate_problem": "проблема по анкетам",
    "climate_strength": "сильная сторона по анкетам", "teacher_overload": "перегрузка учителей",
    "staffing_gap": "кадровый дефицит", "literacy_deficit": "дефицит функциональной грамотности",
    "low_participation": "низкое участие во внеурочной деятельности", "high_offences": "много правонарушений",
    "low_personal_results": "низкие личностные результаты", "talent_concentration": "одарённые у одного учителя",
    "graduate_outflow": "отток выпускников", "profile_mismatch": "профиль не совпадает с выбором выпускников",
    "result_anomaly": "аномалия результатов",
}
DIRECTION_RU = {"higher": "чаще, чем в остальном регионе", "lower": "реже, чем в остальном регионе", "": ""}


def kind_ru(kind: str) -> str:
    return KIND_RU.get(kind, kind)


def _pct(x) -> str:
    return "" if pd.isna(x) else ph.pct(float(x))


def table_ru(t: pd.DataFrame) -> pd.DataFrame:
    """The municipality × kind table with Russian headers and formatted shares."""
    return pd.DataFrame({
        "муниципалитет": t["municipality"], "что найдено": t["kind"].map(kind_ru), "код находки": t["kind"],
        "школ проанализировано": t["schools"], "школ с находкой": t["flagged_schools"],
        "доля школ": t["share"].map(_pct),
        "95 % ДИ": [f"{_pct(lo)}–{_pct(hi)}" for lo, hi in zip(t["share_low"], t["share_high"], strict=True)],
        "доля в остальном регионе": t["rest_share"].map(_pct),
        "p": t["p_value"].round(4), "q (поправка на множественные сравнения)": t["q_value"].round(4),
        "отличие": [DIRECTION_RU[d] if f else "не доказано" if pd.notna(q) else "сравнивать не с чем"
                    for d, f, q in zip(t["direction"], t["flagged"], t["q_value"], strict=True)],
    })


def findings_ru(f: pd.DataFrame) -> pd.DataFrame:
    def text(col: str) -> pd.Series:
        return f[col].astype(object).where(f[col].notna(), "").astype(str)

    return pd.DataFrame({
        "муниципалитет": f["municipality"], "школа": f["school_id"], "что найдено": f["kind"].map(kind_ru),
        "кто/что": (text("target_type") + " " + text("target_id")).str.strip(),
        "предмет": text("subject"), "оценка": f["estimate"], "q": f["q_value"], "n": f["n"],
        "формулировка": f["title"],
    })


def _sheet(ws, df: pd.DataFrame, widths: dict[str, int] | None = None) -> None:
    append_header(ws, df.columns)
    for row in df.itertuples(index=False):
        ws.append([None if (isinstance(v, float) and pd.isna(v)) else v for v in row])
    for i, col in enumerate(df.columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = (widths or {}).get(col, 16)
    ws.freeze_panes = "A2"


def method_lines(r: RegionalRollup) -> list[str]:
    n_schools = int(r.schools["analysed"].sum())
    return [
        f"Сводка по региону за {r.year - 1}/{r.year} учебный год. Муниципалитетов: {r.municipalities}; "
        f"школ с выполненным анализом: {n_schools}.",
        "Для каждого вида находки и муниципалитета: сколько школ муниципалитета имеют хотя бы одну такую находку "
        "(доля и 95 % доверительный интервал Уилсона) и та же доля в остальных школах региона.",
        "Различие проверено точным критерием Фишера; поправка на множественные сравнения — Бенджамини–Хохберг "
        f"по всем парам «муниципалитет × вид находки»; отличие считается доказанным при q < {r.alpha:g}.",
        "Сводка собрана из findings.json школ один раз после пакетного запуска; школы заново не анализируются.",
        "Школа, анализ которой завершился ошибкой, в расчёт не входит.",
    ]


def write_rollup(r: RegionalRollup, folder) -> Path:
    """Write ``rollup.xlsx``, ``by_municipality.csv`` and ``findings.csv`` into ``folder``; returns the XLSX."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    r.table.to_csv(folder / "by_municipality.csv", index=False)
    r.findings.to_csv(folder / "findings.csv", index=False)
    wb = Workbook()
    ws = wb.active
    ws.title = "Отличия муниципалитетов"
    _sheet(ws, table_ru(r.flagged()), {"что найдено": 36, "отличие": 30})
    _sheet(wb.create_sheet("Все муниципалитеты"), table_ru(r.table), {"что найдено": 36, "отличие": 30})
    _sheet(wb.create_sheet("Находки школ"), findings_ru(r.findings), {"формулировка": 80, "что найдено": 36})
    note = wb.create_sheet("Пояснение")
    for line in method_lines(r):
        note.append([line])
    note.column_dimensions["A"].width = 140
    path = folder / "rollup.xlsx"
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)
    return path
