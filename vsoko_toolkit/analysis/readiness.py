"""Which analyses of the school book the loaded data allows: a declarative registry of data needs.

Public entry points: :func:`readiness` (per analysis: runs / runs on a fall-back / cannot run, for a
data profile) and :func:`optional_usage` (per optional table or column of the contract: the analyses
that read it and what each does without it — the documentation of the fall-backs).

A *profile* is ``{table: {"rows": int, "columns": {column: n_non_null}, "years": [int, ...]}}`` for
every contract table (:func:`vsoko_toolkit.warehouse.profile.data_profile`); ``years`` is optional.
A table is present when it has rows, a column when it has non-NULL values (in the warehouse every
contract table and column exists, so "absent" means empty).

Each analysis declares its *required* data (without it the analysis is skipped with a stated reason)
and its *optional* data, each with the fall-back the analysis uses without it (stated in Russian, as
the book and ``vsoko validate`` show it). An optional item may name alternatives (``unless``): when
one of them is present, the missing item costs nothing (e.g. ОГЭ marks come from ``assessments.mark``
or, without it, from ``scales``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

STATUS_RU = {"ok": "выполняется", "fallback": "выполняется с заменой", "missing": "не выполняется"}


@dataclass(frozen=True)
class Need:
    """A table (``column`` None: the table has rows) or a column with values; ``check`` adds a condition
    on the profile (e.g. two years of marks) and ``text_ru`` says it in words."""

    table: str
    column: str | None = None
    check: Callable[[dict], bool] | None = None
    text_ru: str = ""

    def met(self, profile: dict) -> bool:
        t = profile.get(self.table) or {}
        if int(t.get("rows", 0) or 0) <= 0:
            return False
        if self.column is not None and int((t.get("columns") or {}).get(self.column, 0) or 0) <= 0:
            return False
        return self.check is None or bool(self.check(profile))

    def missing_ru(self, profile: dict) -> str:
        t = profile.get(self.table) or {}
        rows = int(t.get("rows", 0) or 0)
        if rows and self.column is not None and not int((t.get("columns") or {}).get(self.column, 0) or 0):
            return f"в таблице {self.table} не заполнена колонка {self.column}"
        if rows and self.check is not None and self.text_ru:
            return self.text_ru
        if self.column is not None:
            return f"нужна таблица {self.table} с колонкой {self.column}"
        return self.text_ru or f"нужна таблица {self.table}"

    def label(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table


@dataclass(frozen=True)
class Opt:
    """Optional data of an analysis and what the analysis does without it (Russian)."""

    need: Need
    fallback_ru: str
    unless: tuple[Need, ...] = ()  # alternatives: when one is present, the missing item costs nothing
    when: tuple[Need, ...] = ()  # the fall-back works only with these (else another item describes the loss)

    def costs(self, profile: dict) -> bool:
        """Whether the analysis falls back for this item on ``profile``."""
        return (not self.need.met(profile) and not any(u.met(profile) for u in self.unless)
                and all(w.met(profile) for w in self.when))


@dataclass(frozen=True)
class Analysis:
    key: str  # the name under which the chapter emits it (findings.json "analysis" / parts)
    title: str  # Russian
    chapter: str  # chapter stem (vsoko_toolkit.pipeline.chapters)
    requires: tuple[Need, ...]
    optional: tuple[Opt, ...] = ()
    module: str = ""  # where it is computed


def _years(table: str, n: int) -> Need:
    def check(profile: dict) -> bool:
        years = (profile.get(table) or {}).get("years")
        return years is None or len(years) >= n

    return Need(table, None, check, f"нужна таблица {table} хотя бы за {n} учебных года подряд")


def N(table: str, column: str | None = None) -> Need:  # noqa: N802 - a short constructor for the registry
    return Need(table, column)


_MARKS = N("period_marks")
_MARKS2 = _years("period_marks", 2)
_ASSESS = N("assessments")


def _mark_or_scale(profile: dict) -> bool:
    marks = int(((profile.get("assessments") or {}).get("columns") or {}).get("mark", 0) or 0)
    return marks > 0 or int((profile.get("scales") or {}).get("rows", 0) or 0) > 0


_VPR_MARK = Need("assessments", None, _mark_or_scale, "нужна колонка mark в таблице assessments или шкалы "
                 "перевода первичного балла в отметку (таблица scales)")

ANALYSES: tuple[Analysis, ...] = (
    Analysis("context", "Контингент, кадры и учебная нагрузка", "02_context",
             (N("classes"), N("enrollments"), N("teachers"), N("assignments")),
             (Opt(N("students", "special_needs"), "число учеников с ОВЗ не показывается"),
              Opt(N("teachers", "age"), "разрез кадров по возрасту не показывается"),
              Opt(N("teachers", "higher_pedagogical"), "доля учителей с высшим педагогическим образованием "
                  "не показывается"),
              Opt(N("teachers", "pd_hours_3y"), "доля учителей, прошедших повышение квалификации, не показывается"),
              Opt(N("assignments", "hours_per_week"), "перегрузка учителей не оценивается; нагрузка показана "
                  "числом классов и предметов, вакансии выявляются по отметкам")),
             "analysis.context"),
    Analysis("climate", "Климат и удовлетворённость (анкетирование)", "02_context",
             (N("surveys"), N("survey_items")),
             (Opt(N("surveys", "class_id"), "сравнение классов между собой и связь климата класса с "
                  "отметками не проводятся; школа сравнивается с муниципалитетом и с прошлым годом"),),
             "analysis.climate"),
    Analysis("year_metrics", "Успеваемость, качество знаний, СОУ по годовым отметкам", "03_results",
             (_MARKS,), (), "analysis.results"),
    Analysis("comparisons", "Сравнение классов, параллелей и предметов", "03_results",
             (_MARKS,), (), "analysis.comparisons"),
    Analysis("trends", "Динамика результатов за несколько лет", "03_results",
             (_years("period_marks", 3),), (), "analysis.trends"),
    Analysis("objectivity", "Объективность оценивания: ВПР и отметки журнала", "04_external",
             (_ASSESS, _VPR_MARK, _MARKS),
             (Opt(N("assessments", "mark"), "отметка за ВПР выводится из первичного балла по шкале перевода "
                  "(scales)"),
              Opt(N("assessments", "journal_mark"), "отметка журнала берётся из period_marks: последняя "
                  "четвертная (полугодовая) отметка, период которой закончился до даты работы, а в начале года — "
                  "годовая отметка прошлого года"),),
             "analysis.objectivity"),
    Analysis("task_analysis", "Решаемость заданий и проверяемых умений", "04_external",
             (N("assessment_items"), N("assessment_specs")),
             (Opt(N("assessment_specs", "region_pct"), "решаемость заданий сравнивается с Россией (russia_pct), "
                  "а без неё — с другими школами муниципалитета"),
              Opt(N("assessment_specs", "russia_pct"), "сравнение с решаемостью по России не показывается",
                  unless=(N("assessment_specs", "region_pct"),))),
             "analysis.tasks"),
    Analysis("literacy", "Метапредметные результаты и функциональная грамотность", "04a_literacy",
             (_ASSESS, N("assessment_items"), N("assessment_specs", "literacy_domain")),
             (Opt(N("assessments", "level"), "уровень (низкий … высокий) выводится из процента максимального "
                  "первичного балла работы: < 20 % — низкий, 20–40 % — пониженный, 40–60 % — базовый, "
                  "60–80 % — повышенный, ≥ 80 % — высокий"),
              Opt(N("assessment_specs", "region_pct"), "решаемость направлений сравнивается с другими школами "
                  "муниципалитета")),
             "analysis.literacy"),
    Analysis("score_anomalies", "Аномалии баллов: пики у границы «3», резкие скачки", "04_external",
             (_ASSESS,),
             (Opt(N("scales"), "граница «3» восстанавливается по самим результатам муниципалитета "
                  "(первичный балл и отметка в assessments)", when=(N("assessments", "mark"),)),
              Opt(N("assessments", "mark"), "без шкал (scales) и отметок границу «3» не определить: проверка "
                  "пиков у границы не проводится, скачки и сравнение с муниципалитетом выполняются",
                  unless=(N("scales"),)),
              Opt(N("assessments", "test_score"), "ЕГЭ сравнивается по первичному баллу"),
              Opt(N("schools", "social_index"), "сравнение со школами со схожими социальными условиями не "
                  "проводится")),
             "analysis.anomalies"),
    Analysis("exams", "Результаты ОГЭ и ЕГЭ", "04_external",
             (_ASSESS,),
             (Opt(N("assessments", "mark"), "отметки ОГЭ выводятся из первичного балла по шкале перевода (scales)",
                  when=(N("scales"),)),
              Opt(N("scales"), "без отметок (assessments.mark) и шкал перевода (scales) по ОГЭ сравнивается "
                  "только средний первичный балл, доли «2» и «5» не считаются", unless=(N("assessments", "mark"),)),
              Opt(N("assessments", "test_score"), "ЕГЭ сравнивается по среднему первичному баллу; доли ниже "
                  "минимального и 80+ баллов не считаются"),
              Opt(N("enrollments", "medal"), "показатель «медалисты с ЕГЭ ниже 70 баллов» не рассчитывается")),
             "analysis.exams"),
    Analysis("value_added", "Вклад учителей и классов (добавленная ценность)", "05_causes",
             (_MARKS2, N("assignments")),
             (Opt(N("students", "special_needs"), "модель прогресса строится без поправки на ОВЗ"),
              Opt(N("assessments"), "добавленная ценность считается только по годовым отметкам, без внешних "
                  "оценочных процедур")),
             "analysis.value_added"),
    Analysis("factor_models", "Факторы результатов (многоуровневые модели)", "05_causes",
             (_MARKS2, N("assignments"), N("teachers")),
             (Opt(N("attendance"), "фактор «пропуски уроков» не включается в модель"),
              Opt(N("students", "special_needs"), "фактор «ОВЗ» не включается в модель"),
              Opt(N("teachers", "pd_hours_3y"), "фактор «повышение квалификации учителя» не включается в модель"),
              Opt(N("schools", "social_index"), "фактор «социальный индекс школы» не включается в модель")),
             "analysis.factors"),
    Analysis("decisions", "Эффективность управленческих решений", "06_decisions",
             (N("decisions"), _MARKS),
             (Opt(N("decisions", "baseline"), "исходное значение показателя рассчитывается по отметкам целевых "
                  "классов до решения"),
              Opt(N("decisions", "target_value"), "достижение цели не сравнивается; улучшением считается рост "
                  "показателя"),
              Opt(N("decisions", "deadline"), "период «после решения» длится до конца учебного года"),
              Opt(N("decisions", "subject"), "показатель считается по всем предметам"),
              Opt(N("decisions", "target_ids"), "оцениваются только решения, направленные на всю школу; для "
                  "решений по классам, параллелям и учителям нужны их коды")),
             "analysis.decisions"),
    Analysis("risk_groups", "Группы риска неуспеваемости", "07_risk",
             (_MARKS2,),
             (Opt(N("current_marks"), "отметки первого полугодия берутся только из четвертных (полугодовых) "
                  "отметок period_marks"),
              Opt(N("attendance"), "фактор «пропуски уроков» не включается в модель риска"),
              Opt(N("students", "special_needs"), "фактор «ОВЗ» не включается в модель риска"),
              Opt(N("students", "full_name"), "в списке для администрации ученики названы кодами, без ФИО")),
             "analysis.risk"),
    # issue 18: upbringing, personal results and talent work (chapter 07a)
    Analysis("upbringing", "Воспитание и личностные результаты", "07a_upbringing", (N("enrollments"),),
             (Opt(N("activities"), "доли занятости (кружки, дополнительное образование, волонтёрство, ГТО, "
                  "мероприятия) и их связь с отметками не рассчитываются"),
              Opt(N("offences"), "правонарушения и учёт в ПДН не показываются"),
              Opt(N("surveys"), "личностные результаты по анкетам (шкалы personal*) не оцениваются")),
             "analysis.upbringing"),
    Analysis("talent", "Работа с одарёнными: олимпиады", "07a_upbringing", (N("olympiads"),),
             (Opt(N("olympiads", "teacher_id"), "учителя, подготовившие призёров и победителей, не показываются"),),
             "analysis.talent"),
    Analysis("destinations", "Самоопределение выпускников и профориентация", "07b_destinations",
             (N("destinations"),),
             (Opt(N("destinations", "profile"), "уход после 9 класса по профилям и совпадение профиля с экзаменами по "
                  "выбору не оцениваются; показываются только доли по направлениям"),
              Opt(N("classes", "profile"), "профили 10 класса школы неизвестны: в находке об уходе не сказано, есть "
                  "ли такой профиль в школе"),
              Opt(N("assessments"), "совпадение профиля с экзаменами ОГЭ/ЕГЭ по выбору не проверяется")),
             "analysis.destinations"),
    Analysis("indicators", "Показатели самообследования и индекс качества", "08_indicators",
             (N("enrollments"),),
             (Opt(N("indicators"), "показатели, которые не вычисляются из данных, отмечены как отсутствующие"),
              Opt(N("olympiads"), "показатели участия в олимпиадах отмечены как отсутствующие"),
              Opt(N("assessments", "mark"), "отметки ГИА-9 выводятся из первичного балла по шкале перевода "
                  "(scales)", when=(N("scales"),)),
              Opt(N("scales"), "без отметок (assessments.mark) и шкал перевода (scales) показатели ГИА-9 отмечены "
                  "как отсутствующие", unless=(N("assessments", "mark"),)),
              Opt(N("assessments", "test_score"), "средний балл ЕГЭ отмечен как отсутствующий"),
              Opt(N("teachers", "age"), "доли молодых и пожилых учителей отмечены как отсутствующие"),
              Opt(N("teachers", "higher_pedagogical"), "доля учителей с высшим педагогическим образованием "
                  "отмечена как отсутствующая"),
              Opt(N("enrollments", "date_out"), "все зачисленные ученики считаются обучающимися на конец года")),
             "indicators.compute"),
    Analysis("root_causes", "Проверка причин выявленных проблем", "09_synthesis",
             (_MARKS,),
             (Opt(N("attendance"), "причина «пропуски уроков» не проверяется (вердикт «нет данных»)"),
              Opt(N("assessment_items"), "причина «дефициты отдельных умений» не проверяется"),
              Opt(N("surveys"), "причина «неблагоприятный климат» не проверяется"),
              Opt(N("surveys", "class_id"), "проверка «климат ниже во многих классах» не проводится")),
             "analysis.root_causes"),
)


def _one(a: Analysis, profile: dict) -> dict:
    missing = [n.missing_ru(profile) for n in a.requires if not n.met(profile)]
    fallbacks = [o for o in a.optional if o.costs(profile)]
    if missing:
        status = "missing"
        needs = "; ".join(dict.fromkeys(missing))
        fallback = ""
    elif fallbacks:
        status = "fallback"
        needs = "; ".join(dict.fromkeys(o.need.missing_ru(profile) for o in fallbacks))
        fallback = "; ".join(dict.fromkeys(o.fallback_ru for o in fallbacks))
    else:
        status, needs, fallback = "ok", "", ""
    return {"analysis": a.key, "title": a.title, "chapter": a.chapter, "status": status,
            "status_ru": STATUS_RU[status], "needs_ru": needs, "fallback_ru": fallback}


def readiness(profile: dict, analyses: tuple[Analysis, ...] = ANALYSES) -> pd.DataFrame:
    """Per analysis of the school book: whether ``profile``'s data lets it run.

    Columns: analysis, title (ru), chapter (notebook stem), status (``ok`` / ``fallback`` / ``missing``),
    status_ru, needs_ru (the missing data, naming tables and columns as in the contract), fallback_ru
    (what the analysis does instead; empty when it runs in full or not at all).
    """
    return pd.DataFrame([_one(a, profile) for a in analyses],
                        columns=["analysis", "title", "chapter", "status", "status_ru", "needs_ru", "fallback_ru"])


def optional_usage(analyses: tuple[Analysis, ...] = ANALYSES) -> pd.DataFrame:
    """Every optional table and column of the contract: the analyses that read it and the fall-back of each.

    Columns: item (``table`` or ``table.column``), kind (``table`` / ``column``), analyses (keys, «; »),
    fallback_ru (per analysis: «key: what it does without the item»). Optional data no analysis reads
    is listed with «не используется анализами книги».
    """
    from ..contract.spec import TABLES

    items: list[str] = []
    for t in TABLES.values():
        if not t.required:
            items.append(t.name)
        items += [f"{t.name}.{c.name}" for c in t.columns if not c.required]
    uses: dict[str, list[tuple[str, str]]] = {i: [] for i in items}
    for a in analyses:
        for o in a.optional:
            uses.setdefault(o.need.label(), []).append((a.key, o.fallback_ru))
        for n in a.requires:  # a required need of an analysis on an optional item: no fall-back, skipped
            if n.label() in uses:
                uses[n.label()].append((a.key, "без этих данных анализ не выполняется (пропуск с указанием "
                                                "причины)"))
    rows = []
    for item, us in uses.items():
        rows.append({"item": item, "kind": "column" if "." in item else "table",
                     "analyses": "; ".join(dict.fromkeys(k for k, _ in us)),
                     "fallback_ru": "; ".join(dict.fromkeys(f"{k}: {f}" for k, f in us)) if us else
                     "не используется анализами книги"})
    return pd.DataFrame(rows, columns=["item", "kind", "analyses", "fallback_ru"])
