"""Olympiads, anonymous surveys and conditions indicators.

* Olympiads (ВсОШ): a student takes the school stage of a subject with probability
  ``logistic(-2.4 + 0.9 * theta + culture[school])``; stage scores are
  ``theta + N(0, 0.5)``; winners and prize-winners go on to the municipal (grades 7-11),
  regional (9-11) and final stages.
* Surveys: Likert 1..5 from ``L = c[school, scale] + u[respondent] + item + N(0, 0.8)``
  cut at fixed thresholds; reverse-worded items are answered ``6 - response``.
  ``c[school, scale] = 0.15 * social_index + N(0, 0.25)``.
* Indicators: conditions of the school (equipment, library, site, internet, boards,
  psychologist), mildly related to the social index.
"""

from __future__ import annotations

import numpy as np

from .params import S_ENV, TAUGHT

SCALES = ("climate", "satisfaction", "motivation", "safety")
RESPONDENTS = ("student", "parent", "teacher")

#: item_id, respondent type, text, scale, reverse
SURVEY_ITEMS = (
    ("st_cl1", "student", "В нашем классе ко мне относятся доброжелательно", "climate", False),
    ("st_cl2", "student", "Учителя готовы помочь, если мне что-то непонятно", "climate", False),
    ("st_cl3", "student", "В нашем классе часто бывают конфликты", "climate", True),
    ("st_sa1", "student", "Мне нравится учиться в этой школе", "satisfaction", False),
    ("st_sa2", "student", "Я доволен (довольна) тем, как меня учат", "satisfaction", False),
    ("st_sa3", "student", "Я хотел (хотела) бы перейти в другую школу", "satisfaction", True),
    ("st_mo1", "student", "Мне интересно на уроках", "motivation", False),
    ("st_mo2", "student", "Я стараюсь хорошо учиться, даже когда задание трудное", "motivation", False),
    ("st_mo3", "student", "Учёба кажется мне бесполезной", "motivation", True),
    ("st_sf1", "student", "Я чувствую себя в школе в безопасности", "safety", False),
    ("st_sf2", "student", "Меня обижают или травят другие ученики", "safety", True),
    ("st_sf3", "student", "В школе есть взрослый, к которому я могу обратиться за помощью", "safety", False),
    ("pa_sa1", "parent", "Я удовлетворён (удовлетворена) качеством обучения моего ребёнка", "satisfaction", False),
    ("pa_sa2", "parent", "Я получаю достаточно информации об успехах ребёнка", "satisfaction", False),
    ("pa_sa3", "parent", "Я рассматриваю перевод ребёнка в другую школу", "satisfaction", True),
    ("pa_sa4", "parent", "Условия в школе (питание, помещения) меня устраивают", "satisfaction", False),
    ("pa_cl1", "parent", "Педагоги уважительно общаются с родителями", "climate", False),
    ("pa_cl2", "parent", "Ребёнок с удовольствием ходит в школу", "climate", False),
    ("pa_sf1", "parent", "Ребёнок находится в школе в безопасности", "safety", False),
    ("pa_mo1", "parent", "Школа побуждает ребёнка учиться", "motivation", False),
    ("te_cl1", "teacher", "В коллективе сложились доброжелательные отношения", "climate", False),
    ("te_cl2", "teacher", "Администрация поддерживает инициативы учителей", "climate", False),
    ("te_cl3", "teacher", "Я испытываю профессиональное выгорание", "climate", True),
    ("te_sa1", "teacher", "Я удовлетворён (удовлетворена) условиями труда", "satisfaction", False),
    ("te_sa2", "teacher", "Меня устраивает методическая поддержка в школе", "satisfaction", False),
    ("te_sa3", "teacher", "Я планирую в ближайший год сменить место работы", "satisfaction", True),
    ("te_mo1", "teacher", "Мне интересно развиваться в профессии", "motivation", False),
    ("te_sf1", "teacher", "В школе обеспечена безопасность учеников и учителей", "safety", False),
)
ITEM_TYPE = np.array([RESPONDENTS.index(x[1]) for x in SURVEY_ITEMS])
ITEM_SCALE = np.array([SCALES.index(x[3]) for x in SURVEY_ITEMS])
ITEM_REVERSE = np.array([x[4] for x in SURVEY_ITEMS])
LIKERT_CUTS = np.array([-1.7, -0.8, 0.05, 0.95])

STAGES = ("school", "municipal", "regional", "final")
STATUSES = ("participant", "prize", "winner")
INDICATORS = ("computers_per_student", "library_books_per_student", "site_meets_requirements",
              "internet_speed_mbps", "interactive_boards_share", "psychologist_rate")


def olympiads(rng, roster, theta: np.ndarray, culture: np.ndarray, year: int) -> dict:
    """Rows of olympiads.csv for one year (codes: stage and status indices)."""
    eligible = TAUGHT[roster.grade] & (roster.grade >= 5)[:, None]
    eligible[:, S_ENV] = False
    eligible[:, :3] |= (roster.grade == 4)[:, None] & np.array([True, False, True])[None, :]
    r, s = np.nonzero(eligible)
    th = theta[r, s]
    p = 1 / (1 + np.exp(-(-2.4 + 0.9 * th + culture[roster.school[r]])))
    part = rng.random(len(r)) < p
    r, s, th = r[part], s[part], th[part]
    out = {"row": [], "subj": [], "stage": [], "status": []}
    grade = roster.grade[r]
    go_on = np.ones(len(r), bool)
    rules = ((0, 0, 1.3, 1.9), (1, 7, 1.8, 2.3), (2, 9, 2.4, 2.8), (3, 9, 2.9, 3.2))
    for stage, min_grade, prize, win in rules:
        m = go_on & (grade >= min_grade)
        z = th + rng.normal(0, 0.5, len(r))
        status = np.where(z > win, 2, np.where(z > prize, 1, 0))
        out["row"].append(r[m])
        out["subj"].append(s[m])
        out["stage"].append(np.full(m.sum(), stage))
        out["status"].append(status[m])
        go_on = m & (status >= 1) & (z > prize + 0.2 * stage)
    return {k: np.concatenate(v) for k, v in out.items()}


def surveys(rng, roster, teachers_by_school: dict, n_schools: int, effects: np.ndarray,
            year: int) -> dict:
    """Rows of surveys.csv for one year.

    Parameters
    ----------
    teachers_by_school : dict
        school -> array of teacher indices working there this year.
    effects : ndarray, (n_schools, n_scales)
        School climate effects c[school, scale].
    """
    resp_school, resp_type, resp_cls = [], [], []
    # students of grades 5-11 (60 %), one parent per student (35 %), teachers (80 %)
    st = np.flatnonzero((roster.grade >= 5) & (rng.random(len(roster)) < 0.6))
    pa = np.flatnonzero(rng.random(len(roster)) < 0.35)
    for t, rows in ((0, st), (1, pa)):
        resp_school.append(roster.school[rows])
        resp_type.append(np.full(len(rows), t))
        resp_cls.append(roster.cls2[rows])
    for s in range(n_schools):
        tt = teachers_by_school.get(s, np.zeros(0, int))
        k = int((rng.random(len(tt)) < 0.8).sum())
        resp_school.append(np.full(k, s))
        resp_type.append(np.full(k, 2))
        resp_cls.append(np.full(k, -1))
    school = np.concatenate(resp_school)
    rtype = np.concatenate(resp_type)
    cls = np.concatenate(resp_cls)
    # anonymous respondent numbers: shuffled within (school, type)
    order = np.lexsort((rng.random(len(school)), rtype, school))
    key = school[order] * 3 + rtype[order]
    starts = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    num = np.empty(len(school), int)
    num[order] = np.arange(len(school)) - np.repeat(starts, np.diff(np.r_[starts, len(school)])) + 1
    u = rng.normal(0, 0.6, len(school))
    rows, items = [], []
    for t in range(3):
        it = np.flatnonzero(ITEM_TYPE == t)
        rr = np.flatnonzero(rtype == t)
        rows.append(np.repeat(rr, len(it)))
        items.append(np.tile(it, len(rr)))
    rows, items = np.concatenate(rows), np.concatenate(items)
    L = effects[school[rows], ITEM_SCALE[items]] + u[rows] + 0.35 + rng.normal(0, 0.8, len(rows))
    resp = 1 + (L[:, None] > LIKERT_CUTS[None, :]).sum(1)
    resp = np.where(ITEM_REVERSE[items], 6 - resp, resp)
    return {"school": school[rows], "type": rtype[rows], "num": num[rows], "cls": cls[rows],
            "item": items, "response": resp}


def indicators(rng, social: np.ndarray, locality: np.ndarray, year_index: int) -> np.ndarray:
    """Indicator values (n_schools x len(INDICATORS)) for one year (slowly improving)."""
    n = len(social)
    v = np.empty((n, len(INDICATORS)))
    v[:, 0] = np.round(np.clip(0.10 + 0.03 * social + 0.01 * year_index + rng.normal(0, 0.02, n), 0.02, 0.6), 3)
    v[:, 1] = np.round(np.clip(22 + 4 * social + rng.normal(0, 4, n), 5, 60), 1)
    v[:, 2] = (rng.random(n) < 0.75 + 0.05 * social).astype(float)
    v[:, 3] = np.array([10.0, 50.0, 100.0, 200.0])[np.clip(
        np.round(1.5 + social + 0.2 * year_index + rng.normal(0, 0.5, n)), 0, 3).astype(int)]
    v[:, 3] = np.where(locality == "village", np.minimum(v[:, 3], 50.0), v[:, 3])
    v[:, 4] = np.round(np.clip(0.4 + 0.1 * social + 0.05 * year_index + rng.normal(0, 0.1, n), 0, 1), 2)
    v[:, 5] = np.array([0.0, 0.5, 1.0])[np.clip(np.round(1 + 0.5 * social + rng.normal(0, 0.6, n)),
                                                 0, 2).astype(int)]
    return v
