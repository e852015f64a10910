"""`vsoko run`: chapters executed by papermill, findings collected, failures isolated."""

from __future__ import annotations

import json
import os
import shutil

import nbformat
import openpyxl
import pytest
from conftest import MINI, write_folder
from typer.testing import CliRunner

from vsoko_toolkit import ingest
from vsoko_toolkit.cli import app
from vsoko_toolkit.findings import validate_document
from vsoko_toolkit.pipeline.chapters import CHAPTERS, notebook_dir
from vsoko_toolkit.pipeline.run import run_school


@pytest.fixture(scope="module")
def mini_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    ingest(write_folder(tmp / "data", MINI), tmp / "w.duckdb")
    return tmp / "w.duckdb"


@pytest.fixture(scope="module")
def mini_run(mini_db, tmp_path_factory):
    return run_school(mini_db, "S01", 2025, "internal", tmp_path_factory.mktemp("out"))


def test_run_writes_the_contracted_outputs(mini_run):
    d = mini_run.run_dir
    assert d.name == "2025" and d.parent.name == "S01"
    doc = json.loads((d / "findings.json").read_text(encoding="utf-8"))
    validate_document(doc)
    assert doc["school_id"] == "S01" and doc["year"] == 2025
    # not-built analyses are listed, never silent
    assert {"decision_effects", "risk_groups"} <= {s["analysis"] for s in doc["skipped"]}
    run = json.loads((d / "run.json").read_text(encoding="utf-8"))
    assert [c["title"] for c in run["chapters"]] == [c.title for c in CHAPTERS]
    assert mini_run.ok, mini_run.failed
    assert (d / "tables" / "year_metrics.csv").exists() and (d / "tables" / "context.csv").exists()
    wb = openpyxl.load_workbook(d / "action_plan.xlsx")
    assert wb.worksheets[0].cell(1, 1).value == "№ решения"


def test_glued_numbers_come_from_the_computation(mini_run):
    nb = nbformat.read(mini_run.run_dir / "notebooks" / "03_results.ipynb", as_version=4)
    glued = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get("scrapbook", {})
            if meta:
                glued[meta["name"]] = out["data"][meta["mime_prefix"] + "text/plain"]
    # 3 numeric year marks in MINI (5, 3, 4) and one н/а: success 100 %, quality 2/3
    assert glued["n_marks"] == "'3'" and glued["n_non_numeric"] == "'1'"
    assert glued["quality"].startswith("'66,7") and glued["success"].startswith("'100,0")


def test_a_failing_chapter_does_not_stop_the_others(mini_db, tmp_path):
    src = tmp_path / "nb"
    shutil.copytree(notebook_dir(), src)
    nb = nbformat.read(src / "03_results.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("raise ValueError('сломано нарочно')"))
    nbformat.write(nb, src / "03_results.ipynb")
    chapters = tuple(c for c in CHAPTERS if c.stem in ("02_context", "03_results", "10_methods"))
    res = run_school(mini_db, "S01", 2025, "internal", tmp_path / "out", chapters=chapters, notebooks=src)
    status = {c["stem"]: c["status"] for c in res.chapters}
    assert status == {"02_context": "ok", "03_results": "failed", "10_methods": "ok"}
    err = res.failed[0]["error"]
    assert err["ename"] == "ValueError" and "сломано" in err["evalue"] and err["cell"] is not None
    assert not res.ok


def test_cli_run_exit_code_and_unknown_school(mini_db, tmp_path):
    r = CliRunner().invoke(app, ["run", "--db", str(mini_db), "--school", "S99", "--year", "2025",
                                 "--out", str(tmp_path), "--no-progress"])
    assert r.exit_code == 2 and "S99" in r.output


class _RacingPapermill:
    """papermill whose first ``fail`` kernel starts die as a lost port race does (the real race needs two
    processes picking the same free port; it was seen in a 2-worker region batch, bench/bench_region.py)."""

    class PapermillExecutionError(Exception):
        pass

    def __init__(self, fail: int):
        self.fail, self.calls = fail, 0

    def execute_notebook(self, *a, **k):
        self.calls += 1
        if self.calls <= self.fail:
            raise RuntimeError("Kernel died before replying to kernel_info")


def test_a_kernel_that_died_before_starting_is_started_again():
    from vsoko_toolkit.pipeline.run import KERNEL_START_RETRIES, _papermill

    pm, rec = _RacingPapermill(fail=1), {"status": "ok", "error": None}
    _papermill(pm, "a", "b", {}, "python3", ".", rec)
    assert rec["status"] == "ok" and rec["kernel_start_retries"] == 1 and pm.calls == 2
    pm, rec = _RacingPapermill(fail=KERNEL_START_RETRIES + 1), {"status": "ok", "error": None}
    _papermill(pm, "a", "b", {}, "python3", ".", rec)
    assert rec["status"] == "failed" and "kernel_info" in rec["error"]["evalue"]
    assert pm.calls == KERNEL_START_RETRIES + 1


def test_results_shared_between_chapters_are_not_left_in_the_output(mini_run):
    """Chapter 05 shares its unfiltered value-added table with chapter 09 during the run; it is never an output."""
    assert not (mini_run.run_dir / "private" / "results").exists()
    assert not list(mini_run.run_dir.rglob("*.parquet"))


def test_chapters_run_longest_first_and_late_stages_wait_for_the_earlier_ones(tmp_path):
    """Early chapters start longest first; the chapters of a late stage run side by side, after every earlier
    chapter has finished; the next stage waits for them (the summary reads the synthesis)."""
    from vsoko_toolkit.pipeline.chapters import Chapter
    from vsoko_toolkit.pipeline.run import execute_chapters

    src = tmp_path / "nb"
    src.mkdir()
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    chapters = (Chapter("a", "A", 1), Chapter("b", "B", 5), Chapter("c", "C", 3), Chapter("s", "S"),
                Chapter("m", "M"), Chapter("z", "Z"))
    for ch in chapters:
        nb = nbformat.v4.new_notebook()
        nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        nb.cells = [nbformat.v4.new_code_cell("stamps = ''", metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell(
                        "import os, time, pathlib\n"
                        f"p = pathlib.Path(stamps) / {ch.stem!r}\n"
                        "t0 = time.time(); time.sleep(1.0)\n"
                        "p.write_text(f'{t0} {time.time()} {os.environ.get(\"OPENBLAS_NUM_THREADS\")}')")]
        nbformat.write(nb, src / f"{ch.stem}.ipynb")
    run_dir = tmp_path / "run"
    (run_dir / "notebooks").mkdir(parents=True)
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    records = execute_chapters(run_dir, src, chapters, {"stamps": str(stamps)}, late=(("s", "m"), ("z",)),
                               workers=2)
    assert {r["status"] for r in records.values()} == {"ok"}
    assert os.environ.get("OPENBLAS_NUM_THREADS") == before  # the caller's environment is left as it was
    threads = {p.read_text().split()[2] for p in stamps.iterdir()}  # two kernels at a time share the cores
    assert threads == {before or str(max(1, (os.cpu_count() or 1) // 2))}
    t = {p.name: tuple(map(float, p.read_text().split()[:2])) for p in stamps.iterdir()}
    assert t["b"][0] < t["a"][0] and t["c"][0] < t["a"][0]  # 'a' (cheapest) was not among the first two
    early_end = max(t[s][1] for s in "abc")
    assert min(t["s"][0], t["m"][0]) >= early_end
    assert t["s"][0] < t["m"][1] and t["m"][0] < t["s"][1]  # side by side
    assert t["z"][0] >= max(t["s"][1], t["m"][1])
