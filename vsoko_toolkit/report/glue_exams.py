"""Glue and Russian tables for the ОГЭ/ЕГЭ section and the municipal anomaly checks of chapter 04."""

from __future__ import annotations

import math

import pandas as pd

from ..privacy import MIN_GROUP
from . import text as t
from .glue import _glue

HIDDEN = f"данные не показываются: меньше {MIN_GROUP} участников"

KIND_RU = {"OGE": "ОГЭ", "EGE": "ЕГЭ", "VPR": "ВПР", "GVE": "ГВЭ"}
VERDICT_RU = {"worse": "хуже других школ", "better": "лучше других школ", "no_difference": "нет различий",
              "not_compared": "мало участников для сравнения"}


def _subject_row(d: pd.DataFrame, kind: str, subject: str):
    x = d[(d["kind"] == kind) & (d["subject"] == subject)]
    return x.iloc[0] if len(x) else None


def _hidden(r, public: bool) -> bool:
    """A group the public build must not describe (fewer than MIN_GROUP participants)."""
    return public and int(r["n"]) < MIN_GROUP


def exams(res, public: bool = False) -> None:
    """Numbers of the ОГЭ/ЕГЭ narrative (Russian language and mathematics as the headline); the public
    build describes no group of fewer than MIN_GROUP participants."""
    d = res.tidy()
    if d.empty:
        reason = next((s.reason for s in res.skipped if s.analysis == "exams"), "данных нет")
        _glue("exam_text", f"Анализ ОГЭ и ЕГЭ не проводился: {reason}.")
    else:
        parts = []
        for kind, subject, word in (("OGE", "Русский язык", "ОГЭ по русскому языку"),
                                    ("OGE", "Математика", "ОГЭ по математике"),
                                    ("EGE", "Русский язык", "ЕГЭ по русскому языку"),
                                    ("EGE", "Математика", "ЕГЭ по математике")):
            r = _subject_row(d, kind, subject)
            if r is not None and _hidden(r, public):
                parts.append(f"{word}: {HIDDEN}")
            elif r is not None:
                below = "получили «2»" if kind == "OGE" else "не преодолели минимальный балл"
                parts.append(f"{word} ({t.count(int(r['n']), 'участник', 'участника', 'участников')}): средний "
                             f"балл {t.num(r['mean'], 1)} ({t.interval(r['mean_low'], r['mean_high'], False, 1)}), "
                             f"в других школах муниципалитета {t.num(r['muni_mean'], 1)}; {below} "
                             f"{t.pct(r['below'])} ({t.interval(r['below_low'], r['below_high'])})")
        worse, better = int((d["verdict"] == "worse").sum()), int((d["verdict"] == "better").sum())
        parts.append(f"всего экзаменов: {len(d)}; хуже других школ за пределами случайного разброса — {worse}, "
                     f"лучше — {better}")
        _glue("exam_text", ". ".join(p[0].upper() + p[1:] for p in parts) + ".")
    n_oge = int(d.loc[d["kind"] == "OGE", "n"].max()) if (d["kind"] == "OGE").any() else 0
    n_ege = int(d.loc[d["kind"] == "EGE", "n"].max()) if (d["kind"] == "EGE").any() else 0
    _glue("exam_n_oge", t.count(n_oge, "участник", "участника", "участников"))
    _glue("exam_n_ege", t.count(n_ege, "участник", "участника", "участников"))
    _glue("exam_n_subjects", t.count(len(d), "экзамен", "экзамена", "экзаменов"))
    for kind, subject, key in (("OGE", "Русский язык", "oge_rus"), ("OGE", "Математика", "oge_math"),
                               ("EGE", "Русский язык", "ege_rus"), ("EGE", "Математика", "ege_math")):
        r = _subject_row(d, kind, subject)
        if r is None:
            _glue(f"exam_{key}", "не сдавали")
            continue
        if _hidden(r, public):
            _glue(f"exam_{key}", HIDDEN)
            continue
        below = "получили «2»" if kind == "OGE" else "не преодолели минимальный балл"
        _glue(f"exam_{key}", (f"средний балл {t.num(r['mean'], 1)} ({t.interval(r['mean_low'], r['mean_high'], False, 1)}),"
                              f" в других школах {t.num(r['muni_mean'], 1)}; {below} {t.pct(r['below'])} "
                              f"({t.interval(r['below_low'], r['below_high'])})"))
    worse = int((d["verdict"] == "worse").sum())
    better = int((d["verdict"] == "better").sum())
    _glue("exam_n_worse", t.count(worse, "экзамен", "экзамена", "экзаменов"))
    _glue("exam_n_better", t.count(better, "экзамен", "экзамена", "экзаменов"))
    m = res.medallists
    if m is not None and len(m) and _hidden(m.iloc[0], public):
        _glue("exam_medal", f"показатель не показывается: меньше {MIN_GROUP} медалистов")
    elif m is not None and len(m):
        r = m.iloc[0]
        _glue("exam_medal", (f"из {t.count(int(r['n']), 'медалиста', 'медалистов', 'медалистов')}, сдававших ЕГЭ, "
                             f"ниже 70 баллов хотя бы по одному предмету получили {int(r['k'])} — {t.pct(r['share'])} "
                             f"({t.interval(r['share_low'], r['share_high'])}); в других школах муниципалитета — "
                             f"{t.pct(r['muni_share'])}"))
    else:
        reason = next((s.reason for s in res.skipped if s.analysis == "exams_medallists"), "данных нет")
        _glue("exam_medal", f"показатель не рассчитан: {reason}")


def _ci(lo, hi, digits: int = 1) -> str:
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return "—"
    return f"{t.num(lo, digits)}–{t.num(hi, digits)}"


def _share(p, lo, hi) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    return f"{t.pct(p)} ({t.pct(lo)}–{t.pct(hi)})"


def exams_table(res) -> pd.DataFrame:
    """One row per examination, Russian headers; ``n`` keeps its name (the public build suppresses < 5)."""
    d = res.tidy()
    if d.empty:
        return pd.DataFrame({"итог": ["Результатов ОГЭ и ЕГЭ за этот год нет."]})
    out = pd.DataFrame({
        "экзамен": d["kind"].map(KIND_RU), "предмет": d["subject"], "n": d["n"],
        "средний балл (95 % ДИ)": [f"{t.num(m, 1)} ({_ci(a, b)})" for m, a, b in
                                   zip(d["mean"], d["mean_low"], d["mean_high"], strict=True)],
        "другие школы": d["muni_mean"].map(lambda x: t.num(x, 1)),
        "ниже порога (95 % ДИ)": [_share(*x) for x in zip(d["below"], d["below_low"], d["below_high"], strict=True)],
        "ниже порога в других школах": d["muni_below"].map(t.pct),
        "«5» / 80+ баллов (95 % ДИ)": [_share(*x) for x in zip(d["high"], d["high_low"], d["high_high"], strict=True)],
        "100 баллов": d["n_100"].map(lambda x: "—" if pd.isna(x) else str(int(x))),
        "к прошлому году, балла (95 % ДИ)": [
            "—" if pd.isna(v) else f"{t.num(v, 1)} ({_ci(a, b)})"
            for v, a, b in zip(d["yoy_mean"], d["yoy_mean_low"], d["yoy_mean_high"], strict=True)],
        "вывод": d["verdict"].map(VERDICT_RU),
    })
    out.attrs["labels"] = ["экзамен", "предмет"]  # the public build blanks the rest of a row with n < 5
    return out


def medallists_table(res) -> pd.DataFrame:
    m = res.medallists
    if m is None or m.empty:
        reason = next((s.reason for s in res.skipped if s.analysis == "exams_medallists"), "данных нет")
        return pd.DataFrame({"итог": [f"Показатель «медалисты с ЕГЭ ниже 70 баллов» не рассчитан: {reason}."]})
    r = m.iloc[0]
    out = pd.DataFrame([{
        "показатель": "медалисты с результатом ЕГЭ ниже 70 баллов хотя бы по одному предмету",
        "n": int(r["n"]), "из них ниже 70": int(r["k"]), "доля (95 % ДИ)": _share(r["share"], r["share_low"],
                                                                               r["share_high"]),
        "другие школы": f"{t.pct(r['muni_share'])} ({int(r['muni_k'])} из {int(r['muni_n'])})",
        "q": t.num(r["q_value"], 3),
        "вывод": "признак необъективности итоговых отметок" if bool(r["flagged"]) else "нет оснований для вывода",
    }])
    out.attrs["labels"] = ["показатель"]
    return out


def municipal_anomalies(res) -> None:
    d = res.tidy()
    n_ctx = int(d["context_flagged"].sum()) if "context_flagged" in d else 0
    n_jump = int(d["jump_flagged"].sum()) if "jump_flagged" in d else 0
    tested = int(d["context_p"].notna().sum()) if "context_p" in d else 0
    _glue("n_context_tested", t.count(tested, "работа", "работы", "работ"))
    _glue("n_context_flagged", t.count(n_ctx, "работа", "работы", "работ"))
    _glue("n_jumps", t.count(n_jump, "работа", "работы", "работ"))
    _glue("n_jump_tested", t.count(int(d["dic_p"].notna().sum()) if "dic_p" in d else 0, "работа", "работы",
                                   "работ"))


def municipal_table(res) -> pd.DataFrame:
    """Works with a context or jump comparison, Russian headers."""
    d = res.tidy()
    if d.empty or "dic" not in d:
        return pd.DataFrame({"итог": ["Работ для сравнения нет."]})
    d = d[d["context_p"].notna() | d["dic_p"].notna()]
    if d.empty:
        return pd.DataFrame({"итог": ["Сравнить с другими школами муниципалитета не удалось: мало данных."]})

    def q(x):
        return "—" if pd.isna(x) else ("< 0,001" if x < 0.001 else t.num(x, 3))

    out = pd.DataFrame({
        "работа": [f"{KIND_RU.get(k, k)} «{s}», {g} кл." for k, s, g in zip(d["kind"], d["subject"], d["grade"],
                                                                          strict=True)],
        "n": d["n"], "средний балл": d["mean"].map(lambda x: t.num(x, 1)),
        "ожидаемый при таком индексе условий": d["context_expected"].map(lambda x: t.num(x, 1)),
        "q (условия)": d["context_q"].map(q),
        "рост школы к прошлому году": d["jump"].map(lambda x: t.num(x, 1)),
        "рост в других школах": d["muni_change"].map(lambda x: t.num(x, 1)),
        "разница изменений (95 % ДИ)": [
            "—" if pd.isna(v) else f"{t.num(v, 1)} ({_ci(a, b)})"
            for v, a, b in zip(d["dic"], d["dic_low"], d["dic_high"], strict=True)],
        "q (рост)": d["dic_q"].map(q),
        "вывод": ["признак необъективности" if a or b else
                  (f"рост объясним: {e}" if isinstance(e, str) and e else "нет оснований для вывода")
                  for a, b, e in zip(d["context_flagged"], d["jump_flagged"],
                                     d.get("jump_explained", pd.Series([""] * len(d), index=d.index)), strict=True)],
    })
    out.attrs["labels"] = ["работа"]
    return out
