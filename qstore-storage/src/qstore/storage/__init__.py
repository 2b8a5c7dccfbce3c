"""Q-Store storage drivers: zarr checkpoints, Parquet metrics and kernel entries, faiss vectors.

Usually reached through the registry (``get_storage("zarr", path=...)``); the classes are also
importable from here. Attributes load lazily, so importing this package (as the plugin does)
imports none of zarr, pyarrow or faiss.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qstore.storage.checkpoints import ZarrCheckpointStore
    from qstore.storage.kernels import ParquetKernelStore
    from qstore.storage.metrics import MetricsTable, ParquetMetricsSink, SkippedPart, read_metrics
    from qstore.storage.vectors import FaissVectorStore

__all__ = [
    "FaissVectorStore",
    "MetricsTable",
    "ParquetKernelStore",
    "ParquetMetricsSink",
    "SkippedPart",
    "ZarrCheckpointStore",
    "read_metrics",
]

_MODULES = {
    "FaissVectorStore": "qstore.storage.vectors",
    "MetricsTable": "qstore.storage.metrics",
    "ParquetKernelStore": "qstore.storage.kernels",
    "ParquetMetricsSink": "qstore.storage.metrics",
    "SkippedPart": "qstore.storage.metrics",
    "ZarrCheckpointStore": "qstore.storage.checkpoints",
    "read_metrics": "qstore.storage.metrics",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'qstore.storage' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
