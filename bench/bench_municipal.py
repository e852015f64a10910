"""`vsoko municipal` end to end on a generated 20-school municipality (HTML + PDF book), against the floor.

Ours: ``run_municipal`` (papermill, the five municipal chapters, findings.json, the action plan) and the
book it builds (HTML and PDF), on a municipality made by the repository's generator and ingested into a
fresh warehouse; the generation and the ingest are timed and printed separately (not in the total).
Measured in the same run:

- floor of the stack: ``run_municipal`` with five chapters that only import ``vsoko_toolkit`` and open
  the warehouse (same papermill layout, same book machinery, HTML + PDF of five trivial pages);
- demo size: ``run_municipal`` on the committed 4-school sample (``data_samples/municipality``).

Then a sanity check of the result: schools flagged per kind in the municipal findings.json and whether the
planted resilient school and the planted threshold peak (the generator's truth.json) are found.

    python bench/bench_municipal.py [--quick] [--schools 20] [--years 4] [--seed 1] [--workers N]
                                    [--no-pdf] [--keep DIR]

``--quick``: 5 schools. Not a timed test: nothing fails on time; it fails only if a chapter fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat
import pandas as pd

from vsoko_toolkit import ingest
from vsoko_toolkit.pipeline.municipal import CHAPTERS, run_municipal
from vsoko_toolkit.synth import generate_municipality

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data_samples" / "municipality"
#: finding kinds that name a school as such (the municipal rules of issue 15)
SCHOOL_KINDS = ("resilient_school", "shnor", "non_objective_school", "steadily_low", "steadily_high",
                "low_value_added", "high_value_added")
FLOOR_CODE = ("import vsoko_toolkit\n"
              "from vsoko_toolkit.warehouse.store import connect\n"
              "con = connect(db)\n"
              "con.execute('SELECT count(*) FROM schools').fetchone()\n"
              "con.close()")


def floor_notebooks(folder: Path) -> Path:
    """The municipal chapters' names, each only importing the package and opening the warehouse."""
    folder.mkdir(parents=True, exist_ok=True)
    for ch in CHAPTERS:
        nb = nbformat.v4.new_notebook()
        nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {ch.title}"),
                    nbformat.v4.new_code_cell('db = ""\nschool_id = ""\nyear = 0\nprofile = ""\nout_dir = ""',
                                              metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell(FLOOR_CODE)]
        nbformat.write(nb, folder / f"{ch.stem}.ipynb")
    return folder


def _n(x: int) -> str:
    return f"{x:,d}".replace(",", " ")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    res = fn(*a, **k)
    return res, time.perf_counter() - t0


def last_year_and_schools(db: Path) -> tuple[int, int]:
    from vsoko_toolkit.warehouse.store import connect

    con = connect(db)
    try:
        year, n = con.execute("SELECT max(year), count(DISTINCT school_id) FROM classes").fetchone()
        return int(year), int(n)
    finally:
        con.close()


def ingest_timed(folder: Path, db: Path) -> tuple[int, int, float]:
    rep, t = timed(ingest, folder, db)
    return int(rep.tables["accepted"].sum()), rep.n_rejected, t


def municipal_timed(db: Path, out: Path, pdf: bool, workers: int | None, notebooks=None) -> dict:
    """run_municipal with the book; the wall time split into chapters (+ findings, plan) and book."""
    year, n_schools = last_year_and_schools(db)
    res, total = timed(run_municipal, db, year, out, profile="public", pdf=pdf, workers=workers,
                       notebooks=notebooks)
    book = sum(res.book.seconds.values())
    return {"res": res, "year": year, "schools": n_schools, "total": total, "book": book, "run": total - book}


def book_line(m: dict) -> str:
    s = m["res"].book.seconds
    return " + ".join(f"{k} {v:.1f}" for k, v in s.items())


def flagged(findings_path: Path) -> dict[str, set[str]]:
    doc = json.loads(findings_path.read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for f in doc["findings"]:
        out.setdefault(f["kind"], set()).add(f["target_id"])
    return out


def check_findings(m: dict, truth: dict, folder: Path) -> list[str]:
    """Print schools flagged per kind and whether the planted ones are found; returns the problems seen.

    The generator plants one resilient school and one threshold peak; ШНОР and steadily low/high schools are
    not planted as such, but every school has a latent mean (truth ``school_effects``): a school called low
    (ШНОР, steadily low) with a latent mean >= 0, or steadily high with one <= 0, is counted as a problem."""
    by_kind = flagged(m["res"].findings_path)
    counts = Counter({k: len(v) for k, v in by_kind.items()})
    print("findings.json муниципалитета — школ по видам выводов:")
    for kind in sorted(counts, key=lambda k: (k not in SCHOOL_KINDS, k)):
        print(f"  {kind:28}{counts[kind]:>4}   {', '.join(sorted(by_kind[kind]))}")
    resilient = truth.get("resilient_school") or {}
    resilient = resilient.get("school_id") if isinstance(resilient, dict) else resilient
    peak = (truth.get("threshold_peak") or {}).get("school_id")
    problems = []
    for kind, planted in (("resilient_school", resilient), ("non_objective_school", peak)):
        got = by_kind.get(kind, set())
        found = planted in got if planted else None
        extra = sorted(got - {planted})
        print(f"  посажено {kind}: {planted or '—'}; найдено: {'да' if found else 'нет'}; "
              f"другие школы: {', '.join(extra) or 'нет'}")
        if planted and not found:
            problems.append(f"planted {kind} {planted} not found")
        if extra:
            problems.append(f"unplanted {kind}: {', '.join(extra)}")
    effects = truth.get("school_effects") or {}
    schools = pd.read_csv(next(folder.glob("schools.csv*")), dtype={"school_id": str})
    social = dict(zip(schools["school_id"], schools["social_index"].astype(float), strict=True))
    rank = {s: i + 1 for i, s in enumerate(sorted(social, key=social.get))}
    print(f"  школы, не посаженные как таковые (латентное среднее школы из truth.json; "
          f"место по социальному индексу снизу из {len(social)}):")
    for kind, low in (("shnor", True), ("steadily_low", True), ("steadily_high", False)):
        for s in sorted(by_kind.get(kind, ())):
            e = effects.get(s, float("nan"))
            print(f"    {kind:16}{s:>5}  латентное среднее {e:+.2f}, социальный индекс {social[s]:+.2f} "
                  f"({rank[s]}-я снизу)")
            if (e >= 0) if low else (e <= 0):
                problems.append(f"{kind} {s} with latent mean {e:+.2f}")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 schools")
    ap.add_argument("--schools", type=int, default=20)
    ap.add_argument("--years", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None, help="chapter processes (default: CPUs)")
    ap.add_argument("--no-pdf", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="keep the warehouses and runs in this folder")
    args = ap.parse_args()
    n_schools = 5 if args.quick else args.schools
    pdf = not args.no_pdf
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="vsoko-bench-mun-", dir=args.keep))
    else:
        tmp = Path(tempfile.mkdtemp(prefix="vsoko-bench-mun-"))
    load0 = _load()
    try:
        gen_dir = tmp / "generated"
        truth, t_gen = timed(generate_municipality, gen_dir, n_schools=n_schools, n_years=args.years,
                             seed=args.seed)
        rows, rejected, t_ing = ingest_timed(gen_dir, tmp / "gen.duckdb")
        print(f"муниципалитет: {n_schools} школ × {args.years} лет (seed {args.seed}); книга: HTML"
              f"{' + PDF' if pdf else ''}; процессов глав: {args.workers or os.cpu_count()}")
        print(f"  генерация     {t_gen:8.1f} с")
        print(f"  загрузка      {t_ing:8.1f} с   строк принято {_n(rows)}, отклонено {_n(rejected)}")

        ours = municipal_timed(tmp / "gen.duckdb", tmp / "ours", pdf, args.workers)
        rows_s, rej_s, t_ing_s = ingest_timed(SAMPLE, tmp / "sample.duckdb")
        demo = municipal_timed(tmp / "sample.duckdb", tmp / "demo", pdf, args.workers)
        floor = municipal_timed(tmp / "gen.duckdb", tmp / "floor", pdf, args.workers,
                                notebooks=floor_notebooks(tmp / "floor_nb"))
        print(f"  (образец {SAMPLE.relative_to(ROOT)}: загрузка {t_ing_s:.1f} с, строк {_n(rows_s)}, "
              f"отклонено {_n(rej_s)})")

        head_ours, head_demo = f"{n_schools} школ, с", f"образец ({demo['schools']}), с"
        print(f"{'этап':40}{head_ours:>14}{head_demo:>16}{'пол, с':>10}")
        for c, cd, cf in zip(ours["res"].chapters, demo["res"].chapters, floor["res"].chapters, strict=True):
            print(f"{'  ' + c['stem']:40}{c['seconds']:>14.1f}{cd['seconds']:>16.1f}{cf['seconds']:>10.1f}")
        print(f"{'главы (papermill), выводы, план':40}{ours['run']:>14.1f}{demo['run']:>16.1f}{floor['run']:>10.1f}")
        print(f"{'сборка книги':40}{ours['book']:>14.1f}{demo['book']:>16.1f}{floor['book']:>10.1f}")
        print(f"{'итого run_municipal':40}{ours['total']:>14.1f}{demo['total']:>16.1f}{floor['total']:>10.1f}")
        print(f"  книга по этапам, с: {n_schools} школ: {book_line(ours)}; образец: {book_line(demo)}; "
              f"пол: {book_line(floor)}")
        print(f"отношение {n_schools} школ / пол: {ours['total'] / floor['total']:.2f}; "
              f"{n_schools} школ / образец (демо-размер): {ours['total'] / demo['total']:.2f}; "
              f"образец / пол: {demo['total'] / floor['total']:.2f}")
        print(f"load average (1/5/15 мин) в начале: {load0}, в конце: {_load()}")
        book = ours["res"].book
        print(f"HTML: {book.html_index}")
        print(f"PDF:  {book.pdf} — {book.pdf_note}" if book.pdf else book.pdf_note)
        problems = check_findings(ours, truth, gen_dir)
        failed = {name: m["res"].failed for name, m in (("ours", ours), ("demo", demo), ("floor", floor))
                  if m["res"].failed}
        for name, chs in failed.items():
            for c in chs:
                print(f"ГЛАВА НЕ ВЫПОЛНЕНА ({name}): {c['stem']}: {c['error']}")
        if problems:
            print("замечания по выводам: " + "; ".join(problems))
        assert not failed, failed
        assert not pdf or book.pdf, book.pdf_note
    finally:
        if args.keep:
            print(f"оставлено: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"{tmp} удалён (оставить: --keep ПАПКА)")


if __name__ == "__main__":
    main()
