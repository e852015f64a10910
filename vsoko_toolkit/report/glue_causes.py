"""Glued numbers and Russian tables for the chapter "Причины: факторы и вклад учителей"."""

from __future__ import annotations

import pandas as pd

from . import text as t
from .glue import _glue

LEVELS = {"school_id": "школа", "class": "класс", "teacher": "учитель (вместо класса)", "teacher_id": "учитель"}


def value_added(va) -> None:
    d = va.tidy()
    tch = d[d["unit_type"] == "teacher"]
    flagged = d[d["flagged"].astype(bool)]
    _glue("va_n_teachers", t.count(tch["unit_id"].nunique(), "учитель", "учителя", "учителей"))
    _glue("va_n_units", t.count(len(d), "оценка", "оценки", "оценок"))
    _glue("va_n_low", t.fmt_int(int((flagged["estimate"] < 0).sum())))
    _glue("va_n_high", t.fmt_int(int((flagged["estimate"] > 0).sum())))
    _glue("va_n_students", t.count(va.n_students, "ученик", "ученика", "учеников"))


def value_added_table(va, public: bool):
    """Internal: every unit with its estimate; public: counts by subject only (no teacher ids)."""
    d = va.tidy()
    if d.empty:
        return pd.DataFrame({"итог": ["Недостаточно данных (нужны годовые отметки двух лет подряд)."]})
    if public:
        g = d.groupby(["unit_type", "subject"])
        return pd.DataFrame({
            "единица": [("учителя" if u == "teacher" else "классы") for u, _ in g.groups],
            "предмет": [s for _, s in g.groups],
            "оценок": g.size().to_numpy(),
            "ниже среднего": g.apply(lambda x: int((x["flagged"] & (x["estimate"] < 0)).sum())).to_numpy(),
            "выше среднего": g.apply(lambda x: int((x["flagged"] & (x["estimate"] > 0)).sum())).to_numpy(),
            "разброс оценок, балла": g["estimate"].agg(lambda x: f"{t.num(x.min())} … {t.num(x.max())}").to_numpy(),
        })
    d = d.sort_values(["flagged", "estimate"], ascending=[False, True])
    return pd.DataFrame({
        "кто": [u if ut == "teacher" else u.rsplit("-", 1)[-1] + " класс"
                for u, ut in zip(d["unit_id"], d["unit_type"], strict=True)],
        "предмет": d["subject"], "учеников": d["n"],
        "вклад, балла": d["estimate"].map(t.num),
        "95 % ДИ": [f"{t.num(a)} … {t.num(b)}" for a, b in zip(d["ci_low"], d["ci_high"], strict=True)],
        "q": d["q_value"].map(lambda q: "< 0,001" if q < 0.001 else t.num(q, 3)),
        "вывод": [("ниже" if e < 0 else "выше") + " среднего" if f else "в пределах разброса"
                  for e, f in zip(d["estimate"], d["flagged"], strict=True)],
    })


def factors(fa) -> None:
    d = fa.tidy()
    _glue("fa_n_tests", t.count(len(d), "проверка", "проверки", "проверок"))
    _glue("fa_n_flagged", t.fmt_int(int(d["flagged"].sum())))
    v = fa.variance
    subj = "Математика" if (v["subject"] == "Математика").any() else (v["subject"].iloc[0] if len(v) else "")
    vs = v[(v["subject"] == subj) & (v["model"] == "class")].set_index("level")["share"]
    _glue("fa_subject", f"«{subj}»" if subj else "—")
    _glue("fa_school_share", t.pct(vs.get("school_id", float("nan"))))
    _glue("fa_class_share", t.pct(vs.get("class", float("nan"))))
    _glue("fa_student_share", t.pct(1 - vs.sum()) if len(vs) else "—")


def factors_table(fa):
    d = fa.tidy()
    if d.empty:
        return pd.DataFrame({"итог": ["Недостаточно данных для моделей факторов."]})
    return pd.DataFrame({
        "предмет": d["subject"], "фактор": d["name"], "единица": d["unit"],
        "с учётом остальных, балла": d["estimate"].map(t.num),
        "95 % ДИ": [f"{t.num(a)} … {t.num(b)}" for a, b in zip(d["ci_low"], d["ci_high"], strict=True)],
        "без учёта, балла": d["unadjusted"].map(t.num),
        "q": d["q_value"].map(lambda q: "< 0,001" if q < 0.001 else t.num(q, 3)),
        "вывод": ["связь есть" if f else "нет доказательств связи" for f in d["flagged"]],
    })


def variance_table(fa):
    v = fa.variance
    if v.empty:
        return pd.DataFrame({"итог": ["Недостаточно данных."]})
    rows = []
    for subj, g in v.groupby("subject", sort=False):
        main = g[g["model"] == "class"]
        for r in g.itertuples():
            rows.append({"предмет": subj, "уровень": LEVELS.get(r.level, r.level), "доля дисперсии": t.pct(r.share),
                         "95 % ДИ": f"{t.pct(r.ci_low)} … {t.pct(r.ci_high)}"})
        rows.append({"предмет": subj, "уровень": "ученик (внутри класса)", "доля дисперсии": t.pct(1 - main["share"].sum()),
                     "95 % ДИ": "—"})
    return pd.DataFrame(rows)


def value_added_export(va, public: bool) -> pd.DataFrame:
    """``tables/value_added.csv``: the full table; in the public profile teachers get anonymous numbers."""
    d = va.tidy()
    if public and len(d):
        tch = d["unit_type"] == "teacher"
        codes = {u: f"учитель {i + 1}" for i, u in enumerate(sorted(d.loc[tch, "unit_id"].unique()))}
        d.loc[tch, "unit_id"] = d.loc[tch, "unit_id"].map(codes)
    return d
