"""qstore-torch's plugin. It registers nothing until the torch engine and adapter land.

They will be framework ``torch`` and backend ``torch``, factories as ``"module:attr"`` strings so
that torch is imported only when they are created."""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_backends(register: Register) -> None:
    """Registers nothing yet: the torch statevector backend is not implemented."""


@hookimpl
def register_frameworks(register: Register) -> None:
    """Registers nothing yet: the torch QuantumLayer adapter is not implemented."""
