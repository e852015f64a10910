"""Finding and opening the files of a data folder.

Every table arrives at DuckDB as a UTF-8 CSV: UTF-8 files (with or without BOM)
are read in place; Windows-1251 files are transcoded by streaming; XLSX sheets
are streamed row by row into a CSV that also carries each row's number as the
user sees it in Excel. Nothing here parses values: that is the validator's job.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import FatalInputError
from .spec import HEADER_LABELS, TABLES

ROW_COLUMN = "__row"
_CHUNK = 1 << 22  # 4 MiB


@dataclass(frozen=True)
class SourceFile:
    """One table's file, ready for DuckDB's CSV reader."""

    table: str
    path: Path  # the user's file
    csv_path: Path  # UTF-8 CSV that DuckDB reads (the file itself or a converted copy)
    delimiter: str
    columns: tuple[str, ...]  # normalised (trimmed, lower-case) names in file order
    encoding: str  # "utf-8", "utf-8-sig", "cp1251" or "xlsx"
    row_column: str | None = None  # a column holding the user's row numbers (XLSX)

    @property
    def display(self) -> str:
        return self.path.name


def find_tables(folder: Path) -> dict[str, Path]:
    """Map contract table names to the files of ``folder`` (``<table>.csv``, ``.csv.gz`` or ``.xlsx``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FatalInputError(f"Папка с данными не найдена: {folder}. Укажите путь к папке с файлами таблиц.")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        name = p.name.lower().strip()
        suffix = ".csv.gz" if name.endswith(".csv.gz") else p.suffix.lower()
        stem = name[: -len(suffix)] if suffix else name
        if not p.is_file() or suffix not in (".csv", ".csv.gz", ".xlsx") or stem not in TABLES:
            continue
        if stem in found:
            raise FatalInputError(
                f"Таблица {stem} задана двумя файлами: {found[stem].name} и {p.name}. Оставьте один из них."
            )
        found[stem] = p
    missing = [t.name for t in TABLES.values() if t.required and t.name not in found]
    if missing:
        names = ", ".join(f"{m}.csv" for m in missing)
        raise FatalInputError(
            f"В папке {folder} нет обязательных таблиц: {names}. "
            "Добавьте эти файлы (CSV или XLSX) — их состав описан в контракте данных."
        )
    return found


def scan(path: Path) -> tuple[str, bool]:
    """One pass over the bytes: the encoding, and whether line endings are mixed.

    The encoding is ``utf-8-sig``/``utf-8`` when the whole file decodes as UTF-8,
    else ``cp1251``. Mixed endings (``\\r\\n`` and bare ``\\n`` in one file, as
    when rows were appended by another program) make CSV readers merge lines.
    """
    dec = codecs.getincrementaldecoder("utf-8")()
    utf8, crlf, lf, prev = True, 0, 0, b""
    with open(path, "rb") as f:
        data = f.read(_CHUNK)
        bom = data.startswith(codecs.BOM_UTF8)
        while data:
            if utf8:
                try:
                    dec.decode(data)
                except UnicodeDecodeError:
                    utf8 = False
            joined = prev + data
            crlf += joined.count(b"\r\n") - prev.count(b"\r\n")
            lf += data.count(b"\n")
            prev = data[-1:]
            data = f.read(_CHUNK)
        if utf8:
            try:
                dec.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    encoding = ("utf-8-sig" if bom else "utf-8") if utf8 else "cp1251"
    return encoding, 0 < crlf < lf


def detect_delimiter(header: str) -> str:
    """The most frequent of ``;``, ``,`` and tab in the header line (``,`` on a tie)."""
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best


def normalise_name(name: str) -> str:
    return str(name).replace("\ufeff", "").strip().strip('"').strip().lower()


def _header_names(table: str, path: Path, names: list[str]) -> tuple[str, ...]:
    aliases = {label.lower(): col for col, label in HEADER_LABELS.get(table, {}).items()}
    norm = [normalise_name(n) for n in names]
    norm = [aliases.get(n, n) for n in norm]
    seen: set[str] = set()
    for n in norm:
        if n in seen and n:
            raise FatalInputError(
                f"Файл {path.name}: столбец «{n}» встречается дважды (имена столбцов не различают регистр). "
                "Переименуйте или удалите лишний столбец."
            )
        seen.add(n)
    missing = [c.name for c in TABLES[table].columns if c.required and c.name not in seen]
    if missing:
        raise FatalInputError(
            f"Файл {path.name}: нет обязательных столбцов {', '.join(missing)}. "
            f"Найдены столбцы: {', '.join(n for n in norm if n) or '(нет)'}. "
            "Добавьте недостающие столбцы в первую строку файла."
        )
    return tuple(n if n else f"__unnamed_{i}" for i, n in enumerate(norm))


def open_source(table: str, path: Path, workdir: Path) -> SourceFile:
    """Prepare ``path`` for reading as contract table ``table`` (conversions go to ``workdir``)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".xlsx":
            return _open_xlsx(table, path, workdir)
        if path.name.lower().endswith(".gz"):
            return _open_csv(table, path, workdir, source=_gunzip(path, workdir))
        return _open_csv(table, path, workdir)
    except FatalInputError:
        raise
    except Exception as exc:  # unreadable file of any kind: one clear message
        raise FatalInputError(
            f"Файл {path.name} не удаётся прочитать ({type(exc).__name__}: {exc}). "
            "Сохраните его заново как CSV (UTF-8 или Windows-1251) или XLSX."
        ) from exc


def _gunzip(path: Path, workdir: Path) -> Path:
    import gzip
    import shutil

    out = Path(tempfile.mkstemp(prefix="gz-", suffix=".csv", dir=workdir)[1])
    with gzip.open(path, "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)
    return out


def _open_csv(table: str, path: Path, workdir: Path, source: Path | None = None) -> SourceFile:
    """``path`` is the user's file; ``source`` the bytes to read when they differ (a decompressed copy)."""
    source = source or path
    encoding, mixed_newlines = scan(source)
    with open(source, encoding=encoding, newline="") as f:
        header = f.readline().rstrip("\r\n")
    if not header.strip():
        raise FatalInputError(f"Файл {path.name} пуст или первая строка (заголовок) пуста. Добавьте строку заголовков.")
    delimiter = detect_delimiter(header)
    names = next(csv.reader([header], delimiter=delimiter))
    columns = _header_names(table, path, names)
    csv_path = source
    if encoding == "cp1251" or mixed_newlines:
        # transcode to UTF-8 and/or unify line endings, streaming
        csv_path = Path(tempfile.mkstemp(prefix=f"{table}-", suffix=".csv", dir=workdir)[1])
        newline = None if mixed_newlines else ""
        with open(source, encoding=encoding, newline=newline) as src, \
                open(csv_path, "w", encoding="utf-8", newline="\n" if mixed_newlines else "") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
    return SourceFile(table, path, csv_path, delimiter, columns, encoding)


def cell_text(value) -> str:
    """The text of a spreadsheet cell as a person reads it (``5.0`` -> ``"5"``, dates ISO)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).replace("\u00a0", " ").strip()


def _open_xlsx(table: str, path: Path, workdir: Path) -> SourceFile:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header, header_row = None, 0
        for i, row in enumerate(rows, start=1):
            if any(v is not None and str(v).strip() for v in row):
                header, header_row = [cell_text(v) for v in row], i
                break
        if header is None:
            raise FatalInputError(f"Файл {path.name}: первый лист пуст. Поместите таблицу на первый лист.")
        while header and not header[-1].strip():
            header.pop()
        columns = _header_names(table, path, header)
        width = len(columns)
        csv_path = Path(tempfile.mkstemp(prefix=f"{table}-", suffix=".csv", dir=workdir)[1])
        with open(csv_path, "w", encoding="utf-8", newline="") as dst:
            w = csv.writer(dst)
            w.writerow([*columns, ROW_COLUMN])
            for i, row in enumerate(rows, start=header_row + 1):
                cells = [cell_text(v) for v in row]
                if not any(c.strip() for c in cells):
                    continue  # an empty spreadsheet row is not a record
                # values right of the last named column have no column: ignored, as unknown columns are
                w.writerow([*(cells + [""] * width)[:width], str(i)])
    finally:
        wb.close()
    return SourceFile(table, path, csv_path, ",", (*columns, ROW_COLUMN), "xlsx", ROW_COLUMN)
