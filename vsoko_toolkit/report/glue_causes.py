"""Glued numbers and Russian tables for the chapter "Причины: факторы и вклад учителей"."""

from __future__ import annotations

import pandas as pd

from . import text as t
from .glue import _glue

LEVELS = {"school_id": "школа", "class": "класс", "teacher": "учитель (вместо класса)", "teacher_id": "учитель"}


OUTCOME_RU = {"journal": "годовые отметки", "external": "ВПР"}
UNIT_RU = {"journal": "балла", "external": "ст. откл."}
AGREEMENT_RU = {
    "journal_only_high": "по журналу прирост выше среднего, по ВПР — нет: возможно, отметки выставляются мягче, "
                         "чем показывает ВПР (признак оценивания, а не преподавания)",
    "journal_only_low": "по журналу прирост ниже среднего, по ВПР — нет: возможно, отметки выставляются строже, "
                        "чем показывает ВПР (или данных ВПР не хватает, чтобы это подтвердить)",
    "external_only_high": "по ВПР прирост выше среднего, по журналу — нет: отметки могут не отражать рост учеников",
    "external_only_low": "по ВПР прирост ниже среднего, по журналу — нет: отметки могут скрывать отставание",
}


def _decisive(d: pd.DataFrame) -> pd.DataFrame:
    return d[d["decisive"].astype(bool)] if "decisive" in d else d


def value_added(va) -> None:
    d = va.tidy()
    dec = _decisive(d)
    tch = dec[dec["unit_type"] == "teacher"]
    flagged = dec[dec["flagged"].astype(bool)]
    _glue("va_n_teachers", t.count(tch["unit_id"].nunique(), "учитель", "учителя", "учителей"))
    _glue("va_n_units", t.count(len(dec), "оценка", "оценки", "оценок"))
    _glue("va_n_low", t.fmt_int(int((flagged["estimate"] < 0).sum())))
    _glue("va_n_high", t.fmt_int(int((flagged["estimate"] > 0).sum())))
    _glue("va_n_students", t.count(va.n_students, "ученик", "ученика", "учеников"))
    ext = tch[tch["outcome"] == "external"] if len(tch) else tch
    _glue("va_n_external", t.count(len(ext), "оценка учителя", "оценки учителей", "оценок учителей"))
    _glue("va_n_journal", t.fmt_int(len(tch) - len(ext)))
    _glue("va_n_disagree", t.fmt_int(len(va.disagreements())))
    skip = " ".join(s.reason for s in va.skipped)
    _glue("va_external_note", skip or "Результаты ВПР есть: где у учителя достаточно учеников с ВПР, вывод строится "
          "по ним.")


def value_added_table(va, public: bool):
    """Internal: every unit with its estimate (the decisive one first, the other measure beside it); public:
    counts by subject only (no teacher ids)."""
    d = _decisive(va.tidy())
    if d.empty:
        return pd.DataFrame({"итог": ["Недостаточно данных (нужны годовые отметки или результаты ВПР двух лет "
                                      "подряд)."]})
    if public:
        g = d.groupby(["unit_type", "subject", "outcome"])
        return pd.DataFrame({
            "единица": [("учителя" if u == "teacher" else "классы") for u, _, _ in g.groups],
            "предмет": [s for _, s, _ in g.groups],
            "по чему": [OUTCOME_RU[o] for _, _, o in g.groups],
            "оценок": g.size().to_numpy(),
            "ниже среднего": g.apply(lambda x: int((x["flagged"] & (x["estimate"] < 0)).sum())).to_numpy(),
            "выше среднего": g.apply(lambda x: int((x["flagged"] & (x["estimate"] > 0)).sum())).to_numpy(),
            "разброс оценок": [f"{t.num(x.min())} … {t.num(x.max())} {UNIT_RU[o]}"
                               for (_, _, o), x in g["estimate"]],
        })
    other = va.tidy()
    other = other[~other["decisive"].astype(bool)].set_index(["unit_type", "unit_id", "subject"])
    d = d.sort_values(["flagged", "estimate"], ascending=[False, True])

    def beside(r) -> str:
        k = (r.unit_type, r.unit_id, r.subject)
        if k not in other.index:
            return "—"
        o = other.loc[[k]].iloc[0]
        return f"{t.num(o['estimate'])} {UNIT_RU[o['outcome']]} ({OUTCOME_RU[o['outcome']]})"

    return pd.DataFrame({
        "кто": [u if ut == "teacher" else u.rsplit("-", 1)[-1] + " класс"
                for u, ut in zip(d["unit_id"], d["unit_type"], strict=True)],
        "предмет": d["subject"], "по чему": d["outcome"].map(OUTCOME_RU), "учеников": d["n"],
        "вклад": [f"{t.num(e)} {UNIT_RU[o]}" for e, o in zip(d["estimate"], d["outcome"], strict=True)],
        "95 % ДИ": [f"{t.num(a)} … {t.num(b)}" for a, b in zip(d["ci_low"], d["ci_high"], strict=True)],
        "q": d["q_value"].map(lambda q: "< 0,001" if q < 0.001 else t.num(q, 3)),
        "вывод": [("ниже" if e < 0 else "выше") + " среднего" if f else "в пределах разброса"
                  for e, f in zip(d["estimate"], d["flagged"], strict=True)],
        "другая оценка": [beside(r) for r in d.itertuples()],
    })


def disagreements_table(va, public: bool) -> pd.DataFrame:
    """Teachers whose journal and ВПР estimates disagree; public: how many, by kind, without names."""
    d = va.disagreements()
    if d.empty:
        why = ("Расхождений между оценками по журналу и по ВПР нет." if (va.tidy()["outcome"] == "external").any()
               else "Оценки по ВПР нет — сравнивать не с чем.")
        return pd.DataFrame({"итог": [why]})
    full = va.tidy().set_index(["unit_type", "unit_id", "subject", "outcome"])
    if public:
        c = d["agreement"].map(AGREEMENT_RU).value_counts()
        return pd.DataFrame({"расхождение": c.index, "учителей": c.to_numpy()})

    def ext(r) -> str:
        o = full.loc[(r.unit_type, r.unit_id, r.subject, "external")]
        return f"{t.num(o['estimate'])} ст. откл. ({t.num(o['ci_low'])} … {t.num(o['ci_high'])})"

    return pd.DataFrame({
        "учитель": d["unit_id"], "предмет": d["subject"],
        "по журналу": [f"{t.num(e)} балла ({t.num(a)} … {t.num(b)})"
                       for e, a, b in zip(d["estimate"], d["ci_low"], d["ci_high"], strict=True)],
        "по ВПР": [ext(r) for r in d.itertuples()],
        "что это может значить": d["agreement"].map(AGREEMENT_RU),
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
