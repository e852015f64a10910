"""Evaluating every framework for one school and year: values, statuses, index points, findings.

Public entry point: :func:`evaluate_frameworks`.

An indicator's status is ``computed`` (from the warehouse, by its ``compute``
function), ``read`` (from the warehouse table ``indicators`` = ``indicators.csv``,
by the ids in ``read``, first found wins) or ``missing``. Computation wins
whenever the data allows it.

``low_indicator`` rule: an indicator with a ``threshold`` is flagged when it is on
the wrong side of it (below for ``higher_is_better``, above for ``lower_is_better``)
— for a share of people, only when its whole 95 % Wilson interval is on the wrong
side; for a mean with a t interval, likewise; for an exact value (a count, a value
read without its base, expert points) the value itself is compared.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..analysis.base import AnalysisResult
from ..findings import Finding, Recommendation
from ..report import text as t
from ..stats.intervals import wilson_interval
from .loader import Framework, Indicator, load_frameworks
from .registry import REGISTRY, ComputeContext, Value

STATUS_RU = {"computed": "вычислено", "read": "из indicators.csv", "missing": "нет данных"}
TIDY_COLUMNS = ("framework", "framework_title", "kind", "group_id", "group_name", "indicator_id", "number",
                "name", "unit", "status", "source", "value", "count", "denominator", "ci_low", "ci_high",
                "n_students", "display", "points", "max_points", "threshold", "direction", "below_threshold",
                "detail")


@dataclass(frozen=True)
class IndicatorResult(AnalysisResult):
    """Values of every indicator of every framework, and the scores of index/map frameworks.

    ``tidy()`` columns (:data:`TIDY_COLUMNS`), one row per indicator: framework, framework_title,
    kind (``list``/``index``/``map``), group_id, group_name, indicator_id, number (official number or
    empty), name, unit, status (``computed``/``read``/``missing``), source (compute function or the
    indicators.csv id read), value (shares as 0..1), count, denominator, ci_low, ci_high (95 %),
    n_students (students behind the value), display (Russian, as printed), points, max_points,
    threshold, direction, below_threshold (bool), detail.

    ``scores``: one row per index/map framework — framework, title, kind, points (sum of scored
    indicators), max_points, n_declared, n_scored, n_missing, missing_points (what the missing
    ones could add), lower_bound (True when some are missing), level_low / level_high (levels of
    ``points`` and ``points + missing_points``; equal when the level is settled), level.
    ``criteria``: per criterion of index/map frameworks — framework, group_id, name, n_declared,
    n_encoded, n_scored, points, max_points.
    """

    frameworks: tuple = ()
    scores: pd.DataFrame | None = None
    criteria: pd.DataFrame | None = None
    school_id: str = ""
    year: int = 0
    framework_dirs: tuple = field(default=())

    def framework(self, fid: str) -> pd.DataFrame:
        return self.table[self.table["framework"] == fid].reset_index(drop=True)

    def status_counts(self, fid: str | None = None) -> dict:
        d = self.table if fid is None else self.framework(fid)
        return {s: int((d["status"] == s).sum()) for s in STATUS_RU}

    def score(self, fid: str) -> dict:
        row = self.scores[self.scores["framework"] == fid]
        return row.iloc[0].to_dict() if len(row) else {}

    def plot(self, ax=None, framework: str = "quality_index"):
        """Points against the maximum per criterion of ``framework`` (an index or a map)."""
        import matplotlib.pyplot as plt
        from seaborn import desaturate

        c = self.criteria[self.criteria["framework"] == framework]
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 0.45 * max(len(c), 3) + 1.2))
        # Two dodged horizontal bars per criterion (first criterion on top) drawn with matplotlib as seaborn's
        # barplot draws them (colours at 75 % saturation), without its per-call machinery.
        label = (c["group_id"] + " " + c["name"]).to_numpy()
        cats = list(dict.fromkeys(label))
        y = np.arange(len(cats))
        for i, (col, name, color) in enumerate((("max_points", "максимум", "#d9d9d9"),
                                                ("points", "набрано", "#2f6db3"))):
            v = pd.Series(c[col].to_numpy(dtype=float)).groupby(label, sort=False).mean().reindex(cats)
            ax.barh(y - 0.2 + 0.4 * i, v.to_numpy(), 0.4, color=desaturate(color, 0.75), label=name)
        ax.set_yticks(y, cats)
        ax.set_ylim(max(len(cats), 1) - 0.5, -0.5)
        ax.set_ylabel("")
        ax.set_xlabel("баллы")
        ax.legend(title=None, loc="lower right")
        title = next((f.title for f in self.frameworks if f.id == framework), framework)
        ax.set_title(f"{title}: баллы по критериям")
        return ax


def evaluate_frameworks(con, school_id: str, year: int, extra_dirs=(), frameworks=None) -> IndicatorResult:
    """Evaluate every framework (built-in, ``extra_dirs``, ``VSOKO_FRAMEWORKS``) for ``school_id`` and ``year``.

    Examples
    --------
    >>> res = evaluate_frameworks(con, "S01", 2025)  # doctest: +SKIP
    >>> res.status_counts("self_examination_1324")  # doctest: +SKIP
    >>> res.score("quality_index")["level"]  # doctest: +SKIP
    """
    fws = tuple(frameworks) if frameworks is not None else load_frameworks(extra_dirs)
    stored = dict(con.execute("SELECT indicator_id, value FROM indicators WHERE school_id = ? AND year = ?",
                              [str(school_id), int(year)]).fetchall())
    ctx = ComputeContext(con, str(school_id), int(year))
    rows, notes = [], []
    for fw in fws:
        for ind in fw.indicators:
            rows.append(_evaluate(fw, ind, ctx, stored, notes))
    table = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    scores, criteria = _scores(fws, table)
    findings = tuple(_finding(r, str(school_id), int(year)) for r in rows if r["below_threshold"])
    return IndicatorResult(table=table, findings=findings, notes=tuple(notes), frameworks=fws, scores=scores,
                           criteria=criteria, school_id=str(school_id), year=int(year))


def _evaluate(fw: Framework, ind: Indicator, ctx: ComputeContext, stored: dict, notes: list) -> dict:
    val, status, source = None, "missing", ""
    if ind.compute:
        key = (ind.compute, repr(sorted(ind.params.items())))
        try:
            val = ctx.once(key, lambda: REGISTRY[ind.compute](ctx, **ind.params))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"Показатель «{ind.id}» набора «{fw.id}» (файл {ind.source_file}): "
                             f"функция «{ind.compute}» не вычислилась: {err}") from err
        if val is not None:
            status, source = "computed", ind.compute
    if val is None:
        for rid in ind.read:
            if rid in stored and stored[rid] is not None and str(stored[rid]).strip():
                val = parse_value(stored[rid], ind)
                if val is None:
                    notes.append(f"Показатель «{ind.id}» ({fw.title}): значение «{stored[rid]}» в indicators.csv "
                                 f"(код «{rid}») не удалось прочитать как число — показатель считается отсутствующим.")
                    continue
                status, source = "read", rid
                break
    g = fw.group(ind.group_id)
    row = {"framework": fw.id, "framework_title": fw.title, "kind": fw.kind, "group_id": g.id, "group_name": g.name,
           "indicator_id": ind.id, "number": ind.number or "", "name": ind.name, "unit": ind.unit, "status": status,
           "source": source, "threshold": ind.threshold, "direction": ind.direction, "max_points": ind.max_points,
           "detail": ind.note}
    v = val or Value(float("nan"))
    row.update(value=v.value, count=v.count, denominator=v.denominator, ci_low=v.ci_low, ci_high=v.ci_high,
               n_students=v.n_students, display=display_value(ind, val),
               points=score_value(ind, val.value) if val is not None else None)
    if val is not None and v.detail:
        row["detail"] = (v.detail + ". " + ind.note).strip(". ") if ind.note else v.detail
    row["below_threshold"] = bool(val is not None and ind.threshold is not None and _below(ind, v))
    return row


_PAIR = re.compile(r"^\s*(\d+)\s*/\s*([\d.,]+)\s*%?\s*$")


def parse_value(raw, ind: Indicator) -> Value | None:
    """A value from ``indicators.csv``: numbers with ``.`` or ``,``; ``да``/``нет``; for shares
    ``0.45``, ``45``, ``45 %`` or ``12/45 %`` (people / percent). A share above 1 is read as percent."""
    s = str(raw).strip().lower().replace("\u00a0", " ")
    if s in ("да", "есть", "yes", "true", "истина"):
        return Value(1.0)
    if s in ("нет", "no", "false", "ложь"):
        return Value(0.0)
    count = None
    m = _PAIR.match(s)
    if m and ind.is_share:
        count, s = int(m.group(1)), m.group(2) + "%"
    pct = s.endswith("%")
    try:
        x = float(s.rstrip("%").strip().replace(" ", "").replace(",", "."))
    except ValueError:
        return None
    if not math.isfinite(x):
        return None
    if ind.is_share and (pct or x > 1):
        x /= 100
    return Value(x, count=count, detail="")


def score_value(ind: Indicator, x: float) -> float | None:
    """Points for value ``x`` by the indicator's ``scoring``: ``direct`` (the value is the points, capped
    to 0..max_points) or bands — the first band whose ``equals``/``min`` (inclusive)/``max`` (exclusive)
    all hold gives its points; no band → 0."""
    if ind.scoring is None or x is None or not math.isfinite(x):
        return None
    if ind.scoring == "direct":
        return float(min(max(x, 0.0), ind.max_points))
    for band in ind.scoring:
        if "equals" in band and not math.isclose(x, band["equals"], abs_tol=1e-9):
            continue
        if "min" in band and x < band["min"]:
            continue
        if "max" in band and x >= band["max"]:
            continue
        return float(band["points"])
    return 0.0


def _below(ind: Indicator, v: Value) -> bool:
    lo, hi = v.ci_low, v.ci_high
    if (lo is None or hi is None) and ind.is_share and v.count is not None and v.denominator:
        lo, hi = wilson_interval(v.count, v.denominator)
    has_ci = lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
    if ind.direction == "lower_is_better":
        return (lo if has_ci else v.value) > ind.threshold
    return (hi if has_ci else v.value) < ind.threshold


def display_value(ind: Indicator, v: Value | None) -> str:
    """The value as printed in the self-examination table (Russian)."""
    if v is None or v.value is None or not math.isfinite(v.value):
        return "нет данных"
    if ind.is_bool:
        return "да" if v.value >= 0.5 else "нет"
    if ind.is_share:
        share = t.pct(v.value, 1)
        return f"{t.fmt_int(v.count)} / {share}" if v.count is not None and "человек" in ind.unit else share
    if float(v.value).is_integer():
        return t.fmt_int(v.value)
    return t.num(v.value, 3 if abs(v.value) < 1 else 2)


def _levels(fw: Framework, points: float) -> str:
    for lv in sorted(fw.levels, key=lambda lv: -lv["min"]):
        if points >= lv["min"]:
            return lv["name"]
    return ""


def _scores(fws, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, crit_rows = [], []
    for fw in fws:
        if fw.kind not in ("index", "map"):
            continue
        d = table[table["framework"] == fw.id]
        missing_points, n_declared = 0.0, 0
        for g in fw.criteria:
            own = d[d["group_id"] == g.id]
            declared = g.n_indicators if g.n_indicators is not None else len(own)
            per = g.max_points_per_indicator
            scored = own[own["points"].notna()]
            max_pts = declared * per if per is not None else float(own["max_points"].sum())
            missing_points += max_pts - float(scored["max_points"].sum())
            n_declared += declared
            crit_rows.append({"framework": fw.id, "group_id": g.id, "name": g.name, "n_declared": declared,
                              "n_encoded": len(own), "n_scored": len(scored),
                              "points": float(scored["points"].sum()), "max_points": float(max_pts)})
        points = float(d["points"].fillna(0).sum())
        n_scored = int(d["points"].notna().sum())
        max_points = float(fw.totals["points"]) if fw.totals else float(d["max_points"].sum())
        low = _levels(fw, points) if fw.levels else ""
        high = _levels(fw, points + missing_points) if fw.levels else ""
        rows.append({"framework": fw.id, "title": fw.title, "kind": fw.kind, "points": points,
                     "max_points": max_points, "n_declared": n_declared, "n_scored": n_scored,
                     "n_missing": n_declared - n_scored, "missing_points": missing_points,
                     "lower_bound": n_declared > n_scored, "level_low": low, "level_high": high,
                     "level": low if low == high else ""})
    return pd.DataFrame(rows), pd.DataFrame(crit_rows)


def _finding(r: dict, school_id: str, year: int) -> Finding:
    lower = r["direction"] == "lower_is_better"
    thr = r["threshold"]
    thr_text = t.pct(thr, 1) if "%" in r["unit"] else t.num(thr, 2).rstrip("0").rstrip(",")
    has_ci = r["ci_low"] is not None and r["ci_high"] is not None and not pd.isna(r["ci_low"])
    ci = f" ({t.interval(r['ci_low'], r['ci_high'], as_pct='%' in r['unit'], digits=1)})" if has_ci else ""
    label = f"{r['number']} «{r['name']}»" if r["number"] else f"«{r['name']}»"
    side = "выше допустимого значения" if lower else "ниже порога"
    rule = ("весь 95-процентный доверительный интервал лежит " + ("выше" if lower else "ниже") + " порога"
            if has_ci else "значение точное (без выборочной погрешности)")
    n = int(r["denominator"]) if r["denominator"] is not None and not pd.isna(r["denominator"]) else 0
    return Finding(
        area="indicators", kind="low_indicator", polarity="problem", severity="medium", school_id=school_id,
        year=year, target_type="school", target_id="", subject=None, metric=f"{r['framework']}:{r['indicator_id']}",
        estimate=float(r["value"]), ci_low=r["ci_low"] if has_ci else None, ci_high=r["ci_high"] if has_ci else None,
        p_value=None, q_value=None, n=n,
        title=f"Показатель {label} {side}"[:300],
        evidence=(f"{r['framework_title']}: значение {r['display']}{ci} при пороге {thr_text}; {rule}. "
                  f"Источник значения: {STATUS_RU[r['status']]}."),
        recommendation=Recommendation(
            text=f"Разобрать причины значения показателя {label} и включить меры в план работы на следующий год.",
            addressee_type="school", addressee_id="", responsible="заместитель директора по УВР",
            deadline=f"{year + 1}-04-20", control_metric=f"{r['framework']}:{r['indicator_id']}",
            baseline=float(r["value"]), target=float(thr)),
        extra={"framework": r["framework"], "indicator_id": r["indicator_id"]})
