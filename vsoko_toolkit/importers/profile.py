"""Mapping profiles: loading a YAML file, checking it against the JSON schema and the contract.

A profile is data only (``docs/IMPORTERS.md`` documents every key). Loading
checks it twice: the JSON schema (``profile.schema.json``) catches unknown keys
and wrong types; the semantic check catches what a schema cannot see — an
output table or column that is not in the contract, a required contract column
left unfilled, a template naming a field nobody defines, a broken regex. Every
error is a Russian message naming the profile file and the key.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jsonschema
import yaml

from ..contract.spec import TABLES
from ..errors import VsokoError
from .values import cell_text, norm_label

PROFILES_DIR = Path(__file__).with_name("profiles")
SCHEMA_PATH = Path(__file__).with_name("profile.schema.json")

#: Options every import understands (CLI: --year, --school, --date, --codes).
STANDARD_OPTIONS = ("year", "school_id", "school", "date", "codes")
#: Fields that every profile can use in templates whether or not it reads them.
BUILTIN_FIELDS = ("file_name", "sheet_name")
TEMPLATE_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

_TYPE_RU = {
    "string": "строкой",
    "array": "списком",
    "object": "словарём (ключ: значение)",
    "integer": "целым числом",
    "boolean": "true или false",
    "number": "числом",
}


class ProfileError(VsokoError, ValueError):
    """A profile that cannot be used; ``str(err)`` names the file and the key in Russian."""


@dataclass(frozen=True)
class Profile:
    """A loaded, checked mapping profile.

    Attributes
    ----------
    name : str
        Profile name (the ``name`` key or the file name without ``.yaml``).
    path : Path
        The YAML file it was read from.
    title : str
        Short Russian title.
    spec : dict
        The profile's keys as read, with regexes compiled under keys starting with ``_``.
    """

    name: str
    path: Path
    title: str
    spec: dict = field(repr=False)

    @property
    def format(self) -> str:
        return self.spec["format"]

    @property
    def outputs(self) -> list[dict]:
        return self.spec["outputs"]

    @property
    def tables(self) -> list[str]:
        """Contract tables this profile writes, in order."""
        return list(dict.fromkeys(o["table"] for o in self.outputs))


def list_profiles() -> list[str]:
    """Names of the profiles shipped with the toolkit (``load_profile(name)`` loads one).

    Examples
    --------
    >>> "ejournal_summary" in list_profiles()
    True
    """
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by name, or a profile YAML file by path, and check it.

    Parameters
    ----------
    name_or_path : str or Path
        ``"ejournal_summary"``, ``"vpr_class_results"``, ... or a path to a ``.yaml`` file.

    Returns
    -------
    Profile

    Raises
    ------
    ProfileError
        The file is missing, is not YAML, or breaks the schema or the contract; the
        Russian message names the file and the key.

    Examples
    --------
    >>> load_profile("vpr_class_results").tables
    ['assessments', 'assessment_items']
    """
    path = _resolve(name_or_path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
    except _DuplicateKey as exc:
        raise ProfileError(
            f"Профиль {path.name}: ключ «{exc.key}» повторяется "
            f"(строка {exc.problem_mark.line + 1}); оставьте один."
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (строка {mark.line + 1})" if mark is not None else ""
        raise ProfileError(f"Профиль {path.name}: не удаётся разобрать YAML{where}: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(
            f"Профиль {path.name}: файл не читается ({exc}). Сохраните его в UTF-8."
        ) from exc
    if not isinstance(raw, dict):
        raise ProfileError(
            f"Профиль {path.name}: ожидался словарь ключей (format, outputs, ...), "
            "а файл пуст или содержит не словарь."
        )
    _check_schema(raw, path)
    spec = _compile(raw, path)
    _check_semantics(spec, path)
    return Profile(
        name=str(raw.get("name") or path.stem),
        path=path,
        title=str(raw.get("title") or path.stem),
        spec=spec,
    )


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key, mark):
        super().__init__(f"ключ «{key}» повторяется")
        self.key, self.problem_mark = key, mark


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _resolve(name_or_path) -> Path:
    s = str(name_or_path)
    p = Path(s)
    if p.suffix.lower() in (".yaml", ".yml") or p.exists() or "/" in s or "\\" in s:
        if not p.is_file():
            raise ProfileError(f"Файл профиля не найден: {p}.")
        return p
    shipped = PROFILES_DIR / f"{s}.yaml"
    if not shipped.is_file():
        raise ProfileError(
            f"Профиль «{s}» не найден. Встроенные профили: {', '.join(list_profiles())}; "
            "или укажите путь к своему файлу .yaml."
        )
    return shipped


@cache
def _schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(верхний уровень)"


def _schema_message(err: jsonschema.ValidationError, file: str) -> str:
    key = _key(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        where = f"в разделе «{key}»" if err.absolute_path else "на верхнем уровне"
        return (
            f"Профиль {file}: неизвестный ключ «{', '.join(map(str, extra))}» {where}. "
            f"Допустимые ключи: {', '.join(allowed)}."
        )
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        where = f"в разделе «{key}»" if err.absolute_path else "на верхнем уровне"
        return f"Профиль {file}: {where} нет обязательного ключа «{missing}»."
    if err.validator == "type":
        types = (
            err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        )
        want = " или ".join(_TYPE_RU.get(t, t) for t in types)
        return f"Профиль {file}: ключ «{key}» должен быть {want}, а задано {err.instance!r}."
    if err.validator == "enum":
        return (
            f"Профиль {file}: ключ «{key}» имеет недопустимое значение {err.instance!r}. "
            f"Допустимые значения: {', '.join(map(str, err.validator_value))}."
        )
    if err.validator == "propertyNames":
        return (
            f"Профиль {file}: недопустимое имя «{err.instance}» в разделе «{key}»: "
            f"{_schema()['$defs']['name']['x-message-ru']}."
        )
    hint = err.schema.get("x-message-ru") if isinstance(err.schema, dict) else None
    if hint:
        return f"Профиль {file}: ключ «{key}»: {hint}; задано {err.instance!r}."
    bounds = {
        "minimum": "не меньше",
        "maximum": "не больше",
        "minItems": "элементов не меньше",
        "maxItems": "элементов не больше",
        "minProperties": "ключей не меньше",
    }
    if err.validator in bounds:
        return f"Профиль {file}: ключ «{key}»: {bounds[err.validator]} {err.validator_value}."
    return (
        f"Профиль {file}: ключ «{key}» задан неверно "
        f"({err.instance!r} не соответствует схеме профиля)."
    )


def _check_schema(raw: dict, path: Path) -> None:
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(
        validator.iter_errors(raw), key=lambda e: (list(map(str, e.absolute_path)), e.validator)
    )
    if errors:
        msgs = list(dict.fromkeys(_schema_message(e, path.name) for e in errors))
        raise ProfileError("\n".join(msgs[:10]))


def _as_list(v) -> list[str]:
    if v is None:
        return []
    return [cell_text(x) for x in (v if isinstance(v, list) else [v])]


def _rx(patterns, path: Path, key: str) -> list[re.Pattern]:
    out = []
    for p in _as_list(patterns):
        try:
            out.append(re.compile(p, re.IGNORECASE))
        except re.error as exc:
            raise ProfileError(
                f"Профиль {path.name}: ключ «{key}»: ошибка в регулярном выражении {p!r} ({exc})."
            ) from exc
    return out


def _compile(raw: dict, path: Path) -> dict:
    """A copy of ``raw`` with defaults filled and regexes compiled (under ``_``-keys)."""
    spec = copy.deepcopy(raw)
    sh = spec.setdefault("sheets", {})
    sh["_include"] = _rx(sh.get("include"), path, "sheets.include")
    sh["_exclude"] = _rx(sh.get("exclude"), path, "sheets.exclude")
    hd = spec.setdefault("header", {})
    hd["_find"] = _rx(hd.get("find"), path, "header.find")
    hd.setdefault("rows", 1)
    hd.setdefault("search_rows", 50)
    hd.setdefault("fill_right", True)
    for name, c in spec.setdefault("context", {}).items():
        c["_search"] = _rx(c.get("search"), path, f"context.{name}.search")
        c.setdefault("in", ["above_header", "sheet_name", "file_name"])
        c.setdefault("label", name)
    for name, c in spec.setdefault("columns", {}).items():
        c["_labels"] = {norm_label(x) for x in _as_list(c.get("header"))}
        c["_regex"] = _rx(c.get("header_regex"), path, f"columns.{name}.header_regex")
        c.setdefault("label", name)
    for name, w in spec.setdefault("wide", {}).items():
        cols = w["columns"]
        w["_rest"] = cols == "rest"
        w["_columns"] = [] if w["_rest"] else _rx(cols, path, f"wide.{name}.columns")
        w["_exclude"] = _rx(w.get("exclude"), path, f"wide.{name}.exclude")
        w.setdefault("label", name)
    rows = spec.setdefault("rows", {})
    rows["_skip"] = {
        f: _rx(p, path, f"rows.skip_if.{f}") for f, p in rows.get("skip_if", {}).items()
    }
    for name, v in spec.setdefault("values", {}).items():
        if v.get("regex"):
            _rx(v["regex"], path, f"values.{name}.regex")
        if v.get("map"):
            v["_map_norm"] = {norm_label(k): cell_text(x) for k, x in v["map"].items()}
    for name, d in spec.setdefault("derive", {}).items():
        if d.get("regex"):
            _rx(d["regex"], path, f"derive.{name}.regex")
    for name, lk in spec.setdefault("lookups", {}).items():
        lk.setdefault("label", name)
    spec.setdefault("requires", [])
    return spec


def _fields_in(template) -> list[str]:
    return TEMPLATE_FIELD.findall(str(template))


def _check_semantics(spec: dict, path: Path) -> None:
    f = path.name

    def fail(key: str, what: str) -> None:
        raise ProfileError(f"Профиль {f}: ключ «{key}»: {what}")

    hd = spec["header"]
    if hd.get("row") and hd.get("find"):
        fail("header", "задайте либо row, либо find, но не оба.")
    for name, w in spec["wide"].items():
        if len(w["levels"]) != hd["rows"]:
            fail(
                f"wide.{name}.levels",
                f"уровней {len(w['levels'])}, а строк заголовка (header.rows) "
                f"{hd['rows']}: нужно по одному имени поля на каждую строку заголовка.",
            )
    defined = set(STANDARD_OPTIONS) | set(BUILTIN_FIELDS) | set(spec["requires"])
    defined |= (
        set(spec["context"]) | set(spec["columns"]) | set(spec["derive"]) | set(spec["lookups"])
    )
    row_fields = set(defined)
    block_fields: dict[str, set[str]] = {}
    for name, w in spec["wide"].items():
        block_fields[name] = {*w["levels"], w["value"]}
        defined |= block_fields[name]
    for name, d in spec["derive"].items():
        for x in _fields_in(d["from"]):
            if x not in defined:
                fail(f"derive.{name}.from", f"поле «{x}» нигде не определено.")
    for name, lk in spec["lookups"].items():
        for i, t in enumerate([*lk["keys"], lk.get("default", "")]):
            for x in _fields_in(t):
                if x not in defined:
                    key = (
                        f"lookups.{name}.keys[{i}]"
                        if i < len(lk["keys"])
                        else f"lookups.{name}.default"
                    )
                    fail(key, f"поле «{x}» нигде не определено.")
    for fld in spec["rows"].get("skip_if", {}):
        if fld not in spec["columns"]:
            fail(
                f"rows.skip_if.{fld}",
                "проверять можно только поля из columns "
                f"({', '.join(spec['columns']) or 'их нет'}).",
            )
    for i, out in enumerate(spec["outputs"]):
        key = f"outputs[{i}]"
        table = TABLES.get(out["table"])
        if table is None:
            fail(
                f"{key}.table",
                f"таблицы «{out['table']}» нет в контракте. Таблицы: {', '.join(TABLES)}.",
            )
        each = out.get("each")
        if each is not None and each not in spec["wide"]:
            fail(
                f"{key}.each",
                f"блока «{each}» нет в разделе wide ({', '.join(spec['wide']) or 'он пуст'}).",
            )
        visible = row_fields | (block_fields[each] if each else set())
        for col, tmpl in out["fields"].items():
            if col not in table.names:
                fail(
                    f"{key}.fields.{col}",
                    f"в таблице {table.name} нет столбца «{col}». "
                    f"Столбцы: {', '.join(table.names)}.",
                )
            for x in _fields_in(tmpl):
                if x not in visible:
                    hint = " (поле блока wide доступно только при each)" if x in defined else ""
                    fail(f"{key}.fields.{col}", f"поле «{x}» нигде не определено{hint}.")
        missing = [c.name for c in table.columns if c.required and c.name not in out["fields"]]
        if missing:
            fail(
                f"{key}.fields",
                f"таблице {table.name} нужны столбцы {', '.join(missing)}: "
                "добавьте для них шаблоны или константы.",
            )
