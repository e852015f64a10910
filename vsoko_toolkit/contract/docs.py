"""Render the contract (as the toolkit reads it) into Russian Markdown: ``docs/DATA.md``.

    python -m vsoko_toolkit.contract.docs > docs/DATA.md

A test checks that the committed file equals this rendering, so the document
cannot drift from the code.
"""

from __future__ import annotations

from .rules import RULES
from .spec import HEADER_LABELS, LITERACY_LEVEL_CUTS, NON_NUMERIC_MARKS, TABLES, VOCABULARIES

TYPE_RU = {"str": "текст", "int": "целое", "float": "число (точка или запятая)", "bool": "да/нет",
           "date": "дата (ГГГГ-ММ-ДД или ДД.ММ.ГГГГ)", "code": "код", "mark": "отметка"}

INTRO = """# Данные для vsoko_toolkit: как подготовить папку

Этот документ создан из кода (`python -m vsoko_toolkit.contract.docs`) и всегда совпадает с тем,
как инструмент читает данные. Исходный контракт — `shared/contract/DATA_CONTRACT.md`.

Папка данных содержит по файлу на таблицу: `<таблица>.csv` или `<таблица>.xlsx` (первый лист).
CSV — в UTF-8 (с BOM или без) или Windows-1251, разделитель `,` или `;` (определяется сам),
десятичная точка или запятая. Порядок столбцов любой, регистр имён не важен, лишние столбцы
допускаются и не загружаются. Год — учебный год по году окончания: 2025 — это 2024/2025.
Коды можно писать по-русски (ВПР, высшая, 1 четверть, годовая, ...).

## Что происходит с ошибками
Каждая строка либо принимается, либо отклоняется — молча ничего не теряется: прочитано = принято +
отклонено. Отклонённые строки перечислены в `rejects.csv` (файл, номер строки как в Excel — заголовок
это строка 1, — столбец, правило, значение, пояснение), а сами строки в исходном виде — в
`<таблица>.rows.csv`, чтобы их можно было исправить и загрузить снова. Если нет обязательной
таблицы или обязательного столбца, загрузка останавливается с сообщением, что исправить.

| правило | что означает |
|---|---|
"""


#: Notes printed under a table (issue 18: the functional-literacy columns and the level fall-back).
TABLE_NOTES = {
    "assessments": ("`level` — уровень функциональной грамотности ученика по диагностической работе "
                    "(низкий / пониженный / базовый / повышенный / высокий). Если он не указан, уровень выводится "
                    "из процента максимального первичного балла работы (сумма max_score её заданий в "
                    "assessment_specs): меньше {0} % — низкий, {0}–{1} % — пониженный, {1}–{2} % — базовый, "
                    "{2}–{3} % — повышенный, {3} % и больше — высокий."),
    "assessment_specs": ("`literacy_domain` — направление функциональной грамотности задания диагностической "
                         "работы (RDR, NIKO, SCHOOL). Задания с направлением разбираются в главе «Метапредметные "
                         "результаты и функциональная грамотность», а не в анализе заданий ВПР."),
}


def render() -> str:
    out = [INTRO]
    out += [f"| `{r}` | {text} |" for r, text in RULES.items()]
    out.append("\n## Таблицы\n")
    for t in TABLES.values():
        req = "обязательная" if t.required else "необязательная"
        out.append(f"### {t.name} — {req}\n")
        if t.extra.get("doc_ru"):
            out.append(t.extra["doc_ru"] + "\n")
        if t.key:
            out.append(f"Ключ (без повторов): {', '.join(t.key)}.\n")
        out.append("| столбец | тип | обязателен | допустимо |\n|---|---|---|---|")
        for c in t.columns:
            allowed = []
            if c.type == "code":
                allowed.append(", ".join(f"`{k}` ({', '.join(v[1:3])})" if len(v) > 1 else f"`{k}`"
                                         for k, v in VOCABULARIES[c.vocab].items()))
            if c.type == "mark":
                allowed.append("1–5 или " + ", ".join(NON_NUMERIC_MARKS))
            if c.name == "grade" and t.extra.get("graduate_grades"):
                allowed.append(" или ".join(map(str, t.extra["graduate_grades"])))
            elif c.low is not None:
                allowed.append(f"от {c.low:g} до {c.high:g}")
            if c.ref:
                allowed.append(f"ссылка на {c.ref}")
            if c.personal:
                allowed.append("персональные данные: не попадают в публичную версию")
            out.append(f"| {c.name} | {TYPE_RU[c.type]} | {'да' if c.required else 'нет'} | {'; '.join(allowed)} |")
        if t.extra.get("note_ru"):
            out.append("\n" + t.extra["note_ru"])
        if t.name in HEADER_LABELS:
            out.append("\nВместо английских имён столбцов можно использовать русские заголовки: "
                       + ", ".join(f"«{v}» ({k})" for k, v in HEADER_LABELS[t.name].items()) + ".")
        if t.name in TABLE_NOTES:
            out.append("\n" + TABLE_NOTES[t.name].format(*(f"{x:g}" for x in LITERACY_LEVEL_CUTS)))
        out.append("")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
