"""End-to-end time of one school (ingest excluded), against the floor of this stack.

Ours: `run_school` (papermill, every chapter) + the HTML book build.
Floor, measured in the same run (issue 17's definition): papermill executing the
same number of notebooks that only import the package and read the warehouse
(one query of the school's year marks), with the same parallel layout (the same
code path) + a jupyter-book build of the same number of pages. The ratio ours/floor is
the figure (aim: <= 1.5). A second, higher floor ("пол+импорт") also runs each chapter's real import cell
and renders one trivial figure: the part of ours above it is our analyses' own compute and figures. Also the batch throughput for the sample
municipality with 1 and 2 workers (skip with --no-batch).

    python bench/bench_pipeline.py [--no-batch]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from vsoko_toolkit import ingest
from vsoko_toolkit.pipeline.batch import run_batch
from vsoko_toolkit.pipeline.book import build_book
from vsoko_toolkit.pipeline.chapters import CHAPTERS, notebook_dir
from vsoko_toolkit.pipeline.demo import demo_school, sample_folder
from vsoko_toolkit.pipeline.run import run_school

ROOT = Path(__file__).resolve().parents[1]


def empty_notebooks(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for ch in CHAPTERS:
        nb = nbformat.v4.new_notebook()
        nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {ch.title}"),
                    nbformat.v4.new_code_cell('db = ""\nschool_id = ""\nyear = 0\nprofile = ""\nout_dir = ""',
                                              metadata={"tags": ["parameters"]}),
                    # the floor of issue 17: a chapter that only imports the package and reads the warehouse
                    nbformat.v4.new_code_cell(
                        "from vsoko_toolkit.pipeline.context import RunContext\n"
                        f"ctx = RunContext.open(db, school_id, year, profile, out_dir, chapter={ch.stem!r})\n"
                        "ctx.wh.execute('SELECT count(*), avg(mark_value) FROM period_marks "
                        "WHERE school_id = ? AND year = ?', [school_id, year]).fetchone()")]
        nbformat.write(nb, folder / f"{ch.stem}.ipynb")
    return folder


def import_notebooks(folder: Path) -> Path:
    """A second, higher floor: each real chapter's parameters and import cells (the package's analysis modules
    and what they load: scipy.stats, statsmodels, ...), the floor's warehouse read, and one trivial figure
    rendered by the inline backend. What ours spends above this is our analyses' own compute and figures."""
    folder.mkdir(parents=True, exist_ok=True)
    src = notebook_dir()
    for ch in CHAPTERS:
        real = nbformat.read(src / f"{ch.stem}.ipynb", as_version=4)
        cells = []
        for cell in real.cells:
            cells.append(cell)
            if cell.cell_type == "code" and "RunContext.open" in cell.source:
                break
        cells.append(nbformat.v4.new_code_cell(
            "ctx.wh.execute('SELECT count(*), avg(mark_value) FROM period_marks "
            "WHERE school_id = ? AND year = ?', [school_id, year]).fetchone()\n"
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(figsize=(7, 3))\nax.plot([0, 1, 2], [1, 0, 2])\nax.set_title('Диаграмма');"))
        nb = nbformat.v4.new_notebook()
        nb.metadata = real.metadata
        nb.cells = cells
        nbformat.write(nb, folder / f"{ch.stem}.ipynb")
    return folder


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    res = fn(*a, **k)
    return res, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-batch", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = sample_folder(tmp)
        db = tmp / "w.duckdb"
        ingest(data, db)
        school, year = demo_school(data, db)

        ours, t_run = timed(run_school, db, school, year, "internal", tmp / "ours")
        book, t_book = timed(build_book, ours.run_dir, pdf=False)
        floor, t_frun = timed(run_school, db, school, year, "internal", tmp / "floor",
                              notebooks=empty_notebooks(tmp / "empty"))
        fbook, t_fbook = timed(build_book, floor.run_dir, pdf=False)
        imp, t_irun = timed(run_school, db, school, year, "internal", tmp / "imports",
                            notebooks=import_notebooks(tmp / "imp"))
        ibook, t_ibook = timed(build_book, imp.run_dir, pdf=False)
        kernel = sum(c["seconds"] for c in floor.chapters) / len(floor.chapters)
        per = {c["stem"]: c["seconds"] for c in imp.chapters}
        print(f"школа {school}, {year - 1}/{year}; глав: {len(CHAPTERS)}")
        print(f"{'этап':44}{'наш, с':>10}{'пол, с':>10}{'пол+импорт':>12}")
        print(f"{'выполнение глав (papermill), всего':44}{t_run:>10.1f}{t_frun:>10.1f}{t_irun:>12.1f}")
        print(f"{'  из них запуск ядра и пустая глава, ср.':44}{'':>10}{kernel:>10.1f}")
        for c in ours.chapters:
            print(f"{'  ' + c['stem']:44}{c['seconds']:>10.1f}{'':>10}{per.get(c['stem'], float('nan')):>12.1f}")
        print(f"{'сборка книги (HTML)':44}{t_book:>10.1f}{t_fbook:>10.1f}{t_ibook:>12.1f}")
        total, total_floor, total_imp = t_run + t_book, t_frun + t_fbook, t_irun + t_ibook
        print(f"{'итого':44}{total:>10.1f}{total_floor:>10.1f}{total_imp:>12.1f}")
        print(f"отношение наш / пол: {total / total_floor:.2f} (цель ≤ 1,5)")
        print(f"отношение пол+импорт / пол: {total_imp / total_floor:.2f}; наш / (пол+импорт): "
              f"{total / total_imp:.2f}")
        if not args.no_batch:
            for w in (1, 2):
                out = tmp / f"batch{w}"
                res, t = timed(run_batch, db, year, out, workers=w)
                n = len(res.ran)
                print(f"пакетный запуск, процессов {w}: школ {n} за {t:.0f} с — {n / t * 60:.2f} школ/мин")
                shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
