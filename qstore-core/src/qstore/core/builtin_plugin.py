"""The core's own plugin: backend ``numpy`` and storage ``memory``, through the public hooks."""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl
from qstore.core.storage import STORAGE_KINDS


@hookimpl
def register_backends(register: Register) -> None:
    """Register the batched NumPy reference engine (its qubit limit depends on free memory)."""
    register(
        "numpy",
        "qstore.core.numpy_backend:NumpyBackend",
        description="batched NumPy statevector reference engine",
    )


@hookimpl
def register_storage(register: Register) -> None:
    """Register in-memory stores of every kind: ``get_storage("memory", kind=...)``."""
    register(
        "memory",
        "qstore.core.storage:memory_storage",
        description="in-process stores; nothing is written to disk",
        kinds=STORAGE_KINDS,
    )
