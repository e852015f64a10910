"""The training book's lessons: each computes its example on the school's own data and checks answers.

A lesson notebook (``notebooks/training/NN_*.ipynb``) is a call plus a sentence::

    les = tr.open_lesson(1, db, school_id, year, profile, sample_db)
    les.glue()                         # the numbers its prose quotes ({glue:text}`...`)
    les.plot();
    tr.check(les, "answer_1a", answer_1a)   # "верно" / "неверно" and why

Every example goes through the analyses the annual book uses
(:func:`~vsoko_toolkit.analysis.results.year_metrics` and Wilson intervals,
:func:`~vsoko_toolkit.analysis.comparisons.compare_results` and its funnel plot,
:func:`~vsoko_toolkit.analysis.metrics.count_marks_sql`,
:func:`~vsoko_toolkit.analysis.objectivity.objectivity`,
:func:`~vsoko_toolkit.analysis.decisions.evaluate_decisions`,
:func:`~vsoko_toolkit.analysis.root_causes.check_causes`). The expected answer of every
exercise is computed from the same result object, never typed in. When the school's data
cannot illustrate a lesson (e.g. no evaluable decision), the lesson runs on the sample
municipality (``data_samples/municipality``) and says so (``Lesson.source == "sample"``).

Public profile (default): only class labels and aggregates, no teacher or student ids,
no group under 5 (tables go through :func:`~vsoko_toolkit.pipeline.context.public_table`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..privacy import MIN_GROUP
from . import phrases as ph
from . import text as t

MIN_CLASS = 10  # a class × subject shown as an example has at least this many marks
YES = {"да", "yes", "true", "1", "верно", "д", "y"}
NO = {"нет", "no", "false", "0", "неверно", "н", "n"}
SUBJECT_PREF = ("Математика", "Русский язык")
#: Table columns holding shares (0..1): shown in percent.
SHARE_COLUMNS = ("качество", "нижняя граница", "верхняя граница", "та же параллель в других школах",
                 "качество в школе", "в других школах", "доля учеников школы", "доля в других школах",
                 "доля пропущенных уроков", "доля «понизили»")
ADDRESSEE_RU = {"teacher": "учитель (учителя), ведущие предмет", "class": "класс", "grade": "параллель",
                "school": "школа в целом", "subject_association": "методическое объединение"}


# --------------------------------------------------------------------------- exercises
@dataclass(frozen=True)
class Exercise:
    """One exercise: the learner's answer is the notebook parameter ``key``.

    ``kind``: ``number`` (within ``tolerance``), ``yesno`` (да/нет) or ``choice``
    (an option number, 1-based). ``expected`` comes from the lesson's result object;
    ``typical_wrong`` is the usual mistake (the tests inject it); ``why`` explains the answer.
    """

    key: str
    question: str
    kind: str
    expected: object
    why: str
    tolerance: float = 0.0
    unit: str = ""
    typical_wrong: object = None
    options: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind == "number" and self.typical_wrong is not None and \
                abs(float(self.typical_wrong) - float(self.expected)) <= 1.5 * self.tolerance:
            # the usual mistake happens to land near the right value here: take a clearly wrong one
            step = 3 * self.tolerance if self.tolerance else 1.0
            below = float(self.typical_wrong) < float(self.expected)
            object.__setattr__(self, "typical_wrong", float(self.expected) + (-step if below else step))

    def shown(self, value) -> str:
        if self.kind == "yesno":
            return "да" if value else "нет"
        if self.kind == "choice":
            return f"{value} — «{self.options[int(value) - 1]}»"
        whole = float(value).is_integer() and (self.tolerance == 0 or self.tolerance >= 1)
        digits = 0 if whole else (1 if self.unit in ("%", "п. п.") else 2)
        shown = t.num(float(value), digits).replace("-", "−")
        return f"{shown}{(' ' + self.unit) if self.unit else ''}".replace(" %", "\u00a0%")


@dataclass(frozen=True)
class Verdict:
    """The check of one answer: ``status`` is ``верно``, ``неверно`` or ``нет ответа``."""

    key: str
    status: str
    text: str
    answer_text: str

    @property
    def correct(self) -> bool:
        return self.status == "верно"

    def _repr_markdown_(self) -> str:
        head = {"верно": "✔ **Верно.**", "неверно": "✘ **Неверно.**",
                "нет ответа": "✍ **Ответ ещё не дан.**"}[self.status]
        return f"{head} {self.text}\n\n{self.answer_text}"

    def _repr_html_(self) -> str:
        head = {"верно": "✔ <strong>Верно.</strong>", "неверно": "✘ <strong>Неверно.</strong>",
                "нет ответа": "✍ <strong>Ответ ещё не дан.</strong>"}[self.status]
        css = {"верно": "ok", "неверно": "wrong", "нет ответа": "open"}[self.status]
        return (f'<div class="vsoko-verdict vsoko-verdict-{css}"><p>{head} {_html(self.text)}</p>'
                f"<details><summary>Правильный ответ и объяснение</summary><p>{_html(self.answer_text)}</p>"
                "</details></div>")


def _html(s: str) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s).replace("`", "")


def parse_answer(ex: Exercise, answer):
    """The learner's answer as a number / bool / option number; ``ValueError`` (Russian) if unreadable."""
    if ex.kind == "yesno":
        if isinstance(answer, bool | np.bool_):
            return bool(answer)
        s = str(answer).strip().lower().rstrip(".!")
        if s in YES:
            return True
        if s in NO:
            return False
        raise ValueError(f"Ответ «{answer}» не понят: напишите «да» или «нет».")
    if isinstance(answer, tuple):
        raise ValueError("Похоже, число записано с запятой без кавычек (Python читает 9,7 как два числа): "
                         "напишите 9.7 или \"9,7\".")
    if isinstance(answer, int | float | np.number) and not isinstance(answer, bool):
        value = float(answer)
    else:
        s = str(answer).strip().replace("\u00a0", "").replace(" ", "").replace("%", "").replace(",", ".")
        try:
            value = float(s)
        except ValueError:
            raise ValueError(f"Ответ «{answer}» не понят: нужно число"
                             + (" (номер варианта)." if ex.kind == "choice" else ".")) from None
    if ex.kind == "choice" and (not value.is_integer() or not 1 <= value <= len(ex.options)):
        raise ValueError(f"Ответ «{answer}» не понят: нужен номер варианта от 1 до {len(ex.options)}.")
    return value


def judge(ex: Exercise, answer) -> Verdict:
    """Right or wrong and why (no side effects); ``answer`` None means not answered yet."""
    answer_text = f"Правильный ответ: **{ex.shown(ex.expected)}**. {ex.why}"
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return Verdict(ex.key, "нет ответа", f"Впишите ответ в параметр `{ex.key}` в первой ячейке тетради "
                       "и выполните её заново.", answer_text)
    try:
        value = parse_answer(ex, answer)
    except ValueError as err:
        return Verdict(ex.key, "неверно", str(err), answer_text)
    if ex.kind == "number":
        ok = math.isclose(value, float(ex.expected), abs_tol=ex.tolerance + 1e-9)
        tol = f" (допуск ± {ex.shown(ex.tolerance)})" if ex.tolerance else ""
        said = f"Ваш ответ — {ex.shown(value)}{tol}."
    else:
        ok = value == ex.expected
        said = f"Ваш ответ — {ex.shown(value)}."
    return Verdict(ex.key, "верно" if ok else "неверно", said, answer_text)


def check(lesson: Lesson, key: str, answer) -> Verdict:
    """Check ``answer`` to ``lesson``'s exercise ``key``; glue the verdict as ``verdict_<key>``."""
    v = judge(lesson.exercises[key], answer)
    _glue(f"verdict_{key}", v.status)
    return v


def _glue(name: str, value) -> None:
    from .glue import _glue as glue

    glue(name, value)


# --------------------------------------------------------------------------- lessons
@dataclass
class Lesson:
    """One lesson's example: raw ``values``, formatted ``text`` (glued), exercises, a table and a figure."""

    number: int
    school_id: str
    year: int
    profile: str
    source: str  # "school" (the school's own data) or "sample" (the sample municipality)
    values: dict = field(default_factory=dict)
    text: dict = field(default_factory=dict)
    exercises: dict[str, Exercise] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    result: object = None
    plot_fn: Callable | None = None

    def glue(self) -> None:
        """Glue every formatted number and every question (``q_<key>``) for the prose."""
        for k, v in self.text.items():
            _glue(k, v)
        for k, ex in self.exercises.items():
            _glue(f"q_{k}", ex.question)

    def plot(self, ax=None):
        if self.plot_fn is None:
            return None
        return self.plot_fn(ax)

    def show(self):
        """The lesson's table as this profile may show it (public: no small groups, no ids)."""
        from ..pipeline.context import public_table

        df = self.table if self.table is not None else pd.DataFrame()
        out = public_table(df) if self.profile == "public" else df
        shares = [c for c in out.columns if c in SHARE_COLUMNS]
        out = out.assign(**{c: 100 * pd.to_numeric(out[c], errors="coerce") for c in shares}).rename(
            columns={c: f"{c}, %" for c in shares})
        return (out.style.hide(axis="index")
                .format(na_rep="—", precision=2, decimal=",", thousands="\u202f")
                .format({f"{c}, %": "{:.1f}" for c in shares}, na_rep="—", decimal=",")
                .set_table_styles([{"selector": "th, td", "props": "padding: 0.15em 0.7em;"}]))

    def answers(self, wrong: bool = False) -> dict:
        """Parameters with every right (or typical wrong) answer: for tests and for the answer key."""
        return {k: _param(ex.typical_wrong if wrong else ex.expected, ex) for k, ex in self.exercises.items()}


def _param(value, ex: Exercise):
    if ex.kind == "yesno":
        return "да" if value else "нет"
    if ex.kind == "choice":
        return int(value)
    return round(float(value), 4)


def _source_text(lesson: Lesson, what: str) -> None:
    if lesson.source == "sample":
        lesson.text["source"] = (f"На данных вашей школы {what}, поэтому пример взят из учебного муниципалитета "
                                 f"(data_samples/municipality, школа {lesson.school_id}) — это не ваша школа.")
    else:
        lesson.text["source"] = f"Пример посчитан на данных вашей школы ({lesson.school_id}) за {t.academic_year(lesson.year)} учебный год."


def _focus(subjects) -> str:
    subjects = list(subjects)
    return next((s for s in SUBJECT_PREF if s in subjects), subjects[0] if subjects else "")


def _no(x: bool) -> bool:
    return not bool(x)


# ---- 1. a share from a small class and its interval
def lesson_interval(con, school_id: str, year: int, profile: str = "public", source: str = "school") -> Lesson:
    from ..analysis.results import year_metrics
    from ..stats.intervals import wilson_interval

    ym = year_metrics(con, school_id, year)
    d = ym.tidy()
    d = d[d["n_numeric"] >= MIN_CLASS]
    subject = _focus(d["subject"].value_counts().index)
    d = d[d["subject"] == subject].sort_values(["n_numeric", "class_id"])
    r = d.iloc[0]
    k, n = int(r["n_quality"]), int(r["n_numeric"])
    lo, hi = wilson_interval(k, n)
    lo4, hi4 = wilson_interval(4 * k, 4 * n)
    p_school = float(ym.subjects.set_index("subject").loc[subject, "quality"])
    inside = bool(lo <= p_school <= hi)
    les = Lesson(1, school_id, year, profile, source, result=ym)
    les.values = {"subject": subject, "class_id": r["class_id"], "k": k, "n": n, "p": k / n, "lo": lo, "hi": hi,
                  "lo4": lo4, "hi4": hi4, "p_school": p_school, "inside": inside}
    cls = ph.class_label(r["class_id"])
    les.text = {"subject": f"«{subject}»", "class": cls, "k": t.fmt_int(k), "n": t.fmt_int(n),
                "share": t.pct(k / n, 1), "lo": t.pct(lo, 1), "hi": t.pct(hi, 1),
                "width": f"{100 * (hi - lo):.0f}".replace(".", ",") + " п.\u00a0п.",
                "n4": t.fmt_int(4 * n), "k4": t.fmt_int(4 * k), "lo4": t.pct(lo4, 1), "hi4": t.pct(hi4, 1),
                "school_share": t.pct(p_school, 1),
                "inside_text": "попадает" if inside else "не попадает"}
    _source_text(les, "нет подходящего класса")
    les.exercises = {
        "answer_1a": Exercise("answer_1a", f"Какова нижняя граница 95-процентного интервала для качества знаний "
                              f"класса {cls} (в процентах)?", "number", 100 * lo,
                              f"По формуле Уилсона для {k} из {n} интервал — {t.pct(lo, 1)} … {t.pct(hi, 1)}. "
                              f"Сама доля {t.pct(k / n, 1)} — лишь середина разумных значений, а не «точный» процент.",
                              tolerance=1.0, unit="%", typical_wrong=100 * k / n),
        "answer_1b": Exercise("answer_1b", "Какова верхняя граница того же интервала (в процентах)?", "number",
                              100 * hi, f"Верхняя граница — {t.pct(hi, 1)}: в классе из {n} учеников один ученик "
                              f"меняет долю на {100 / n:.0f} п.\u00a0п., поэтому интервал широкий.".replace(".", ",", 1),
                              tolerance=1.0, unit="%", typical_wrong=100 * k / n),
        "answer_1c": Exercise("answer_1c", f"Попадает ли качество знаний школы в целом по предмету «{subject}» "
                              f"({t.pct(p_school, 1)}) в интервал класса {cls}? Ответьте «да» или «нет».", "yesno",
                              inside, "Если школьное значение внутри интервала, данные этого года не позволяют "
                              "сказать, что класс отличается от школы; если снаружи — отличие больше случайного разброса.",
                              typical_wrong=_no(inside)),
    }
    show = d[["class_id", "n_numeric", "n_quality", "quality", "quality_lower", "quality_upper"]].copy()
    show["class_id"] = show["class_id"].map(ph.class_label)
    les.table = show.rename(columns={"class_id": "класс", "n_numeric": "n", "n_quality": "отметок «4» и «5»",
                                     "quality": "качество", "quality_lower": "нижняя граница",
                                     "quality_upper": "верхняя граница"})

    def plot(ax=None):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        x = d["n_numeric"].to_numpy()
        q = 100 * d["quality"].to_numpy()
        ax.errorbar(x, q, yerr=[q - 100 * d["quality_lower"], 100 * d["quality_upper"] - q], fmt="o",
                    color="#1f5f99", ecolor="#9bbbd9", capsize=3)
        for xi, yi, c in zip(x, q, d["class_id"], strict=True):
            ax.annotate(ph.class_label(c), (xi, yi), fontsize=7, xytext=(4, 2), textcoords="offset points")
        ax.axhline(100 * p_school, color="grey", ls="--", lw=1, label="школа в целом")
        ax.set_xlabel("число годовых отметок в классе")
        ax.set_ylabel("качество знаний, % (95 % интервал)")
        ax.set_title(f"«{subject}»: чем меньше класс, тем шире интервал", fontsize=10)
        ax.legend(fontsize=8)
        return ax

    les.plot_fn = plot
    return les


# ---- 2. class averages mislead: the funnel plot
def lesson_funnel(con, school_id: str, year: int, profile: str = "public", source: str = "school") -> Lesson:
    from ..analysis.comparisons import compare_results
    from ..stats.intervals import funnel_limits_proportion

    cmp = compare_results(con, school_id, year)
    subject = cmp.focus_subject()
    d = cmp.classes[cmp.classes["subject"] == subject].dropna(subset=["quality_ref"])
    d = d[d["n"] >= MIN_GROUP].reset_index(drop=True)
    p = float(cmp.reference[(subject, "quality")])
    lim = funnel_limits_proportion(p, d["n"].to_numpy(), method="normal")
    diff = (d["quality"] - d["quality_ref"]).to_numpy()
    outside = (diff > lim["upper_95"].to_numpy() - p) | (diff < lim["lower_95"].to_numpy() - p)
    low = int(np.argmin(diff))
    big = int(np.argmax(np.abs(diff)))
    median_n = float(np.median(d["n"]))
    small_spread = float(np.mean(np.abs(diff[d["n"] <= median_n])))
    large_spread = float(np.mean(np.abs(diff[d["n"] > median_n]))) if (d["n"] > median_n).any() else float("nan")
    n_raw = int((np.abs(diff) >= 0.10).sum())
    les = Lesson(2, school_id, year, profile, source, result=cmp)
    les.values = {"subject": subject, "n_classes": len(d), "n_outside": int(outside.sum()), "low_class": d["class_id"][low],
                  "low_diff": float(diff[low]), "low_n": int(d["n"][low]), "low_outside": bool(outside[low]),
                  "n_raw10": n_raw, "small_spread": small_spread, "large_spread": large_spread, "p_ref": p}
    les.text = {"subject": f"«{subject}»", "n_classes": t.count(len(d), "класс", "класса", "классов"),
                "n_outside": t.fmt_int(int(outside.sum())), "low_class": ph.class_label(d["class_id"][low]),
                "low_diff": ph.signed(100 * diff[low], 0).replace(".", ",") + " п.\u00a0п.",
                "low_n": t.count(int(d["n"][low]), "ученик", "ученика", "учеников"), "low_outside": "за границами" if outside[low] else "внутри границ",
                "big_class": ph.class_label(d["class_id"][big]), "big_n": t.fmt_int(int(d["n"][big])),
                "n_raw10": t.fmt_int(n_raw), "median_n": t.count(round(median_n), "ученик", "ученика", "учеников"),
                "small_spread": t.num(100 * small_spread, 1) + " п.\u00a0п.",
                "large_spread": t.num(100 * large_spread, 1) + " п.\u00a0п.", "p_ref": t.pct(p, 1)}
    _source_text(les, "нет классов для сравнения")
    wrong_a = n_raw if n_raw != int(outside.sum()) else int(outside.sum()) + 1
    les.exercises = {
        "answer_2a": Exercise("answer_2a", f"Сколько классов на воронкообразной диаграмме по предмету «{subject}» "
                              "лежат за пунктирными границами 95 %?", "number", int(outside.sum()),
                              f"За границами 95 % — {int(outside.sum())} из {len(d)}. Классов, которые отличаются от "
                              f"своей параллели в других школах на 10 п.\u00a0п. и больше, — {n_raw}, но у маленьких "
                              "классов такие отличия случаются и сами собой: граница тем шире, чем меньше класс.",
                              tolerance=0, unit="", typical_wrong=wrong_a),
        "answer_2b": Exercise("answer_2b", f"Класс {ph.class_label(d['class_id'][low])} отстаёт от своей параллели "
                              "в других школах сильнее всех. Лежит ли он за границами 95 %? Ответьте «да» или «нет».",
                              "yesno", bool(outside[low]),
                              "Самое низкое значение ещё не значит «отличается сверх случайного»: это решает "
                              "положение точки относительно границ для класса такого размера.",
                              typical_wrong=_no(outside[low])),
    }
    tb = pd.DataFrame({"класс": d["class_id"].map(ph.class_label), "n": d["n"],
                       "качество": d["quality"], "та же параллель в других школах": d["quality_ref"],
                       "разница, п. п.": 100 * diff,
                       "положение": np.where(outside, "за границами 95 %", "внутри границ")})
    les.table = tb.sort_values("n").reset_index(drop=True)
    les.plot_fn = lambda ax=None: cmp.plot(ax=ax, subject=subject)
    return les


# ---- 3. regression to the mean
def _followed_means(con, school_id: str | None, year: int) -> pd.DataFrame:
    """Class × subject mean year mark in ``year - 1`` and of the same students in ``year`` (analysis.metrics)."""
    from ..analysis.metrics import metrics_from_counts

    where = f"AND p.school_id = '{school_id.replace(chr(39), '')}'" if school_id else ""
    rel = (f"(SELECT p.class_id, p.grade, p.subject, p.mark AS prev_mark, c.mark AS mark FROM period_marks p "
           f"JOIN period_marks c ON c.student_id = p.student_id AND c.subject = p.subject AND c.period = 'year' "
           f"AND c.year = {int(year)} AND c.mark_value IS NOT NULL "
           f"WHERE p.period = 'year' AND p.year = {int(year) - 1} AND p.mark_value IS NOT NULL {where})")
    from ..analysis.metrics import count_marks_sql

    now = metrics_from_counts(count_marks_sql(con, rel, ["class_id", "grade", "subject"]))
    before_rel = rel.replace("p.mark AS prev_mark, c.mark AS mark", "p.mark AS mark, c.mark AS next_mark")
    before = metrics_from_counts(count_marks_sql(con, before_rel, ["class_id", "grade", "subject"]))
    return before[["class_id", "grade", "subject", "n_numeric", "mean_mark"]].merge(
        now[["class_id", "subject", "mean_mark"]], on=["class_id", "subject"], suffixes=("_before", "_after"))


def lesson_regression(con, school_id: str, year: int, profile: str = "public", source: str = "school") -> Lesson:
    every = _followed_means(con, None, year)
    w = every["n_numeric"]
    ref = every.assign(wb=every["mean_mark_before"] * w, wa=every["mean_mark_after"] * w).groupby(
        ["grade", "subject"])[["wb", "wa", "n_numeric"]].sum()
    ref = pd.DataFrame({"ref_before": ref["wb"] / ref["n_numeric"], "ref_after": ref["wa"] / ref["n_numeric"]})
    d = every[(every["class_id"].str.startswith(f"{school_id}-")) & (every["n_numeric"] >= MIN_CLASS)]
    d = d.join(ref, on=["grade", "subject"])
    d["dev_before"] = d["mean_mark_before"] - d["ref_before"]
    d["dev_after"] = d["mean_mark_after"] - d["ref_after"]
    d["change"] = d["dev_after"] - d["dev_before"]
    d = d.sort_values(["dev_before", "class_id", "subject"]).reset_index(drop=True)
    q = max(2, len(d) // 4)
    weak, strong = d.head(q), d.tail(q)
    slope = float(np.polyfit(d["dev_before"], d["dev_after"], 1)[0]) if len(d) > 2 else float("nan")
    les = Lesson(3, school_id, year, profile, source)
    wc, sc = float(weak["change"].mean()), float(strong["change"].mean())
    les.values = {"n_pairs": len(d), "q": q, "weak_change": wc, "strong_change": sc, "slope": slope,
                  "weak_before": float(weak["dev_before"].mean()), "weak_after": float(weak["dev_after"].mean())}
    les.text = {"n_pairs": t.count(len(d), "пара", "пары", "пар"), "q": t.fmt_int(q),
                "weak_before": ph.signed(les.values["weak_before"]).replace(".", ","),
                "weak_after": ph.signed(les.values["weak_after"]).replace(".", ","),
                "weak_change": ph.signed(wc).replace(".", ","), "strong_change": ph.signed(sc).replace(".", ","),
                "slope": t.num(slope), "year_before": t.academic_year(year - 1), "year_now": t.academic_year(year)}
    _source_text(les, "мало классов")
    les.exercises = {
        "answer_3a": Exercise("answer_3a", f"На сколько баллов в среднем изменилось отставание (или опережение) "
                              f"{q} самых слабых в прошлом году пар «класс — предмет»? Со знаком: «+» — "
                              "приблизились к муниципалитету.", "number", wc,
                              f"Самые слабые пары изменились в среднем на {les.text['weak_change']} балла, самые "
                              f"сильные — на {les.text['strong_change']}. Никакого решения для этого не "
                              "принималось: крайние значения прошлого года отчасти были случайными и не повторились.",
                              tolerance=0.03, unit="балла", typical_wrong=0.0),
        "answer_3b": Exercise("answer_3b", "Подтягивание самых слабых классов само по себе доказывает, что "
                              "проведённая с ними работа помогла? Ответьте «да» или «нет».", "yesno",
                              False if wc > 0 and sc < wc else bool(wc > 0),
                              "Нет: если самые сильные пары одновременно «ухудшились», это признак возврата к "
                              "среднему. Эффект работы виден только в сравнении с похожими классами без неё "
                              "(урок 7).", typical_wrong=True if wc > 0 and sc < wc else _no(wc > 0)),
    }
    tb = d.assign(класс=d["class_id"].map(ph.class_label))[["класс", "subject", "n_numeric", "dev_before",
                                                                "dev_after", "change"]]
    les.table = pd.concat([tb.head(q), tb.tail(q)]).rename(columns={
        "subject": "предмет", "n_numeric": "n", "dev_before": f"отклонение {t.academic_year(year - 1)}",
        "dev_after": f"отклонение {t.academic_year(year)}", "change": "изменение"})

    def plot(ax=None):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        ax.scatter(d["dev_before"], d["dev_after"], s=12, color="#1f5f99")
        ax.scatter(weak["dev_before"], weak["dev_after"], s=18, color="#c0392b", label="самые слабые год назад")
        ax.scatter(strong["dev_before"], strong["dev_after"], s=18, color="#27ae60", label="самые сильные год назад")
        lim = float(np.nanmax(np.abs(d[["dev_before", "dev_after"]].to_numpy()))) * 1.1
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=1, label="«ничего не изменилось»")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel(f"отклонение от муниципалитета, {t.academic_year(year - 1)}, балла")
        ax.set_ylabel(f"те же ученики, {t.academic_year(year)}, балла")
        ax.set_title("Возврат к среднему: крайние значения сдвигаются к нулю", fontsize=10)
        ax.legend(fontsize=8)
        return ax

    les.plot_fn = plot
    return les


# ---- 4. Simpson's paradox across parallels
def lesson_simpson(con, school_id: str, year: int, profile: str = "public", source: str = "school") -> Lesson:
    from ..analysis.comparisons import compare_results

    cmp = compare_results(con, school_id, year)
    tb = cmp.table[(cmp.table["comparison"] == "municipality") & (cmp.table["metric"] == "quality")]
    rows = []
    for subject, g in tb.groupby("subject"):
        grades = g[g["target_type"] == "grade"]
        whole = g[g["target_type"] == "subject"]
        if len(grades) < 2 or whole.empty:
            continue
        crude = float(whole["diff"].iloc[0])
        std = float((grades["diff"] * grades["n1"]).sum() / grades["n1"].sum())
        rows.append((subject, crude, std, crude * std < 0, abs(crude - std)))
    cand = pd.DataFrame(rows, columns=["subject", "crude", "std", "flip", "gap"])
    pick = cand.sort_values(["flip", "gap"], ascending=False).iloc[0]
    subject = pick["subject"]
    g = tb[(tb["subject"] == subject) & (tb["target_type"] == "grade")].copy()
    g["grade"] = g["grade"].astype(int)
    g = g.sort_values("grade")
    les = Lesson(4, school_id, year, profile, source, result=cmp)
    crude, std, flip = float(pick["crude"]), float(pick["std"]), bool(pick["flip"])
    share1 = g["n1"] / g["n1"].sum()
    share2 = g["n2"] / g["n2"].sum()
    n_below = int((g["diff"] < 0).sum())
    les.values = {"subject": subject, "crude": crude, "std": std, "flip": flip, "n_grades": len(g),
                  "n_below": n_below, "n_flips": int(cand["flip"].sum())}
    les.text = {"subject": f"«{subject}»", "crude": ph.signed(100 * crude, 1).replace(".", ",") + " п.\u00a0п.",
                "std": ph.signed(100 * std, 1).replace(".", ",") + " п.\u00a0п.",
                "composition": ph.signed(100 * (crude - std), 1).replace(".", ",") + " п.\u00a0п.",
                "n_grades": t.count(len(g), "параллель", "параллели", "параллелей"),
                "n_below": t.fmt_int(n_below), "flip_text": "меняется" if flip else "не меняется",
                "n_flips": t.count(int(cand["flip"].sum()), "предмете", "предметах", "предметах"), "n_subjects": t.fmt_int(len(cand))}
    _source_text(les, "нет сравнения с другими школами")
    les.exercises = {
        "answer_4a": Exercise("answer_4a", f"Какова разница качества знаний школы и других школ по предмету "
                              f"«{subject}» при одинаковом составе параллелей (в процентных пунктах, со знаком)?",
                              "number", 100 * std,
                              f"Сравнение «параллель с параллелью», взвешенное по числу учеников школы, даёт "
                              f"{les.text['std']}, а общая разница — {les.text['crude']}: разность "
                              f"({les.text['composition']}) создаёт только состав параллелей.",
                              tolerance=1.0, unit="п. п.", typical_wrong=100 * crude),
        "answer_4b": Exercise("answer_4b", "Меняется ли знак разницы, если сравнивать параллель с параллелью, "
                              "а не школу в целом? Ответьте «да» или «нет».", "yesno", flip,
                              "Парадокс Симпсона — когда общий итог и итоги по частям указывают в разные стороны. "
                              "Выводы делают по сравнению одинаковых частей.", typical_wrong=_no(flip)),
    }
    les.table = pd.DataFrame({"параллель": g["grade"], "n": g["n1"], "качество в школе": g["p1"],
                              "в других школах": g["p2"], "разница, п. п.": 100 * g["diff"],
                              "доля учеников школы": share1, "доля в других школах": share2})

    def plot(ax=None):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        x = np.arange(len(g))
        ax.bar(x - 0.2, 100 * g["p1"], 0.4, label="школа", color="#1f5f99")
        ax.bar(x + 0.2, 100 * g["p2"], 0.4, label="другие школы", color="#95a5a6")
        ax.set_xticks(x, [f"{v} кл." for v in g["grade"]])
        ax.set_ylabel("качество знаний, %")
        ax.set_title(f"«{subject}»: параллель с параллелью", fontsize=10)
        ax.legend(fontsize=8)
        return ax

    les.plot_fn = plot
    return les


# ---- 5. association vs cause: absences and prior attainment
def lesson_confounding(con, school_id: str, year: int, profile: str = "public", source: str = "school") -> Lesson:
    from ..stats.intervals import compare_means

    d = con.execute(
        """WITH a AS (SELECT student_id, sum(lessons_missed) / nullif(sum(lessons_total), 0) AS missed
                        FROM attendance WHERE school_id = ? AND year = ? GROUP BY ALL),
                now AS (SELECT student_id, avg(mark_value) AS m_now FROM period_marks
                         WHERE period = 'year' AND year = ? AND school_id = ? AND mark_value IS NOT NULL GROUP BY ALL),
                prev AS (SELECT student_id, avg(mark_value) AS m_prev FROM period_marks
                          WHERE period = 'year' AND year = ? AND mark_value IS NOT NULL GROUP BY ALL)
           SELECT * FROM a JOIN now USING (student_id) JOIN prev USING (student_id) WHERE missed IS NOT NULL""",
        [school_id, int(year), int(year), school_id, int(year) - 1]).df()
    cut = float(d["missed"].quantile(0.75))
    often = d["missed"] > cut
    d["gain"] = d["m_now"] - d["m_prev"]

    def gap(col):
        a, b = d.loc[often, col], d.loc[~often, col]
        return compare_means(a.mean(), a.std(), len(a), b.mean(), b.std(), len(b)).iloc[0]

    g_now, g_prev, g_gain = gap("m_now"), gap("m_prev"), gap("gain")
    widened = bool(g_gain["diff_upper"] < 0)
    les = Lesson(5, school_id, year, profile, source)
    les.values = {"n": len(d), "n_often": int(often.sum()), "cut": cut, "gap_now": float(g_now["diff"]),
                  "gap_prev": float(g_prev["diff"]), "gap_gain": float(g_gain["diff"]),
                  "gain_lo": float(g_gain["diff_lower"]), "gain_hi": float(g_gain["diff_upper"]), "widened": widened}
    les.text = {"n": t.count(len(d), "ученик", "ученика", "учеников"), "n_often": t.fmt_int(int(often.sum())),
                "cut": t.pct(cut, 1), "gap_now": ph.signed(float(g_now["diff"])).replace(".", ","),
                "gap_prev": ph.signed(float(g_prev["diff"])).replace(".", ","),
                "gap_gain": ph.signed(float(g_gain["diff"])).replace(".", ","),
                "gain_ci": f"95\u00a0% ДИ: от {ph.signed(float(g_gain['diff_lower']))} до "
                           f"{ph.signed(float(g_gain['diff_upper']))}",
                "share_prev": t.pct(float(g_prev["diff"]) / float(g_now["diff"]) if g_now["diff"] else float("nan")),
                "widened_text": "выросло сверх случайного разброса" if widened else
                "не выросло сверх случайного разброса"}
    _source_text(les, "нет данных о пропусках")
    les.exercises = {
        "answer_5a": Exercise("answer_5a", "На сколько баллов средняя годовая отметка часто пропускающих учеников "
                              "ниже, чем у остальных, в этом году (со знаком «−»)?", "number", float(g_now["diff"]),
                              f"Разница в этом году — {les.text['gap_now']} балла. Это связь, а не доказательство, "
                              "что отметки снизили именно пропуски.", tolerance=0.05, unit="балла",
                              typical_wrong=-float(g_now["diff"])),
        "answer_5b": Exercise("answer_5b", "А какой была разница у тех же учеников годом раньше?", "number",
                              float(g_prev["diff"]),
                              f"Годом раньше те же ученики уже отставали на {les.text['gap_prev']} балла: большую "
                              "часть нынешней разницы пропуски этого года объяснить не могут — она была и до них.",
                              tolerance=0.05, unit="балла", typical_wrong=0.0),
        "answer_5c": Exercise("answer_5c", "Выросло ли отставание часто пропускающих за год сверх случайного "
                              "разброса (интервал изменения целиком ниже нуля)? Ответьте «да» или «нет».", "yesno",
                              widened, f"Изменение отставания за год — {les.text['gap_gain']} балла "
                              f"({les.text['gain_ci']}). Только эта часть может быть связана с пропусками этого "
                              "года, и то без гарантии: пропуски и отметки могут иметь общую причину.",
                              typical_wrong=_no(widened)),
    }
    les.table = pd.DataFrame({"группа": ["часто пропускают", "остальные"],
                              "n": [int(often.sum()), int((~often).sum())],
                              "доля пропущенных уроков": [d.loc[often, "missed"].mean(), d.loc[~often, "missed"].mean()],
                              f"средняя отметка {t.academic_year(year - 1)}": [d.loc[often, "m_prev"].mean(),
                                                                                d.loc[~often, "m_prev"].mean()],
                              f"средняя отметка {t.academic_year(year)}": [d.loc[often, "m_now"].mean(),
                                                                            d.loc[~often, "m_now"].mean()]})

    def plot(ax=None):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        for grp, color, lab in ((often, "#c0392b", "часто пропускают"), (~often, "#1f5f99", "остальные")):
            ax.plot([0, 1], [d.loc[grp, "m_prev"].mean(), d.loc[grp, "m_now"].mean()], "o-", color=color, label=lab)
        ax.set_xticks([0, 1], [t.academic_year(year - 1), t.academic_year(year)])
        ax.set_ylabel("средняя годовая отметка")
        ax.set_title("Разрыв был и до пропусков этого года", fontsize=10)
        ax.legend(fontsize=8)
        return ax

    les.plot_fn = plot
    return les


# ---- 6. lowered / confirmed / raised
def lesson_vpr(con, school_id: str, year: int, profile: str = "public", source: str = "school") -> Lesson:
    from ..analysis.objectivity import objectivity

    obj = objectivity(con, school_id, year)
    if obj.table.empty:
        raise LookupError("нет результатов ВПР с журнальными отметками")
    r = obj.table[obj.table["level"] == "school"].iloc[0]
    by_j = con.execute("""SELECT journal_mark, count(*) AS n, count(CASE WHEN mark < journal_mark THEN 1 END) AS k
                            FROM assessments WHERE kind = 'VPR' AND school_id = ? AND year = ?
                             AND mark IS NOT NULL AND journal_mark IS NOT NULL GROUP BY ALL ORDER BY 1""",
                       [school_id, int(year)]).df()
    by_j = by_j[by_j["n"] >= MIN_GROUP]
    j = by_j.set_index("journal_mark")
    low5 = float(j.loc[5, "k"] / j.loc[5, "n"]) if 5 in j.index else float("nan")
    low3 = float(j.loc[3, "k"] / j.loc[3, "n"]) if 3 in j.index else float("nan")
    beyond = bool(r["diff_low"] > 0)
    raw_above = bool(r["lowered"] > r["muni_lowered"])
    les = Lesson(6, school_id, year, profile, source, result=obj)
    les.values = {"n": int(r["n"]), "lowered": float(r["lowered"]), "confirmed": float(r["confirmed"]),
                  "raised": float(r["raised"]), "muni": float(r["muni_lowered"]), "beyond": beyond,
                  "low5": low5, "low3": low3}
    les.text = {"n": t.count(int(r["n"]), "работа", "работы", "работ"), "lowered": t.pct(r["lowered"], 1),
                "lowered_ci": t.interval(r["lowered_low"], r["lowered_high"], digits=1),
                "confirmed": t.pct(r["confirmed"], 1), "raised": t.pct(r["raised"], 1),
                "muni": t.pct(r["muni_lowered"], 1),
                "diff_ci": f"от {ph.signed(100 * r['diff_low'], 1)} до {ph.signed(100 * r['diff_high'], 1)} п.\u00a0п.",
                "low5": t.pct(low5, 0), "low3": t.pct(low3, 0),
                "beyond_text": "выше, чем в других школах, сверх случайного разброса" if beyond else
                "не отличается от других школ сверх случайного разброса" if r["diff_high"] > 0 else
                "ниже, чем в других школах, сверх случайного разброса"}
    _source_text(les, "нет результатов ВПР")
    les.exercises = {
        "answer_6a": Exercise("answer_6a", "Какая доля работ ВПР в школе «понизила» журнальную отметку (в процентах)?",
                              "number", 100 * float(r["lowered"]),
                              f"Понизили {les.text['lowered']}, подтвердили {les.text['confirmed']}, повысили "
                              f"{les.text['raised']}. «Понизили» — ВПР ниже последней журнальной отметки.",
                              tolerance=1.0, unit="%", typical_wrong=100 * float(r["confirmed"])),
        "answer_6b": Exercise("answer_6b", "Выше ли доля «понизивших» в школе, чем в других школах муниципалитета, "
                              "сверх случайного разброса? Ответьте «да» или «нет».", "yesno", beyond,
                              f"Разница с другими школами — {les.text['diff_ci']} (95 % интервал); вывод «выше» "
                              "можно делать, только если весь интервал выше нуля. И даже тогда это сигнал "
                              "проверить критерии оценивания, а не доказательство предвзятости учителя.",
                              typical_wrong=raw_above if raw_above != beyond else _no(beyond)),
    }
    les.table = pd.DataFrame({"журнальная отметка": by_j["journal_mark"], "n": by_j["n"],
                              "ВПР ниже журнала": by_j["k"], "доля «понизили»": by_j["k"] / by_j["n"]})
    les.plot_fn = lambda ax=None: obj.plot(ax=ax)
    return les


# ---- 7. difference in differences
def lesson_did(con, school_id: str, year: int, profile: str = "public", source: str = "school") -> Lesson:
    from ..analysis.decisions import METRIC_RU, VERDICT_RU, evaluate_decisions

    res = evaluate_decisions(con, school_id, year)
    did = res.table[res.table["method"] == "did"] if len(res.table) else res.table
    if did.empty:
        raise LookupError("нет решений, оценённых методом разности разностей")
    r = did.sort_values("verdict").iloc[0]  # "effective" first
    scale = 100.0 if r["metric"] in ("quality", "success") else 1.0
    unit = "п. п." if scale == 100 else "балла"
    s = res.series[(res.series["decision_id"] == r["decision_id"]) & (res.series["group"] == "target")]
    naive = float(s[s["phase"] == "post"]["value"].mean() - s[s["phase"] == "pre"]["value"].mean())
    pre_ok = bool(np.isfinite(r["pretrend_p"]) and r["pretrend_p"] >= 0.05)
    effective = r["verdict"] == "effective"

    def f(x):
        return (t.num(scale * float(x), 1 if scale == 100 else 2).replace("-", "−") + "\u00a0"
                + unit.replace(" ", "\u00a0"))

    les = Lesson(7, school_id, year, profile, source, result=res)
    les.values = {"decision_id": r["decision_id"], "metric": r["metric"], "effect": float(r["effect"]),
                  "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]), "pretrend_p": float(r["pretrend_p"]),
                  "pre_ok": pre_ok, "effective": effective, "naive": naive, "scale": scale}
    les.text = {"decision_id": r["decision_id"], "metric": METRIC_RU.get(r["metric"], r["metric"]),
                "subject": f"«{r['subject']}»" if isinstance(r["subject"], str) and r["subject"] else "все предметы",
                "n_target": t.count(int(r["n_target"]), "класс", "класса", "классов"),
                "n_comparison": t.count(int(r["n_comparison"]), "класс", "класса", "классов"),
                "effect": f(r["effect"]), "ci_low": f(r["ci_low"]), "ci_high": f(r["ci_high"]),
                "pretrend": f(r["pretrend_diff"]), "pretrend_p": t.num(float(r["pretrend_p"]), 2),
                "naive": f(naive), "verdict": VERDICT_RU[r["verdict"]]}
    _source_text(les, "нет решений, которые уже можно оценить методом разности разностей")
    les.exercises = {
        "answer_7a": Exercise("answer_7a", f"Какова оценка эффекта решения {r['decision_id']} методом разности "
                              f"разностей (в {'процентных пунктах' if scale == 100 else 'баллах'})?", "number",
                              scale * float(r["effect"]),
                              f"Эффект — {les.text['effect']}: изменение у целевых классов минус изменение у "
                              f"классов сравнения. Простое «стало — было» у целевых классов ({les.text['naive']}) "
                              "включает и то, что изменилось бы без решения.",
                              tolerance=1.0 if scale == 100 else 0.02, unit=unit, typical_wrong=scale * naive),
        "answer_7b": Exercise("answer_7b", "Пройдена ли проверка параллельных трендов до решения (p не меньше 0,05)? "
                              "Ответьте «да» или «нет».", "yesno", pre_ok,
                              f"Разность наклонов до решения — {les.text['pretrend']} за четверть, p = "
                              f"{les.text['pretrend_p']}. Если до решения группы уже расходились, оценке эффекта "
                              "доверять нельзя.", typical_wrong=_no(pre_ok)),
        "answer_7c": Exercise("answer_7c", "Можно ли по этим данным признать решение эффективным? Ответьте «да» или «нет».",
                              "yesno", effective,
                              f"Интервал эффекта — {les.text['ci_low']} … {les.text['ci_high']}. Решение эффективно, "
                              "только если весь интервал лежит в нужную сторону от нуля и проверка трендов пройдена.",
                              typical_wrong=_no(effective)),
    }
    show = res.series[res.series["decision_id"] == r["decision_id"]].copy()
    show["group"] = show["group"].map({"target": "целевые классы", "comparison": "группа сравнения"})
    show["phase"] = show["phase"].map({"pre": "до", "post": "после"})
    show["year"] = show["year"].map(t.academic_year)
    show["period"] = show["period"].map({"q1": "1-я четверть", "q2": "2-я четверть", "q3": "3-я четверть",
                                         "q4": "4-я четверть", "h1": "1-е полугодие", "h2": "2-е полугодие"})
    les.table = show[["group", "year", "period", "phase", "value", "n"]].rename(columns={
        "group": "группа", "year": "год", "period": "период", "phase": "до/после", "value": "значение"})
    les.plot_fn = lambda ax=None: res.plot(r["decision_id"], ax=ax)
    return les


# ---- 8. from a finding to an addressed decision
def lesson_decision(con, school_id: str, year: int, profile: str = "public", source: str = "school") -> Lesson:
    from ..analysis.comparisons import compare_results
    from ..analysis.root_causes import HYPOTHESES, PRIORITY, check_causes
    from ..pipeline.context import public_finding

    cmp = compare_results(con, school_id, year)
    findings = [f.to_dict() for f in cmp.findings]
    rc = check_causes(con, school_id, year, findings, name_teachers=profile != "public")
    pick = None
    for f in rc.updated:
        rows = rc.table[rc.table["finding_id"] == f["id"]]
        sup = set(rows.loc[rows["verdict"] == "supported", "check"])
        key = next((k for k in PRIORITY if k in sup), None)
        if key and f.get("recommendation"):
            pick = (f, rows.reset_index(drop=True), key)
            break
    if pick is None:
        raise LookupError("нет находки с подтверждённой причиной")
    f, rows, key = pick
    if profile == "public":
        f = public_finding(f)
    teachers = [x for (x,) in con.execute("SELECT teacher_id FROM teachers").fetchall()]
    rec = dict(f["recommendation"])
    rec["text"] = _scrub(rec["text"], teachers)
    options = tuple(HYPOTHESES[k] for k in rows["check"])
    expected = int(rows.index[rows["check"] == key][0]) + 1
    wrong = next((i + 1 for i, k in enumerate(rows["check"]) if k != key), 1)
    metric_ru = ph.METRIC_RU.get(rec.get("control_metric"), rec.get("control_metric") or "")
    base, goal = rec.get("baseline"), rec.get("target")
    addressee = ADDRESSEE_RU.get(rec.get("addressee_type"), rec.get("addressee_type") or "")
    if rec.get("addressee_type") in ("class", "grade") and rec.get("addressee_id"):
        aid = rec["addressee_id"]
        addressee += " " + (ph.class_label(aid) if rec["addressee_type"] == "class" else f"{aid}-е классы")
    les = Lesson(8, school_id, year, profile, source, result=rc)
    les.values = {"finding_id": f["id"], "cause": key, "expected_option": expected, "baseline": base,
                  "target": goal, "metric": rec.get("control_metric")}
    les.text = {"title": _scrub(f["title"], teachers), "evidence": _scrub(f["evidence"], teachers),
                "cause": HYPOTHESES[key], "recommendation": rec["text"], "addressee": addressee,
                "responsible": rec.get("responsible") or "—", "deadline": _ru_date(rec.get("deadline")),
                "metric": metric_ru, "baseline": t.pct(base, 1) if base is not None else "—",
                "target": t.pct(goal, 1) if goal is not None else "—",
                "n_checks": t.count(len(rows), "причина", "причины", "причин"),
                "n_supported": t.fmt_int(int((rows["verdict"] == "supported").sum()))}
    _source_text(les, "нет находки с подтверждённой причиной")
    les.exercises = {
        "answer_8a": Exercise("answer_8a", f"Какое значение контрольного показателя («{metric_ru}») записано в "
                              "решение как цель (в процентах)?", "number", 100 * float(goal or 0),
                              f"Цель — {les.text['target']} при исходном значении {les.text['baseline']}: через год "
                              "повторная диагностика сравнит с ней результат (урок 7).", tolerance=1.0, unit="%",
                              typical_wrong=100 * float(base or 0)),
        "answer_8b": Exercise("answer_8b", "Какая из проверенных причин выбрана адресатом решения? Укажите номер "
                              "строки в таблице причин.", "choice", expected,
                              f"Решение адресовано причине «{HYPOTHESES[key]}»: среди подтверждённых она первая по "
                              "порядку «учитель → оценивание → умения → набор → общий уровень → пропуски → климат».",
                              typical_wrong=wrong, options=options),
    }
    verdict_ru = {"supported": "подтверждена", "not_supported": "не подтверждена", "inconclusive": "данных мало"}
    les.table = pd.DataFrame({"№": range(1, len(rows) + 1), "гипотеза о причине": list(options),
                              "вывод": rows["verdict"].map(verdict_ru),
                              "q": rows["q_value"].map(lambda q: "—" if pd.isna(q) else "< 0,001" if q < 0.001 else t.num(q, 3))})
    return les


def _scrub(text: str, ids) -> str:
    """Drop teacher ids from a sentence (the public book names roles, never people)."""
    for tid in sorted(ids, key=len, reverse=True):
        text = re.sub(rf"\s*\(?{re.escape(str(tid))}\)?", "", text)
    return text


def _ru_date(iso) -> str:
    if not iso:
        return "—"
    try:
        return pd.Timestamp(iso).strftime("%d.%m.%Y")
    except ValueError:
        return str(iso)


LESSONS: dict[int, Callable[..., Lesson]] = {1: lesson_interval, 2: lesson_funnel, 3: lesson_regression,
                                             4: lesson_simpson, 5: lesson_confounding, 6: lesson_vpr,
                                             7: lesson_did, 8: lesson_decision}


# --------------------------------------------------------------------------- opening
def sample_warehouse(sample_db: str | Path | None = None, workspace: str | Path | None = None) -> Path:
    """The sample municipality's warehouse: ``sample_db`` if it exists, else ingested once into
    ``workspace/_sample/`` (``sample_db`` names the file to create, if given)."""
    if sample_db and Path(sample_db).exists():
        return Path(sample_db)
    from ..pipeline.demo import sample_folder
    from ..warehouse.ingest import ingest

    ws = (Path(workspace or Path.cwd()) / "_sample").resolve()
    ws.mkdir(parents=True, exist_ok=True)
    db = Path(sample_db) if sample_db else ws / "sample.duckdb"
    if not db.exists():
        ingest(sample_folder(ws), db)
    return db


def _sample_schools(db: Path) -> tuple[list[str], int]:
    from ..pipeline.demo import demo_school, sample_folder
    from ..warehouse.store import connect

    con = connect(db)
    try:
        schools = [s for (s,) in con.execute("SELECT school_id FROM schools ORDER BY 1").fetchall()]
    finally:
        con.close()
    first, year = demo_school(sample_folder(db.parent), db)
    return [first] + [s for s in schools if s != first], year


def open_lesson(number: int, db, school_id: str, year: int, profile: str = "public",
                sample_db: str | Path | None = None, workspace: str | Path | None = None) -> Lesson:
    """Lesson ``number`` on ``school_id``'s data; on the sample municipality when the school's data cannot show it.

    ``sample_db``: an already ingested sample warehouse (else one is made in ``workspace``).
    """
    from ..errors import check_option
    from ..pipeline.context import PROFILES
    from ..warehouse.store import connect

    check_option("profile", profile, PROFILES)
    fn = LESSONS[int(number)]
    con = connect(db)
    try:
        return fn(con, str(school_id), int(year), profile, "school")
    except (LookupError, IndexError, ValueError, ZeroDivisionError):
        pass  # this school's data cannot illustrate the lesson
    finally:
        con.close()
    sdb = sample_warehouse(sample_db, workspace)
    schools, syear = _sample_schools(sdb)
    con = connect(sdb)
    try:
        for sid in schools:
            try:
                return fn(con, sid, syear, profile, "sample")
            except (LookupError, IndexError, ValueError, ZeroDivisionError):
                continue
    finally:
        con.close()
    raise LookupError(f"Урок {number}: ни данные школы, ни учебный муниципалитет не подходят для примера.")


def expected_answers(db, school_id: str, year: int, numbers=tuple(LESSONS), wrong: bool = False,
                     sample_db=None, workspace=None) -> dict[int, dict]:
    """{lesson number: {parameter: right (or typical wrong) answer}} computed from the data."""
    return {n: open_lesson(n, db, school_id, year, "public", sample_db, workspace).answers(wrong) for n in numbers}
