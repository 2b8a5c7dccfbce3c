"""qstore-storage's plugin. It registers nothing until the storage drivers land.

They will be storage ``zarr`` (checkpoints), ``parquet`` (metrics) and ``faiss`` (vectors);
their libraries are imported only when a store is created."""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_storage(register: Register) -> None:
    """Registers nothing yet: the zarr, parquet and faiss drivers are not implemented."""
