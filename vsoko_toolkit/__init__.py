"""vsoko_toolkit: ВСОКО — проблемно-ориентированный анализ работы школы."""

__version__ = "0.1.0"

__all__ = ["IngestReport", "ingest", "validate_folder", "__version__"]


def __getattr__(name: str):
    # lazy: chapter notebooks import the package without paying for the ingest machinery (pandera)
    if name in ("IngestReport", "ingest", "validate_folder"):
        from .warehouse import ingest as _ingest

        return getattr(_ingest, name)
    raise AttributeError(f"module 'vsoko_toolkit' has no attribute {name!r}")
