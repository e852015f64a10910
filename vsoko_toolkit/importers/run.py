"""One import run: sheets -> fields -> contract rows, with every unmapped row or cell listed.

For every sheet the run finds the header, reads the sheet's context (class,
subject, period, date...), claims the columns named in ``columns`` and the
``wide`` blocks, and turns every data row into fields. Output rows are built
from the profile's templates and typed against the contract (codes canonical,
marks checked, dates ISO). A row or cell that cannot be mapped is never dropped
silently: it becomes a :class:`~.result.Problem` naming the file, the sheet, the
row and cell, and the reason.

Field precedence for a value: an option given by the user, then the row's own
column, then the header level of a wide cell, then the sheet context; derived
fields fill what is still empty, lookups come last.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..contract.spec import TABLES
from .profile import BUILTIN_FIELDS, TEMPLATE_FIELD, Profile
from .result import Note, Problem, SheetSummary
from .sheets import Grid, cell_ref, col_letter, parse_ref
from .values import academic_year, cell_text, extract, norm_label, normalise, tidy_text, to_contract

#: How the CLI spells each standard option.
CLI_FLAGS = {
    "year": "--year",
    "school_id": "--school",
    "school": "--school",
    "date": "--date",
    "codes": "--codes",
}


def _source(template, origin: dict[str, str]) -> str:
    """The cell of the first field of ``template`` that came from a cell (``""`` if none)."""
    return next((origin[x] for x in TEMPLATE_FIELD.findall(str(template)) if origin.get(x)), "")


def render(template, fields: dict[str, str]) -> tuple[str, list[str]]:
    """Fill ``{name}`` placeholders; ``("", missing)`` when a referenced field is empty."""
    t = cell_text(template)
    missing = [n for n in TEMPLATE_FIELD.findall(t) if not fields.get(n)]
    if missing:
        return "", missing
    return TEMPLATE_FIELD.sub(lambda m: fields[m.group(1)], t), []


class ImportRun:
    """State of one import: problems, notes and the rows produced so far."""

    def __init__(self, prof: Profile, opts: dict[str, str], maps: dict[str, dict[str, str]]):
        self.prof, self.spec, self.opts, self.maps = prof, prof.spec, opts, maps
        self.problems: list[Problem] = []
        self.notes: list[Note] = []
        self.sheets: list[SheetSummary] = []
        self.rows: dict[str, dict[tuple, tuple[dict, str]]] = {t: {} for t in prof.tables}
        self._bad_rows: set[int] = set()
        self._colmap: dict[str, int] = {}

    # -- bookkeeping ---------------------------------------------------------------------------
    def problem_at(self, file: str, sheet: str, row: int | None, cell: str, message: str) -> None:
        self.problems.append(Problem(file, sheet, row, cell, message))

    def _problem(self, g: Grid, r: int | None, cell: str, message: str) -> None:
        if r is not None:
            self._bad_rows.add(r)
        self.problem_at(g.file.name, g.name, None if r is None else r + 1, cell, message)

    def _note(self, g: Grid, r: int | None, cell: str, message: str) -> None:
        self.notes.append(Note(g.file.name, g.name, None if r is None else r + 1, cell, message))

    def _summary(self, g: Grid, status: str, n: int) -> None:
        self.sheets.append(SheetSummary(g.file.name, g.name, status, n, len(self._bad_rows)))

    def _label(self, name: str) -> str:
        for section in ("context", "columns", "lookups", "wide"):
            if name in self.spec[section]:
                return self.spec[section][name].get("label", name)
        return name

    # -- one sheet -----------------------------------------------------------------------------
    def sheet(self, g: Grid) -> None:
        self._bad_rows = set()
        sh = self.spec["sheets"]
        if g.is_empty():
            self._note(g, None, "", "пустой лист пропущен")
            return self._summary(g, "skipped", 0)
        if (sh["_include"] and not any(rx.search(g.name) for rx in sh["_include"])) or any(
            rx.search(g.name) for rx in sh["_exclude"]
        ):
            self._note(g, None, "", "лист не подходит профилю (sheets.include/exclude) и пропущен")
            return self._summary(g, "skipped", 0)
        h = self._find_header(g)
        if h is None:
            return self._fail(
                g,
                0,
                "не найдена строка заголовков таблицы (ожидались столбцы: "
                + ", ".join(self._required_headers())
                + ")",
            )
        nh = self.spec["header"]["rows"]
        headers = self._headers(g, h, nh)
        colmap, missing = self._claim_columns(headers)
        self._colmap = colmap
        if missing:
            return self._fail(
                g, h + nh, "на листе нет обязательных столбцов: " + ", ".join(missing)
            )
        blocks = self._claim_blocks(g, h, headers, set(colmap.values()))
        self._note_unused(
            g, h + nh, headers, set(colmap.values()) | {c for b in blocks.values() for c, _ in b}
        )
        ctx, origin, lost = self._context(g, h)
        if lost:
            return self._fail(g, h + nh, "не найдено: " + "; ".join(lost))
        bad = self._check_sheet_fields(ctx) or self._check_fillable(ctx, colmap)
        if bad:
            return self._fail(g, h + nh, bad)
        n = 0
        for r in range(h + nh, len(g.cells)):
            row = g.row(r)
            if not any(row):
                if self.spec["rows"].get("stop_at_blank") and n:
                    break
                continue
            if self._skip_row(g, r, colmap):
                continue
            if not any(g.at(r, c) for c in colmap.values()) and not any(
                g.at(r, c) for b in blocks.values() for c, _ in b
            ):
                self._note(g, r, "", "строка без данных в столбцах профиля пропущена")
                continue
            n += 1
            self._row(g, r, ctx, origin, colmap, blocks)
        self._summary(g, "imported", n)

    def _fail(self, g: Grid, start: int, why: str) -> None:
        rows = [r for r in range(start, len(g.cells)) if any(g.row(r))]
        span = (
            f"строки {rows[0] + 1}–{rows[-1] + 1} ({len(rows)})" if rows else "строк с данными нет"
        )
        self._problem(g, None, "", f"{why}; лист не импортирован: {span}")
        self._summary(g, "failed", len(rows))

    def _required_headers(self) -> list[str]:
        cols = self.spec["columns"]
        req = [c for c in cols.values() if c.get("required")] or list(cols.values())
        out = []
        for c in req:
            labels = c.get("header") or c["label"]
            out.append(f"«{labels[0] if isinstance(labels, list) else labels}»")
        return out

    @staticmethod
    def _matches(cs: dict, texts: list[str]) -> bool:
        return any(
            norm_label(t) in cs["_labels"] or any(rx.search(t) for rx in cs["_regex"])
            for t in texts
            if t
        )

    def _find_header(self, g: Grid) -> int | None:
        hd = self.spec["header"]
        limit = min(len(g.cells), hd["search_rows"])
        if hd.get("row"):
            return hd["row"] - 1 if hd["row"] - 1 < len(g.cells) else None
        if hd["_find"]:
            return next(
                (
                    r
                    for r in range(limit)
                    if any(rx.search(t) for t in g.row(r) if t for rx in hd["_find"])
                ),
                None,
            )
        cols = list(self.spec["columns"].values())
        req = [c for c in cols if c.get("required")]
        for r in range(limit):
            if not any(self._matches(c, g.row(r)) for c in req or cols):
                continue
            span = [t for i in range(hd["rows"]) for t in g.row(r + i)]
            if all(self._matches(c, span) for c in req):
                return r
        return None

    def _headers(self, g: Grid, h: int, nh: int) -> list[list[str]]:
        width = g.width
        levels = [[tidy_text(g.at(h + i, c)) for c in range(width)] for i in range(nh)]
        if nh > 1 and self.spec["header"]["fill_right"]:
            for i in range(nh - 1):
                last = ""
                for c in range(width):
                    last = levels[i][c] = levels[i][c] or last
        return levels

    def _claim_columns(self, headers: list[list[str]]) -> tuple[dict[str, int], list[str]]:
        colmap: dict[str, int] = {}
        missing = []
        width = len(headers[0]) if headers else 0
        for name, cs in self.spec["columns"].items():
            for c in range(width):
                if c not in colmap.values() and self._matches(cs, [lv[c] for lv in headers]):
                    colmap[name] = c
                    break
            else:
                if cs.get("required"):
                    missing.append(f"«{cs['label']}»")
        return colmap, missing

    def _claim_blocks(self, g: Grid, h: int, headers, claimed: set[int]) -> dict[str, list]:
        blocks: dict[str, list] = {}
        width = len(headers[0]) if headers else 0
        for name, w in self.spec["wide"].items():
            blocks[name] = []
            for c in range(width):
                last = headers[-1][c]
                if c in claimed or not last:
                    continue
                if not (w["_rest"] or any(rx.search(last) for rx in w["_columns"])):
                    continue
                if any(rx.search(lv[c]) for lv in headers for rx in w["_exclude"] if lv[c]):
                    continue
                levels = [(lv[c], cell_ref(h + i, c)) for i, lv in enumerate(headers)]
                blocks[name].append((c, levels))
                claimed.add(c)
        return blocks

    def _note_unused(self, g: Grid, first: int, headers, claimed: set[int]) -> None:
        unused = []
        for c in range(g.width):
            if c in claimed or not any(g.at(r, c) for r in range(first, len(g.cells))):
                continue
            title = " / ".join(dict.fromkeys(lv[c] for lv in headers if c < len(lv) and lv[c]))
            unused.append(
                f"«{title}» ({col_letter(c)})" if title else f"без заголовка ({col_letter(c)})"
            )
        if unused:
            self._note(g, None, "", "столбцы не используются профилем: " + ", ".join(unused))

    def _context(self, g: Grid, h: int) -> tuple[dict, dict, list[str]]:
        fields = {"file_name": g.file.stem, "sheet_name": g.name}
        origin: dict[str, str] = {}
        lost = []
        for name, c in self.spec["context"].items():
            found = self._find_context(g, h, c)
            if found is None and c.get("default") is not None:
                found = (cell_text(c["default"]), "")
            if found is not None and found[0]:
                fields[name] = normalise(self.spec["values"].get(name), found[0])
                origin[name] = found[1]
            elif c.get("required") and name not in self.opts:
                where = {
                    "above_header": "над таблицей",
                    "sheet_name": "в имени листа",
                    "file_name": "в имени файла",
                }
                places = (
                    f"в ячейке {c['cell']}"
                    if c.get("cell")
                    else ", ".join(where[s] for s in c["in"])
                )
                lost.append(f"{c['label']} (искали {places})")
        return fields, origin, lost

    @staticmethod
    def _find_context(g: Grid, h: int, c: dict) -> tuple[str, str] | None:
        if c.get("cell"):
            r0, c0 = parse_ref(c["cell"])
            candidates = [(g.at(r0, c0), c["cell"].upper())]
        else:
            candidates = []
            for src in c["in"]:
                if src == "above_header":
                    for r in range(h):
                        row = g.row(r)
                        candidates += [(t, cell_ref(r, cc)) for cc, t in enumerate(row)]
                        # a label and its value in neighbouring cells («Дата:» | 15.04.2025)
                        filled = [(cc, t) for cc, t in enumerate(row) if t]
                        if len(filled) > 1:
                            candidates.append(
                                (" ".join(t for _, t in filled), cell_ref(r, filled[0][0]))
                            )
                elif src == "sheet_name":
                    candidates.append((g.name, ""))
                else:
                    candidates.append((g.file.stem, ""))
        for text, ref in candidates:
            if not text:
                continue
            if not c["_search"]:
                return tidy_text(text), ref
            for rx in c["_search"]:
                m = rx.search(text)
                if m:
                    return extract(m), ref
        return None

    def _check_sheet_fields(self, ctx: dict[str, str]) -> str | None:
        """Type-check, once per sheet, output values built only from sheet context and options."""
        sheet_level = set(self.spec["context"]) | set(BUILTIN_FIELDS) | set(self.opts)
        row_level = set(self.spec["columns"]) | set(self.spec["derive"]) | set(self.spec["lookups"])
        fields = {**ctx, **self._opt_fields()}
        for out in self.spec["outputs"]:
            table = TABLES[out["table"]]
            for col, tmpl in out["fields"].items():
                refs = TEMPLATE_FIELD.findall(cell_text(tmpl))
                if not refs or not set(refs) <= sheet_level or set(refs) & row_level:
                    continue
                text, missing = render(tmpl, fields)
                if missing:
                    continue
                _, err = to_contract(table.column(col), text)
                if err:
                    return f"{err} (из {', '.join(self._label(x) for x in refs)})"
        return None

    def _blocker(self, f: str, ctx: dict, colmap: dict, block: set, seen: tuple = ()) -> str | None:
        """The field that keeps ``f`` from ever being filled on this sheet, or ``None``."""
        if f in self.opts or ctx.get(f) or f in colmap or f in block:
            return None
        if f in seen:
            return f
        seen = (*seen, f)

        def first(template: str) -> str | None:
            for x in TEMPLATE_FIELD.findall(template):
                b = self._blocker(x, ctx, colmap, block, seen)
                if b:
                    return b
            return None

        if f in self.spec["derive"]:
            return first(self.spec["derive"][f]["from"])
        if f in self.spec["lookups"]:
            lk = self.spec["lookups"][f]
            if lk["option"] in self.maps:
                blocks = [first(k) for k in lk["keys"]]
                return None if None in blocks else blocks[0]
            return first(lk["default"]) if lk.get("default") else f
        return f

    def _check_fillable(self, ctx: dict, colmap: dict) -> str | None:
        """Fail a sheet once when a required output column could never be filled on it."""
        for out in self.spec["outputs"]:
            table = TABLES[out["table"]]
            each = out.get("each")
            w = self.spec["wide"][each] if each else None
            block = {*w["levels"], w["value"]} if w else set()
            for col, tmpl in out["fields"].items():
                if not table.column(col).required:
                    continue
                for x in TEMPLATE_FIELD.findall(cell_text(tmpl)):
                    leaf = self._blocker(x, ctx, colmap, block)
                    if leaf is None:
                        continue
                    if leaf in self.spec["lookups"]:
                        lk = self.spec["lookups"][leaf]
                        flag = CLI_FLAGS.get(lk["option"], lk["option"])
                        why = f"{lk['label']}: не задана таблица соответствия ({flag})"
                    else:
                        why = self._missing_reason(leaf, {}, 0)[1]
                    return f"нечем заполнить {table.name}.{col} — {why}"
        return None

    def _opt_fields(self) -> dict[str, str]:
        return {k: normalise(self.spec["values"].get(k), v) for k, v in self.opts.items()}

    def _skip_row(self, g: Grid, r: int, colmap: dict[str, int]) -> bool:
        for fld, rxs in self.spec["rows"]["_skip"].items():
            c = colmap.get(fld)
            v = g.at(r, c) if c is not None else ""
            if v and any(rx.search(v) for rx in rxs):
                self._note(
                    g, r, cell_ref(r, c), f"строка пропущена как итоговая или служебная («{v}»)"
                )
                return True
        return False

    # -- one row ---------------------------------------------------------------------------------
    def _row(self, g: Grid, r: int, ctx, ctx_origin, colmap, blocks) -> None:
        base, origin = dict(ctx), dict(ctx_origin)
        for name, c in colmap.items():
            v = g.at(r, c)
            if v:
                base[name] = normalise(self.spec["values"].get(name), tidy_text(v))
                origin[name] = cell_ref(r, c)
        for out in self.spec["outputs"]:
            each = out.get("each")
            if each is None:
                rec, o, why = self._finish(base, origin)
                self._output(out, rec, o, why, g, r, "")
                continue
            w = self.spec["wide"][each]
            for c, levels in blocks[each]:
                v = g.at(r, c)
                if not v and not w.get("keep_empty"):
                    continue
                rec, o = dict(base), dict(origin)
                for lname, (text, ref) in zip(w["levels"], levels, strict=True):
                    rec[lname] = normalise(self.spec["values"].get(lname), text)
                    o[lname] = ref
                rec[w["value"]] = normalise(self.spec["values"].get(w["value"]), tidy_text(v))
                o[w["value"]] = cell_ref(r, c)
                rec, o, why = self._finish(rec, o)
                self._output(out, rec, o, why, g, r, cell_ref(r, c))

    def _finish(self, rec: dict, origin: dict) -> tuple[dict, dict, dict]:
        """Apply options, derived fields and lookups; ``why`` explains fields left empty."""
        rec = {**rec, **self._opt_fields()}
        origin = {**origin, **{k: "" for k in self.opts}}
        why: dict[str, tuple[str, str]] = {}
        for name, d in self.spec["derive"].items():
            if rec.get(name) and not d.get("overwrite"):
                continue
            text, missing = render(d["from"], rec)
            src = _source(d["from"], origin)
            if missing:
                continue
            if d.get("regex"):
                m = re.search(d["regex"], text, flags=re.IGNORECASE)
                if not m:
                    why[name] = (
                        src,
                        f"«{text}» не подходит для поля {name} (ожидался вид {d['regex']})",
                    )
                    continue
                text = extract(m)
            if d.get("transform") == "academic_year":
                y = academic_year(text)
                if not y:
                    why[name] = (src, f"«{text}» не является датой, учебный год не определить")
                    continue
                text = y
            rec[name] = normalise(self.spec["values"].get(name), text)
            origin[name] = src
        for name, lk in self.spec["lookups"].items():
            mapping = self.maps.get(lk["option"])
            if mapping is None:
                if lk.get("default"):
                    text, _ = render(lk["default"], rec)
                    if text:
                        rec[name], origin[name] = text, _source(lk["default"], origin)
                continue
            tried = []
            for key in lk["keys"]:
                text, _ = render(key, rec)
                if not text:
                    continue
                src = _source(key, origin)
                tried.append((text, src))
                if norm_label(text) in mapping:
                    rec[name] = mapping[norm_label(text)]
                    origin[name] = src
                    break
            else:
                opt = lk["option"]
                mfile = Path(self.opts[opt]).name
                if tried:
                    why[name] = (
                        tried[0][1],
                        f"«{tried[0][0]}» нет в таблице соответствия {mfile} "
                        f"(параметр {opt}), {lk['label']} не определён",
                    )
                else:
                    why[name] = (
                        "",
                        f"нет значения для поиска в таблице соответствия {mfile}, "
                        f"{lk['label']} не определён",
                    )
        return rec, origin, why

    def _missing_reason(self, f: str, why: dict, r: int) -> tuple[str, str]:
        if f in why:
            return why[f]
        label, colmap = self._label(f), self._colmap
        if f in self.spec["columns"]:
            if f not in colmap:
                return "", f"на листе нет столбца «{label}»"
            return cell_ref(r, colmap[f]), f"пустая ячейка: {label}"
        if f in self.spec["context"]:
            return "", f"не найдено: {label}"
        if f in self.spec["lookups"]:
            return "", f"не определён {label}"
        if f in self.spec["requires"] or f in CLI_FLAGS:
            flag = f" ({CLI_FLAGS[f]})" if f in CLI_FLAGS else ""
            return "", f"не задан параметр {f}{flag}"
        return "", f"не определено значение «{label}»"

    def _output(self, out: dict, rec, origin, why, g: Grid, r: int, cell: str) -> None:
        table = TABLES[out["table"]]
        row: dict[str, str] = {}
        errors: list[tuple[str, str]] = []
        for col, tmpl in out["fields"].items():
            column = table.column(col)
            text, missing = render(tmpl, rec)
            if missing:
                if column.required:
                    errors.append(self._missing_reason(missing[0], why, r))
                row[col] = ""
                continue
            where = _source(tmpl, origin) or cell
            value, err = to_contract(column, text)
            if err and not column.required:
                # a bad optional value is left out; the row itself is still good
                self._problem(
                    g,
                    r,
                    where,
                    f"{err}; значение {table.name}.{col} не импортировано, "
                    "строка импортирована без него",
                )
                value = ""
            elif err:
                errors.append((where, err))
            elif value == "" and column.required:
                errors.append((where, f"пустое обязательное значение {col}"))
            row[col] = value
        unit = "значение не импортировано" if out.get("each") else "строка не импортирована"
        for where, msg in errors:
            self._problem(g, r, where or cell, f"{msg}; {unit} в {table.name}")
        if errors:
            return
        key = tuple(row.get(k, "") for k in table.key) if table.key else tuple(sorted(row.items()))
        here = f"{g.file.name}, лист «{g.name}», {cell or f'строка {r + 1}'}"
        prev = self.rows[table.name].get(key)
        if prev is None:
            self.rows[table.name][key] = (row, here)
        elif prev[0] != row:
            keytext = ", ".join(f"{k}={row.get(k, '')}" for k in table.key)
            self._problem(
                g,
                r,
                cell,
                f"повтор ключа {table.name} ({keytext}) с другими значениями: "
                f"уже получено из {prev[1]}; {unit}",
            )
