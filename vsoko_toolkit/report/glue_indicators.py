"""Glue and Russian tables for the chapter «Показатели самообследования и индекс качества»."""

from __future__ import annotations

import pandas as pd

from ..indicators.evaluate import STATUS_RU
from ..privacy import MIN_GROUP
from . import text as t
from .glue import _glue

SELF_EXAMINATION = "self_examination_1324"
INDEX = "quality_index"
MAP = "vsoko_map"


def indicators(res) -> None:
    """Glue the chapter's numbers: statuses of the self-examination list, index and map scores."""
    c = res.status_counts(SELF_EXAMINATION)
    total = sum(c.values())
    _glue("ind_total", t.count(total, "показателя", "показателей", "показателей"))  # «из N …»
    _glue("ind_computed", t.fmt_int(c["computed"]))
    _glue("ind_read", t.fmt_int(c["read"]))
    _glue("ind_missing", t.fmt_int(c["missing"]))
    _glue("ind_findings", t.fmt_int(len(res.findings)))
    others = [f for f in res.frameworks if f.id not in (SELF_EXAMINATION, INDEX, MAP)]
    _glue("ind_custom", ", ".join(f"«{f.title}»" for f in others) or "нет")
    _glue("index_text", index_sentence(res.score(INDEX)))
    m = res.score(MAP)
    _glue("map_text", map_sentence(m))


def index_sentence(s: dict) -> str:
    """The index total in words: a lower bound and a level range when indicators are missing."""
    if not s:
        return "набор «Индекс качества» не загружен"
    pts = f"{t.num(s['points'], 0)} из {t.num(s['max_points'], 0)} баллов"
    if s["n_scored"] == 0:
        return (f"ни один из {s['n_declared']} показателей индекса пока не оценён (перечень показателей "
                f"добавляется региональным файлом), поэтому сумма баллов и уровень не определены")
    if not s["lower_bound"]:
        return f"{pts} — {s['level']} уровень"
    level = (f"уровень — {s['level']} при любых значениях недостающих" if s["level"]
             else f"уровень — от «{s['level_low']}» до «{s['level_high']}» в зависимости от недостающих")
    return (f"не меньше {pts}: это нижняя граница, потому что нет данных по {s['n_missing']} из "
            f"{s['n_declared']} показателей (они могут добавить до {t.num(s['missing_points'], 0)} баллов); {level}")


def map_sentence(s: dict) -> str:
    if not s:
        return "карта результативности ВСОКО не загружена"
    if s["n_scored"] == 0:
        return "экспертные баллы карты результативности ВСОКО в indicators.csv не внесены"
    text = f"{t.num(s['points'], 0)} из {t.num(s['max_points'], 0)} баллов"
    if s["lower_bound"]:
        text += f" (не оценено показателей: {s['n_missing']})"
    return text


def framework_table(res, framework: str, public: bool = False) -> pd.DataFrame:
    """The framework as schools publish it: № п/п, Показатели, Единица измерения, Значение, Источник."""
    d = res.framework(framework)
    if d.empty:
        return pd.DataFrame({"итог": ["В наборе нет закодированных показателей."]})
    value = d["display"].copy()
    if public:
        n = pd.to_numeric(d["n_students"], errors="coerce")
        value[n.between(1, MIN_GROUP - 1)] = f"< {MIN_GROUP} учеников: скрыто"
    out = pd.DataFrame({"№ п/п": d["number"], "Показатели": d["name"], "Единица измерения": d["unit"],
                        "Значение": value, "Источник": d["status"].map(STATUS_RU)})
    if d["kind"].iloc[0] in ("index", "map"):
        out["Баллы"] = d["points"].map(lambda x: "—" if pd.isna(x) else t.num(x, 0))
        out["Максимум"] = d["max_points"].map(lambda x: t.num(x, 0))
    return out


def criteria_table(res, framework: str = INDEX) -> pd.DataFrame:
    c = res.criteria[res.criteria["framework"] == framework]
    return pd.DataFrame({
        "критерий": c["group_id"], "название": c["name"], "показателей": c["n_declared"],
        "закодировано": c["n_encoded"], "оценено": c["n_scored"],
        "баллы": c["points"].map(lambda x: t.num(x, 0)), "максимум": c["max_points"].map(lambda x: t.num(x, 0))})


def low_table(res) -> pd.DataFrame:
    """Indicators on the wrong side of their threshold (the ``low_indicator`` findings)."""
    d = res.tidy()
    d = d[d["below_threshold"]]
    if d.empty:
        return pd.DataFrame({"итог": ["Показателей за порогом (с учётом доверительного интервала) нет."]})
    return pd.DataFrame({"набор": d["framework_title"], "№": d["number"], "показатель": d["name"],
                         "значение": d["display"],
                         "порог": [t.pct(x, 1) if "%" in u else t.num(x, 2) for x, u in zip(d["threshold"], d["unit"],
                                                                                         strict=True)]})


def custom_frameworks(res) -> list:
    """Frameworks beyond the three built-in ones (the school's or region's own YAML files)."""
    return [f for f in res.frameworks if f.id not in (SELF_EXAMINATION, INDEX, MAP)]


def notes_markdown(res) -> str:
    return "\n".join(f"- {n}" for n in res.notes) if res.notes else "Замечаний к исходным данным нет."
