"""Importers: declarative YAML mapping profiles turning real export shapes into contract tables.

A profile (``profiles/*.yaml``, documented in ``docs/IMPORTERS.md``) says which
sheets to read, where the header is, which columns mean what and how rows become
contract rows; the engine is generic, so a new export format is a new profile.

Examples
--------
>>> from vsoko_toolkit.importers import load_profile, list_profiles, import_files
>>> profile = load_profile("ejournal_summary")
>>> res = import_files(profile, ["data_samples/raw/ejournal_summary_5B.xlsx"], "out",
...                    options={"year": 2025, "school": "S01"})  # doctest: +SKIP
"""

from .engine import import_files
from .lookup import read_mapping
from .profile import Profile, ProfileError, list_profiles, load_profile
from .result import ImportResult, Note, Problem, SheetSummary

__all__ = [
    "ImportResult",
    "Note",
    "Problem",
    "Profile",
    "ProfileError",
    "SheetSummary",
    "import_files",
    "list_profiles",
    "load_profile",
    "read_mapping",
]
