"""qstore-backend-gpu's plugin: backend ``qsim``.

Only names and factory strings live here; cirq and qsimcirq are imported when a backend is first
created. Qubit limits (free memory) and devices (GPU libraries and hardware present) are found at
run time, so they are left to each backend's `Capabilities`.
"""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_backends(register: Register) -> None:
    """Register the qsim (qsimcirq) statevector simulator."""
    register(
        "qsim",
        "qstore.backends.gpu.qsim_backend:QsimBackend",
        requires=("qsimcirq", "cirq", "sympy"),
        description="Google qsim statevector simulator (complex64); device='gpu'/'custatevec' with CUDA",
        gradient_methods=("parameter-shift", "spsa"),
    )
