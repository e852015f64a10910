"""Russian text and tables of the municipal book (`vsoko municipal`), glued from the analyses' results."""

from __future__ import annotations

import pandas as pd

from ..analysis.decisions import METHOD_RU, METRIC_RU, VERDICT_RU
from . import text as t
from .glue import _glue

STEADY_RU = {"steadily_low": "устойчиво низкие", "steadily_high": "устойчиво высокие", "": ""}
CONTEXT_RU = {"shnor": "ШНОР", "resilient_school": "резильентная", "": ""}
FUNNEL_RU = {"inside": "в пределах разброса", "above_95": "выше (95 %)", "above_998": "выше (99,8 %)",
             "below_95": "ниже (95 %)", "below_998": "ниже (99,8 %)"}
KIND_RU = {"steadily_low": "устойчиво низкие результаты", "steadily_high": "устойчиво высокие результаты",
           "shnor": "низкие результаты в неблагоприятных условиях (ШНОР)",
           "resilient_school": "высокие результаты несмотря на неблагоприятные условия",
           "non_objective_school": "признаки необъективности результатов",
           "low_value_added": "вклад школы ниже ожидаемого", "high_value_added": "вклад школы выше ожидаемого",
           "direction_decline": "ухудшение показателя направления"}


def comparison(res) -> None:
    """Glue the counts of the municipal comparison (``MunicipalResult``)."""
    d = res.tidy()
    _glue("mun_n_schools", t.count(len(d), "школа", "школы", "школ"))
    _glue("mun_academic_year", t.academic_year(res.year))
    for key, col, val in (("mun_n_steady_low", "steady", "steadily_low"), ("mun_n_steady_high", "steady", "steadily_high"),
                          ("mun_n_shnor", "context", "shnor"), ("mun_n_resilient", "context", "resilient_school")):
        _glue(key, t.fmt_int(int((d[col] == val).sum()) if col in d else 0))
    _glue("mun_n_non_objective", t.fmt_int(int(d["non_objective"].fillna(False).astype(bool).sum())
                                           if "non_objective" in d else 0))
    src = sorted(set(res.sources.values()))
    _glue("mun_source", "результаты ВПР, ОГЭ и ЕГЭ (стандартизованные баллы)" if src == ["external"] else
          "годовые отметки (внешних работ в данных нет)" if src == ["marks"] else
          "результаты внешних работ, а в годы без них — годовые отметки")


def schools_table(res) -> pd.DataFrame:
    """One row per school, Russian headers: result with its interval, value added with its rank interval, groups."""
    d = res.tidy()
    if d.empty:
        return pd.DataFrame({"итог": ["Сравнивать нечего: в данных нет результатов школ за этот год."]})

    def rng(lo, hi):
        return "—" if pd.isna(lo) else f"{int(lo)}–{int(hi)}"
    ci = [f"{t.num(x, 2)} ({t.num(lo, 2)} … {t.num(hi, 2)})" if pd.notna(lo) else "—"
          for x, lo, hi in zip(d["diff"], d["ci_low"], d["ci_high"], strict=True)]
    va = [f"{t.num(x, 2)}; места {rng(lo, hi)}" if pd.notna(x) else "—"
          for x, lo, hi in zip(d["va_estimate"], d["rank_low"], d["rank_high"], strict=True)]
    groups = [", ".join(g for g in (STEADY_RU.get(a or "", ""), CONTEXT_RU.get(b or "", ""),
                                    f"необъективность: {c}" if c else "") if g) or "—"
              for a, b, c in zip(d["steady"].fillna(""), d["context"].fillna(""), d["signs"].fillna(""), strict=True)]
    out = pd.DataFrame({
        "школа": d["name"],
        "учеников": d["n"],
        "отличие от других школ, ст. откл. (95 % ДИ)": ci,
        "воронка": d["funnel"].map(FUNNEL_RU).fillna("—"),
        "вклад с учётом контекста (интервал мест)": va,
        "выделена как": groups,
    })
    out.attrs["labels"] = ["школа"]
    return out


def rules_frame(res) -> pd.DataFrame:
    """The rules as a table (written by the schools chapter; the methods appendix reads it back)."""
    return pd.DataFrame({"rule": list(res.rules), "text": list(res.rules.values())})


def rules_md(frame: pd.DataFrame) -> str:
    """The rules (:func:`rules_frame`) as Markdown: stated in the book, not only in the code."""
    names = {"result": "Результат школы", "value_added": "Справедливое сравнение (вклад школы)",
             "steady": "Устойчиво низкие и высокие результаты", "context": "ШНОР и резильентные школы",
             "non_objective": "Признаки необъективности"}
    return "\n\n".join(f"**{names.get(r, r)}.** {x}" for r, x in zip(frame["rule"], frame["text"], strict=True))


def skipped_md(doc: dict) -> str:
    """What could not be done and why (the findings document's skips), as a Markdown list."""
    sk = doc.get("skipped", [])
    return "\n".join(f"- {s['reason']}" for s in sk) or "Все анализы выполнены."


def notes_md(res) -> str:
    return "\n\n".join(f"- {n}" for n in (*res.notes, *(s.reason for s in res.skipped))) or "Ограничений нет."


def directions(res) -> None:
    d = res.directions
    _glue("mun_n_directions_data", t.count(int((d["n_indicators"] > 0).sum()), "направление", "направления",
                                           "направлений"))
    flagged = res.tidy()["flagged"].fillna(False).astype(bool).sum() if len(res.tidy()) else 0
    _glue("mun_n_worse", t.fmt_int(int(flagged)))


def directions_table(res) -> pd.DataFrame:
    d = res.directions
    out = pd.DataFrame({"направление": d["name"], "показателей": d["n_indicators"], "лучше": d["better"],
                        "без изменений": d["same"], "хуже": d["worse"],
                        "каких данных не хватает": d["missing_ru"].fillna("").replace("", "—")})
    out.attrs["labels"] = ["направление"]
    return out


def decisions_table(res) -> pd.DataFrame:
    d = res.tidy()
    if d.empty:
        why = res.skipped[0].reason if res.skipped else "решений, срок оценки которых наступил, нет"
        return pd.DataFrame({"итог": [f"Муниципальные решения не оценивались: {why}."]})
    return pd.DataFrame({
        "решение": d["decision_id"],
        "школы": d["target_ids"].fillna("").replace("", "все школы"),
        "показатель": d["metric"].map(lambda m: METRIC_RU.get(m, m)),
        "метод": d["method"].map(lambda m: METHOD_RU.get(m, m)),
        "вывод": d["verdict"].map(lambda v: VERDICT_RU.get(v, v)),
        "эффект (95 % ДИ)": [f"{t.num(e, 2)} ({t.num(lo, 2)} … {t.num(hi, 2)})" if pd.notna(e) else "—"
                             for e, lo, hi in zip(d["effect"], d["ci_low"], d["ci_high"], strict=True)],
        "как получен вывод": d["explanation"],
    })


def findings_table(doc: dict) -> pd.DataFrame:
    """The municipal findings, problems first: school, what, evidence, recommendation."""
    fs = sorted(doc.get("findings", []), key=lambda f: (f["polarity"] != "problem", f["target_id"], f["kind"]))
    if not fs:
        return pd.DataFrame({"итог": ["Школ, выделяющихся по правилам этой книги, не найдено."]})
    return pd.DataFrame({
        "школа": [f.get("school_name") or f.get("extra", {}).get("school_name") or f["target_id"]
                  or "муниципалитет в целом" for f in fs],
        "что установлено": [KIND_RU.get(f["kind"], f["kind"]) for f in fs],
        "вывод": [f["title"] for f in fs],
        "рекомендация": [(f.get("recommendation") or {}).get("text", "—") for f in fs],
    })


def overview(doc: dict) -> None:
    fs = doc.get("findings", [])
    _glue("mun_n_findings", t.count(len(fs), "вывод", "вывода", "выводов"))
    _glue("mun_n_problem_schools", t.fmt_int(len({f["target_id"] for f in fs
                                                 if f["polarity"] == "problem" and f["target_id"]})))
    _glue("mun_n_skipped", t.count(len(doc.get("skipped", [])), "анализ", "анализа", "анализов"))
