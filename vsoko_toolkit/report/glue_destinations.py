"""Glue and Russian tables for the chapter «Самоопределение выпускников и профориентация».

Tables shown count students per destination or profile; in the public profile a row whose group (``n``) is under
5 keeps its label and loses its numbers (``RunContext.show`` / ``public_table``), and the glued counts say "< 5".
"""

from __future__ import annotations

import pandas as pd

from ..privacy import suppress_small
from . import text as t
from .destinations_text import DESTINATION_RU, PROFILE_RU, years_text
from .glue import _glue


def emit(ctx, res) -> None:
    """Record findings/skips and write the main tables (privacy rules applied by ``ctx.table``)."""
    ctx.emit("destinations", findings=res.findings, skipped=res.skipped)
    if not res.shares.empty:
        ctx.table("destinations_shares", res.shares)
        ctx.table("destinations_trend", res.trend)
    if not res.outflow.empty:
        ctx.table("destinations_outflow", res.outflow)


def glue_all(res, public: bool) -> None:
    """Numbers the chapter's prose cites."""
    cnt = (lambda n: suppress_small(n)) if public else t.fmt_int
    s = res.shares
    n9 = int(s.loc[s["grade"] == 9, "n_grade"].max()) if not s.empty and (s["grade"] == 9).any() else 0
    n11 = int(s.loc[s["grade"] == 11, "n_grade"].max()) if not s.empty and (s["grade"] == 11).any() else 0
    _glue("dest_year", t.academic_year(res.year) if res.year else "—")
    _glue("dest_n9", cnt(n9))
    _glue("dest_n11", cnt(n11))
    _glue("dest_own10", _share(s, 9, "own_10"))
    _glue("dest_spo9", _share(s, 9, "spo"))
    _glue("dest_univ", _share(s, 11, "university"))
    _glue("dest_window", years_text(res.window))
    _glue("dest_offered", ", ".join(res.offered_labels) or "нет данных")
    _glue("dest_n_findings", t.count(len(res.findings), "находка", "находки", "находок"))
    _glue("dest_status", status_text(res))


def _share(s: pd.DataFrame, grade: int, dest: str) -> str:
    if s.empty:
        return "—"
    r = s[(s["grade"] == grade) & (s["destination"] == dest)]
    if r.empty:
        return "0\u00a0%"
    r = r.iloc[0]
    return f"{t.pct(r['share'])} (95\u00a0% ДИ {t.pct(r['ci_low'])}–{t.pct(r['ci_high'])})"


def status_text(res) -> str:
    if res.skipped:
        return res.skipped[0].reason
    if not res.findings:
        return ("Проблем, которые выходили бы за пределы случайных колебаний по сравнению с другими школами "
                "муниципалитета, не выявлено.")
    return "Выявлено: " + "; ".join(f.title for f in res.findings) + "."


def shares_table(res) -> pd.DataFrame:
    """Shares by destination for the year: school vs the other schools."""
    s = res.shares
    if s.empty:
        return pd.DataFrame({"итог": [status_text(res)]})
    out = pd.DataFrame({
        "класс": s["grade"].astype(int).astype(str),
        "куда": s["destination"].map(DESTINATION_RU),
        "n": s["n"].astype(int),
        "доля в школе (95 % ДИ)": [f"{t.pct(p)} ({t.pct(lo)}–{t.pct(hi)})" for p, lo, hi in
                                   zip(s["share"], s["ci_low"], s["ci_high"], strict=True)],
        "другие школы (95 % ДИ)": [f"{t.pct(p)} ({t.pct(lo)}–{t.pct(hi)})" for p, lo, hi in
                                   zip(s["muni_share"], s["muni_ci_low"], s["muni_ci_high"], strict=True)],
        "разница, п. п. (95 % ДИ)": [_pp(d, lo, hi) for d, lo, hi in zip(s["diff"], s["diff_low"], s["diff_high"],
                                                                            strict=True)],
    })
    out.attrs["labels"] = ["класс", "куда"]
    return out


def trend_table(res, public: bool = False) -> pd.DataFrame:
    """The school's shares by year (rows: grade × destination, columns: years); public: a group under 5 is
    shown as "< 5" without its share."""
    tr = res.trend
    if tr.empty:
        return pd.DataFrame({"итог": [status_text(res)]})
    rows = []
    for (g, d), x in tr.groupby(["grade", "destination"], sort=True):
        row = {"класс": str(int(g)), "куда": DESTINATION_RU.get(d, d)}
        for r in x.itertuples(index=False):
            row[t.academic_year(r.year)] = ("< 5" if public and r.n < 5 else f"{t.pct(r.share)} ({int(r.n)})")
        rows.append(row)
    years = [t.academic_year(y) for y in sorted(tr["year"].unique())]
    out = pd.DataFrame(rows).reindex(columns=["класс", "куда", *years]).fillna("—")
    out.attrs["labels"] = list(out.columns)
    return out


def headline_table(res) -> pd.DataFrame:
    h = res.headline
    if h.empty:
        return pd.DataFrame({"итог": ["Для сравнения с прошлыми годами нужны данные о выпускниках хотя бы за два года."]})
    out = pd.DataFrame({
        "показатель": ["остались в 10 классе своей школы (из выпускников 9 класса)" if g == 9
                       else "поступили в вуз (из выпускников 11 класса)" for g in h["grade"]],
        "n": h["n"].astype(int),
        "в этом году": [t.pct(x) for x in h["share"]],
        "в прошлые годы": [f"{t.pct(x)} ({y})" for x, y in zip(h["prev_share"], h["prev_years"], strict=True)],
        "разница, п. п. (95 % ДИ)": [_pp(d, lo, hi) for d, lo, hi in zip(h["diff"], h["diff_low"], h["diff_high"],
                                                                            strict=True)],
        "p": [t.num(p, 3) for p in h["p_value"]],
    })
    out.attrs["labels"] = ["показатель"]
    return out


def outflow_table(res) -> pd.DataFrame:
    o = res.outflow
    if o.empty:
        return pd.DataFrame({"итог": ["Нет данных о профилях колледжей и школ, куда ушли выпускники 9 класса, "
                                      "или нет других школ для сравнения."]})
    out = pd.DataFrame({
        "профиль": o["profile"].map(PROFILE_RU),
        "есть в 10 классе школы": o["offered"].map({True: "да", False: "нет"}).fillna("неизвестно"),
        "n": o["n"].astype(int),
        "доля выпускников 9 кл. (95 % ДИ)": [f"{t.pct(p)} ({t.pct(lo)}–{t.pct(hi)})" for p, lo, hi in
                                             zip(o["share"], o["ci_low"], o["ci_high"], strict=True)],
        "другие школы": [t.pct(p) for p in o["muni_share"]],
        "разница, п. п. (95 % ДИ)": [_pp(d, lo, hi) for d, lo, hi in zip(o["diff"], o["diff_low"], o["diff_high"],
                                                                            strict=True)],
        "q": [_q(q) for q in o["q_value"]],
    })
    out.attrs["labels"] = ["профиль", "есть в 10 классе школы"]
    return out


def match_table(res, public: bool = False) -> pd.DataFrame:
    """Profile/elective match per grade; public: a row whose matched or unmatched group is under 5 is blanked
    (``n`` set to that group's size, so ``public_table`` suppresses the row)."""
    m = res.match
    if m.empty:
        return pd.DataFrame({"итог": ["Нет выпускников с известным профилем обучения и экзаменами по выбору "
                                      "(или нет других школ для сравнения)."]})
    out = pd.DataFrame({
        "класс": m["grade"].astype(int).astype(str),
        "n": m["n"].astype(int),
        "профиль совпал с экзаменом по выбору (95 % ДИ)": [
            f"{t.pct(p)} ({t.pct(lo)}–{t.pct(hi)})" for p, lo, hi in zip(m["share"], m["ci_low"], m["ci_high"],
                                                                          strict=True)],
        "другие школы": [t.pct(p) for p in m["muni_share"]],
        "разница, п. п. (95 % ДИ)": [_pp(d, lo, hi) for d, lo, hi in zip(m["diff"], m["diff_low"], m["diff_high"],
                                                                            strict=True)],
        "проверка": [_q(q, "q") if tested else "не проверяется (только описание)"
                     for q, tested in zip(m["q_value"], m["tested"], strict=True)],
    })
    out.attrs["labels"] = ["класс"]
    if public:
        small = pd.concat([m["n_match"], m["n"] - m["n_match"]], axis=1).min(axis=1)
        out["n"] = out["n"].where(~small.between(1, 4), small).astype(int)
    return out


def _q(q, prefix: str = "") -> str:
    """'0,045' / '< 0,001'; with ``prefix`` 'q': 'q = 0,045' / 'q < 0,001'."""
    if q < 0.001:
        return f"{prefix} < 0,001".strip()
    return f"{prefix} = {t.num(q, 3)}" if prefix else t.num(q, 3)


def _pp(d, lo, hi) -> str:
    if pd.isna(d):
        return "—"
    f = lambda x: f"{100 * x:+.0f}".replace("-", "−")  # noqa: E731
    return f"{f(d)} ({f(lo)} … {f(hi)})"
