"""Indicator frameworks (vsoko_toolkit.indicators): YAML + schema, computed/read/missing, scoring, XLSX, custom YAML."""

from __future__ import annotations

import json
import math
from pathlib import Path

import openpyxl
import pytest
from conftest import MINI, write_folder

from vsoko_toolkit import ingest
from vsoko_toolkit.findings import validate_document
from vsoko_toolkit.indicators import (
    ENV_VAR,
    FrameworkError,
    evaluate_frameworks,
    load_frameworks,
    parse_value,
    score_value,
    self_examination_xlsx,
)
from vsoko_toolkit.indicators.evaluate import STATUS_RU
from vsoko_toolkit.indicators.loader import MANIFEST, builtin_dir, read_yaml, validated_manifest
from vsoko_toolkit.stats.intervals import wilson_interval
from vsoko_toolkit.warehouse.store import connect

DATA = {
    **MINI,
    "olympiads": [["student_id", "year", "subject", "stage", "status"],
                  ["0001", "2025", "Математика", "regional", "winner"],
                  ["0003", "2025", "Математика", "school", "participant"]],
    "indicators": [["school_id", "year", "indicator_id", "value"],
                   ["S01", "2025", "2.1", "0,25"],          # read: no data to compute it from
                   ["S01", "2025", "1.1", "999"],           # computed wins over this
                   ["S01", "2025", "1.25", "2/100 %"],      # people / percent
                   ["S01", "2025", "vsoko_map.1.1", "2"],
                   ["S01", "2025", "vsoko_map.1.2", "0"],
                   ["S01", "2025", "qi.learning", "0.85"],
                   ["S01", "2025", "qi.boards", "да"],
                   ["S01", "2025", "t.a", "0.95"], ["S01", "2025", "t.b", "0.4"], ["S01", "2025", "t.c", "1"]],
}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ind")
    ingest(write_folder(tmp / "data", DATA), tmp / "w.duckdb")
    return tmp / "w.duckdb"


@pytest.fixture(scope="module")
def con(db):
    c = connect(db)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def _row(res, fid, iid) -> dict:
    d = res.framework(fid)
    return d[d["indicator_id"] == iid].iloc[0].to_dict()


# ---------------------------------------------------------------- frameworks as data
def test_every_builtin_yaml_loads_and_validates():
    files = sorted(builtin_dir().glob("*.yaml"))
    assert {f.stem for f in files} == {"self_examination_1324", "quality_index", "vsoko_map"}
    for f in files:
        read_yaml(f, check=True)  # raises on a schema violation
    # validated as they are now: at run time they are not validated again (no jsonschema import in chapter 08)
    manifest = json.loads((builtin_dir() / MANIFEST).read_text(encoding="utf-8"))
    assert manifest == validated_manifest(), (
        "a built-in framework (or the schema) changed: regenerate "
        f"{builtin_dir() / MANIFEST} with json.dumps(validated_manifest(), indent=1)")
    fws = {f.id: f for f in load_frameworks()}
    se = fws["self_examination_1324"]
    ids = [i.id for i in se.indicators]
    assert ids[:5] == ["1.1", "1.2", "1.3", "1.4", "1.5"] and "1.34" in ids and "2.6" in ids
    assert len(ids) == len(set(ids)) == 52
    qi = fws["quality_index"]
    assert len(qi.criteria) == 9 and sum(g.n_indicators for g in qi.criteria) == 72
    assert sum(g.n_indicators * g.max_points_per_indicator for g in qi.criteria) == 143
    assert {lv["name"]: (lv["min"], lv["max"]) for lv in qi.levels} == {
        "высокий": (110, 143), "средний": (70, 109), "низкий": (0, 69)}
    assert qi.indicators == ()  # the official list is not in the sources: nothing is invented
    vm = fws["vsoko_map"]
    assert len(vm.indicators) == 8 and all(i.scoring == "direct" and i.max_points == 2 for i in vm.indicators)


@pytest.mark.parametrize("text, expected", [
    ("id: x\ntitle: X\nkind: list\ngroups:\n  - id: '1'\n    indicators:\n      - {id: a, name: A, read: a}\n",
     ["bad.yaml", "«unit»", "«a»"]),
    ("id: x\ntitle: X\nkind: list\ngroups:\n  - id: '1'\n    indicators:\n"
     "      - {id: a, name: A, unit: человек, read: a, treshold: 3}\n", ["bad.yaml", "«treshold»"]),
    ("id: x\ntitle: X\nkind: list\ngroups:\n  - id: '1'\n    indicators:\n"
     "      - {id: a, name: A, unit: человек}\n", ["bad.yaml", "ни «compute», ни «read»"]),
    ("id: x\ntitle: X\nkind: list\ngroups:\n  - id: '1'\n    indicators:\n"
     "      - {id: a, name: A, unit: человек, compute: no_such_fn}\n", ["bad.yaml", "no_such_fn", "«compute»"]),
    ("id: x\ntitle: X\nkind: list\ngroups:\n  - id: '1'\n    indicators:\n"
     "      - {id: a, name: A, unit: человек, compute: teachers_share, params: {conditon: age_55_plus}}\n",
     ["bad.yaml", "params.conditon"]),
    ("id: x\ntitle: X\nkind: list\ngroups: [\n", ["bad.yaml", "YAML"]),
    ("id: x\nextends: quality_index\ntitle: X\ngroups:\n  - id: '3.3'\n    indicators:\n"
     "      - {id: a, name: A, unit: да/нет, read: a, scoring: [{equals: 1, points: 2}]}\n",
     ["bad.yaml", "«a»", "не больше 1"]),
])
def test_a_broken_yaml_names_the_file_and_the_key(tmp_path, text, expected):
    d = _write(tmp_path / "fw", "bad.yaml", text)
    with pytest.raises(FrameworkError) as err:
        load_frameworks([d])
    for part in expected:
        assert part in str(err.value), str(err.value)


# ---------------------------------------------------------------- evaluation on MINI
def test_computed_indicators_match_hand_computations(con):
    res = evaluate_frameworks(con, "S01", 2025)
    v = {i: _row(res, "self_examination_1324", i) for i in
         ("1.1", "1.2", "1.3", "1.4", "1.5", "1.18", "1.19", "1.19.1", "1.19.2", "1.24", "1.29", "1.29.1",
          "1.30.1", "1.30.2")}
    assert [v[i]["value"] for i in ("1.1", "1.2", "1.3", "1.4")] == [4, 0, 4, 0]
    # worst year marks: 0001 → 5, 0002 → 3, 0003 → 4, 0004 → н/а: 2 of 4 on «4» and «5»
    assert (v["1.5"]["count"], v["1.5"]["denominator"], v["1.5"]["value"]) == (2, 4, 0.5)
    lo, hi = wilson_interval(2, 4)
    assert math.isclose(v["1.5"]["ci_low"], lo) and math.isclose(v["1.5"]["ci_high"], hi)
    assert v["1.5"]["display"] == "2 / 50,0\u00a0%"
    # olympiads: 0001 regional winner, 0003 school participant; 4 students
    assert (v["1.18"]["count"], v["1.18"]["value"]) == (2, 0.5)
    assert (v["1.19"]["count"], v["1.19.1"]["count"], v["1.19.2"]["count"]) == (1, 1, 0)
    # teachers T01 (highest, 21 y), T02 (first, 5 y) both teach in 2025
    assert v["1.24"]["value"] == 2
    assert (v["1.29"]["value"], v["1.29.1"]["value"], v["1.30.1"]["value"], v["1.30.2"]["value"]) == (1, 0.5, 0, 0)


def test_statuses_computed_read_missing(con):
    res = evaluate_frameworks(con, "S01", 2025)
    st = dict(zip(res.framework("self_examination_1324")["indicator_id"],
                  res.framework("self_examination_1324")["status"], strict=True))
    assert st["1.1"] == "computed" and _row(res, "self_examination_1324", "1.1")["value"] == 4  # not 999
    assert st["2.1"] == "read" and _row(res, "self_examination_1324", "2.1")["value"] == 0.25
    r = _row(res, "self_examination_1324", "1.25")
    assert st["1.25"] == "read" and (r["count"], r["value"]) == (2, 1.0)
    assert st["1.6"] == "missing" and st["1.31"] == "missing"  # no ОГЭ results, no teacher ages
    c = res.status_counts("self_examination_1324")
    assert sum(c.values()) == 52 and c["read"] == 2
    assert c["computed"] == sum(1 for s in st.values() if s == "computed")


def test_parse_and_score_values():
    from vsoko_toolkit.indicators.loader import Indicator

    share = Indicator("f", "a", "a", "A", "человек/%", "1")
    assert parse_value("45", share).value == 0.45 and parse_value("0,45", share).value == 0.45
    assert parse_value("12 / 45,5 %", share).count == 12 and parse_value("abc", share) is None
    bands = Indicator("f", "b", "b", "B", "%", "1", scoring=({"min": 0.9, "points": 3}, {"min": 0.7, "points": 2},
                                                              {"min": 0.5, "max": 0.7, "points": 1}))
    assert [score_value(bands, x) for x in (0.95, 0.9, 0.7, 0.69, 0.5, 0.49)] == [3, 3, 2, 1, 1, 0]
    direct = Indicator("f", "c", "c", "C", "балл", "1", scoring="direct", max_points=2)
    assert score_value(direct, 5) == 2 and score_value(direct, 1) == 1


TEST_INDEX = """
id: test_index
title: Проверочный индекс
kind: index
totals: {indicators: 3, points: 7}
levels: [{name: высокий, min: 6, max: 7}, {name: средний, min: 3, max: 5}, {name: низкий, min: 0, max: 2}]
groups:
  - id: "1"
    name: Результаты
    n_indicators: 2
    max_points_per_indicator: 3
    indicators:
      - {id: a, name: Доля А, unit: "%", read: t.a, scoring: [{min: 0.9, points: 3}, {min: 0.5, points: 1}]}
      - {id: b, name: Доля Б, unit: "%", read: t.b, scoring: [{min: 0.5, points: 3}, {min: 0.3, points: 2}]}
  - id: "2"
    name: Среда
    n_indicators: 1
    max_points_per_indicator: 1
    indicators:
      - {id: c, name: Есть В, unit: да/нет, read: t.c, scoring: [{equals: 1, points: 1}]}
"""

REGION = """
id: region_test
extends: quality_index
title: Показатели индекса, заданные регионом (проверочные)
groups:
  - id: "1.1"
    indicators:
      - {id: "1.1.x", name: Проверочный показатель обучения, unit: "%", read: qi.learning,
         scoring: [{min: 0.8, points: 3}, {min: 0.6, points: 2}, {min: 0.4, points: 1}]}
  - id: "3.2"
    indicators:
      - {id: "3.2.x", name: Проверочное оснащение, unit: да/нет, read: qi.boards, scoring: [{equals: 1, points: 1}]}
      - {id: "3.2.y", name: Проверочное оснащение без данных, unit: да/нет, read: qi.none,
         scoring: [{equals: 1, points: 1}]}
"""


def test_index_scoring_points_and_level(con, tmp_path):
    d = _write(tmp_path / "fw", "test_index.yaml", TEST_INDEX)
    res = evaluate_frameworks(con, "S01", 2025, extra_dirs=[d])
    s = res.score("test_index")
    # a = 0.95 → 3, b = 0.4 → 2, c = 1 → 1
    assert list(res.framework("test_index")["points"]) == [3, 2, 1]
    assert (s["points"], s["max_points"], s["level"], s["lower_bound"]) == (6, 7, "высокий", False)


def test_region_extension_gives_a_lower_bound(con, tmp_path):
    d = _write(tmp_path / "fw", "region.yaml", REGION)
    res = evaluate_frameworks(con, "S01", 2025, extra_dirs=[d])
    qi = res.framework("quality_index")
    assert list(qi["indicator_id"]) == ["1.1.x", "3.2.x", "3.2.y"]
    assert list(qi["status"]) == ["read", "read", "missing"]
    s = res.score("quality_index")
    assert s["points"] == 4 and s["n_scored"] == 2 and s["n_missing"] == 70 and s["lower_bound"]
    assert s["missing_points"] == 143 - 3 - 1
    assert (s["level_low"], s["level_high"], s["level"]) == ("низкий", "высокий", "")
    crit = res.criteria.set_index(["framework", "group_id"])
    assert crit.loc[("quality_index", "1.1"), "n_encoded"] == 1 and crit.loc[("quality_index", "3.2"), "points"] == 1


def test_low_indicator_only_when_the_interval_clears_the_threshold(con, tmp_path):
    fw = ("id: school_targets\ntitle: Цели школы\nkind: list\ngroups:\n  - id: '1'\n    name: Цели\n"
          "    indicators:\n"
          "      - {id: g90, name: На 4 и 5 (цель 90 %), unit: человек/%, compute: students_good_marks, threshold: 0.9}\n"
          "      - {id: g80, name: На 4 и 5 (цель 80 %), unit: человек/%, compute: students_good_marks, threshold: 0.8}\n")
    d = _write(tmp_path / "fw", "targets.yaml", fw)
    res = evaluate_frameworks(con, "S01", 2025, extra_dirs=[d])
    # 2 of 4: Wilson 95 % upper bound ≈ 0.85 — below 0.9, not below 0.8
    flagged = {f.extra["indicator_id"]: f for f in res.findings}
    assert "g90" in flagged and "g80" not in flagged
    f = flagged["g90"]
    assert f.kind == "low_indicator" and f.area == "indicators" and f.n == 4 and f.ci_high < 0.9
    # the ВСОКО map: 1.2 scored 0 < 1 (exact points), 1.1 scored 2
    assert "1.2" in flagged and "1.1" not in flagged
    assert res.score("vsoko_map")["points"] == 2
    validate_document({"school_id": "S01", "year": 2025, "toolkit_version": "t", "findings":
                       [x.to_dict() for x in res.findings], "decision_evaluations": [], "skipped": []})


def test_xlsx_round_trips_every_indicator(con, tmp_path):
    d = _write(tmp_path / "fw", "region.yaml", REGION)
    res = evaluate_frameworks(con, "S01", 2025, extra_dirs=[d])
    path = self_examination_xlsx(res, tmp_path / "self_examination.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:3] == ["Самообследование", "Индекс качества", "Карта ВСОКО"]
    for fw, sheet in zip(res.frameworks, wb.worksheets, strict=False):
        rows = [[c.value for c in r] for r in sheet.iter_rows()]
        header = next(i for i, r in enumerate(rows) if r[0] == "№ п/п")
        assert rows[header][:5] == ["№ п/п", "Показатели", "Единица измерения", "Значение", "Источник"]
        by_name = {r[1]: r for r in rows[header + 1:] if r[1]}
        for _, ind in res.framework(fw.id).iterrows():
            line = by_name[ind["name"]]
            assert line[0] == (ind["number"] or None) and line[2] == ind["unit"]
            assert line[3] == ind["display"] and line[4] == STATUS_RU[ind["status"]]
    se = {r[0].value: r[4].value for r in wb["Самообследование"].iter_rows() if r[0].value}
    assert se["1.1"] == "вычислено" and se["2.1"] == "из indicators.csv" and se["1.6"] == "нет данных"


def test_custom_indicator_by_yaml_alone_reaches_the_book(db, tmp_path, monkeypatch):
    from vsoko_toolkit.pipeline.book import build_book
    from vsoko_toolkit.pipeline.chapters import CHAPTERS
    from vsoko_toolkit.pipeline.run import run_school

    name = "Доля учеников-олимпиадников школы (собственный показатель)"
    d = _write(tmp_path / "custom", "school_own.yaml",
               "id: school_own\ntitle: Собственные показатели школы\nkind: list\ngroups:\n"
               "  - id: '1'\n    name: Олимпиады\n    indicators:\n"
               f"      - {{id: own.1, name: {name}, unit: человек/%, compute: olympiad_share}}\n")
    monkeypatch.setenv(ENV_VAR, str(d))
    chapters = tuple(c for c in CHAPTERS if c.stem == "08_indicators")
    run = run_school(db, "S01", 2025, "internal", tmp_path / "out", chapters=chapters)
    assert run.ok, run.failed
    rd = run.run_dir
    wb = openpyxl.load_workbook(rd / "self_examination.xlsx")
    assert "Собственные показатели школы" in wb.sheetnames
    doc = json.loads((rd / "findings.json").read_text(encoding="utf-8"))
    validate_document(doc)
    book = build_book(rd, pdf=False)
    html = (book.html_index.parent / "chapters" / "08_indicators.html").read_text(encoding="utf-8")
    assert name in html and "2 / 50,0" in html  # the custom row, with its computed value
    assert "Показатели самообследования" in html and "Индекс качества общего образования" in html


def test_an_edited_builtin_or_a_custom_file_is_validated_at_run_time(tmp_path, monkeypatch):
    """Only an unchanged built-in file skips the schema check: a copy elsewhere, or a built-in file whose
    content no longer matches the manifest, is validated (and a broken one rejected)."""
    from vsoko_toolkit.indicators import loader

    src = builtin_dir() / "vsoko_map.yaml"
    broken = src.read_text(encoding="utf-8").replace("id: vsoko_map", "id: 17", 1)
    assert broken != src.read_text(encoding="utf-8")
    (tmp_path / "vsoko_map.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(loader.FrameworkError):
        read_yaml(tmp_path / "vsoko_map.yaml")
    assert loader._prevalidated(src, src.read_bytes())
    assert not loader._prevalidated(src, broken.encode("utf-8"))
    monkeypatch.setattr(loader, "builtin_dir", lambda: tmp_path)  # the same bytes in "the built-in folder"
    assert not loader._prevalidated(tmp_path / "vsoko_map.yaml", broken.encode("utf-8"))  # no manifest there
