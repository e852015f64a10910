"""Glue and Russian tables for the chapter «Внешние оценочные процедуры и объективность оценивания»."""

from __future__ import annotations

import pandas as pd

from . import phrases as ph
from . import text as t
from .glue import _glue


def objectivity(res) -> None:
    d = res.tidy()
    sch = d[d["level"] == "school"]
    if len(sch):
        r = sch.iloc[0]
        _glue("vpr_n", t.fmt_int(r["n"]))
        _glue("vpr_lowered", t.pct(r["lowered"]))
        _glue("vpr_lowered_ci", t.interval(r["lowered_low"], r["lowered_high"]))
        _glue("vpr_raised", t.pct(r["raised"]))
        _glue("vpr_muni_lowered", t.pct(r["muni_lowered"]))
        _glue("vpr_kappa", t.num(r["kappa"], 2))
    else:
        for k in ("vpr_n", "vpr_lowered", "vpr_lowered_ci", "vpr_raised", "vpr_muni_lowered", "vpr_kappa"):
            _glue(k, "—")
    _glue("n_marking", t.count(len(res.findings), "учитель", "учителя", "учителей"))
    _glue("vpr_journal_source", journal_source_text(res.journal_sources or {}))


def journal_source_text(sources: dict) -> str:
    """Where the journal marks compared with ВПР came from, in a sentence (issue 14: the contract has no
    ``journal_mark``; it is derived from term marks when absent)."""
    n = sum(sources.values())
    derived = sources.get("term", 0) + sources.get("last_year", 0)
    if n == 0:
        return "Журнальных отметок для сравнения с ВПР нет."
    if derived == 0:
        return "Журнальная отметка взята из выгрузки результатов ВПР (колонка journal_mark)."
    how = ("отметка за последнюю четверть (полугодие), закончившуюся до даты работы (для ВПР в апреле — "
           "за 3-ю четверть или 1-е полугодие)")
    if sources.get("last_year"):
        how += f"; для {t.fmt_int(sources['last_year'])} работ, написанных до конца первой четверти, — годовая " \
               "отметка прошлого года"
    if derived == n:
        return f"Журнальной отметки в выгрузке ВПР нет, поэтому она взята из отметок за периоды: {how}."
    return (f"Для {t.fmt_int(derived)} из {t.fmt_int(n)} работ журнальной отметки в выгрузке ВПР нет, и она взята "
            f"из отметок за периоды: {how}.")


def offsets_table(res) -> pd.DataFrame:
    o = res.offsets
    if o is None or o.empty:
        return pd.DataFrame({"итог": ["Оценить смещение отметок не удалось: мало данных."]})
    return pd.DataFrame({
        "teacher_id": o["teacher_id"], "предмет": o["subject"], "n": o["n"],
        "смещение, балла": o["estimate"].map(lambda x: ph.signed(x)),
        "95 % ДИ": [f"{ph.signed(a)} … {ph.signed(b)}" for a, b in zip(o["ci_low"], o["ci_high"], strict=True)],
        "q": o["q_value"].map(lambda q: t.num(q, 3)),
        "вывод": o["flagged"].map({True: "расхождение установлено", False: "нет оснований для вывода"}),
    })


def tasks(res) -> None:
    _glue("n_deficits", t.count(len(res.findings), "дефицит", "дефицита", "дефицитов"))
    n_tests = getattr(res, "n_tests", 0 if res.skills is None else len(res.skills))
    _glue("n_skill_tests", t.count(n_tests, "проверка", "проверки", "проверок"))
    _glue("n_skill_units", t.count(getattr(res, "n_units", 0), "сочетание", "сочетания", "сочетаний"))
    _glue("tasks_notes", " ".join(res.notes) if res.notes else
          "Проценты выполнения заданий сравниваются с регионом (где его нет — с Россией).")


def deficits_table(res) -> pd.DataFrame:
    """Findings of the task analysis: grade deficits (the whole parallel) and class deficits, one row each."""
    parts = []
    g = getattr(res, "grades", None)
    if g is not None and len(g) and g["flagged"].any():
        f = g[g["flagged"]]
        parts.append(pd.DataFrame({
            "где": f["grade"].map(lambda x: f"{x}-е классы (вся параллель)"), "предмет": f["subject"],
            "умение": f["skill"], "задания": f["tasks"], "учеников": f["n"], "выполнение": f["pct"].map(t.pct),
            "ожидалось при уровне учеников": f["expected"].map(t.pct), "сравнение": f["benchmark"].map(t.pct),
            "с чем сравнивали": f["bench_source"].map(BENCH_RU), "teacher_id": f["teacher_ids"].map(", ".join),
            "q": f["q_value"].map(_q)}))
    s = res.skills
    if s is not None and len(s) and s["flagged"].any():
        f = s[s["flagged"]]
        parts.append(pd.DataFrame({
            "где": (f["class_label"] if "class_label" in f else f["class_id"].map(ph.class_label)) + " класс",
            "предмет": f["subject"],
            "умение": f["skill"], "задания": f["tasks"], "учеников": f["n"], "выполнение": f["pct"].map(t.pct),
            "ожидалось при уровне учеников": f["expected"].map(t.pct), "сравнение": f["benchmark"].map(t.pct),
            "с чем сравнивали": f["bench_source"].map(BENCH_RU), "teacher_id": f["teacher_id"],
            "q": f["q_value"].map(_q)}))
    if not parts:
        return pd.DataFrame({"итог": ["Дефицитов умений за пределами случайного разброса не найдено."]})
    return pd.concat(parts, ignore_index=True)


BENCH_RU = {"region": "регион", "russia": "Россия", "municipality": "другие школы муниципалитета"}


def _q(q) -> str:
    return "< 0,001" if q < 0.001 else t.num(q, 3)


def anomalies(res) -> None:
    _glue("n_peaks", t.count(len(res.findings), "работа", "работы", "работ"))
    _glue("n_works", t.count(len(res.table), "работа", "работы", "работ"))
