"""Glue, Russian tables and privacy-aware output for the chapter «Группы риска».

The public profile never writes or shows anything per student: only counts per
grade × subject, with groups under 5 shown as "< 5". The internal profile also
writes ``tables/risk_scores.csv`` (student_code, subject, risk, top_factor) and
``private/code_map.csv`` (student_code → student_id, full_name) for the administration.
"""

from __future__ import annotations

import pandas as pd

from ..analysis.risk import code_map
from ..privacy import suppress_small
from . import phrases as ph
from . import text as t
from .glue import _glue

PRIVATE_DIR = "private"


def emit(ctx, res) -> None:
    """Record the findings and write the tables this profile may hold."""
    ctx.emit("risk_groups", findings=res.findings, skipped=res.skipped)
    if res.counts is not None:
        ctx.table("risk_counts", res.counts)
    if not ctx.public and res.scores is not None:
        ctx.table("risk_scores", res.tidy())
        write_code_map(ctx, res)


def write_code_map(ctx, res):
    """Write ``private/code_map.csv`` under the run folder (internal profile only); return its path."""
    if ctx.public:
        return None
    path = ctx.out_dir / PRIVATE_DIR / "code_map.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    code_map(res).to_csv(path, index=False, encoding="utf-8")
    return path


def risk(res, public: bool) -> None:
    m = res.metrics or {}
    _glue("risk_auc", t.num(m.get("cv_auc"), 2))
    _glue("risk_slope", t.num(m.get("calib_slope"), 2))
    _glue("risk_intercept", t.num(m.get("calib_intercept"), 2))
    _glue("risk_threshold", t.pct(m.get("threshold")))
    _glue("risk_base_rate", t.pct(m.get("base_rate"), 1))
    _glue("risk_train_years", ", ".join(t.academic_year(y) for y in m.get("train_years", [])) or "—")
    _glue("risk_n_train", t.fmt_int(m.get("n_train", 0)))
    _glue("risk_n_events", t.fmt_int(m.get("n_events", 0)))
    s = res.scores
    k = 0 if s is None or s.empty else int(s.loc[s["at_risk"], "student_id"].nunique())
    total = 0 if s is None or s.empty else int(s["student_id"].nunique())
    _glue("risk_n_students", suppress_small(k) if public else t.fmt_int(k))
    _glue("risk_n_total", t.fmt_int(total))
    _glue("risk_n_findings", t.count(len(res.findings), "группа", "группы", "групп"))


def quality_table(res) -> pd.DataFrame:
    m = res.metrics or {}
    return pd.DataFrame({
        "показатель": ["AUC на перекрёстной проверке", "наклон калибровки", "сдвиг калибровки",
                       "строк ученик × предмет для обучения", "из них годовых «2» / «н/а»"],
        "значение": [t.num(m.get("cv_auc")), t.num(m.get("calib_slope")), t.num(m.get("calib_intercept")),
                     t.fmt_int(m.get("n_train", 0)), t.fmt_int(m.get("n_events", 0))],
        "как читать": ["0,5 — случайное угадывание, 1 — безошибочное ранжирование",
                       "1 — прогноз не преувеличивает и не преуменьшает различия",
                       "0 — прогноз в среднем не завышен и не занижен", "", ""]})


def coefficients_table(res) -> pd.DataFrame:
    c = res.coefficients
    if c is None or c.empty:
        return pd.DataFrame({"итог": ["Модель не построена: мало данных."]})
    c = c.reindex(c["coef_std"].abs().sort_values(ascending=False).index)
    return pd.DataFrame({
        "фактор (чем больше, тем выше риск)": c["factor"],
        "вклад (станд.)": c["coef_std"].map(lambda x: t.num(x, 2)),
        "направление": c["coef_std"].map(lambda x: "повышает риск" if x > 0.05 else
                                         "снижает риск" if x < -0.05 else "почти не влияет")})


def counts_table(res, public: bool) -> pd.DataFrame:
    c = res.counts
    if c is None or c.empty or not (c["n"] > 0).any():
        return pd.DataFrame({"итог": ["Учеников с повышенным риском не выявлено."]})
    c = c[c["n"] > 0].sort_values(["grade", "subject"])
    return pd.DataFrame({
        "параллель": c["grade"].map(lambda g: f"{g}-е классы"), "предмет": c["subject"],
        "учеников с годовыми отметками": c["students_total"].map(t.fmt_int),
        "в группе повышенного риска": c["n"].map(suppress_small if public else t.fmt_int)})


def codes_table(res, public: bool) -> pd.DataFrame:
    """Pseudonymous codes at increased risk (internal profile only; empty note in the public one)."""
    if public:
        return pd.DataFrame({"итог": ["Список кодов доступен только во внутренней версии отчёта."]})
    s = res.scores
    if s is None or s.empty or not s["at_risk"].any():
        return pd.DataFrame({"итог": ["Учеников с повышенным риском не выявлено."]})
    s = s[s["at_risk"]]
    return pd.DataFrame({"код ученика": s["student_code"], "класс": s["class_id"].map(ph.class_label),
                         "предмет": s["subject"], "риск": s["risk"].map(t.pct),
                         "главный фактор": s["top_factor"]})
