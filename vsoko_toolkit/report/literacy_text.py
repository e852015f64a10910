"""Russian wording of the functional-literacy analysis (labels, finding texts, skip reasons).

Imports nothing from ``analysis`` (the analysis imports it to word its findings)."""

from __future__ import annotations

from . import phrases as ph
from .text import count

DOMAIN_RU = {"reading": "читательская грамотность", "math": "математическая грамотность",
             "science": "естественнонаучная грамотность", "financial": "финансовая грамотность",
             "global": "глобальные компетенции", "creative": "креативное мышление"}
DOMAIN_GEN = {"reading": "читательской грамотности", "math": "математической грамотности",
              "science": "естественнонаучной грамотности", "financial": "финансовой грамотности",
              "global": "глобальных компетенций", "creative": "креативного мышления"}
LEVEL_RU = {"low": "низкий", "reduced": "пониженный", "basic": "базовый", "advanced": "повышенный",
            "high": "высокий"}
SOURCE_RU = {"region": "по региону", "municipality": "по другим школам муниципалитета"}

SKIP_NO_COLUMN = ("Анализ функциональной грамотности не проводился: в таблице assessment_specs не заполнена "
                  "колонка literacy_domain (направление грамотности задания: reading, math, science, financial, "
                  "global, creative). Нужны диагностические работы (assessments вида RDR, NIKO или SCHOOL) с "
                  "поэлементными баллами (assessment_items) и заданиями, размеченными по направлениям.")


def skip_no_works(year: int) -> str:
    return (f"Анализ функциональной грамотности не проводился: за {ph.academic_year(year)} учебный год у школы "
            "нет диагностических работ, задания которых размечены по направлениям функциональной грамотности "
            "(assessment_specs.literacy_domain), с результатами учеников (assessments, assessment_items).")


def cuts_text(cuts) -> str:
    a, b, c, d = (ph.num(x, 0) for x in cuts)
    return (f"меньше {a} % максимального первичного балла — низкий, {a}–{b} % — пониженный, {b}–{c} % — базовый, "
            f"{c}–{d} % — повышенный, {d} % и больше — высокий")


def finding_text(r, domain: str, who: str, n_units: int, src: str, classes: list, teachers: list) -> tuple:
    """(title, evidence, recommendation text) of a ``literacy_deficit`` finding."""
    dom, gen = DOMAIN_RU[domain], DOMAIN_GEN[domain]
    pupils = count(int(r.n), "ученик", "ученика", "учеников")
    title = f"Дефицит {gen} {who} (диагностика функциональной грамотности)"
    cls = ""
    if classes:
        cls = " Отставание сосредоточено в классах: " + ", ".join(
            f"{ph.class_label(c['class_id'])} ({ph.pct(c['pct'])}, разница с остальными направлениями "
            f"{ph.pp(c['rel_gap'])})" for c in classes) + "."
    p_txt = "p\u00a0<\u00a00,0001" if r.p_value < 1e-4 else f"p\u00a0=\u00a0{ph.num(r.p_value, 4)}"
    tch = f" Учителя, к которым относится вывод: {', '.join(teachers)}." if teachers else ""
    evidence = (f"{who[0].upper()}{who[1:]} ({pupils}) задания направления «{dom}» выполнены на {ph.pct(r.pct)} при "
                f"{ph.pct(r.bench)} {SOURCE_RU.get(src, src)} (разница {ph.pp(r.gap)}, 95\u00a0% ДИ "
                f"{ph.pp(r.ci_low)} … {ph.pp(r.ci_high)}). По остальным направлениям той же работы у этих же учеников "
                f"разница со сравнением {ph.pp(r.rest_gap)}: по направлению «{dom}» результат ниже их собственного "
                f"общего уровня на {ph.pp(-r.rel_gap).lstrip('+')} (односторонний t-тест, "
                f"{p_txt}; "
                f"{ph.q_text(r.q_value, n_units)} сочетаний «параллель — направление»).{cls}{tch}")
    rec = (f"Включить задания на {dom[0].lower()}{dom[1:]} в уроки предметов этого направления и во внеурочную "
           f"деятельность {who}; повторить диагностику по направлению «{dom}» в конце следующего полугодия.")
    return title, evidence, rec
