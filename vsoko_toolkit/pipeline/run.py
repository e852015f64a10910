"""`vsoko run`: execute the chapter notebooks for one school and year with papermill.

Output layout of ``OUT/S/Y/``::

    notebooks/NN_*.ipynb   executed chapters (with outputs; failures kept, with the error)
    parts/NN_*.json        each chapter's findings, evaluations and skips
    tables/*.csv           each analysis's main table (privacy-filtered in the public profile)
    findings.json          everything, in the findings contract (validated against its JSON schema)
    run.json               what ran, its status, timings (read by the book builder)
    action_plan.xlsx       the action plan, shaped like decisions.csv
    cyclogram.yaml         the school's own cyclogram, when one was passed (the methods chapter renders it)
    site/                  public profile: files for the school's site (:mod:`.site`)
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import __version__
from ..errors import check_option
from ..findings import merge_parts, validate_document
from .chapters import CHAPTERS, LATE, Chapter, notebook_dir
from .context import PROFILES


@dataclass
class RunResult:
    run_dir: Path
    chapters: list[dict]
    findings_path: Path

    @property
    def ok(self) -> bool:
        return all(c["status"] != "failed" for c in self.chapters)

    @property
    def failed(self) -> list[dict]:
        return [c for c in self.chapters if c["status"] == "failed"]


def school_name(db, school_id: str) -> str:
    from ..warehouse.store import connect

    con = connect(db)
    try:
        row = con.execute("SELECT name FROM schools WHERE school_id = ?", [school_id]).fetchone()
    finally:
        con.close()
    if row is None:
        from ..errors import FatalInputError

        raise FatalInputError(f"Школы {school_id} нет в хранилище {db}. Посмотрите список школ: vsoko info --db {db}")
    return row[0]


def run_school(db, school_id: str, year: int, profile: str, out, chapters: tuple[Chapter, ...] = CHAPTERS,
               progress: bool = False, kernel_name: str = "python3", notebooks=None,
               workers: int | None = None, extract_dir=None, cyclogram=None,
               site: bool | None = None) -> RunResult:
    """Execute every chapter for ``school_id`` and ``year`` into ``out/school_id/year``.

    A failing chapter does not stop the others: its executed notebook keeps the
    error, ``run.json`` records which cell and which error, and the book shows it.
    Chapters that do not read other chapters' findings run in ``workers``
    processes (default: the number of CPUs), the longest first; then the synthesis and methods chapters side by
    side, and the summary last (:data:`~vsoko_toolkit.pipeline.chapters.LATE`).

    When the warehouse holds several municipalities (a region), the chapters read an extract of the school's
    municipality (:func:`vsoko_toolkit.warehouse.extract.municipality_db`, cached in ``extract_dir``, by default
    beside the warehouse): the school is compared with its municipality, and no chapter scans the region.

    ``cyclogram``: the school's own cyclogram YAML (checked before anything runs; default: the package's,
    :mod:`vsoko_toolkit.cycle`). ``site`` (default: for the public profile) writes ``site/`` — the files for the
    school's site (:func:`.site.publish_site`).
    """
    from ..warehouse.extract import municipality_db

    check_option("profile", profile, PROFILES)
    db, out = Path(db).resolve(), Path(out).resolve()
    name = school_name(db, school_id)
    db = municipality_db(db, school_id, extract_dir)
    run_dir = out / str(school_id) / str(year)
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    _keep_cyclogram(run_dir, cyclogram, chapters)
    # a chapter reads only what this run wrote: last run's parts and shared results go
    for folder, pattern in (("parts", "*.json"), ("private/results", "*.parquet")):
        for stale in (run_dir / folder).glob(pattern) if (run_dir / folder).exists() else ():
            stale.unlink()
    src_dir = Path(notebooks) if notebooks else notebook_dir()
    params = {"db": str(db), "school_id": str(school_id), "year": int(year), "profile": profile,
              "out_dir": str(run_dir)}
    records = execute_chapters(run_dir, src_dir, chapters, params, kernel_name=kernel_name, progress=progress,
                               workers=workers)
    chapter_list = [records[c.stem] for c in chapters]
    _drop_shared(run_dir)
    doc = collect(run_dir, school_id, year, profile)
    findings_path = run_dir / "findings.json"
    findings_path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    (run_dir / "run.json").write_text(json.dumps(
        {"school_id": str(school_id), "school_name": name, "year": int(year), "profile": profile,
         "toolkit_version": __version__, "warehouse": str(db), "chapters": chapter_list}, ensure_ascii=False, indent=1), encoding="utf-8")
    from ..report.action_plan import write_action_plan

    write_action_plan(doc, run_dir / "action_plan.xlsx", school_id=str(school_id), year=int(year))
    if site if site is not None else profile == "public":
        from .site import publish_site

        publish_site(run_dir)
    return RunResult(run_dir, chapter_list, findings_path)


def _keep_cyclogram(run_dir: Path, cyclogram, chapters) -> None:
    """Check the school's cyclogram and keep it as ``RUN/cyclogram.yaml`` (the methods chapter reads it there);
    without one, last run's copy goes and the chapter uses the default."""
    import shutil

    from ..cycle import RUN_FILE, load_cyclogram

    target = run_dir / RUN_FILE
    if cyclogram is None:
        target.unlink(missing_ok=True)
        return
    load_cyclogram(cyclogram, chapters=[c.stem for c in CHAPTERS] + [c.stem for c in chapters])
    if Path(cyclogram).resolve() != target.resolve():
        shutil.copyfile(cyclogram, target)


def _drop_shared(run_dir: Path) -> None:
    """Remove the results chapters shared within the run (unfiltered tables, e.g. value added by teacher): they
    are for the run, never an output, in either profile."""
    import shutil

    shared = run_dir / "private" / "results"
    shutil.rmtree(shared, ignore_errors=True)
    with contextlib.suppress(OSError):
        (run_dir / "private").rmdir()  # only when nothing else (the internal code map) is there


def execute_chapters(run_dir: Path, src_dir: Path, chapters: tuple[Chapter, ...], params: dict, *,
                     late=LATE, kernel_name: str = "python3", progress: bool = False,
                     workers: int | None = None) -> dict[str, dict]:
    """Execute ``chapters`` (notebooks of ``src_dir``) with ``params`` into ``run_dir/notebooks``: the chapters not
    in ``late`` in ``workers`` processes, the longest first (``Chapter.cost``), then the ``late`` stages one after
    another, the chapters of a stage side by side (they read the earlier chapters' parts; see
    :data:`~vsoko_toolkit.pipeline.chapters.LATE`). Returns {stem: record}; a chapter whose part holds only skips
    is marked ``skipped``."""
    stages = [((stage,) if isinstance(stage, str) else tuple(stage)) for stage in late]
    stages = [tuple(s for s in stage if any(c.stem == s for c in chapters)) for stage in stages]
    in_late = {s for stage in stages for s in stage}
    early = sorted((c for c in chapters if c.stem not in in_late), key=lambda c: -c.cost)  # stable: book order ties
    by_stem = {c.stem: c for c in chapters}
    jobs = {c.stem: (str(src_dir / f"{c.stem}.ipynb"), str(run_dir / "notebooks" / f"{c.stem}.ipynb"), params,
                     kernel_name, str(run_dir / "notebooks"), c.stem, c.title) for c in chapters}
    records: dict[str, dict] = {}
    bar = _bar(progress, len(chapters))
    waves = [[c.stem for c in early]] + [list(stage) for stage in stages if stage]
    workers = max(1, min(workers or os.cpu_count() or 1, max(len(w) for w in waves)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    jobs = {stem: (*job, threads) for stem, job in jobs.items()}
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            for wave in waves:
                futures = {pool.submit(_execute, *jobs[stem]): stem for stem in wave}
                for fut in as_completed(futures):
                    rec = fut.result()
                    records[rec["stem"]] = rec
                    bar(rec["title"])
    else:
        for wave in waves:
            for stem in wave:
                bar(by_stem[stem].title)
                records[stem] = _execute(*jobs[stem])
    for stem, rec in records.items():
        if rec["status"] == "ok" and _only_skips(run_dir, stem):
            rec["status"] = "skipped"
    bar(None)
    return records


#: Thread-pool variables of the numerical libraries a kernel loads (OpenBLAS, MKL, OpenMP, numexpr).
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def kernel_threads(threads: int):
    """The kernel started inside gets ``threads`` BLAS/OpenMP threads (a variable already set wins); the
    environment is restored after. Chapters side by side on all cores, each with a BLAS pool of all cores,
    oversubscribe the CPU: on the sample, chapters 03 + 05 took 11.0 s of wall time with the default pools and
    7.2 s with one thread each (the kernel inherits the environment)."""
    added = [name for name in THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = str(int(threads))
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _execute(src: str, dst: str, params: dict, kernel_name: str, cwd: str, stem: str, title: str,
             threads: int = 1) -> dict:
    """Execute one chapter; a failure is recorded (which cell, which error), never raised."""
    import papermill as pm

    t0 = time.perf_counter()
    rec = {"file": f"notebooks/{stem}.ipynb", "stem": stem, "title": title, "status": "ok", "error": None}
    log_dir = Path(cwd).parent / "logs"
    log_dir.mkdir(exist_ok=True)
    saved = os.dup(2)
    with open(log_dir / f"{stem}.log", "w") as log:  # the kernel's own chatter goes to the chapter's log
        os.dup2(log.fileno(), 2)
        try:
            with kernel_threads(threads):
                _papermill(pm, src, dst, params, kernel_name, cwd, rec)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    rec["seconds"] = round(time.perf_counter() - t0, 2)
    return rec


#: A kernel that died before it answered never ran a cell: typically two processes starting kernels at once picked
#: the same free TCP port (jupyter_client's port choice races; seen in a 2-worker batch). Such a start is retried.
KERNEL_START_RETRIES = 2


def _papermill(pm, src, dst, params, kernel_name, cwd, rec) -> None:
    for attempt in range(KERNEL_START_RETRIES + 1):
        try:
            pm.execute_notebook(src, dst, parameters=params, kernel_name=kernel_name, progress_bar=False, cwd=cwd,
                                log_output=False)
            return
        except pm.PapermillExecutionError as exc:
            rec.update(status="failed", error={"cell": exc.exec_count, "cell_index": exc.cell_index,
                                               "ename": exc.ename, "evalue": exc.evalue})
            return
        except Exception as exc:  # kernel died, notebook missing: the chapter failed, the run goes on
            if "before replying to kernel_info" in str(exc) and attempt < KERNEL_START_RETRIES:
                rec["kernel_start_retries"] = attempt + 1
                time.sleep(0.5 * (attempt + 1))
                continue
            rec.update(status="failed", error={"cell": None, "cell_index": None, "ename": type(exc).__name__,
                                               "evalue": str(exc)})
            return


def _only_skips(run_dir: Path, stem: str) -> bool:
    part = run_dir / "parts" / f"{stem}.json"
    if not part.exists():
        return False
    p = json.loads(part.read_text(encoding="utf-8"))
    return bool(p["skipped"]) and not p["findings"] and not p["decision_evaluations"] and not p.get("tables")


def collect(run_dir: Path, school_id: str, year: int, profile: str) -> dict:
    """Gather every chapter's part into one findings document (validated against the contract's schema)."""
    doc = {"school_id": str(school_id), "year": int(year), "toolkit_version": __version__, "profile": profile,
           "findings": [], "decision_evaluations": [], "skipped": []}
    parts = [json.loads(part.read_text(encoding="utf-8")) for part in sorted((run_dir / "parts").glob("*.json"))]
    for k, v in merge_parts(parts).items():
        doc[k] = v
    validate_document(doc)
    return doc


def _bar(enabled: bool, total: int):
    if not enabled:
        return lambda _msg: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=True)
    task = prog.add_task("", total=total)
    state = {"started": False}

    def step(msg):
        if msg is None:
            prog.update(task, completed=total)
            prog.stop()
            return
        if not state["started"]:
            prog.start()
            state["started"] = True
        else:
            prog.advance(task)
        prog.update(task, description=msg)

    return step


def read_notebook(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)
