"""Run every benchmark script in bench/ and print their figures (each next to its own baseline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["bench_ingest.py", "bench_synth.py", "bench_mixed.py", "bench_anomalies.py", "bench_pipeline.py",
           "bench_municipal.py"]

if __name__ == "__main__":
    for name in SCRIPTS:
        print(f"\n=== {name} ===", flush=True)
        subprocess.run([sys.executable, str(HERE / name)], check=False)
