"""Russian wording of the graduates' self-determination analysis (titles, evidence, labels)."""

from __future__ import annotations

from .phrases import pp, q_text, share_with_ci
from .text import academic_year

DESTINATION_RU = {"own_10": "10 класс своей школы", "other_10": "10 класс другой школы", "spo": "колледж (СПО)",
                  "university": "вуз", "work": "работа", "other": "другое"}
PROFILE_RU = {"technical": "технический", "science": "естественнонаучный", "socio_economic": "социально-экономический",
              "humanities": "гуманитарный", "pedagogical": "педагогический", "medical": "медицинский",
              "creative": "творческий", "other": "другое"}
PROFILE_GEN = {"technical": "технического", "science": "естественнонаучного",
               "socio_economic": "социально-экономического", "humanities": "гуманитарного",
               "pedagogical": "педагогического", "medical": "медицинского", "creative": "творческого",
               "other": "другого"}
SKIP_NO_TABLE = ("Нет таблицы destinations (куда ушли выпускники 9 и 11 классов): раздел о самоопределении "
                 "выпускников не строится. Чтобы он появился, добавьте destinations.csv (см. docs/DATA.md).")


def skip_no_school(year: int) -> str:
    return f"В таблице destinations нет выпускников школы за {academic_year(year)} учебный год."


def years_text(years) -> str:
    years = sorted(years)
    if not years:
        return "—"
    if len(years) == 1:
        return f"{academic_year(years[0])} учебный год"
    return f"{academic_year(years[0])} — {academic_year(years[-1])} учебные годы"


def outflow_title(profile: str, offered: bool) -> str:
    tail = "" if offered else " — профиль, которого нет в 10 классе школы"
    return f"Много выпускников 9 класса уходят в колледжи {PROFILE_GEN.get(profile, profile)} профиля{tail}"


def outflow_evidence(profile: str, k1, n1, p1, lo1, hi1, k2, n2, p2, lo2, hi2, diff, dlo, dhi, q, m, years,
                     offered_ru: str) -> str:
    return (f"За {years_text(years)} после 9 класса в колледжи и другие школы {PROFILE_GEN.get(profile, profile)} "
            f"профиля ушли {share_with_ci(p1, k1, n1, lo1, hi1)} выпускников школы; в других школах муниципалитета — "
            f"{share_with_ci(p2, k2, n2, lo2, hi2)}. Разница {pp(diff)} (95\u00a0% ДИ {pp(dlo)} … {pp(dhi)}), "
            f"{q_text(q, m)}. Профили 10 классов школы за эти годы: {offered_ru}.")


def outflow_recommendation(profile: str, offered: bool, year: int) -> str:
    what = (f"обсудить с учениками 8–9 классов и родителями, почему выбирают колледжи "
            f"{PROFILE_GEN.get(profile, profile)} профиля")
    if not offered:
        what += (f"; рассмотреть открытие в 10 классе {PROFILE_GEN.get(profile, profile)} профиля (или группы, "
                 "сетевую программу с колледжем или вузом)")
    return (f"Заместителю директора по учебно-воспитательной работе: {what}; усилить профориентацию в 8–9 классах; "
            f"к августу {year + 1} г. сравнить долю ушедших с этой.")


def mismatch_title(grade: int) -> str:
    return (f"Выпускники {grade} класса реже выбирают профиль обучения, соответствующий сданным экзаменам "
            "по выбору")


def mismatch_evidence(grade: int, k1, n1, p1, lo1, hi1, k2, n2, p2, lo2, hi2, diff, dlo, dhi, q, m, years) -> str:
    exam = "ЕГЭ" if grade == 11 else "ОГЭ"
    return (f"За {years_text(years)} профиль вуза или колледжа совпал хотя бы с одним экзаменом {exam} по выбору у "
            f"{share_with_ci(p1, k1, n1, lo1, hi1)} выпускников {grade} класса школы (учтены поступившие с известным "
            f"профилем и сдававшие экзамены по выбору); в других школах муниципалитета — "
            f"{share_with_ci(p2, k2, n2, lo2, hi2)}. Разница {pp(diff)} (95\u00a0% ДИ {pp(dlo)} … {pp(dhi)}), "
            f"{q_text(q, m)}.")


def mismatch_recommendation(grade: int, year: int) -> str:
    return ("Заместителю директора по учебно-воспитательной работе и классным руководителям выпускных классов: "
            "начинать выбор экзаменов с разговора о будущем профиле обучения (индивидуальные консультации, "
            f"профориентационные пробы), к августу {year + 1} г. сравнить совпадение профиля и экзаменов.")


NOT_OFFERED_HYPOTHESIS = "Этого профиля нет в 10 классе школы"


def not_offered_evidence(profile: str, offered_ru: str, known: bool, offered: bool) -> str:
    gen = PROFILE_GEN.get(profile, profile)
    if not known:
        return ("Профили 10 классов школы неизвестны (нет колонки classes.profile): проверить, есть ли в школе "
                f"продолжение обучения {gen} профиля, нельзя.")
    if offered:
        return (f"Профиль есть в 10 классе школы ({offered_ru}): ученики уходят не потому, что продолжить "
                f"обучение {gen} профиля в школе негде.")
    return (f"В 10 классах школы за эти годы были профили: {offered_ru}; {gen} профиля нет. Ученики, выбравшие "
            "его, могут продолжить такое обучение только вне школы.")
