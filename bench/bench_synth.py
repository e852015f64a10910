"""Benchmark: generate a 50-school x 5-year municipality (target: under a minute).

Prints the generation time (simulation + writing every CSV), rows and megabytes written,
peak memory (resident set size of this process), and next to it a baseline measured in
the same run: plain ``pandas.DataFrame.to_csv`` of the same number of rows of random
data (5 columns shaped like ``period_marks``).

Usage::

    python bench/bench_synth.py [--schools 50] [--years 5] [--seed 1] [--no-baseline]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vsoko_toolkit.synth import generate_municipality


def _peak_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20


def _rows_and_mb(folder: Path) -> tuple[int, float]:
    rows, size = 0, 0
    for p in folder.glob("*.csv"):
        size += p.stat().st_size
        with open(p, "rb") as fh:
            rows += sum(1 for _ in fh) - 1
    return rows, size / 1e6


def baseline(n_rows: int, folder: Path) -> float:
    """Seconds to write ``n_rows`` random rows with pandas ``to_csv``."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "student_id": pd.Series(rng.integers(0, 10**6, n_rows)).map("{:06d}".format),
        "class_id": rng.choice(np.array([f"S{i:02d}-2025-{g}А" for i in range(50) for g in range(1, 12)]), n_rows),
        "subject": rng.choice(np.array(["Математика", "Русский язык", "История"]), n_rows),
        "period": rng.choice(np.array(["q1", "q2", "q3", "q4", "year"]), n_rows),
        "mark": rng.integers(2, 6, n_rows),
    })
    t = time.perf_counter()
    df.to_csv(folder / "baseline.csv", index=False)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schools", type=int, default=50)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vsoko-bench-"))
    try:
        t = time.perf_counter()
        generate_municipality(work / "muni", n_schools=args.schools, n_years=args.years, seed=args.seed)
        gen = time.perf_counter() - t
        peak = _peak_mb()
        rows, mb = _rows_and_mb(work / "muni")
        print(f"synth {args.schools} schools x {args.years} years (seed {args.seed}):")
        print(f"  time        {gen:8.1f} s   (target < 60 s)")
        print(f"  rows        {rows:12,d}   ({rows / gen:,.0f} rows/s)")
        print(f"  written     {mb:8.1f} MB")
        print(f"  peak RSS    {peak:8.0f} MB")
        if not args.no_baseline:
            base = baseline(rows, work)
            print(f"baseline: pandas to_csv of {rows:,d} random rows (5 columns)")
            print(f"  time        {base:8.1f} s   ({rows / base:,.0f} rows/s)")
            print(f"  synth / baseline = {gen / base:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
