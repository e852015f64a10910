"""Files for the school's site, in public wording: the self-examination section, the public summary, the XLSX.

Everything here reads what a public run already wrote (privacy-filtered): chapter 08's table of the
Приказ № 1324 indicators (``tables/self_examination.csv``) and the run's findings (``findings.json``, where
the public profile names no teacher). Pages are self-contained HTML (inline CSS, nothing loaded from the
web) that print well to PDF; :mod:`vsoko_toolkit.pipeline.site` writes them and prints the PDFs.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from ..privacy import MIN_GROUP
from . import text as t
from .summary import _date, _recommendation, key, real_strengths
from .xlsx import append_header

COLUMNS = ("№ п/п", "Показатели", "Единица измерения", "Значение", "Источник")
MISSING = "нет данных"
HIDDEN_MARK = "скрыто"  # chapter 08's public table prints «< 5 учеников: скрыто»
NOTE_MISSING = "нет данных: показатель не вычисляется по данным школы и не внесён в таблицу indicators"
NOTE_HIDDEN = f"значение скрыто: оно опирается на группу меньше {MIN_GROUP} учеников"
METRIC_RU = {"quality": "качество знаний", "success": "успеваемость", "mean_mark": "средняя отметка"}
CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 11pt; color: #222; margin: 2em auto;
       max-width: 60em; line-height: 1.4; }
h1 { font-size: 16pt; } h2 { font-size: 13pt; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { border: 1px solid #999; padding: 3px 5px; vertical-align: top; text-align: left; }
th { background: #ddebf7; }
tr.missing td { color: #777; background: #f2f2f2; }
.note { font-size: 9pt; color: #555; }
.problem { border-left: 4px solid #c0504d; padding-left: .8em; margin: 1em 0; }
@page { size: A4; margin: 15mm; }
"""


def read_indicator_table(path) -> pd.DataFrame:
    """Chapter 08's table of the self-examination indicators as written (all cells text)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def counts(table: pd.DataFrame) -> dict[str, int]:
    """How many indicators are computed, read from indicators.csv, missing (by the «Источник» column)."""
    src = table["Источник"] if "Источник" in table else pd.Series(dtype=str)
    return {"total": len(table), "computed": int((src == "вычислено").sum()),
            "read": int(src.str.startswith("из ").sum()), "missing": int((src == MISSING).sum())}


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="ru">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _note(row) -> str:
    if row["Источник"] == MISSING:
        return NOTE_MISSING
    if HIDDEN_MARK in row["Значение"]:
        return NOTE_HIDDEN
    return ""


def self_examination_html(table: pd.DataFrame, school_name: str, year: int) -> str:
    """The public self-examination section: the Приказ № 1324 indicators as chapter 08 computed them."""
    c = counts(table)
    title = "Показатели деятельности общеобразовательной организации, подлежащей самообследованию"
    head = (f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(school_name)}, {t.academic_year(year)} учебный год. "
            f"Приложение № 2 к приказу Минобрнауки России от 10.12.2013 № 1324.</p>\n"
            f"<p>Из {t.count(c['total'], 'показателя', 'показателей', 'показателей')} вычислено по данным школы — "
            f"{t.fmt_int(c['computed'])}, внесено школой — {t.fmt_int(c['read'])}, нет данных — "
            f"{t.fmt_int(c['missing'])} (такие строки выделены серым).</p>\n")
    rows = []
    for _, r in table.iterrows():
        cls = ' class="missing"' if r["Источник"] == MISSING else ""
        cells = "".join(f"<td>{html.escape(str(r[col]))}</td>" for col in COLUMNS)
        rows.append(f"<tr{cls}>{cells}</tr>")
    header = "".join(f"<th>{html.escape(col)}</th>" for col in COLUMNS)
    note = (f'<p class="note">Доли — в процентах; для показателей «человек/%» — число человек / процент. '
            f"Значения, опирающиеся на группу меньше {MIN_GROUP} учеников, не публикуются. "
            f"Источник значения: «вычислено» — по данным школы (журнал, ГИА, олимпиады, кадры); «из indicators.csv» "
            f"— внесено школой; «нет данных» — ни того, ни другого.</p>")
    body = head + f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n" + note
    return _page(f"{title} — {school_name}", body)


def _control(rec: dict) -> str:
    metric = METRIC_RU.get(rec.get("control_metric", ""))
    if metric is None or rec.get("baseline") is None or rec.get("target") is None:
        return "результат проверяется при повторной диагностике через год"
    val = t.pct if rec["control_metric"] in ("quality", "success") else t.num
    return f"{metric}: сейчас {val(rec['baseline'])}, цель — {val(rec['target'])}"


def public_summary_html(doc: dict, school_name: str, year: int, k: int = 7) -> str:
    """The public summary: the key problems of the year and the decisions taken, in plain words."""
    probs = key(doc.get("findings", []), k)
    strengths = real_strengths(doc.get("findings", []))
    title = f"Итоги анализа работы школы за {t.academic_year(year)} учебный год"
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{html.escape(school_name)}. Анализ выполнен по данным внутренней системы оценки качества "
             f"образования (журнал, внешние оценочные процедуры, анкетирование, кадры). Проблемой названо только то, "
             f"что подтверждается данными за пределами случайного разброса.</p>",
             "<h2>Ключевые проблемы и решения</h2>"]
    if not probs:
        parts.append("<p>Проблем, подтверждённых данными за пределами случайного разброса, не выявлено.</p>")
    for i, fs in enumerate(probs, 1):
        rec = _recommendation(fs)
        lines = [f'<div class="problem"><h3>{i}. {html.escape(fs[0]["title"])}</h3>']
        if rec:
            lines += [f"<p><b>Что будет сделано:</b> {html.escape(rec['text'])}</p>",
                      f"<p><b>Ответственный:</b> {html.escape(rec['responsible'])}; <b>срок:</b> "
                      f"{_date(rec['deadline'])}.</p>",
                      f"<p><b>Как проверим результат:</b> {html.escape(_control(rec))}.</p>"]
        else:
            lines.append("<p>Решение принимается по итогам обсуждения на педагогическом совете.</p>")
        parts.append("\n".join(lines) + "</div>")
    parts.append("<h2>Сильные стороны</h2>")
    if strengths:
        parts.append("<ul>" + "".join(f"<li>{html.escape(f['title'])}</li>" for f in strengths) + "</ul>")
    else:
        parts.append("<p>Сильных сторон, подтверждённых данными за пределами случайного разброса, не выявлено.</p>")
    parts.append(f'<p class="note">Публичная версия: без имён, без кодов учеников, без групп меньше {MIN_GROUP} '
                 f"человек.</p>")
    return _page(f"{title} — {school_name}", "\n".join(parts))


def indicators_xlsx(table: pd.DataFrame, path, school_name: str, year: int) -> Path:
    """The self-examination indicators as an XLSX (Russian headers, units; «нет данных» and hidden rows marked)."""
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "Самообследование"
    ws.append(["Показатели деятельности общеобразовательной организации, подлежащей самообследованию "
               "(приложение № 2 к приказу Минобрнауки России № 1324)"])
    ws["A1"].font = Font(bold=True, size=12)
    ws.append([f"{school_name}, {t.academic_year(year)} учебный год"])
    append_header(ws, [*COLUMNS, "Примечание"])
    grey = PatternFill("solid", fgColor="F2F2F2")
    for _, r in table.iterrows():
        ws.append([r[c] for c in COLUMNS] + [_note(r)])
        ws.cell(ws.max_row, 2).alignment = Alignment(wrap_text=True, vertical="top")
        if r["Источник"] == MISSING:
            for cell in ws[ws.max_row]:
                cell.fill = grey
    for col, width in zip("ABCDEF", (10, 80, 16, 18, 18, 40), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A4"
    note = wb.create_sheet("Пояснение")
    c = counts(table)
    for line in (f"Показателей: {c['total']}; вычислено по данным школы: {c['computed']}; внесено школой "
                 f"(indicators.csv): {c['read']}; нет данных: {c['missing']}.",
                 "Доли — в процентах; для показателей «человек/%» — число человек / процент.",
                 f"Строки «нет данных» выделены серым. {NOTE_HIDDEN[0].upper() + NOTE_HIDDEN[1:]}: такие значения "
                 "не публикуются."):
        note.append([line])
    note.column_dimensions["A"].width = 120
    wb.save(path)
    return path
