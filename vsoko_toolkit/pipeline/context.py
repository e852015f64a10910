"""What a chapter notebook holds on to: the run's parameters, the warehouse, and where results go.

A chapter notebook is narrative and calls::

    ctx = RunContext.open(db, school_id, year, profile, out_dir, chapter="03_results")
    res = results.analyze(ctx.wh, ctx.school_id, ctx.year)
    ctx.emit("results", res)        # findings -> parts/03_results.json, main table -> tables/results.csv

``emit`` applies the profile's privacy rules to tables before writing them:
the public profile never writes names, student ids or teacher ids, and
suppresses counts under 5.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from ..errors import check_option
from ..findings import DecisionEvaluation, Finding, Skipped, clean
from ..privacy import MIN_GROUP

PROFILES = ("public", "internal")
PERSONAL_COLUMNS = ("full_name", "student_id", "birth_date", "teacher_name", "code")
PUBLIC_DROP = PERSONAL_COLUMNS + ("teacher_id", "student_code", "homeroom_teacher_id")


#: Results a later chapter of the same run reads instead of recomputing them (fit each model once): emitted name
#: -> {shared table name: how to take it from the result}. Value added (chapter 05) and the marking offsets
#: (chapter 04) are what the cause checks (chapter 09) test against.
SHARED_RESULTS = {
    "value_added": {"value_added": lambda r: r.tidy()},
    "objectivity": {"marking_offsets": lambda r: r.offsets, "class_marking_offsets": lambda r: r.class_offsets},
}
_NO_ROWS = "_no_rows"  # the one column of a shared table that was empty or absent in the result


def public_table(df: pd.DataFrame) -> pd.DataFrame:
    """The public version of a table: no personal or teacher columns, teacher rows without their id;
    counts under 5 suppressed (NaN).

    A row whose group size (``n`` or ``n_numeric``) is under 5 keeps its labels
    but loses every number, so no small group can be read off it. A table of
    formatted text (numbers already turned into Russian strings) names its label
    columns in ``df.attrs["labels"]``: every other column of a small row is blanked.
    """
    out = df.drop(columns=[c for c in df.columns if c in PUBLIC_DROP or c.endswith("_name")], errors="ignore")
    for kind_col, id_col in (("level", "target_id"), ("unit_type", "unit_id"), ("target_type", "target_id")):
        if kind_col in out.columns and id_col in out.columns:  # teachers appear in the distribution, unnamed
            teacher = out[kind_col] == "teacher"
            if teacher.any():
                out = out.copy()
                out.loc[teacher, id_col] = ""
    size_col = next((c for c in ("n", "n_numeric", "n_students", "учеников") if c in out.columns), None)
    if size_col is not None:
        small = pd.to_numeric(out[size_col], errors="coerce").between(1, MIN_GROUP - 1)
        if "prev_n" in out.columns:  # a change to last year shows last year's group as well
            small |= pd.to_numeric(out["prev_n"], errors="coerce").between(1, MIN_GROUP - 1)
        if small.any():
            num = out.select_dtypes("number").columns
            out = out.astype({c: "float64" for c in num})
            out.loc[small, num] = float("nan")
            labels = df.attrs.get("labels")
            if labels is not None:
                text = [c for c in out.columns if c not in labels and c not in num]
                out = out.astype({c: "object" for c in text})
                out.loc[small, text] = ""
            sizes = pd.to_numeric(out[size_col], errors="coerce")
            if (sizes.dropna() % 1 == 0).all():  # a count stays a count ("12", not "12.0") once NaNs appear
                out[size_col] = sizes.round().astype("Int64")
            out["suppressed"] = small.map({True: f"< {MIN_GROUP}", False: ""})
    return out


def public_finding(d: dict) -> dict:
    """A finding for the public profile: teachers are named by role only, never by id or name."""
    d = dict(d)
    rec = d.get("recommendation")
    if rec and rec.get("addressee_type") == "teacher" and rec.get("addressee_id"):
        d["recommendation"] = {**rec, "addressee_id": "", "text": _unname(rec["text"], rec["addressee_id"])}
    if d.get("target_type") == "teacher" and d.get("target_id"):
        tid = d["target_id"]
        d["target_id"] = ""
        for k in ("title", "evidence"):
            d[k] = _unname(d[k], tid)
        d["causes"] = [{**c, "evidence": _unname(c["evidence"], tid)} for c in d.get("causes", [])]
    return d


def _unname(text: str, tid: str) -> str:
    """Drop a teacher id from a sentence ("учителя T0061 в 7А" -> "учителя в 7А"; "(T0061)" -> "")."""
    return re.sub(rf"\s*\(?{re.escape(tid)}\)?", "", text)


@dataclass
class RunContext:
    db: Path
    school_id: str
    year: int
    profile: str
    out_dir: Path
    chapter: str
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)

    @classmethod
    def open(cls, db, school_id, year, profile, out_dir, chapter: str) -> RunContext:
        check_option("profile", profile, PROFILES)
        ctx = cls(Path(db), str(school_id), int(year), profile, Path(out_dir), chapter)
        (ctx.out_dir / "parts").mkdir(parents=True, exist_ok=True)
        (ctx.out_dir / "tables").mkdir(parents=True, exist_ok=True)
        part = ctx.part_path
        if part.exists():  # a re-run of this chapter starts clean
            part.unlink()
        return ctx

    @property
    def wh(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the warehouse."""
        if self._con is None:
            from ..warehouse.store import connect

            self._con = connect(self.db)
        return self._con

    @property
    def public(self) -> bool:
        return self.profile == "public"

    @property
    def part_path(self) -> Path:
        return self.out_dir / "parts" / f"{self.chapter}.json"

    def _part(self) -> dict:
        if self.part_path.exists():
            return json.loads(self.part_path.read_text(encoding="utf-8"))
        return {"findings": [], "decision_evaluations": [], "skipped": [], "tables": []}

    def _save(self, part: dict) -> None:
        # whole or not at all: a chapter running side by side (10_methods beside 09_synthesis) may read this part
        tmp = self.part_path.with_name(self.part_path.name + ".tmp")
        tmp.write_text(json.dumps(clean(part), ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.part_path)

    def emit(self, name: str, result=None, *, findings=(), evaluations=(), skipped=(), table=None) -> None:
        """Record an analysis's findings/evaluations/skips, and write its main table to ``tables/<name>.csv``."""
        part = self._part()
        if result is not None:
            findings = [*findings, *getattr(result, "findings", ())]
            evaluations = [*evaluations, *getattr(result, "evaluations", ())]
            skipped = [*skipped, *getattr(result, "skipped", ())]
            if table is None and hasattr(result, "tidy"):
                table = result.tidy()
        dicts = [f.to_dict() if isinstance(f, Finding) else f for f in findings]
        part["findings"] += [public_finding(d) for d in dicts] if self.public else dicts
        part["decision_evaluations"] += [e.to_dict() if isinstance(e, DecisionEvaluation) else e for e in evaluations]
        part["skipped"] += [s.to_dict() if isinstance(s, Skipped) else s for s in skipped]
        self._save(part)
        if table is not None:
            self.table(name, table)
        if result is not None:
            for shared_name, take in SHARED_RESULTS.get(name, {}).items():
                self._share(shared_name, take(result))

    def _share(self, name: str, df: pd.DataFrame | None) -> None:
        """Keep ``df`` (unfiltered: it stays in the run's ``private/``) for a later chapter of this run (Parquet
        through DuckDB, types kept; an empty or absent table is kept as such). A failure only costs the later
        chapter a recomputation."""
        import duckdb

        path = self.out_dir / "private" / "results" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        if df is None or not len(df.columns):  # absent, or empty without columns: Parquet needs a column
            df = pd.DataFrame({_NO_ROWS: pd.Series([], dtype="int64")})
        try:
            duckdb.from_df(df).write_parquet(str(path))
        except (duckdb.Error, ValueError, TypeError):
            path.unlink(missing_ok=True)

    def shared(self, name: str) -> pd.DataFrame | None:
        """The ``tidy()`` table an earlier chapter of this run emitted as ``name`` (:data:`SHARED_RESULTS`), or
        None when it did not (the chapter failed, or this chapter runs alone)."""
        import duckdb

        path = self.out_dir / "private" / "results" / f"{name}.parquet"
        if not path.exists():
            return None
        df = duckdb.read_parquet(str(path)).df()
        return pd.DataFrame() if list(df.columns) == [_NO_ROWS] else df

    def update_findings(self, findings) -> None:
        """Replace earlier chapters' findings (matched by id) with enriched versions, e.g. with tested causes."""
        part = self._part()
        dicts = [f.to_dict() if isinstance(f, Finding) else dict(f) for f in findings]
        part["updates"] = part.get("updates", []) + ([public_finding(d) for d in dicts] if self.public else dicts)
        self._save(part)

    def skip(self, analysis: str, reason: str) -> None:
        """Record that ``analysis`` could not run on this data, and why (Russian)."""
        self.emit(analysis, skipped=[Skipped(analysis, reason)])

    def table(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        """Write ``df`` (privacy-filtered for the public profile) to ``tables/<name>.csv``; return what was written."""
        out = public_table(df) if self.public else df
        out.to_csv(self.out_dir / "tables" / f"{name}.csv", index=False, encoding="utf-8")
        part = self._part()
        part["tables"] = sorted({*part.get("tables", []), f"tables/{name}.csv"})
        self._save(part)
        return out

    def show(self, df: pd.DataFrame):
        """What a reader of this profile may see of ``df``: privacy-filtered, without the row index; shown as
        HTML in the web book and as a LaTeX table in the PDF (:class:`ShownTable`)."""
        return ShownTable(public_table(df) if self.public else df)


class ShownTable:
    """A table for the book: ``_repr_html_`` for the HTML book, ``_repr_latex_`` for the PDF (without it the
    PDF would print the Styler's text repr instead of the table). Text columns wrap (``p{}`` columns of equal
    width); cells and headers are LaTeX-escaped."""

    def __init__(self, df: pd.DataFrame):
        self.df = df

    def _style(self, **kw):
        return self.df.style.hide(axis="index").format(na_rep="—", precision=2, decimal=",", thousands="\u202f",
                                                      **kw)

    @property
    def styler(self):
        return self._style()

    def _repr_html_(self) -> str:
        return self._style().to_html()

    def _repr_latex_(self) -> str:
        k = max(1, self.df.shape[1])
        width = f"{0.96 / k:.3f}\\linewidth"
        cols = "".join(f">{{\\raggedright\\arraybackslash}}p{{{width}}}" for _ in range(k))
        body = (self._style(escape="latex").format_index(escape="latex", axis=1)
                .to_latex(column_format=cols, hrules=True, environment="longtable"))
        body = body.replace("Continued on next page", "продолжение на следующей странице")
        return "{\\footnotesize\n" + body + "}\n"
