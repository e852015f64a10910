"""The public entry point: import export files of one shape into a contract folder.

The engine is generic: everything about a shape is in its profile (``docs/IMPORTERS.md``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import OptionError
from .lookup import read_mapping
from .output import check_targets, merge_table
from .profile import Profile, load_profile
from .result import ImportResult
from .run import CLI_FLAGS, ImportRun
from .sheets import read_grids
from .values import cell_text


def import_files(
    profile: Profile | str | Path, files, out_dir, options: dict | None = None
) -> ImportResult:
    """Import export files of one shape into contract CSV files.

    Parameters
    ----------
    profile : Profile, str or Path
        A loaded profile, a shipped profile name (``"ejournal_summary"``) or a ``.yaml`` path.
    files : path or list of paths
        Export files of the profile's shape.
    out_dir : path
        Contract folder; ``<table>.csv`` files are created or merged (upsert by the contract key).
    options : dict, optional
        ``year`` (academic year, ending year), ``school`` or ``school_id``, ``date`` (ISO or
        ``DD.MM.YYYY``), ``codes`` (CSV mapping a code or a name to ``student_id``); any other
        key is available to the profile's templates under its name.

    Returns
    -------
    ImportResult
        Per-table counts, files written, problems (nothing unmapped is dropped silently).

    Raises
    ------
    ProfileError, OptionError, FatalInputError
        Bad profile, a required option missing, an unreadable file (Russian messages).

    Examples
    --------
    >>> res = import_files("ejournal_summary", ["data_samples/raw/ejournal_summary_5B.xlsx"],
    ...                    "out", {"school": "S01"})  # doctest: +SKIP
    >>> res.counts["period_marks"]  # doctest: +SKIP
    360
    """
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    files = [files] if isinstance(files, str | Path) else list(files)
    out_dir = Path(out_dir)
    opts = _options(prof, options)
    check_targets(out_dir, prof.tables)
    run = ImportRun(prof, opts, _load_lookups(prof, opts))
    for f in files:
        for grid in read_grids(Path(f), prof.format):
            run.sheet(grid)
        if not any(s.file == Path(f).name and s.status != "skipped" for s in run.sheets):
            names = ", ".join(f"«{s.sheet}»" for s in run.sheets if s.file == Path(f).name) or "нет"
            run.problem_at(
                Path(f).name,
                "",
                None,
                "",
                "в файле нет листов с таблицей этого профиля "
                f"(листы: {names}); файл не импортирован",
            )
    counts, added, updated, written = {}, {}, {}, {}
    for table in prof.tables:
        rows = [r for r, _ in run.rows[table].values()]
        counts[table] = len(rows)
        if rows:
            written[table], added[table], updated[table] = merge_table(out_dir, table, rows)
    return ImportResult(
        prof.name,
        out_dir,
        counts,
        added,
        updated,
        written,
        tuple(dict.fromkeys(run.problems)),
        tuple(dict.fromkeys(run.notes)),
        tuple(run.sheets),
    )


def _options(prof: Profile, options: dict | None) -> dict[str, str]:
    opts = {
        str(k): cell_text(v)
        for k, v in (options or {}).items()
        if v is not None and cell_text(v) != ""
    }
    if "school" in opts and "school_id" not in opts:
        opts["school_id"] = opts["school"]
    elif "school_id" in opts:
        opts.setdefault("school", opts["school_id"])
    missing = [r for r in prof.spec["requires"] if r not in opts]
    if missing:
        flags = ", ".join(f"{m} ({CLI_FLAGS[m]})" if m in CLI_FLAGS else m for m in missing)
        raise OptionError(f"Профилю {prof.name} нужны параметры: {flags}. Укажите их при импорте.")
    return opts


def _load_lookups(prof: Profile, opts: dict[str, str]) -> dict[str, dict[str, str]]:
    maps: dict[str, dict[str, str]] = {}
    for name, lk in prof.spec["lookups"].items():
        option = lk["option"]
        if option in opts and option not in maps:
            maps[option] = read_mapping(Path(opts[option]), name)
    return maps
