"""Loading indicator frameworks from YAML: validation against the JSON schema, extensions, checks of totals.

Where frameworks come from, in this order: the package's ``frameworks/`` folder,
then every folder in ``extra_dirs``, then every folder in the environment variable
``VSOKO_FRAMEWORKS`` (separated by ``os.pathsep``: ``:`` on Linux/macOS, ``;`` on
Windows). Each ``*.yaml``/``*.yml`` file is one framework, or an extension of one
(``extends: <id>``) that adds indicators to its groups — e.g. the region's list of
the quality index's indicators. Any error names the file and the offending key, in Russian.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from ..errors import VsokoError
from .registry import REGISTRY

ENV_VAR = "VSOKO_FRAMEWORKS"
ORDER = ("self_examination_1324", "quality_index", "vsoko_map")  # built-ins first, in this order


class FrameworkError(VsokoError):
    """A framework YAML is malformed (the message names the file and the key)."""


@dataclass(frozen=True)
class Indicator:
    framework: str
    id: str
    number: str | None
    name: str
    unit: str
    group_id: str  # the innermost group (criterion)
    compute: str | None = None
    params: dict = field(default_factory=dict)
    read: tuple[str, ...] = ()
    threshold: float | None = None
    direction: str = "higher_is_better"
    scoring: object = None  # None, "direct" or a tuple of bands (dicts)
    max_points: float | None = None
    note: str = ""
    source_file: str = ""

    @property
    def is_share(self) -> bool:
        return "%" in self.unit

    @property
    def is_bool(self) -> bool:
        return self.unit.strip().lower() == "да/нет"


@dataclass(frozen=True)
class Group:
    id: str
    number: str | None
    name: str
    depth: int
    parent: str | None = None
    n_indicators: int | None = None
    max_points_per_indicator: float | None = None


@dataclass(frozen=True)
class Framework:
    id: str
    title: str
    kind: str
    source: str
    groups: tuple[Group, ...]
    indicators: tuple[Indicator, ...]
    totals: dict | None = None
    levels: tuple[dict, ...] = ()
    files: tuple[str, ...] = ()

    def group(self, gid: str) -> Group:
        return next(g for g in self.groups if g.id == gid)

    @property
    def criteria(self) -> tuple[Group, ...]:
        """Groups that hold indicators (the innermost ones)."""
        parents = {g.parent for g in self.groups}
        return tuple(g for g in self.groups if g.id not in parents)


@cache
def schema() -> dict:
    text = resources.files("vsoko_toolkit.indicators").joinpath("framework.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def builtin_dir() -> Path:
    return Path(str(resources.files("vsoko_toolkit.indicators") / "frameworks"))


def framework_dirs(extra_dirs=()) -> list[Path]:
    """The built-in folder, ``extra_dirs``, then the folders of ``VSOKO_FRAMEWORKS`` (duplicates dropped)."""
    env = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    dirs: list[Path] = []
    for d in [builtin_dir(), *map(Path, extra_dirs), *map(Path, env)]:
        d = d.expanduser().resolve()
        if d not in dirs:
            dirs.append(d)
    for d in dirs[1:]:
        if not d.is_dir():
            raise FrameworkError(f"Папка с наборами показателей {d} не найдена (аргумент extra_dirs "
                                 f"или переменная окружения {ENV_VAR}).")
    return dirs


def load_frameworks(extra_dirs=()) -> tuple[Framework, ...]:
    """Every framework (built-in and custom), validated, with extensions merged in.

    Raises
    ------
    FrameworkError : a file does not parse, breaks the schema, repeats an id,
        extends an unknown framework, or breaks the totals of an index.
    """
    from . import compute  # noqa: F401  (registers the compute functions)

    docs = [(path, read_yaml(path)) for d in framework_dirs(extra_dirs)
            for path in sorted([*d.glob("*.yaml"), *d.glob("*.yml")])]
    bases = {}
    for path, doc in docs:
        if "extends" in doc:
            continue
        if doc["id"] in bases:
            raise FrameworkError(f"Файл {path}: набор показателей с id «{doc['id']}» уже загружен из "
                                 f"{bases[doc['id']][0]}; выберите другой id.")
        bases[doc["id"]] = (path, doc)
    extensions: dict[str, list] = {}
    for path, doc in docs:
        if "extends" in doc:
            if doc["extends"] not in bases:
                raise FrameworkError(f"Файл {path}: ключ «extends» ссылается на неизвестный набор "
                                     f"«{doc['extends']}». Известны: {', '.join(bases)}.")
            extensions.setdefault(doc["extends"], []).append((path, doc))
    out = [build(path, doc, extensions.get(fid, [])) for fid, (path, doc) in bases.items()]
    rank = {fid: i for i, fid in enumerate(ORDER)}
    return tuple(sorted(out, key=lambda f: (rank.get(f.id, len(ORDER)), f.id)))


#: The built-in framework files as the test suite validated them (sha256 of the schema and of each file): an
#: unchanged built-in file is not validated again at run time, which spares every chapter that reads the
#: frameworks the import of jsonschema (~1 s: it compiles the IRI grammars of its format checker). A custom
#: file, or a built-in one edited after installation, is always validated.
MANIFEST = "VALIDATED.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def validated_manifest() -> dict:
    """What :data:`MANIFEST` must hold for the built-in files as they are (a test validates them and checks
    the file against this)."""
    schema_text = resources.files("vsoko_toolkit.indicators").joinpath("framework.schema.json").read_bytes()
    return {"schema": _sha(schema_text),
            "files": {f.name: _sha(f.read_bytes()) for f in sorted(builtin_dir().glob("*.y*ml"))}}


def _prevalidated(path: Path, data: bytes) -> bool:
    path = Path(path).resolve()
    if path.parent != builtin_dir().resolve() or not (path.parent / MANIFEST).is_file():
        return False
    try:
        manifest = json.loads((path.parent / MANIFEST).read_text(encoding="utf-8"))
    except ValueError:
        return False
    schema_text = resources.files("vsoko_toolkit.indicators").joinpath("framework.schema.json").read_bytes()
    return manifest.get("schema") == _sha(schema_text) and manifest.get("files", {}).get(path.name) == _sha(data)


def read_yaml(path: Path, check: bool | None = None) -> dict:
    """Parse and schema-validate one framework file (``check=None``: unless it is a built-in file as
    validated by the test suite, :data:`MANIFEST`)."""
    try:
        data = Path(path).read_bytes()
        doc = yaml.safe_load(data.decode("utf-8"))
    except yaml.YAMLError as err:
        raise FrameworkError(f"Файл {path}: не удаётся разобрать YAML: {err}") from err
    except UnicodeDecodeError as err:
        raise FrameworkError(f"Файл {path}: не в кодировке UTF-8.") from err
    if not isinstance(doc, dict):
        raise FrameworkError(f"Файл {path}: ожидается словарь с ключами id, title, kind, groups.")
    if check or (check is None and not _prevalidated(path, data)):
        validate(doc, path)
    return doc


def validate(doc: dict, path) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = list(validator.iter_errors(doc))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        raise FrameworkError(f"Файл {path}: {_describe(err, doc)}")


def _key_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(корень файла)"


def _where(doc, parts) -> str:
    """A human pointer: the key path plus the id of the indicator/group it is in."""
    node, ident = doc, None
    for p in parts:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and "id" in node:
            ident = node["id"]
    return f"«{_key_path(parts)}»" + (f" (id «{ident}»)" if ident is not None else "")


def _describe(err, doc) -> str:
    parts = list(err.absolute_path)
    v = err.validator
    if v == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        return f"в {_where(doc, parts)} нет обязательного ключа «{missing[0]}»."
    if v == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return (f"в {_where(doc, parts)} неизвестный ключ «{extra[0]}». "
                f"Допустимы: {', '.join(err.schema.get('properties', {}))}.")
    if v == "anyOf" and parts and "compute" in json.dumps(err.validator_value):
        return f"у показателя {_where(doc, parts)} нет ни «compute», ни «read»: неоткуда взять значение."
    if v == "enum":
        return (f"ключ {_where(doc, parts)}: значение {err.instance!r} не из допустимых: "
                f"{', '.join(map(str, err.validator_value))}.")
    if v == "type":
        return f"ключ {_where(doc, parts)}: ожидается {err.validator_value}, а записано {err.instance!r}."
    return f"ключ {_where(doc, parts)}: {err.message}"


def build(path, doc: dict, extensions: list) -> Framework:
    """A :class:`Framework` from a validated document and its extensions (checked)."""
    fid = doc["id"]
    groups: list[Group] = []
    indicators: list[Indicator] = []

    def walk(items, depth, parent, src):
        for g in items:
            groups.append(Group(g["id"], g.get("number", g["id"]), g.get("name", g["id"]), depth, parent,
                                g.get("n_indicators"), g.get("max_points_per_indicator")))
            walk(g.get("groups", []), depth + 1, g["id"], src)
            for ind in g.get("indicators", []):
                indicators.append(_indicator(fid, g["id"], ind, src))

    walk(doc["groups"], 0, None, str(path))
    ids = [g.id for g in groups]
    for g in ids:
        if ids.count(g) > 1:
            raise FrameworkError(f"Файл {path}: группа «{g}» встречается дважды.")
    for epath, ext in extensions:
        for g in ext["groups"]:
            if g["id"] not in ids:
                raise FrameworkError(f"Файл {epath}: в наборе «{fid}» нет группы (критерия) «{g['id']}»; "
                                     f"есть: {', '.join(ids)}.")
            if g.get("groups"):
                raise FrameworkError(f"Файл {epath}: расширение добавляет только показатели (ключ "
                                     f"«groups[].indicators»), а не новые группы (группа «{g['id']}»).")
            indicators += [_indicator(fid, g["id"], ind, str(epath)) for ind in g.get("indicators", [])]
    fw = Framework(fid, doc["title"], doc["kind"], doc.get("source", ""), tuple(groups), tuple(indicators),
                   doc.get("totals"), tuple(doc.get("levels", ())),
                   (str(path), *(str(p) for p, _ in extensions)))
    _check(fw)
    return fw


def _indicator(fid: str, gid: str, d: dict, src: str) -> Indicator:
    read = d.get("read", ())
    scoring = d.get("scoring")
    if isinstance(scoring, list):
        scoring = tuple(dict(b) for b in scoring)
    max_points = d.get("max_points")
    if isinstance(scoring, tuple) and max_points is None:
        max_points = max(b["points"] for b in scoring)
    return Indicator(fid, d["id"], d.get("number", d["id"]), " ".join(d["name"].split()), d["unit"], gid,
                     d.get("compute"), dict(d.get("params", {})), (read,) if isinstance(read, str) else tuple(read),
                     d.get("threshold"), d.get("direction", "higher_is_better"), scoring, max_points,
                     " ".join(d.get("note", "").split()), src)


def _check(fw: Framework) -> None:
    seen: dict[str, str] = {}
    for ind in fw.indicators:
        where = f"Файл {ind.source_file}: показатель «{ind.id}»"
        if ind.id in seen:
            raise FrameworkError(f"{where} уже есть в наборе «{fw.id}» (файл {seen[ind.id]}).")
        seen[ind.id] = ind.source_file
        if ind.compute is not None:
            fn = REGISTRY.get(ind.compute)
            if fn is None:
                raise FrameworkError(f"{where}: ключ «compute» — неизвестная функция «{ind.compute}». "
                                     f"Доступны: {', '.join(sorted(REGISTRY))}.")
            accepted = list(inspect.signature(fn).parameters)[1:]
            unknown = [p for p in ind.params if p not in accepted]
            if unknown:
                raise FrameworkError(f"{where}: ключ «params.{unknown[0]}» не принимается функцией "
                                     f"«{ind.compute}» (принимает: {', '.join(accepted) or 'ничего'}).")
        elif ind.params:
            raise FrameworkError(f"{where}: ключ «params» имеет смысл только вместе с «compute».")
        if fw.kind in ("index", "map") and ind.scoring is None:
            raise FrameworkError(f"{where}: в наборе вида «{fw.kind}» у показателя нужен ключ «scoring».")
        if ind.scoring == "direct" and ind.max_points is None:
            raise FrameworkError(f"{where}: при «scoring: direct» нужен ключ «max_points».")
    if fw.kind == "index":
        _check_index(fw)


def _check_index(fw: Framework) -> None:
    src = fw.files[0]
    if not fw.totals or not fw.levels:
        raise FrameworkError(f"Файл {src}: у набора вида «index» нужны ключи «totals» и «levels».")
    crit = fw.criteria
    for g in crit:
        if g.n_indicators is None or g.max_points_per_indicator is None:
            raise FrameworkError(f"Файл {src}: у критерия «{g.id}» нужны ключи «n_indicators» и "
                                 f"«max_points_per_indicator».")
        own = [i for i in fw.indicators if i.group_id == g.id]
        if len(own) > g.n_indicators:
            raise FrameworkError(f"Файл {own[-1].source_file}: в критерии «{g.id}» закодировано {len(own)} "
                                 f"показателей, а объявлено n_indicators = {g.n_indicators}.")
        for i in own:
            if i.max_points > g.max_points_per_indicator:
                raise FrameworkError(f"Файл {i.source_file}: показатель «{i.id}» даёт до {i.max_points:g} баллов, "
                                     f"а в критерии «{g.id}» за показатель — не больше "
                                     f"{g.max_points_per_indicator:g} (ключ «scoring»).")
    n = sum(g.n_indicators for g in crit)
    pts = sum(g.n_indicators * g.max_points_per_indicator for g in crit)
    if n != fw.totals["indicators"] or pts != fw.totals["points"]:
        raise FrameworkError(f"Файл {src}: по критериям {n} показателей и {pts:g} баллов, а в ключе «totals» — "
                             f"{fw.totals['indicators']} и {fw.totals['points']:g}.")
    top = max(lv["max"] for lv in fw.levels)
    if top != fw.totals["points"] or min(lv["min"] for lv in fw.levels) != 0:
        raise FrameworkError(f"Файл {src}: уровни («levels») должны покрывать баллы от 0 до "
                             f"{fw.totals['points']:g}.")
