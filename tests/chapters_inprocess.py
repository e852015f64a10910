"""Execute the school chapters' code in this process: the same cells papermill runs, without kernels.

Used where a test needs many runs of the chapters on variants of the data (the contract matrix):
a papermill run costs ~10 kernel starts; this costs the analyses only. The chapters' parameters
cell is replaced as papermill would replace it; each chapter runs in a fresh namespace, a
failure is recorded (chapter, cell id, error) and the next chapter still runs. The findings are
collected exactly as ``vsoko run`` collects them (``pipeline.run.collect``).
"""

from __future__ import annotations

import contextlib
import io
import json
import traceback
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402

from vsoko_toolkit.pipeline.chapters import CHAPTERS, LATE, late_stems, notebook_dir  # noqa: E402
from vsoko_toolkit.pipeline.run import collect  # noqa: E402


def run_inprocess(db, school_id: str, year: int, out, stems: tuple[str, ...] | None = None,
                  profile: str = "internal") -> dict:
    """Run the chapters (all, or ``stems``; the late ones after the others, as ``run_school`` does) into
    ``out/school_id/year``; return ``{"failed": [{stem, cell, error}], "doc": findings document}``."""
    import matplotlib.pyplot as plt

    run_dir = Path(out) / str(school_id) / str(year)
    (run_dir / "parts").mkdir(parents=True, exist_ok=True)
    for stale in (run_dir / "parts").glob("*.json"):
        stale.unlink()
    params = {"db": str(db), "school_id": str(school_id), "year": int(year), "profile": profile,
              "out_dir": str(run_dir)}
    chosen = [c.stem for c in CHAPTERS if stems is None or c.stem in stems]
    order = [s for s in chosen if s not in late_stems(LATE)] + [s for s in late_stems(LATE) if s in chosen]
    failed = []
    for stem in order:
        nb = nbformat.read(notebook_dir() / f"{stem}.ipynb", as_version=4)
        ns: dict = {}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            src = (";".join(f"{k} = {v!r}" for k, v in params.items())
                   if "parameters" in cell.metadata.get("tags", []) else cell.source)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(src, f"{stem}:{cell.id}", "exec"), ns)  # noqa: S102 - our own notebooks
            except Exception as exc:  # noqa: BLE001 - recorded like run_school records a failed chapter
                failed.append({"stem": stem, "cell": cell.id, "error": f"{type(exc).__name__}: {exc}",
                               "traceback": traceback.format_exc()})
                break
            finally:
                plt.close("all")
    doc = collect(run_dir, school_id, year, profile)
    (run_dir / "findings.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"failed": failed, "doc": doc}
