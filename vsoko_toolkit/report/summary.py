"""The summary and synthesis views over a run's findings (what the other chapters established)."""

from __future__ import annotations

import json

import pandas as pd

from . import text as t
from .glue import _glue

SEVERITY_RU = {"high": "высокая", "medium": "средняя", "low": "низкая"}


def _parts(ctx) -> dict:
    doc = {"findings": [], "decision_evaluations": [], "skipped": []}
    for p in sorted((ctx.out_dir / "parts").glob("*.json")):
        if p.stem == ctx.chapter:
            continue
        d = json.loads(p.read_text(encoding="utf-8"))
        for k in doc:
            doc[k] += d[k]
    return doc


def glue_overview(ctx) -> None:
    doc = _parts(ctx)
    problems = [f for f in doc["findings"] if f["polarity"] == "problem"]
    strengths = [f for f in doc["findings"] if f["polarity"] == "strength"]
    _glue("n_problems", t.count(len(problems), "проблему", "проблемы", "проблем"))
    _glue("n_strengths", t.count(len(strengths), "сильную сторону", "сильные стороны", "сильных сторон"))
    _glue("n_skipped", t.count(len(doc["skipped"]), "анализ", "анализа", "анализов"))


def findings_table(ctx) -> pd.DataFrame:
    """All findings of the run as a readable table (problems first, by severity)."""
    doc = _parts(ctx)
    rows = [{"важность": SEVERITY_RU[f["severity"]], "тип": "проблема" if f["polarity"] == "problem" else "сильная сторона",
             "что установлено": f["title"], "доказательства": f["evidence"],
             "рекомендация": (f["recommendation"] or {}).get("text", "")} for f in doc["findings"]]
    if not rows:
        return pd.DataFrame({"итог": ["Анализы, построенные в этой версии, проблем за пределами случайного разброса "
                                      "не установили."]})
    order = {"высокая": 0, "средняя": 1, "низкая": 2}
    return pd.DataFrame(rows).sort_values(["тип", "важность"], key=lambda s: s.map(order).fillna(s.map(
        {"проблема": 0, "сильная сторона": 1}))).reset_index(drop=True)


def key_problems(ctx, k: int = 7) -> pd.DataFrame:
    """The first ``k`` problems by severity (the synthesis issue ranks and merges them)."""
    df = findings_table(ctx)
    if "тип" in df:
        df = df[df["тип"] == "проблема"].head(k)
        if df.empty:
            return pd.DataFrame({"итог": ["Проблем, подтверждённых данными за пределами случайного разброса, нет."]})
    return df


def skipped_table(ctx) -> pd.DataFrame:
    doc = _parts(ctx)
    if not doc["skipped"]:
        return pd.DataFrame({"итог": ["Все анализы выполнены."]})
    return pd.DataFrame(doc["skipped"]).rename(columns={"analysis": "анализ", "reason": "причина"})
