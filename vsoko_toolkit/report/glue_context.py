"""Russian wording, glued numbers and tables for the chapter "Контекст школы: контингент, кадры, условия".

Two parts: sentences for the findings of :mod:`vsoko_toolkit.analysis.context` (staffing) and
:mod:`vsoko_toolkit.analysis.climate` (built here, from the results' numbers); glue functions and
Russian tables the chapter notebook calls.
"""

from __future__ import annotations

import math

import pandas as pd

from . import text as t

SCALE_RU = {"climate": "психологический климат", "satisfaction": "удовлетворённость", "motivation": "мотивация",
            "safety": "безопасность"}
RESPONDENT_RU = {"student": "ученики", "parent": "родители", "teacher": "учителя"}
RESPONDENT_GEN = {"student": "учеников", "parent": "родителей", "teacher": "учителей"}
AGAINST = {"municipality": "в других школах муниципалитета", "last_year": "в школе годом раньше",
           "class": "у остальных учеников школы"}
AGAINST_TITLE = {"municipality": "других школ муниципалитета", "last_year": "прошлого года",
                 "class": "остальных учеников школы"}
TEACHER_FACTORS = ("teacher_high", "experience10", "pd100")


def _scale(s: str) -> str:
    return SCALE_RU.get(s, s)


def _cls(class_id: str) -> str:
    return str(class_id).rsplit("-", 1)[-1]


def _q(q: float) -> str:
    return "< 0,001" if q < 0.001 else t.num(q, 3)


def _r(x: float) -> str:
    return t.num(x).replace("-", "−")


def _signed(x: float, digits: int = 2) -> str:
    return f"{x:+.{digits}f}".replace("-", "−").replace(".", ",")


# --------------------------------------------------------------------------- staffing findings


def staffing_gap_title(subject: str) -> str:
    return f"Вакансия: по предмету «{subject}» в части классов нет учителя"


def staffing_gap_evidence(subject: str, k: int, taught: int, classes: str) -> str:
    return (f"По предмету «{subject}» отметки выставлены в {t.count(taught, 'классе', 'классах', 'классах')}, "
            f"но в {k} из них ({classes}) учитель в назначениях (нагрузке) не указан: предмет ведётся без "
            f"закреплённого учителя или назначение не внесено в данные.")


def staffing_gap_recommendation(subject: str, classes: str) -> str:
    return (f"Директору: к началу учебного года закрыть вакансию учителя по предмету «{subject}» (классы "
            f"{classes}) — приглашением учителя или совместителя, перераспределением нагрузки не выше 1,5 ставки; "
            f"если учитель есть, внести назначение в данные.")


def overload_title(subject: str) -> str:
    return f"Перегрузка учителей по предмету «{subject}»"


def overload_evidence(subject: str, k: int, n: int, lo: float, hi: float, hours: list, limit: float,
                      rate: float) -> str:
    hs = ", ".join(t.num(h, 0 if float(h).is_integer() else 1) for h in hours)
    return (f"{k} из {n} учителей, для которых «{subject}» — основной предмет, ведут больше {limit:g} ч в неделю "
            f"(правило: больше 1,5 ставки по {rate:g} ч): {hs} ч. Доля перегруженных — {t.pct(k / n)} "
            f"(95\u00a0% ДИ {t.pct(lo)}–{t.pct(hi)}).")


def overload_recommendation(subject: str, rates: float, limit: float) -> str:
    return (f"Директору и заместителю директора по УВР: при тарификации на новый учебный год перераспределить "
            f"нагрузку по предмету «{subject}» так, чтобы ни у одного учителя не было больше {t.num(rates, 1)} "
            f"ставки ({limit:g} ч в неделю); при нехватке учителей — открыть вакансию.")


# --------------------------------------------------------------------------- climate findings and notes


def climate_skip_reason(year: int) -> str:
    return f"Нет данных анкетирования (surveys.csv) школы за {t.academic_year(year)} учебный год."


def climate_small_group_note(rt: str, scale: str, min_n: int) -> str:
    return (f"Шкала «{_scale(scale)}» ({RESPONDENT_RU.get(rt, rt)}): меньше {min_n} ответивших — не показывается "
            f"и не сравнивается.")


def climate_small_classes_note(k: int, min_n: int) -> str:
    return (f"{t.count(k, 'класс', 'класса', 'классов')} с числом ответивших учеников меньше {min_n} не "
            f"показаны и не сравнивались.")


def climate_unreliable_note(rel: pd.DataFrame, min_alpha: float) -> str:
    parts = []
    for r in rel.itertuples():
        who = f"«{_scale(r.scale)}» ({RESPONDENT_RU.get(r.respondent_type, r.respondent_type)})"
        if r.k_items < 2:
            parts.append(f"{who}: один пункт, надёжность не оценивается")
        elif not math.isfinite(r.alpha):
            parts.append(f"{who}: мало полных анкет для оценки надёжности")
        else:
            parts.append(f"{who}: α = {t.num(r.alpha)}")
    return (f"Надёжность ниже {t.num(min_alpha, 1)} или не оценена — эти шкалы недостаточно надёжны, чтобы делать по "
            f"ним выводы, и находки по ним не формируются: " + "; ".join(parts) + ".")


def _who(tt: str, tid: str, rt: str) -> str:
    if tt == "class":
        return f"у учеников {_cls(tid)} класса"
    return f"у {RESPONDENT_GEN.get(rt, rt)} школы"


def climate_comparison_sentence(r, m: int) -> str:
    from ..stats.intervals import mean_interval
    from .phrases import q_text

    lo2, hi2 = mean_interval(r.mean_cmp, r.sd_cmp, r.n_cmp)
    return (f"Шкала «{_scale(r.scale)}»: {_who(r.target_type, r.target_id, r.respondent_type)} средний балл "
            f"{t.num(r.mean)} из 5 (95\u00a0% ДИ {t.num(r.mean_lower)}–{t.num(r.mean_upper)}; "
            f"{t.count(r.n, 'ответивший', 'ответивших', 'ответивших')}), {AGAINST[r.comparison]} — "
            f"{t.num(r.mean_cmp)} (95\u00a0% ДИ {t.num(lo2)}–{t.num(hi2)}; "
            f"{t.count(r.n_cmp, 'ответивший', 'ответивших', 'ответивших')}); разница {_signed(r.diff)} балла "
            f"(95\u00a0% ДИ {_signed(r.diff_lower)} … {_signed(r.diff_upper)}), {q_text(r.q_value, m)}.")


def alpha_sentence(alpha: float, lo: float, hi: float, n: int) -> str:
    return (f"Надёжность шкалы в школе: α Кронбаха = {t.num(alpha)} (95\u00a0% ДИ {t.num(lo)}–{t.num(hi)}; "
            f"{t.count(n, 'полная анкета', 'полные анкеты', 'полных анкет')}).")


def climate_title(tt: str, tid: str, rt: str, scale: str, positive: bool, comparisons: list[str]) -> str:
    level = "Высокая" if positive else "Низкая"
    against = " и ".join(AGAINST_TITLE[c] for c in comparisons)
    return f"{level} оценка по шкале «{_scale(scale)}» {_who(tt, tid, rt)} (против {against})"


def climate_recommendation(tt: str, tid: str, rt: str, scale: str, year: int) -> str:
    if tt == "class":
        return (f"Классному руководителю {_cls(tid)} класса и педагогу-психологу: выяснить причины низких оценок "
                f"по шкале «{_scale(scale)}» (какие пункты анкеты оценены ниже всего — беседы, социометрия), "
                f"провести классные часы и индивидуальную работу, повторить опрос учеников класса в декабре {year} г.")
    return (f"Заместителю директора по воспитательной работе и педагогу-психологу: обсудить результаты опроса "
            f"{RESPONDENT_GEN.get(rt, rt)} по шкале «{_scale(scale)}» на педагогическом совете, выяснить причины "
            f"на фокус-группах (какие пункты анкеты оценены ниже всего), составить план мер и повторить опрос "
            f"в декабре {year} г.")


# --------------------------------------------------------------------------- glue: conditions


def conditions(res) -> None:
    """Glued numbers of the section "Условия: кадры" (the rules are stated with their thresholds)."""
    from .glue import _glue

    o = res.options
    limit = o["overload_rates"] * o["rate_hours"]
    _glue("pd_rule", f"не менее {o['pd_min_hours']:g} ч курсов за три года")
    _glue("overload_rule", f"больше {limit:g} ч в неделю — более {t.num(o['overload_rates'], 1)} ставки "
                           f"по {o['rate_hours']:g} ч")
    tl = res.teacher_load
    known = tl["hours"].notna()
    _glue("n_overloaded", t.count(int(tl.loc[known, "overloaded"].astype(bool).sum()), "учитель", "учителя",
                                  "учителей"))
    _glue("n_load_known", t.fmt_int(int(known.sum())))
    gaps = res.load[res.load["classes_without_teacher"] > 0]
    _glue("n_vacancy_subjects", t.count(len(gaps), "предмет", "предмета", "предметов"))
    _glue("n_vacancy_classes", t.count(int(gaps["classes_without_teacher"].sum()), "класс", "класса", "классов"))
    s = res.staffing
    _glue("n_staff_differs", t.count(int(s["differs"].sum()) if len(s) else 0, "доля", "доли", "долей"))
    _glue("n_staff_tests", t.count(len(s), "доля", "доли", "долей"))
    _glue("conditions_notes", " ".join(res.notes))
    pd_row = s[s["dimension"] == "pd"]
    _glue("share_pd_ci", t.interval(pd_row["share_lower"].iloc[0], pd_row["share_upper"].iloc[0])
          if len(pd_row) else "нет данных")


def staffing_table(res) -> pd.DataFrame:
    """Staff shares with Wilson intervals, against the other schools of the municipality."""
    s = res.staffing
    if s is None or s.empty:
        return pd.DataFrame({"итог": ["Нет данных об учителях школы в этом году."]})

    def share(p, lo, hi):
        return "—" if not math.isfinite(p) else f"{t.pct(p)} ({t.pct(lo)}–{t.pct(hi)})"

    return pd.DataFrame({
        "показатель": s["group"], "учителей": [f"{k} из {n}" for k, n in zip(s["k"], s["n"], strict=True)],
        "доля в школе (95 % ДИ)": [share(*x) for x in zip(s["share"], s["share_lower"], s["share_upper"],
                                                          strict=True)],
        "другие школы (95 % ДИ)": [share(*x) for x in zip(s["share_mun"], s["mun_lower"], s["mun_upper"],
                                                          strict=True)],
        "разница, п. п. (95 % ДИ)": [
            "—" if not math.isfinite(d) else f"{_signed(100 * d, 0)} ({_signed(100 * lo, 0)} … {_signed(100 * hi, 0)})"
            for d, lo, hi in zip(s["diff"], s["diff_lower"], s["diff_upper"], strict=True)],
        "q": s["q_value"].map(lambda q: "—" if not math.isfinite(q) else _q(q)),
        "вывод": ["отличается" if f else "нет доказательств различия" for f in s["differs"]],
    })


def load_table(res) -> pd.DataFrame:
    """Per subject: classes, teachers, hours, hours per teacher, overloaded teachers, classes without a teacher."""
    d = res.load
    if d is None or d.empty:
        return pd.DataFrame({"итог": ["Нет данных о нагрузке (assignments) за этот год."]})
    limit = res.options["overload_rates"] * res.options["rate_hours"]
    return pd.DataFrame({
        "предмет": d["subject"], "классов": d["classes"], "учителей": d["teachers"],
        "часов в неделю": d["hours"].map(lambda h: t.num(h, 0 if math.isfinite(h) and h == int(h) else 1)),
        "часов на учителя": d["hours_per_teacher"].map(lambda h: t.num(h, 1)),
        f"перегружены (> {limit:g} ч)": d["overloaded"].map(lambda x: "—" if pd.isna(x) else str(int(x))),
        "классы без учителя": [v if k else "—" for k, v in zip(d["classes_without_teacher"], d["vacancy_classes"],
                                                              strict=True)],
    })


def teacher_load_table(res, public: bool) -> pd.DataFrame:
    """Internal: every teacher's weekly load; public: teachers by load band only (no ids)."""
    tl = res.teacher_load
    if tl is None or tl.empty:
        return pd.DataFrame({"итог": ["Нет данных о нагрузке."]})
    rate = res.options["rate_hours"]
    limit = res.options["overload_rates"] * rate
    if public:
        h = tl["hours"]
        bands = [(f"до {rate:g} ч (не больше ставки)", h <= rate),
                 (f"{rate:g}–{limit:g} ч", (h > rate) & (h <= limit)),
                 (f"больше {limit:g} ч (перегрузка)", h > limit), ("часы не указаны", h.isna())]
        return pd.DataFrame({"нагрузка в неделю": [b for b, _ in bands],
                             "учителей": [int(m.sum()) for _, m in bands]})
    return pd.DataFrame({
        "учитель": tl["teacher_id"], "основной предмет": tl["main_subject"], "предметы": tl["subjects"],
        "классов": tl["classes"], "часов в неделю": tl["hours"].map(lambda h: t.num(h, 1)),
        "ставок": tl["rates"].map(lambda r: t.num(r, 2)),
        "перегрузка": tl["overloaded"].map(lambda o: "—" if pd.isna(o) else ("да" if o else "нет")),
    })


def teacher_factors_table(fa) -> pd.DataFrame:
    """The teacher rows (category, experience, PD hours) of the factor models of the causes chapter."""
    d = fa.tidy()
    d = d[d["factor"].isin(TEACHER_FACTORS)] if len(d) else d
    if d.empty:
        return pd.DataFrame({"итог": ["Недостаточно данных для моделей факторов."]})
    return pd.DataFrame({
        "предмет": d["subject"], "фактор": d["name"], "единица": d["unit"],
        "связь с отметкой с учётом остальных факторов, балла": d["estimate"].map(t.num),
        "95 % ДИ": [f"{t.num(a)} … {t.num(b)}" for a, b in zip(d["ci_low"], d["ci_high"], strict=True)],
        "q": d["q_value"].map(_q),
        "вывод": ["связь есть" if f else "нет доказательств связи" for f in d["flagged"]],
    })


# --------------------------------------------------------------------------- glue: climate


def climate(res) -> None:
    """Glued numbers of the section "Климат и удовлетворённость"."""
    from .glue import _glue

    o = res.options
    _glue("climate_min_answered", "не менее половины" if o["min_answered"] == 0.5 else t.pct(o["min_answered"]))
    _glue("climate_min_alpha", t.num(o["min_alpha"], 1))
    _glue("climate_notes", " ".join(n for n in res.notes if not n.startswith("Надёжность ниже")))
    if not res.has_data:
        _glue("climate_intro", f"{res.skipped[0].reason} Раздел пропущен: климат и удовлетворённость в этом году "
                               f"по данным не оцениваются." if res.skipped else "Нет данных анкетирования.")
        for name in ("climate_n_tests", "climate_n_problems", "climate_n_strengths", "climate_unreliable",
                     "climate_link"):
            _glue(name, "—")
        return
    m = res.means[res.means["group"] == "school"].groupby("respondent_type")["n"].max()
    who = [t.count(int(m[r]), *forms) for r, forms in
           (("student", ("ученик", "ученика", "учеников")), ("parent", ("родитель", "родителя", "родителей")),
            ("teacher", ("учитель", "учителя", "учителей"))) if r in m.index]
    _glue("climate_intro", f"В анкетировании {t.academic_year(res.year)} учебного года участвовали "
                           f"{', '.join(who)} (число ответивших — наибольшее по шкалам).")
    d = res.tidy()
    _glue("climate_n_tests", t.count(int(d["p_value"].notna().sum()), "сравнение", "сравнения", "сравнений"))
    kinds = [f.kind for f in res.findings]
    _glue("climate_n_problems", t.fmt_int(kinds.count("climate_problem")))
    _glue("climate_n_strengths", t.fmt_int(kinds.count("climate_strength")))
    rel = res.reliability
    bad = rel[~rel["reliable"]]
    _glue("climate_unreliable", "нет" if bad.empty else ", ".join(
        f"«{_scale(r.scale)}» ({RESPONDENT_RU.get(r.respondent_type, r.respondent_type)})" for r in bad.itertuples()))
    _glue("climate_link", link_sentence(res.links))


def link_sentence(links: pd.DataFrame) -> str:
    if links is None or links.empty:
        return "Связь климата класса с отметками не оценивается: мало классов с достаточным числом ответивших."
    parts = []
    for r in links[links["level"] == "municipality"].itertuples():
        parts.append(f"«{_scale(r.scale)}»: r = {_r(r.r)} (95\u00a0% ДИ {_r(r.r_lower)} … {_r(r.r_upper)}; "
                     f"{t.count(r.n_classes, 'класс', 'класса', 'классов')})")
    if not parts:
        return "Связь оценена только по классам школы (см. таблицу)."
    return "По классам муниципалитета: " + "; ".join(parts) + "."


def reliability_table(res) -> pd.DataFrame:
    rel = res.reliability
    if rel is None or rel.empty:
        return pd.DataFrame({"итог": ["Нет данных анкетирования."]})
    return pd.DataFrame({
        "респонденты": rel["respondent_type"].map(lambda r: RESPONDENT_RU.get(r, r)),
        "шкала": rel["scale"].map(_scale), "пунктов": rel["k_items"], "полных анкет": rel["n"],
        "α Кронбаха (95 % ДИ)": [("—" if not math.isfinite(a) else f"{t.num(a)} ({t.num(lo)}–{t.num(hi)})")
                                 for a, lo, hi in zip(rel["alpha"], rel["alpha_lower"], rel["alpha_upper"],
                                                      strict=True)],
        "α по муниципалитету": rel["alpha_mun"].map(t.num),
        "вывод": ["надёжна" if ok else ("не оценивается" if k < 2 or not math.isfinite(a) else
                                        "недостаточно надёжна — не интерпретируется")
                  for ok, k, a in zip(rel["reliable"], rel["k_items"], rel["alpha"], strict=True)],
    })


def climate_table(res) -> pd.DataFrame:
    """School-level comparisons (all) and class comparisons that cleared the rule."""
    d = res.tidy()
    if d.empty:
        return pd.DataFrame({"итог": ["Нет данных анкетирования или слишком мало ответивших для сравнений."]})
    d = d[(d["target_type"] == "school") | d["flagged"]]
    names = {"municipality": "другие школы", "last_year": "школа год назад", "class": "остальные ученики школы"}

    def verdict(r):
        if not r.reliable:
            return "шкала ненадёжна"
        if not r.flagged:
            return "нет доказательств различия"
        return "выше" if r.diff > 0 else "ниже"

    return pd.DataFrame({
        "группа": ["школа" if tt == "school" else _cls(i) + " класс" for tt, i in
                   zip(d["target_type"], d["target_id"], strict=True)],
        "респонденты": d["respondent_type"].map(lambda r: RESPONDENT_RU.get(r, r)),
        "шкала": d["scale"].map(_scale), "ответивших": d["n"],
        "средний балл (95 % ДИ)": [f"{t.num(m)} ({t.num(lo)}–{t.num(hi)})" for m, lo, hi in
                                   zip(d["mean"], d["mean_lower"], d["mean_upper"], strict=True)],
        "сравнение": d["comparison"].map(names), "в сравнении": d["mean_cmp"].map(t.num),
        "разница (95 % ДИ)": [f"{_signed(x)} ({_signed(lo)} … {_signed(hi)})" for x, lo, hi in
                              zip(d["diff"], d["diff_lower"], d["diff_upper"], strict=True)],
        "q": d["q_value"].map(lambda q: "—" if not math.isfinite(q) else _q(q)),
        "вывод": [verdict(r) for r in d.itertuples()],
    })


def links_table(res) -> pd.DataFrame:
    d = res.links
    if d is None or d.empty:
        return pd.DataFrame({"итог": ["Мало классов с пятью и более ответившими учениками: связь не оценивается."]})
    return pd.DataFrame({
        "классы": d["level"].map({"school": "школы", "municipality": "муниципалитета"}),
        "шкала": d["scale"].map(_scale), "классов": d["n_classes"],
        "корреляция r (95 % ДИ)": [f"{_r(r)} ({_r(lo)} … {_r(hi)})" for r, lo, hi in
                                   zip(d["r"], d["r_lower"], d["r_upper"], strict=True)],
        "p": d["p_value"].map(lambda p: "< 0,001" if p < 0.001 else t.num(p, 3)),
    })
