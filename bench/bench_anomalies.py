"""Score anomalies for one school of a larger municipality, against the floor of reading its data.

Ours: ``score_anomalies`` (bunching tests, the context regression and the difference-in-change
check of every work against every other school of the municipality, with the usual spread of
changes estimated over all schools). Floor, measured in the same run: the single DuckDB
aggregation those checks start from (n, mean, sd per class x work x year for the municipality).
The difference in change pools schools through sufficient statistics (N, Σx, Σx², Σn²), so the
time should grow with the number of schools roughly like the floor does.

    python bench/bench_anomalies.py [--schools 20] [--years 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from vsoko_toolkit import ingest
from vsoko_toolkit.analysis.anomalies import _school_means, score_anomalies
from vsoko_toolkit.synth import generate_municipality


def best_of(n: int, fn, *a):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn(*a)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schools", type=int, default=20)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_municipality(tmp / "m", n_schools=args.schools, n_years=args.years, seed=7)
        ingest(tmp / "m", tmp / "w.duckdb")
        con = duckdb.connect(str(tmp / "w.duckdb"), read_only=True)
        year = con.execute("SELECT max(year) FROM assessments").fetchone()[0]
        n = con.execute("SELECT count(*) FROM assessments WHERE year >= ?", [year - 1]).fetchone()[0]
        kinds = [r[0] for r in con.execute("SELECT DISTINCT kind FROM assessments").fetchall()]
        ours = best_of(args.repeat, score_anomalies, con, "S01", year)
        floor = best_of(args.repeat, _school_means, con, "S01", year, kinds)
        print(f"score anomalies, one school of {args.schools} ({n:,d} work results in {year - 1}-{year}), "
              f"best of {args.repeat}:")
        print(f"  ours   {ours:8.2f} s")
        print(f"  floor  {floor:8.2f} s   (one DuckDB aggregation of the municipality's scores)")
        print(f"  ratio  {ours / floor:8.1f}x")


if __name__ == "__main__":
    main()
