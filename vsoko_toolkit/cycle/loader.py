"""The ВСОКО year as data: a cyclogram YAML (which procedure, when, who, what it feeds), checked on load.

A cyclogram file::

    version: 1
    title: Циклограмма ВСОКО школы
    procedures:
      - id: vpr                       # latin letters, digits, «_»; unique
        name: Всероссийские проверочные работы
        months: [март, апрель, май]   # month names or numbers 1–12 …
        dates: ["20.04"]              # … and/or dates «ДД.ММ» of the school year (their months are added)
        responsible: заместитель директора по УВР
        feeds: [04_external]          # chapters of the book (file stems of notebooks/school)
        analyses: [objectivity]       # optional: analyses of the readiness registry
        data:                         # optional: contract tables the procedure produces
          - assessments               #   a table, or a table with equality filters on its columns
          - {table: assessments, kind: VPR}
        note: …                       # optional

Every error names the file, the procedure (number and id) and the field, in Russian
(:class:`CyclogramError`). The default cyclogram ships with the package
(``cycle/default.yaml``); a school passes its own (``vsoko run --cyclogram FILE``), which the run
keeps as ``RUN/cyclogram.yaml`` for the methods chapter (:func:`run_cyclogram`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from ..errors import VsokoError

#: The cyclogram a run used, inside the run directory (written by ``run_school``).
RUN_FILE = "cyclogram.yaml"
#: Months in school-year order (September first), with their Russian names.
SCHOOL_YEAR_MONTHS: tuple[int, ...] = (9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8)
MONTH_NAMES = {1: "январь", 2: "февраль", 3: "март", 4: "апрель", 5: "май", 6: "июнь", 7: "июль", 8: "август",
               9: "сентябрь", 10: "октябрь", 11: "ноябрь", 12: "декабрь"}
MONTH_SHORT = {1: "янв", 2: "фев", 3: "мар", 4: "апр", 5: "май", 6: "июн", 7: "июл", 8: "авг", 9: "сен",
               10: "окт", 11: "ноя", 12: "дек"}
_MONTH_BY_NAME = {**{v: k for k, v in MONTH_NAMES.items()}, **{v: k for k, v in MONTH_SHORT.items()}}
FIELDS = ("id", "name", "months", "dates", "responsible", "feeds", "analyses", "data", "note")
TOP_FIELDS = ("version", "title", "source", "procedures")
_ID = re.compile(r"[a-z][a-z0-9_]*")
_CHAPTER = re.compile(r"\d\d[a-z]?_[a-z0-9_]+")
_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})")
_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


class CyclogramError(VsokoError):
    """A cyclogram YAML is malformed (the message names the file, the procedure and the field)."""


@dataclass(frozen=True)
class DataItem:
    """A contract table a procedure produces, optionally restricted by equality filters on its columns."""

    table: str
    filters: tuple[tuple[str, str], ...] = ()

    def label(self) -> str:
        return self.table + "".join(f"[{c}={v}]" for c, v in self.filters)


@dataclass(frozen=True)
class Procedure:
    id: str
    name: str
    months: tuple[int, ...]  # in school-year order
    dates: tuple[str, ...]  # «ДД.ММ» as written
    responsible: str
    feeds: tuple[str, ...]  # chapter stems
    analyses: tuple[str, ...] = ()
    data: tuple[DataItem, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Cyclogram:
    title: str
    procedures: tuple[Procedure, ...]
    source: str = ""
    path: str = ""
    is_default: bool = False
    extra: dict = field(default_factory=dict)

    def procedure(self, pid: str) -> Procedure:
        return next(p for p in self.procedures if p.id == pid)


def default_path() -> Path:
    """The cyclogram shipped with the package."""
    return Path(str(resources.files("vsoko_toolkit") / "cycle" / "default.yaml"))


def run_cyclogram(run_dir, chapters: Iterable[str] | None = None) -> Cyclogram:
    """The cyclogram of a run: ``RUN/cyclogram.yaml`` when the school passed its own, else the default."""
    own = Path(run_dir) / RUN_FILE
    return load_cyclogram(own if own.is_file() else None, chapters=chapters)


def load_cyclogram(path=None, chapters: Iterable[str] | None = None) -> Cyclogram:
    """Read and check a cyclogram YAML (``None``: the package's default).

    ``chapters``: the book's chapter stems; when given, every ``feeds`` entry must be one of them.
    Raises :class:`CyclogramError` naming the file, the procedure and the field.
    """
    is_default = path is None
    path = Path(path) if path is not None else default_path()
    where = f"Циклограмма {path}"
    if not path.is_file():
        raise CyclogramError(f"{where}: файл не найден.")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as err:
        raise CyclogramError(f"{where}: файл не читается как YAML ({str(err).splitlines()[0]}).") from err
    except UnicodeDecodeError as err:
        raise CyclogramError(f"{where}: файл не в кодировке UTF-8.") from err
    if not isinstance(doc, dict):
        raise CyclogramError(f"{where}: ожидается словарь с полями {', '.join(TOP_FIELDS)}.")
    unknown = sorted(set(doc) - set(TOP_FIELDS))
    if unknown:
        raise CyclogramError(f"{where}: неизвестное поле «{unknown[0]}» (допустимы: {', '.join(TOP_FIELDS)}).")
    if doc.get("version", 1) != 1:
        raise CyclogramError(f"{where}: поле «version»: поддерживается только версия 1, указано {doc['version']!r}.")
    items = doc.get("procedures")
    if not isinstance(items, list) or not items:
        raise CyclogramError(f"{where}: поле «procedures»: нужен непустой список процедур.")
    known = set(chapters) if chapters is not None else None
    procs, seen = [], set()
    for i, raw in enumerate(items, 1):
        proc = _procedure(raw, f"{where}, процедура № {i}", known)
        if proc.id in seen:
            raise CyclogramError(f"{where}, процедура № {i} («{proc.id}»): поле «id»: такой id уже есть в файле.")
        seen.add(proc.id)
        procs.append(proc)
    title = _text(doc.get("title", "Циклограмма ВСОКО"), f"{where}: поле «title»")
    source = _text(doc.get("source", ""), f"{where}: поле «source»", empty=True)
    return Cyclogram(title, tuple(procs), source, str(path), is_default)


def _procedure(raw, where: str, chapters: set[str] | None) -> Procedure:
    if not isinstance(raw, dict):
        raise CyclogramError(f"{where}: ожидается словарь с полями {', '.join(FIELDS)}.")
    pid = raw.get("id")
    if isinstance(pid, str) and pid:
        where = f"{where} («{pid}»)"
    unknown = [k for k in raw if k not in FIELDS]
    if unknown:
        raise CyclogramError(f"{where}: неизвестное поле «{unknown[0]}» (допустимы: {', '.join(FIELDS)}).")
    for req in ("id", "name", "responsible", "feeds"):
        if raw.get(req) in (None, ""):
            raise CyclogramError(f"{where}: нет обязательного поля «{req}».")
    if not isinstance(pid, str) or not _ID.fullmatch(pid):
        raise CyclogramError(f"{where}: поле «id»: {pid!r} — нужны латинские строчные буквы, цифры и «_», "
                             f"первая — буква.")
    name = _text(raw["name"], f"{where}: поле «name»")
    responsible = _text(raw["responsible"], f"{where}: поле «responsible»")
    note = _text(raw.get("note", ""), f"{where}: поле «note»", empty=True)
    dates = tuple(_date(d, f"{where}: поле «dates»") for d in _list(raw.get("dates", []), f"{where}: поле «dates»"))
    months = {_month(m, f"{where}: поле «months»") for m in _list(raw.get("months", []), f"{where}: поле «months»")}
    months |= {int(d.split(".")[1]) for d in dates}
    if not months:
        raise CyclogramError(f"{where}: поле «months»: укажите хотя бы один месяц (или дату в поле «dates»).")
    feeds = tuple(_list(raw["feeds"], f"{where}: поле «feeds»", allow_empty=False))
    for f in feeds:
        if not isinstance(f, str) or not _CHAPTER.fullmatch(f) or (chapters is not None and f not in chapters):
            allowed = f" (главы книги: {', '.join(sorted(chapters))})" if chapters is not None else ""
            raise CyclogramError(f"{where}: поле «feeds»: {f!r} — не глава книги{allowed}.")
    analyses = tuple(_list(raw.get("analyses", []), f"{where}: поле «analyses»"))
    keys = _analysis_keys()
    for a in analyses:
        if a not in keys:
            raise CyclogramError(f"{where}: поле «analyses»: {a!r} — нет такого анализа "
                                 f"(есть: {', '.join(sorted(keys))}).")
    data = tuple(_data_item(d, f"{where}: поле «data»") for d in _list(raw.get("data", []), f"{where}: поле «data»"))
    order = {m: i for i, m in enumerate(SCHOOL_YEAR_MONTHS)}
    return Procedure(pid, name, tuple(sorted(months, key=order.get)), dates, responsible, feeds, analyses, data,
                     note)


def _text(value, where: str, empty: bool = False) -> str:
    if value is None and empty:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool) or (not empty and not str(value).strip()):
        raise CyclogramError(f"{where}: нужен текст, указано {value!r}.")
    return str(value).strip()


def _list(value, where: str, allow_empty: bool = True) -> list:
    if value is None:
        value = []
    if not isinstance(value, list):
        value = [value]
    if not value and not allow_empty:
        raise CyclogramError(f"{where}: нужен непустой список.")
    return value


def _month(value, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 12:
        return value
    if isinstance(value, str) and value.strip().lower().rstrip(".") in _MONTH_BY_NAME:
        return _MONTH_BY_NAME[value.strip().lower().rstrip(".")]
    raise CyclogramError(f"{where}: {value!r} — не месяц (число от 1 до 12 или название: сентябрь, октябрь, …).")


def _date(value, where: str) -> str:
    m = _DATE.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None or not (1 <= int(m[2]) <= 12) or not (1 <= int(m[1]) <= _DAYS[int(m[2])]):
        raise CyclogramError(f"{where}: {value!r} — не дата учебного года в виде «ДД.ММ» (например, «20.04»; "
                             f"в YAML — в кавычках).")
    return f"{int(m[1]):02d}.{int(m[2]):02d}"


def _data_item(value, where: str) -> DataItem:
    from ..contract.spec import TABLES, VOCABULARIES

    if isinstance(value, str):
        value = {"table": value}
    if not isinstance(value, dict) or not isinstance(value.get("table"), str):
        raise CyclogramError(f"{where}: {value!r} — нужна таблица контракта (имя или {{table: имя, колонка: "
                             f"значение}}).")
    table = TABLES.get(value["table"])
    if table is None:
        raise CyclogramError(f"{where}: нет таблицы «{value['table']}» в контракте данных "
                             f"(есть: {', '.join(TABLES)}).")
    filters = []
    for col, v in value.items():
        if col == "table":
            continue
        if col not in table.names:
            raise CyclogramError(f"{where}: в таблице {table.name} нет колонки «{col}» "
                                 f"(есть: {', '.join(table.names)}).")
        c = table.column(col)
        code = str(v).strip()
        if c.vocab:
            vocab = VOCABULARIES[c.vocab]
            match = [k for k, labels in vocab.items() if code == k or code.lower() in labels]
            if not match:
                raise CyclogramError(f"{where}: {table.name}.{col} = {v!r} — нет такого значения "
                                     f"(допустимы: {', '.join(vocab)}).")
            code = match[0]
        filters.append((col, code))
    return DataItem(table.name, tuple(filters))


def _analysis_keys() -> set[str]:
    from ..analysis.readiness import ANALYSES

    return {a.key for a in ANALYSES}
