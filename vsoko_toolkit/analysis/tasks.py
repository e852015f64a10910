"""Per-task and per-skill success of a school's external works against region and Russia benchmarks.

Public entry point: :func:`task_analysis`.

For every work of ``year`` written in the school (kind, subject, grade) and every task of
its specification (``assessment_specs``), the success rate of a group is the points scored
over the points possible, ``sum(score) / (n_students * max_score)`` — the «процент
выполнения» of the federal reports. Groups: each class and the school. A skill is the set
of tasks sharing ``skill``; its success is pooled the same way. Each class × skill is compared
with the region's success on those tasks (``region_pct``, or ``russia_pct`` when the region
is missing). A class weak on the whole work is not a task deficit: the benchmark is first
shifted (logit scale) to the class's own level on that work, and the skill is tested against
this level-adjusted expectation with an exact one-sided binomial test on points (a point
treated as a trial), Benjamini–Hochberg across all class × skill tests of the school; a ``task_deficit`` finding
names the skill, the class, its teacher and the tasks, only for q < 0.05 with the class
below both the region and its own level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..findings import Finding, Recommendation, Skipped
from ..report import phrases as ph
from ..stats.intervals import bh_qvalues, binom_test, wilson_interval
from .base import AnalysisResult

ALPHA = 0.05
MIN_N = 5
KIND_RU = {"VPR": "ВПР", "OGE": "ОГЭ", "EGE": "ЕГЭ", "GVE": "ГВЭ"}
TASK_COLUMNS = ["level", "target_id", "kind", "subject", "grade", "task", "skill", "max_score", "n", "points",
                "possible", "pct", "pct_low", "pct_high", "region_pct", "russia_pct", "gap_region"]


@dataclass(frozen=True)
class TaskResult(AnalysisResult):
    """Per-task success.

    ``tidy()`` columns: level (class / school), target_id (class id or school id), kind, subject,
    grade, task, skill, max_score, n (students), points (scored), possible (n × max_score),
    pct (points / possible, share), pct_low, pct_high (Wilson on points), region_pct, russia_pct
    (shares), gap_region (pct − region_pct).
    ``skills``: class × skill tests: class_id, teacher_id, kind, subject, grade, skill, tasks, n,
    points, possible, pct, benchmark (region share), gap (pct − benchmark), expected (share
    expected at the class's own level), p_value, q_value (against ``expected``), flagged.
    """

    skills: pd.DataFrame | None = None
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None, work: tuple | None = None):
        """Success per task of the school's ``work`` (kind, subject, grade) against region and Russia."""
        import matplotlib.pyplot as plt

        d = self.table[self.table["level"] == "school"]
        if work is None:
            work = self.focus_work()
        d = d[(d["kind"] == work[0]) & (d["subject"] == work[1]) & (d["grade"] == work[2])]
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        x = np.arange(len(d))
        ax.bar(x, 100 * d["pct"], color="#1f5f99", label="школа")
        ax.errorbar(x, 100 * d["pct"], yerr=[100 * (d["pct"] - d["pct_low"]), 100 * (d["pct_high"] - d["pct"])],
                    fmt="none", ecolor="k", lw=0.8)
        ax.plot(x, 100 * d["region_pct"], "o", color="#e67e22", label="регион")
        ax.plot(x, 100 * d["russia_pct"], "_", color="k", ms=12, label="Россия")
        ax.set_xticks(x, d["task"], fontsize=7, rotation=90)
        ax.set_ylabel("выполнение, %")
        ax.set_ylim(0, 105)
        ax.set_title(f"{KIND_RU.get(work[0], work[0])}, «{work[1]}», {work[2]} класс: выполнение заданий",
                     fontsize=10)
        ax.legend(fontsize=8)
        return ax

    def focus_work(self) -> tuple:
        """The work with the most flagged skills (else the first ВПР in mathematics, else the first)."""
        if self.skills is not None and len(self.skills) and self.skills["flagged"].any():
            f = self.skills[self.skills["flagged"]]
            k = f.groupby(["kind", "subject", "grade"]).size().idxmax()
            return tuple(k)
        s = self.table[self.table["level"] == "school"][["kind", "subject", "grade"]].drop_duplicates()
        m = s[s["subject"] == "Математика"]
        r = (m if len(m) else s).iloc[0]
        return (r["kind"], r["subject"], int(r["grade"]))


def _items(con, school_id: str, year: int) -> pd.DataFrame:
    return con.execute(
        """SELECT i.class_id, i.kind, i.subject, i.grade, i.task, i.student_id, i.score, s.max_score, s.skill,
                  s.region_pct / 100 AS region_pct, s.russia_pct / 100 AS russia_pct
             FROM assessment_items i
             JOIN assessment_specs s ON s.kind = i.kind AND s.subject = i.subject AND s.grade = i.grade
                                    AND s.year = i.year AND s.task = i.task
            WHERE i.school_id = ? AND i.year = ?""", [school_id, int(year)]).df()


def per_task_table(items: pd.DataFrame, school_id: str) -> pd.DataFrame:
    """Per class and school × task success from item rows (see :class:`TaskResult` columns)."""
    keys = ["kind", "subject", "grade", "task", "skill", "max_score", "region_pct", "russia_pct"]
    out = []
    for level, by in (("class", ["class_id"]), ("school", [])):
        g = items.groupby(by + keys, as_index=False, dropna=False).agg(n=("student_id", "nunique"),
                                                                       points=("score", "sum"))
        g["level"] = level
        g["target_id"] = g["class_id"] if level == "class" else school_id
        out.append(g)
    t = pd.concat(out, ignore_index=True)
    t["possible"] = t["n"] * t["max_score"]
    t["pct"] = t["points"] / t["possible"]
    lo, hi = wilson_interval(np.round(t["points"]).astype(int).to_numpy(), np.round(t["possible"]).astype(int).to_numpy())
    t["pct_low"], t["pct_high"] = lo, hi
    t["gap_region"] = t["pct"] - t["region_pct"]
    t["_order"] = t["task"].map(_task_order)
    t = t.sort_values(["level", "kind", "subject", "grade", "target_id", "_order"]).drop(columns="_order")
    return t[TASK_COLUMNS].reset_index(drop=True)


def _level_adjusted(cls: pd.DataFrame) -> np.ndarray:
    """Expected points per class × task: the benchmark shifted on the logit scale to the class's own level.

    For each class and work the shift ``d`` solves ``sum(possible * expit(logit(bench) + d)) = points``
    over all its tasks, so a class that is weak on the whole work is not flagged on every task.
    """
    from scipy.optimize import brentq
    from scipy.special import expit, logit

    out = np.zeros(len(cls))
    pos = {ix: i for i, ix in enumerate(cls.index)}
    for _, g in cls.groupby(["target_id", "kind", "subject", "grade"]):
        lb = logit(np.clip(g["bench"].to_numpy(dtype=float), 0.005, 0.995))
        w = g["possible"].to_numpy(dtype=float)
        tot = float(np.clip(g["points"].sum(), 0.5, w.sum() - 0.5))
        d = brentq(lambda x, w=w, lb=lb, tot=tot: float((w * expit(lb + x)).sum()) - tot, -15, 15)
        for ix, e in zip(g.index, w * expit(lb + d), strict=True):
            out[pos[ix]] = e
    return out


def _task_order(task: str):
    parts = []
    for p in str(task).replace(",", ".").split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(parts)


def task_analysis(con, school_id: str, year: int, options: dict | None = None) -> TaskResult:
    """Per-task tables and class × skill deficits for ``school_id`` in ``year`` (module docstring).

    ``options``: ``alpha`` (0.05), ``kinds`` (default all: VPR, OGE, EGE, GVE).
    """
    opts = options or {}
    alpha = float(opts.get("alpha", ALPHA))
    items = _items(con, school_id, year)
    if "kinds" in opts:
        items = items[items["kind"].isin(opts["kinds"])]
    if items.empty:
        return TaskResult(table=pd.DataFrame(columns=TASK_COLUMNS), skills=pd.DataFrame(),
                          skipped=(Skipped("task_analysis", f"нет поэлементных результатов работ за {year} год"),),
                          school_id=school_id, year=int(year))
    table = per_task_table(items, school_id)
    teachers = dict(((c, s), t) for c, s, t in con.execute(
        "SELECT class_id, subject, min(teacher_id) FROM assignments WHERE school_id = ? AND year = ? GROUP BY ALL",
        [school_id, int(year)]).fetchall())
    cls = table[(table["level"] == "class") & (table["n"] >= MIN_N)].copy()
    cls["bench"] = cls["region_pct"].fillna(cls["russia_pct"])
    cls = cls.dropna(subset=["bench"])
    cls["bench_points"] = cls["bench"] * cls["possible"]
    sk = cls.groupby(["target_id", "kind", "subject", "grade", "skill"], as_index=False).agg(
        n=("n", "max"), points=("points", "sum"), possible=("possible", "sum"), bench_points=("bench_points", "sum"),
        tasks=("task", lambda s: ", ".join(sorted(s, key=_task_order))))
    sk = sk.rename(columns={"target_id": "class_id"})
    sk["teacher_id"] = [teachers.get((c, s), "") for c, s in zip(sk["class_id"], sk["subject"], strict=True)]
    sk["pct"] = sk["points"] / sk["possible"]
    sk["benchmark"] = sk["bench_points"] / sk["possible"]
    sk["gap"] = sk["pct"] - sk["benchmark"]
    cls["expected"] = _level_adjusted(cls)
    exp = cls.groupby(["target_id", "kind", "subject", "grade", "skill"])["expected"].sum()
    sk["expected"] = exp.reindex(pd.MultiIndex.from_frame(
        sk[["class_id", "kind", "subject", "grade", "skill"]])).to_numpy() / sk["possible"]
    k = np.round(sk["points"]).astype(int).to_numpy()
    n = np.round(sk["possible"]).astype(int).to_numpy()
    sk["p_value"] = binom_test(k, n, np.clip(sk["expected"].to_numpy(), 1e-9, 1 - 1e-9), alternative="less") \
        if len(sk) else []
    sk["q_value"] = bh_qvalues(sk["p_value"].to_numpy(dtype=float)) if len(sk) else []
    sk["flagged"] = (sk["q_value"] < alpha) & (sk["gap"] < 0) & (sk["pct"] < sk["expected"])
    sk = sk.drop(columns="bench_points")
    findings = tuple(_finding(r, school_id, int(year), len(sk), table) for r in sk[sk["flagged"]].itertuples())
    return TaskResult(table=table, findings=findings, skills=sk, school_id=school_id, year=int(year))


def _finding(r, school_id: str, year: int, m: int, table: pd.DataFrame) -> Finding:
    work = f"{KIND_RU.get(r.kind, r.kind)} по предмету «{r.subject}» ({r.grade} класс)"
    tasks = r.tasks.split(", ")
    rows = table[(table["level"] == "class") & (table["target_id"] == r.class_id) & (table["kind"] == r.kind)
                 & (table["subject"] == r.subject) & (table["task"].isin(tasks))]
    per_task = "; ".join(f"№\u00a0{x.task}: {ph.pct(x.pct)} при {ph.pct(x.region_pct)} по региону"
                         for x in rows.itertuples())
    teacher = r.teacher_id or ""
    evidence = (f"В {ph.class_label(r.class_id)} классе задания на умение «{r.skill}» ({work}, задания {r.tasks}) "
                f"выполнены на {ph.pct(r.pct)} ({ph.num(r.points, 0)} из {ph.num(r.possible, 0)} баллов, "
                f"{r.n} учеников) при {ph.pct(r.benchmark)} по региону: разница {ph.pp(r.gap)}, "
                f"{ph.q_text(r.q_value, m)}. По заданиям: {per_task}.")
    title = f"Дефицит умения «{r.skill}» в {ph.class_label(r.class_id)} классе ({work})"
    severity = "high" if r.gap <= -0.25 else "medium" if r.gap <= -0.10 else "low"
    rec = Recommendation(
        text=(f"Учителю {teacher or 'предмета'} в {ph.class_label(r.class_id)} классе: включить в уроки "
              f"отработку умения «{r.skill}» (задания {r.tasks} {KIND_RU.get(r.kind, r.kind)}) и провести "
              "диагностическую работу на эти задания в конце четверти."),
        addressee_type="teacher" if teacher else "class", addressee_id=teacher or r.class_id,
        responsible="руководитель ШМО", deadline=f"{year}-12-25", control_metric="task_pct",
        baseline=round(float(r.pct), 3), target=round(float(r.benchmark), 3))
    return Finding(area="assessments", kind="task_deficit", polarity="problem", severity=severity,
                   school_id=school_id, year=year, target_type="class", target_id=r.class_id, subject=r.subject,
                   metric="task_pct_gap", estimate=float(r.gap), ci_low=None, ci_high=None,
                   p_value=float(r.p_value), q_value=float(r.q_value), n=int(r.n), title=title, evidence=evidence,
                   recommendation=rec,
                   extra={"skill": r.skill, "tasks": tasks, "teacher_ids": [teacher] if teacher else [],
                          "work_kind": r.kind, "grade": int(r.grade)})
