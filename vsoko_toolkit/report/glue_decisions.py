"""Glued numbers, the Russian table and the explanations for the chapter
"Эффективность управленческих решений"."""

from __future__ import annotations

import math

import pandas as pd

from ..analysis.decisions import METHOD_RU, METRIC_RU, VERDICT_RU, _fmt_eff, _p
from . import text as t
from .glue import _glue


def _n(d: pd.DataFrame, verdict: str) -> int:
    return int((d["verdict"] == verdict).sum()) if len(d) else 0


def decisions(res) -> None:
    """Counts of decisions by verdict, glued for the narrative."""
    d = res.tidy()
    _glue("dec_n_total", t.count(len(d), "решение", "решения", "решений"))
    _glue("dec_n_evaluated", t.fmt_int(len(res.evaluated())))
    _glue("dec_n_effective", t.fmt_int(_n(d, "effective")))
    _glue("dec_n_not_effective", t.fmt_int(_n(d, "not_effective")))
    _glue("dec_n_insufficient", t.fmt_int(_n(d, "insufficient_data")))
    _glue("dec_n_not_due", t.fmt_int(_n(d, "not_due")))


def _date(x) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x) else \
        pd.Timestamp(x).strftime("%d.%m.%Y")


def _target(r) -> str:
    ids = [x for x in str(r["target_ids"] or "").split(";") if x]
    if r["target_type"] == "class" and ids:
        return ", ".join(x.rsplit("-", 1)[-1] for x in ids) + " кл."
    return {"school": "вся школа", "grade": "параллель", "teacher": "учитель", "subject": "предмет",
            "students": "группа учеников"}.get(r["target_type"], str(r["target_type"]))


def decisions_table(res) -> pd.DataFrame:
    """One row per decision, Russian headers."""
    d = res.tidy()
    if d.empty:
        return pd.DataFrame({"итог": ["В реестре управленческих решений нет решений школы за этот и "
                                      "прошлые годы."]})
    return pd.DataFrame({
        "решение": d["decision_id"], "дата": d["date"].map(_date),
        "на кого": [_target(r) for r in d.to_dict("records")],
        "предмет": d["subject"].fillna("—"),
        "показатель": d["metric"].map(lambda m: METRIC_RU.get(m, m)),
        "метод": d["method"].map(METHOD_RU),
        "эффект": [_fmt_eff(e, m) for e, m in zip(d["effect"].astype(float), d["metric"], strict=True)],
        "95 % ДИ": [("—" if pd.isna(lo) else f"{_fmt_eff(lo, m)} … {_fmt_eff(hi, m)}")
                    for lo, hi, m in zip(d["ci_low"].astype(float), d["ci_high"].astype(float), d["metric"],
                                         strict=True)],
        "проверка трендов, p": d["pretrend_p"].astype(float).map(_p),
        "вывод": d["verdict"].map(VERDICT_RU),
    })


def explanations(res):
    """The explanation paragraph of every decision, as Markdown."""
    from IPython.display import Markdown

    d = res.tidy()
    if d.empty:
        return Markdown("Решений для оценки нет.")
    return Markdown("\n\n".join(f"**{r['decision_id']}** ({VERDICT_RU[r['verdict']]}). {r['explanation']}"
                                for r in d.to_dict("records")))
