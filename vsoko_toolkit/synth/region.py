"""A region-sized data folder, fast: one generated municipality replicated with its ids rewritten (issue 17).

:func:`generate_municipality` draws every student, class and work from the model; at a region's size
(1,000 schools, hundreds of thousands of students, 10^8 e-journal marks) that takes too long for a
benchmark. :func:`write_region` draws one municipality of ``schools_per_municipality`` schools with
``current_marks`` in every year, then writes ``n_municipalities`` copies of it through DuckDB's ``COPY``
(streamed, bounded memory, never a table in pandas), one municipality after another: every id (school, class, student, teacher, respondent,
decision, and the ids inside ``target_ids``) gets the municipality's prefix (``M001-``), and each copy has
its own ``schools.municipality``. The tables that describe works rather than schools (``assessment_specs``,
``assessment_benchmarks``, ``scales``, ``survey_items``) are written once.

The copies share their statistics: the region is for measuring ingest, query and batch cost at scale, not
for testing the analyses (the planted truth of one copy is in ``truth.json`` with the municipality ``M001``).

>>> from vsoko_toolkit.synth.region import write_region
>>> info = write_region("/tmp/region", n_municipalities=100, schools_per_municipality=10)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..contract.normalize import lit, q
from .generator import generate_municipality
from .params import ModelParams
from .writer import TABLE_COLUMNS

#: Columns whose values are ids and get the municipality's prefix.
ID_COLUMNS = {"school_id", "class_id", "student_id", "teacher_id", "homeroom_teacher_id", "respondent_id",
              "decision_id"}
#: Tables that describe works (not schools): written once, not per municipality.
SHARED = {"assessment_specs", "assessment_benchmarks", "scales", "survey_items"}


@dataclass
class RegionInfo:
    folder: Path
    n_municipalities: int
    schools: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds_base: float = 0.0
    seconds_copy: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def prefix(m: int) -> str:
    return f"M{m + 1:03d}"


def write_region(out, n_municipalities: int = 100, schools_per_municipality: int = 10, n_years: int = 5,
                 seed: int = 1, last_year: int = 2025, current_per_quarter: float = 8.0,
                 parallels_p: tuple[float, float, float] = (0.75, 0.2, 0.05), memory_limit: str = "2GB",
                 progress=None) -> RegionInfo:
    """Write a region of ``n_municipalities`` × ``schools_per_municipality`` schools into ``out`` (module docstring).

    ``current_per_quarter`` is the mean number of e-journal marks per student, subject (mathematics and Russian)
    and quarter, in every year; ``parallels_p`` the chances of 1, 2 and 3 classes per grade (the default makes
    schools of about 340 students, 1,000 schools about 340,000 students a year). ``progress`` is called with a
    short message before each table."""
    import time

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vsoko-region-") as work:
        base = Path(work) / "base"
        say("модельный муниципалитет")
        params = ModelParams(current_marks_years=n_years, current_per_quarter=current_per_quarter,
                             parallels_p=tuple(parallels_p))
        truth = generate_municipality(base, n_schools=schools_per_municipality, n_years=n_years, seed=seed,
                                      last_year=last_year, params=params)
        t1 = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"SET memory_limit={lit(memory_limit)}; SET temp_directory={lit(str(Path(work) / 'spill'))}; "
                    "SET preserve_insertion_order=false")
        rows = {}
        try:
            for name, cols in TABLE_COLUMNS.items():
                src = base / f"{name}.csv"
                if not src.exists():
                    continue
                say(name)
                rows[name] = _copy_table(con, src, out / f"{name}.csv", name, cols, n_municipalities)
        finally:
            con.close()
        t2 = time.perf_counter()
    truth = {"region": {"n_municipalities": n_municipalities, "schools_per_municipality": schools_per_municipality,
                        "note": "copies of one generated municipality; its truth holds for every copy "
                                "with the ids prefixed (M001-, M002-, ...)"},
             "municipality_M001": truth}
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, default=str), encoding="utf-8")
    return RegionInfo(out, n_municipalities, n_municipalities * schools_per_municipality, rows,
                      round(t1 - t0, 1), round(t2 - t1, 1))


def _copy_table(con, src: Path, dst: Path, name: str, cols: tuple[str, ...], n: int) -> int:
    if name in SHARED:
        shutil.copyfile(src, dst)
        return con.execute(f"SELECT count(*) FROM read_csv({lit(str(src))}, header=true, all_varchar=true)").fetchone()[0]
    tag = "('M' || lpad(CAST(r.m + 1 AS VARCHAR), 3, '0'))"
    sel = []
    for c in cols:
        if c in ID_COLUMNS:
            sel.append(f"CASE WHEN b.{q(c)} IS NULL THEN NULL ELSE {tag} || '-' || b.{q(c)} END AS {q(c)}")
        elif c == "target_ids":  # a list of ids, separated by "," or ";" (grades and subjects are not ids)
            sel.append(f"CASE WHEN b.target_type IN ('class', 'teacher', 'student', 'school') "
                       f"THEN regexp_replace(b.{q(c)}, '([^,; ]+)', {tag} || '-\\1', 'g') ELSE b.{q(c)} END AS {q(c)}")
        elif c == "municipality":
            sel.append(f"'Муниципалитет ' || {tag} AS {q(c)}")
        else:
            sel.append(f"b.{q(c)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE b AS SELECT * FROM read_csv({lit(str(src))}, header=true, "
                "all_varchar=true)")
    n_rows = con.execute("SELECT count(*) FROM b").fetchone()[0]
    # one municipality after another, as a region's export concatenated from its schools' files would be
    part = dst.with_name(dst.name + ".part")
    with open(dst, "wb") as fh:
        for m in range(int(n)):
            con.execute(f"COPY (SELECT {', '.join(sel)} FROM b, (SELECT {m} AS m) r) TO {lit(str(part))} "
                        f"(HEADER {'true' if m == 0 else 'false'}, DELIMITER ',', QUOTE '\"')")
            with open(part, "rb") as src_fh:
                shutil.copyfileobj(src_fh, fh, 16 * 2**20)
    part.unlink(missing_ok=True)
    return n_rows * int(n)
