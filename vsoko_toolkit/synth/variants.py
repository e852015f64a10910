"""Variants of a contract data folder: the same data in other shapes the contract accepts.

Our analyses must hold on any data that speaks the data contract, not only on the
shape the generator writes. :func:`write_variant` reads a data folder (every cell
as text, nothing coerced), changes only what the variant asks and writes a
complete, valid copy (zero rejects at ingest) with its truth translated:

* ``minimal``: only the contract's required columns;
* ``drop_tables``: optional tables absent (with the tables that cannot stand without them);
* ``encoding`` / ``delimiter`` / ``decimal``: e.g. Windows-1251, ``;`` and a decimal comma;
* ``russian_labels``: codes as their Russian labels (``ВПР``, ``1 четверть``, ``высшая``, ``да``),
  dates ``DD.MM.YYYY``, the decisions register with its Russian headers;
* ``habits``: the generator's habits the contract does not fix: id formats, ВПР dates,
  a subject absent in the earliest year, column order.

>>> from vsoko_toolkit.synth.variants import write_variant
>>> truth = write_variant("data_samples/municipality", "/tmp/v1", minimal=True, habits=True)  # doctest: +SKIP
>>> truth["variant_removed"]["subject"]  # doctest: +SKIP
'Информатика'
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..contract.reader import cell_text, detect_delimiter, find_tables, normalise_name
from ..contract.spec import BOOL_LABELS, HEADER_LABELS, ORDER, TABLES, VOCABULARIES

#: Tables a variant may drop.
OPTIONAL_TABLES: tuple[str, ...] = tuple(n for n, t in TABLES.items() if not t.required)
#: Entity tables whose ids ``habits`` rewrites, by the id kind used in the maps.
ENTITIES: dict[str, str] = {"students": "student", "teachers": "teacher", "classes": "class"}
#: Required references the validator waives (``contract.validate.check_foreign_keys``:
#: surveys keep their item ids when survey_items is absent).
WAIVED_REFS: frozenset[tuple[str, str]] = frozenset({("surveys", "item_id")})
#: Subjects ``habits`` may remove from the earliest year, in order of preference.
ELECTIVES: tuple[str, ...] = ("Информатика", "География", "Химия", "Физика", "Биология",
                              "Обществознание", "История")
#: The window of ВПР dates under ``habits`` (month, day), inside the academic year's spring.
VPR_WINDOW = ((3, 15), (5, 20))
_HOLIDAYS = ((5, 1), (5, 9))

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DECIMAL = re.compile(r"[+-]?\d+\.\d+")
_NUMERIC = re.compile(r"[\d\s.,+-]*")
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_CHUNK = 1 << 22


def write_variant(src, dst, *, minimal: bool = False, drop_tables=(), encoding: str = "utf-8",
                  delimiter: str = ",", decimal: str = ".", russian_labels: bool = False,
                  habits: bool = False, seed: int = 0) -> dict:
    """Write a variant of the data folder ``src`` into ``dst`` and return its translated truth.

    Parameters
    ----------
    src : path
        A data folder in the contract (``<table>.csv``, ``.csv.gz`` or ``.xlsx``; ``truth.json`` optional).
    dst : path
        Output folder (created; contract table files and ``truth.json`` already there are replaced).
    minimal : bool
        Keep only the contract's required columns (optional columns, extensions and unknown columns go).
        Without ``date_in``/``date_out`` a mid-year transfer cannot be told from a second class, so a
        student keeps only the last class of such a year, and the rows of the earlier class go
        (enrollment, marks, attendance, assessments; counted in ``variant.transfers_removed``).
    drop_tables : iterable of str
        Optional tables to leave out; tables whose required reference needs a dropped one go too.
    encoding : str
        Encoding of the written CSV files (e.g. ``"utf-8"``, ``"utf-8-sig"``, ``"cp1251"``).
    delimiter : str
        ``","``, ``";"`` or a tab.
    decimal : str
        ``"."`` or ``","`` (decimal comma in float columns and numeric ``indicators.value``;
        needs ``delimiter != ","``).
    russian_labels : bool
        Codes written as Russian labels of the contract's vocabularies, booleans as ``да``/``нет``,
        ISO dates as ``DD.MM.YYYY``, ``decisions`` with its Russian headers.
    habits : bool
        Other id formats (teachers ``S2-T09``, classes ``7Б-2025-S01``, students 8-digit random
        numbers with leading zeros), each ВПР work dated per class between 15 March and 20 May,
        one elective subject removed from every table in the earliest year, column order shuffled.
    seed : int
        Seed of the random choices of ``habits``.

    Returns
    -------
    dict
        The source truth with ids translated, plus ``variant`` (options, dropped tables, rows
        written per table, rows removed per table) and ``variant_removed`` (``None`` or the removed subject, year, rows
        removed per table and truth entries removed); also written to ``dst/truth.json``.
    """
    src, dst = Path(src), Path(dst)
    _check_options(src, dst, encoding, delimiter, decimal)
    dropped = dependents(drop_tables)
    files = find_tables(src)
    tables = {n: read_table(n, p) for n, p in files.items() if n not in dropped}
    truth_path = src / "truth.json"
    truth = json.loads(truth_path.read_text(encoding="utf-8")) if truth_path.is_file() else {}
    rng = np.random.default_rng(seed)
    removed, transfers = None, {}
    if minimal:
        transfers = resolve_transfers(tables)
    if habits:
        removed = remove_subject_year(tables, truth)
        spread_vpr_dates(tables, rng)
        maps = id_maps(tables, rng)
        translate_tables(tables, maps)
        truth = translate_truth(truth, maps)
    if russian_labels:
        russian_codes(tables)
    if decimal == ",":
        decimal_comma(tables)
    _clear(dst)
    rows = {}
    for name in ORDER:
        if name not in tables:
            continue
        cols = _columns(name, tables[name].columns, minimal, dropped)
        if habits:
            cols = [str(c) for c in rng.permutation(cols)]
        out = tables[name][cols]
        if russian_labels and name in HEADER_LABELS:
            out = out.rename(columns=HEADER_LABELS[name])
        _write(name, out, dst / f"{name}.csv", encoding, delimiter)
        rows[name] = len(out)
    truth["variant"] = {"source": str(src), "options": {
        "minimal": minimal, "drop_tables": sorted(drop_tables), "encoding": encoding, "delimiter": delimiter,
        "decimal": decimal, "russian_labels": russian_labels, "habits": habits, "seed": seed},
        "dropped_tables": sorted(dropped), "rows": rows, "transfers_removed": transfers,
        "removed_rows": _add_counts(transfers, removed["rows"] if removed else {})}
    truth["variant_removed"] = removed
    with open(dst / "truth.json", "w", encoding="utf-8") as fh:
        json.dump(truth, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    return truth


# ---------------------------------------------------------------- options, tables to drop


def _check_options(src: Path, dst: Path, encoding: str, delimiter: str, decimal: str) -> None:
    if delimiter not in (",", ";", "\t"):
        raise ValueError(f"Разделитель «{delimiter}» не поддерживается: допустимы «,», «;» и табуляция.")
    if decimal not in (".", ","):
        raise ValueError(f"Десятичный разделитель «{decimal}» не поддерживается: допустимы «.» и «,».")
    if decimal == "," and delimiter == ",":
        raise ValueError("Десятичная запятая требует другого разделителя столбцов: укажите delimiter=';'.")
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ValueError(f"Неизвестная кодировка «{encoding}».") from exc
    if dst.resolve() == src.resolve():
        raise ValueError(f"Папка варианта совпадает с исходной ({src}): укажите другую папку.")


def dependents(drop_tables) -> set[str]:
    """``drop_tables`` with every table whose required reference points into a dropped table."""
    drop = set(drop_tables)
    unknown = sorted(drop - set(TABLES))
    if unknown:
        raise ValueError(f"Нет таких таблиц в контракте: {', '.join(unknown)}.")
    required = sorted(n for n in drop if TABLES[n].required)
    if required:
        raise ValueError(f"Обязательные таблицы нельзя убрать: {', '.join(required)}. "
                         f"Можно убрать только необязательные: {', '.join(OPTIONAL_TABLES)}.")
    changed = True
    while changed:
        changed = False
        for name, t in TABLES.items():
            if name in drop:
                continue
            if any(c.required and c.ref and c.ref.split(".")[0] in drop and (name, c.name) not in WAIVED_REFS
                   for c in t.columns):
                drop.add(name)
                changed = True
    return drop


def _columns(name: str, present, minimal: bool, dropped: set[str]) -> list[str]:
    """Columns written: the contract's in its order (required only when ``minimal``), then unknown ones."""
    t = TABLES[name]
    cols = [c.name for c in t.columns if c.name in present and (c.required or not minimal)
            and not (not c.required and c.ref and c.ref.split(".")[0] in dropped)]
    if not minimal:
        cols += [c for c in present if c not in t.names]
    return cols


def _add_counts(*counts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, n in c.items():
            out[k] = out.get(k, 0) + n
    return out


def parse_dates(s: pd.Series) -> pd.Series:
    """Dates written ISO or ``DD.MM.YYYY`` (NaT when empty or neither)."""
    t = s.str.strip()
    iso = pd.to_datetime(t, format="%Y-%m-%d", errors="coerce")
    return iso.fillna(pd.to_datetime(t, format="%d.%m.%Y", errors="coerce"))


def resolve_transfers(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Keep one class per student and year (the latest ``date_in``) for a folder without transfer dates.

    Rows of the other classes of that year go from every table checked against the student's
    class (``mark_class``). Returns rows removed per table.
    """
    e = tables["enrollments"]
    if "date_in" not in e.columns and "date_out" not in e.columns:
        return {}
    c = tables["classes"]
    year_of = dict(zip(c["class_id"].str.strip(), pd.to_numeric(c["year"], errors="coerce"), strict=True))
    df = pd.DataFrame({"student": e["student_id"].str.strip().to_numpy(dtype=object),
                       "cls": e["class_id"].str.strip().to_numpy(dtype=object),
                       "din": parse_dates(e["date_in"]) if "date_in" in e.columns else pd.NaT,
                       "pos": np.arange(len(e))})
    df["year"] = df["cls"].map(year_of)
    multi = df[df.duplicated(["student", "year"], keep=False) & df["year"].notna()]
    if multi.empty:
        return {}
    multi = multi.sort_values(["student", "year", "din", "pos"], na_position="first")
    gone = multi[multi.duplicated(["student", "year"], keep="last")]
    pairs = set(zip(gone["student"], gone["cls"], strict=True))
    removed = {"enrollments": len(gone)}
    tables["enrollments"] = e.drop(index=e.index[gone["pos"].to_numpy()]).reset_index(drop=True)
    for name, df in tables.items():
        if not TABLES[name].mark_class or not {"student_id", "class_id"} <= set(df.columns):
            continue
        key = zip(df["student_id"].str.strip(), df["class_id"].str.strip(), strict=True)
        mask = np.fromiter((k in pairs for k in key), dtype=bool, count=len(df))
        if mask.any():
            tables[name] = df[~mask].reset_index(drop=True)
            removed[name] = int(mask.sum())
    return removed


# ---------------------------------------------------------------- reading and writing


def read_table(table: str, path: Path) -> pd.DataFrame:
    """One table's file as text cells (``""`` for empty), columns named as in the contract."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        df = _read_xlsx(path)
    else:
        enc = _encoding(path)
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding=enc, newline="") as fh:
            header = fh.readline().rstrip("\r\n")
        df = pd.read_csv(path, sep=detect_delimiter(header), dtype=str, keep_default_na=False,
                         na_filter=False, encoding=enc, compression="infer")
    aliases = {label.lower(): col for col, label in HEADER_LABELS.get(table, {}).items()}
    df.columns = [aliases.get(normalise_name(c), normalise_name(c)) for c in df.columns]
    return df


def _encoding(path: Path) -> str:
    """``utf-8-sig``/``utf-8`` when the whole file decodes as UTF-8, else ``cp1251`` (as the reader)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    dec = codecs.getincrementaldecoder("utf-8")()
    with opener(path, "rb") as fh:
        data = fh.read(_CHUNK)
        bom = data.startswith(codecs.BOM_UTF8)
        try:
            while data:
                dec.decode(data)
                data = fh.read(_CHUNK)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1251"
    return "utf-8-sig" if bom else "utf-8"


def _read_xlsx(path: Path) -> pd.DataFrame:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = [[cell_text(v) for v in r] for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()
    rows = [r for r in rows if any(c.strip() for c in r)]
    header = rows[0] if rows else []
    while header and not header[-1].strip():
        header.pop()
    header = [h if h.strip() else f"__unnamed_{i}" for i, h in enumerate(header)]
    width = len(header)
    return pd.DataFrame([(r + [""] * width)[:width] for r in rows[1:]], columns=header, dtype=str)


def _clear(dst: Path) -> None:
    """Create ``dst``; remove contract table files and the truth left there by an earlier variant."""
    dst.mkdir(parents=True, exist_ok=True)
    for p in dst.iterdir():
        name = p.name.lower()
        stem = next((name[: -len(s)] for s in (".csv.gz", ".csv", ".xlsx") if name.endswith(s)), None)
        if p.is_file() and (stem in TABLES or name == "truth.json"):
            p.unlink()


def _write(name: str, df: pd.DataFrame, path: Path, encoding: str, delimiter: str) -> None:
    try:
        df.to_csv(path, sep=delimiter, index=False, encoding=encoding, lineterminator="\n")
    except UnicodeEncodeError as exc:
        path.unlink(missing_ok=True)
        bad = exc.object[exc.start:exc.end]
        raise ValueError(f"Таблица {name}: символ «{bad}» нельзя записать в кодировке {encoding}. "
                         "Выберите кодировку utf-8.") from exc


def map_values(s: pd.Series, f) -> np.ndarray:
    """``f`` applied to each distinct value of ``s`` once (fast on millions of rows with few values)."""
    codes, uniques = pd.factorize(s, sort=False)
    new = np.array([f(u) for u in uniques] + [""], dtype=object)
    return new[codes]


def _lookup(m: dict[str, str]):
    return lambda v: m.get(v, m.get(v.strip(), v))


# ---------------------------------------------------------------- habits


def id_maps(tables: dict[str, pd.DataFrame], rng: np.random.Generator) -> dict[str, dict[str, str]]:
    """New ids: teachers ``S<school no>-T<no in school>``, classes ``<grade><letter>-<year>-<school>``,
    students distinct random 8-digit numbers with leading zeros (stable across years)."""
    school_no = {s.strip(): i + 1 for i, s in enumerate(dict.fromkeys(tables["schools"]["school_id"]))}
    teachers: dict[str, str] = {}
    per_school: dict[str, int] = {}
    t = tables["teachers"]
    for tid, sid in zip(t["teacher_id"].str.strip(), t["school_id"].str.strip(), strict=True):
        if tid in teachers:
            continue
        n = school_no.setdefault(sid, len(school_no) + 1)
        per_school[sid] = per_school.get(sid, 0) + 1
        teachers[tid] = f"S{n}-T{per_school[sid]:02d}"
    classes: dict[str, str] = {}
    used: set[str] = set()
    c = tables["classes"]
    for cid, sid, year, grade, letter in zip(*(c[k].str.strip() for k in ("class_id", "school_id", "year",
                                                                         "grade", "letter")), strict=True):
        if cid in classes:
            continue
        new, k = f"{grade}{letter}-{year}-{sid}", 1
        while new in used:
            k += 1
            new = f"{grade}{letter}-{year}-{sid}-{k}"
        used.add(new)
        classes[cid] = new
    ids = list(dict.fromkeys(tables["students"]["student_id"].str.strip()))
    numbers = rng.choice(10**7 - 10**5, size=len(ids), replace=False) + 10**5
    students = {sid: f"{int(k):08d}" for sid, k in zip(ids, numbers, strict=True)}
    return {"teacher": teachers, "class": classes, "student": students}


def _id_columns(name: str) -> dict[str, str]:
    """Columns of ``name`` holding an id of an entity table (its own key or a reference), by id kind."""
    out = {}
    for c in TABLES[name].columns:
        parent = c.ref.split(".")[0] if c.ref else None
        if name in ENTITIES and TABLES[name].key == (c.name,):
            parent = name
        if parent in ENTITIES:
            out[c.name] = ENTITIES[parent]
    return out


def translate_tables(tables: dict[str, pd.DataFrame], maps: dict[str, dict[str, str]]) -> None:
    """Rewrite every id column, ``decisions.target_ids`` and a teacher id in ``decisions.responsible``."""
    for name, df in tables.items():
        for col, kind in _id_columns(name).items():
            if col in df.columns:
                df[col] = map_values(df[col], _lookup(maps[kind]))
    d = tables.get("decisions")
    if d is None:
        return
    if "responsible" in d.columns:
        d["responsible"] = map_values(d["responsible"], _lookup(maps["teacher"]))
    if "target_ids" in d.columns:
        kinds = (map_values(d["target_type"], _canonical("target_type")) if "target_type" in d.columns
                 else [None] * len(d))
        d["target_ids"] = [_translate_targets(v, k, maps) for v, k in zip(d["target_ids"], kinds, strict=True)]


def _canonical(vocab: str):
    labels = {label.lower(): code for code, ls in VOCABULARIES[vocab].items() for label in (code, *ls)}
    return lambda v: labels.get(v.strip().lower())


def _translate_targets(value: str, target_type: str | None, maps: dict[str, dict[str, str]]) -> str:
    if not value.strip():
        return value
    order = {"class": ("class",), "teacher": ("teacher",), "students": ("student",)}.get(
        target_type or "", ("class", "teacher", "student"))
    out = []
    for tok in value.split(";"):
        tok = tok.strip()
        out.append(next((maps[k][tok] for k in order if tok in maps[k]), tok))
    return ";".join(out)


def translate_truth(obj, maps: dict[str, dict[str, str]], context: str = ""):
    """The truth with every known id replaced, keys and values at any depth.

    ``context`` is the nearest enclosing key. An id that looks like a number (a student's
    ``000123``) is translated only where the key names its kind (``student_ids``) or in
    ``target_ids``, so that task numbers or counts are never taken for ids.
    """
    if isinstance(obj, dict):
        return {(_truth_id(k, maps, context) if isinstance(k, str) else k): translate_truth(v, maps, k)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [translate_truth(v, maps, context) for v in obj]
    if isinstance(obj, str):
        return _truth_id(obj, maps, context)
    return obj


def _truth_id(s: str, maps: dict[str, dict[str, str]], context: str) -> str:
    ctx = str(context).lower()
    for kind in ("class", "teacher", "student"):
        new = maps[kind].get(s)
        if new is not None and (kind in ctx or ctx == "target_ids"
                                or (kind != "student" and not _NUMERIC.fullmatch(s))):
            return new
    return s


def spread_vpr_dates(tables: dict[str, pd.DataFrame], rng: np.random.Generator) -> None:
    """Date each ВПР work per (class, subject) on a random working day of 15 March – 20 May.

    A row whose new date would duplicate its key (a student who sat the work in two
    classes of one year) keeps its original date.
    """
    a = tables.get("assessments")
    if a is None or not len(a) or "date" not in a.columns:
        return
    kind = map_values(a["kind"], _canonical("kind"))
    vpr = np.flatnonzero(kind == "VPR")
    if not len(vpr):
        return
    c = tables["classes"]
    year_of = dict(zip(c["class_id"].str.strip(), pd.to_numeric(c["year"], errors="coerce"), strict=True))
    days: dict[int, list[str]] = {}
    chosen: dict[tuple[str, str], str] = {}
    cls, subj = a["class_id"].to_numpy(dtype=object), a["subject"].to_numpy(dtype=object)
    old = a["date"].to_numpy(dtype=object)
    new = old.copy()
    for i in vpr:
        key = (cls[i], subj[i])
        if key not in chosen:
            y = year_of.get(cls[i].strip())
            if y is None or pd.isna(y):
                chosen[key] = ""
            else:
                pool = days.setdefault(int(y), _working_days(int(y)))
                chosen[key] = pool[int(rng.integers(len(pool)))]
        if chosen[key]:
            new[i] = chosen[key]
    a["date"] = new
    keys = [k for k in ("student_id", "kind", "subject", "date") if k in a.columns]
    clash = a.duplicated(keys, keep=False).to_numpy() & (new != old)
    if clash.any():
        new[clash] = old[clash]
        a["date"] = new


def _working_days(year: int) -> list[str]:
    (m0, d0), (m1, d1) = VPR_WINDOW
    days = pd.bdate_range(dt.date(year, m0, d0), dt.date(year, m1, d1))
    return [d.date().isoformat() for d in days if (d.month, d.day) not in _HOLIDAYS]


def remove_subject_year(tables: dict[str, pd.DataFrame], truth: dict) -> dict | None:
    """Remove one elective subject from every table (and truth entry) of the earliest year.

    The subject is the first of :data:`ELECTIVES` taught both in the earliest year and later,
    preferring one the truth does not name. Returns what was removed, or ``None``.
    """
    c = tables["classes"]
    year_of = dict(zip(c["class_id"].str.strip(), pd.to_numeric(c["year"], errors="coerce"), strict=True))

    def row_years(df: pd.DataFrame) -> pd.Series | None:
        if "year" in df.columns:
            return pd.to_numeric(df["year"], errors="coerce")
        if "class_id" in df.columns:
            return pd.Series(map_values(df["class_id"], lambda v: year_of.get(v.strip())),
                             index=df.index, dtype=float)
        return None

    years = sorted(int(y) for y in set(year_of.values()) if not pd.isna(y))
    if len(years) < 2:
        return None
    y0 = years[0]
    taught: set[tuple[str, int]] = set()
    for name in ("assignments", "period_marks"):
        df = tables[name]
        pairs = pd.DataFrame({"s": df["subject"].str.strip(), "y": row_years(df)}).dropna().drop_duplicates()
        taught |= {(s, int(y)) for s, y in zip(pairs["s"], pairs["y"], strict=True)}
    candidates = [s for s in ELECTIVES if (s, y0) in taught and any((s, y) in taught for y in years[1:])]
    if not candidates:
        return None
    named = set(_values_under(truth, "subject"))
    subject = next((s for s in candidates if s not in named), candidates[0])
    rows = {}
    for name, df in tables.items():
        yrs = row_years(df) if "subject" in df.columns else None
        if yrs is None:
            continue
        mask = ((df["subject"].str.strip() == subject) & (yrs == y0)).to_numpy()
        if mask.any():
            tables[name] = df[~mask].reset_index(drop=True)
            rows[name] = int(mask.sum())
    entries: list[dict] = []
    _drop_truth_entries(truth, subject, y0, "", entries)
    return {"subject": subject, "year": y0, "rows": rows, "truth": entries}


def _values_under(obj, key: str):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key and isinstance(v, str):
                yield v
            yield from _values_under(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from _values_under(v, key)


def _matches(obj, subject: str, year: int) -> bool:
    return (isinstance(obj, dict) and obj.get("subject") == subject
            and str(obj.get("year", "")).strip() == str(year))


def _drop_truth_entries(obj, subject: str, year: int, path: str, out: list[dict]) -> None:
    """Remove (in place) truth entries of ``subject`` in ``year``: list items go, other values become None."""
    if isinstance(obj, list):
        keep = []
        for i, v in enumerate(obj):
            if _matches(v, subject, year):
                out.append({"path": f"{path}[{i}]", "entry": v})
            else:
                _drop_truth_entries(v, subject, year, f"{path}[{i}]", out)
                keep.append(v)
        obj[:] = keep
    elif isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}" if path else str(k)
            if _matches(v, subject, year):
                out.append({"path": p, "entry": v})
                obj[k] = None
            else:
                _drop_truth_entries(v, subject, year, p, out)


# ---------------------------------------------------------------- labels and numbers


def russian_label(vocab: str, code: str) -> str:
    """The first Russian label of ``code`` in the contract's vocabulary (abbreviations upper-case: ВПР)."""
    label = next((x for x in VOCABULARIES[vocab][code] if _CYRILLIC.search(x)), code)
    return label.upper() if vocab == "kind" and len(label) <= 4 else label


def _ru_date(v: str) -> str:
    m = _ISO.fullmatch(v.strip())
    return f"{m.group(3)}.{m.group(2)}.{m.group(1)}" if m else v


def russian_codes(tables: dict[str, pd.DataFrame]) -> None:
    """Codes -> Russian labels, ``true``/``false`` -> ``да``/``нет``, ISO dates -> ``DD.MM.YYYY``."""
    yes = next(x for x in BOOL_LABELS[True] if _CYRILLIC.search(x))
    no = next(x for x in BOOL_LABELS[False] if _CYRILLIC.search(x))
    bools = {"true": yes, "false": no}
    for name, df in tables.items():
        for c in TABLES[name].columns:
            if c.name not in df.columns:
                continue
            if c.type == "code":
                m = {code.lower(): russian_label(c.vocab, code) for code in VOCABULARIES[c.vocab]}
                df[c.name] = map_values(df[c.name], lambda v, m=m: m.get(v.strip().lower(), v))
            elif c.type == "bool":
                df[c.name] = map_values(df[c.name], lambda v: bools.get(v.strip().lower(), v))
            elif c.type == "date":
                df[c.name] = map_values(df[c.name], _ru_date)


def decimal_comma(tables: dict[str, pd.DataFrame]) -> None:
    """Decimal point -> comma in float columns and in numeric ``indicators.value``."""
    def comma(v: str) -> str:
        return v.replace(".", ",") if _DECIMAL.fullmatch(v.strip()) else v

    for name, df in tables.items():
        cols = [c.name for c in TABLES[name].columns if c.type == "float"]
        if name == "indicators":
            cols.append("value")
        for col in cols:
            if col in df.columns:
                df[col] = map_values(df[col], comma)
