"""qstore-backend-gpu's plugin. It registers nothing until the GPU backends land.

They will be backends ``qsim`` and ``lightning``; cirq, qsimcirq and pennylane-lightning are
imported only when one is created."""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_backends(register: Register) -> None:
    """Registers nothing yet: the qsim and lightning backends are not implemented."""
