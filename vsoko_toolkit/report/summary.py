"""The summary and synthesis views over a run's findings (what the other chapters established).

Findings that are one problem seen from several sides are grouped: a subject's
findings at school and grade level (a trend, low results against the
municipality or last year) form one problem; a class's findings in a subject
form another. Problems are ranked by severity, then by the strength of the
evidence (the smallest q-value), then by size.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pandas as pd

from . import text as t
from .glue import _glue

SEVERITY_RU = {"high": "высокая", "medium": "средняя", "low": "низкая"}
RANK = {"high": 0, "medium": 1, "low": 2}
VERDICT_RU = {"supported": "подтверждается данными", "not_supported": "не подтверждается",
              "inconclusive": "данных недостаточно"}
METRIC_RU = {"quality": "качество знаний", "success": "успеваемость", "mean_mark": "средняя отметка"}
KIND_ORDER = {"declining_trend": 0, "low_result": 1}


def _parts(ctx) -> dict:
    doc = {"findings": [], "decision_evaluations": [], "skipped": []}
    for p in sorted((ctx.out_dir / "parts").glob("*.json")):
        if p.stem == ctx.chapter:
            continue
        d = json.loads(p.read_text(encoding="utf-8"))
        for k in doc:
            doc[k] += d[k]
    return doc


def problems(findings: list[dict]) -> list[list[dict]]:
    """Group problem findings into problems (lists of findings, the headline first), ranked."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for f in findings:
        if f["polarity"] != "problem":
            continue
        key = ("class", f["target_id"], f["subject"]) if f["target_type"] in ("class", "teacher") else \
            ("subject", f["subject"] or f["target_id"])
        groups[key].append(f)
    ranked = []
    for fs in groups.values():
        fs.sort(key=lambda f: (KIND_ORDER.get(f["kind"], 2), RANK[f["severity"]], f["q_value"] or 1))
        ranked.append(fs)
    ranked.sort(key=lambda fs: (min(RANK[f["severity"]] for f in fs), min(f["q_value"] or 1 for f in fs),
                                -max(abs(f["estimate"]) for f in fs)))
    return ranked


def _problem_md(i: int, fs: list[dict]) -> str:
    head = fs[0]
    lines = [f"### {i}. {head['title']}", "", f"**Важность:** {SEVERITY_RU[min((f['severity'] for f in fs), key=RANK.get)]}.",
             "", head["evidence"]]
    if len(fs) > 1:
        lines += ["", "**С других сторон та же проблема видна так:**", ""]
        lines += [f"- {f['title']}." for f in fs[1:6]]
        if len(fs) > 6:
            lines.append(f"- и ещё {len(fs) - 6}.")
    causes = [c for f in fs for c in f.get("causes", [])]
    if causes:
        lines += ["", "**Проверенные причины:**", ""]
        lines += [f"- {c['hypothesis']} — *{VERDICT_RU[c['verdict']]}*. {c['evidence']}" for c in causes]
    rec = next((f["recommendation"] for f in fs if f.get("recommendation")), None)
    if rec:
        metric = METRIC_RU.get(rec["control_metric"], rec["control_metric"])
        lines += ["", f"**Решение:** {rec['text']} Ответственный: {rec['responsible']}; срок: "
                      f"{_date(rec['deadline'])}; контроль: {metric} — сейчас {_val(rec['control_metric'], rec['baseline'])}, "
                      f"цель {_val(rec['control_metric'], rec['target'])}."]
    return "\n".join(lines)


def _date(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}.{m}.{y}"


def _val(metric: str, v) -> str:
    if v is None:
        return "—"
    return t.pct(v) if metric in ("quality", "success") else t.num(v)


def glue_overview(ctx) -> None:
    doc = _parts(ctx)
    probs = problems(doc["findings"])
    strengths = [f for f in doc["findings"] if f["polarity"] == "strength"]
    _glue("n_problems", t.count(len(probs), "проблему", "проблемы", "проблем"))
    _glue("n_findings", t.count(sum(map(len, probs)), "находка", "находки", "находок"))
    _glue("n_strengths", t.count(len(strengths), "сильную сторону", "сильные стороны", "сильных сторон"))
    _glue("n_skipped", t.count(len(doc["skipped"]), "анализ", "анализа", "анализов"))


def key_problems(ctx, k: int = 7):
    """The ``k`` key problems as Markdown: evidence, other sides, tested causes, the decision."""
    from IPython.display import Markdown

    probs = problems(_parts(ctx)["findings"])[:k]
    if not probs:
        return Markdown("Проблем, подтверждённых данными за пределами случайного разброса, анализы этой версии "
                        "не установили.")
    return Markdown("\n\n".join(_problem_md(i, fs) for i, fs in enumerate(probs, start=1)))


def strengths(ctx):
    from IPython.display import Markdown

    fs = [f for f in _parts(ctx)["findings"] if f["polarity"] == "strength"]
    if not fs:
        return Markdown("Сильных сторон, подтверждённых данными за пределами случайного разброса, не выявлено.")
    return Markdown("\n".join(f"- **{f['title']}.** {f['evidence']}" for f in fs))


def findings_table(ctx) -> pd.DataFrame:
    """All findings of the run as a readable table (problems first, by severity)."""
    doc = _parts(ctx)
    rows = [{"важность": SEVERITY_RU[f["severity"]], "тип": "проблема" if f["polarity"] == "problem" else "сильная сторона",
             "что установлено": f["title"], "доказательства": f["evidence"],
             "рекомендация": (f["recommendation"] or {}).get("text", "")}
            for fs in problems(doc["findings"]) for f in fs]
    rows += [{"важность": SEVERITY_RU[f["severity"]], "тип": "сильная сторона", "что установлено": f["title"],
              "доказательства": f["evidence"], "рекомендация": ""}
             for f in doc["findings"] if f["polarity"] == "strength"]
    if not rows:
        return pd.DataFrame({"итог": ["Анализы, построенные в этой версии, проблем за пределами случайного разброса "
                                      "не установили."]})
    return pd.DataFrame(rows)


def skipped_table(ctx) -> pd.DataFrame:
    doc = _parts(ctx)
    if not doc["skipped"]:
        return pd.DataFrame({"итог": ["Все анализы выполнены."]})
    return pd.DataFrame(doc["skipped"]).rename(columns={"analysis": "анализ", "reason": "причина"})
