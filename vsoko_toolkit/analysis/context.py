"""School context: the contingent (students, classes), the staff and the teaching load.

Public entry point: :func:`school_context`.

Staff
    The teachers of the school in ``year`` are those with at least one assignment
    (``assignments``) in a class of the school that year. Their shares by
    qualification category, experience band, age band, higher pedagogical
    education and professional development (PD) are given with Wilson 95 %
    intervals, each against the teachers of the *other* schools of the
    municipality that year (difference of shares with Newcombe's interval, score
    test, one Benjamini–Hochberg family for the staff shares). A share is taken
    over the teachers whose value is known (an empty optional column is not
    read as "no").

    PD rule: a teacher is covered when ``pd_hours_3y >= 36`` (at least 36 hours
    of professional-development courses over the last three years — two
    standard short courses or one long one); the threshold is the
    ``pd_min_hours`` option.

Teaching load
    Per subject: classes, teachers, total hours per week and hours per teacher.
    A teacher is overloaded when their total weekly hours in the school exceed
    ``overload_rates × rate_hours`` = 1.5 × 18 = 27 hours (more than one and a
    half of the 18-hour teaching rate); an overloaded teacher is counted under
    their main subject (the one with most of their hours). A vacancy is a class
    × subject with period marks in ``year`` but no assigned teacher. Vacancies
    give ``staffing_gap`` findings and overloads ``teacher_overload`` findings
    (area ``conditions``); both are facts of the data, not estimates, so they
    carry no p-value.

Optional data (fall-backs)
    A staff dimension whose optional column is empty for every teacher of the school (``age``,
    ``higher_pedagogical``, ``pd_hours_3y``) is left out of the staff table and a note names the
    column; without ``assignments.hours_per_week`` overload is not assessed (vacancies still are, from
    the period marks) and a note says so; without ``students.special_needs`` the ОВЗ count is not
    shown (NaN) and a note says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings import Finding, Recommendation, Skipped
from ..report import glue_context as wording
from ..stats.intervals import bh_qvalues, compare_proportions, wilson_interval
from ..warehouse.schema import has_column, select_optional
from .base import AnalysisResult

LEVELS = {"1–4 классы": (1, 4), "5–9 классы": (5, 9), "10–11 классы": (10, 11)}
CATEGORY_RU = {"highest": "высшая", "first": "первая", "conformity": "соответствие", "none": "без категории"}
EXPERIENCE_BANDS = ((0, 5, "стаж до 5 лет"), (5, 10, "стаж 5–9 лет"), (10, 20, "стаж 10–19 лет"),
                    (20, 30, "стаж 20–29 лет"), (30, 200, "стаж 30 лет и более"))
AGE_BANDS = ((0, 30, "моложе 30 лет"), (30, 45, "30–44 года"), (45, 55, "45–54 года"), (55, 200, "55 лет и старше"))
#: optional teacher columns -> what is not shown without them (Russian)
OPTIONAL_STAFF = {"age": "возраст (колонка age)",
                  "higher_pedagogical": "высшее педагогическое образование (колонка higher_pedagogical)",
                  "pd_hours_3y": "часы повышения квалификации за 3 года (колонка pd_hours_3y)"}
DIMENSIONS = {"category": "квалификационная категория", "experience": "педагогический стаж", "age": "возраст",
              "education": "образование", "pd": "повышение квалификации"}
PD_MIN_HOURS = 36
RATE_HOURS = 18.0
OVERLOAD_RATES = 1.5
ALPHA = 0.05

STAFF_COLUMNS = ["dimension", "group", "k", "n", "share", "share_lower", "share_upper", "k_mun", "n_mun", "share_mun",
                 "mun_lower", "mun_upper", "diff", "diff_lower", "diff_upper", "p_value", "q_value", "differs"]
LOAD_COLUMNS = ["subject", "classes", "teachers", "hours", "hours_per_teacher", "overloaded", "max_load",
                "classes_without_teacher", "vacancy_classes"]


@dataclass(frozen=True)
class ContextResult(AnalysisResult):
    """Contingent, staff and teaching load of a school.

    ``tidy()`` columns: year, level, classes, students, mean_class_size, special_needs (students with ОВЗ).
    ``staff``: category (Russian), teachers, share, share_lower, share_upper (Wilson 95 %).
    ``staff_summary``: one dict of staff figures for ``year`` (teachers, mean_experience, share_highest_first,
    share_pd — the PD rule of the module docstring —, share_young — experience under 5 years).
    ``staffing``: the staff shares against the municipality, columns :data:`STAFF_COLUMNS` (``dimension`` one of
    :data:`DIMENSIONS`; ``k``/``n`` teachers in the group / with a known value; ``*_mun`` the other schools;
    ``diff`` school minus municipality with Newcombe's interval; ``q_value`` BH over the staff family).
    ``load``: per subject, columns :data:`LOAD_COLUMNS`; ``teacher_load``: teacher_id, main_subject, subjects,
    classes, hours, rates (hours / rate), overloaded.
    """

    staff: pd.DataFrame | None = None
    staff_summary: dict | None = None
    staffing: pd.DataFrame | None = None
    load: pd.DataFrame | None = None
    teacher_load: pd.DataFrame | None = None
    options: dict | None = None
    school_id: str = ""
    year: int = 0

    def current(self) -> pd.DataFrame:
        return self.table[self.table["year"] == self.year]

    def totals(self) -> dict:
        cur = self.current()
        return {"students": int(cur["students"].sum()), "classes": int(cur["classes"].sum()),
                "special_needs": int(cur["special_needs"].sum())}

    def plot(self, ax=None):
        import matplotlib.pyplot as plt
        from seaborn import desaturate

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        # Grouped bars drawn with matplotlib as seaborn's barplot draws them (dodged bars 0.8 wide per year, the
        # colour cycle at 75 % saturation), without its per-call machinery (a tenth of a second a figure).
        years = self.table["year"].map(lambda y: f"{y - 1}/{y}")
        mean = self.table["students"].groupby([years, self.table["level"]], sort=False).mean()
        cats, levels = list(dict.fromkeys(years)), list(dict.fromkeys(self.table["level"]))
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        width = 0.8 / max(len(levels), 1)
        for i, level in enumerate(levels):
            ax.bar(np.arange(len(cats)) - 0.4 + width * (i + 0.5), mean.xs(level, level=1).reindex(cats).to_numpy(),
                   width, color=desaturate(colors[i % len(colors)], 0.75), label=level)
        ax.set_xticks(range(len(cats)), cats)
        ax.set_xlim(-0.5, max(len(cats), 1) - 0.5)
        ax.set_xlabel("учебный год")
        ax.set_ylabel("обучающихся")
        ax.set_title("Контингент по уровням образования")
        ax.legend(title=None)
        return ax

    def plot_staff(self, ax=None):
        """The school's staff shares with 95 % intervals beside the other schools' shares."""
        import matplotlib.pyplot as plt

        d = self.staffing.reset_index(drop=True)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.32 * max(len(d), 1) + 1.4))
        if d.empty:
            ax.text(0.5, 0.5, "нет данных о кадрах", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return ax
        y = np.arange(len(d))[::-1]
        ax.errorbar(d["share"] * 100, y + 0.12, xerr=[(d["share"] - d["share_lower"]) * 100,
                                                      (d["share_upper"] - d["share"]) * 100],
                    fmt="o", color="#1f5f99", ecolor="#9bbbd9", capsize=3, label="школа (95 % ДИ)")
        if d["share_mun"].notna().any():
            ax.errorbar(d["share_mun"] * 100, y - 0.12, xerr=[(d["share_mun"] - d["mun_lower"]).fillna(0) * 100,
                                                              (d["mun_upper"] - d["share_mun"]).fillna(0) * 100],
                        fmt="s", color="#7f7f7f", ecolor="#c7c7c7", capsize=3, ms=4,
                        label="другие школы муниципалитета")
        ax.set_yticks(y, d["group"], fontsize=8)
        ax.set_xlabel("доля учителей, %")
        ax.set_title("Кадры школы и муниципалитета")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
        return ax


def _contingent(con, school_id: str, year: int) -> pd.DataFrame:
    cases = " ".join(f"WHEN c.grade BETWEEN {lo} AND {hi} THEN '{name}'" for name, (lo, hi) in LEVELS.items())
    sn = "s.special_needs" if has_column(con, "students", "special_needs") else "NULL::BOOLEAN"
    cont = con.execute(
        f"""SELECT c.year, CASE {cases} END AS level, count(DISTINCT c.class_id) AS classes,
                   count(DISTINCT e.student_id) AS students,
                   count(DISTINCT CASE WHEN {sn} THEN e.student_id END) AS special_needs,
                   count({sn}) AS special_needs_known
              FROM classes c LEFT JOIN enrollments e USING (class_id) LEFT JOIN students s USING (student_id)
             WHERE c.school_id = ? AND c.year <= ? GROUP BY ALL ORDER BY c.year, level""", [school_id, year]).df()
    cont["mean_class_size"] = (cont["students"] / cont["classes"]).round(1)
    if not cont["special_needs_known"].any():  # the optional column is empty: unknown, not zero
        cont["special_needs"] = np.nan
    return cont.drop(columns="special_needs_known")


def _teachers(con, year: int) -> pd.DataFrame:
    """Teachers with an assignment in ``year``, with the school they teach in that year (all schools)."""
    cols = select_optional(con, "teachers", ("higher_pedagogical", "age", "pd_hours_3y"))
    return con.execute(
        f"""SELECT DISTINCT a.school_id AS working_school, t.teacher_id, t.category, t.experience_years, {cols}
              FROM teachers t JOIN assignments a USING (teacher_id) WHERE a.year = ?""", [int(year)]).df()


def _bands(x: pd.Series, bands) -> pd.Series:
    out = pd.Series(pd.NA, index=x.index, dtype="object")
    for lo, hi, name in bands:
        out[(x >= lo) & (x < hi)] = name
    return out


def _indicators(t: pd.DataFrame, pd_min_hours: float) -> list[tuple[str, str, pd.Series]]:
    """(dimension, group, indicator) triples: the indicator is True/False, NaN where the value is unknown."""
    out = []
    for code, name in CATEGORY_RU.items():
        out.append(("category", f"категория: {name}", (t["category"] == code).where(t["category"].notna())))
    for col, dim, bands in (("experience_years", "experience", EXPERIENCE_BANDS), ("age", "age", AGE_BANDS)):
        band = _bands(pd.to_numeric(t[col], errors="coerce"), bands)
        for _, _, name in bands:
            out.append((dim, name, (band == name).where(band.notna())))
    hp = t["higher_pedagogical"]
    out.append(("education", "высшее педагогическое образование", hp.where(hp.notna())))
    pdh = pd.to_numeric(t["pd_hours_3y"], errors="coerce")
    out.append(("pd", f"повышение квалификации не менее {pd_min_hours:g} ч за 3 года",
                (pdh >= pd_min_hours).where(pdh.notna())))
    return out


def staffing_shares(teachers: pd.DataFrame, school_id: str, pd_min_hours: float = PD_MIN_HOURS) -> pd.DataFrame:
    """Staff shares of ``school_id`` against the other schools in ``teachers`` (see the module docstring)."""
    mine = teachers[teachers["working_school"] == school_id].drop_duplicates("teacher_id")
    others = teachers[teachers["working_school"] != school_id].drop_duplicates("teacher_id")
    rows = []
    for (dim, group, ind), (_, _, ind_o) in zip(_indicators(mine, pd_min_hours), _indicators(others, pd_min_hours),
                                                strict=True):
        b, bo = ind.astype("boolean"), ind_o.astype("boolean")
        k, n = int(b.sum()), int(b.notna().sum())
        if n == 0:
            continue
        ko, no = int(bo.sum()), int(bo.notna().sum())
        rows.append({"dimension": dim, "group": group, "k": k, "n": n, "k_mun": ko, "n_mun": no})
    d = pd.DataFrame(rows, columns=["dimension", "group", "k", "n", "k_mun", "n_mun"])
    if d.empty:
        return pd.DataFrame(columns=STAFF_COLUMNS)
    d["share"] = d["k"] / d["n"]
    d["share_lower"], d["share_upper"] = wilson_interval(d["k"].to_numpy(), d["n"].to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        d["share_mun"] = d["k_mun"] / d["n_mun"].where(d["n_mun"] > 0)
    d["mun_lower"], d["mun_upper"] = wilson_interval(d["k_mun"].to_numpy(), d["n_mun"].to_numpy())
    cmp = compare_proportions(d["k"].to_numpy(), d["n"].to_numpy(), d["k_mun"].to_numpy(), d["n_mun"].to_numpy())
    for c in ("diff", "diff_lower", "diff_upper", "p_value"):
        d[c] = cmp[c].to_numpy()
    d["q_value"] = bh_qvalues(d["p_value"].to_numpy(dtype=float))
    d["differs"] = d["q_value"] < ALPHA
    return d[STAFF_COLUMNS]


def teaching_load(assign: pd.DataFrame, taught: pd.DataFrame, rate_hours: float = RATE_HOURS,
                  overload_rates: float = OVERLOAD_RATES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-subject load and per-teacher load of one school-year.

    ``assign``: teacher_id, class_id, subject, hours_per_week; ``taught``: class_id, subject of the class ×
    subject pairs with period marks (the subjects actually taught). Returns (``load``, ``teacher_load``).
    """
    limit = overload_rates * rate_hours
    a = assign.copy()
    a["hours_per_week"] = pd.to_numeric(a["hours_per_week"], errors="coerce")
    known = a.groupby("teacher_id")["hours_per_week"].apply(lambda h: h.notna().all())
    by_ts = a.groupby(["teacher_id", "subject"], as_index=False)["hours_per_week"].sum(min_count=1)
    main = (by_ts.assign(h=by_ts["hours_per_week"].fillna(0)).sort_values(["teacher_id", "h", "subject"],
                                                                           ascending=[True, False, True])
            .drop_duplicates("teacher_id").set_index("teacher_id")["subject"])
    tl = a.groupby("teacher_id").agg(subjects=("subject", lambda s: ", ".join(sorted(set(s)))),
                                     classes=("class_id", "nunique"),
                                     hours=("hours_per_week", lambda h: h.sum(min_count=1)))
    tl["hours"] = tl["hours"].where(known.reindex(tl.index).fillna(False))
    tl["main_subject"] = main.reindex(tl.index)
    tl["rates"] = tl["hours"] / rate_hours
    tl["overloaded"] = (tl["hours"] > limit).where(tl["hours"].notna())
    tl = tl.reset_index()[["teacher_id", "main_subject", "subjects", "classes", "hours", "rates", "overloaded"]]
    tl = tl.sort_values(["hours", "teacher_id"], ascending=[False, True], na_position="last").reset_index(drop=True)
    pairs = a[["class_id", "subject"]].drop_duplicates()
    gaps = taught.drop_duplicates().merge(pairs, how="left", indicator=True)
    gaps = gaps[gaps["_merge"] == "left_only"]
    subjects = sorted(set(a["subject"]) | set(gaps["subject"]))
    rows = []
    for s in subjects:
        sa = a[a["subject"] == s]
        teachers = sa["teacher_id"].nunique()
        hours = sa["hours_per_week"].sum(min_count=1) if len(sa) and sa["hours_per_week"].notna().all() else np.nan
        mains = tl[tl["main_subject"] == s]
        over = mains["overloaded"].dropna()
        g = gaps[gaps["subject"] == s]["class_id"]
        rows.append({"subject": s, "classes": int(sa["class_id"].nunique()), "teachers": int(teachers),
                     "hours": hours, "hours_per_teacher": hours / teachers if teachers else np.nan,
                     "overloaded": int(over.astype(bool).sum()) if len(over) or not len(mains) else np.nan,
                     "max_load": mains["hours"].max() if len(mains) else np.nan,
                     "classes_without_teacher": int(g.nunique()),
                     "vacancy_classes": ", ".join(sorted(c.rsplit("-", 1)[-1] for c in g.unique()))})
    load = pd.DataFrame(rows, columns=LOAD_COLUMNS)
    return load, tl


def school_context(con, school_id: str, year: int, *, pd_min_hours: float = PD_MIN_HOURS,
                   rate_hours: float = RATE_HOURS, overload_rates: float = OVERLOAD_RATES) -> ContextResult:
    """Contingent by level and year, staff shares against the municipality and the teaching load of ``school_id``.

    Parameters
    ----------
    pd_min_hours : float, default 36
        PD hours over three years from which a teacher counts as covered by professional development.
    rate_hours, overload_rates : float, default 18 and 1.5
        The weekly teaching rate and the number of rates above which a teacher is overloaded (27 h).

    Examples
    --------
    >>> res = school_context(con, "S01", 2025)  # doctest: +SKIP
    >>> res.totals()  # doctest: +SKIP
    >>> res.load.query("overloaded > 0 or classes_without_teacher > 0")  # doctest: +SKIP
    """
    cont = _contingent(con, school_id, year)
    everyone = _teachers(con, year)
    teachers = everyone[everyone["working_school"] == school_id].drop_duplicates("teacher_id")
    n = len(teachers)
    staff = teachers["category"].map(CATEGORY_RU).value_counts().rename_axis("category").reset_index(name="teachers")
    staff["share"] = staff["teachers"] / max(n, 1)
    staff["share_lower"], staff["share_upper"] = wilson_interval(staff["teachers"].to_numpy(), np.full(len(staff), n))
    pdh = pd.to_numeric(teachers["pd_hours_3y"], errors="coerce").dropna()
    summary = {
        "teachers": n,
        "mean_experience": float(teachers["experience_years"].mean()) if n else float("nan"),
        "share_highest_first": float(teachers["category"].isin(["highest", "first"]).mean()) if n else float("nan"),
        "share_pd": float((pdh >= pd_min_hours).mean()) if len(pdh) else float("nan"),
        "share_young": float((teachers["experience_years"] < 5).mean()) if n else float("nan"),
    }
    staffing = staffing_shares(everyone, school_id, pd_min_hours)
    assign = con.execute(f"""SELECT teacher_id, class_id, subject,
                                    {select_optional(con, "assignments", ("hours_per_week",))} FROM assignments
                              WHERE school_id = ? AND year = ?""", [school_id, int(year)]).df()
    taught = con.execute("""SELECT DISTINCT class_id, subject FROM period_marks WHERE school_id = ? AND year = ?""",
                         [school_id, int(year)]).df()
    load, tl = teaching_load(assign, taught, rate_hours, overload_rates)
    notes, skipped = [], []
    empty = [ru for col, ru in OPTIONAL_STAFF.items() if n and teachers[col].isna().all()]
    if empty:
        notes.append(f"В таблице teachers не заполнены сведения: {'; '.join(empty)} — эти разрезы кадрового "
                     "состава не показаны.")
    if len(cont) and cont["special_needs"].isna().all():
        notes.append("В таблице students не заполнена колонка special_needs (ОВЗ): число учеников с ОВЗ не "
                     "показано.")
    if len(assign) and assign["hours_per_week"].isna().all():
        notes.append("Часы нагрузки (колонка hours_per_week в таблице assignments) не указаны: перегрузка "
                     "учителей не оценивается; нагрузка показана числом классов и предметов, вакансии выявлены "
                     "по четвертным и годовым отметкам.")
        skipped.append(Skipped("context_overload", notes[-1]))
    elif len(assign) and assign["hours_per_week"].isna().any():
        notes.append("Часы нагрузки (hours_per_week) указаны не для всех назначений: перегрузка оценена только "
                     "для учителей, у которых известны часы по всем классам.")
    opts = {"pd_min_hours": pd_min_hours, "rate_hours": rate_hours, "overload_rates": overload_rates}
    findings = _findings(load, tl, school_id, year, opts)
    return ContextResult(table=cont, findings=findings, notes=tuple(notes), skipped=tuple(skipped), staff=staff, staff_summary=summary,
                         staffing=staffing, load=load, teacher_load=tl, options=opts, school_id=school_id, year=year)


def _findings(load: pd.DataFrame, tl: pd.DataFrame, school_id: str, year: int, opts: dict) -> tuple[Finding, ...]:
    out = []
    limit = opts["overload_rates"] * opts["rate_hours"]
    for r in load.itertuples(index=False):
        if r.classes_without_teacher > 0:
            taught = r.classes + r.classes_without_teacher
            share = r.classes_without_teacher / taught
            out.append(Finding(
                area="conditions", kind="staffing_gap", polarity="problem",
                severity="high" if r.classes_without_teacher >= 3 or share >= 0.5 else "medium",
                school_id=school_id, year=int(year), target_type="subject", target_id=r.subject, subject=r.subject,
                metric="classes_without_teacher", estimate=float(r.classes_without_teacher), ci_low=None,
                ci_high=None, p_value=None, q_value=None, n=int(taught),
                title=wording.staffing_gap_title(r.subject),
                evidence=wording.staffing_gap_evidence(r.subject, r.classes_without_teacher, taught,
                                                       r.vacancy_classes),
                recommendation=Recommendation(
                    text=wording.staffing_gap_recommendation(r.subject, r.vacancy_classes),
                    addressee_type="school", addressee_id=school_id, responsible="директор",
                    deadline=f"{int(year)}-08-31", control_metric="classes_without_teacher",
                    baseline=float(r.classes_without_teacher), target=0.0),
                extra={"classes": r.vacancy_classes}))
        mains = tl[(tl["main_subject"] == r.subject) & tl["hours"].notna()]
        k = int(mains["overloaded"].astype(bool).sum())
        if k > 0:
            n = len(mains)
            lo, hi = wilson_interval(k, n)
            hours = sorted(mains.loc[mains["overloaded"].astype(bool), "hours"].tolist(), reverse=True)
            out.append(Finding(
                area="conditions", kind="teacher_overload", polarity="problem",
                severity="high" if hours[0] > 2 * opts["rate_hours"] else "medium",
                school_id=school_id, year=int(year), target_type="subject", target_id=r.subject, subject=r.subject,
                metric="overloaded_teachers_share", estimate=k / n, ci_low=float(lo), ci_high=float(hi),
                p_value=None, q_value=None, n=n, title=wording.overload_title(r.subject),
                evidence=wording.overload_evidence(r.subject, k, n, lo, hi, hours, limit, opts["rate_hours"]),
                recommendation=Recommendation(
                    text=wording.overload_recommendation(r.subject, opts["overload_rates"], limit),
                    addressee_type="school", addressee_id=school_id, responsible="директор",
                    deadline=f"{int(year)}-08-31", control_metric="overloaded_teachers", baseline=float(k),
                    target=0.0),
                extra={"overloaded": k, "max_hours": float(hours[0])}))
    return tuple(out)
