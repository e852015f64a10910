"""The ВСОКО cyclogram: the default loads and renders, broken files fail in Russian naming file/entry/field,
a school's own file changes the calendar (API, the run's copy, the methods chapter, the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vsoko_toolkit.analysis.readiness import ANALYSES
from vsoko_toolkit.cycle import (
    MONTH_SHORT,
    RUN_FILE,
    SCHOOL_YEAR_MONTHS,
    CyclogramError,
    coverage,
    default_path,
    item_rows,
    load_cyclogram,
    run_cyclogram,
)
from vsoko_toolkit.pipeline.chapters import CHAPTERS
from vsoko_toolkit.report.glue_cycle import MARK, calendar_table

TITLES = {c.stem: c.title for c in CHAPTERS}
SCHOOL, YEAR = "S01", 2025

OWN = {"version": 1, "title": "Циклограмма МБОУ СОШ № 1", "procedures": [
    {"id": "vpr", "name": "ВПР по графику школы", "months": ["апрель"], "responsible": "координатор ВПР",
     "feeds": ["04_external"], "data": [{"table": "assessments", "kind": "ВПР"}]},
    {"id": "rdr", "name": "Региональная диагностика читательской грамотности", "months": [2],
     "dates": ["14.02"], "responsible": "руководитель МО", "feeds": ["04_external"],
     "data": [{"table": "assessments", "kind": "RDR"}]},
]}


def _write(tmp_path: Path, doc, name="cyc.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_default_cyclogram_loads_and_every_reference_is_real():
    cyc = load_cyclogram(chapters=TITLES)
    assert cyc.is_default and Path(cyc.path) == default_path()
    assert Path(cyc.path).is_relative_to(Path(__file__).resolve().parents[1] / "vsoko_toolkit")  # package data
    keys = {a.key for a in ANALYSES}
    assert len(cyc.procedures) >= 12
    for p in cyc.procedures:
        assert p.months and set(p.months) <= set(SCHOOL_YEAR_MONTHS) and p.responsible and p.feeds, p.id
        assert set(p.feeds) <= set(TITLES) and set(p.analyses) <= keys, p.id
    ids = {p.id for p in cyc.procedures}
    assert {"vpr", "gia", "self_examination", "surveys", "olympiad", "site"} <= ids
    assert "20.04" in cyc.procedure("self_examination").dates  # Порядок самообследования, п. 8
    text = default_path().read_text(encoding="utf-8")
    assert text.count("# seed 00") >= len(cyc.procedures)  # each entry cites its seed section


def test_coverage_counts_the_school_year_rows(sample_con):
    """Rows per procedure table, checked against direct queries (class tables by school and year; olympiads
    through the students enrolled that year)."""
    cyc = load_cyclogram(chapters=TITLES)
    cov = coverage(sample_con, SCHOOL, YEAR, cyc).set_index("id")
    vpr = sample_con.execute("SELECT count(*) FROM assessments WHERE school_id = ? AND year = ? AND kind = 'VPR'",
                             [SCHOOL, YEAR]).fetchone()[0]
    olymp = sample_con.execute(
        "SELECT count(*) FROM olympiads o WHERE o.year = ? AND o.student_id IN (SELECT e.student_id FROM "
        "enrollments e JOIN classes c ON c.class_id = e.class_id WHERE c.school_id = ? AND c.year = ?)",
        [YEAR, SCHOOL, YEAR]).fetchone()[0]
    assert vpr > 0 and olymp > 0
    assert cov.loc["vpr", "rows"]["assessments[kind=VPR]"] == vpr
    assert cov.loc["olympiad", "rows"]["olympiads"] == olymp
    other = sample_con.execute("SELECT count(*) FROM assessments WHERE school_id <> ? AND year = ? AND kind = 'VPR'",
                               [SCHOOL, YEAR]).fetchone()[0]
    assert other > 0  # the count is the school's, not the municipality's
    assert cov.loc["vpr", "status"] == "covered" and cov.loc["problem_analysis", "status"] == "no_data"
    kinds = {k for (k,) in sample_con.execute("SELECT DISTINCT kind FROM assessments").fetchall()}
    if "SCHOOL" not in kinds:  # the sample has no school diagnostics: the procedure shows as not covered
        assert cov.loc["start_diagnostics", "status"] == "absent"
    print(f"\ncoverage {SCHOOL} {YEAR}: {cov['status'].value_counts().to_dict()}")
    later = coverage(sample_con, SCHOOL, 2999, cyc).set_index("id")  # a year without data
    assert (later.loc[["vpr", "gia", "olympiad", "surveys", "term_marks"], "status"] == "absent").all()
    assert later.loc["contingent", "status"] == "partial"  # teachers are the school's, not a year's


def test_default_cyclogram_renders_as_a_calendar(sample_con):
    cyc = load_cyclogram(chapters=TITLES)
    table = calendar_table(cyc, coverage(sample_con, SCHOOL, YEAR, cyc), TITLES)
    months = [MONTH_SHORT[m] for m in SCHOOL_YEAR_MONTHS]
    assert list(table.columns) == ["Процедура", *months, "Ответственный", "Раздел книги", "Данные этого года"]
    assert months[0] == "сен" and months[-1] == "авг"
    assert len(table) == len(cyc.procedures)
    row = table[table["Процедура"] == cyc.procedure("vpr").name].iloc[0]
    assert [row[m] for m in ("мар", "апр", "май")] == [MARK] * 3 and row["сен"] == ""
    assert "гл. 4 «Внешние оценочные процедуры" in row["Раздел книги"]
    assert row["Данные этого года"].startswith("есть: assessments (kind=VPR)")
    se = table[table["Процедура"] == cyc.procedure("self_examination").name].iloc[0]
    assert se["апр"] == "20.04"
    assert table["Данные этого года"].str.startswith("нет").any()  # e.g. school diagnostics the sample lacks


@pytest.mark.parametrize(("mutate", "entry", "field", "words"), [
    (lambda d: d["procedures"][1].pop("responsible"), "процедура № 2 («rdr»)", "«responsible»", "нет обязательного"),
    (lambda d: d["procedures"][0].update(months=["мартобрь"]), "процедура № 1 («vpr»)", "«months»", "не месяц"),
    (lambda d: d["procedures"][0].update(respnsible="x"), "процедура № 1 («vpr»)", "«respnsible»", "неизвестное поле"),
    (lambda d: d["procedures"][1].update(feeds=["11_nothing"]), "процедура № 2 («rdr»)", "«feeds»", "не глава книги"),
    (lambda d: d["procedures"][1].update(data=["vpr_results"]), "процедура № 2 («rdr»)", "«data»", "нет таблицы"),
    (lambda d: d["procedures"][0].update(data=[{"table": "assessments", "kind": "ВПР-2"}]), "процедура № 1 («vpr»)",
     "«data»", "нет такого значения"),
    (lambda d: d["procedures"][1].update(dates=["31.02"]), "процедура № 2 («rdr»)", "«dates»", "не дата"),
    (lambda d: d["procedures"][1].update(dates=[14.1]), "процедура № 2 («rdr»)", "«dates»", "в кавычках"),
    (lambda d: d["procedures"][1].update(id="vpr"), "процедура № 2 («vpr»)", "«id»", "уже есть"),
    (lambda d: d["procedures"][0].update(analyses=["magic"]), "процедура № 1 («vpr»)", "«analyses»", "нет такого анализа"),
    (lambda d: d["procedures"][0].update(months=[], dates=[]), "процедура № 1 («vpr»)", "«months»", "хотя бы один"),
])
def test_a_broken_cyclogram_names_file_entry_and_field(tmp_path, mutate, entry, field, words):
    doc = yaml.safe_load(yaml.safe_dump(OWN, allow_unicode=True))
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(CyclogramError) as err:
        load_cyclogram(path, chapters=TITLES)
    msg = str(err.value)
    assert str(path) in msg and entry in msg and field in msg and words in msg, msg


def test_a_cyclogram_that_is_not_yaml_or_has_no_procedures(tmp_path):
    for text, words in (("procedures: [\n  - id: x\n", "не читается как YAML"), ("title: x\n", "«procedures»"),
                        ("- a\n- b\n", "ожидается словарь"), ("version: 2\nprocedures: []\n", "«version»")):
        path = _write(tmp_path, text)
        with pytest.raises(CyclogramError, match="Циклограмма .*cyc.yaml") as err:
            load_cyclogram(path)
        assert words in str(err.value), str(err.value)
    with pytest.raises(CyclogramError, match="файл не найден"):
        load_cyclogram(tmp_path / "none.yaml")


def test_a_schools_own_file_changes_the_table(tmp_path, sample_con):
    own = load_cyclogram(_write(tmp_path, OWN), chapters=TITLES)
    assert not own.is_default and own.procedure("rdr").months == (2,) and own.procedure("vpr").data[0].filters == (
        ("kind", "VPR"),)  # the Russian label is read as the contract's code
    table = calendar_table(own, coverage(sample_con, SCHOOL, YEAR, own), TITLES)
    default = calendar_table(load_cyclogram(chapters=TITLES), coverage(sample_con, SCHOOL, YEAR,
                                                                        load_cyclogram()), TITLES)
    assert list(table["Процедура"]) == ["ВПР по графику школы", "Региональная диагностика читательской грамотности"]
    assert len(default) > len(table)
    assert table.iloc[0]["апр"] == MARK and table.iloc[0]["мар"] == "" and table.iloc[1]["фев"] == "14.02"
    assert table.iloc[0]["Ответственный"] == "координатор ВПР"
    n_rdr = item_rows(sample_con, SCHOOL, YEAR, own.procedure("rdr").data[0])
    assert table.iloc[1]["Данные этого года"].startswith("есть" if n_rdr else "нет")


def test_the_run_keeps_the_schools_file_and_the_methods_chapter_renders_it(tmp_path, sample_db_path):
    """run_school's check-and-copy (RUN/cyclogram.yaml) and the methods chapter's section, in-process."""
    from chapters_inprocess import run_inprocess

    from vsoko_toolkit.pipeline.run import _keep_cyclogram

    run_dir = tmp_path / "out" / SCHOOL / str(YEAR)
    run_dir.mkdir(parents=True)
    _keep_cyclogram(run_dir, _write(tmp_path, OWN), CHAPTERS)
    assert (run_dir / RUN_FILE).is_file() and not run_cyclogram(run_dir).is_default
    res = run_inprocess(sample_db_path, SCHOOL, YEAR, tmp_path / "out", stems=("10_methods",), profile="public")
    assert not res["failed"], res["failed"]
    import pandas as pd

    shown = pd.read_csv(run_dir / "tables" / "cyclogram.csv", dtype=str, keep_default_na=False)
    assert list(shown["Процедура"]) == [p["name"] for p in OWN["procedures"]]
    _keep_cyclogram(run_dir, None, CHAPTERS)  # a run without the school's file: back to the default
    assert not (run_dir / RUN_FILE).exists()
    res = run_inprocess(sample_db_path, SCHOOL, YEAR, tmp_path / "out", stems=("10_methods",), profile="public")
    assert not res["failed"], res["failed"]
    shown = pd.read_csv(run_dir / "tables" / "cyclogram.csv", dtype=str, keep_default_na=False)
    assert len(shown) == len(load_cyclogram().procedures)


def test_vsoko_run_rejects_a_broken_cyclogram_before_running(tmp_path, sample_db_path):
    from typer.testing import CliRunner

    from vsoko_toolkit.cli import app

    doc = yaml.safe_load(yaml.safe_dump(OWN, allow_unicode=True))
    doc["procedures"][0]["feeds"] = ["99_nowhere"]
    path = _write(tmp_path, doc)
    res = CliRunner().invoke(app, ["run", "--db", str(sample_db_path), "--school", SCHOOL, "--year", str(YEAR),
                                   "--out", str(tmp_path / "out"), "--no-progress", "--cyclogram", str(path)])
    assert res.exit_code != 0
    out = " ".join(res.output.split())
    assert "процедура № 1" in out and "«feeds»" in out, res.output
    assert not list((tmp_path / "out").rglob("*.ipynb"))  # nothing ran


def test_the_public_calendar_names_no_one(tmp_path, sample_con):
    """A school's file may name the responsible person; the public profile shows the role-less placeholder
    instead (surnames of the school's teachers), the internal one shows the file as written."""
    from vsoko_toolkit.report.glue_cycle import NAMED, staff_surnames

    surnames = staff_surnames(sample_con, SCHOOL)
    full = sample_con.execute("SELECT full_name FROM teachers WHERE school_id = ? ORDER BY teacher_id LIMIT 1",
                              [SCHOOL]).fetchone()[0]
    doc = yaml.safe_load(yaml.safe_dump(OWN, allow_unicode=True))
    doc["procedures"][0]["responsible"] = f"координатор ВПР {full}"
    own = load_cyclogram(_write(tmp_path, doc), chapters=TITLES)
    cov = coverage(sample_con, SCHOOL, YEAR, own)
    public = calendar_table(own, cov, TITLES, surnames)
    internal = calendar_table(own, cov, TITLES)
    assert public.iloc[0]["Ответственный"] == NAMED and full.split()[0] not in public.to_csv()
    assert internal.iloc[0]["Ответственный"].endswith(full)
    assert public.iloc[1]["Ответственный"] == "руководитель МО"  # roles stay
    default = load_cyclogram()  # the default names roles only
    shown = calendar_table(default, coverage(sample_con, SCHOOL, YEAR, default), TITLES, surnames)
    assert NAMED not in set(shown["Ответственный"])


def test_vsoko_batch_takes_a_folder_of_cyclograms_and_rejects_a_broken_one_before_running(tmp_path, sample_db_path):
    """`vsoko batch --cyclogram DIR`: <school>.yaml for that school, default.yaml for the others; a broken file
    stops the batch before any school runs; the school's file is part of its cache key."""
    from vsoko_toolkit.pipeline.batch import cyclograms_of, run_batch

    folder = tmp_path / "cyc"
    folder.mkdir()
    _write(folder, OWN).rename(folder / f"{SCHOOL}.yaml")
    got = cyclograms_of(folder, [SCHOOL, "S02"], CHAPTERS)
    assert got[SCHOOL].endswith(f"{SCHOOL}.yaml") and got["S02"] is None
    (folder / "default.yaml").write_text(default_path().read_text(encoding="utf-8"), encoding="utf-8")
    assert cyclograms_of(folder, ["S02"], CHAPTERS)["S02"].endswith("default.yaml")
    few = tuple(c for c in CHAPTERS if c.stem == "10_methods")
    res = run_batch(sample_db_path, YEAR, tmp_path / "out", schools=[SCHOOL], workers=1, chapters=few,
                    cyclogram=folder, rollup=False)
    assert res.ok and res.ran == [SCHOOL]
    assert not run_cyclogram(tmp_path / "out" / SCHOOL / str(YEAR)).is_default
    (folder / f"{SCHOOL}.yaml").write_text((folder / f"{SCHOOL}.yaml").read_text(encoding="utf-8")
                                           .replace("координатор ВПР", "заместитель директора"), encoding="utf-8")
    again = run_batch(sample_db_path, YEAR, tmp_path / "out", schools=[SCHOOL], workers=1, chapters=few,
                      cyclogram=folder, rollup=False)
    assert again.ran == [SCHOOL]  # a changed cyclogram is a new run, not the cached one
    doc = yaml.safe_load(yaml.safe_dump(OWN, allow_unicode=True))
    doc["procedures"][0]["feeds"] = ["99_nowhere"]
    _write(folder, doc).rename(folder / "default.yaml")
    with pytest.raises(CyclogramError, match="default.yaml"):
        run_batch(sample_db_path, YEAR, tmp_path / "out2", schools=["S02"], workers=1, chapters=few, cyclogram=folder)
    assert not (tmp_path / "out2").exists()
