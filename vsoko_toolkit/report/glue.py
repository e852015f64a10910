"""Numbers for the narrative, glued from computation (myst-nb ``glue``), never typed."""

from __future__ import annotations

from . import text as t

#: myst-nb's mime prefix for a glued value that is stored, not shown (``myst_nb.ext.glue.GLUE_PREFIX``).
GLUE_PREFIX = "application/papermill.record/"


def _glue(name: str, value) -> None:
    """``myst_nb.glue(name, value, display=False)``, output for output, without importing myst_nb in the kernel.

    Importing myst_nb's glue imports nbformat, jsonschema and its IRI grammar (lark): ~0.9 s in every chapter's
    kernel, ~9 s of CPU per school. ``tests/test_glue.py`` checks that this writes exactly what ``myst_nb.glue``
    writes, so a change in myst-nb's format fails there first."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def context(res) -> None:
    tot = res.totals()
    s = res.staff_summary
    _glue("academic_year", t.academic_year(res.year))
    _glue("students_text", ("обучается " if tot["students"] % 10 == 1 and tot["students"] % 100 != 11 else "обучаются ")
          + t.count(tot["students"], "ученик", "ученика", "учеников"))
    _glue("classes_text", t.count(tot["classes"], "классе", "классах", "классах"))
    _glue("special_needs", t.fmt_int(tot["special_needs"]))
    _glue("teachers_text", t.count(s["teachers"], "учитель", "учителя", "учителей"))
    _glue("share_highest_first", t.pct(s["share_highest_first"]))
    _glue("mean_experience", t.num(s["mean_experience"], 1))
    _glue("share_pd", t.pct(s["share_pd"]))
    _glue("share_young", t.pct(s["share_young"]))


def results(res) -> None:
    sch = res.school.iloc[0]
    _glue("success", t.pct(sch["success"], 1))
    _glue("success_ci", t.interval(sch["success_lower"], sch["success_upper"], digits=1))
    _glue("quality", t.pct(sch["quality"], 1))
    _glue("quality_ci", t.interval(sch["quality_lower"], sch["quality_upper"], digits=1))
    _glue("n_marks", t.fmt_int(sch["n_numeric"]))
    _glue("n_non_numeric", t.fmt_int(sch["n_non_numeric"]))


def comparisons(res) -> None:
    t_ = res.tidy()
    flagged = t_[t_["flagged"]]
    _glue("n_comparisons", t.count(len(t_), "сравнение", "сравнения", "сравнений"))
    _glue("n_low", t.count(flagged.drop_duplicates(["comparison", "target_id", "subject"]).shape[0],
                           "группа", "группы", "групп"))
    _glue("funnel_subject", f"«{res.focus_subject()}»")


def low_results_table(res):
    """The flagged comparisons as a readable table (Russian headers)."""
    import pandas as pd

    f = res.tidy()
    f = f[f["flagged"]]
    if f.empty:
        return pd.DataFrame({"итог": ["Различий за пределами случайного разброса не найдено."]})
    names = {"parallel": "остальные классы параллели", "last_year": "та же параллель год назад",
             "municipality": "другие школы", "school": "остальные классы школы"}
    out = pd.DataFrame({
        "группа": f["target_id"].map(lambda x: x.rsplit("-", 1)[-1]), "предмет": f["subject"],
        "показатель": f["metric"].map({"quality": "качество", "success": "успеваемость"}),
        "значение": f["p1"].map(t.pct), "учеников": f["n1"], "сравнение": f["comparison"].map(names),
        "в сравнении": f["p2"].map(t.pct), "разница": (f["diff"] * 100).round(0).astype(int).astype(str) + " п. п.",
        "q": f["q_value"].map(lambda q: t.num(q, 3)),
    })
    out.attrs["labels"] = ["группа", "предмет", "показатель", "сравнение"]  # public: a row under 5 keeps these
    return out


def trends(res) -> None:
    tt = res.tidy()
    n = int(tt["flagged"].sum()) if "flagged" in tt else 0
    _glue("n_trends", t.fmt_int(n))


def trends_table(res):
    """Per-subject trend and cohort decomposition, Russian headers."""
    import pandas as pd

    d = res.tidy().dropna(subset=["slope"])
    if d.empty:
        return pd.DataFrame({"итог": ["Меньше трёх лет данных: тренды не оцениваются."]})

    def ci(a, b):
        return f"{t.num(a)} … {t.num(b)}"

    return pd.DataFrame({
        "предмет": d["subject"], "лет": d["n_years"],
        "тренд, балла в год": d["slope"].map(t.num), "95 % ДИ": [ci(a, b) for a, b in zip(d["slope_lower"], d["slope_upper"], strict=True)],
        "q": d["q_value"].map(lambda q: "< 0,001" if q < 0.001 else t.num(q, 3)),
        "у тех же учеников": d["within"].map(t.num),
        "ДИ (те же)": [ci(a, b) for a, b in zip(d["within_lower"], d["within_upper"], strict=True)],
        "смена состава": d["composition"].map(t.num),
        "ДИ (состав)": [ci(a, b) for a, b in zip(d["composition_lower"], d["composition_upper"], strict=True)],
        "вывод": ["тренд" if f else "нет различий" for f in d["flagged"]],
    })


def metrics_table(df):
    """Standard metrics with intervals, Russian headers (one row per group)."""
    import pandas as pd

    label = next(c for c in ("subject", "class_id", "grade") if c in df.columns)
    names = {"subject": "предмет", "class_id": "класс", "grade": "параллель"}

    def share(p, lo, hi):
        return [f"{t.pct(a)} ({t.pct(b)}–{t.pct(c)})" for a, b, c in zip(p, lo, hi, strict=True)]

    return pd.DataFrame({
        names[label]: df[label].map(lambda x: x.rsplit("-", 1)[-1] if label == "class_id" else x),
        "отметок": df["n_numeric"],
        "успеваемость (95 % ДИ)": share(df["success"], df["success_lower"], df["success_upper"]),
        "качество (95 % ДИ)": share(df["quality"], df["quality_lower"], df["quality_upper"]),
        "СОУ, %": df["sou"].round(1), "средний балл": df["mean_mark"].round(2),
        "нечисловых записей": df["n_non_numeric"],
    })
