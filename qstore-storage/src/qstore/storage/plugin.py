"""qstore-storage's plugin: storage ``zarr`` (checkpoints), ``parquet`` (metrics), ``faiss`` (vectors),
``parquet-kernels`` (kernel entries).

Registration is light: each factory is a ``"module:attr"`` string, so zarr, pyarrow and faiss are
imported only when a store is created with ``get_storage(name, **options)``.
"""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_storage(register: Register) -> None:
    """Register the disk-backed drivers, each with the library it needs."""
    register(
        "zarr",
        "qstore.storage.checkpoints:ZarrCheckpointStore",
        requires=("zarr",),
        description="checkpoints as zarr v3 groups in a directory, saved atomically",
        kinds=("checkpoints",),
    )
    register(
        "parquet",
        "qstore.storage.metrics:ParquetMetricsSink",
        requires=("pyarrow",),
        description="metrics rows in a Parquet file or a directory of part files",
        kinds=("metrics",),
    )
    register(
        "faiss",
        "qstore.storage.vectors:FaissVectorStore",
        requires=("faiss",),
        description="vectors in a faiss index (exact flat, or IVF), optionally saved to disk",
        kinds=("vectors",),
    )
    register(
        "parquet-kernels",
        "qstore.storage.kernels:ParquetKernelStore",
        requires=("pyarrow",),
        description="kernel entries in append-only Parquet parts; safe for concurrent writers",
        kinds=("kernels",),
    )
