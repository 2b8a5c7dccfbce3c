"""qstore-backend-gpu's plugin: backends ``qsim`` and ``lightning``.

Only names and factory strings live here; cirq, qsimcirq and PennyLane are imported when a backend is first
created. Qubit limits, devices and gradient methods come from each backend's `Capabilities`.
"""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_backends(register: Register) -> None:
    """Register the qsim (qsimcirq) and PennyLane Lightning statevector simulators."""
    register(
        "qsim",
        "qstore.backends.gpu.qsim_backend:QsimBackend",
        requires=("qsimcirq", "cirq", "sympy"),
        description="Google qsim statevector simulator (complex64); device='gpu'/'custatevec' with CUDA",
    )
    register(
        "lightning",
        "qstore.backends.gpu.lightning_backend:LightningBackend",
        requires=("pennylane", "pennylane_lightning"),
        description="PennyLane Lightning statevector simulator with adjoint Jacobians; "
        "device='lightning.qubit' (CPU), 'lightning.gpu' or 'lightning.kokkos' where installed",
    )
