"""Russian wording of the upbringing analysis (findings, notes, tables, glue) — ``analysis/upbringing.py``."""

from __future__ import annotations

import pandas as pd

from ..privacy import suppress_small
from . import text as t
from .glue import _glue

KIND_RU = {"club": "кружки", "additional_education": "дополнительное образование", "volunteering": "волонтёрство",
           "gto": "ГТО", "school_event": "школьные мероприятия", "sport": "спорт", "other": "другое",
           "any": "любая занятость"}
OFFENCE_RU = {"offence": "правонарушения", "pdn_registration": "постановка на учёт в ПДН"}
COMPARISON_RU = {"municipality": "с другими школами муниципалитета", "last_year": "с прошлым годом",
                 "trend": "по динамике за годы"}
NO_ACTIVITIES = ("Нет данных о занятости обучающихся (таблица activities.csv): доли участия в кружках, "
                 "дополнительном образовании, волонтёрстве, ГТО и мероприятиях не рассчитаны.")
NO_OFFENCES = "Нет данных о правонарушениях и учёте в ПДН (таблица offences.csv): этот раздел не рассчитан."
NO_SCALES = ("В анкетах нет шкал личностных результатов (пункты survey_items со шкалой, начинающейся с "
             "«personal»): личностные результаты по анкетам не оценены.")
UNRELIABLE = ("Ни одна шкала личностных результатов не надёжна (α Кронбаха < 0,7): средние показаны, "
              "но выводы по ним не делаются.")


def _item_ru(family: str, item: str) -> str:
    if family == "participation":
        return KIND_RU.get(item, item)
    if family.startswith("offences"):
        return OFFENCE_RU.get(item, item)
    return item.split(":")[1]


def title(kind: str, item: str, comparisons: list[str]) -> str:
    cmp = " и ".join(COMPARISON_RU[c] for c in comparisons)
    if kind == "low_participation":
        return f"Участие обучающихся («{KIND_RU.get(item, item)}») ниже в сравнении {cmp}"
    if kind == "high_offences":
        return f"Показатель «{OFFENCE_RU.get(item, item)}» на 100 обучающихся выше в сравнении {cmp}"
    return f"Шкала личностных результатов «{item.split(':')[1]}» ниже в сравнении {cmp}"


def sentence(r, m: int) -> str:
    q = f"p = {t.num(r.p_value, 4)}, q = {t.num(r.q_value, 4)} (поправка Бенджамини — Хохберга на {m} сравнений)"
    if r.family == "participation":
        who = "в других школах муниципалитета" if r.comparison == "municipality" else "в школе в прошлом году"
        return (f"«{KIND_RU.get(r.item, r.item)}»: {t.pct(r.value)} обучающихся ({t.interval(r.lower, r.upper)}, "
                f"n = {t.fmt_int(r.n)}) против {t.pct(r.value_cmp)} {who}; разница "
                f"{t.num(100 * r.diff, 1)} п. п. ({t.interval(r.diff_lower, r.diff_upper, digits=1)}), {q}.")
    if r.family == "offences":
        return (f"«{OFFENCE_RU.get(r.item, r.item)}»: {t.num(r.value, 1)} на 100 обучающихся "
                f"({t.interval(r.lower, r.upper, as_pct=False, digits=1)}) против {t.num(r.value_cmp, 1)} "
                f"в других школах муниципалитета, {q}.")
    if r.family == "offences_trend":
        return (f"«{OFFENCE_RU.get(r.item, r.item)}»: за {t.count(r.n, 'год', 'года', 'лет')} частота меняется в "
                f"{t.num(r.value, 2)} раза в год ({t.interval(r.lower, r.upper, as_pct=False)}), {q}.")
    return (f"Шкала «{_item_ru(r.family, r.item)}»: среднее {t.num(r.value)} против {t.num(r.value_cmp)} в других "
            f"школах (разница {t.num(r.diff)}, {t.interval(r.diff_lower, r.diff_upper, as_pct=False)}), {q}.")


def recommendation(kind: str, item: str, year: int) -> str:
    nxt = t.academic_year(int(year) + 1)
    if kind == "low_participation":
        return (f"Выяснить (анкета, беседы с классными руководителями), почему обучающиеся реже участвуют "
                f"(«{KIND_RU.get(item, item)}»), и расширить предложение к началу {nxt} учебного года.")
    if kind == "high_offences":
        return (f"Проанализировать случаи («{OFFENCE_RU.get(item, item)}») с социальным педагогом и психологом, "
                f"включить профилактические мероприятия в план воспитательной работы на {nxt} учебный год.")
    return f"Обсудить результаты шкалы «{item.split(':')[1]}» на педагогическом совете и спланировать работу на {nxt} учебный год."


def participation_table(res) -> pd.DataFrame:
    p = res.participation
    if p is None or p.empty:
        return pd.DataFrame({"итог": [NO_ACTIVITIES]})
    cur, prev = p[p["year"] == res.year], p[p["year"] == res.year - 1].set_index("kind")
    return pd.DataFrame({
        "занятость": cur["kind"].map(lambda k: KIND_RU.get(k, k)), "n": cur["n"],
        "доля обучающихся": cur["share"].map(t.pct),
        "95 % ДИ": [t.interval(lo, hi) for lo, hi in zip(cur["lower"], cur["upper"], strict=True)],
        "другие школы": cur["share_mun"].map(t.pct),
        "школа в прошлом году": cur["kind"].map(lambda k: t.pct(prev["share"].get(k)) if k in prev.index else "—")})


def groups_table(res, public: bool) -> pd.DataFrame:
    g = res.by_group
    if g is None or g.empty:
        return pd.DataFrame({"итог": [NO_ACTIVITIES]})
    out = pd.DataFrame({"уровень": g["level"].map({"grade": "параллель", "class": "класс"}), "группа": g["group"],
                        "n": g["n"], "заняты": g["k"].map(suppress_small) if public else g["k"],
                        "доля": g["share"].map(t.pct),
                        "95 % ДИ": [t.interval(lo, hi) for lo, hi in zip(g["lower"], g["upper"], strict=True)]})
    out.attrs["labels"] = ["уровень", "группа", "n"]
    return out


def offences_table(res, public: bool) -> pd.DataFrame:
    o = res.offences
    if o is None or o.empty:
        return pd.DataFrame({"итог": [NO_OFFENCES]})
    return pd.DataFrame({
        "год": o["year"].map(t.academic_year), "вид": o["kind"].map(lambda k: OFFENCE_RU.get(k, k)),
        "случаев": o["count"].map(suppress_small) if public else o["count"],
        "на 100 обучающихся": o["rate"].map(lambda x: t.num(x, 1)),
        "95 % ДИ": [t.interval(lo, hi, as_pct=False, digits=1) for lo, hi in zip(o["lower"], o["upper"], strict=True)],
        "другие школы": o["rate_mun"].map(lambda x: t.num(x, 1))})


def scales_table(res) -> pd.DataFrame:
    s = res.scales
    if s is None or s.empty:
        return pd.DataFrame({"итог": [NO_SCALES]})
    return pd.DataFrame({"шкала": s["scale"], "респонденты": s["respondent_type"], "n": s["n"],
                         "среднее": s["mean"].map(t.num), "другие школы": s["mean_mun"].map(t.num),
                         "α Кронбаха": s["alpha"].map(t.num),
                         "надёжна": s["reliable"].map({True: "да", False: "нет — выводов нет"})})


def association_sentence(res) -> str:
    a = res.association
    if a is None or a.empty:
        return "Связь занятости с отметками не оценивалась: мало данных (нужны отметки за два года)."
    r = a.iloc[0]
    return (f"У обучающихся, занятых хотя бы в одной форме, средняя годовая отметка при том же среднем балле "
            f"прошлого года в среднем на {t.num(r['estimate'])} балла {'выше' if r['estimate'] >= 0 else 'ниже'} "
            f"({t.interval(r['lower'], r['upper'], as_pct=False)}, n = {t.fmt_int(r['n'])}, все школы "
            f"муниципалитета). Это связь, а не доказательство влияния: занятые ученики отличаются и многим другим.")


def glue(res) -> None:
    p = res.participation
    anyrow = None if p is None else p[(p["kind"] == "any") & (p["year"] == res.year)]
    _glue("up_year", t.academic_year(res.year))
    _glue("up_any_share", "—" if anyrow is None or anyrow.empty else t.pct(anyrow["share"].iloc[0]))
    _glue("up_any_mun", "—" if anyrow is None or anyrow.empty else t.pct(anyrow["share_mun"].iloc[0]))
    _glue("up_n_tests", t.fmt_int(int(res.table["p_value"].notna().sum())))
    _glue("up_n_findings", t.count(len(res.findings), "находка", "находки", "находок"))
    _glue("up_association", association_sentence(res))


WIDESPREAD_HYPOTHESIS = "Занятость ниже по большинству видов: причина общая для школы (организация внеурочной работы)"


def widespread_evidence(below: int, kinds: int, p: float, supported: bool) -> str:
    if supported:
        return (f"Доля участвующих ниже, чем в других школах муниципалитета, по {below} из {kinds} видов занятости "
                f"(знаковый критерий, p = {t.num(p, 3)}): дело не в одном кружке или секции, а во внеурочной работе "
                "школы в целом.")
    return (f"Ниже, чем в других школах, доля участвующих только по {below} из {kinds} видов занятости "
            f"(знаковый критерий, p = {t.num(p, 3)}): общешкольной причины данные не показывают — "
            "стоит искать причину в предложении именно этого вида занятости.")
