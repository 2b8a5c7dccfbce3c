"""qstore-tf's plugin. It registers nothing until the TensorFlow engine and adapter land.

They will be framework ``tensorflow`` and backend ``tf``, factories as ``"module:attr"`` strings so
that TensorFlow is imported only when they are created."""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_backends(register: Register) -> None:
    """Registers nothing yet: the TensorFlow statevector backend is not implemented."""


@hookimpl
def register_frameworks(register: Register) -> None:
    """Registers nothing yet: the Keras QuantumLayer adapter is not implemented."""
