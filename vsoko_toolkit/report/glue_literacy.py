"""Glue and Russian tables of the chapter «Метапредметные результаты и функциональная грамотность»."""

from __future__ import annotations

import pandas as pd

from ..contract.spec import LITERACY_LEVEL_CUTS
from . import text as t
from .glue import _glue
from .literacy_text import DOMAIN_RU, LEVEL_RU, SOURCE_RU, cuts_text

LEVELS = ("low", "reduced", "basic", "advanced", "high")


def emit(ctx, res) -> None:
    """Record findings/skips and write the tables (privacy-filtered in the public profile)."""
    ctx.emit("literacy", findings=res.findings, skipped=res.skipped)
    for name, df in (("literacy_domains", res.table), ("literacy_levels", res.levels),
                     ("literacy_classes", res.classes), ("literacy_trend", res.trend)):
        if df is not None and not df.empty:
            ctx.table(name, df)


def literacy(res) -> None:
    """Numbers of the chapter's narrative."""
    _glue("lit_cuts", cuts_text(LITERACY_LEVEL_CUTS))
    lv = res.levels if res.levels is not None else pd.DataFrame()
    school = lv[lv["scope"] == "school"] if not lv.empty else lv
    n = int(school["n"].iloc[0]) if len(school) else 0
    low = school[school["level"].isin(["low", "reduced"])] if len(school) else school
    k = int(low["k"].sum()) if len(low) else 0
    from ..stats.intervals import wilson_interval

    lo, hi = wilson_interval(k, n) if n else (float("nan"), float("nan"))
    _glue("lit_n", t.count(n, "ученик", "ученика", "учеников"))
    _glue("lit_low_share", f"{t.pct(k / n) if n else '—'} (95 % ДИ {t.interval(lo, hi)})" if n else "—")
    src = res.levels["source"].iloc[0] if lv is not None and len(lv) else ""
    _glue("lit_level_source", "указан в данных (assessments.level)" if src == "given" else
          "выведен из процента выполнения работы" if src == "derived" else
          "частично указан, частично выведен" if src == "mixed" else "—")
    m = int(res.table["p_value"].notna().sum()) if not res.table.empty else 0
    _glue("lit_n_units", t.count(m, "сочетание", "сочетания", "сочетаний"))
    _glue("lit_n_findings", t.count(len(res.findings), "дефицит", "дефицита", "дефицитов"))
    _glue("lit_skip", res.skipped[0].reason if res.skipped else "")


def levels_table(res) -> pd.DataFrame:
    lv = res.levels
    if lv is None or lv.empty:
        return pd.DataFrame({"итог": [res.skipped[0].reason if res.skipped else "Нет данных."]})
    rows = []
    for (scope, tid), g in lv.groupby(["scope", "target_id"], sort=False):
        who = "школа" if scope == "school" else f"{tid} классы" if scope == "grade" else tid
        row = {"группа": who, "учеников": int(g["n"].iloc[0])}
        for r in g.itertuples():
            row[LEVEL_RU[r.level]] = f"{t.pct(r.share)} ({t.interval(r.ci_low, r.ci_high)})"
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["labels"] = ["группа"]
    return out


def domains_table(res) -> pd.DataFrame:
    d = res.table
    if d is None or d.empty:
        return pd.DataFrame({"итог": [res.skipped[0].reason if res.skipped else "Нет данных."]})
    out = pd.DataFrame({
        "параллель": d["grade"].astype(int), "направление": d["domain"].map(DOMAIN_RU), "учеников": d["n"],
        "решаемость": d["pct"].map(t.pct), "сравнение": d["bench"].map(t.pct),
        "с чем": d["bench_source"].map(lambda s: SOURCE_RU.get(s, "—")),
        "разница (95 % ДИ)": [f"{_pp(g)} ({_pp(lo)} … {_pp(hi)})" for g, lo, hi in zip(d["gap"], d["ci_low"], d["ci_high"], strict=True)],
        "ниже своего уровня на": d["rel_gap"].map(lambda x: _pp(-x) if pd.notna(x) else "—"),
        "q": d["q_value"].map(lambda x: t.num(x, 3) if pd.notna(x) else "—"),
        "дефицит": d["flagged"].map({True: "да", False: ""})})
    out.attrs["labels"] = ["параллель", "направление"]
    return out


def classes_table(res) -> pd.DataFrame:
    c = res.classes
    if c is None or c.empty:
        return pd.DataFrame({"итог": ["Дефицитов направлений не выявлено: классы отдельно не проверялись."]})
    out = pd.DataFrame({
        "класс": c["class_id"], "направление": c["domain"].map(DOMAIN_RU), "учеников": c["n"],
        "решаемость": c["pct"].map(t.pct), "разница с регионом": c["gap"].map(_pp),
        "ниже своего уровня на": c["rel_gap"].map(lambda x: _pp(-x) if pd.notna(x) else "—"),
        "отставание подтверждено": c["flagged"].map({True: "да", False: "нет"}), "teacher_id": c["teacher_id"]})
    out.attrs["labels"] = ["класс", "направление"]
    return out


def trend_table(res) -> pd.DataFrame:
    tr = res.trend
    if tr is None or tr.empty or tr["year"].nunique() < 2:
        return pd.DataFrame({"итог": ["Динамика не показывается: результаты диагностики есть меньше чем за два года."]})
    out = tr.assign(cell=[f"{_pp(g)} ({_pp(lo)} … {_pp(hi)})" for g, lo, hi in zip(tr["gap"], tr["ci_low"],
                                                                                    tr["ci_high"], strict=True)])
    p = out.pivot(index="domain", columns="year", values="cell").reindex([d for d in DOMAIN_RU if d in set(tr["domain"])])
    p.index = [DOMAIN_RU[d] for d in p.index]
    p.columns = [t.academic_year(int(y)) for y in p.columns]
    return p.reset_index(names="направление")


def _pp(x) -> str:
    return "—" if pd.isna(x) else f"{100 * x:+.0f}".replace("-", "−") + "\u00a0п.\u00a0п."
