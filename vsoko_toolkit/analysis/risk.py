"""Risk groups (early warning): who may fail a subject this year, and why.

Public entry point: :func:`risk_groups`.

The outcome is a failing year mark in a subject (mark «2» or «н/а»), one row per
student × subject × year (grades 2–11). The predictors are only what is known by
the middle of the year:

- the student's year mark in the subject last year and the mean of all their
  year marks last year (``prior_gpa``), and its change from the year before
  (``trend``);
- the marks so far this year in the subject (mean of the q1–q2 / h1 period marks,
  or — where these are missing — of the current marks up to 31 December), their
  gap to the student's own mean so far over all subjects, and an «н/а» so far;
- the share of lessons missed in the first half-year (q1–q2 / h1);
- special educational needs (ОВЗ) and primary school (grade ≤ 4).

Optional data (fall-backs): without ``current_marks`` the marks so far are the q1–q2 / h1 period marks
only; a predictor whose data is absent in the training years (no ``attendance`` rows: the absence share;
no first-half period marks and no current marks: the marks so far, their gap and «н/а» so far; no
``students.special_needs``: ОВЗ) is left out of the model and a Russian note says which data would add it.

The model is an L2-penalised logistic regression (Newton iterations on
standardised predictors; the intercept is not penalised) trained on the whole
municipality's previous years that have a previous year of marks — the outcome
of ``year`` is never used. It is evaluated by 5-fold cross-validation grouped by
student (every student's rows in one fold): the AUC and the calibration
intercept and slope (logistic recalibration of the held-out predictions), and a
calibration curve by deciles of predicted risk. The model is then applied to
the school's students in ``year``; each risk comes with its main contributing
factor — the largest positive term ``beta_j * (x_j - mean_j)`` (the predictor's
contribution against an average student of the municipality), named in Russian.

A student is **at increased risk** in a subject when the predicted risk is at
least :data:`THRESHOLD` (10 %, about ten times the municipality's base rate of a
failing year mark in a subject). ``risk_students`` findings are emitted for every
grade × subject with at least :data:`~vsoko_toolkit.privacy.MIN_GROUP` students at
increased risk and, pooled over the subjects, for every grade with at least as many
students at increased risk in some subject that had no grade × subject finding.
A risk score is a signal for attention and support, never a label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..findings import Finding, Recommendation, Skipped
from ..privacy import MIN_GROUP, pseudonym, suppress_small
from ..report import text as t
from ..warehouse.schema import has_column, has_table
from .base import AnalysisResult

THRESHOLD = 0.10
PENALTY = 1.0  # L2 penalty on standardised coefficients (sum-of-log-likelihood scale)
FOLDS = 5
N_BINS = 10
MIN_EVENTS = 20  # failing marks needed in the training years to fit the model

FEATURES = ("prior_subject", "prior_gpa", "prior_missing", "trend", "now_subject", "now_gap", "na_so_far",
            "absence", "special_needs", "primary")
FACTOR_RU = {
    "prior_subject": "низкая годовая отметка по предмету в прошлом году",
    "prior_gpa": "низкий средний балл годовых отметок в прошлом году",
    "prior_missing": "нет отметок за прошлый год (новый ученик)",
    "trend": "снижение среднего балла от позапрошлого к прошлому году",
    "now_subject": "низкие отметки по предмету в первом полугодии",
    "now_gap": "отметки по предмету ниже собственного среднего по всем предметам",
    "na_so_far": "«н/а» по предмету в первом полугодии",
    "absence": "много пропущенных уроков в первом полугодии",
    "special_needs": "ОВЗ (нужны особые условия обучения)",
    "primary": "обучение в 5–11 классах (в начальной школе риск ниже)",
}
NO_FACTOR = "выраженного фактора нет"
FIRST_HALF = ("q1", "q2", "h1")


@dataclass(frozen=True)
class RiskResult(AnalysisResult):
    """Risk of a failing year mark per student and subject.

    ``tidy()`` columns: student_code, subject, risk, top_factor (one row per student × subject of the school
    in ``year``; ``student_code`` is the HMAC pseudonym). ``scores``: the same with student_id, full_name,
    grade, class_id and every term (internal use only). ``counts``: per grade × subject the students with
    marks (``students_total``) and at increased risk (``n``). ``coefficients``: the model per predictor
    (standardised and per unit). ``metrics``: cv_auc, calib_intercept, calib_slope, n_train, n_events,
    base_rate, threshold, train_years (and target_year_auc: the model on ``year``'s municipality when its
    outcome is already in the warehouse — an out-of-time check, never used in training). ``calibration``: deciles of held-out predicted vs observed risk.
    """

    scores: pd.DataFrame | None = None
    counts: pd.DataFrame | None = None
    coefficients: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    roc: pd.DataFrame | None = None
    metrics: dict | None = None
    school_id: str = ""
    year: int = 0

    def plot(self, ax=None):
        """Calibration curve: observed share of failing marks against the predicted risk (held-out deciles)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4.5))
        if self.calibration is None:
            return _no_model(ax)
        c = self.calibration
        top = float(max(c["predicted"].max(), c["observed_high"].max(), 0.05)) * 1.05
        ax.plot([0, top], [0, top], color="grey", lw=1, ls="--", label="идеальная калибровка")
        ax.errorbar(c["predicted"], c["observed"], yerr=[c["observed"] - c["observed_low"],
                                                         c["observed_high"] - c["observed"]],
                    fmt="o", color="#1f5f99", capsize=3, label="децили прогноза (95 % ДИ)")
        m = self.metrics
        grid = np.linspace(1e-4, top, 100)
        lg = np.log(grid / (1 - grid))
        ax.plot(grid, 1 / (1 + np.exp(-(m["calib_intercept"] + m["calib_slope"] * lg))), color="#c0392b", lw=1,
                label=(f"перекалибровка: сдвиг {m['calib_intercept']:.2f}, "
                       f"наклон {m['calib_slope']:.2f}").replace(".", ","))
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("прогнозируемый риск (перекрёстная проверка)")
        ax.set_ylabel("доля годовых «2» / «н/а»")
        ax.set_title("Калибровка модели риска", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        return ax

    def plot_roc(self, ax=None):
        """ROC curve of the held-out predictions, with the cross-validated AUC."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4.5))
        if self.roc is None:
            return _no_model(ax)
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="случайное угадывание")
        ax.plot(self.roc["fpr"], self.roc["tpr"], color="#1f5f99",
                label=f"модель, AUC = {self.metrics['cv_auc']:.2f}".replace(".", ","))
        ax.set_xlabel("доля ложных тревог (1 − специфичность)")
        ax.set_ylabel("доля найденных неуспевающих (чувствительность)")
        ax.set_title("ROC-кривая модели риска (перекрёстная проверка)", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        return ax


def _no_model(ax):
    ax.text(0.5, 0.5, "Модель риска не построена: мало данных", ha="center", va="center")
    ax.set_axis_off()
    return ax


def _features(con, years: list[int]) -> pd.DataFrame:
    """One row per student × subject × year in ``years`` (grades 2–11) with the outcome and the predictors."""
    ys = ",".join(str(int(y)) for y in years)
    lo = min(years) - 2
    cur_sql = (f"""SELECT student_id, subject, year, avg(mark_value) AS now_current FROM current_marks
                      WHERE year IN ({ys}) AND date < make_date(CAST(year AS INTEGER), 1, 1)
                      GROUP BY ALL""" if has_table(con, "current_marks") else
               "SELECT NULL::VARCHAR AS student_id, NULL::VARCHAR AS subject, NULL::BIGINT AS year, "
               "NULL::DOUBLE AS now_current WHERE false")
    att_sql = (f"""SELECT student_id, year, sum(lessons_missed) / nullif(sum(lessons_total), 0) AS absence
                       FROM attendance WHERE period IN ('q1', 'q2', 'h1') AND year IN ({ys}) GROUP BY ALL"""
               if has_table(con, "attendance") else
               "SELECT NULL::VARCHAR AS student_id, NULL::BIGINT AS year, NULL::DOUBLE AS absence WHERE false")
    sn = "s.special_needs" if has_column(con, "students", "special_needs") else "NULL::BOOLEAN"
    d = con.execute(f"""
        WITH ym AS (SELECT student_id, subject, year, mark, mark_value FROM period_marks
                     WHERE period = 'year' AND year >= {lo}),
             gpa AS (SELECT student_id, year, avg(mark_value) AS gpa FROM ym GROUP BY ALL),
             half AS (SELECT student_id, subject, year, avg(mark_value) AS now_subject,
                             max(CASE WHEN mark = 'н/а' THEN 1 ELSE 0 END) AS na_so_far
                        FROM period_marks WHERE period IN ('q1', 'q2', 'h1') AND year IN ({ys}) GROUP BY ALL),
             cur AS ({cur_sql}),
             att AS ({att_sql})
        SELECT t.student_id, t.subject, t.year, t.school_id, t.grade, t.class_id,
               CASE WHEN t.mark = 'н/а' OR t.mark_value <= 2 THEN 1 ELSE 0 END AS fail,
               p.mark_value AS prior_subject_raw, g1.gpa AS prior_gpa_raw, g2.gpa AS gpa2,
               h.now_subject AS now_half, c.now_current, coalesce(h.na_so_far, 0) AS na_so_far,
               a.absence, coalesce({sn}, false) AS special_needs, {sn} IS NOT NULL AS special_needs_known
          FROM period_marks t
          LEFT JOIN ym p ON p.student_id = t.student_id AND p.subject = t.subject AND p.year = t.year - 1
          LEFT JOIN gpa g1 ON g1.student_id = t.student_id AND g1.year = t.year - 1
          LEFT JOIN gpa g2 ON g2.student_id = t.student_id AND g2.year = t.year - 2
          LEFT JOIN half h ON h.student_id = t.student_id AND h.subject = t.subject AND h.year = t.year
          LEFT JOIN cur c ON c.student_id = t.student_id AND c.subject = t.subject AND c.year = t.year
          LEFT JOIN att a ON a.student_id = t.student_id AND a.year = t.year
          LEFT JOIN students s ON s.student_id = t.student_id
         WHERE t.period = 'year' AND t.year IN ({ys}) AND t.grade BETWEEN 2 AND 11
           AND (t.mark_value IS NOT NULL OR t.mark = 'н/а')""").df()
    num = ["prior_subject_raw", "prior_gpa_raw", "gpa2", "now_half", "now_current", "na_so_far", "absence"]
    d[num] = d[num].astype("float64")
    d["grade"] = d["grade"].astype(int)
    d["special_needs"] = d["special_needs"].astype(bool)
    return d


def _design(d: pd.DataFrame, fill: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """Predictor matrix (columns :data:`FEATURES`); missing values filled with the training means ``fill``."""
    now = d["now_half"].fillna(d["now_current"])
    if fill is None:
        fill = {k: (float(v) if np.isfinite(v) else 0.0) for k, v in
                (("gpa", d["prior_gpa_raw"].mean()), ("now", now.mean()), ("absence", d["absence"].mean()))}
    prior_gpa = d["prior_gpa_raw"].fillna(fill["gpa"])
    now_subject = now.fillna(d.groupby(["student_id", "year"])["now_half"].transform("mean")).fillna(fill["now"])
    now_overall = now_subject.groupby([d["student_id"], d["year"]]).transform("mean")
    x = pd.DataFrame({
        "prior_subject": 4 - d["prior_subject_raw"].fillna(prior_gpa),
        "prior_gpa": 4 - prior_gpa,
        "prior_missing": d["prior_gpa_raw"].isna().astype(float),
        "trend": (d["gpa2"] - d["prior_gpa_raw"]).fillna(0.0),
        "now_subject": 4 - now_subject,
        "now_gap": now_overall - now_subject,
        "na_so_far": d["na_so_far"].astype(float),
        "absence": 10 * d["absence"].fillna(fill["absence"]),
        "special_needs": d["special_needs"].astype(float),
        "primary": (d["grade"] > 4).astype(float),
    }, index=d.index)
    return x[list(FEATURES)].astype(float), fill


#: predictor -> (the data it needs, in Russian; a test on the training rows that the data is there)
NEEDS_RU = {
    "absence": "нет данных о посещаемости (таблица attendance за первое полугодие)",
    "now_subject": "нет отметок за первое полугодие (period_marks с периодами q1, q2 или h1) и текущих отметок "
                   "(таблица current_marks)",
    "special_needs": "не заполнена колонка special_needs (ОВЗ) в таблице students",
}


def _available(train: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Predictors the training data supports, and Russian notes naming the data of those left out."""
    drop, notes = set(), []
    if train["absence"].notna().sum() == 0:
        drop.add("absence")
        notes.append(NEEDS_RU["absence"])
    if train["now_half"].notna().sum() == 0 and train["now_current"].notna().sum() == 0:
        drop |= {"now_subject", "now_gap", "na_so_far"}
        notes.append(NEEDS_RU["now_subject"])
    if not train["special_needs_known"].any():
        drop.add("special_needs")
        notes.append(NEEDS_RU["special_needs"])
    feats = [f for f in FEATURES if f not in drop]
    if not notes:
        return feats, []
    left = ", ".join(f"«{FACTOR_RU[f]}»" for f in FEATURES if f in drop)
    return feats, [f"Модель риска построена без факторов {left}: {'; '.join(notes)}. Она опирается на годовые и "
                   "четвертные отметки, которые есть в данных; с этими сведениями прогноз был бы точнее."]


def _fit(x: np.ndarray, y: np.ndarray, penalty: float = PENALTY) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L2-penalised logistic regression by Newton's method; returns (coef per unit, intercept, mean, sd)."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = np.column_stack([np.ones(len(x)), (x - mu) / sd])
    beta = np.zeros(z.shape[1])
    beta[0] = np.log(max(y.mean(), 1e-4) / max(1 - y.mean(), 1e-4))
    pen = np.full(z.shape[1], penalty)
    pen[0] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(z @ beta)))
        grad = z.T @ (y - p) - pen * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(pen)
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta, mu, sd


def _predict(beta, mu, sd, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(beta[0] + ((x - mu) / sd) @ beta[1:])))


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half)."""
    r = rankdata(p)
    n1 = int(y.sum())
    n0 = len(y) - n1
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def calibration_fit(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Logistic recalibration ``logit P(y) = a + b * logit(p)``: returns (intercept a, slope b)."""
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.tools.tools import add_constant

    lp = np.log(np.clip(p, 1e-9, 1 - 1e-9) / (1 - np.clip(p, 1e-9, 1 - 1e-9)))
    fit = Logit(y, add_constant(lp)).fit(disp=0)
    return float(fit.params[0]), float(fit.params[1])


def _folds(students: pd.Series, k: int = FOLDS) -> np.ndarray:
    """A deterministic fold per student (by a hash of the id), so a student's rows share one fold."""
    codes = pd.util.hash_pandas_object(students.astype(str), index=False).to_numpy()
    return (codes % np.uint64(k)).astype(int)


def _calibration_table(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    from ..stats.intervals import wilson_interval

    bins = pd.qcut(rankdata(p, method="ordinal"), N_BINS, labels=False)
    rows = []
    for b in range(N_BINS):
        m = bins == b
        k, n = int(y[m].sum()), int(m.sum())
        lo, hi = wilson_interval(k, n)
        rows.append({"bin": b + 1, "n": n, "events": k, "predicted": float(p[m].mean()), "observed": k / n,
                     "observed_low": float(lo), "observed_high": float(hi)})
    return pd.DataFrame(rows)


def _roc(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    order = np.argsort(-p, kind="stable")
    ys = y[order]
    tpr = np.concatenate([[0], np.cumsum(ys) / ys.sum()])
    fpr = np.concatenate([[0], np.cumsum(1 - ys) / (1 - ys).sum()])
    keep = np.unique(np.linspace(0, len(tpr) - 1, 400).astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def risk_groups(con, school_id: str, year: int, key: bytes | None = None, options: dict | None = None) -> RiskResult:
    """Risk of a failing year mark per student and subject of ``school_id`` in ``year`` (see the module docstring).

    ``key``: the workspace pseudonymisation key (:func:`vsoko_toolkit.privacy.load_key`); without it the
    codes are made with an empty key (for tests only). ``options``: ``threshold`` (default :data:`THRESHOLD`),
    ``penalty`` (default :data:`PENALTY`).

    Examples
    --------
    >>> res = risk_groups(con, "S01", 2025, key=load_key(db))  # doctest: +SKIP
    >>> res.metrics["cv_auc"], res.metrics["calib_slope"]  # doctest: +SKIP
    """
    options = options or {}
    threshold = float(options.get("threshold", THRESHOLD))
    penalty = float(options.get("penalty", PENALTY))
    year = int(year)
    key = key if key is not None else b""
    empty = pd.DataFrame(columns=["student_code", "subject", "risk", "top_factor"])
    years_with_marks = [int(r[0]) for r in con.execute(
        "SELECT DISTINCT year FROM period_marks WHERE period = 'year' ORDER BY 1").fetchall()]
    train_years = [y for y in years_with_marks if y < year and y - 1 in years_with_marks]
    if not train_years:
        return RiskResult(table=empty, skipped=(Skipped("risk_groups", "нет предыдущих лет с годовыми отметками "
                                                        "за год до них: модель риска не на чем обучить"),),
                          school_id=school_id, year=year)
    train = _features(con, train_years)
    y = train["fail"].to_numpy(dtype=float)
    if y.sum() < MIN_EVENTS:
        return RiskResult(table=empty, skipped=(Skipped("risk_groups", f"в предыдущих годах муниципалитета меньше "
                                                        f"{MIN_EVENTS} годовых отметок «2» / «н/а»: модель риска "
                                                        f"не обучить"),), school_id=school_id, year=year)
    feats, notes = _available(train)
    x, fill = _design(train)
    xa = x[feats].to_numpy()
    folds = _folds(train["student_id"])
    oof = np.empty(len(y))
    for f in range(FOLDS):
        te = folds == f
        fx, fill_f = _design(train[~te])
        b, mu, sd = _fit(fx[feats].to_numpy(), y[~te], penalty)
        oof[te] = _predict(b, mu, sd, _design(train[te], fill_f)[0][feats].to_numpy())
    a_cal, b_cal = calibration_fit(y, oof)
    beta, mu, sd = _fit(xa, y, penalty)
    coefs = pd.DataFrame({"feature": feats, "factor": [FACTOR_RU[f] for f in feats],
                          "coef_std": beta[1:], "coef": beta[1:] / sd, "mean": mu})
    metrics = {"cv_auc": auc(y, oof), "calib_intercept": a_cal, "calib_slope": b_cal, "n_train": int(len(y)),
               "n_events": int(y.sum()), "base_rate": float(y.mean()), "threshold": threshold,
               "train_years": train_years, "n_students_train": int(train["student_id"].nunique())}

    cur = _features(con, [year])
    if cur["fail"].sum() >= MIN_EVENTS:  # the year's outcome already known: an out-of-time check, not training
        metrics["target_year_auc"] = auc(cur["fail"].to_numpy(), _predict(beta, mu, sd,
                                                                           _design(cur, fill)[0][feats].to_numpy()))
    cur = cur[cur["school_id"] == school_id].reset_index(drop=True)
    if cur.empty:
        return RiskResult(table=empty, skipped=(Skipped("risk_groups", f"у школы нет годовых отметок за {year} год "
                                                        "во 2–11 классах"),), coefficients=coefs,
                          calibration=_calibration_table(y, oof), roc=_roc(y, oof), metrics=metrics,
                          notes=tuple(notes), school_id=school_id, year=year)
    xc = _design(cur, fill)[0][feats]
    risk = _predict(beta, mu, sd, xc.to_numpy())
    terms = (xc.to_numpy() - mu) * (beta[1:] / sd)
    best = terms.argmax(axis=1)
    top = [FACTOR_RU[feats[j]] if terms[i, j] > 0 else NO_FACTOR for i, j in enumerate(best)]
    names = dict(con.execute("SELECT student_id, full_name FROM students").fetchall()) \
        if has_column(con, "students", "full_name") else {}
    scores = pd.DataFrame({"student_code": [pseudonym(s, key) for s in cur["student_id"]],
                           "student_id": cur["student_id"], "full_name": cur["student_id"].map(names),
                           "class_id": cur["class_id"], "grade": cur["grade"], "subject": cur["subject"],
                           "risk": risk, "top_factor": top})
    for j, f in enumerate(feats):
        scores[f"term_{f}"] = terms[:, j]
    scores = scores.sort_values(["risk", "student_code", "subject"], ascending=[False, True, True],
                                ignore_index=True)
    scores["at_risk"] = scores["risk"] >= threshold
    counts = (scores.groupby(["grade", "subject"], as_index=False)
              .agg(students_total=("student_id", "nunique"), n=("at_risk", "sum")))
    findings = _findings(scores, counts, school_id, year, threshold, metrics)
    table = scores[["student_code", "subject", "risk", "top_factor"]].copy()
    return RiskResult(table=table, findings=findings, scores=scores, counts=counts, coefficients=coefs,
                      calibration=_calibration_table(y, oof), roc=_roc(y, oof), metrics=metrics,
                      notes=tuple(notes), skipped=tuple(Skipped("risk_groups_factors", n) for n in notes),
                      school_id=school_id, year=year)


def _finding(school_id, year, grade, subject, n_risk, total, threshold, metrics, factor) -> Finding:
    where = f"по предмету «{subject}»" if subject else "хотя бы по одному предмету"
    evidence = (f"В {grade}-х классах {where} у {suppress_small(n_risk)} из {total} учеников "
                f"прогнозируемый риск годовой отметки «2» или «н/а» не ниже {t.pct(threshold)} (в муниципалитете "
                f"в среднем такая отметка у {t.pct(metrics['base_rate'], 1)} учеников по предмету). Модель "
                f"обучена на прошлых годах муниципалитета; на перекрёстной проверке AUC "
                f"{t.num(metrics['cv_auc'])}, наклон калибровки {t.num(metrics['calib_slope'])}. "
                f"Чаще всего риск связан с фактором: {factor}.")
    rec = Recommendation(
        text=(f"Классным руководителям и учителям {grade}-х классов: в начале второго полугодия обсудить с "
              f"каждым учеником группы риска{' по предмету «' + subject + '»' if subject else ''} и его "
              f"родителями причины трудностей, составить индивидуальный план поддержки (консультации, "
              f"контроль посещаемости), проверить результат по отметкам за третью четверть."),
        addressee_type="grade", addressee_id=str(grade), responsible="заместитель директора по УВР",
        deadline=f"{year}-03-31", control_metric="risk_students", baseline=float(n_risk), target=0.0)
    return Finding(area="risk", kind="risk_students", polarity="problem",
                   severity="high" if n_risk >= 2 * MIN_GROUP else "medium", school_id=school_id, year=int(year),
                   target_type="students", target_id=str(grade), subject=subject, metric="risk_students",
                   estimate=float(n_risk), ci_low=None, ci_high=None, p_value=None, q_value=None, n=int(total),
                   title=(f"Группа риска неуспеваемости: {grade}-е классы"
                          + (f", «{subject}»" if subject else ", несколько предметов")),
                   evidence=evidence, recommendation=rec,
                   extra={"threshold": threshold, "cv_auc": metrics["cv_auc"]})


def _findings(scores, counts, school_id, year, threshold, metrics) -> tuple[Finding, ...]:
    out = []
    at = scores[scores["at_risk"]]
    covered = set()
    for r in counts[counts["n"] >= MIN_GROUP].itertuples(index=False):
        g = at[(at["grade"] == r.grade) & (at["subject"] == r.subject)]
        covered.add((r.grade, r.subject))
        out.append(_finding(school_id, year, int(r.grade), r.subject, int(r.n), int(r.students_total),
                            threshold, metrics, g["top_factor"].mode().iloc[0]))
    rest = at[[(g, s) not in covered for g, s in zip(at["grade"], at["subject"], strict=True)]]
    totals = scores.groupby("grade")["student_id"].nunique()
    for grade, g in rest.groupby("grade"):
        k = g["student_id"].nunique()
        if k >= MIN_GROUP:
            out.append(_finding(school_id, year, int(grade), None, k, int(totals[grade]), threshold, metrics,
                                g["top_factor"].mode().iloc[0]))
    return tuple(out)


def code_map(res: RiskResult) -> pd.DataFrame:
    """student_code → student_id, full_name (for the administration only; never in a public build)."""
    s = res.scores
    if s is None or s.empty:
        return pd.DataFrame(columns=["student_code", "student_id", "full_name"])
    return s[["student_code", "student_id", "full_name"]].drop_duplicates().reset_index(drop=True)
