"""vsoko_toolkit: ВСОКО — проблемно-ориентированный анализ работы школы."""

__version__ = "0.1.0"

from .warehouse.ingest import IngestReport, ingest, validate_folder  # noqa: E402

__all__ = ["IngestReport", "ingest", "validate_folder", "__version__"]
