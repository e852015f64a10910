"""Tests of vsoko_toolkit.analysis.metrics: every metric against a hand computation.

Tolerance: ``HAND = 1e-6`` — the hand values beside each number are written to at
least 7 significant digits (z = 1.959964 for 95 %; t quantiles from tables:
t(0.975, 1) = 12.706205, t(0.975, 5) = 2.570582).  Counts are compared exactly.
"""

from __future__ import annotations

import doctest

import duckdb
import numpy as np
import pandas as pd
import pytest

from vsoko_toolkit.analysis import metrics as metrics_module
from vsoko_toolkit.analysis.metrics import (
    COUNT_COLUMNS,
    METRIC_COLUMNS,
    count_marks,
    count_marks_sql,
    metrics_from_counts,
    school_metrics,
)

HAND = 1e-6

# One row per mark.  Class A: a mark 1 and two non-numeric entries; B: a group of one;
# C: no numeric marks at all; D: all 5s; E: two numeric marks and two non-numeric.
MARKS = {
    "A": ["5", "4", "4", "3", "2", "1", "н/а", "зач"],
    "B": ["4"],
    "C": ["н/а", "отс", "осв"],
    "D": ["5", "5", "5"],
    "E": ["неосв", "незач", "2", "3"],
}


@pytest.fixture
def marks() -> pd.DataFrame:
    rows = [(cls, m) for cls, ms in MARKS.items() for m in ms]
    df = pd.DataFrame(rows, columns=["class_id", "mark"])
    df["subject"] = np.where(df.index % 2 == 0, "math", "russian")
    df["school_id"] = "S1"
    return df


def by_class(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("class_id")


# --------------------------------------------------------------------------- counts


def test_count_marks_by_class(marks):
    counts = by_class(count_marks(marks, "class_id"))
    assert list(counts.columns) == list(COUNT_COLUMNS)
    assert (counts.dtypes == "int64").all()
    expected = {  # n1 n2 n3 n4 n5 | n_numeric | na zach nezach osv neosv ots | n_total
        "A": [1, 1, 1, 2, 1, 6, 1, 1, 0, 0, 0, 0, 8],
        "B": [0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1],
        "C": [0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 3],
        "D": [0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 3],
        "E": [0, 1, 1, 0, 0, 2, 0, 0, 1, 0, 1, 0, 4],
    }
    for cls, row in expected.items():
        assert counts.loc[cls].tolist() == row, cls


def test_count_marks_whole_table_and_multiple_keys(marks):
    total = count_marks(marks)
    # n1 = 1 (A); n2 = 1 (A) + 1 (E) = 2; n3 = 1 (A) + 1 (E) = 2; n4 = 2 (A) + 1 (B) = 3;
    # n5 = 1 (A) + 3 (D) = 4; N = 12; non-numeric: н/а 2, зач 1, незач 1, осв 1, неосв 1,
    # отс 1 -> 7; n_total = 19 rows
    assert total.iloc[0].tolist() == [1, 2, 2, 3, 4, 12, 2, 1, 1, 1, 1, 1, 19]
    two = count_marks(marks, ["school_id", "subject"])
    assert list(two.columns[:2]) == ["school_id", "subject"]
    assert two["n_total"].tolist() == [10, 9]  # 19 rows alternate math/russian
    assert two[list(COUNT_COLUMNS)].sum().tolist() == total.iloc[0].tolist()


def test_count_marks_accepts_spaces_case_and_integers():
    text = pd.DataFrame({"g": ["x"] * 3, "mark": [" 5", "Н/А", "ОТС "]})
    row = count_marks(text, "g").iloc[0]
    assert (row["n5"], row["n_na"], row["n_ots"], row["n_total"]) == (1, 1, 1, 3)
    ints = pd.DataFrame({"g": ["x", "x", "y"], "mark": [5, 1, 3]})
    assert count_marks(ints, "g")[["n1", "n3", "n5"]].to_numpy().tolist() == [[1, 0, 1], [0, 1, 0]]


@pytest.mark.parametrize("bad", ["6", "0", "", "отл", None, "5-"])
def test_count_marks_rejects_non_canonical_marks(bad):
    df = pd.DataFrame({"g": ["x", "x"], "mark": ["5", bad]})
    with pytest.raises(ValueError, match="Допустимы"):
        count_marks(df, "g")


def test_count_marks_missing_keys_and_empty_frames():
    df = pd.DataFrame({"teacher": ["T1", None, "T1"], "mark": ["5", "4", "2"]})
    counts = count_marks(df, "teacher")
    assert counts["n_numeric"].tolist() == [2, 1]  # a missing key is its own group, last
    assert pd.isna(counts["teacher"].iloc[1])
    empty = df.iloc[:0]
    assert count_marks(empty, "teacher").empty
    assert count_marks(empty).iloc[0]["n_total"] == 0  # whole (empty) table: one row of 0
    with pytest.raises(ValueError, match="нет столбцов"):
        count_marks(df, "class_id")


def test_count_marks_does_not_mutate(marks):
    before = marks.copy()
    school_metrics(marks, ["class_id", "subject"])
    pd.testing.assert_frame_equal(marks, before)


# --------------------------------------------------------------------------- SQL twin


@pytest.mark.parametrize(
    "by", [None, "class_id", ["school_id", "subject"], ["subject", "class_id"]]
)
def test_count_marks_sql_equals_count_marks(marks, by):
    con = duckdb.connect()
    con.register("marks_view", marks)
    con.execute("CREATE TABLE period_marks AS SELECT * FROM marks_view")
    from_table = count_marks_sql(con, "period_marks", by)
    from_query = count_marks_sql(con, "SELECT * FROM period_marks WHERE mark IS NOT NULL", by)
    expected = count_marks(marks, by)
    pd.testing.assert_frame_equal(from_table, expected, check_dtype=False)
    pd.testing.assert_frame_equal(from_query, expected, check_dtype=False)
    assert (from_table[list(COUNT_COLUMNS)].dtypes == "int64").all()


def test_count_marks_sql_null_keys_empty_and_errors():
    df = pd.DataFrame({"teacher": ["T1", None, "T1", "T2"], "mark": ["5", "4", "2", "отс"]})
    con = duckdb.connect()
    con.register("pm", df)
    pd.testing.assert_frame_equal(
        count_marks_sql(con, "pm", "teacher"), count_marks(df, "teacher"), check_dtype=False
    )
    assert count_marks_sql(con, "SELECT * FROM pm WHERE false", "teacher").empty
    con.register("bad", pd.DataFrame({"g": ["x", "x"], "mark": ["5", "6"]}))
    with pytest.raises(ValueError, match="'6'"):
        count_marks_sql(con, "bad", "g")


# --------------------------------------------------------------------------- metrics


def test_metrics_columns(marks):
    m = school_metrics(marks, "class_id")
    assert list(m.columns) == ["class_id", *METRIC_COLUMNS]


def test_metrics_class_with_a_mark_1_and_non_numeric_entries(marks):
    a = by_class(school_metrics(marks, "class_id")).loc["A"]
    # marks 5, 4, 4, 3, 2, 1 (+ н/а, зач outside N): N = 6
    assert a["n_numeric"] == 6 and a["n_total"] == 8 and a["n_na"] == 1 and a["n_zach"] == 1
    # success = (n3 + n4 + n5)/N = (1 + 2 + 1)/6 = 0.6666667 — the mark 1 fails like a 2
    assert a["n_success"] == 4
    assert a["success"] == pytest.approx(4 / 6, abs=HAND)
    # Wilson 4/6: centre = (4 + z²/2)/(6 + z²) = 5.920729/9.841459 = 0.6016109,
    # half = z·sqrt(4·2/6 + z²/4)/(6 + z²) = 1.959964·1.514496/9.841459 = 0.3016176
    assert a["success_lower"] == pytest.approx(0.2999933, abs=HAND)
    assert a["success_upper"] == pytest.approx(0.9032286, abs=HAND)
    # quality = (n4 + n5)/N = 3/6 = 0.5; Wilson 3/6: 0.5 ± 1.959964·sqrt(1.5 + 0.960365)/9.841459
    # = 0.5 ± 0.3123837
    assert a["n_quality"] == 3 and a["quality"] == pytest.approx(0.5, abs=HAND)
    assert a["quality_lower"] == pytest.approx(0.1876163, abs=HAND)
    assert a["quality_upper"] == pytest.approx(0.8123837, abs=HAND)
    # СОУ = (100·1 + 64·2 + 36·1 + 16·1 + 4·1)/6 = 284/6 = 47.333333 %
    assert a["sou"] == pytest.approx(47.333333, abs=HAND)
    # SD of weights 4, 16, 36, 64, 64, 100: Σ(w - 47.3333)² = 19760 - 284²/6 = 6317.3333,
    # sd = sqrt(6317.3333/5) = 35.545276; half = 2.570582·35.545276/sqrt(6) = 37.302480
    assert a["sou_lower"] == pytest.approx(10.030854, abs=HAND)
    assert a["sou_upper"] == pytest.approx(84.635813, abs=HAND)
    # mean = (5 + 4 + 4 + 3 + 2 + 1)/6 = 19/6 = 3.1666667;
    # Σ(x - mean)² = 71 - 19²/6 = 10.833333, sd = sqrt(10.833333/5) = 1.4719601
    assert a["mean_mark"] == pytest.approx(19 / 6, abs=HAND)
    assert a["mean_mark_sd"] == pytest.approx(1.4719601, abs=HAND)
    # 3.1666667 ± 2.570582·1.4719601/sqrt(6) = 3.1666667 ± 1.5447274
    assert a["mean_mark_lower"] == pytest.approx(1.6219392, abs=HAND)
    assert a["mean_mark_upper"] == pytest.approx(4.7113941, abs=HAND)


def test_metrics_group_of_one(marks):
    b = by_class(school_metrics(marks, "class_id")).loc["B"]
    # one mark 4: success = quality = 1/1, СОУ = 64, mean = 4
    assert (b["n_numeric"], b["success"], b["quality"], b["sou"], b["mean_mark"]) == (
        1, 1.0, 1.0, 64.0, 4.0
    )  # fmt: skip
    # Wilson 1/1: (1 + z²/2 - z·sqrt(z²/4))/(1 + z²) = (2.920729 - 1.920729)/4.841459 = 0.2065493
    assert b["success_lower"] == pytest.approx(0.2065493, abs=HAND)
    assert b["success_upper"] == 1.0
    # no spread from one mark: SD and the intervals of both means are NaN
    assert (
        b[["mean_mark_sd", "mean_mark_lower", "mean_mark_upper", "sou_lower", "sou_upper"]]
        .isna()
        .all()
    )


def test_metrics_group_without_numeric_marks(marks):
    c = by_class(school_metrics(marks, "class_id")).loc["C"]
    # н/а, отс, осв: N = 0 -> every metric NaN, the entries still counted
    assert c["n_numeric"] == 0 and c["n_success"] == 0 and c["n_total"] == 3
    assert (c["n_na"], c["n_ots"], c["n_osv"]) == (1, 1, 1)
    metric_cols = [col for col in METRIC_COLUMNS if not col.startswith("n")]
    assert c[metric_cols].isna().all()


def test_metrics_all_fives(marks):
    d = by_class(school_metrics(marks, "class_id")).loc["D"]
    # 5, 5, 5: success = quality = 3/3 = 1, СОУ = 100, mean = 5
    assert (d["success"], d["quality"], d["sou"], d["mean_mark"]) == (1.0, 1.0, 100.0, 5.0)
    assert d["success_upper"] == 1.0 and d["quality_upper"] == 1.0  # Wilson upper = 1
    # Wilson 3/3: centre = (3 + z²/2)/(3 + z²), half = z·sqrt(z²/4)/(3 + z²) = (z²/2)/(3 + z²),
    # lower = 3/(3 + z²) = 3/6.841459 = 0.4385030
    assert d["success_lower"] == pytest.approx(0.4385030, abs=HAND)
    # SD 0: the t interval collapses to the point (documented limitation)
    assert d["mean_mark_sd"] == 0.0
    assert d["mean_mark_lower"] == d["mean_mark_upper"] == 5.0
    assert d["sou_lower"] == d["sou_upper"] == 100.0


def test_metrics_two_marks_interval_clipped(marks):
    e = by_class(school_metrics(marks, "class_id")).loc["E"]
    # marks 2, 3 (+ неосв, незач): success = 1/2, quality = 0/2, СОУ = (16 + 36)/2 = 26, mean 2.5
    assert (e["n_numeric"], e["n_neosv"], e["n_nezach"], e["n_total"]) == (2, 1, 1, 4)
    assert (e["success"], e["quality"], e["sou"], e["mean_mark"]) == (0.5, 0.0, 26.0, 2.5)
    # Wilson 0/2: lower 0, upper = 2·(z²/2)/(2 + z²) = 3.841459/5.841459 = 0.6576198
    assert e["quality_lower"] == 0.0
    assert e["quality_upper"] == pytest.approx(0.6576198, abs=HAND)
    # Wilson 1/2: 0.5 ± 1.959964·sqrt(0.5 + 0.960365)/5.841459 = 0.5 ± 0.4054688
    assert e["success_lower"] == pytest.approx(0.0945312, abs=HAND)
    # mean: sd = sqrt(0.5) = 0.7071068; 2.5 ± 12.706205·0.7071068/sqrt(2) = 2.5 ± 6.353102
    # -> [-3.853102, 8.853102], clipped to the possible range [1, 5]
    assert e["mean_mark_sd"] == pytest.approx(0.7071068, abs=HAND)
    assert (e["mean_mark_lower"], e["mean_mark_upper"]) == (1.0, 5.0)
    # СОУ: sd = sqrt(((16 - 26)² + (36 - 26)²)/1) = 14.142136; 26 ± 12.706205·10 -> clipped [4, 100]
    assert (e["sou_lower"], e["sou_upper"]) == (4.0, 100.0)


def test_metrics_whole_table(marks):
    t = school_metrics(marks).iloc[0]
    # n1..n5 = 1, 2, 2, 3, 4; N = 12
    # success = (2 + 3 + 4)/12 = 0.75; quality = 7/12 = 0.5833333
    # СОУ = (400 + 192 + 72 + 32 + 4)/12 = 700/12 = 58.333333; mean = (1 + 4 + 6 + 12 + 20)/12 = 43/12
    assert t["success"] == pytest.approx(0.75, abs=HAND)
    assert t["quality"] == pytest.approx(7 / 12, abs=HAND)
    assert t["sou"] == pytest.approx(58.333333, abs=HAND)
    assert t["mean_mark"] == pytest.approx(3.5833333, abs=HAND)


def test_metrics_from_counts_only_numeric_columns_and_level():
    counts = pd.DataFrame(
        {"g": ["x", "y"], "n1": [0, 0], "n2": [1, 0], "n3": [1, 0], "n4": [1, 0], "n5": [1, 0]}
    )
    before = counts.copy()
    m = metrics_from_counts(counts)
    pd.testing.assert_frame_equal(counts, before)
    assert "n_na" not in m.columns and "n_total" not in m.columns
    # 2, 3, 4, 5: success 3/4, quality 2/4, СОУ (16 + 36 + 64 + 100)/4 = 54, mean 3.5
    assert m.loc[0, ["success", "quality", "sou", "mean_mark"]].tolist() == [0.75, 0.5, 54.0, 3.5]
    assert m.loc[1, ["success", "sou", "mean_mark"]].isna().all()  # y: N = 0
    wide = metrics_from_counts(counts, level=0.99).loc[0]
    narrow = m.loc[0]
    assert (
        wide["success_lower"]
        < narrow["success_lower"]
        <= narrow["success_upper"]
        < wide["success_upper"]
    )
    with pytest.raises(ValueError, match="n5"):
        metrics_from_counts(counts.drop(columns="n5"))


def test_docstring_examples_run():
    result = doctest.testmod(metrics_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
