"""Russian wording of the talent analysis (findings, notes, tables, glue) — ``analysis/talent.py``."""

from __future__ import annotations

import pandas as pd

from ..privacy import suppress_small
from . import text as t
from .glue import _glue

STAGE_RU = {"school": "школьный", "municipal": "муниципальный", "regional": "региональный",
            "final": "заключительный"}
MISSING_OLYMPIADS = ("Нет данных об олимпиадах (таблица olympiads.csv): участие, призовые места и их "
                     "сосредоточенность не рассчитаны.")
NO_TEACHERS = ("В таблице olympiads нет столбца teacher_id (учитель, подготовивший участника) или он пуст: "
               "учителя, готовящие призёров, не показаны.")
NO_OWN_ROWS = "У школы в этом году нет записей об олимпиадах."


def title(r) -> str:
    return (f"Призовые места школы на олимпиадах сосредоточены у немногих учеников: у {t.fmt_int(r['top_m'])} "
            f"из {t.fmt_int(r['participants'])} участников — {t.pct(r['top_share'])} призовых мест")


def evidence(r, n_tested: int) -> str:
    return (f"В {t.academic_year(r['year'])} учебном году у школы {t.fmt_int(r['prize_places'])} призовых мест "
            f"(победитель или призёр любого этапа) на {t.fmt_int(r['participants'])} участников олимпиад; "
            f"5 % участников с наибольшим числом мест ({t.fmt_int(r['top_m'])} чел.) держат "
            f"{t.pct(r['top_share'])} из них ({t.interval(r['lower'], r['upper'])}). Если бы участники школы были "
            f"такими же, как в других школах муниципалитета (выборка того же размера из их участников), эта доля "
            f"была бы в среднем {t.pct(r['expected'])}; p = {t.num(r['p_value'], 4)}, q = {t.num(r['q_value'], 4)} "
            f"с поправкой Бенджамини — Хохберга на {t.count(n_tested, 'проверенную школу', 'проверенные школы', 'проверенных школ')}.")


def recommendation(year: int) -> str:
    return ("Расширить круг учеников, которых готовят к олимпиадам: выявить в каждой параллели учеников с высокими "
            "результатами, не участвующих в олимпиадах или не проходящих дальше школьного этапа, и включить их в "
            f"подготовку к олимпиадам {t.academic_year(int(year) + 1)} учебного года.")


def stages_table(res, public: bool = False) -> pd.DataFrame:
    s = res.stages
    if s is None or s.empty:
        return pd.DataFrame({"итог": [MISSING_OLYMPIADS]})
    out = pd.DataFrame({
        "год": s["year"].map(t.academic_year), "этап": s["stage"].map(STAGE_RU), "n": s["n"],
        "участники": s["participants"],
        "доля участников (95 % ДИ)": [f"{t.pct(a)} ({t.pct(lo)}–{t.pct(hi)})" for a, lo, hi in
                                      zip(s["participants_share"], s["participants_lower"],
                                          s["participants_upper"], strict=True)],
        "призёры и победители": s["prize_winners"],
        "их доля (95 % ДИ)": [f"{t.pct(a, 1)} ({t.pct(lo, 1)}–{t.pct(hi, 1)})" for a, lo, hi in
                              zip(s["prize_share"], s["prize_lower"], s["prize_upper"], strict=True)],
        "победители": s["winners"],
        "другие школы: доля участников": s["mun_participants_share"].map(t.pct),
        "другие школы: доля призёров": s["mun_prize_share"].map(lambda x: t.pct(x, 1)),
    })
    if public:  # counts of people: no group under 5 in public builds
        for col in ("участники", "призёры и победители", "победители"):
            out[col] = out[col].map(suppress_small)
    out.attrs["labels"] = ["год", "этап", "n"]
    return out


def concentration_table(res) -> pd.DataFrame:
    c = res.concentration
    if c is None or c.empty:
        return pd.DataFrame({"итог": [MISSING_OLYMPIADS]})
    return pd.DataFrame({
        "школа": c["school_id"], "участников": c["participants"], "призовых мест": c["prize_places"],
        "5 % участников, чел.": c["top_m"], "их доля мест": c["top_share"].map(t.pct),
        "95 % ДИ": [t.interval(lo, hi) if pd.notna(lo) else "—" for lo, hi in zip(c["lower"], c["upper"],
                                                                                 strict=True)],
        "ожидание по другим школам": c["expected"].map(t.pct),
        "q": c["q_value"].map(lambda x: t.num(x, 3)),
        "вывод": [("сосредоточены сильнее" if f else "не отличается" if tst else "мало данных для проверки")
                  for f, tst in zip(c["flagged"], c["tested"], strict=True)]})


def teachers_table(res) -> pd.DataFrame:
    tt = res.teachers
    if tt is None or tt.empty:
        return pd.DataFrame({"итог": [NO_TEACHERS]})
    return pd.DataFrame({"teacher_id": tt["teacher_id"], "учеников готовил": tt["n_students"],
                         "из них призёров и победителей": tt["prize_students"],
                         "призовых мест": tt["prize_places"], "доля мест школы": tt["prize_share"].map(t.pct)})


def glue(res) -> None:
    c = res.concentration
    own = None if c is None else c[c["school_id"] == res.school_id]
    r = None if own is None or own.empty else own.iloc[0]
    _glue("talent_year", t.academic_year(res.year))
    _glue("talent_participants", "—" if r is None else t.fmt_int(r["participants"]))
    _glue("talent_prize_places", "—" if r is None else t.fmt_int(r["prize_places"]))
    _glue("talent_top_share", "—" if r is None else t.pct(r["top_share"]))
    _glue("talent_expected", "—" if r is None else t.pct(r["expected"]))
    _glue("talent_verdict", "нет данных для проверки" if r is None or not r["tested"] else
          "призовые места сосредоточены у немногих учеников сильнее, чем в других школах муниципалитета "
          "(находка)" if r["flagged"] else "отличия от других школ муниципалитета не доказаны")
