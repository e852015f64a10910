"""The canonical data contract as data.

Every table of ``shared/contract/DATA_CONTRACT.md`` is declared here once; the
reader, the validator, the warehouse schema and the documentation are derived
from these declarations (nothing about a column is repeated elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColType = Literal["str", "int", "float", "bool", "date", "code", "mark"]

#: Canonical non-numeric journal entries (kept as text, never coerced to numbers).
NON_NUMERIC_MARKS: dict[str, tuple[str, ...]] = {
    "н/а": ("н/а", "на", "н\\а", "н/а.", "не аттестован", "неаттестован", "na"),
    "зач": ("зач", "зач.", "зачёт", "зачет", "зачтено"),
    "незач": ("незач", "незач.", "незачёт", "незачет", "не зачтено"),
    "осв": ("осв", "осв.", "освобождён", "освобожден", "освобождена"),
    "неосв": ("неосв", "не освоено", "неосв."),
    "отс": ("отс", "отс.", "отсутствовал", "отсутствовала"),
}

#: Vocabularies: canonical code -> accepted labels (matched trimmed, case-insensitive).
VOCABULARIES: dict[str, dict[str, tuple[str, ...]]] = {
    "sex": {"m": ("m", "м", "муж", "мужской", "male"), "f": ("f", "ж", "жен", "женский", "female")},
    "locality": {
        "city": ("city", "город", "г."),
        "town": ("town", "посёлок", "поселок", "пгт", "пос."),
        "village": ("village", "село", "деревня", "с.", "д."),
    },
    "category": {
        "highest": ("highest", "высшая", "высшая категория", "вкк"),
        "first": ("first", "первая", "первая категория", "1 категория", "1кк"),
        "conformity": ("conformity", "соответствие", "соответствие занимаемой должности", "сзд"),
        "none": ("none", "без категории", "нет", "нет категории", "б/к"),
    },
    "period": {
        "q1": ("q1", "1 четверть", "i четверть", "1-я четверть", "четверть 1"),
        "q2": ("q2", "2 четверть", "ii четверть", "2-я четверть", "четверть 2"),
        "q3": ("q3", "3 четверть", "iii четверть", "3-я четверть", "четверть 3"),
        "q4": ("q4", "4 четверть", "iv четверть", "4-я четверть", "четверть 4"),
        "h1": ("h1", "1 полугодие", "i полугодие", "1-е полугодие", "полугодие 1"),
        "h2": ("h2", "2 полугодие", "ii полугодие", "2-е полугодие", "полугодие 2"),
        "year": ("year", "год", "годовая", "годовая оценка", "за год"),
    },
    "kind": {
        "VPR": ("vpr", "впр"),
        "OGE": ("oge", "огэ"),
        "EGE": ("ege", "егэ"),
        "GVE": ("gve", "гвэ"),
        "RDR": ("rdr", "рдр", "региональная диагностическая работа"),
        "NIKO": ("niko", "нико"),
        "SCHOOL": ("school", "школьная", "школьная диагностика"),
    },
    "stage": {
        "school": ("school", "школьный", "школьный этап"),
        "municipal": ("municipal", "муниципальный", "муниципальный этап"),
        "regional": ("regional", "региональный", "региональный этап"),
        "final": ("final", "заключительный", "заключительный этап", "всероссийский"),
    },
    "status": {
        "participant": ("participant", "участник"),
        "prize": ("prize", "призёр", "призер"),
        "winner": ("winner", "победитель"),
    },
    "respondent_type": {
        "student": ("student", "ученик", "учащийся", "обучающийся"),
        "parent": ("parent", "родитель"),
        "teacher": ("teacher", "учитель", "педагог"),
    },
    "level": {
        "municipality": ("municipality", "муниципалитет", "муниципальный"),
        "region": ("region", "регион", "региональный"),
        "russia": ("russia", "россия", "рф"),
    },
    "target_type": {
        "school": ("school", "школа"),
        "grade": ("grade", "параллель"),
        "class": ("class", "класс"),
        "teacher": ("teacher", "учитель", "педагог"),
        "subject": ("subject", "предмет"),
        "students": ("students", "обучающиеся", "ученики", "учащиеся"),
    },
    "medal": {
        "gold": ("gold", "золото", "золотая", "медаль 1 степени", "1 степени"),
        "silver": ("silver", "серебро", "серебряная", "медаль 2 степени", "2 степени"),
    },
    # issue 18 (meta-subject results): functional-literacy domain of a diagnostic task, level of a work
    "literacy_domain": {
        "reading": ("reading", "читательская", "читательская грамотность", "чг"),
        "math": ("math", "математическая", "математическая грамотность", "мг"),
        "science": ("science", "естественнонаучная", "естественнонаучная грамотность", "енг"),
        "financial": ("financial", "финансовая", "финансовая грамотность", "фг"),
        "global": ("global", "глобальные компетенции", "глобальная компетентность", "гк"),
        "creative": ("creative", "креативное мышление", "креативное", "км"),
    },
    "literacy_level": {
        "low": ("low", "низкий", "низкий уровень"),
        "reduced": ("reduced", "пониженный", "пониженный уровень"),
        "basic": ("basic", "базовый", "базовый уровень"),
        "advanced": ("advanced", "повышенный", "повышенный уровень"),
        "high": ("high", "высокий", "высокий уровень"),
    },
    # issue 18 (upbringing and talent): activities and offences
    "activity_kind": {
        "club": ("club", "кружок", "клуб", "секция кружка"),
        "additional_education": ("additional_education", "дополнительное образование", "допобразование",
                                 "до", "доп. образование"),
        "volunteering": ("volunteering", "волонтёрство", "волонтерство", "добровольчество"),
        "gto": ("gto", "гто", "комплекс гто"),
        "school_event": ("school_event", "школьное мероприятие", "мероприятие", "школьное событие"),
        "sport": ("sport", "спорт", "спортивная секция", "соревнования"),
        "other": ("other", "другое", "иное", "прочее"),
    },
    "activity_level": {
        "school": ("school", "школьный", "школа"),
        "municipal": ("municipal", "муниципальный", "муниципалитет"),
        "regional": ("regional", "региональный", "регион"),
        "federal": ("federal", "федеральный", "всероссийский", "россия"),
    },
    "activity_result": {
        "participant": ("participant", "участник", "участие"),
        "winner": ("winner", "победитель", "золотой знак"),
        "prize_winner": ("prize_winner", "призёр", "призер", "серебряный знак", "бронзовый знак"),
    },
    "offence_kind": {
        "offence": ("offence", "правонарушение", "правонарушения"),
        "pdn_registration": ("pdn_registration", "учёт в пдн", "учет в пдн", "постановка на учёт в пдн",
                             "постановка на учет в пдн", "пдн"),
    },
    # graduates' destinations (optional table destinations)
    "destination": {
        "own_10": ("own_10", "10 класс своей школы", "10 класс этой школы", "свой 10 класс", "10 класс (своя школа)"),
        "other_10": ("other_10", "10 класс другой школы", "другая школа", "10 класс (другая школа)"),
        "spo": ("spo", "спо", "колледж", "техникум", "среднее профессиональное образование"),
        "university": ("university", "вуз", "университет", "высшее образование"),
        "work": ("work", "работа", "трудоустройство", "трудоустроен"),
        "other": ("other", "другое", "иное", "прочее"),
    },
    "direction": {
        "technical": ("technical", "технический", "техническое", "инженерный", "инженерно-технический"),
        "science": ("science", "естественнонаучный", "естественно-научный", "естественнонаучное"),
        "socio_economic": ("socio_economic", "социально-экономический", "экономический"),
        "humanities": ("humanities", "гуманитарный", "гуманитарное"),
        "pedagogical": ("pedagogical", "педагогический", "педагогическое"),
        "medical": ("medical", "медицинский", "медицинское"),
        "creative": ("creative", "творческий", "творческое", "искусство"),
        "other": ("other", "другое", "иное", "прочее"),
    },
}

#: Level of a literacy work when ``assessments.level`` is empty, from the percent of the work's maximum
#: primary score: [0, 20) low, [20, 40) reduced, [40, 60) basic, [60, 80) advanced, [80, 100] high.
LITERACY_LEVEL_CUTS: tuple[float, ...] = (20.0, 40.0, 60.0, 80.0)

BOOL_LABELS: dict[bool, tuple[str, ...]] = {
    True: ("1", "true", "t", "да", "д", "yes", "y", "истина", "+"),
    False: ("0", "false", "f", "нет", "н", "no", "n", "ложь", "-"),
}


@dataclass(frozen=True)
class Column:
    """One column of a contract table."""

    name: str
    type: ColType = "str"
    required: bool = True  # the column must be present and every value non-empty
    vocab: str | None = None  # key of VOCABULARIES for type "code"
    low: float | None = None  # inclusive range for numbers
    high: float | None = None
    ref: str | None = None  # "table.column" foreign key
    personal: bool = False  # personal data: never leaves the warehouse into public builds


@dataclass(frozen=True)
class Table:
    """One contract table: its columns, key and the rules that span rows."""

    name: str
    columns: tuple[Column, ...]
    required: bool = False
    key: tuple[str, ...] = ()
    # columns checked for the academic-year window against the row's class year
    dates_in_year: tuple[str, ...] = ()
    # the (student_id, class_id) pair must be an enrollment of that student
    mark_class: bool = False
    # the slice this table's rows belong to: "class" (via class_id), "own" (school_id, year),
    # "student_year" (via the student's enrollment that year), or None (entity/reference table)
    slice_by: Literal["class", "own", "student_year", "school", None] = None
    extra: dict = field(default_factory=dict)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def C(name: str, type: ColType = "str", required: bool = True, **kw) -> Column:  # noqa: N802
    return Column(name, type, required, **kw)


def _opt(name: str, type: ColType = "str", **kw) -> Column:
    return Column(name, type, False, **kw)


YEAR = dict(low=2000, high=2100)
_WORK = (C("kind", "code", vocab="kind"), C("subject"), C("grade", "int", low=1, high=11), C("year", "int", **YEAR))

TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table("schools", (C("school_id"), C("name"), C("municipality"),
                          _opt("locality", "code", vocab="locality"), _opt("social_index", "float")),
              required=True, key=("school_id",), slice_by="school"),
        Table("teachers", (C("teacher_id"), C("school_id", ref="schools.school_id"),
                           _opt("full_name", personal=True), C("category", "code", vocab="category"),
                           C("experience_years", "int", low=0, high=70),
                           _opt("higher_pedagogical", "bool"), _opt("age", "int", low=16, high=100),
                           _opt("pd_hours_3y", "int", low=0, high=5000)),
              required=True, key=("teacher_id",), slice_by="school"),
        Table("classes", (C("class_id"), C("school_id", ref="schools.school_id"), C("year", "int", **YEAR),
                          C("grade", "int", low=1, high=11), C("letter"), _opt("profile"),
                          _opt("homeroom_teacher_id", ref="teachers.teacher_id")),
              required=True, key=("class_id",), slice_by="own"),
        Table("students", (C("student_id"), _opt("sex", "code", vocab="sex"),
                           _opt("birth_date", "date", personal=True), _opt("full_name", personal=True),
                           _opt("special_needs", "bool")),
              required=True, key=("student_id",)),
        Table("enrollments", (C("student_id", ref="students.student_id"), C("class_id", ref="classes.class_id"),
                              _opt("date_in", "date"), _opt("date_out", "date"),
                              _opt("medal", "code", vocab="medal")),
              required=True, key=("student_id", "class_id"), dates_in_year=("date_in", "date_out"),
              slice_by="class"),
        Table("assignments", (C("teacher_id", ref="teachers.teacher_id"), C("class_id", ref="classes.class_id"),
                              C("subject"), _opt("hours_per_week", "float", low=0, high=40)),
              required=True, key=("teacher_id", "class_id", "subject"), slice_by="class"),
        Table("period_marks", (C("student_id", ref="students.student_id"), C("class_id", ref="classes.class_id"),
                               C("subject"), C("period", "code", vocab="period"), C("mark", "mark")),
              required=True, key=("student_id", "class_id", "subject", "period"), mark_class=True,
              slice_by="class"),
        Table("current_marks", (C("student_id", ref="students.student_id"), C("class_id", ref="classes.class_id"),
                                C("subject"), C("date", "date"), C("mark", "mark"),
                                _opt("weight", "float", low=0, high=100), _opt("work_type")),
              mark_class=True, dates_in_year=("date",), slice_by="class"),
        Table("attendance", (C("student_id", ref="students.student_id"), C("class_id", ref="classes.class_id"),
                             C("period", "code", vocab="period"), C("lessons_total", "int", low=0, high=5000),
                             C("lessons_missed", "int", low=0, high=5000),
                             _opt("missed_unexcused", "int", low=0, high=5000)),
              key=("student_id", "class_id", "period"), mark_class=True, slice_by="class"),
        Table("assessments", (C("student_id", ref="students.student_id"), C("class_id", ref="classes.class_id"),
                              C("kind", "code", vocab="kind"), C("subject"), C("date", "date"),
                              C("primary_score", "float", low=0, high=1000), _opt("mark", "int", low=1, high=5),
                              _opt("test_score", "float", low=0, high=100), _opt("variant"),
                              _opt("journal_mark", "int", low=1, high=5),
                              _opt("level", "code", vocab="literacy_level")),
              key=("student_id", "kind", "subject", "date"), mark_class=True, dates_in_year=("date",),
              slice_by="class"),
        Table("assessment_specs", (*_WORK, C("task"), C("max_score", "float", low=0.01, high=1000), C("skill"),
                                   _opt("region_pct", "float", low=0, high=100),
                                   _opt("russia_pct", "float", low=0, high=100),
                                   _opt("literacy_domain", "code", vocab="literacy_domain")),
              key=("kind", "subject", "grade", "year", "task")),
        Table("assessment_items", (C("student_id", ref="students.student_id"), C("kind", "code", vocab="kind"),
                                   C("subject"), C("year", "int", **YEAR), C("task"),
                                   C("score", "float", low=0, high=1000)),
              key=("student_id", "kind", "subject", "year", "task"), slice_by="student_year"),
        Table("assessment_benchmarks", (*_WORK, C("level", "code", vocab="level"),
                                        C("share_2", "float", low=0, high=1), C("share_3", "float", low=0, high=1),
                                        C("share_4", "float", low=0, high=1), C("share_5", "float", low=0, high=1),
                                        _opt("mean_score", "float", low=0, high=1000)),
              key=("kind", "subject", "grade", "year", "level")),
        Table("scales", (*_WORK, C("mark", "int", low=3, high=5), C("min_primary", "float", low=0, high=1000)),
              key=("kind", "subject", "grade", "year", "mark")),
        Table("olympiads", (C("student_id", ref="students.student_id"), C("year", "int", **YEAR), C("subject"),
                            C("stage", "code", vocab="stage"), C("status", "code", vocab="status"),
                            _opt("teacher_id", ref="teachers.teacher_id")),
              key=("student_id", "year", "subject", "stage"), slice_by="student_year"),
        # graduates' destinations after grade 9 / 11 (year = school year of graduation; one row per graduate)
        Table("destinations", (C("student_id", ref="students.student_id"), C("year", "int", **YEAR),
                               C("grade", "int", low=9, high=11), C("destination", "code", vocab="destination"),
                               _opt("profile", "code", vocab="direction"), _opt("institution")),
              key=("student_id", "year"), slice_by="student_year",
              extra={"graduate_grades": (9, 11), "doc_ru": (
                  "Куда ушли выпускники 9 и 11 классов: строка на выпускника, year — учебный год выпуска, "
                  "grade — класс, который ученик окончил в этом году (9 или 11; он должен совпадать с классом "
                  "ученика в enrollments). profile — направление колледжа или вуза (для own_10/other_10 можно не "
                  "заполнять), institution — название (в публичную версию не попадает).")}),
        Table("survey_items", (C("item_id"), C("text"), C("scale"), C("reverse", "bool")), key=("item_id",)),
        Table("surveys", (C("school_id", ref="schools.school_id"), C("year", "int", **YEAR),
                          C("respondent_type", "code", vocab="respondent_type"), C("respondent_id"),
                          _opt("class_id", ref="classes.class_id"), C("item_id", ref="survey_items.item_id"),
                          C("response", "int", low=1, high=5)),
              key=("school_id", "year", "respondent_type", "respondent_id", "item_id"), slice_by="own"),
        Table("indicators", (C("school_id", ref="schools.school_id"), C("year", "int", **YEAR),
                             C("indicator_id"), C("value")),
              key=("school_id", "year", "indicator_id"), slice_by="own"),
        Table("decisions", (C("decision_id"), C("school_id", ref="schools.school_id"), C("year", "int", **YEAR),
                            C("date", "date"), C("problem"), C("action"),
                            C("target_type", "code", vocab="target_type"), _opt("target_ids"), _opt("subject"),
                            C("responsible"), C("metric"), _opt("baseline", "float"),
                            _opt("target_value", "float"), _opt("deadline", "date")),
              key=("decision_id",), slice_by="own"),
        # issue 18: students' activities (clubs, additional education, volunteering, ГТО, events) and
        # offence / ПДН registration counts (counts only: no student ids in this sensitive table)
        Table("activities", (C("student_id", ref="students.student_id"), C("year", "int", **YEAR),
                             C("kind", "code", vocab="activity_kind"), _opt("name"),
                             _opt("level", "code", vocab="activity_level"),
                             _opt("result", "code", vocab="activity_result")),
              slice_by="student_year",
              extra={"note_ru": "Одна строка — одно занятие ученика в учебном году (кружок, секция, волонтёрский "
                                "отряд, сдача ГТО: result — знак ГТО/итог, level — уровень мероприятия). Глава "
                                "«Воспитание, личностные результаты и работа с одарёнными» считает доли занятых. "
                                "Личностные результаты по анкетам — в surveys/survey_items: шкалы, код которых "
                                "начинается с `personal` (например `personal_citizenship`), анализ климата их "
                                "не берёт."}),
        Table("offences", (C("school_id", ref="schools.school_id"), C("year", "int", **YEAR),
                           C("kind", "code", vocab="offence_kind"), C("count", "int", low=0, high=100000),
                           _opt("class_id", ref="classes.class_id")),
              key=("school_id", "year", "kind", "class_id"), slice_by="own",
              extra={"note_ru": "Только числа случаев (правонарушения, постановка на учёт в ПДН) по школе или "
                                "классу — без кодов и имён учеников."}),
        # the municipality's register (МСОКО): decisions addressed to schools, re-diagnosed with schools as units
        Table("municipal_decisions", (C("decision_id"), _opt("municipality"), C("year", "int", **YEAR),
                                      C("date", "date"), C("problem"), C("action"),
                                      _opt("target_type", "code", vocab="target_type"), _opt("target_ids"),
                                      _opt("subject"), C("responsible"), C("metric"), _opt("baseline", "float"),
                                      _opt("target_value", "float"), _opt("deadline", "date")),
              key=("decision_id",)),
    ]
}

#: Russian column headers accepted in place of the contract's names (matched trimmed, case-insensitive).
#: The action plan is written with these headers, so it reads back as next year's decisions register.
HEADER_LABELS: dict[str, dict[str, str]] = {
    "decisions": {
        "decision_id": "№ решения", "school_id": "Школа", "year": "Учебный год (окончание)",
        "date": "Дата вступления в силу", "problem": "Проблема", "action": "Мероприятие",
        "target_type": "Тип адресата", "target_ids": "Адресаты (коды через ;)", "subject": "Предмет",
        "responsible": "Ответственный", "metric": "Контрольный показатель", "baseline": "Исходное значение",
        "target_value": "Целевое значение", "deadline": "Срок",
    },
    "municipal_decisions": {
        "decision_id": "№ решения", "municipality": "Муниципалитет", "year": "Учебный год (окончание)",
        "date": "Дата вступления в силу", "problem": "Проблема", "action": "Мероприятие",
        "target_type": "Тип адресата", "target_ids": "Школы (коды через ;)", "subject": "Предмет",
        "responsible": "Ответственный", "metric": "Контрольный показатель", "baseline": "Исходное значение",
        "target_value": "Целевое значение", "deadline": "Срок",
    },
}

#: Ingest order: parents before children (foreign keys are checked against accepted parents).
ORDER: tuple[str, ...] = tuple(TABLES)

#: Tables whose rows are scoped by a class, so carry school_id/year/grade of that class.
CLASS_SCOPED = tuple(n for n, t in TABLES.items() if t.slice_by == "class")
