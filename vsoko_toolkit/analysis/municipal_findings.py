"""The municipal rules in Russian, and the findings of :mod:`vsoko_toolkit.analysis.municipal`.

Every finding is filed under the municipality (``school_id`` = :func:`.municipal_data.municipality_id`)
with ``target_type="school"`` and ``target_id`` = the school. Kinds beyond the contract's list (compatible):

=======================  ==========  ========  =====================================================
kind                     area        polarity  metric
=======================  ==========  ========  =====================================================
``low_value_added``      factors     problem   ``value_added`` (contextualised, SD of results)
``high_value_added``     factors     strength  ``value_added``
``steadily_low``         results     problem   ``result_vs_municipality`` (SD of results)
``steadily_high``        results     strength  ``result_vs_municipality``
``shnor``                results     problem   ``result_vs_municipality``
``resilient_school``     results     strength  ``result_vs_municipality``
``non_objective_school`` objectivity problem   the strongest sign's metric (``threshold_excess``, ...)
=======================  ==========  ========  =====================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..findings import Finding, Recommendation
from ..report import phrases as ph
from .municipal_data import KIND_RU
from .municipal_objectivity import CHECK_RU

SIGN_METRIC = {"threshold_peak": "threshold_excess", "context": "context_residual", "jump": "jump_vs_municipality",
               "vpr_journal": "marking_offset"}
RESULT_RU = {"external": "Средний стандартизованный балл учеников по ВПР, ОГЭ и ЕГЭ",
             "marks": "Средняя годовая отметка учеников, стандартизованная по муниципалитету,"}


def rules(opts: dict, years: list[int], year: int, social_ok: bool) -> dict[str, str]:
    """The rules of the analysis, stated for the reader (Russian)."""
    k, d = int(opts["steady_years"]), ph.num(float(opts["min_diff"]), 2)
    span = f"{years[0]}–{years[-1]}" if len(years) > 1 else str(year)
    context = ("и социальным индексом школы" if social_ok else
               "(социальный индекс школ не заполнен — учтены только прошлые результаты учеников)")
    return {
        "result": ("Результат ученика за год — среднее его стандартизованных баллов по ВПР, ОГЭ и ЕГЭ (каждая "
                   "работа приведена к среднему 0 и стандартному отклонению 1 по муниципалитету); в году без "
                   "внешних работ — средняя годовая отметка, стандартизованная так же. Результат школы — средний "
                   "результат её учеников, он сравнивается со средним учеников других школ муниципалитета с учётом "
                   "того, что ученики одного класса похожи друг на друга (межклассовая дисперсия)."),
        "value_added": ("Контекстуальная добавленная стоимость школы — её случайный эффект в многоуровневой модели "
                        "(ученики в классах, классы в школах), где результат ученика объясняется его результатами "
                        "прошлого года (внешние оценочные процедуры; у учеников без них — годовые отметки) "
                        f"{context}. Оценка — эмпирическая байесовская (со сжатием к среднему; неопределённость "
                        "межшкольной дисперсии учтена), с 95 % "
                        "интервалом; школа отмечается, когда интервал не содержит среднего по муниципалитету "
                        "(q < 0,05 с поправкой Бенджамини — Хохберга по школам). Место школы дано интервалом мест "
                        f"(95 % по {int(opts['n_sim'])} симуляциям из распределения оценок), а не одним числом."),
        "steady": (f"Устойчиво низкие (высокие) результаты: в каждом из последних {k} лет ({span}) результат школы "
                   "ниже (выше) результата других школ муниципалитета статистически значимо (односторонний тест) "
                   f"и не меньше чем на {d} стандартного отклонения. P-значение правила — наибольшее из годовых "
                   "(тест пересечения-объединения), поправка Бенджамини — Хохберга по всем школам, q < 0,05."),
        "context": ("Неблагоприятные социальные условия — социальный индекс школы в нижней трети школ "
                    "муниципалитета (⌊k/3⌋ школ с самым низким индексом из k, но не меньше одной; нужно не меньше "
                    f"3 школ с индексом). ШНОР — школа в неблагоприятных условиях, результат которой в {year} году "
                    "ниже результата других школ муниципалитета статистически значимо (двусторонний тест, поправка "
                    "Бенджамини — Хохберга по школам с неблагоприятными условиями, q < 0,05) и не меньше чем на "
                    f"{d} стандартного отклонения. Резильентная школа — школа в неблагоприятных условиях с "
                    "результатом выше других школ по тому же правилу."),
        "non_objective": ("Признаки необъективности проверяются для каждой школы и каждой работы года: пик "
                          "первичных баллов на пороге «3» (ОГЭ, ВПР), результат намного выше, чем у школ со схожим "
                          "социальным индексом (нужно не меньше 8 школ с индексом), резкий необъяснённый рост по "
                          "сравнению с прошлым годом и с другими школами, расхождение ВПР и журнальных отметок "
                          f"(не меньше {ph.num(float(opts['min_offset']), 1)} балла). Поправка на множественные "
                          "сравнения — по всему муниципалитету: Бенджамини — Хохберг по всем школам и работам"
                          + (", отдельно для каждого признака" if opts["fdr_family"] == "check" else
                             ", одно семейство для всех признаков")
                          + "; школа отмечается, если хотя бы одна проверка дала q < 0,05 и прошла условие "
                            "величины. Признак — повод для проверки, а не доказательство необъективности."),
    }


def _severity(q: float) -> str:
    return "high" if q < 0.001 else "medium" if q < 0.01 else "low"


def _rec(text: str, school_id: str, responsible: str, deadline: str, metric: str, baseline, target):
    return Recommendation(text=text, addressee_type="school", addressee_id=school_id, responsible=responsible,
                          deadline=deadline, control_metric=metric,
                          baseline=None if baseline is None else round(float(baseline), 3),
                          target=None if target is None else float(target))


def value_added_finding(r, mid: str, year: int, m: int, social_ok: bool) -> Finding:
    low = r.estimate < 0
    ctx = "подготовки учеников и социальных условий школы" if social_ok else "подготовки учеников"
    evidence = (f"С учётом {ctx} ученики школы {r.name} показывают результат "
                f"{'ниже' if low else 'выше'} среднего по муниципалитету на {ph.num(abs(r.estimate), 2)} "
                f"стандартного отклонения (95 % ДИ {ph.signed(r.ci_low)} … {ph.signed(r.ci_high)}; "
                f"{int(r.n)} учеников, оценка многоуровневой модели со сжатием к среднему), "
                f"{ph.q_text(r.q_value, m)}. Место школы среди {m}: от {int(r.rank_low)} до {int(r.rank_high)} "
                "(95 % интервал мест).")
    text = (f"Директору школы {r.name}: провести с муниципальным методистом анализ причин отставания учеников от "
            "сверстников с такой же подготовкой (преподавание по предметам, нагрузка, кадры) и включить меры в "
            "план работы школы." if low else
            f"Муниципальной методической службе: изучить практику школы {r.name}, где ученики продвигаются больше "
            "сверстников с такой же подготовкой, и организовать обмен опытом.")
    return Finding(
        area="factors", kind="low_value_added" if low else "high_value_added",
        polarity="problem" if low else "strength", severity=_severity(r.q_value), school_id=mid, year=year,
        target_type="school", target_id=r.school_id, subject=None, metric="value_added",
        estimate=float(r.estimate), ci_low=float(r.ci_low), ci_high=float(r.ci_high), p_value=float(r.p_value),
        q_value=float(r.q_value), n=int(r.n),
        title=(f"Школа {r.name}: результаты {'ниже' if low else 'выше'} ожидаемых с учётом {ctx}"),
        evidence=evidence,
        recommendation=_rec(text, r.school_id, "директор школы" if low else "муниципальный методист",
                            f"{year}-12-25", "value_added", r.estimate, 0.0 if low else None),
        extra={"school_name": r.name, "rank_low": int(r.rank_low), "rank_high": int(r.rank_high)})


def _years_text(rows: pd.DataFrame) -> str:
    return "; ".join(f"{int(y.year)}: {ph.num(y.mean, 2)} против {ph.num(y.others_mean, 2)} в других школах "
                     f"(разница {ph.signed(y.diff)}, 95 % ДИ {ph.signed(y.ci_low)} … {ph.signed(y.ci_high)})"
                     for y in rows.sort_values("year").itertuples())


def steady_finding(r, rows: pd.DataFrame, mid: str, year: int, m: int, source: str) -> Finding:
    low = r.status == "steadily_low"
    cur = rows.sort_values("year").iloc[-1]
    evidence = (f"{RESULT_RU.get(source, RESULT_RU['external'])} в школе {r.name} "
                f"{'ниже' if low else 'выше'}, чем в других школах муниципалитета, в каждом из {len(rows)} лет — "
                f"{_years_text(rows)}. Наибольшее из годовых p-значений {ph.num(r.p_value, 4)}, "
                f"{ph.q_text(r.q_value, m)}.")
    text = (f"Директору школы {r.name}: разработать программу повышения качества образования на 2 года с "
            "контролем результатов по итогам каждого года; муниципальной методической службе — закрепить за "
            "школой методическое сопровождение." if low else
            f"Муниципальной методической службе: описать практики школы {r.name} с устойчиво высокими "
            "результатами и включить их в муниципальный план методической работы.")
    return Finding(
        area="results", kind=r.status, polarity="problem" if low else "strength", severity=_severity(r.q_value),
        school_id=mid, year=year, target_type="school", target_id=r.school_id, subject=None,
        metric="result_vs_municipality", estimate=float(cur["diff"]), ci_low=float(cur["ci_low"]),
        ci_high=float(cur["ci_high"]), p_value=float(r.p_value), q_value=float(r.q_value), n=int(cur["n"]),
        title=(f"Школа {r.name}: устойчиво {'низкие' if low else 'высокие'} результаты ({len(rows)} "
               f"{ph.years_word(len(rows))} подряд)"),
        evidence=evidence,
        recommendation=_rec(text, r.school_id, "директор школы" if low else "муниципальный методист",
                            f"{year}-10-01", "result_vs_municipality", cur["diff"], 0.0 if low else None),
        extra={"school_name": r.name, "years": [int(y) for y in sorted(rows["year"])],
               "yearly_diff": [float(x) for x in rows.sort_values("year")["diff"]]})


def context_finding(r, mid: str, year: int, m: int, k: int, steady: str) -> Finding:
    shnor = r.status == "shnor"
    more = {"steadily_low": " Результаты низкие и в каждом из последних лет (устойчиво).",
            "steadily_high": " Результаты высокие и в каждом из последних лет (устойчиво)."}.get(steady, "")
    evidence = (f"Социальный индекс школы {r.name} — {ph.num(r.social_index, 2)}: {int(r.social_rank)}-й снизу "
                f"из {k} школ муниципалитета (нижняя треть — неблагоприятные условия). Результат учеников школы в "
                f"{year} году {ph.num(r.mean, 2)} против {ph.num(r.others_mean, 2)} в других школах: разница "
                f"{ph.signed(r.diff)} стандартного отклонения (95 % ДИ {ph.signed(r.ci_low)} … "
                f"{ph.signed(r.ci_high)}), {ph.q_text(r.q_value, m)}.{more}")
    text = (f"Муниципальному органу управления образованием: включить школу {r.name} в программу поддержки "
            "школ с низкими результатами, работающих в сложных социальных условиях (наставничество школы-партнёра, "
            "повышение квалификации учителей, адресная помощь ученикам группы риска)." if shnor else
            f"Муниципальной методической службе: изучить и распространить практики школы {r.name}, добившейся "
            "высоких результатов в неблагоприятных социальных условиях (например, сделать её школой-партнёром "
            "для ШНОР).")
    return Finding(
        area="results", kind="shnor" if shnor else "resilient_school", polarity="problem" if shnor else "strength",
        severity="high" if shnor else _severity(r.q_value), school_id=mid, year=year, target_type="school",
        target_id=r.school_id, subject=None, metric="result_vs_municipality", estimate=float(r.diff),
        ci_low=float(r.ci_low), ci_high=float(r.ci_high), p_value=float(r.p_two), q_value=float(r.q_value),
        n=int(r.n),
        title=(f"Школа {r.name}: низкие результаты в неблагоприятных социальных условиях (ШНОР)" if shnor else
               f"Школа {r.name}: высокие результаты несмотря на неблагоприятные социальные условия (резильентная)"),
        evidence=evidence,
        recommendation=_rec(text, r.school_id, "руководитель муниципального органа управления образованием" if shnor
                            else "муниципальный методист", f"{year}-10-01", "result_vs_municipality", r.diff,
                            0.0 if shnor else None),
        extra={"school_name": r.name, "social_index": float(r.social_index), "social_rank": int(r.social_rank),
               "steady": steady})


def _sign_text(r) -> str:
    work = (f"{KIND_RU.get(r.kind, r.kind)} «{r.subject}» ({int(r.grade)} кл.)"
            if isinstance(r.subject, str) and np.isfinite(r.grade) else "ВПР (все предметы)")
    if r.check == "threshold_peak":
        what = (f"{work}: на пороге «3» ({ph.num(r.threshold, 0)} первичных баллов) {int(r.at_threshold)} учеников "
                f"при ожидаемых {ph.num(r.expected_at, 1)}")
    elif r.check == "context":
        what = (f"{work}: средний балл {ph.num(r.mean, 1)} при ожидаемом для социального индекса школы "
                f"{ph.num(r.expected, 1)} (превышение {ph.signed(r.estimate, 1)})")
    elif r.check == "jump":
        what = (f"{work}: рост с {ph.num(r.mean_prev, 1)} до {ph.num(r.mean, 1)} при изменении в других школах "
                f"{ph.signed(r.others_change, 1)} (разница изменений {ph.num(r.dic_sd, 2)} ст. откл.)")
    else:
        word = "выше" if r.estimate > 0 else "ниже"
        what = (f"{work}: журнальные отметки в среднем на {ph.num(abs(r.estimate), 2)} балла {word}, чем у "
                f"учеников других школ с той же отметкой за ВПР (понизили {ph.pct(r.lowered)}, повысили "
                f"{ph.pct(r.raised)})")
    return f"{CHECK_RU[r.check]} — {what}, {ph.q_text(r.q_value, int(r.m))}"


def non_objective_finding(school_id: str, name: str, signs: pd.DataFrame, mid: str, year: int) -> Finding:
    s = signs.sort_values("q_value")
    top = s.iloc[0]
    evidence = ("Признаки необъективности результатов: " + "; ".join(_sign_text(r) for r in s.itertuples())
                + ". Признак не доказывает необъективность: он требует проверки (условия проведения, перепроверка "
                  "работ, сопоставление с текущей успеваемостью).")
    text = (f"Муниципальному органу управления образованием: направить в школу {name} независимых наблюдателей "
            "на ВПР и ОГЭ следующего года, организовать перепроверку работ муниципальной комиссией и сверку "
            "результатов с текущей успеваемостью.")
    ci = [float(top["ci_low"]) if pd.notna(top["ci_low"]) else None,
          float(top["ci_high"]) if pd.notna(top["ci_high"]) else None]
    subj = top["subject"] if isinstance(top["subject"], str) else None
    return Finding(
        area="objectivity", kind="non_objective_school", polarity="problem", severity=_severity(float(top["q_value"])),
        school_id=mid, year=year, target_type="school", target_id=school_id, subject=subj,
        metric=SIGN_METRIC[top["check"]], estimate=float(top["estimate"]), ci_low=ci[0], ci_high=ci[1],
        p_value=float(top["p_value"]), q_value=float(top["q_value"]), n=int(top["n"]),
        title=f"Школа {name}: признаки необъективности результатов ({', '.join(sorted(set(map(CHECK_RU.get, s['check']))))})",
        evidence=evidence,
        recommendation=_rec(text, school_id, "руководитель муниципального органа управления образованием",
                            f"{year}-10-01", SIGN_METRIC[top["check"]], top["estimate"], 0.0),
        extra={"school_name": name, "signs": [
            {"check": r.check, "kind": r.kind, "subject": r.subject if isinstance(r.subject, str) else None,
             "grade": int(r.grade) if np.isfinite(r.grade) else None, "estimate": float(r.estimate),
             "p_value": float(r.p_value), "q_value": float(r.q_value)} for r in s.itertuples()]})
