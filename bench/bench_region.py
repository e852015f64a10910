"""A region on one machine (issue 17): ingest, one school's query and run, batch throughput.

    python bench/bench_region.py                  # 100 municipalities × 10 schools × 5 years (~10^8 journal marks)
    python bench/bench_region.py --quick          # 4 × 3 schools × 3 years
    # options: --municipalities N --schools-per N --years N --batch-schools N --keep DIR --skip-run

What it does, all in one run, printing each figure next to its baseline:

1. writes the region with :func:`vsoko_toolkit.synth.region.write_region` (copies of one generated municipality,
   ids rewritten; the e-journal's current marks in every year);
2. **(a) ingest**: ``vsoko ingest`` of the whole region (every rule checked, rejects kept) in a child process —
   rows/s and peak resident memory — next to DuckDB's raw ``read_csv`` of the same files into a DuckDB file in
   another child process (no checks: the floor);
3. **one school's queries**: the aggregations a school's chapters start from (period marks by class × subject,
   current marks by class, ВПР by class) for one school on the region's warehouse and on a warehouse of that
   school's municipality only (the same rows, ingested from a one-municipality copy of the region);
4. **(b) one school's run**: ``run_school`` (every chapter, no book) on the region's warehouse — which reads
   an extract of the school's municipality, :mod:`vsoko_toolkit.warehouse.extract`, made once — next to the
   same run on the one-municipality warehouse; the extract's own time is printed apart;
5. **(c) batch**: ``run_batch`` of ``--batch-schools`` schools of the region with 1 and 2 workers (findings,
   tables, action plans; no books): schools per minute, the parallel efficiency, and the projected time of
   1,000 schools.

Peak memory of the parent (runs, batch) is printed at the end; the ingest's is its child's.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]


def child(mode: str, folder: str, db: str) -> None:
    t0 = time.perf_counter()
    if mode == "raw":
        con = duckdb.connect(db)
        con.execute("SET memory_limit='2GB'")
        n = 0
        for f in sorted(Path(folder).glob("*.csv")):
            n += con.execute(f"CREATE TABLE \"{f.stem}\" AS SELECT * FROM read_csv('{f}')").fetchone()[0]
        con.close()
    else:
        from vsoko_toolkit import ingest

        rep = ingest(folder, db)
        n = int(rep.tables["read"].sum())
        assert rep.n_rejected == 0, rep.rejects.head()
    secs = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": n, "seconds": secs, "peak_mb": peak_mb}))


def run_child(mode: str, folder: Path, db: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(folder), str(db)],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


QUERIES = {
    "годовые отметки по классам": "SELECT class_id, subject, count(*), avg(mark_value) FROM period_marks "
                                  "WHERE school_id = ? AND year = ? AND period = 'year' GROUP BY ALL",
    "текущие отметки по классам": "SELECT class_id, subject, count(*), avg(mark_value) FROM current_marks "
                                  "WHERE school_id = ? AND year = ? GROUP BY ALL",
    "ВПР по классам": "SELECT class_id, subject, count(*), avg(primary_score) FROM assessments "
                      "WHERE school_id = ? AND year = ? AND kind = 'VPR' GROUP BY ALL",
}


def query_times(db: Path, school: str, year: int, repeat: int = 3) -> dict[str, float]:
    con = duckdb.connect(str(db), read_only=True)
    out = {}
    try:
        for name, sql in QUERIES.items():
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                con.execute(sql, [school, year]).fetchall()
                best = min(best, time.perf_counter() - t0)
            out[name] = best
    finally:
        con.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--municipalities", type=int, default=100)
    ap.add_argument("--schools-per", type=int, default=10)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--batch-schools", type=int, default=4)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-run", action="store_true", help="only (a) and the queries")
    ap.add_argument("--keep", help="work in this folder and keep it")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: reuse the region and warehouses already there, run (b) and (c) only")
    ap.add_argument("--child", nargs=3)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    if a.quick:
        a.municipalities, a.schools_per, a.years = 4, 3, 3
    from vsoko_toolkit import ingest
    from vsoko_toolkit.synth.region import write_region

    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="vsoko-region-", dir=ROOT / "bench"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        if a.reuse and (tmp / "region.duckdb").exists() and (tmp / "one.duckdb").exists():
            _runs(a, tmp)
            return
        t0 = time.perf_counter()
        info = write_region(tmp / "region", a.municipalities, a.schools_per, a.years)
        size = sum(p.stat().st_size for p in (tmp / "region").glob("*.csv")) / 2**30
        print(f"регион: {info.schools} школ в {a.municipalities} муниципалитетах × {a.years} лет; "
              f"{info.total_rows:,} строк ({size:.1f} ГБ CSV), из них текущих отметок "
              f"{info.rows.get('current_marks', 0):,}, годовых/четвертных {info.rows.get('period_marks', 0):,}; "
              f"записан за {time.perf_counter() - t0:.0f} с (модельный муниципалитет {info.seconds_base} с)")
        with duckdb.connect() as con:
            per_year = con.execute(f"SELECT count(DISTINCT student_id) FROM read_csv('{tmp / 'region'}/enrollments.csv')"
                                   ).fetchone()[0]
        print(f"учеников за все годы: {per_year:,}")

        raw = run_child("raw", tmp / "region", tmp / "raw.duckdb")
        (tmp / "raw.duckdb").unlink(missing_ok=True)
        ours = run_child("ingest", tmp / "region", tmp / "region.duckdb")
        print("\n(a) загрузка региона")
        print(f"{'':34}{'строк/с':>12}{'время, с':>10}{'пик памяти, МБ':>16}")
        for label, r in (("DuckDB read_csv (без проверок)", raw), ("vsoko ingest (с проверками)", ours)):
            print(f"{label:34}{r['rows'] / r['seconds']:>12,.0f}{r['seconds']:>10.0f}{r['peak_mb']:>16.0f}")
        print(f"отношение времени: {ours['seconds'] / raw['seconds']:.2f}×; размер хранилища "
              f"{(tmp / 'region.duckdb').stat().st_size / 2**30:.2f} ГБ")

        one = write_region(tmp / "one", 1, a.schools_per, a.years)
        ingest(one.folder, tmp / "one.duckdb")
        school, year = "M001-S01", 2025
        q_region, q_one = query_times(tmp / "region.duckdb", school, year), query_times(tmp / "one.duckdb", school, year)
        print(f"\nзапросы одной школы ({school}, {year}), лучший из 3, мс: регион / один муниципалитет")
        for name in QUERIES:
            print(f"  {name:30}{q_region[name] * 1000:>8.1f}{q_one[name] * 1000:>8.1f}"
                  f"   {q_region[name] / q_one[name]:.1f}×")
        if not a.skip_run:
            _runs(a, tmp)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _runs(a, tmp: Path) -> None:
    from vsoko_toolkit.pipeline.batch import run_batch
    from vsoko_toolkit.pipeline.run import run_school
    from vsoko_toolkit.warehouse.extract import municipality_db

    school, year = "M001-S01", 2025
    _clear_fits(tmp)
    t0 = time.perf_counter()
    municipality_db(tmp / "region.duckdb", school)
    t_extract = time.perf_counter() - t0
    t0 = time.perf_counter()
    res_r = run_school(tmp / "region.duckdb", school, year, "internal", tmp / "runs-region")
    t_region = time.perf_counter() - t0
    t0 = time.perf_counter()
    res_o = run_school(tmp / "one.duckdb", school, year, "internal", tmp / "runs-one")
    t_one = time.perf_counter() - t0
    assert res_r.ok and res_o.ok, (res_r.failed, res_o.failed)
    same = _findings(res_r.findings_path) == _findings(res_o.findings_path)
    print(f"\n(b) одна школа, все главы без книги: регион {t_region:.1f} с (+ выписка муниципалитета "
          f"{t_extract:.1f} с, один раз на муниципалитет) / один муниципалитет {t_one:.1f} с = "
          f"{t_region / t_one:.2f}× (цель ≤ 1,5); выводы совпадают: {'да' if same else 'НЕТ'}")

    schools = [f"M{m + 1:03d}-S{s + 1:02d}" for m in range(a.municipalities) for s in range(a.schools_per)]
    pick = schools[:: max(1, len(schools) // a.batch_schools)][: a.batch_schools]
    rates = {}  # the schools are of different municipalities: each batch makes its extracts (timed)
    for w in (1, 2):
        out = tmp / f"batch{w}"
        shutil.rmtree(out, ignore_errors=True)
        _clear_fits(tmp)  # each batch fits its municipalities' shared models itself (one school per municipality
        t0 = time.perf_counter()  # here: every school pays a whole fit, where a region's ten schools share one)
        res = run_batch(tmp / "region.duckdb", year, out, schools=pick, workers=w)
        secs = time.perf_counter() - t0
        assert res.ok, res.failed
        rates[w] = len(pick) / secs * 60
        print(f"(c) пакет {len(pick)} школ, {w} процесс(а): {secs:.0f} с = {rates[w]:.2f} школ/мин")
    eff = rates[2] / (2 * rates[1])
    print(f"    параллельная эффективность на 2 процессах: {eff:.0%}; 1000 школ на этой машине "
          f"(2 ядра): {1000 / rates[2] / 60:.1f} ч")
    print(f"\nпик памяти процесса (запуски, пакет): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} МБ,"
          f" дочерних: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} МБ")


def _clear_fits(tmp: Path) -> None:
    """Forget the municipal fits kept beside the warehouses and extracts, so every timed run fits cold."""
    for folder in [*tmp.glob("*.fits"), *tmp.glob("*.extracts/*.fits")]:
        shutil.rmtree(folder, ignore_errors=True)


def _findings(path: Path) -> list:
    """The run's findings, comparable across warehouses: floats to 9 significant digits (the row order of a
    scan may change the last bits of a sum)."""
    from vsoko_toolkit.pipeline.batch import comparable_findings

    return comparable_findings(path)


if __name__ == "__main__":
    main()
