"""The summary and synthesis views over a run's findings (what the other chapters established).

Findings that are one problem seen from several sides are grouped (see :func:`problems`); problems are
ranked by severity, then by converging evidence (how many different analyses show them), the strength of
the evidence (the smallest q-value) and whether a cause was supported by the root-cause checks
(:mod:`vsoko_toolkit.analysis.root_causes`, run by the synthesis chapter before the summary)."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pandas as pd

from ..findings import merge_parts
from . import text as t
from .glue import _glue

SEVERITY_RU = {"high": "высокая", "medium": "средняя", "low": "низкая"}
RANK = {"high": 0, "medium": 1, "low": 2}
VERDICT_RU = {"supported": "подтверждается данными", "not_supported": "не подтверждается",
              "inconclusive": "данных недостаточно"}
METRIC_RU = {"quality": "качество знаний", "success": "успеваемость", "mean_mark": "средняя отметка"}
KIND_ORDER = {"declining_trend": 0, "low_result": 1, "threshold_peak": 1, "inflated_marks": 1, "task_deficit": 2}


def _parts(ctx) -> dict:
    return merge_parts([json.loads(p.read_text(encoding="utf-8")) for p in sorted((ctx.out_dir / "parts").glob("*.json"))
                        if p.stem != ctx.chapter])


OBJECTIVITY = ("inflated_marks", "deflated_marks", "threshold_peak", "result_anomaly")
CLASS_OWN = ("low_result", "task_deficit")
NOT_KEY = ("factor_effect",)  # municipality-wide associations: causes and context, not the school's problems
SEV = {"high": 3, "medium": 2, "low": 1}


def _key(f: dict) -> tuple:
    tt, subj = f["target_type"], f.get("subject")
    if f["kind"] in OBJECTIVITY:
        return ("objectivity", subj or f["target_id"])
    if f["kind"] == "risk_students" and not subj:
        return ("risk",)
    if f["area"] in ("conditions", "climate", "indicators", "upbringing", "talent", "self_determination"):
        return (f["area"], f["kind"], f["target_id"])
    if tt == "class":
        return ("class", f["target_id"], subj)
    if tt == "teacher":
        return ("teacher", f["target_id"], subj)
    return ("subject", subj or f["target_id"])


def _score(fs: list[dict]) -> float:
    """Severity first, then converging evidence (distinct kinds), strength (−log10 q) and tested causes."""
    q = min((f["q_value"] for f in fs if f.get("q_value") is not None), default=1.0)
    supported = any(c["verdict"] == "supported" for f in fs for c in f.get("causes", ()))
    return (10 * max(SEV[f["severity"]] for f in fs) + 2 * min(len({f["kind"] for f in fs}), 3)
            + min(-math.log10(max(q, 1e-12)), 6) / 2 + 2 * supported - 5 * all(f["kind"] == "risk_students" for f in fs))


def problems(findings: list[dict]) -> list[list[dict]]:
    """Group problem findings into problems (lists of findings, the headline first), ranked.

    One problem seen from several sides is one group: a subject's findings at school and grade level
    (trend, low results, risk groups in the subject) with the low value added of the subject's teachers and
    classes; a class's own findings in a subject (low result against its parallel, task deficits) form their
    own problem unless the class shows only value added, which is a side of the subject's problem; marking
    offsets (of teachers and classes) and score anomalies of a subject form one objectivity problem. Municipality-wide factor
    associations are causes, not problems, and are left to the findings table.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for f in findings:
        if f["polarity"] == "problem" and f["kind"] not in NOT_KEY:
            groups[_key(f)].append(f)
    for key in [k for k in groups if k[0] in ("class", "teacher")]:
        fs = groups[key]
        own = key[0] == "class" and any(f["kind"] in CLASS_OWN for f in fs)
        if not own and ("subject", key[2]) in groups:
            groups[("subject", key[2])] += groups.pop(key)
    ranked = []
    for fs in groups.values():
        fs.sort(key=lambda f: (KIND_ORDER.get(f["kind"], 3), -SEV[f["severity"]], f["q_value"] or 1))
        ranked.append(fs)
    ranked.sort(key=_score, reverse=True)
    return ranked


def _recommendation(fs: list[dict]) -> dict | None:
    """The problem's decision: from the finding whose causes are supported (its recommendation is addressed to
    the cause), else the headline's."""
    with_cause = [f for f in fs if f.get("recommendation")
                  and any(c["verdict"] == "supported" for c in f.get("causes", ()))]
    pool = with_cause or [f for f in fs if f.get("recommendation")]
    return pool[0]["recommendation"] if pool else None


def _problem_md(i: int, fs: list[dict]) -> str:
    head = fs[0]
    lines = [f"### {i}. {head['title']}", "", f"**Важность:** {SEVERITY_RU[min((f['severity'] for f in fs), key=RANK.get)]}.",
             "", head["evidence"]]
    if len(fs) > 1:
        lines += ["", "**С других сторон та же проблема видна так:**", ""]
        lines += [f"- {f['title']}." for f in fs[1:6]]
        if len(fs) > 6:
            lines.append(f"- и ещё {len(fs) - 6}.")
    causes: dict[str, dict] = {}
    for f in fs:  # one line per hypothesis: a supported verdict from any side of the problem wins
        for c in f.get("causes", []):
            prev = causes.get(c["hypothesis"])
            if prev is None or (c["verdict"] == "supported" and prev["verdict"] != "supported"):
                causes[c["hypothesis"]] = c
    order = {"supported": 0, "not_supported": 1, "inconclusive": 2}
    if causes:
        lines += ["", "**Проверенные причины:**", ""]
        lines += [f"- {c['hypothesis']} — *{VERDICT_RU[c['verdict']]}*. {c['evidence']}"
                  for c in sorted(causes.values(), key=lambda c: order[c["verdict"]])]
    rec = _recommendation(fs)
    if rec:
        metric = METRIC_RU.get(rec["control_metric"], rec["control_metric"])
        lines += ["", f"**Решение:** {rec['text']} Кому: {_addressee(rec)}. Ответственный: {rec['responsible']}; срок: "
                      f"{_date(rec['deadline'])}; контроль: {metric} — сейчас {_val(rec['control_metric'], rec['baseline'])}, "
                      f"цель {_val(rec['control_metric'], rec['target'])}."]
    return "\n".join(lines)


ADDRESSEE_RU = {"teacher": "учителю", "class": "классу", "grade": "параллели", "school": "школе",
                "subject": "методическому объединению по предмету", "students": "ученикам группы риска"}


def _addressee(rec: dict) -> str:
    kind, who = rec.get("addressee_type", ""), rec.get("addressee_id", "")
    if kind == "teacher" and ";" in who:
        return "учителям " + ", ".join(who.split(";"))
    if kind == "class" and who:
        from . import phrases as ph

        return f"{ph.class_label(who)} классу"
    if kind == "grade" and who:
        return f"{who}-м классам"
    return " ".join(x for x in (ADDRESSEE_RU.get(kind, kind), "" if kind == "school" else who) if x)


def real_strengths(findings: list[dict]) -> list[dict]:
    """Strengths, without those another finding contradicts: a teacher's high value added measured on journal
    marks that the same teacher inflates is not a strength."""
    inflated = {(f["target_id"], f.get("subject")) for f in findings if f["kind"] == "inflated_marks"}
    return [f for f in findings if f["polarity"] == "strength"
            and not (f["kind"] == "high_value_added" and (f["target_id"], f.get("subject")) in inflated)]


def _date(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}.{m}.{y}"


def _val(metric: str, v) -> str:
    if v is None:
        return "—"
    return t.pct(v) if metric in ("quality", "success") else t.num(v)


def check_causes(ctx):
    """Test the candidate causes of every problem the other chapters found; the findings get their causes."""
    from ..analysis.root_causes import check_causes as run

    # chapter 05's value added and chapter 04's marking offsets, when they ran in this run (fit each model once)
    shared = {"va": ctx.shared("value_added"), "offsets": ctx.shared("marking_offsets"),
              "class_offsets": ctx.shared("class_marking_offsets")}
    rc = run(ctx.wh, ctx.school_id, ctx.year, _parts(ctx)["findings"], name_teachers=not ctx.public,
             precomputed={k: v for k, v in shared.items() if v is not None} or None)
    ctx.update_findings(rc.updated)
    d = rc.tidy()
    _glue("rc_n_problems", t.count(len(rc.updated), "проблемы", "проблем", "проблем"))
    _glue("rc_n_checks", t.count(len(d), "проверка", "проверки", "проверок"))
    _glue("rc_n_supported", t.fmt_int(int((d["verdict"] == "supported").sum())))
    _glue("rc_n_inconclusive", t.fmt_int(int((d["verdict"] == "inconclusive").sum())))
    return rc


def causes_table(rc) -> pd.DataFrame:
    """Every cause check as a readable table: the problem, the hypothesis, the verdict and its evidence."""
    d = rc.tidy()
    if d.empty:
        return pd.DataFrame({"итог": ["Проблем, для которых проверяются причины, нет."]})
    return pd.DataFrame({"проблема": d["finding_title"], "возможная причина": d["hypothesis"],
                         "вывод": d["verdict"].map(VERDICT_RU), "q": d["q_value"],
                         "на чём основан вывод": d["evidence"]})


def glue_overview(ctx) -> None:
    doc = _parts(ctx)
    probs = problems(doc["findings"])
    strengths = real_strengths(doc["findings"])
    _glue("n_problems", t.count(len(probs), "проблему", "проблемы", "проблем"))
    _glue("n_findings", t.count(sum(map(len, probs)), "находка", "находки", "находок"))
    _glue("n_strengths", t.count(len(strengths), "сильную сторону", "сильные стороны", "сильных сторон"))
    _glue("n_skipped", t.count(len(doc["skipped"]), "анализ", "анализа", "анализов"))


def key(findings: list[dict], k: int = 7) -> list[list[dict]]:
    """The ``k`` key problems: the top of :func:`problems`, without risk groups that stand alone (they are a list
    of students to support, shown in their own chapter, not a problem of the school's work)."""
    return [fs for fs in problems(findings) if not all(f["kind"] == "risk_students" for f in fs)][:k]


def key_problems(ctx, k: int = 7):
    """The ``k`` key problems as Markdown: evidence, other sides, tested causes, the decision."""
    from IPython.display import Markdown

    probs = key(_parts(ctx)["findings"], k)
    if not probs:
        return Markdown("Проблем, подтверждённых данными за пределами случайного разброса, анализы этой версии "
                        "не установили.")
    return Markdown("\n\n".join(_problem_md(i, fs) for i, fs in enumerate(probs, start=1)))


def strengths(ctx):
    from IPython.display import Markdown

    fs = real_strengths(_parts(ctx)["findings"])
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
