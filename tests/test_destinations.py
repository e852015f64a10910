"""Graduates' self-determination (issue 18, items 3 and 6): the destinations table, its analysis and chapter,
and the self-examination rows it and the other contract tables feed."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from chapters_inprocess import run_inprocess
from conftest import write_folder
from simnull import sim_count

from vsoko_toolkit import ingest, validate_folder
from vsoko_toolkit.analysis.destinations import (
    class_profile_directions,
    destinations,
    profile_matches,
)
from vsoko_toolkit.indicators import evaluate_frameworks
from vsoko_toolkit.synth import destinations as synth_dest
from vsoko_toolkit.warehouse.store import connect

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "municipality"


# ---------------------------------------------------------------- the sample: planted problem found, nothing else
def test_planted_outflow_found_with_sign_and_target(sample_con):
    truth = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))
    plant, year = truth["graduate_outflow"], truth["years"][-1]
    assert plant["school_id"] == "S01" and plant["profile"] == "technical"
    found = {}
    for s in sorted(truth["school_effects"]):
        res = destinations(sample_con, s, year)
        assert not res.skipped
        found[s] = res.findings
    planted = found.pop(plant["school_id"])
    assert [f.kind for f in planted] == ["graduate_outflow"]
    f = planted[0]
    assert (f.target_type, f.target_id, f.extra["profile"], f.area) == ("grade", "9", "technical",
                                                                      "self_determination")
    assert f.extra["profile_offered"] is False and f.severity == "high"
    assert f.estimate > f.extra["comparison_estimate"] + 0.1 and f.q_value < 0.05 and f.ci_low > 0.2
    assert "технического" in f.title and "нет в 10 классе" in f.title
    assert all(not v for v in found.values()), {k: [x.title for x in v] for k, v in found.items()}


def test_synth_keeps_plant_out_of_null_and_uses_its_own_stream(tmp_path):
    """Plants.null() plants nothing of ours (truth None, size 0 ⇒ target None)."""
    from vsoko_toolkit.synth import Plants

    assert Plants.null().size("graduate_outflow") == 0.0 and Plants().size("graduate_outflow") == 0.8
    classes = pd.DataFrame({"school_id": ["S01", "S02", "S02"], "year": [2025] * 3, "grade": [10] * 3,
                            "profile": ["универсальный", "технологический", "гуманитарный"]})
    assert synth_dest.plant_school(classes, [2025]) == "S01"


# ---------------------------------------------------------------- null data: false findings rate
def _null_municipality(rng, n_schools=4, years=(2023, 2024, 2025)) -> duckdb.DuckDBPyConnection:
    """Destinations, 10th-grade profiles and elective exams drawn from one model for every school."""
    subjects = sorted(synth_dest.SUBJECT_PROFILES)
    d, ex, cl = [], [], []
    sid = 0
    for s in range(1, n_schools + 1):
        school = f"S{s:02d}"
        for y in years:
            cl.append((school, y, 10, "универсальный" if rng.random() < 0.5 else "технологический"))
            for grade, n in ((9, int(rng.integers(25, 60))), (11, int(rng.integers(12, 30)))):
                for _ in range(n):
                    sid += 1
                    st = f"{sid:06d}"
                    el = list(rng.choice(subjects, size=2, replace=False))
                    ex += [(st, y, "OGE" if grade == 9 else "EGE", e) for e in el]
                    if grade == 9:
                        dest = rng.choice(["own_10", "other_10", "spo", "work", "other"], p=[.5, .1, .33, .03, .04])
                        prof = synth_dest._profile(rng, el, synth_dest.P_MATCH_9) if dest == "spo" else None
                    else:
                        dest = rng.choice(["university", "spo", "work", "other"], p=[.55, .3, .08, .07])
                        prof = (synth_dest._profile(rng, el, synth_dest.P_MATCH_11)
                                if dest in ("university", "spo") else None)
                    d.append((st, school, y, grade, str(dest), prof))
    con = duckdb.connect()
    for name, rows, cols in (("destinations", d, "student_id school_id year grade destination profile"),
                             ("assessments", ex, "student_id year kind subject"),
                             ("classes", cl, "school_id year grade profile")):
        frame = pd.DataFrame(rows, columns=cols.split())  # noqa: F841 (read by DuckDB)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
    return con


def test_null_rate_of_findings_is_at_most_five_percent():
    n_sims = sim_count(120)
    hits = runs = 0
    for i in range(n_sims):
        con = _null_municipality(np.random.default_rng([18, i]))
        for s in ("S01", "S02", "S03", "S04"):
            res = destinations(con, s, 2025)
            assert not res.skipped
            runs += 1
            hits += bool(res.findings)
        con.close()
    rate = hits / runs
    margin = 2 * np.sqrt(0.05 * 0.95 / runs)
    print(f"destinations null: {hits} of {runs} school runs with a finding ({rate:.3f}); bound {0.05 + margin:.3f}")
    assert rate <= 0.05 + margin


def test_outflow_rule_fires_on_a_strong_planted_difference():
    """Power sanity: the rule is not one that can never fire (same simulator, one school's leavers planted)."""
    con = _null_municipality(np.random.default_rng([18, 999]))
    con.execute("UPDATE destinations SET destination = 'spo', profile = 'creative' WHERE school_id = 'S02' "
                "AND grade = 9 AND destination IN ('other_10', 'spo', 'work', 'other')")
    res = destinations(con, "S02", 2025)
    assert [(f.kind, f.extra["profile"]) for f in res.findings] == [("graduate_outflow", "creative")]
    assert res.findings[0].extra["profile_offered"] is False


def test_mismatch_rule_fires_when_profiles_ignore_the_exams():
    con = _null_municipality(np.random.default_rng([18, 998]))
    con.execute("UPDATE destinations SET profile = 'medical' WHERE school_id = 'S03' AND grade = 11 "
                "AND destination IN ('university', 'spo')")
    res = destinations(con, "S03", 2025)
    assert [(f.kind, f.target_id) for f in res.findings] == [("profile_mismatch", "11")]
    f = res.findings[0]
    assert f.estimate < f.extra["comparison_estimate"] - 0.1 and f.q_value < 0.05


# ---------------------------------------------------------------- minimal form and stated mappings
def test_without_the_table_the_analysis_skips_with_a_reason():
    con = duckdb.connect()
    res = destinations(con, "S01", 2025)
    assert not res.findings and res.skipped and "destinations" in res.skipped[0].reason
    import matplotlib

    matplotlib.use("Agg")
    assert res.plot() is not None


def test_without_profiles_only_shares_are_shown():
    con = _null_municipality(np.random.default_rng(5))
    con.execute("UPDATE destinations SET profile = NULL")
    res = destinations(con, "S01", 2025)
    assert not res.findings and res.outflow.empty and not res.shares.empty
    assert any("profile" in n for n in res.notes)


def test_mappings():
    assert class_profile_directions("Технологический") == ("technical",)
    assert class_profile_directions("универсальный") == ()
    assert profile_matches("technical", ["Русский язык", "Физика"]) is True
    assert profile_matches("medical", ["Информатика"]) is False
    assert profile_matches("other", ["Физика"]) is None and profile_matches("technical", ["Математика"]) is None


# ---------------------------------------------------------------- a hand-made school: rejects and hand counts
def _hand_folder(tmp: Path) -> Path:
    classes = [("S01-2025-8А", 8, ""), ("S01-2025-9А", 9, ""), ("S01-2025-10А", 10, "универсальный"),
               ("S01-2025-11А", 11, "технологический")]
    pupils = {"S01-2025-8А": ["0801"], "S01-2025-9А": ["0901", "0902", "0903", "0904"], "S01-2025-10А": ["1001"],
              "S01-2025-11А": ["1101", "1102", "1103"]}
    cls_of = {s: c for c, ss in pupils.items() for s in ss}
    year_marks = {"0901": (5, 5), "0902": (2, 4), "0903": (4, 4), "0904": (5, 5), "1101": (5, 5), "1102": (4, 5),
                  "1103": (5, 5), "0801": (4, 4), "1001": (4, 4)}
    # (student, kind, subject, primary, mark, test score)
    exams = [("0901", "OGE", "Русский язык", 30, 5, ""), ("0901", "OGE", "Математика", 25, 5, ""),
             ("0903", "OGE", "Русский язык", 20, 4, ""), ("0903", "OGE", "Математика", 3, 2, ""),
             ("0904", "OGE", "Русский язык", 31, 5, ""), ("0904", "OGE", "Математика", 4, 2, ""),
             ("0904", "OGE", "Физика", 30, 5, ""),
             ("1101", "EGE", "Русский язык", 50, "", 80), ("1101", "EGE", "Математика (профильная)", 20, "", 70),
             ("1101", "EGE", "Физика", 30, "", 75),
             ("1102", "EGE", "Русский язык", 10, "", 20), ("1102", "EGE", "Математика (профильная)", 12, "", 50),
             ("1103", "EGE", "Русский язык", 20, "", 30), ("1103", "EGE", "Математика (базовая)", 12, 3, ""),
             ("1103", "EGE", "История", 20, "", 50)]
    retake = [("0904", "OGE", "Математика", 9, 3, "")]  # best ОГЭ mark in mathematics: 3 (passed on retake)
    tables = {
        "schools": [["school_id", "name", "municipality"], ["S01", "Школа", "Энск"]],
        "teachers": [["teacher_id", "school_id", "category", "experience_years"], ["T01", "S01", "first", "10"]],
        "classes": [["class_id", "school_id", "year", "grade", "letter", "profile"]]
        + [[c, "S01", "2025", str(g), "А", p] for c, g, p in classes],
        "students": [["student_id"]] + [[s] for s in cls_of],
        "enrollments": [["student_id", "class_id", "medal"]]
        + [[s, c, "gold" if s == "1101" else ""] for s, c in cls_of.items()],
        "assignments": [["teacher_id", "class_id", "subject"]] + [["T01", c, "Математика"] for c, _, _ in classes],
        "period_marks": [["student_id", "class_id", "subject", "period", "mark"]]
        + [[s, cls_of[s], subj, "year", str(m)] for s, ms in year_marks.items()
           for subj, m in zip(("Математика", "Русский язык"), ms, strict=True)],
        "assessments": [["student_id", "class_id", "kind", "subject", "date", "primary_score", "mark", "test_score"]]
        + [[s, cls_of[s], k, subj, "2025-06-01", str(p), str(m), str(ts)] for s, k, subj, p, m, ts in exams]
        + [[s, cls_of[s], k, subj, "2025-06-20", str(p), str(m), str(ts)] for s, k, subj, p, m, ts in retake],
        "destinations": [["student_id", "year", "grade", "destination", "profile", "institution"],
                         ["0901", "2025", "9", "10 класс своей школы", "", ""],          # row 2: ok (Russian label)
                         ["0904", "2025", "9", "spo", "технический", "Колледж"],        # row 3: ok
                         ["1101", "2025", "11", "university", "technical", "Вуз"],      # row 4: ok
                         ["1103", "2025", "11", "spo", "medical", ""],                  # row 5: ok
                         ["1102", "2025", "11", "work", "", ""],                         # row 6: ok
                         ["0902", "2025", "10", "spo", "", ""],                          # row 7: range
                         ["0903", "2025", "9", "армия", "", ""],                         # row 8: vocabulary
                         ["9999", "2025", "9", "spo", "", ""],                           # row 9: foreign_key
                         ["0801", "2025", "9", "spo", "", ""],                           # row 10: graduate_grade
                         ["1001", "2025", "11", "university", "science", ""],           # row 11: graduate_grade
                         ["0901", "2024", "9", "own_10", "", ""]],                       # row 12: not enrolled in 2024
    }
    return write_folder(tmp / "hand", tables)


@pytest.fixture(scope="module")
def hand_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dest")
    folder = _hand_folder(tmp)
    ingest(folder, tmp / "w.duckdb")
    return folder, tmp / "w.duckdb"


def test_bad_destination_rows_are_rejected_with_their_rules(hand_db):
    folder, _ = hand_db
    rep = validate_folder(folder)
    rej = rep.rejects[rep.rejects["table"] == "destinations"]
    got = {(int(r.row), r.column, r.rule) for r in rej.itertuples()}
    assert got == {(7, "grade", "range"), (8, "destination", "vocabulary"), (9, "student_id", "foreign_key"),
                   (10, "grade", "graduate_grade"), (11, "grade", "graduate_grade"), (12, "year", "foreign_key")}
    assert rep.n_rejected == 6  # every other table of the folder is clean


def test_self_examination_rows_against_a_hand_count(hand_db):
    _, db = hand_db
    con = connect(db, read_only=True)
    try:
        res = evaluate_frameworks(con, "S01", 2025)
        t = res.framework("self_examination_1324").set_index("indicator_id")
        val = lambda i: (t.at[i, "status"], int(t.at[i, "count"]), int(t.at[i, "denominator"]))  # noqa: E731
        # grade 9 (4 students): 0902 year mark 2, 0903 ОГЭ mathematics best 2 -> 2 without the certificate;
        # 0901 and 0904 (all year marks 5, mathematics passed on the retake) -> 2 with honours
        assert val("1.14") == ("computed", 2, 4)
        assert val("1.16") == ("computed", 2, 4)
        # grade 11 (3 students): 1102 Russian 20 < 24 -> 1 without; medals kept: one gold (1101) -> 1 with honours
        assert val("1.15") == ("computed", 1, 3)
        assert val("1.17") == ("computed", 1, 3)
        # profile classes: 11А технологический (3 students) of 9 students; universal 10А does not count
        assert val("1.21") == ("computed", 3, 9)
        from vsoko_toolkit.indicators.compute import destination_share
        from vsoko_toolkit.indicators.registry import ComputeContext

        ctx = ComputeContext(con, "S01", 2025)
        v = destination_share(ctx, 9, ["own_10"])
        assert (v.count, v.denominator) == (1, 2)  # accepted rows of grade 9: 0901 own_10, 0904 spo
        v = destination_share(ctx, 11, ["university", "spo"], profiles=["technical"])
        assert (v.count, v.denominator) == (1, 3)
    finally:
        con.close()


# ---------------------------------------------------------------- the chapter, both profiles
@pytest.mark.parametrize("profile", ["internal", "public"])
def test_chapter_runs_inprocess_and_public_tables_suppress_small_groups(sample_db_path, tmp_path, profile):
    out = run_inprocess(sample_db_path, "S01", 2025, tmp_path / "out", stems=("07b_destinations",), profile=profile)
    assert not out["failed"], out["failed"]
    kinds = [(f["kind"], f.get("profile")) for f in out["doc"]["findings"]]
    assert kinds == [("graduate_outflow", "technical")]
    tables = tmp_path / "out" / "S01" / "2025" / "tables"
    shares = pd.read_csv(tables / "destinations_shares.csv")
    small = shares["n"].between(1, 4)
    if profile == "public":
        n = shares["n"].dropna()
        assert "suppressed" in shares.columns and ((n == 0) | (n >= 5)).all()
        assert (shares.loc[shares["suppressed"] == "< 5", ["share", "ci_low", "muni_share"]].isna()).all().all()
    else:
        assert small.any()  # the internal table keeps small groups (so the public check above is not vacuous)
