"""Parameters of the sample-municipality model: planted effects, base model, curriculum.

Everything the generator needs to know about Russian schooling (subjects per
grade, weekly hours, the calendar of quarters) and every number of the
generating model lives here, so that ``docs/SYNTH_MODEL.md`` can be checked
against one file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------
# Subjects and curriculum
# ---------------------------------------------------------------------------

#: Subject names (index = subject code used in every array of the generator).
SUBJECTS: tuple[str, ...] = (
    "Русский язык", "Литература", "Математика", "Английский язык", "История",
    "Обществознание", "География", "Биология", "Физика", "Химия", "Информатика",
    "Окружающий мир",
)
N_SUBJ = len(SUBJECTS)
S_RUS, S_LIT, S_MATH, S_ENG, S_HIST, S_SOC, S_GEO, S_BIO, S_PHYS, S_CHEM, S_INF, S_ENV = range(N_SUBJ)

#: Weekly hours per subject (rows) and grade 1..11 (columns); 0 = not taught.
HOURS = np.array([
    # 1  2  3  4  5  6  7  8  9 10 11
    [5, 5, 5, 5, 5, 6, 4, 3, 3, 2, 2],  # Русский язык
    [4, 4, 4, 4, 3, 3, 2, 2, 3, 3, 3],  # Литература (литературное чтение in 1-4)
    [4, 4, 4, 4, 5, 5, 6, 6, 6, 6, 6],  # Математика
    [0, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3],  # Английский язык
    [0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2],  # История
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2],  # Обществознание
    [0, 0, 0, 0, 1, 1, 2, 2, 2, 1, 1],  # География
    [0, 0, 0, 0, 1, 1, 1, 2, 2, 1, 1],  # Биология
    [0, 0, 0, 0, 0, 0, 2, 2, 3, 2, 2],  # Физика
    [0, 0, 0, 0, 0, 0, 0, 2, 2, 1, 1],  # Химия
    [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1],  # Информатика
    [2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0],  # Окружающий мир
], dtype=float)

#: ``TAUGHT[grade, subject]``: subject is in the grade's curriculum (row 0 unused).
TAUGHT = np.vstack([np.zeros((1, N_SUBJ), bool), (HOURS > 0).T])
#: ``MARKED[grade, subject]``: marks are given (no marks in grade 1).
MARKED = TAUGHT.copy()
MARKED[1, :] = False

#: Total weekly lessons per grade (index = grade).
WEEKLY_LESSONS = np.array([0, 21, 23, 23, 23, 29, 30, 32, 33, 33, 34, 34])

#: Teacher specialties ("groups"): a teacher of a group teaches all of the group's
#: subjects in a class. Primary classes (1-4) have one teacher for the main subjects.
GROUPS: tuple[str, ...] = ("primary", "russian", "math", "english", "history", "geography",
                           "biology", "physics", "chemistry", "informatics")
SUBJECT_GROUP = np.array([1, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 0])  # for grades 5-11
PRIMARY_SUBJECTS = (S_RUS, S_LIT, S_MATH, S_ENV)


def group_of(grade: int, subject: int) -> int:
    """Teacher group teaching ``subject`` in ``grade`` (0 = the primary class teacher)."""
    if grade <= 4 and subject in PRIMARY_SUBJECTS:
        return 0
    return int(SUBJECT_GROUP[subject])


# ---------------------------------------------------------------------------
# Periods and calendar
# ---------------------------------------------------------------------------

PERIODS: tuple[str, ...] = ("q1", "q2", "q3", "q4", "h1", "h2", "year")
P_Q1, P_Q2, P_Q3, P_Q4, P_H1, P_H2, P_YEAR = range(len(PERIODS))
QUARTERS = (P_Q1, P_Q2, P_Q3, P_Q4)
HALVES = (P_H1, P_H2)
#: Weeks of teaching per period (grade 1 has one week less in q3).
PERIOD_WEEKS = {P_Q1: 8, P_Q2: 8, P_Q3: 10, P_Q4: 8, P_H1: 16, P_H2: 18}
#: Period boundaries as (month, day) of start and end; months 9-12 belong to year-1.
PERIOD_DATES = {
    P_Q1: ((9, 1), (10, 25)), P_Q2: ((11, 5), (12, 27)),
    P_Q3: ((1, 9), (3, 21)), P_Q4: ((3, 31), (5, 26)),
    P_H1: ((9, 1), (12, 27)), P_H2: ((1, 9), (5, 26)),
}
#: Periods of the second half of the year (after a mid-year transfer, in the new class).
SECOND_HALF = (P_Q3, P_Q4, P_H2, P_YEAR)


def cal_date(year: int, month: int, day: int) -> np.datetime64:
    """Calendar date of (month, day) inside academic ``year`` (Sep-Dec belong to year-1)."""
    y = year - 1 if month >= 9 else year
    return np.datetime64(f"{y:04d}-{month:02d}-{day:02d}")


def period_bounds(year: int, period: int) -> tuple[np.datetime64, np.datetime64]:
    """First and last day of a period of academic ``year``."""
    (m0, d0), (m1, d1) = PERIOD_DATES[period]
    return cal_date(year, m0, d0), cal_date(year, m1, d1)


def periods_of_grade(grade: int) -> tuple[int, ...]:
    """Term periods of a grade: quarters in 1-9, semesters in 10-11."""
    return HALVES if grade >= 10 else QUARTERS


# ---------------------------------------------------------------------------
# Planted effects
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plants:
    """Planted effects: one switch and one size per effect.

    ``Plants()`` plants everything at the default size; ``Plants.null()`` plants
    nothing (pure-null data: no teacher differences in value added or marking,
    no task deficits, no trends, no decision effects, no score pile-ups, no
    resilient school, failing independent of the covariates).

    Attributes
    ----------
    teacher_effects, teacher_effects_size
        Random value added of every teacher in every subject: sd of the yearly
        gain in latent sd units.
    value_added, value_added_size
        A few (teacher, subject) pairs with a large planted yearly gain of
        ``-size`` (low) or ``+size`` (high), latent sd per year.
    marking_bias, marking_bias_size
        Teachers whose journal marks are shifted by ``+size`` (inflated) or
        ``-size`` (deflated) latent sd against what ability supports
        (the realised shift in marks is recorded in the truth).
    teacher_leniency, teacher_leniency_size
        Small random marking offset of every teacher (sd, latent units).
    task_deficit, task_deficit_size
        ВПР tasks on which a class loses ``size`` of its expected score share
        (0.3 = 30 percentage points when the class would otherwise score 100 %).
    declining_trend, declining_trend_size
        Yearly latent loss (sd) in one school-subject from its planted cause.
    declining_trend_cause
        ``"teacher"`` (a low value-added teacher takes over the subject) or
        ``"intake"`` (weaker newcomers replace leavers every year).
    decision_effect, decision_effect_size
        Latent gain (sd) of the effective decision's targeted students after its date.
    threshold_peak, threshold_peak_size
        Share of ОГЭ scores 1-4 points below the mark-3 threshold that are pushed onto it.
    resilient_school, resilient_school_size
        Minimum latent advantage (sd) of the school with the lowest social index over its
        social prediction; its mean is also lifted above every other school's.
    risk_model, risk_model_size
        Failing a year mark depends on prior marks, absence and ОВЗ; the size
        multiplies all slopes (0 = failing is random with the base rate).
    literacy_deficit, literacy_deficit_size
        Functional-literacy diagnostic (RDR): in the last year, S02's 7th graders lose ``size``
        latent sd in reading literacy (:mod:`.literacy`).
    upbringing, upbringing_size
        Schools differ in activity participation and offence rates with their culture (off: no school
        differences beyond chance).
    talent_concentration, talent_concentration_size
        In one school a handful of students take most olympiad prize places: each other student's prize row
        becomes a participation with probability ``size`` (see synth/upbringing.py).
    graduate_outflow, graduate_outflow_size
        In one school (no technological 10th grade), leavers after grade 9 go to a college with
        probability 0.9, of a technical profile with probability ``size`` (synth/destinations.py).
    """

    teacher_effects: bool = True
    teacher_effects_size: float = 0.10
    value_added: bool = True
    value_added_size: float = 0.50
    marking_bias: bool = True
    marking_bias_size: float = 0.90
    teacher_leniency: bool = True
    teacher_leniency_size: float = 0.05
    task_deficit: bool = True
    task_deficit_size: float = 0.35
    declining_trend: bool = True
    declining_trend_size: float = 0.40
    declining_trend_cause: str = "teacher"
    decision_effect: bool = True
    decision_effect_size: float = 0.60
    threshold_peak: bool = True
    threshold_peak_size: float = 0.90
    resilient_school: bool = True
    resilient_school_size: float = 0.80
    risk_model: bool = True
    risk_model_size: float = 1.0
    # issue 18: a functional-literacy domain deficit in one grade of one school (latent sd, last year)
    literacy_deficit: bool = True
    literacy_deficit_size: float = 0.90
    # issue 18 (synth/upbringing.py): school differences in activities and offences; a talent concentration
    upbringing: bool = True
    upbringing_size: float = 1.0
    talent_concentration: bool = True
    talent_concentration_size: float = 0.85
    graduate_outflow: bool = True
    graduate_outflow_size: float = 0.80

    def __post_init__(self) -> None:
        if self.declining_trend_cause not in ("teacher", "intake"):
            raise ValueError(
                "Недопустимое значение declining_trend_cause: "
                f"{self.declining_trend_cause!r}. Допустимые значения: teacher, intake."
            )

    @classmethod
    def null(cls) -> Plants:
        """No planted effect at all (every switch off)."""
        return cls(**{f.name: False for f in dataclasses.fields(cls) if f.type in ("bool", bool)})

    def size(self, name: str) -> float:
        """Size of effect ``name`` if switched on, else 0."""
        return float(getattr(self, f"{name}_size")) if getattr(self, name) else 0.0

    @property
    def is_null(self) -> bool:
        """True when no effect is switched on."""
        return not any(getattr(self, f.name) for f in dataclasses.fields(self)
                       if f.type in ("bool", bool))

    def as_dict(self) -> dict:
        """Plain dict (for truth.json)."""
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------
# Base model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelParams:
    """Numbers of the base generating model (see docs/SYNTH_MODEL.md)."""

    # latent ability theta = b + eta + A (+ school shocks); total variance ~ 1
    beta_social: float = 0.30  # school mean per unit of social_index
    sd_school: float = 0.15  # school residual
    sd_class: float = 0.20  # class (lineage) effect at entry
    sd_student: float = 0.75  # student general ability
    sd_subject: float = 0.40  # student x subject deviation
    sd_eta: float = 0.35  # time-varying part, AR(1) with rho
    rho_eta: float = 0.70
    persistence: float = 0.85  # lambda: share of accumulated value added kept next year
    region_shift: float = -0.05  # region's mean latent relative to Russia (for benchmarks)
    # journal marks: latent + subject leniency + teacher offset + nu + e, cut at thresholds
    sd_journal_student: float = 0.35  # nu: student x subject x year impression
    sd_journal_period: float = 0.40  # e: period noise
    sd_current: float = 0.75  # extra noise of a running (current) mark
    cuts_primary: tuple[float, float, float] = (-2.45, -0.55, 0.80)
    cuts_main: tuple[float, float, float] = (-2.10, -0.12, 1.23)
    # external work: latent + day-form noise, item responses with discrimination 1.7*a
    sd_day: float = 0.30
    participation_vpr: float = 0.93
    # population
    class_size: tuple[int, int] = (18, 30)
    senior_class_size: tuple[int, int] = (14, 27)
    parallels_p: tuple[float, float, float] = (0.35, 0.40, 0.25)  # 1, 2, 3 parallels
    leave_rate: float = 0.02  # leave the municipality between years (grades 1-8, 10)
    transfer_rate: float = 0.015  # move to another school between years
    newcomers_per_class: float = 0.6  # Poisson mean of arrivals per class and year
    stay_after_9: float = 0.50  # share of 9th graders continuing to grade 10 in their school
    switch_after_9: float = 0.08  # share moving to another school's grade 10
    repeat_rate: float = 0.25  # share of students failing >= 2 subjects who repeat the grade
    midyear_transfer_rate: float = 0.005  # documented class change inside a school in January
    special_needs_rate: float = 0.04
    # attendance
    absence_base: float = 0.07
    # failing (the true risk model: logit scale)
    risk_intercept: float = -3.8
    risk_prior_gpa: float = -1.8  # per mark of last year's mean year mark, centred at 4
    risk_absence: float = 0.55  # per 10 percentage points of lessons missed
    risk_special_needs: float = 0.7
    risk_primary: float = -0.9  # grades 2-4
    # current marks
    current_per_quarter: float = 8.0  # Poisson mean per student, subject and quarter
    current_marks_years: int = 1  # current marks are written for the last k years only
    # teachers
    teacher_load: float = 22.0  # weekly hours per teacher when sizing pools
    teacher_turnover: float = 0.05
    keep_teacher: float = 0.88  # a class keeps its subject teacher next year


#: Subject leniency of journal marks (latent units): some subjects are marked higher.
SUBJECT_LENIENCY = np.array([-0.15, 0.20, -0.15, 0.05, 0.10, 0.15, 0.10, 0.10, -0.05, -0.05, 0.25, 0.20])
