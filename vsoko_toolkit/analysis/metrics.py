"""The standard school metrics — success, quality, СОУ, mean mark — for any grouping.

Definitions follow the domain brief ("Standard school metrics"): over the marks
that are numeric (``'1'``..``'5'``), with ``N`` their number,

- success (успеваемость) = (n3 + n4 + n5) / N — a mark 1 fails like a 2;
- quality (качество знаний) = (n4 + n5) / N;
- СОУ (степень обученности, Simonov) = (100·n5 + 64·n4 + 36·n3 + 16·n2 + 4·n1) / N, in %;
- mean mark (средний балл) = mean of the numeric marks.

Non-numeric journal entries (``н/а``, ``зач``, ``незач``, ``осв``, ``неосв``,
``отс``) are counted in their own columns and never enter ``N``.

Functions
---------
count_marks
    Counts per group from a long pandas frame with a text ``mark`` column.
count_marks_sql
    The same counts computed by DuckDB from a table or a query.
metrics_from_counts
    The metrics with intervals from a counts table.
school_metrics
    ``metrics_from_counts(count_marks(df, by))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vsoko_toolkit.stats.intervals import mean_interval, wilson_interval

__all__ = [
    "COUNT_COLUMNS",
    "MARK_VALUES",
    "METRIC_COLUMNS",
    "NON_NUMERIC_COLUMNS",
    "NUMERIC_COLUMNS",
    "count_marks",
    "count_marks_sql",
    "metrics_from_counts",
    "school_metrics",
]

#: Canonical mark values -> count column.
MARK_VALUES: dict[str, str] = {
    "1": "n1",
    "2": "n2",
    "3": "n3",
    "4": "n4",
    "5": "n5",
    "н/а": "n_na",
    "зач": "n_zach",
    "незач": "n_nezach",
    "осв": "n_osv",
    "неосв": "n_neosv",
    "отс": "n_ots",
}
NUMERIC_COLUMNS: tuple[str, ...] = ("n1", "n2", "n3", "n4", "n5")
NON_NUMERIC_COLUMNS: tuple[str, ...] = ("n_na", "n_zach", "n_nezach", "n_osv", "n_neosv", "n_ots")
#: Columns of :func:`count_marks` after the grouping keys, in order.
COUNT_COLUMNS: tuple[str, ...] = (*NUMERIC_COLUMNS, "n_numeric", *NON_NUMERIC_COLUMNS, "n_total")
#: Columns of :func:`metrics_from_counts` after the grouping keys, in order.
METRIC_COLUMNS: tuple[str, ...] = (
    "n_numeric",
    "n_success", "success", "success_lower", "success_upper",
    "n_quality", "quality", "quality_lower", "quality_upper",
    "sou", "sou_lower", "sou_upper",
    "mean_mark", "mean_mark_sd", "mean_mark_lower", "mean_mark_upper",
    *NUMERIC_COLUMNS, *NON_NUMERIC_COLUMNS, "n_total",
)  # fmt: skip

_MARK_NUMBERS = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
_SOU_WEIGHTS = np.array([4.0, 16.0, 36.0, 64.0, 100.0])  # for marks 1..5


def _keys(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _normalise_marks(marks: pd.Series) -> pd.Series:
    """Marks as canonical text; integers 1..5 given as numbers become ``'1'``..``'5'``."""
    if pd.api.types.is_numeric_dtype(marks) and not pd.api.types.is_bool_dtype(marks):
        numbers = pd.to_numeric(marks, errors="coerce")
        whole = numbers.notna() & (numbers == numbers.round())
        text = numbers.where(whole).astype("Int64").astype("string")
        return text.where(whole, marks.astype("string"))
    return marks.astype("string").str.strip().str.lower()


def _raise_unknown(values: Sequence[object]) -> None:
    shown = sorted({"<пусто>" if pd.isna(v) else str(v) for v in values})[:10]
    allowed = ", ".join(f"'{v}'" for v in MARK_VALUES)
    raise ValueError(f"Недопустимые значения в столбце 'mark': {shown}. Допустимы: {allowed}.")


def count_marks(df: pd.DataFrame, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Count marks of each kind per group.

    Parameters
    ----------
    df : pandas.DataFrame
        Long table, one row per mark, with a ``mark`` column of canonical text
        (``'1'``..``'5'``, ``'н/а'``, ``'зач'``, ``'незач'``, ``'осв'``,
        ``'неосв'``, ``'отс'``; case and surrounding spaces are ignored; whole
        numbers 1..5 are accepted too).  Not modified.
    by : str or list of str, optional
        Grouping columns (school, grade, class, subject, teacher, period,
        year, ...).  ``None`` or ``[]``: one row for the whole table.

    Returns
    -------
    pandas.DataFrame
        One row per group present in ``df`` (missing keys form their own group),
        sorted by the keys; columns: the keys, then

        ``n1`` .. ``n5``
            number of marks 1 .. 5;
        ``n_numeric``
            ``N = n1 + … + n5``;
        ``n_na, n_zach, n_nezach, n_osv, n_neosv, n_ots``
            number of ``н/а``, ``зач``, ``незач``, ``осв``, ``неосв``, ``отс``;
        ``n_total``
            all rows of the group.

        Counts are ``int64``.

    Raises
    ------
    ValueError
        If ``mark`` or a key column is missing, or a mark is empty or not
        canonical (the message lists the allowed values).

    Examples
    --------
    >>> marks = pd.DataFrame({"class_id": ["5А"] * 4 + ["5Б"] * 2,
    ...                       "mark": ["5", "4", "2", "н/а", "3", "зач"]})
    >>> count_marks(marks, "class_id")[["class_id", "n2", "n4", "n5", "n_numeric", "n_na", "n_total"]]
      class_id  n2  n4  n5  n_numeric  n_na  n_total
    0       5А   1   1   1          3     1        4
    1       5Б   0   0   0          1     0        2
    """
    keys = _keys(by)
    missing = [c for c in ["mark", *keys] if c not in df.columns]
    if missing:
        raise ValueError(f"В таблице нет столбцов: {missing}.")
    marks = _normalise_marks(df["mark"])
    known = marks.isin(list(MARK_VALUES)).fillna(False).astype(bool)
    if not known.all():
        _raise_unknown(df["mark"][~known.to_numpy()].tolist())
    kinds = pd.Categorical(marks.to_numpy(dtype=object), categories=list(MARK_VALUES))
    onehot = pd.get_dummies(kinds).astype("int64")
    onehot.columns = list(MARK_VALUES.values())
    onehot.index = df.index
    if keys:
        grouped = pd.concat([df[keys], onehot], axis=1).groupby(
            keys, dropna=False, sort=True, observed=True
        )
        counts = grouped[list(MARK_VALUES.values())].sum().reset_index()
    else:
        counts = onehot.sum().to_frame().T.reset_index(drop=True)
    counts["n_numeric"] = counts[list(NUMERIC_COLUMNS)].sum(axis=1)
    counts["n_total"] = counts["n_numeric"] + counts[list(NON_NUMERIC_COLUMNS)].sum(axis=1)
    counts = counts.astype({c: "int64" for c in COUNT_COLUMNS})
    return counts[[*keys, *COUNT_COLUMNS]]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def count_marks_sql(con, relation_sql: str, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Count marks per group inside DuckDB — the SQL twin of :func:`count_marks`.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Open connection (e.g. to the warehouse).
    relation_sql : str
        A table or view name (``'period_marks'``) or a query
        (``'SELECT * FROM period_marks WHERE year = 2025'``) with a ``mark``
        column (canonical text, or INTEGER 1..5) and the key columns.
        Trusted SQL: it is inserted as is.
    by : str or list of str, optional
        Grouping columns; ``None`` or ``[]``: one row for the whole relation.

    Returns
    -------
    pandas.DataFrame
        The same columns, order and values as :func:`count_marks` on the same
        rows (keys keep their DuckDB types; rows sorted by the keys, missing
        keys last).  Only the aggregated rows leave DuckDB.

    Raises
    ------
    ValueError
        If a mark is empty or not canonical.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE pm AS SELECT * FROM (VALUES "
    ...     "('5А', '5'), ('5А', '1'), ('5А', 'осв'), ('5Б', '4')) t(class_id, mark)")
    >>> count_marks_sql(con, "pm", "class_id")[["class_id", "n1", "n4", "n5", "n_numeric", "n_osv"]]
      class_id  n1  n4  n5  n_numeric  n_osv
    0       5А   1   0   1          2      1
    1       5Б   0   1   0          1      0
    """
    keys = _keys(by)
    rel = relation_sql.strip()
    if rel.lstrip("(").split(None, 1)[0].lower() in {"select", "with", "from", "values", "table"}:
        source = f"({rel.rstrip(';')}) AS _rel"
    else:
        source = rel
    key_sql = ", ".join(_quote(k) for k in keys)
    allowed = ", ".join("'" + v + "'" for v in MARK_VALUES)
    norm = "lower(trim(CAST(mark AS VARCHAR)))"
    counts_sql = ",\n  ".join(
        f"count(*) FILTER (WHERE _m = '{value}')::BIGINT AS {column}"
        for value, column in MARK_VALUES.items()
    )
    prefix = key_sql + ", " if keys else ""
    inner = f"SELECT {prefix}{norm} AS _m, mark AS _raw FROM {source}"
    query = (
        f"SELECT {prefix}{counts_sql},\n"
        f"  count(*) FILTER (WHERE _m IS NULL OR _m NOT IN ({allowed}))::BIGINT AS _unknown\n"
        f"FROM ({inner}) AS _x"
    )
    if keys:
        query += f"\nGROUP BY {key_sql}\nORDER BY " + ", ".join(
            f"{_quote(k)} ASC NULLS LAST" for k in keys
        )
    counts = con.execute(query).df()
    if counts["_unknown"].sum() > 0:
        bad = con.execute(
            f"SELECT DISTINCT _raw FROM ({inner}) AS _y "
            f"WHERE _m IS NULL OR _m NOT IN ({allowed}) LIMIT 10"
        ).fetchall()
        _raise_unknown([row[0] for row in bad])
    counts = counts.drop(columns="_unknown")
    counts["n_numeric"] = counts[list(NUMERIC_COLUMNS)].sum(axis=1)
    counts["n_total"] = counts["n_numeric"] + counts[list(NON_NUMERIC_COLUMNS)].sum(axis=1)
    counts = counts.astype({c: "int64" for c in COUNT_COLUMNS})
    return counts[[*keys, *COUNT_COLUMNS]]


def metrics_from_counts(counts: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Success, quality, СОУ and mean mark with intervals, from mark counts.

    Parameters
    ----------
    counts : pandas.DataFrame
        Output of :func:`count_marks` / :func:`count_marks_sql`, or any frame
        with columns ``n1`` .. ``n5``.  Non-numeric count columns and
        ``n_total`` are carried through when present; every other column is
        treated as a grouping key and kept in front.  Not modified.
    level : float, default 0.95
        Confidence level of all intervals.

    Returns
    -------
    pandas.DataFrame
        One row per input row; columns: the keys, then (:data:`METRIC_COLUMNS`)

        ``n_numeric``
            ``N``, the number of numeric marks — the denominator of every metric;
        ``n_success``, ``success``, ``success_lower``, ``success_upper``
            ``n3 + n4 + n5``, its share of ``N`` (0..1) and Wilson interval;
        ``n_quality``, ``quality``, ``quality_lower``, ``quality_upper``
            ``n4 + n5``, its share of ``N`` (0..1) and Wilson interval;
        ``sou``, ``sou_lower``, ``sou_upper``
            СОУ in % (4..100) and its t interval (СОУ is the mean of the per-mark
            weights 4, 16, 36, 64, 100), clipped to [4, 100];
        ``mean_mark``, ``mean_mark_sd``, ``mean_mark_lower``, ``mean_mark_upper``
            mean of numeric marks, their standard deviation (``ddof = 1``) and
            the t interval, clipped to [1, 5];
        ``n1`` .. ``n5``, ``n_na`` .. ``n_ots``, ``n_total``
            the counts, carried through (non-numeric ones only if given).

        ``N = 0`` gives ``NaN`` metrics; ``N = 1`` gives ``NaN`` for the standard
        deviation and the intervals of the two means (the Wilson intervals of the
        shares stay defined).

    Notes
    -----
    Wilson score intervals: :func:`vsoko_toolkit.stats.intervals.wilson_interval`.
    Mean intervals: ``mean ± t(level, N - 1) · sd / sqrt(N)`` with the sample
    variance of the discrete distribution given by the counts,
    ``sd² = Σ n_i (i - mean)² / (N - 1)``.  When all marks in a group are equal
    the standard deviation is 0 and that interval has zero width — read the
    Wilson intervals of the shares for such groups.  Every number is checked
    against a hand computation in ``tests/test_metrics.py``.

    Examples
    --------
    >>> counts = pd.DataFrame({"class_id": ["5А"], "n1": [0], "n2": [1], "n3": [1],
    ...                        "n4": [1], "n5": [1]})
    >>> m = metrics_from_counts(counts)
    >>> m[["n_numeric", "success", "quality", "sou", "mean_mark"]].round(2)
       n_numeric  success  quality   sou  mean_mark
    0          4     0.75      0.5  54.0        3.5
    """
    missing = [c for c in NUMERIC_COLUMNS if c not in counts.columns]
    if missing:
        raise ValueError(f"В таблице счётчиков нет столбцов: {missing}.")
    carried = [c for c in (*NON_NUMERIC_COLUMNS, "n_total") if c in counts.columns]
    keys = [c for c in counts.columns if c not in (*NUMERIC_COLUMNS, "n_numeric", *carried)]
    c = counts[list(NUMERIC_COLUMNS)].to_numpy(dtype=float)
    if np.any(c < 0) or np.any(~np.isfinite(c)):
        raise ValueError("Счётчики отметок должны быть неотрицательными числами.")
    n = c.sum(axis=1)
    n_success = c[:, 2:].sum(axis=1)
    n_quality = c[:, 3:].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        success = n_success / n
        quality = n_quality / n
    success_lower, success_upper = wilson_interval(n_success, n, level)
    quality_lower, quality_upper = wilson_interval(n_quality, n, level)
    mean_mark, sd_mark = _weighted_mean_sd(c, _MARK_NUMBERS)
    mean_lower, mean_upper = mean_interval(mean_mark, sd_mark, n, level)
    sou, sd_sou = _weighted_mean_sd(c, _SOU_WEIGHTS)
    sou_lower, sou_upper = mean_interval(sou, sd_sou, n, level)

    out = counts[keys].reset_index(drop=True).copy()
    columns = {
        "n_numeric": n.astype("int64"),
        "n_success": n_success.astype("int64"),
        "success": success,
        "success_lower": success_lower,
        "success_upper": success_upper,
        "n_quality": n_quality.astype("int64"),
        "quality": quality,
        "quality_lower": quality_lower,
        "quality_upper": quality_upper,
        "sou": sou,
        "sou_lower": np.clip(sou_lower, 4.0, 100.0),
        "sou_upper": np.clip(sou_upper, 4.0, 100.0),
        "mean_mark": mean_mark,
        "mean_mark_sd": sd_mark,
        "mean_mark_lower": np.clip(mean_lower, 1.0, 5.0),
        "mean_mark_upper": np.clip(mean_upper, 1.0, 5.0),
    }
    for name in (*NUMERIC_COLUMNS, *carried):
        columns[name] = counts[name].to_numpy()
    return pd.concat([out, pd.DataFrame(columns)], axis=1)


def _weighted_mean_sd(counts: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample SD (``ddof = 1``) of a discrete distribution given by counts.

    ``NaN`` mean where the total is 0, ``NaN`` SD where it is below 2.
    """
    n = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = counts @ values / n
        ss = (counts * (values[None, :] - mean[:, None]) ** 2).sum(axis=1)
        sd = np.where(n >= 2, np.sqrt(ss / (n - 1.0)), np.nan)
    return mean, sd


def school_metrics(
    df: pd.DataFrame, by: str | Sequence[str] | None = None, level: float = 0.95
) -> pd.DataFrame:
    """Standard metrics per group straight from a long table of marks.

    ``metrics_from_counts(count_marks(df, by), level)`` — see those functions
    for the input and the output columns.

    Examples
    --------
    >>> marks = pd.DataFrame({"subject": ["math"] * 5 + ["russian"] * 3,
    ...                       "mark": ["5", "5", "4", "3", "2", "4", "4", "отс"]})
    >>> m = school_metrics(marks, "subject")
    >>> m[["subject", "n_numeric", "success", "success_lower", "quality", "mean_mark", "n_ots"]].round(3)
       subject  n_numeric  success  success_lower  quality  mean_mark  n_ots
    0     math          5      0.8          0.376      0.6        3.8      0
    1  russian          2      1.0          0.342      1.0        4.0      1
    """
    return metrics_from_counts(count_marks(df, by), level=level)
