"""Russian sentences for findings, built from a result's numbers (one place for all wording)."""

from __future__ import annotations

import re

from .text import academic_year, num, pct  # noqa: F401 (re-exported)

METRIC_RU = {"quality": "качество знаний", "success": "успеваемость", "mean_mark": "средний балл", "sou": "СОУ"}
METRIC_GEN = {"quality": "качества знаний", "success": "успеваемости", "mean_mark": "среднего балла", "sou": "СОУ"}


def share_with_ci(p: float, k: int, n: int, lo: float, hi: float) -> str:
    return f"{pct(p)} ({k} из {n}; 95\u00a0% ДИ {pct(lo)}–{pct(hi)})"


def pp(x: float) -> str:
    """A difference of shares in percentage points: -0.27 -> '−27 п. п.'."""
    return f"{100 * x:+.0f}".replace("-", "−") + "\u00a0п.\u00a0п."


def q_text(q: float, m: int) -> str:
    from .text import plural

    qs = "q\u00a0<\u00a00,001" if q < 0.001 else f"q\u00a0=\u00a0{num(q, 3)}"
    return f"{qs} с поправкой на множественные сравнения ({m} {plural(m, 'проверка', 'проверки', 'проверок')})"


def comparison_evidence(metric: str, subject: str, who: str, p1, k1, n1, lo1, hi1, against: str, p2, k2, n2, lo2, hi2,
                        diff, dlo, dhi, q, m) -> str:
    return (f"{METRIC_RU[metric].capitalize()} по предмету «{subject}» {who} — {share_with_ci(p1, k1, n1, lo1, hi1)}; "
            f"{against} — {share_with_ci(p2, k2, n2, lo2, hi2)}. Разница {pp(diff)} (95\u00a0% ДИ {pp(dlo)} … {pp(dhi)}), "
            f"{q_text(q, m)}.")


def low_result_title(metric: str, subject: str, who: str, against: str) -> str:
    return f"Низкое {METRIC_RU[metric]} по предмету «{subject}» {who} ({against})" if metric == "quality" else \
        f"Низкая {METRIC_RU[metric]} по предмету «{subject}» {who} ({against})"


_CLASS_TOKEN = re.compile(r"^(1[01]|[1-9])\s*[А-ЯЁа-яёA-Za-z]{0,2}$")


def class_label(class_id: str) -> str:
    """The class as people name it, from any id the contract allows: 'S01-2025-7Б' -> '7Б',
    '7Б-2025-S01' -> '7Б', '2025_S01_10а' -> '10а'; an id with no grade-and-letter part is shown whole."""
    tokens = [t for t in re.split(r"[-_/\s.]+", str(class_id)) if t]
    hits = [t for t in tokens if _CLASS_TOKEN.match(t)]
    return hits[-1] if hits else str(class_id)


def year_text(year: int) -> str:
    return f"{academic_year(year)} учебного года"


def signed(x: float, digits: int = 2) -> str:
    return f"{x:+.{digits}f}".replace("-", "−").replace(".", ",")


def years_word(n: int) -> str:
    from .text import plural

    return plural(n, "год", "года", "лет")


def cohort_verdict(within: str, composition: str, decline: bool) -> str:
    """Which of the two the change is: the same students' (teaching) or a different intake."""
    change = "Снижение" if decline else "Рост"
    if within == "supported" and composition != "supported":
        return f"{change} произошло у тех же учеников — это изменение в преподавании или оценивании, а не в наборе."
    if composition == "supported" and within != "supported":
        return f"{change} связано со сменой состава учеников (набор), а не с результатами тех же учеников."
    if within == "supported" and composition == "supported":
        return f"{change} складывается и из результатов тех же учеников, и из смены состава."
    return "Данных недостаточно, чтобы отличить изменение в преподавании от изменения набора."
