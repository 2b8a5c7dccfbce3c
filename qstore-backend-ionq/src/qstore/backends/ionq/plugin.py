"""qstore-backend-ionq's plugin. It registers nothing until the IonQ backends land.

They will be backends ``ionq.simulator`` and ``ionq.qpu.<system>``; qiskit and qiskit-ionq are
imported only when one is created."""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_backends(register: Register) -> None:
    """Registers nothing yet: the IonQ backends are not implemented."""
