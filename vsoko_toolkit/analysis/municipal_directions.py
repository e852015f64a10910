"""The eight directions of the municipal quality system (МСОКО) as one dashboard.

Public entry point: :func:`municipal_directions`. The municipal regulation (shared/domain/seeds, section 3)
sets eight directions; for each the dashboard shows the indicators the data supports, per school and for
the municipality, their **status against the previous year** and what data is missing:

1. quality of preparation — ``d1.good`` share of students whose year marks are all 4/5 (no н/а/незач),
   ``d1.success`` share without a 2 or н/а, ``d1.quality.<subject>`` share of students with a year mark
   4/5 in each key subject (Русский язык, Математика), ``d1.oge.<subject>`` mean ОГЭ/ГВЭ mark (best per
   student; a missing mark from ``scales``), ``d1.ege.<subject>`` mean ЕГЭ test score (best per student);
2. schools with low results / unfavourable conditions (ШНОР) — ``d2.vpr_low`` share of ВПР participants
   with at least one «2»; ``d2.gap`` (municipality only) the gap in ``d1.good`` between the other schools
   and the schools in unfavourable social conditions (the lowest third by ``schools.social_index``, or
   ``options["shnor_schools"]``), lower is better;
3. talent — ``d3.all`` / ``d3.municipal`` / ``d3.winners``: distinct olympiad participants (any stage /
   municipal and higher stages) and winners and prize-winners (municipal and higher) per 100 students;
4. self-determination — ``d4.profile`` share of grade 10–11 students in profile classes (``classes.profile``
   other than «универсальный»), ``d4.ege_choice`` share of grade 11 graduates with an ЕГЭ in a subject
   other than Russian and mathematics; from graduates' destinations (optional ``destinations``)
   ``d4.continue_9`` share of grade 9 graduates who go on studying (a 10th grade or a college) and
   ``d4.university_11`` share of grade 11 graduates entering a university; codes ``msoko.4.*`` from
   ``indicators.csv``;
5. effectiveness of school heads — ``d5.vsoko_map`` the points of the ВСОКО effectiveness map
   (``vsoko_map.*`` codes of ``indicators.csv``, sum) and codes ``msoko.5.*``;
6. teachers' professional development — teachers with a load that year: ``d6.category`` share with the
   highest or first category, ``d6.pd36`` share with at least 36 course hours in 3 years
   (``teachers.pd_hours_3y``), ``d6.higher_ped`` share with higher pedagogical education; ``msoko.6.*``;
7. upbringing — ``d7.<respondent>.<scale>`` mean survey scale scores of students and parents (scored as
   in :mod:`.climate`), ``d7.unexcused`` mean share of lessons a student missed without a valid reason;
   ``msoko.7.*``;
8. pre-school — the contract has no pre-school data: codes ``msoko.8.*`` of ``indicators.csv``.

Codes read from ``indicators.csv`` (:data:`READ_INDICATORS`; any other ``msoko.<d>.<x>`` code is shown
under direction ``d`` with its code as the name) are recorded per school. Students are those enrolled at
the end of the year (``date_out`` empty). Teachers' categories come from ``teachers.csv``, which has no
year: a change between years there reflects only who taught.

Status against the previous year (``better`` / ``same`` / ``worse``) is judged with an interval: shares by
Newcombe's interval of the difference, means by Welch's t interval (the two years are treated as
independent samples — they largely share students, which makes the interval conservative), the gap by
the normal approximation of the difference of two Newcombe differences; an indicator read from
``indicators.csv`` is exact for a school (no sampling error: any change counts, marked «точное значение»)
and for the municipality is compared by a paired t interval over the schools that reported both years.
``no_previous`` when the previous year has no value. All interval comparisons of a run form one
Benjamini–Hochberg family; a ``direction_decline`` finding (area ``trends``) is emitted per school (and for
the municipality, ``target_id`` empty) and direction with an indicator worse at q < 0.05. Findings carry
``school_id`` = the municipality's id and ``target_type`` ``school``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..findings import Finding, Recommendation, Skipped
from ..privacy import MIN_GROUP
from ..report import text as t
from ..stats.intervals import bh_qvalues, compare_means, compare_proportions, wilson_interval
from ..warehouse.schema import has_column, has_table
from .base import AnalysisResult, empty_plot

DIRECTIONS: dict[int, tuple[str, str]] = {
    1: ("Оценка качества подготовки обучающихся", "1. Подготовка"),
    2: ("Работа со школами с низкими результатами и в неблагоприятных социальных условиях", "2. ШНОР"),
    3: ("Выявление, поддержка и развитие способностей и талантов", "3. Таланты"),
    4: ("Самоопределение и профессиональная ориентация обучающихся", "4. Профориентация"),
    5: ("Мониторинг эффективности руководителей образовательных организаций", "5. Руководители"),
    6: ("Профессиональное развитие педагогических работников", "6. Педагоги"),
    7: ("Организация воспитания обучающихся", "7. Воспитание"),
    8: ("Мониторинг качества дошкольного образования", "8. Дошкольное"),
}
STATUS_RU = {"better": "лучше", "same": "без изменений", "worse": "хуже", "no_previous": "нет прошлого года",
             "no_data": "нет данных"}
KEY_SUBJECTS = ("Русский язык", "Математика")
SCALE_RU = {"climate": "психологический климат", "satisfaction": "удовлетворённость", "motivation": "мотивация",
            "safety": "безопасность"}
RESPONDENT_RU = {"student": "ученики", "parent": "родители", "teacher": "учителя"}
UNIVERSAL = ("", "универсальный", "универсальный профиль", "нет", "-", "—", "общеобразовательный", "без профиля")
#: codes of indicators.csv read into directions 4, 5, 6, 7, 8: code -> (name, unit, higher is better)
READ_INDICATORS: dict[str, tuple[str, str, bool]] = {
    "msoko.4.1": ("Доля выпускников 9 классов, продолживших обучение в 10 классе или по программам СПО", "%", True),
    "msoko.4.2": ("Доля обучающихся 6–11 классов, участвующих в профориентационных мероприятиях", "%", True),
    "msoko.5.1": ("Доля руководителей, прошедших повышение квалификации по управлению качеством образования "
                  "за 3 года", "%", True),
    "msoko.5.2": ("Оценка эффективности деятельности руководителя по региональной методике", "балл", True),
    "msoko.5.3": ("Сформирован резерв управленческих кадров", "да/нет", True),
    "msoko.6.1": ("Доля педагогов, прошедших диагностику профессиональных дефицитов", "%", True),
    "msoko.6.2": ("Доля молодых педагогов, закреплённых за наставниками", "%", True),
    "msoko.7.1": ("Доля обучающихся, занятых в объединениях дополнительного образования", "%", True),
    "msoko.7.2": ("Доля обучающихся, состоящих на профилактическом учёте", "%", False),
    "msoko.8.1": ("Охват детей от 3 до 7 лет дошкольным образованием", "%", True),
    "msoko.8.2": ("Доля дошкольных групп с уровнем качества не ниже базового (МКДО)", "%", True),
    "msoko.8.3": ("Доля педагогов дошкольного образования с высшим педагогическим образованием", "%", True),
}
DEFAULTS = {"alpha": 0.05, "key_subjects": KEY_SUBJECTS, "survey_respondents": ("student", "parent"),
            "shnor_schools": None, "pd_hours": 36, "read_indicators": None}
TABLE_COLUMNS = ["direction", "indicator_id", "indicator", "kind", "unit", "higher_is_better", "subject", "level",
                 "school_id", "year", "value", "ci_low", "ci_high", "n", "prev_value", "prev_ci_low",
                 "prev_ci_high", "prev_n", "diff", "diff_low", "diff_high", "p_value", "q_value", "basis", "status",
                 "status_ru", "flagged"]


@dataclass(frozen=True)
class Ind:
    id: str
    direction: int
    name: str
    kind: str  # share | rate100 | mean | exact | gap
    higher_is_better: bool = True
    unit: str = ""
    subject: str | None = None
    needs_ru: str = ""  # what data it needs, named as in the contract


GAP = Ind("d2.gap", 2, "Разрыв в доле обучающихся на «4» и «5» между остальными школами и школами в "
          "неблагоприятных социальных условиях", "gap", False, "п. п.")  # its missing data: _directions


# --------------------------------------------------------------------------- helpers


def _municipality_id(con) -> str:
    """The municipality's id: the municipal comparison module's when it exists, else the name in ``schools``."""
    for mod in ("municipal_data", "municipal"):  # the municipal comparison's definition, when present
        try:
            module = __import__(f"{__package__}.{mod}", fromlist=["municipality_id"])
            return str(module.municipality_id(con))
        except Exception:  # noqa: BLE001, S112 - absent or failing: the stated derivation below
            continue
    names = sorted({str(r[0]).strip() for r in con.execute(
        "SELECT DISTINCT municipality FROM schools WHERE municipality IS NOT NULL").fetchall() if str(r[0]).strip()})
    return "; ".join(names) if names else "municipality"


def _lit(s) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _subj(subject: str, col: str = "subject") -> str:
    return f"({col} = {_lit(subject)} OR {col} LIKE {_lit(subject + ' (%')})"


def _df(con, sql: str, params=()) -> pd.DataFrame:
    return con.execute(sql, list(params)).df()


def _rows(con, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if has_table(con, table) else 0


def _share_stats(per_student: pd.DataFrame, flag: str) -> pd.DataFrame:
    g = per_student.groupby(["school_id", "year"])[flag].agg(["sum", "count"]).reset_index()
    return g.rename(columns={"sum": "k", "count": "n"}).astype({"k": int, "n": int})


def _mean_stats(per_unit: pd.DataFrame, col: str) -> pd.DataFrame:
    g = per_unit.groupby(["school_id", "year"])[col].agg(["mean", "std", "count"]).reset_index()
    return g.rename(columns={"std": "sd", "count": "n"})


# --------------------------------------------------------------------------- computed indicators


def _year_marks(con, years, subject: str | None = None) -> pd.DataFrame:
    if not _rows(con, "period_marks"):
        return pd.DataFrame(columns=["school_id", "year", "student_id", "bad", "worst"])
    subj = f"AND {_subj(subject)}" if subject else ""
    return _df(con, f"""
        SELECT school_id, year, student_id, bool_or(mark IN ('н/а', 'незач')) AS bad, min(mark_value) AS worst
          FROM period_marks WHERE period = 'year' AND year IN (?, ?) {subj}
         GROUP BY ALL HAVING count(mark_value) > 0 OR bool_or(mark IN ('н/а', 'незач'))""", years)


def _exam_marks(con, years, kinds: str, grade: int, subject: str) -> pd.DataFrame:
    """Best mark per student (``kinds`` SQL list), a missing mark from ``scales``."""
    from ..warehouse.derive import mark_from_scale_sql

    if not _rows(con, "assessments"):
        return pd.DataFrame(columns=["school_id", "year", "student_id", "mark"])
    mark = "a.mark" if has_column(con, "assessments", "mark") else "NULL"
    if _rows(con, "scales"):
        mark = f"coalesce({mark}, {mark_from_scale_sql('a')})"
    grade_sql = f"AND a.grade = {int(grade)}" if grade else ""
    subj = f"AND {_subj(subject, 'a.subject')}" if subject else ""
    return _df(con, f"""
        SELECT school_id, year, student_id, max(mark) AS mark FROM (
            SELECT a.school_id, a.year, a.student_id, {mark} AS mark FROM assessments a
             WHERE a.kind IN ({kinds}) {grade_sql} {subj} AND a.year IN (?, ?))
         WHERE mark IS NOT NULL GROUP BY ALL""", years)


def _enrolled(con, years, lo: int = 1, hi: int = 11) -> pd.DataFrame:
    return _df(con, """SELECT school_id, year, count(DISTINCT student_id) AS n FROM enrollments
                        WHERE year IN (?, ?) AND grade BETWEEN ? AND ? AND date_out IS NULL GROUP BY ALL""",
               [*years, lo, hi])


def _olympiads(con, years, where: str) -> pd.DataFrame:
    if not _rows(con, "olympiads"):
        return pd.DataFrame(columns=["school_id", "year", "k", "n"])
    k = _df(con, f"""SELECT o.school_id, o.year, count(DISTINCT o.student_id) AS k FROM olympiads o
                      JOIN enrollments e ON e.student_id = o.student_id AND e.year = o.year
                       AND e.school_id = o.school_id AND e.date_out IS NULL
                     WHERE o.year IN (?, ?) {where} GROUP BY ALL""", years)
    n = _enrolled(con, years)
    ok = set(_df(con, "SELECT DISTINCT school_id, year FROM olympiads WHERE year IN (?, ?)", years)
             .itertuples(index=False, name=None))
    out = n.merge(k, on=["school_id", "year"], how="left").fillna({"k": 0})
    out = out[[(s, y) in ok for s, y in zip(out["school_id"], out["year"], strict=True)]]
    return out.astype({"k": int, "n": int})


def _teachers(con, years, opts) -> dict[str, pd.DataFrame]:
    if not (_rows(con, "teachers") and _rows(con, "assignments")):
        return {}
    cols = ["category", "experience_years"] + [c for c in ("pd_hours_3y", "higher_pedagogical")
                                                if has_column(con, "teachers", c)]
    tt = _df(con, f"""SELECT DISTINCT a.school_id, a.year, t.teacher_id, {', '.join('t.' + c for c in cols)}
                        FROM assignments a JOIN teachers t USING (teacher_id) WHERE a.year IN (?, ?)""", years)
    out = {"d6.category": _share_stats(tt.assign(f=tt["category"].isin(["highest", "first"])), "f")}
    if "pd_hours_3y" in tt and tt["pd_hours_3y"].notna().any():
        x = tt.dropna(subset=["pd_hours_3y"])
        out["d6.pd36"] = _share_stats(x.assign(f=x["pd_hours_3y"] >= opts["pd_hours"]), "f")
    if "higher_pedagogical" in tt and tt["higher_pedagogical"].notna().any():
        x = tt.dropna(subset=["higher_pedagogical"])
        out["d6.higher_ped"] = _share_stats(x.assign(f=x["higher_pedagogical"].astype(bool)), "f")
    return out


def _surveys(con, year: int, respondents) -> dict[str, tuple[Ind, pd.DataFrame]]:
    from .climate import _answers, scale_scores

    a = _answers(con, year)
    if a.empty:
        return {}
    s = scale_scores(a)
    s = s[s["respondent_type"].isin(respondents)]
    out = {}
    for (rt, sc), g in s.groupby(["respondent_type", "scale"]):
        ind = Ind(f"d7.{rt}.{sc}", 7, f"Анкетирование ({RESPONDENT_RU.get(rt, rt)}): шкала «{SCALE_RU.get(sc, sc)}»",
                  "mean", True, "балл 1–5", needs_ru="surveys.csv и survey_items.csv")
        out[ind.id] = (ind, _mean_stats(g, "score"))
    return out


def _unexcused(con, years) -> pd.DataFrame:
    if not (_rows(con, "attendance") and has_column(con, "attendance", "missed_unexcused")):
        return pd.DataFrame()
    d = _df(con, """
        WITH r AS (SELECT *, bool_or(period <> 'year') OVER (PARTITION BY student_id, year) AS has_terms
                     FROM attendance WHERE year IN (?, ?) AND missed_unexcused IS NOT NULL)
        SELECT school_id, year, student_id, sum(missed_unexcused) / nullif(sum(lessons_total), 0) AS share
          FROM r WHERE (period <> 'year') = has_terms GROUP BY ALL""", years).dropna(subset=["share"])
    return _mean_stats(d, "share") if len(d) else pd.DataFrame()


def _destinations(con, years) -> list[tuple[Ind, pd.DataFrame]]:
    """Direction 4 from graduates' destinations (optional ``destinations``): the share of grade 9 graduates who
    go on studying (a 10th grade or a college) and of grade 11 graduates who enter a university. A graduate's
    school is the one he or she finished that grade in (``enrollments`` of the year, same grade)."""
    d = pd.DataFrame()
    if _rows(con, "destinations"):
        d = _df(con, """
            SELECT any_value(e.school_id ORDER BY e.date_out NULLS FIRST) AS school_id, d.year, d.student_id,
                   any_value(d.grade) AS grade, any_value(d.destination) AS destination
              FROM destinations d JOIN enrollments e
                ON e.student_id = d.student_id AND e.year = d.year AND e.grade = d.grade
             WHERE d.year IN (?, ?) GROUP BY d.year, d.student_id""", years)
    need = "destinations.csv (куда ушли выпускники)"
    out = []
    for key, grade, name, flag in (
            ("d4.continue_9", 9, "Доля выпускников 9 классов, продолживших обучение (10 класс или колледж)",
             ("own_10", "other_10", "spo")),
            ("d4.university_11", 11, "Доля выпускников 11 классов, поступивших в вузы", ("university",))):
        g = d[d["grade"] == grade] if len(d) else d
        out.append((Ind(key, 4, name, "share", needs_ru=need),
                    _share_stats(g.assign(f=g["destination"].isin(flag)), "f") if len(g) else pd.DataFrame()))
    return out


def _read(con, years, catalogue: dict) -> list[tuple[Ind, pd.DataFrame]]:
    """Indicators of directions 4–8 read from ``indicators.csv`` (exact values per school)."""
    from ..indicators.evaluate import parse_value
    from ..indicators.loader import Indicator

    if not _rows(con, "indicators"):
        return []
    raw = _df(con, """SELECT school_id, year, indicator_id, value FROM indicators WHERE year IN (?, ?)
                      AND (indicator_id LIKE 'msoko.%' OR indicator_id LIKE 'vsoko_map.%')""", years)
    out = []
    vm = raw[raw["indicator_id"].str.startswith("vsoko_map.")].copy()
    if len(vm):
        vm["v"] = pd.to_numeric(vm["value"].astype(str).str.replace(",", "."), errors="coerce")
        g = vm.dropna(subset=["v"]).groupby(["school_id", "year"])["v"].sum().rename("value").reset_index()
        out.append((Ind("d5.vsoko_map", 5, "Баллы карты результативности ВСОКО (сумма по показателям карты)",
                        "exact", True, "балл", needs_ru="indicators.csv, коды vsoko_map.*"), g))
    ms = raw[raw["indicator_id"].str.startswith("msoko.")]
    for code, g in ms.groupby("indicator_id"):
        parts = code.split(".")
        if len(parts) < 3 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= 8:
            continue
        name, unit, hib = catalogue.get(code, (code, "", True))
        spec = Indicator("msoko", code, None, name, unit, parts[1])
        vals = [parse_value(v, spec) for v in g["value"]]
        g = g.assign(value=[v.value if v is not None else np.nan for v in vals]).dropna(subset=["value"])
        out.append((Ind(code, int(parts[1]), name, "exact", hib, unit, needs_ru=f"indicators.csv, код {code}"),
                    g[["school_id", "year", "value"]]))
    return out


def _computed(con, year: int, opts: dict, schools: pd.DataFrame) -> list[tuple[Ind, pd.DataFrame]]:
    years = [year - 1, year]
    out: list[tuple[Ind, pd.DataFrame]] = []
    ym = _year_marks(con, years)
    pm = "period_marks.csv (годовые отметки)"
    out.append((Ind("d1.good", 1, "Доля обучающихся, успевающих на «4» и «5» (годовые отметки)", "share",
                    needs_ru=pm), _share_stats(ym.assign(f=~ym["bad"].astype(bool) & (ym["worst"] >= 4)), "f")))
    out.append((Ind("d1.success", 1, "Успеваемость: доля обучающихся без «2» и «н/а» в годовых отметках",
                    "share", needs_ru=pm),
                _share_stats(ym.assign(f=~ym["bad"].astype(bool) & (ym["worst"] >= 3)), "f")))
    for s in opts["key_subjects"]:
        x = _year_marks(con, years, s)
        out.append((Ind(f"d1.quality.{s}", 1, f"Доля обучающихся с годовой отметкой «4» или «5»: {s}", "share",
                        subject=s, needs_ru=pm), _share_stats(x.assign(f=~x["bad"].astype(bool) & (x["worst"] >= 4)),
                                                              "f")))
    for s in opts["key_subjects"]:
        x = _exam_marks(con, years, "'OGE', 'GVE'", 9, s)
        out.append((Ind(f"d1.oge.{s}", 1, f"Средняя отметка ОГЭ/ГВЭ: {s}", "mean", unit="отметка", subject=s,
                        needs_ru="assessments.csv (ОГЭ/ГВЭ с отметкой или шкалой перевода scales)"),
                    _mean_stats(x.astype({"mark": float}), "mark")))
    ege = pd.DataFrame({"school_id": [], "year": [], "student_id": [], "subject": [], "score": []})
    if _rows(con, "assessments") and has_column(con, "assessments", "test_score"):
        ege = _df(con, """SELECT school_id, year, student_id, subject, max(test_score) AS score FROM assessments
                          WHERE kind = 'EGE' AND grade = 11 AND test_score IS NOT NULL AND year IN (?, ?)
                          GROUP BY ALL""", years)
    for s in opts["key_subjects"]:
        x = ege[ege["subject"].map(lambda v, s=s: v == s or str(v).startswith(s + " (")).astype(bool)]
        x = x.groupby(["school_id", "year", "student_id"], as_index=False)["score"].max()
        out.append((Ind(f"d1.ege.{s}", 1, f"Средний тестовый балл ЕГЭ: {s}", "mean", unit="балл", subject=s,
                        needs_ru="assessments.csv (ЕГЭ с тестовым баллом test_score)"), _mean_stats(x, "score")))
    vpr = _exam_marks_worst(con, years)  # any «2»: the worst mark per student
    out.append((Ind("d2.vpr_low", 2, "Доля участников ВПР, получивших хотя бы одну «2»", "share", False,
                    needs_ru="assessments.csv (ВПР с отметкой или шкалой перевода scales)"),
                _share_stats(vpr.assign(f=vpr["mark"] <= 2), "f") if len(vpr) else pd.DataFrame()))
    for key, name, where in (
            ("d3.all", "Участники олимпиад (все этапы) на 100 обучающихся", ""),
            ("d3.municipal", "Участники муниципального и более высоких этапов олимпиад на 100 обучающихся",
             "AND o.stage IN ('municipal', 'regional', 'final')"),
            ("d3.winners", "Победители и призёры муниципального и более высоких этапов на 100 обучающихся",
             "AND o.stage IN ('municipal', 'regional', 'final') AND o.status IN ('prize', 'winner')")):
        out.append((Ind(key, 3, name, "rate100", unit="на 100 обучающихся", needs_ru="olympiads.csv"),
                    _olympiads(con, years, where)))
    prof = pd.DataFrame()
    if has_column(con, "classes", "profile") and con.execute(
            "SELECT count(profile) FROM classes WHERE year IN (?, ?)", years).fetchone()[0]:
        p = _df(con, """SELECT e.school_id, e.year, e.student_id, lower(trim(coalesce(c.profile, ''))) AS profile
                          FROM enrollments e JOIN classes c USING (class_id)
                         WHERE e.year IN (?, ?) AND e.grade IN (10, 11) AND e.date_out IS NULL""", years)
        prof = _share_stats(p.assign(f=~p["profile"].isin(UNIVERSAL)), "f")
    out.append((Ind("d4.profile", 4, "Доля обучающихся 10–11 классов в профильных классах", "share",
                    needs_ru="classes.csv, столбец profile"), prof))
    choice = pd.DataFrame()
    if _rows(con, "assessments"):
        g = _df(con, f"""
            SELECT e.school_id, e.year, e.student_id,
                   coalesce(bool_or(a.kind = 'EGE' AND NOT {_subj('Русский язык', 'a.subject')}
                                    AND NOT {_subj('Математика', 'a.subject')}), false) AS f,
                   count(a.kind) FILTER (WHERE a.kind = 'EGE') AS n_ege
              FROM enrollments e LEFT JOIN assessments a ON a.student_id = e.student_id AND a.year = e.year
             WHERE e.year IN (?, ?) AND e.grade = 11 AND e.date_out IS NULL GROUP BY ALL""", years)
        has_ege = g.groupby(["school_id", "year"])["n_ege"].transform("sum") > 0
        choice = _share_stats(g[has_ege], "f") if has_ege.any() else pd.DataFrame()
    out.append((Ind("d4.ege_choice", 4, "Доля выпускников 11 классов, сдававших ЕГЭ по предмету по выбору",
                    "share", needs_ru="assessments.csv (ЕГЭ)"), choice))
    out += _destinations(con, years)
    tch = _teachers(con, years, opts)
    for key, name, need in (("d6.category", "Доля учителей с высшей или первой квалификационной категорией",
                             "teachers.csv и assignments.csv"),
                            ("d6.pd36", f"Доля учителей, прошедших курсы повышения квалификации не менее "
                                        f"{opts['pd_hours']} ч за 3 года", "teachers.csv, столбец pd_hours_3y"),
                            ("d6.higher_ped", "Доля учителей с высшим педагогическим образованием",
                             "teachers.csv, столбец higher_pedagogical")):
        out.append((Ind(key, 6, name, "share", needs_ru=need), tch.get(key, pd.DataFrame())))
    for ind, st in _surveys(con, year, opts["survey_respondents"]).values():
        out.append((ind, st))
    if not any(i.direction == 7 and i.kind == "mean" for i, _ in out):
        out.append((Ind("d7.survey", 7, "Шкалы анкетирования учеников и родителей (климат, безопасность, "
                        "мотивация, удовлетворённость)", "mean", unit="балл 1–5",
                        needs_ru="surveys.csv и survey_items.csv"), pd.DataFrame()))
    out.append((Ind("d7.unexcused", 7, "Доля уроков, пропущенных без уважительной причины (в среднем на ученика)",
                    "mean", False, "доля уроков", needs_ru="attendance.csv, столбец missed_unexcused"),
                _unexcused(con, years)))
    known = set(schools["school_id"])
    return [(i, s[s["school_id"].isin(known)] if len(s) else s) for i, s in out]


def _exam_marks_worst(con, years) -> pd.DataFrame:
    from ..warehouse.derive import mark_from_scale_sql

    if not _rows(con, "assessments"):
        return pd.DataFrame(columns=["school_id", "year", "student_id", "mark"])
    mark = "a.mark" if has_column(con, "assessments", "mark") else "NULL"
    if _rows(con, "scales"):
        mark = f"coalesce({mark}, {mark_from_scale_sql('a')})"
    return _df(con, f"""SELECT school_id, year, student_id, min(mark) AS mark FROM (
                            SELECT a.school_id, a.year, a.student_id, {mark} AS mark FROM assessments a
                             WHERE a.kind = 'VPR' AND a.year IN (?, ?)) WHERE mark IS NOT NULL GROUP BY ALL""",
               years)


# --------------------------------------------------------------------------- comparisons


def _pool(ind: Ind, st: pd.DataFrame, year: int) -> dict | None:
    """The municipality's value of ``year``: pooled counts (shares), pooled mean and sd (means)."""
    d = st[st["year"] == year]
    if d.empty:
        return None
    if ind.kind in ("share", "rate100"):
        return {"k": int(d["k"].sum()), "n": int(d["n"].sum())}
    if ind.kind == "mean":
        n, m = d["n"].to_numpy(float), d["mean"].to_numpy(float)
        sd = d["sd"].fillna(0).to_numpy(float)
        big_n = n.sum()
        mean = float((n * m).sum() / big_n)
        var = ((n - 1) * sd ** 2 + n * (m - mean) ** 2).sum() / (big_n - 1) if big_n > 1 else np.nan
        return {"mean": mean, "sd": float(np.sqrt(var)), "n": int(big_n)}
    return None


def _value(ind: Ind, s: dict | None) -> tuple[float, float, float, float]:
    """value, ci_low, ci_high, n of one stat."""
    if s is None:
        return (np.nan,) * 4
    if ind.kind in ("share", "rate100"):
        if not s["n"]:
            return (np.nan,) * 4
        lo, hi = wilson_interval(s["k"], s["n"])
        f = 100.0 if ind.kind == "rate100" else 1.0
        return f * s["k"] / s["n"], f * lo, f * hi, s["n"]
    if ind.kind == "mean":
        n, m, sd = s["n"], s["mean"], s["sd"]
        if n >= 2 and np.isfinite(sd):
            h = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
            return m, m - h, m + h, n
        return m, np.nan, np.nan, n
    return s.get("value", np.nan), s.get("ci_low", np.nan), s.get("ci_high", np.nan), s.get("n", np.nan)


def _diff(ind: Ind, cur: dict, prev: dict) -> tuple[float, float, float, float, str]:
    """Change ``cur − prev``: estimate, interval, p-value, basis."""
    if ind.kind in ("share", "rate100"):
        r = compare_proportions(cur["k"], cur["n"], prev["k"], prev["n"]).iloc[0]
        f = 100.0 if ind.kind == "rate100" else 1.0
        return f * r["diff"], f * r["diff_lower"], f * r["diff_upper"], r["p_value"], "interval"
    if ind.kind == "mean":
        r = compare_means(cur["mean"], cur["sd"], cur["n"], prev["mean"], prev["sd"], prev["n"]).iloc[0]
        return r["diff"], r["diff_lower"], r["diff_upper"], r["p_value"], "interval"
    if ind.kind == "gap" or "paired" in cur:
        return cur["diff"], cur["diff_low"], cur["diff_high"], cur["p"], "interval"
    d = cur["value"] - prev["value"]
    return d, np.nan, np.nan, np.nan, "exact"


def _status(ind: Ind, diff, lo, hi, basis) -> str:
    if not np.isfinite(diff):
        return "same" if basis == "exact" else "no_previous"
    if basis == "exact":
        up = diff > 1e-9
        down = diff < -1e-9
    else:
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return "same"
        up, down = lo > 0, hi < 0
    if not (up or down):
        return "same"
    return "better" if up == ind.higher_is_better else "worse"


def _stat_of(ind: Ind, st: pd.DataFrame, school: str, year: int) -> dict | None:
    d = st[(st["school_id"] == school) & (st["year"] == year)]
    if d.empty:
        return None
    r = d.iloc[0]
    if ind.kind in ("share", "rate100"):
        return {"k": int(r["k"]), "n": int(r["n"])} if r["n"] > 0 else None
    if ind.kind == "mean":
        return {"mean": float(r["mean"]), "sd": float(r["sd"]) if pd.notna(r["sd"]) else np.nan, "n": int(r["n"])}
    return {"value": float(r["value"])}


def _paired(st: pd.DataFrame, year: int) -> tuple[dict | None, dict | None]:
    """Municipality's read indicator: mean over reporting schools; change by a paired t interval."""
    cur, prev = st[st["year"] == year], st[st["year"] == year - 1]
    if cur.empty:
        return None, ({"value": float(prev["value"].mean())} if len(prev) else None)
    c = {"value": float(cur["value"].mean()), "n": len(cur)}
    if prev.empty:
        return c, None
    both = cur.merge(prev, on="school_id", suffixes=("", "_0"))
    p = {"value": float(prev["value"].mean()), "n": len(prev)}
    d = (both["value"] - both["value_0"]).to_numpy(float)
    if len(d) >= 2 and d.std(ddof=1) > 0:
        se = d.std(ddof=1) / math.sqrt(len(d))
        h = stats.t.ppf(0.975, len(d) - 1) * se
        c.update(paired=True, diff=float(d.mean()), diff_low=float(d.mean() - h), diff_high=float(d.mean() + h),
                 p=float(2 * stats.t.sf(abs(d.mean() / se), len(d) - 1)))
    elif len(d):
        c.update(paired=True, diff=float(d.mean()), diff_low=float(d.mean()), diff_high=float(d.mean()), p=np.nan)
    return c, p


def _gap(ym: pd.DataFrame, low: set, year: int) -> dict | None:
    d = ym[ym["year"] == year]
    if d.empty or not low or not (set(d["school_id"]) - low) or not (set(d["school_id"]) & low):
        return None
    lo_g, hi_g = d[d["school_id"].isin(low)], d[~d["school_id"].isin(low)]
    r = compare_proportions(int(hi_g["k"].sum()), int(hi_g["n"].sum()), int(lo_g["k"].sum()),
                            int(lo_g["n"].sum())).iloc[0]
    return {"value": float(r["diff"]), "ci_low": float(r["diff_lower"]), "ci_high": float(r["diff_upper"]),
            "n": int(r["n1"] + r["n2"])}


def _gap_change(cur: dict, prev: dict) -> dict:
    se = [(x["ci_high"] - x["ci_low"]) / (2 * 1.959964) for x in (cur, prev)]
    s = math.sqrt(se[0] ** 2 + se[1] ** 2)
    d = cur["value"] - prev["value"]
    p = float(2 * stats.norm.sf(abs(d / s))) if s > 0 else np.nan
    return {**cur, "diff": d, "diff_low": d - 1.959964 * s, "diff_high": d + 1.959964 * s, "p": p}


def _low_schools(schools: pd.DataFrame, opts: dict) -> set:
    if opts["shnor_schools"] is not None:
        return set(map(str, opts["shnor_schools"]))
    si = schools.dropna(subset=["social_index"]) if "social_index" in schools else schools.iloc[0:0]
    if len(si) < 2:
        return set()
    k = max(1, math.ceil(len(si) / 3))
    return set(si.sort_values(["social_index", "school_id"])["school_id"].iloc[:k])


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class DirectionsResult(AnalysisResult):
    """The eight directions' dashboard.

    ``tidy()`` (:data:`TABLE_COLUMNS`): one row per indicator × unit (``level`` ``school`` with its
    ``school_id``, or ``municipality`` with the municipality's id) with a value this or last year: value and
    95 % interval (shares as 0..1, olympiads per 100 students), n, the previous year's value, the change with
    its interval and p-value, q (BH over the run), ``basis`` (``interval`` / ``exact``), ``status``
    (``better`` / ``same`` / ``worse`` / ``no_previous``), ``flagged`` (worse at q < 0.05).
    ``directions``: per direction — direction, name, short, n_indicators (with a value this year),
    municipal status counts, ``missing_ru`` (Russian: what data is missing). ``summary``: unit × direction
    status (``better``, ``worse``, ``mixed``, ``same``, ``no_previous``, ``no_data``) with counts — the figure.
    """

    directions: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    municipality_id: str = ""
    year: int = 0

    def missing(self, direction: int) -> str:
        d = self.directions[self.directions["direction"] == direction]
        return d["missing_ru"].iloc[0] if len(d) else ""

    def plot(self, ax=None):
        """Heatmap: units (municipality first, then schools) × the eight directions, coloured by status."""
        import matplotlib.pyplot as plt
        import seaborn as sns
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch

        s = self.summary
        if s.empty:
            return empty_plot(ax, "Нет данных ни по одному направлению МСОКО.")
        units = list(dict.fromkeys(s["unit"]))
        if ax is None:
            _, ax = plt.subplots(figsize=(11, 0.5 * len(units) + 2.4))
        order = ["no_data", "no_previous", "worse", "mixed", "same", "better"]
        colors = ["#f7f7f7", "#fff2cc", "#e06666", "#f6b26b", "#d9d9d9", "#93c47d"]
        labels = {"no_data": "нет данных", "no_previous": "нет прошлого года", "worse": "хуже", "mixed": "разнонаправленно",
                  "same": "без изменений", "better": "лучше"}
        grid = s.pivot(index="unit", columns="direction", values="state").reindex(index=units, columns=range(1, 9))
        text = s.pivot(index="unit", columns="direction", values="label").reindex(index=units, columns=range(1, 9))
        codes = grid.apply(lambda c: c.map({k: i for i, k in enumerate(order)})).fillna(0).astype(int)
        sns.heatmap(codes, cmap=ListedColormap(colors), vmin=-0.5, vmax=len(order) - 0.5, annot=text.fillna("").to_numpy(),
                    fmt="", cbar=False, linewidths=0.8, linecolor="white", ax=ax, annot_kws={"fontsize": 8})
        ax.set_xticklabels([DIRECTIONS[d][1] for d in range(1, 9)], rotation=30, ha="right", fontsize=8)
        names = dict(zip(s["unit"], s["unit_label"], strict=False))
        ax.set_yticklabels([names.get(u, u) for u in units], rotation=0, fontsize=8)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_title(f"Восемь направлений МСОКО: {t.academic_year(self.year)} к {t.academic_year(self.year - 1)} "
                     "(↑ лучше, ↓ хуже, = без изменений — по 95\u00a0% интервалу;\n* — ухудшение подтверждено "
                     "с поправкой на множественность сравнений, q < 0,05)", fontsize=9)
        ax.legend(handles=[Patch(color=c, label=labels[k]) for k, c in zip(order, colors, strict=True)],
                  loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=6, fontsize=7, frameon=False)
        return ax

    def plot_indicator(self, indicator_id: str, ax=None):
        """The indicator's value with its 95 % interval per school, this year and last year."""
        import matplotlib.pyplot as plt

        d = self.table[self.table["indicator_id"] == indicator_id]
        if d.empty:
            return empty_plot(ax, f"Нет данных по показателю {indicator_id}.")
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 0.45 * len(d) + 1.4))
        y = np.arange(len(d))
        for off, col, lo, hi, lab, color in ((0.15, "value", "ci_low", "ci_high", t.academic_year(self.year), "C0"),
                                             (-0.15, "prev_value", "prev_ci_low", "prev_ci_high",
                                              t.academic_year(self.year - 1), "C7")):
            v = d[col].to_numpy(float)
            err = np.vstack([v - d[lo].to_numpy(float), d[hi].to_numpy(float) - v])
            ax.errorbar(v, y + off, xerr=np.where(np.isfinite(err), err, 0), fmt="o", color=color, label=lab,
                        capsize=2)
        ax.set_yticks(y)
        ax.set_yticklabels(["Муниципалитет" if lv == "municipality" else s for lv, s in zip(d["level"], d["school_id"],
                                                                                           strict=True)])
        if d["kind"].iloc[0] in ("share", "gap"):
            from matplotlib.ticker import PercentFormatter

            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(d["indicator"].iloc[0], fontsize=9)
        ax.legend(fontsize=8)
        return ax


def municipal_directions(con, year: int, options: dict | None = None) -> DirectionsResult:
    """The eight directions' dashboard for academic ``year`` (module docstring).

    ``options``: ``alpha`` (0.05, the FDR level of findings), ``key_subjects`` (Русский язык, Математика),
    ``survey_respondents`` (student, parent), ``shnor_schools`` (the schools in unfavourable social
    conditions; default: the lowest third by ``social_index``), ``pd_hours`` (36), ``read_indicators``
    (extra or overriding codes of ``indicators.csv``: code -> (name, unit, higher is better)),
    ``municipality_id`` (default: from ``schools.municipality``).
    """
    o = {**DEFAULTS, **(options or {})}
    year = int(year)
    mid = o.get("municipality_id") or _municipality_id(con)
    cols = "school_id, name" + (", social_index" if has_column(con, "schools", "social_index") else "")
    schools = _df(con, f"SELECT {cols} FROM schools ORDER BY school_id")
    catalogue = {**READ_INDICATORS, **(o["read_indicators"] or {})}
    items = _computed(con, year, o, schools) + _read(con, [year - 1, year], catalogue)
    low = _low_schools(schools, o)
    rows = []
    for ind, st in items:
        if st is None or st.empty:
            continue
        for sid in schools["school_id"]:
            rows.append(_make_row(ind, "school", sid, year, _stat_of(ind, st, sid, year),
                                  _stat_of(ind, st, sid, year - 1)))
        if ind.kind == "exact":
            cur, prev = _paired(st, year)
        else:
            cur, prev = _pool(ind, st, year), _pool(ind, st, year - 1)
        rows.append(_make_row(ind, "municipality", mid, year, cur, prev))
        if ind.id == "d1.good":
            gc, gp = _gap(st, low, year), _gap(st, low, year - 1)
            if gc is not None and gp is not None:
                gc = _gap_change(gc, gp)
            rows.append(_make_row(GAP, "municipality", mid, year, gc, gp))
    rows = [r for r in rows if r is not None]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    if len(table):
        ok = table["p_value"].notna()
        table.loc[ok, "q_value"] = bh_qvalues(table.loc[ok, "p_value"].to_numpy(float))
        # a decline is called on groups of at least MIN_GROUP in both years: a smaller group is neither a
        # direction's signal nor publishable (152-ФЗ), and its values would be quoted in the finding's evidence
        sizes = table[["n", "prev_n"]].apply(pd.to_numeric, errors="coerce")
        small = sizes.apply(lambda c: c.between(1, MIN_GROUP - 1)).any(axis=1)  # NaN: no group (a read value)
        table["flagged"] = (table["status"] == "worse") & (table["q_value"] < o["alpha"]) & ~small
    directions = _directions(table, [*(i for i, _ in items), GAP], low)
    summary = _summary(table, schools, mid)
    findings = _findings(table, schools, mid, year)
    skipped = tuple(Skipped(f"msoko_direction_{d}", r["missing_ru"]) for d, r in
                    directions.set_index("direction").iterrows() if r["n_indicators"] == 0)
    notes = tuple(f"Направление {d} («{r['name']}»): {r['missing_ru']}" for d, r in
                  directions.set_index("direction").iterrows() if r["missing_ru"])
    return DirectionsResult(table=table, findings=findings, skipped=skipped, notes=notes, directions=directions,
                            summary=summary, municipality_id=mid, year=year)


def _make_row(ind: Ind, level: str, unit: str, year: int, cur: dict | None, prev: dict | None) -> dict | None:
    if cur is None and prev is None:
        return None
    v, lo, hi, n = _value(ind, cur) if ind.kind != "gap" else _gap_value(cur)
    pv, plo, phi, pn = _value(ind, prev) if ind.kind != "gap" else _gap_value(prev)
    diff = dlo = dhi = p = np.nan
    basis = "exact" if ind.kind == "exact" else "interval"
    if cur is not None and prev is not None:
        diff, dlo, dhi, p, basis = _diff(ind, cur, prev)
    status = "no_data" if cur is None else ("no_previous" if prev is None else _status(ind, diff, dlo, dhi, basis))
    if ind.kind == "exact" and level == "municipality" and cur is not None and "paired" in cur:
        basis = "interval" if np.isfinite(p) else "exact"
    return {"direction": ind.direction, "indicator_id": ind.id, "indicator": ind.name, "kind": ind.kind,
            "unit": ind.unit, "higher_is_better": ind.higher_is_better, "subject": ind.subject, "level": level,
            "school_id": unit, "year": year, "value": v, "ci_low": lo, "ci_high": hi, "n": n, "prev_value": pv,
            "prev_ci_low": plo, "prev_ci_high": phi, "prev_n": pn, "diff": diff, "diff_low": dlo, "diff_high": dhi,
            "p_value": p if np.isfinite(p) else np.nan, "q_value": np.nan, "basis": basis, "status": status,
            "status_ru": STATUS_RU[status], "flagged": False}


def _gap_value(s: dict | None):
    if s is None:
        return (np.nan,) * 4
    return s["value"], s["ci_low"], s["ci_high"], s["n"]


def _directions(table: pd.DataFrame, inds: list[Ind], low: set) -> pd.DataFrame:
    rows = []
    have = dict(zip(table["indicator_id"], table["indicator_id"], strict=False)) if len(table) else {}
    muni = table[table["level"] == "municipality"] if len(table) else table
    for d, (name, short) in DIRECTIONS.items():
        own = [i for i in inds if i.direction == d]
        missing = [f"{i.name} — нужны {i.needs_ru}" for i in own if i.id not in have and i.needs_ru]
        if d == 2 and not low:
            missing.append("разрыв между школами в неблагоприятных социальных условиях и остальными — нужен "
                           "социальный индекс школ (schools.csv, столбец social_index) хотя бы у двух школ")
        if d in (4, 5, 6, 7, 8):
            codes = [c for c in READ_INDICATORS if c.startswith(f"msoko.{d}.")]
            read_have = [c for c in codes if c in have]
            if len(read_have) < len(codes):
                lead = ("Данных о дошкольном образовании в контракте нет: показатели направления вносятся в "
                        "indicators.csv" if d == 8 else "Показатели, которых нет в таблицах контракта, вносятся в "
                        "indicators.csv")
                missing.append(lead + " (по школам и годам), коды: " + "; ".join(
                    f"{c} — {READ_INDICATORS[c][0]}" for c in codes if c not in have))
        if d == 5 and "d5.vsoko_map" not in have:
            missing.append("баллы карты результативности ВСОКО — коды vsoko_map.* в indicators.csv")
        m = muni[muni["direction"] == d] if len(muni) else muni
        if len(m) and (m["status"] == "no_previous").all():
            missing.append(f"за {t.academic_year(int(m['year'].iloc[0]) - 1)} нет значений — сравнение с прошлым "
                           "годом невозможно")
        n_ind = int(m["value"].notna().sum()) if len(m) else 0
        if d == 6 and n_ind:
            missing.append("категории и образование учителей берутся из teachers.csv без года: изменение между "
                           "годами отражает только смену состава учителей")
        rows.append({"direction": d, "name": name, "short": short, "n_indicators": n_ind,
                     "better": int((m["status"] == "better").sum()) if len(m) else 0,
                     "same": int((m["status"] == "same").sum()) if len(m) else 0,
                     "worse": int((m["status"] == "worse").sum()) if len(m) else 0,
                     "missing_ru": "; ".join(missing) + ("." if missing else "")})
    return pd.DataFrame(rows)


def _summary(table: pd.DataFrame, schools: pd.DataFrame, mid: str) -> pd.DataFrame:
    units = [(mid, "Муниципалитет", "municipality")] + [
        (s, f"{s} {n}" if isinstance(n, str) and n else s, "school")
        for s, n in zip(schools["school_id"], schools["name"], strict=True)]
    rows = []
    for uid, label, level in units:
        for d in range(1, 9):
            x = table[(table["school_id"] == uid) & (table["level"] == level) & (table["direction"] == d)] \
                if len(table) else table
            x = x[x["value"].notna()] if len(x) else x
            b, w, s = (int((x["status"] == k).sum()) if len(x) else 0 for k in ("better", "worse", "same"))
            if not len(x):
                state, lab = "no_data", "нет данных"
            elif b + w + s == 0:
                state, lab = "no_previous", f"{len(x)} пок."
            else:
                state = "mixed" if b and w else "worse" if w else "better" if b else "same"
                star = "*" if x["flagged"].astype(bool).any() else ""
                lab = " ".join(p for p in (f"↑{b}" if b else "", f"↓{w}{star}" if w else "", f"={s}" if s else "")
                               if p)
            rows.append({"unit": uid, "unit_label": label, "level": level, "direction": d, "state": state,
                         "label": lab, "better": b, "worse": w, "same": s, "n_indicators": len(x)})
    return pd.DataFrame(rows)


def _fmt(ind_kind: str, unit: str, x: float, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "—"
    if ind_kind in ("share", "gap") or unit == "%":
        s = f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"
        return s.replace(".", ",").replace("-", "\u2212") + ("\u00a0п.\u00a0п." if signed else "\u00a0%")
    s = f"{x:+.2f}" if signed else f"{x:.2f}"
    return s.replace(".", ",").replace("-", "\u2212")


def _findings(table: pd.DataFrame, schools: pd.DataFrame, mid: str, year: int) -> tuple[Finding, ...]:
    if table.empty or not table["flagged"].any():
        return ()
    names = dict(zip(schools["school_id"], schools["name"], strict=True))
    out = []
    for (level, unit, d), g in table[table["flagged"]].groupby(["level", "school_id", "direction"], sort=True):
        g = g.sort_values("q_value")
        top = g.iloc[0]
        who = "муниципалитет в целом" if level == "municipality" else f"школа {unit} ({names.get(unit, unit)})"
        parts = [f"{r['indicator']}: {_fmt(r['kind'], r['unit'], r['prev_value'])} в "
                 f"{t.academic_year(year - 1)} → {_fmt(r['kind'], r['unit'], r['value'])} в {t.academic_year(year)}, "
                 f"изменение {_fmt(r['kind'], r['unit'], r['diff'], True)} (95\u00a0% ДИ: "
                 f"{_fmt(r['kind'], r['unit'], r['diff_low'], True)} … {_fmt(r['kind'], r['unit'], r['diff_high'], True)}"
                 f"), q = {t.num(r['q_value'], 3)}" for _, r in g.iterrows()]
        school = level == "school"
        metric = str(top["indicator_id"])
        subj = top["subject"] if isinstance(top["subject"], str) else None
        rec = Recommendation(
            text=(f"Руководителю школы {unit}: разобрать причины ухудшения по направлению «{DIRECTIONS[d][0]}» "
                  f"({top['indicator']}) и включить адресные меры в план работы школы; отчитаться перед "
                  "управлением образования по итогам года." if school else
                  f"Управлению образования: включить в муниципальный план меры по направлению «{DIRECTIONS[d][0]}» "
                  f"({top['indicator']}), адресованные школам с наибольшим снижением."),
            addressee_type="school", addressee_id=unit if school else "",
            responsible=f"директор школы {unit}" if school else "управление образования",
            deadline=f"{year + 1}-05-31", control_metric=metric,
            baseline=float(top["value"]), target=float(top["prev_value"]))
        out.append(Finding(
            area="trends", kind="direction_decline", polarity="problem",
            severity="high" if (not school or len(g) > 1) else "medium", school_id=mid, year=year,
            target_type="school", target_id=unit if school else "", subject=subj, metric=f"msoko_direction_{d}",
            estimate=float(top["diff"]), ci_low=float(top["diff_low"]), ci_high=float(top["diff_high"]),
            p_value=float(top["p_value"]), q_value=float(top["q_value"]), n=int(top["n"]) if pd.notna(top["n"]) else 0,
            title=f"Направление МСОКО «{DIRECTIONS[d][0]}»: ухудшение к прошлому году — {who}"[:300],
            evidence=("Показатели хуже прошлого года за пределами случайных колебаний (интервал изменения не "
                      "включает ноль, q < 0,05 с поправкой на множественность по всем сравнениям панели): "
                      + "; ".join(parts) + "."),
            recommendation=rec,
            extra={"direction": int(d), "indicator_id": metric, "indicators": list(g["indicator_id"]),
               **({"school_name": names.get(unit, unit)} if school else {})}))
    return tuple(out)
