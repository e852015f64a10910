"""Signs of non-objective results, computed once for every school of the municipality, with a municipal FDR.

Helper of :mod:`vsoko_toolkit.analysis.municipal`. The four signs the federal supervision looks at, each
tested for every school (and, where the sign is per work, every work of the year) with the machinery of
the school analyses (:mod:`.anomalies`, :mod:`.objectivity`), but reading the municipality's data once:

``threshold_peak``  a pile-up of primary scores exactly at the mark-3 threshold of an ОГЭ/ВПР work
                    (:func:`.anomalies.bunching_test`: one-sided binomial test of the count at the threshold
                    against a smooth Poisson-quadratic fit); size condition: at least ``MIN_AT`` students at it.
``context``         the school's mean on a work far above the mean predicted for its social index by the
                    regression line of the other schools (deleted residual, one-sided,
                    :func:`.anomalies.context_residual`); needs ``min_schools`` (8) schools with a social index.
``jump``            the school's change on a work since last year beyond the other schools' change and the
                    municipality's usual spread of changes (difference in changes, DerSimonian–Laird spread,
                    one-sided upward); size conditions: the school's own change beyond noise and at least
                    ``min_jump_sd`` (0.3) SD of individual scores; a jump explained by new teachers or a
                    stronger cohort (:func:`.anomalies.jump_explanation`) is not a sign.
``vpr_journal``     disagreement of ВПР with journal marks: the school's mean *marking offset* (journal mark
                    minus the municipality's mean journal mark of students with the same ВПР mark, subject and
                    grade — :mod:`.objectivity`) against the other schools', with class × subject clustering;
                    two-sided; size condition: at least ``min_offset`` (0.2) mark points either way (journal
                    above ВПР: inflated journal marks; below: ВПР results above what the journal supports).

**Municipal FDR.** Benjamini–Hochberg across all schools (and works) of the municipality, one family per
sign (``fdr_family="check"``, default) or one family for all signs (``"all"``). A school shows a sign when a
test of it has q < ``alpha`` and meets the sign's size condition. Why a family per sign by default: the
signs differ in how many tests they make — about 30 jump comparisons per school against 5–10 threshold
tests — and one family would let the many jump comparisons dilute the few threshold tests (on the sample
municipality the planted ОГЭ pile-up has p = 0.0006: q = 0.03 among its 46 threshold tests, 0.08 among all
135 tests). Under the null every family still controls the false-discovery rate; the union over
the four families is what the null simulation of ``tests/test_municipal_null.py`` checks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import check_option
from ..stats.intervals import bh_qvalues, compare_means
from ..warehouse.schema import has_column, has_table
from .anomalies import (
    MIN_AT,
    MIN_JUMP_SD,
    MIN_N,
    MIN_SCHOOLS,
    _from_sums,
    _scored,
    bunching_test,
    context_residual,
    diff_in_change,
    inferred_thresholds,
    jump_explanation,
    school_year_variance,
)
from .anomalies import MIN_SCHOOL_N as MIN_WORK_N
from .municipal_data import KIND_RU, class_variances, school_contrasts
from .objectivity import MIN_OFFSET
from .objectivity import _load as vpr_journal_pairs

CHECKS = ("threshold_peak", "context", "jump", "vpr_journal")
CHECK_RU = {"threshold_peak": "пик первичных баллов на пороге «3»",
            "context": "результат намного выше, чем у школ со схожими социальными условиями",
            "jump": "резкий необъяснённый рост результата",
            "vpr_journal": "расхождение ВПР и журнальных отметок"}
COLUMNS = ["school_id", "check", "kind", "subject", "grade", "n", "estimate", "ci_low", "ci_high", "p_value",
           "q_value", "m", "size_ok", "flagged", "threshold", "at_threshold", "expected_at", "mean", "expected",
           "mean_prev", "others_change", "dic_sd", "lowered", "raised", "explained"]
BUNCHING_KINDS = ("OGE", "VPR")
JUMP_KINDS = ("OGE", "VPR", "EGE")


def _thresholds(con, year: int) -> pd.DataFrame:
    """Mark-3 thresholds of the works of ``year``: ``scales`` where given, else inferred from the
    municipality's (primary score, mark) pairs (:func:`.anomalies.inferred_thresholds`)."""
    cols = ["kind", "subject", "grade", "min_primary"]
    sc = (con.execute("SELECT kind, subject, grade, min(min_primary) AS min_primary FROM scales "
                      "WHERE mark = 3 AND year = ? GROUP BY ALL", [int(year)]).df()
          if has_table(con, "scales") and has_column(con, "scales", "min_primary") else pd.DataFrame(columns=cols))
    inf = inferred_thresholds(con, year)[cols]
    if len(inf):
        known = set(map(tuple, sc[["kind", "subject", "grade"]].to_numpy()))
        inf = inf[[tuple(k) not in known for k in inf[["kind", "subject", "grade"]].to_numpy()]]
        sc = pd.concat([sc, inf], ignore_index=True)
    return sc


def _bunching(con, year: int, schools) -> tuple[list[dict], list[str]]:
    if not (has_table(con, "assessments") and has_column(con, "assessments", "school_id")):
        return [], []
    d = con.execute(f"""SELECT school_id, kind, subject, grade, primary_score FROM assessments
                         WHERE year = ? AND kind IN {BUNCHING_KINDS} AND primary_score IS NOT NULL""",
                    [int(year)]).df()
    d = d[d["school_id"].isin(set(schools))]
    thr = _thresholds(con, year).set_index(["kind", "subject", "grade"])["min_primary"]
    rows, unscaled = [], set()
    for (sch, kind, subject, grade), g in d.groupby(["school_id", "kind", "subject", "grade"]):
        if len(g) < MIN_N:
            continue
        t = thr.get((kind, subject, grade))
        if t is None or not np.isfinite(t):
            unscaled.add(f"{KIND_RU.get(kind, kind)} «{subject}» ({int(grade)} кл.)")
            continue
        b = bunching_test(g["primary_score"].to_numpy(float), float(t))
        rows.append({"school_id": sch, "check": "threshold_peak", "kind": kind, "subject": subject,
                     "grade": int(grade), "n": len(g), "estimate": b["excess"], "p_value": b["p_value"],
                     "threshold": float(t), "at_threshold": b["at_threshold"], "expected_at": b["expected_at"],
                     "size_ok": bool(b["at_threshold"] >= MIN_AT)})
    notes = []
    if unscaled:
        names = sorted(unscaled)
        notes.append(f"Проверка пика баллов на пороге «3» не проводилась для {len(names)} работ ("
                     f"{', '.join(names[:5])}{' и др.' if len(names) > 5 else ''}): нет шкалы перевода баллов в "
                     "отметки (таблица scales) и её нельзя восстановить по отметкам (колонка assessments.mark).")
    return rows, notes


def _class_works(con, year: int, schools, social: pd.Series) -> pd.DataFrame:
    """n, mean, sd of the compared score per class × work of ``year`` and ``year − 1``, with social index."""
    marks = ", ".join("?" for _ in JUMP_KINDS)
    w = con.execute(f"""SELECT school_id, year, kind, subject, grade, class_id, count(*) AS n, avg(score) AS mean,
                               stddev_samp(score) AS sd
                          FROM {_scored(con)} WHERE year IN (?, ?) AND kind IN ({marks}) AND score IS NOT NULL
                         GROUP BY ALL""", [int(year), int(year) - 1, *JUMP_KINDS]).df()
    w = w[w["school_id"].isin(set(schools))].copy()
    w["social_index"] = w["school_id"].map(social).astype(float)
    return w


def _moments(s: np.ndarray) -> tuple[float, float, float, float]:
    """(n, mean, sd, Σn_c²/n²) from the sums (N, Σx, Σx², Σn_c²) — :func:`.anomalies._from_sums`."""
    return _from_sums(*s)


def _context_and_jumps(con, year: int, schools, social: pd.Series, min_schools: int,
                       min_jump_sd: float) -> tuple[list[dict], list[dict], int]:
    """Rows of the ``context`` and ``jump`` checks (jump p-values filled after the DL spread) and the
    number of works on which the context check could be made. The same estimators as
    :func:`.anomalies.municipal_checks`, for every school of the municipality in one pass."""
    if not (has_table(con, "assessments") and has_column(con, "assessments", "school_id")):
        return [], [], 0
    w = _class_works(con, year, schools, social)
    if w.empty:
        return [], [], 0
    work = ["kind", "subject", "grade"]
    tau = class_variances(w, work)
    sd0 = w["sd"].fillna(0.0)
    w = w.assign(S1=w["n"] * w["mean"], S2=(w["n"] - 1) * sd0 ** 2 + w["n"] * w["mean"] ** 2, W=w["n"] ** 2)
    sums = w.groupby(work + ["year", "school_id"])[["n", "S1", "S2", "W"]].sum()
    si = w.groupby("school_id")["social_index"].first()
    ctx, jumps, spread, n_ctx = [], [], [], 0
    own_rows = []
    for key, by in sums.groupby(level=[0, 1, 2]):
        kind, subject, grade = key
        by = by.droplevel([0, 1, 2])
        cur = by.xs(year, level="year") if year in by.index.get_level_values("year") else by.iloc[:0].droplevel(0)
        prev = (by.xs(year - 1, level="year") if (year - 1) in by.index.get_level_values("year")
                else by.iloc[:0].droplevel(0))
        cur, prev = cur[cur["n"] >= MIN_WORK_N], prev[prev["n"] >= MIN_WORK_N]
        mom = {sch: _moments(r) for sch, r in zip(cur.index, cur.to_numpy(float), strict=True)}
        reg = [s for s in cur.index if np.isfinite(si.get(s, np.nan))]
        if len(reg) >= min_schools:
            n_ctx += 1
            y = np.array([mom[s][1] for s in reg])
            x = np.array([si[s] for s in reg])
            v = np.array([mom[s][2] ** 2 / mom[s][0] for s in reg])
            for i, s in enumerate(reg):
                c = context_residual(y, x, i, v=v)
                ctx.append({"check": "context", "kind": kind, "subject": subject, "grade": int(grade),
                            "school_id": s, "n": int(mom[s][0]), "estimate": c["resid"], "ci_low": c["low"],
                            "ci_high": c["high"], "p_value": c["p"], "mean": mom[s][1],
                            "expected": c["expected"], "size_ok": True})
        if not (len(cur) and len(prev)):
            continue
        tot = [cur.to_numpy(float).sum(0), prev.to_numpy(float).sum(0)]
        sd_all = _moments(tot[0])[2]
        if not (sd_all and sd_all > 0):
            continue
        for sch in sorted(set(cur.index) & set(prev.index)):
            own = [cur.loc[sch].to_numpy(float), prev.loc[sch].to_numpy(float)]
            groups = [_moments(own[0]), _moments(own[1]), _moments(tot[0] - own[0]), _moments(tot[1] - own[1])]
            if any(g[0] < 2 for g in groups):
                continue
            j = diff_in_change(groups, float(tau.get(key, 0.0)))
            if not np.isfinite(j["se"]):
                continue
            spread.append((j["dic"] / sd_all, (j["se"] / sd_all) ** 2))
            own_rows.append((groups[0][1], groups[0][2], groups[0][0], groups[1][1], groups[1][2], groups[1][0]))
            jumps.append({"check": "jump", "kind": kind, "subject": subject, "grade": int(grade),
                          "school_id": sch, "n": int(groups[0][0]), "estimate": j["dic"], "se": j["se"],
                          "unit": sd_all, "mean": groups[0][1], "mean_prev": groups[1][1],
                          "others_change": groups[2][1] - groups[3][1], "dic_sd": j["dic"] / sd_all})
    tau_sy = school_year_variance(spread)
    own_low = (compare_means(*np.array(own_rows).T)["diff_lower"].to_numpy(float) if own_rows
               else np.zeros(0))
    for r, lo in zip(jumps, own_low, strict=True):
        se = float(np.sqrt(r.pop("se") ** 2 + tau_sy * r.pop("unit") ** 2))
        r["ci_low"], r["ci_high"] = r["estimate"] - 1.959964 * se, r["estimate"] + 1.959964 * se
        r["p_value"] = float(stats.norm.sf(r["estimate"] / se)) if se > 0 else np.nan
        r["size_ok"] = bool(lo > 0 and r["dic_sd"] >= min_jump_sd)
    return ctx, jumps, n_ctx


def _vpr_journal(con, year: int, schools, min_offset: float, term_ends) -> list[dict]:
    need = has_table(con, "assessments") and has_table(con, "assignments") and has_column(
        con, "assessments", "school_id")
    if not need:
        return []
    d = vpr_journal_pairs(con, year, 0, term_ends)
    d = d[(d["year"] == int(year)) & d["school_id"].isin(set(schools))]
    if d.empty or d["school_id"].nunique() < 2:
        return []
    d = d.assign(cluster=d["class_id"].astype(str) + "|" + d["subject"].astype(str))
    cls = d.groupby(["school_id", "cluster"])["offset"].agg(n="size", mean="mean", sd="std").reset_index()
    cls = cls.rename(columns={"cluster": "class_id"})
    res = school_contrasts(cls, min_n=MIN_N)
    shares = d.groupby("school_id")["cat"].agg(lowered=lambda s: float((s == "lowered").mean()),
                                               raised=lambda s: float((s == "raised").mean()))
    rows = []
    for r in res[res["p_two"].notna()].itertuples():
        rows.append({"school_id": r.school_id, "check": "vpr_journal", "kind": "VPR", "subject": None,
                     "grade": np.nan, "n": int(r.n), "estimate": r.diff, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "p_value": r.p_two, "mean": r.mean, "lowered": shares.at[r.school_id, "lowered"],
                     "raised": shares.at[r.school_id, "raised"], "size_ok": bool(abs(r.diff) >= min_offset)})
    return rows


def objectivity_checks(con, year: int, schools: pd.DataFrame, options: dict | None = None
                       ) -> tuple[pd.DataFrame, list[str]]:
    """Every test of every sign for every school of ``schools`` (school_id, social_index), with the municipal
    FDR (module docstring): ``(table, notes)``; table columns ``COLUMNS``, one row per test.

    ``options``: ``alpha`` (0.05), ``fdr_family`` ("check" or "all"), ``min_schools`` (8), ``min_jump_sd``
    (0.3), ``min_offset`` (0.2 mark points), ``term_ends`` (school calendar, see :mod:`.objectivity`)."""
    opts = options or {}
    alpha = float(opts.get("alpha", 0.05))
    family = str(opts.get("fdr_family", "check"))
    check_option("fdr_family", family, ("check", "all"))
    min_schools = int(opts.get("min_schools", MIN_SCHOOLS))
    ids = list(schools["school_id"])
    social = schools.set_index("school_id")["social_index"]
    notes: list[str] = []
    rows, n1 = _bunching(con, year, ids)
    notes += n1
    ctx, jumps, n_ctx = _context_and_jumps(con, year, ids, social, min_schools,
                                           float(opts.get("min_jump_sd", MIN_JUMP_SD)))
    rows += ctx + jumps
    rows += _vpr_journal(con, year, ids, float(opts.get("min_offset", MIN_OFFSET)), opts.get("term_ends"))
    t = pd.DataFrame(rows).reindex(columns=COLUMNS)
    if not social.notna().any():
        notes.append("Сравнение с результатами школ со схожими социальными условиями не проводилось: в таблице "
                     "schools не заполнен социальный индекс школ (колонка social_index).")
    elif n_ctx == 0:
        notes.append(f"Сравнение с результатами школ со схожими социальными условиями не проводилось: для него "
                     f"нужно не меньше {min_schools} школ с социальным индексом и хотя бы {MIN_WORK_N} участниками "
                     f"работы, а в муниципалитете их {int(social.notna().sum())} — слишком мало школ для "
                     "регрессии по социальному индексу.")
    if t.empty:
        return t, notes
    keys = t["check"] if family == "check" else pd.Series("all", index=t.index)
    for _, idx in t.groupby(keys).groups.items():
        t.loc[idx, "q_value"] = bh_qvalues(t.loc[idx, "p_value"].to_numpy(dtype=float))
        t.loc[idx, "m"] = int(t.loc[idx, "p_value"].notna().sum())
    t["size_ok"] = t["size_ok"].fillna(False).astype(bool)
    t["flagged"] = ((t["q_value"] < alpha) & t["size_ok"]).fillna(False).astype(bool)
    t["explained"] = ""
    for i in t.index[t["flagged"] & (t["check"] == "jump")]:
        why = jump_explanation(con, t.at[i, "school_id"], int(year), t.at[i, "kind"], t.at[i, "subject"],
                               int(t.at[i, "grade"]))
        if why:
            t.at[i, "explained"] = why
            t.at[i, "flagged"] = False
    return t.sort_values(["school_id", "check", "p_value"]).reset_index(drop=True), notes
