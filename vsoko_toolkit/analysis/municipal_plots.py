"""Figures of the municipal comparison (matplotlib/seaborn, Russian labels): the ``plot_*`` methods of
:class:`vsoko_toolkit.analysis.municipal.MunicipalResult` call these functions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats.intervals import funnel_limits_mean
from .base import empty_plot
from .municipal_objectivity import CHECK_RU, CHECKS

LOW, HIGH, GREY = "#c0392b", "#1f7a3a", "#7f7f7f"  # below / above the others beyond noise / within noise
UNIT = "стандартных отклонений"


def _axes(ax, size):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _label(names: pd.Series, ids: pd.Series) -> list[str]:
    return [str(n) if isinstance(n, str) and n else str(i) for n, i in zip(names, ids, strict=True)]


def plot_funnel(r, ax=None):
    from ..privacy import MIN_GROUP

    f = r.funnel
    if f is not None and len(f):  # a school's mean over fewer than 5 students is not shown (as in the tables)
        f = f[f["n"] >= MIN_GROUP]
    if f is None or f.empty:
        return empty_plot(ax, "Результатов учеников за год нет — диаграмма-воронка не построена.")
    ax = _axes(ax, (8, 4.5))
    n_max = float(f["n"].max())
    grid = np.linspace(max(2.0, 0.5 * float(f["n"].min())), 1.1 * n_max, 200)
    sd, deff, target = float(f["sd"].iloc[0]), float(f["deff"].iloc[0]), float(f["target"].iloc[0])
    lim = funnel_limits_mean(target, sd * np.sqrt(max(deff, 1.0)), grid)
    for level, style in (("95", "--"), ("998", ":")):
        lab = "95 % контрольные границы" if level == "95" else "99,8 % контрольные границы"
        ax.plot(grid, lim[f"upper_{level}"], color="#34495e", ls=style, lw=1, label=lab)
        ax.plot(grid, lim[f"lower_{level}"], color="#34495e", ls=style, lw=1)
    ax.axhline(target, color="k", lw=0.8, label="среднее по муниципалитету")
    colors = f["position"].map(lambda p: HIGH if p.startswith("above") else LOW if p.startswith("below")
                               else GREY)
    ax.scatter(f["n"], f["mean"], c=list(colors), s=36, zorder=3)
    for x, y, t in zip(f["n"], f["mean"], _label(f["name"], f["school_id"]), strict=True):
        ax.annotate(t, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel("учеников с результатом в году")
    ax.set_ylabel(f"средний результат, {UNIT}")
    ax.set_title(f"Диаграмма-воронка: результаты школ {r.year} года и их число учеников", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return ax


def plot_value_added(r, ax=None):
    v = r.value_added
    if v is None or v.empty:
        return empty_plot(ax, "Контекстуальная добавленная стоимость не рассчитана (см. примечания).")
    v = v.sort_values("estimate").reset_index(drop=True)
    ax = _axes(ax, (7, max(2.5, 0.35 * len(v) + 1)))
    colors = np.where(~v["flagged"].astype(bool), GREY, np.where(v["estimate"] < 0, LOW, HIGH))
    y = np.arange(len(v))
    ax.hlines(y, v["ci_low"], v["ci_high"], colors=colors, lw=2)
    ax.scatter(v["estimate"], y, c=colors, zorder=3, s=20)
    ax.axvline(0, color="k", lw=0.8, ls="--")
    ax.set_yticks(y, _label(v["name"], v["school_id"]), fontsize=8)
    ax.set_xlabel(f"контекстуальная добавленная стоимость, {UNIT} (95 % ДИ)", fontsize=8)
    ax.set_title("Контекстуальная добавленная стоимость школ\n(серые — в пределах случайного разброса)", fontsize=10)
    return ax


def plot_ranks(r, ax=None):
    v = r.value_added
    if v is None or v.empty:
        return empty_plot(ax, "Места школ не рассчитаны: нет оценок добавленной стоимости.")
    v = v.sort_values("rank").reset_index(drop=True)
    ax = _axes(ax, (7, max(2.5, 0.35 * len(v) + 1)))
    y = np.arange(len(v))
    ax.hlines(y, v["rank_low"] - 0.3, v["rank_high"] + 0.3, colors="#2e86c1", lw=6, alpha=0.5,
              label="95 % интервал мест")
    ax.scatter(v["rank"], y, color="k", zorder=3, s=18, label="место по оценке")
    ax.set_yticks(y, _label(v["name"], v["school_id"]), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0.4, len(v) + 0.6)
    ax.set_xticks(np.arange(1, len(v) + 1))
    ax.set_xlabel("место по контекстуальной добавленной стоимости (1 — наибольшая)")
    ax.set_title("Места школ с неопределённостью: пересекающиеся интервалы неразличимы", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return ax


def plot_years(r, ax=None):
    y = r.yearly
    if y is None or y.empty or y["diff"].isna().all():
        return empty_plot(ax, "Результаты школ по годам не сравнивались.")
    ax = _axes(ax, (8, 4))
    steady = r.steady.set_index("school_id")["status"] if r.steady is not None and len(r.steady) else {}
    names = dict(zip(r.table["school_id"], r.table["name"], strict=True)) if len(r.table) else {}
    schools = sorted(y["school_id"].unique())
    offsets = np.linspace(-0.15, 0.15, len(schools)) if len(schools) > 1 else [0.0]
    tag = {"steadily_low": (" — устойчиво низкие", "v", 2.2), "steadily_high": (" — устойчиво высокие", "^", 2.2)}
    for off, sch in zip(offsets, schools, strict=True):
        g = y[(y["school_id"] == sch) & y["diff"].notna()].sort_values("year")
        suffix, marker, lw = tag.get(steady.get(sch, "") if len(steady) else "", ("", "o", 1.0))
        ax.errorbar(g["year"] + off, g["diff"], yerr=[g["diff"] - g["ci_low"], g["ci_high"] - g["diff"]],
                    marker=marker, ms=5, capsize=2, lw=lw, label=f"{names.get(sch, sch)}{suffix}")
    ax.axhline(0, color="k", lw=0.8, ls="--")
    ax.set_xticks(sorted(y["year"].unique()))
    ax.set_xlabel("учебный год (по году окончания)")
    ax.set_ylabel(f"разница с другими школами, {UNIT}", fontsize=8)
    ax.set_title("Результаты школ по годам относительно других школ (95 % ДИ)", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="best")
    return ax


def plot_context(r, ax=None):
    c = r.context
    if c is None or c.empty:
        return empty_plot(ax, "Социальный индекс школ не заполнен — ШНОР и резильентные школы не выделялись.")
    ax = _axes(ax, (7, 4.5))
    cut = c.loc[c["unfavourable"], "social_index"].max()
    ax.axvspan(c["social_index"].min() - 0.1, cut + 0.02, color="#f5cba7", alpha=0.4,
               label="неблагоприятные условия (нижняя треть)")
    colors = c["status"].map({"shnor": LOW, "resilient_school": HIGH}).fillna(GREY)
    ax.errorbar(c["social_index"], c["diff"], yerr=[c["diff"] - c["ci_low"], c["ci_high"] - c["diff"]], fmt="none",
                ecolor="#95a5a6", lw=1)
    ax.scatter(c["social_index"], c["diff"], c=list(colors), s=36, zorder=3)
    for x, yv, t in zip(c["social_index"], c["diff"], _label(c["name"], c["school_id"]), strict=True):
        ax.annotate(t, (x, yv), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.axhline(0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("социальный индекс школы (больше — благоприятнее)")
    ax.set_ylabel(f"результат против других школ, {UNIT}", fontsize=8)
    ax.set_title(f"Результаты {r.year} года и социальные условия: ШНОР (красные) и резильентные (зелёные)",
                 fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return ax


def plot_objectivity(r, ax=None):
    import seaborn as sns

    t = r.objectivity
    if t is None or t.empty or t["q_value"].isna().all():
        return empty_plot(ax, "Признаки необъективности не проверялись: нет результатов внешних оценочных процедур.")
    names = dict(zip(r.table["school_id"], r.table["name"], strict=True)) if len(r.table) else {}
    q = t.groupby(["school_id", "check"])["q_value"].min().unstack()
    q = q.reindex(columns=[c for c in CHECKS if c in q.columns])
    ax = _axes(ax, (8, max(2.5, 0.4 * len(q) + 1.5)))
    score = -np.log10(q.clip(lower=1e-6).astype(float))
    sns.heatmap(score, ax=ax, cmap="Reds", vmin=0, vmax=4, annot=q.map(lambda v: "—" if pd.isna(v) else
                                                                         f"{v:.3f}".replace(".", ",")),
                fmt="", cbar_kws={"label": "−lg q (больше — сильнее признак)"}, linewidths=0.5)
    ax.set_yticklabels([names.get(s, s) for s in q.index], rotation=0, fontsize=8)
    ax.set_xticklabels([CHECK_RU[c] for c in q.columns], rotation=20, ha="right", fontsize=7)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title("Признаки необъективности: наименьшее q по школе и признаку (q < 0,05 — признак есть)", fontsize=10)
    return ax
