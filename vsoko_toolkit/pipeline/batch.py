"""`vsoko batch`: every school of a year, in parallel, with a content-hash cache.

Schools run in a local process pool, or on a dask.distributed cluster when a
scheduler address is given. One school's failure never stops the others; it is
listed at the end. A school is skipped when a successful run with the same
cache key exists: the key hashes the toolkit's code and notebooks, the
data up to that year the school's run reads (all schools of its municipality —
comparisons are municipal; on a region's warehouse, its municipality's
extract), the school, the year and the profile.

Before the schools run, the models all schools of a municipality share (the municipal value-added fits) are
fitted once per municipality (:func:`shared_fits`); after them, the regional roll-up
(:mod:`vsoko_toolkit.analysis.regional`) is computed once from their findings into ``OUT/_rollup/<year>/``.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..contract.normalize import q
from ..contract.spec import TABLES
from .chapters import CHAPTERS, notebook_dir
from .run import kernel_threads, run_school

STAMP = "cache_key.txt"
PACKAGE = Path(__file__).resolve().parents[1]


@dataclass
class BatchResult:
    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # school -> what went wrong (Russian or the error)
    rollup: Path | None = None  # the regional roll-up's XLSX (OUT/_rollup/<year>/rollup.xlsx)
    rollup_error: str | None = None  # why the roll-up could not be written (the schools' results stand)

    @property
    def ok(self) -> bool:
        return not self.failed


def code_hash(notebooks: Path | None = None) -> str:
    h = hashlib.sha256()
    roots = [PACKAGE, Path(notebooks) if notebooks else notebook_dir()]
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.suffix in (".py", ".yaml", ".json", ".ipynb", ".tex", ".css", ".md") and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def data_hash(db, year: int) -> str:
    """Order-independent hash of every contract table's rows up to ``year`` (rows with a year column)."""
    from ..warehouse.store import connect

    con = connect(db)
    h = hashlib.sha256()
    try:
        for name in TABLES:
            cols = [c for c, in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND column_name NOT IN ('_source_row', '_source_file')", [name]).fetchall()]
            if not cols:  # a warehouse made before this table joined the contract (an optional table)
                h.update(f"{name}:absent;".encode())
                continue
            where = f"WHERE year <= {int(year)}" if "year" in cols else ""
            row = con.execute(f"SELECT count(*), coalesce(sum(hash(struct_pack({', '.join(map(q, cols))}))::HUGEINT), 0) "
                              f"FROM {q(name)} {where}").fetchone()
            h.update(f"{name}:{row[0]}:{row[1]};".encode())
    finally:
        con.close()
    return h.hexdigest()


def schools_of(db, year: int) -> list[str]:
    from ..warehouse.store import connect

    con = connect(db)
    try:
        return [r[0] for r in con.execute("SELECT DISTINCT school_id FROM classes WHERE year = ? ORDER BY 1",
                                          [int(year)]).fetchall()]
    finally:
        con.close()


def _one(db: str, school: str, year: int, profile: str, out: str, key: str, chapters, notebooks,
         cyclogram=None, threads: int = 1) -> tuple[str, str | None]:
    """Run one school; return (school, None) on success or (school, error text). Schools run side by side, so
    each school's kernels get ``threads`` BLAS threads (:func:`~.run.kernel_threads`; on a dask worker the
    environment is restored after)."""
    try:
        with kernel_threads(threads):
            res = run_school(db, school, year, profile, out, chapters=chapters, notebooks=notebooks, workers=1,
                             cyclogram=cyclogram)
    except Exception as exc:  # noqa: BLE001 - a school's failure is reported, never propagated
        return school, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    if not res.ok:
        return school, "; ".join(f"глава «{c['title']}»: {c['error']['ename']}: {c['error']['evalue']}"
                                 for c in res.failed)
    (res.run_dir / STAMP).write_text(key, encoding="utf-8")
    return school, None


def run_batch(db, year: int, out, schools=None, profile: str = "internal", workers: int = 2,
              scheduler: str | None = None, progress: bool = False, chapters=CHAPTERS, notebooks=None,
              rollup: bool = True, cyclogram=None) -> BatchResult:
    """Run every school (or ``schools``) of ``year``; see the module docstring."""
    db, out = str(Path(db).resolve()), str(Path(out).resolve())
    schools = list(schools) if schools else schools_of(db, year)
    code = code_hash(notebooks)
    # a school reads its municipality (the extract, on a region's warehouse): the key hashes that data only
    reads = _extract_municipalities(db, schools, None)
    hashes: dict[str, str] = {}
    result = BatchResult()
    todo = []
    cycles = cyclograms_of(cyclogram, schools, chapters)
    threads = 1 if scheduler else max(1, (os.cpu_count() or 1) // max(1, workers))  # dask: a worker per core
    for s in schools:
        src = reads.get(s, db)
        if src not in hashes:
            hashes[src] = data_hash(src, year)
        cyc = hashlib.sha256(Path(cycles[s]).read_bytes()).hexdigest() if cycles[s] else ""
        key = hashlib.sha256(f"{code}|{hashes[src]}|{year}|{profile}|{s}|{cyc}".encode()).hexdigest()
        stamp = Path(out) / s / str(year) / STAMP
        if stamp.exists() and stamp.read_text(encoding="utf-8") == key:
            result.cached.append(s)
        else:
            todo.append((db, s, int(year), profile, out, key, chapters, notebooks, cycles[s], threads))
    # the models every school of a municipality shares are fitted once, before its schools run; on a region only
    # the extracts (a school without one fails on its own: never fit the whole region for it)
    shared = sorted({reads[a[1]] for a in todo if a[1] in reads} if reads else {db} if todo else set())
    bar = _progress(progress, len(todo))
    if scheduler:
        from distributed import Client
        from distributed import as_completed as dask_completed

        with Client(scheduler) as client:
            client.gather([client.submit(shared_fits, src, int(year), pure=False, key=f"vsoko-fits-{i}-{year}")
                           for i, src in enumerate(shared)])
            futures = [client.submit(_one, *args, pure=False, key=f"vsoko-{args[1]}-{year}") for args in todo]
            for fut in dask_completed(futures):
                _record(result, *fut.result())
                bar()
    else:
        # spawned with the thread limit in their environment: the shared fits' BLAS pools, and the kernels', get
        # one share of the cores each (a forked worker would keep this process's pool of all cores)
        with kernel_threads(threads), ProcessPoolExecutor(max_workers=max(1, workers),
                                                           mp_context=mp.get_context("spawn")) as pool:
            list(pool.map(shared_fits, shared, [int(year)] * len(shared)))
            for fut in as_completed([pool.submit(_one, *args) for args in todo]):
                _record(result, *fut.result())
                bar()
    bar(done=True)
    if rollup:
        try:
            result.rollup = write_region_rollup(db, year, out, failed=set(result.failed))
        except Exception:  # noqa: BLE001 - the schools' results stand; the roll-up's failure is reported
            result.rollup_error = traceback.format_exc()
    return result


def cyclograms_of(cyclogram, schools: list[str], chapters) -> dict[str, str | None]:
    """The cyclogram each school's run keeps: ``cyclogram`` a YAML file — every school's; a folder — the school's
    ``<school_id>.yaml`` there, else ``default.yaml`` there, else the package's; None — the package's. Every file
    is checked before any school runs (:func:`vsoko_toolkit.cycle.load_cyclogram`)."""
    from ..cycle import load_cyclogram

    if cyclogram is None:
        return dict.fromkeys(schools)
    path = Path(cyclogram)
    if path.is_dir():
        default = path / "default.yaml"
        found = {s: (path / f"{s}.yaml") if (path / f"{s}.yaml").is_file() else default if default.is_file()
                 else None for s in schools}
    else:
        found = dict.fromkeys(schools, path)
    stems = [c.stem for c in CHAPTERS] + [c.stem for c in chapters]
    for file in {f for f in found.values() if f is not None}:
        load_cyclogram(file, chapters=stems)
    return {s: str(f.resolve()) if f is not None else None for s, f in found.items()}


def shared_fits(db: str, year: int) -> str | None:
    """Fit the models every school of the municipality in ``db`` shares (the municipal value-added models of
    both outcomes), so that its schools read them from the fit cache (:mod:`vsoko_toolkit.warehouse.fitcache`)
    instead of the first schools fitting them side by side. A failure here is left for the schools' own runs
    to report; returns its text, or None."""
    from ..analysis.value_added import external_reason, municipal_effects
    from ..warehouse.store import connect

    try:
        con = connect(db)
    except Exception:  # noqa: BLE001 - the schools report a missing warehouse themselves
        return traceback.format_exc()
    try:
        for outcome in ("journal", "external"):
            if outcome == "external" and external_reason(con):
                continue
            municipal_effects(con, int(year), outcome)
        return None
    except Exception:  # noqa: BLE001 - same: each school's run fails on its own, with the chapter's error
        return traceback.format_exc()
    finally:
        con.close()


def write_region_rollup(db: str, year: int, out, failed=frozenset()) -> Path | None:
    """The regional roll-up (:mod:`vsoko_toolkit.analysis.regional`) into ``OUT/_rollup/<year>/``, computed once
    from the schools' findings; returns the XLSX, or None when no school has a successful run.

    It covers every school of the year under ``OUT`` whose last run succeeded (its cache stamp is written only
    then) and did not fail in this batch, so a batch of a few schools updates the region's roll-up instead of
    replacing it with theirs, and a failed school's partial or older findings are never counted."""
    import pandas as pd

    from ..analysis.regional import read_findings, regional_rollup
    from ..report.regional import write_rollup
    from ..warehouse.extract import municipalities
    from ..warehouse.store import connect

    con = connect(db)
    try:
        groups = municipalities(con)
    finally:
        con.close()
    of = {s: m for m, members in groups.items() for s in members}
    schools = schools_of(db, year)
    table = pd.DataFrame({"school_id": schools, "municipality": [of.get(s) or "" for s in schools]})
    ok = {s for s in schools if s not in failed and (Path(out) / s / str(year) / STAMP).is_file()}
    found, analysed = read_findings(out, year, table[table["school_id"].isin(ok)])
    if not analysed:
        return None
    table["analysed"] = table["school_id"].isin(analysed)
    return write_rollup(regional_rollup(found, table, year), Path(out) / "_rollup" / str(year))


def _extract_municipalities(db: str, schools: list[str], cache_dir: Path | None) -> dict[str, str]:
    """On a warehouse of several municipalities, make each municipality's extract once, before the schools run
    in parallel (:func:`vsoko_toolkit.warehouse.extract.cached_extract`); {school: extract}. A school whose
    extract fails is left out, to fail on its own in :func:`_one`."""
    from ..warehouse.extract import cached_extract, municipalities
    from ..warehouse.store import connect

    con = connect(db)
    try:
        groups = municipalities(con)
    finally:
        con.close()
    if len(groups) <= 1:
        return {}
    of = {s: m for m, members in groups.items() for s in members}
    made: dict[str, str] = {}
    for muni in dict.fromkeys(of.get(s) for s in schools):
        if muni is None:
            continue
        try:
            made[muni] = str(cached_extract(db, muni, cache_dir))
        except Exception:  # noqa: BLE001,S110 - reported by the school's own run
            pass
    return {s: made[of[s]] for s in schools if of.get(s) in made}


def _record(result: BatchResult, school: str, error: str | None) -> None:
    if error is None:
        result.ran.append(school)
    else:
        result.failed[school] = error


def _progress(enabled: bool, total: int):
    if not enabled or total == 0:
        return lambda done=False: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("школы"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
    task = prog.add_task("", total=total)
    prog.start()

    def step(done=False):
        if done:
            prog.stop()
        else:
            prog.advance(task)

    return step


def comparable_findings(path) -> list[str]:
    """A run's findings as sorted JSON lines, floats rounded to 6 significant digits: two runs on the same data
    through different warehouses (a region's extract, another worker) compare equal, though the row order of a
    scan may change the last bits of a sum, and an optimizer started from those sums stops within its tolerance
    (the marking offsets of a region's extract and of its municipality alone differ by ~1e-7 relative). p- and
    q-values keep 3 digits: far in a tail (p ~ 1e-40) that difference moves the 5th."""

    def norm(v, digits=6):
        if isinstance(v, float):
            return float(f"{v:.{digits}g}")
        if isinstance(v, dict):
            return {k: norm(x, 3 if k in ("p_value", "q_value") else digits) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x, digits) for x in v]
        return v

    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return sorted(json.dumps(norm(f), sort_keys=True, ensure_ascii=False) for f in doc["findings"])


def summary_json(result: BatchResult) -> str:
    return json.dumps({"ran": result.ran, "cached": result.cached, "failed": result.failed}, ensure_ascii=False)
