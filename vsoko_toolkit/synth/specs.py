"""External works: task structure, skills, item difficulties, scales and outside benchmarks.

Every work (ВПР 4-8, ОГЭ, ГВЭ, ЕГЭ) is a list of tasks with a maximum score and
a skill. A task's score is binomial on the student's latent form on the day:

    score_j ~ Binomial(max_j, logistic(1.7 * a_j * (theta + day - b_j)))

The difficulties ``b_j`` of a work are shifted so that the Russian reference
population (theta ~ N(0, 1)) scores the work's target mean share of the maximum.
ВПР scales are set so that the reference population gets the target mark
shares (``VPR_SHARES``); ОГЭ/ГВЭ scales are fixed (realistic official
thresholds). The reference population also yields the ``russia`` benchmarks and
``russia_pct`` per task; the region is the reference shifted by ``region_shift``.
Works depend only on (kind, subject, grade, year): every seed sees the same tests.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MATH_SKILLS = (
    "Выполнять арифметические действия с натуральными числами",
    "Решать текстовые задачи на движение, работу и покупки",
    "Извлекать информацию из таблиц и диаграмм",
    "Выполнять действия с обыкновенными и десятичными дробями",
    "Находить процент от числа и число по его проценту",
    "Решать линейные уравнения",
    "Выполнять преобразования алгебраических выражений",
    "Вычислять периметр и площадь фигур",
    "Распознавать геометрические фигуры и их свойства",
    "Строить и читать графики функций",
    "Оценивать и прикидывать результат вычислений",
    "Решать задачи на части и пропорции",
    "Применять свойства углов и треугольников",
    "Решать логические задачи повышенной сложности",
    "Использовать единицы измерения величин",
    "Находить вероятность случайного события",
)
RUS_SKILLS = (
    "Списывать текст с пропусками орфограмм и пунктограмм",
    "Проводить морфемный и словообразовательный разбор слова",
    "Проводить морфологический разбор слова",
    "Проводить синтаксический разбор предложения",
    "Соблюдать орфоэпические нормы (ударение)",
    "Распознавать самостоятельные и служебные части речи",
    "Ставить знаки препинания в предложениях с однородными членами",
    "Ставить знаки препинания при обращении и прямой речи",
    "Определять основную мысль текста",
    "Составлять план текста",
    "Отвечать на вопросы по содержанию текста",
    "Определять лексическое значение слова в контексте",
    "Подбирать синонимы и антонимы",
    "Объяснять правописание безударных гласных в корне слова",
    "Соблюдать нормы правописания -н- и -нн- в разных частях речи",
    "Строить речевое высказывание на основе прочитанного текста",
)
ENV_SKILLS = (
    "Работать с картой и глобусом",
    "Узнавать природные объекты по описанию",
    "Проводить несложные наблюдения и опыты",
    "Соблюдать правила безопасного поведения",
    "Знать строение тела человека и правила здорового образа жизни",
    "Различать объекты живой и неживой природы",
    "Знать государственную символику России",
    "Описывать достопримечательности родного края",
    "Использовать знаково-символические средства",
    "Устанавливать причинно-следственные связи в природе",
)

# (task labels, max scores) per work; sub-tasks "k.1", "k.2" share the skill of task k
_VPR = {
    ("Математика", 4): ("1 2 3 4 5.1 5.2 6 7 8 9 10 11 12", [1, 1, 2, 1, 1, 1, 2, 1, 2, 2, 2, 2, 2]),
    ("Русский язык", 4): ("1 2 3.1 3.2 4 5 6 7 8 9 10 11 12 13 14 15",
                          [4, 3, 1, 3, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 1]),
    ("Окружающий мир", 4): ("1 2 3.1 3.2 4 5 6 7 8 9 10", [2, 2, 1, 2, 2, 2, 5, 3, 3, 4, 6]),
    ("Математика", 5): ("1 2 3 4.1 4.2 5 6 7 8 9 10 11 12 13 14", [1] * 7 + [2, 2, 2, 1, 1, 1, 2, 2]),
    ("Математика", 6): ("1 2 3 4 5 6.1 6.2 7 8 9 10 11 12 13 14 15 16", [1] * 10 + [1, 1, 1, 1, 2, 1, 3]),
    ("Математика", 7): ("1 2 3 4 5.1 5.2 6 7 8 9 10 11 12 13 14 15 16", [1] * 13 + [1, 1, 1, 3]),
    ("Математика", 8): ("1 2 3 4.1 4.2 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19", [1] * 15 + [2, 1, 1, 3, 3]),
    ("Русский язык", 5): ("1.1 1.2 1.3 2 3 4 5 6 7 8 9 10 11 12", [4, 3, 2, 9, 3, 2, 3, 4, 4, 3, 2, 2, 2, 2]),
    ("Русский язык", 6): ("1.1 1.2 1.3 2 3 4 5 6 7 8 9 10 11 12 13 14",
                          [4, 3, 2, 12, 2, 3, 3, 2, 3, 3, 2, 2, 2, 3, 3, 2]),
    ("Русский язык", 7): ("1.1 1.2 1.3 2 3 4 5 6 7 8 9 10 11 12 13",
                          [4, 3, 2, 12, 2, 3, 3, 2, 2, 2, 3, 2, 2, 3, 2]),
    ("Русский язык", 8): ("1.1 1.2 1.3 2 3 4 5 6 7 8 9 10 11 12 13 14",
                          [4, 3, 2, 12, 2, 3, 3, 2, 3, 3, 2, 2, 2, 3, 3, 2]),
}
_VPR_TARGET = {"Математика": 0.56, "Русский язык": 0.58, "Окружающий мир": 0.64}
#: Russian mark shares (2, 3, 4, 5) of the ВПР by (subject, grade); the scales are set to give them.
VPR_SHARES = {
    ("Математика", 4): (0.04, 0.25, 0.42, 0.29), ("Русский язык", 4): (0.06, 0.33, 0.43, 0.18),
    ("Окружающий мир", 4): (0.02, 0.26, 0.54, 0.18),
    ("Математика", 5): (0.11, 0.39, 0.35, 0.15), ("Математика", 6): (0.12, 0.45, 0.33, 0.10),
    ("Математика", 7): (0.12, 0.52, 0.28, 0.08), ("Математика", 8): (0.13, 0.55, 0.26, 0.06),
    ("Русский язык", 5): (0.15, 0.39, 0.34, 0.12), ("Русский язык", 6): (0.15, 0.41, 0.33, 0.11),
    ("Русский язык", 7): (0.16, 0.42, 0.32, 0.10), ("Русский язык", 8): (0.15, 0.43, 0.33, 0.09),
}

#: ОГЭ/ГВЭ/ЕГЭ: max primary, thresholds (mark 3, 4, 5) or None, target mean share, tasks (items kept?)
OGE = {
    "Математика": (31, (8, 15, 22), 0.50),
    "Русский язык": (33, (15, 23, 29), 0.68),
    "Обществознание": (37, (14, 24, 32), 0.55),
    "Информатика": (19, (5, 11, 16), 0.55),
    "География": (31, (12, 19, 25), 0.58),
    "Биология": (48, (13, 26, 37), 0.50),
}
OGE_ELECTIVES = ("Обществознание", "Информатика", "География", "Биология")
OGE_ELECTIVE_P = np.array([0.45, 0.25, 0.18, 0.12])
GVE = {"Математика": (20, (6, 11, 16), 0.55), "Русский язык": (25, (9, 15, 21), 0.60)}
#: Target Russian mark shares (2, 3, 4, 5) of works with fixed thresholds.
FIXED_SHARES = {
    ("OGE", "Математика"): (0.08, 0.47, 0.33, 0.12), ("OGE", "Русский язык"): (0.04, 0.30, 0.40, 0.26),
    ("OGE", "Обществознание"): (0.08, 0.52, 0.32, 0.08), ("OGE", "Информатика"): (0.06, 0.44, 0.36, 0.14),
    ("OGE", "География"): (0.06, 0.45, 0.38, 0.11), ("OGE", "Биология"): (0.06, 0.58, 0.30, 0.06),
    ("GVE", "Математика"): (0.05, 0.50, 0.35, 0.10), ("GVE", "Русский язык"): (0.05, 0.50, 0.35, 0.10),
}
EGE = {  # max primary, minimum test score, reference mean share of the max, share of graduates taking it
    "Русский язык": (50, 24, 0.47, 0.99), "Математика": (32, 27, 0.35, 0.55),
    "Обществознание": (58, 42, 0.38, 0.45), "Физика": (45, 36, 0.33, 0.20),
    "Информатика": (29, 40, 0.35, 0.20), "Биология": (57, 36, 0.32, 0.16),
    "Химия": (56, 36, 0.32, 0.14), "История": (42, 32, 0.36, 0.14),
    "Английский язык": (82, 22, 0.45, 0.10), "Литература": (48, 32, 0.40, 0.06),
    "География": (37, 37, 0.38, 0.04),
}


@dataclass(frozen=True)
class Work:
    """One external work of one year."""

    kind: str
    subject: str
    grade: int
    year: int
    tasks: tuple[str, ...]
    max_score: np.ndarray
    skill: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    thresholds: tuple[int, int, int] | None
    russia_pct: np.ndarray
    region_pct: np.ndarray
    russia_shares: np.ndarray | None
    region_shares: np.ndarray | None
    russia_mean: float
    region_mean: float
    with_items: bool

    @property
    def total(self) -> int:
        return int(self.max_score.sum())

    def mark(self, primary: np.ndarray) -> np.ndarray:
        """Marks 2..5 from primary scores."""
        return 2 + (np.asarray(primary)[:, None] >= np.array(self.thresholds)[None, :]).sum(1)

    def scores(self, rng: np.random.Generator, form: np.ndarray) -> np.ndarray:
        """Task scores (n x tasks) of students with latent form ``form``."""
        p = 1 / (1 + np.exp(-1.7 * self.a[None, :] * (form[:, None] - self.b[None, :])))
        return rng.binomial(self.max_score[None, :].astype(int), p).astype(float)


def _skills(subject: str, grade: int, tasks: list[str]) -> tuple[str, ...]:
    bank = {"Математика": MATH_SKILLS, "Русский язык": RUS_SKILLS, "Окружающий мир": ENV_SKILLS}[subject]
    out = []
    for t in tasks:
        head = t.split(".")[0]
        k = int(head) if head.isdigit() else 0
        out.append(bank[(k + 3 * grade) % len(bank)])
    return tuple(out)


def _expected_pct(a, b, theta):
    """Expected share of each task's maximum (theta x task)."""
    return 1 / (1 + np.exp(-1.7 * a[None, :] * (theta[:, None] - b[None, :])))


def _shift_for(a, base, m, target, theta):
    lo, hi = -4.0, 4.0
    for _ in range(24):
        mid = (lo + hi) / 2
        pct = (_expected_pct(a, base + mid, theta) * m).sum(1).mean() / m.sum()
        lo, hi = (mid, hi) if pct > target else (lo, mid)
    return (lo + hi) / 2


def _nearest_cut(primary: np.ndarray, share: float) -> int:
    cand = np.arange(0, primary.max() + 2)
    below = (primary[None, :] < cand[:, None]).mean(1)
    return int(cand[np.argmin(np.abs(below - share))])


def _structure(kind: str, subject: str, grade: int) -> tuple[list[str], np.ndarray, bool]:
    """Task labels, max scores and whether per-task scores are published."""
    if kind == "VPR":
        labels, maxes = _VPR[(subject, grade)]
        return labels.split(), np.array(maxes, float), True
    with_items = kind == "OGE" and subject in ("Математика", "Русский язык")
    if kind == "OGE" and subject == "Математика":
        maxes = [1] * 19 + [2] * 6
    elif kind == "OGE" and subject == "Русский язык":
        maxes = [7, 1, 1, 1, 1, 1, 1, 1, 9, 10]
    else:
        total = (OGE if kind == "OGE" else GVE if kind == "GVE" else EGE)[subject][0]
        n2 = total // (4 if kind != "EGE" else 3)
        maxes = [1] * (total - 2 * n2) + [2] * n2
    return [str(i + 1) for i in range(len(maxes))], np.array(maxes, float), with_items


def _base_difficulty(kind: str, subject: str, grade: int, m: np.ndarray):
    """Fixed structure of a work: base difficulties (later, multi-point tasks harder) and slopes."""
    n = len(m)
    struct = np.random.default_rng(zlib.crc32(f"{kind}|{subject}|{grade}".encode()))
    base = -1.1 + 2.2 * np.arange(n) / max(n - 1, 1) + 0.25 * (m > 1) + struct.normal(0, 0.35, n)
    return base, struct.uniform(0.7, 1.3, n)


@lru_cache(maxsize=64)
def _calibrate_fixed(kind: str, subject: str, grade: int, sd_day: float) -> tuple[float, float]:
    """(slope scale, difficulty shift) giving the target mark shares under the fixed thresholds."""
    _, m, _ = _structure(kind, subject, grade)
    base, a = _base_difficulty(kind, subject, grade, m)
    thr = np.array((OGE if kind == "OGE" else GVE)[subject][1])
    target = np.cumsum(FIXED_SHARES[(kind, subject)])[:3]
    rng = np.random.default_rng(11)
    ref = rng.normal(0, np.hypot(1.0, sd_day), 1500)
    mm = int(m.max())
    U = rng.random((len(ref), len(m), mm))
    valid = np.arange(mm)[None, None, :] < m[None, :, None]
    best = (np.inf, 1.0, 0.0)
    for scale in np.linspace(0.2, 1.3, 12):
        lo, hi = -4.0, 4.0
        for _ in range(14):
            mid = (lo + hi) / 2
            p = 1 / (1 + np.exp(-1.7 * scale * a[None, :] * (ref[:, None] - base[None, :] - mid)))
            prim = ((U < p[:, :, None]) & valid).sum((1, 2))
            cum = (prim[:, None] < thr[None, :]).mean(0)
            lo, hi = (lo, mid) if cum[0] > target[0] else (mid, hi)
        err = float(((cum - target) ** 2).sum())
        if err < best[0]:
            best = (err, float(scale), (lo + hi) / 2)
    return best[1], best[2]


@lru_cache(maxsize=512)
def make_work(kind: str, subject: str, grade: int, year: int, sd_day: float = 0.30,
              region_shift: float = -0.05) -> Work:
    """Build (deterministically) one work of one year with its reference benchmarks."""
    rng = np.random.default_rng(zlib.crc32(f"{kind}|{subject}|{grade}|{year}".encode()))
    tasks, m, with_items = _structure(kind, subject, grade)
    n = len(m)
    base, a = _base_difficulty(kind, subject, grade, m)
    base = base + rng.normal(0, 0.08, n)
    thr = (OGE if kind == "OGE" else GVE)[subject][1] if kind in ("OGE", "GVE") else None
    target = {"VPR": _VPR_TARGET.get(subject, 0.5), "EGE": EGE.get(subject, (0, 0, 0.5))[2]}.get(kind, 0.5)
    if kind in ("OGE", "GVE"):
        scale, shift = _calibrate_fixed(kind, subject, grade, sd_day)
        a = a * scale
        b = base + shift
    else:
        theta_grid = np.quantile(np.random.default_rng(7).normal(0, np.hypot(1.0, sd_day), 4000),
                                 (np.arange(400) + 0.5) / 400)
        b = base + _shift_for(a, base, m, target, theta_grid)
    if kind == "VPR":
        skill = _skills(subject, grade, tasks)
    elif kind == "OGE" and subject == "Русский язык":
        skill = ("Сжатое изложение прослушанного текста",) + _skills(subject, grade, tasks[1:8]) + (
            "Сочинение-рассуждение", "Практическая грамотность и фактическая точность речи")
    elif kind == "OGE" and subject == "Математика":
        skill = _skills(subject, grade, tasks)
    else:
        skill = ("",) * n
    # reference (Russia) and region populations
    ref = rng.normal(0, np.hypot(1.0, sd_day), 3000)
    mm = int(m.max())
    U = rng.random((len(ref), n, mm))
    valid = np.arange(mm)[None, None, :] < m[None, :, None]

    def simulate(shift: float) -> np.ndarray:
        p = 1 / (1 + np.exp(-1.7 * a[None, :] * (ref[:, None] + shift - b[None, :])))
        return ((U < p[:, :, None]) & valid).sum(2).astype(float)

    ref_sc = simulate(0.0)
    reg_sc = simulate(region_shift)
    ref_primary = ref_sc.sum(1)
    if kind == "VPR":
        c = np.cumsum(VPR_SHARES[(subject, grade)])[:3]
        thr = tuple(_nearest_cut(ref_primary, float(x)) for x in c)
        thr = (thr[0], max(thr[1], thr[0] + 1), max(thr[2], thr[1] + 1))
    shares = lambda prim: None if thr is None else np.bincount(  # noqa: E731
        2 + (prim[:, None] >= np.array(thr)[None, :]).sum(1), minlength=6)[2:6] / len(prim)
    return Work(kind, subject, grade, year, tuple(tasks), m, skill, a, b, thr,
                np.round(100 * ref_sc.mean(0) / m, 1), np.round(100 * reg_sc.mean(0) / m, 1),
                shares(ref_primary), shares(reg_sc.sum(1)), float(ref_primary.mean()),
                float(reg_sc.sum(1).mean()), with_items)


def vpr_works(grade: int) -> tuple[str, ...]:
    """Subjects of the ВПР written in a grade (4-8)."""
    return ("Математика", "Русский язык", "Окружающий мир") if grade == 4 else ("Математика", "Русский язык")


def ege_test_score(primary: np.ndarray, total: int) -> np.ndarray:
    """ЕГЭ test score 0..100 from a primary score (concave conversion, like the official scales)."""
    x = np.clip(np.asarray(primary, float) / total, 0, 1)
    return np.round(100 * (1 - (1 - x) ** 1.35))
