"""qstore-backend-ionq's plugin: registers ``ionq.simulator`` and ``ionq.qpu.<system>``.

Only names and declared facts live here; qiskit and qiskit-ionq are imported when a backend is
created (`qstore.backends.ionq.backend`).
"""

from __future__ import annotations

import functools
from typing import Any

from qstore.core.hookspecs import Register, hookimpl

_GRADIENTS = ("parameter-shift", "finite-diff", "spsa")
_REQUIRES = ("qiskit_ionq", "qiskit")
_QPUS = {"aria-1": 25, "forte-1": 36, "forte-enterprise-1": 36}


def _create(system: str, **options: Any) -> Any:
    from qstore.backends.ionq.backend import IonQBackend

    return IonQBackend(system, **options)


@hookimpl
def register_backends(register: Register) -> None:
    """Register IonQ's cloud simulator and each QPU; options go to `IonQBackend`."""
    register(
        "ionq.simulator",
        functools.partial(_create, "simulator"),
        requires=_REQUIRES,
        description="IonQ cloud simulator (ideal or noise_model='aria-1'|'forte-1'|...) via qiskit-ionq",
        max_qubits=29,
        gradient_methods=_GRADIENTS,
        devices=("cloud-simulator",),
    )
    for system, qubits in _QPUS.items():
        register(
            f"ionq.qpu.{system}",
            functools.partial(_create, system),
            requires=_REQUIRES,
            description=f"IonQ {system} trapped-ion QPU via qiskit-ionq; priced before sending, budgets enforced",
            max_qubits=qubits,
            gradient_methods=_GRADIENTS,
            devices=("qpu",),
        )
