"""qstore-backend-ionq's plugin: registers ``ionq.simulator`` and ``ionq.qpu.<system>``.

Only names live here; qiskit and qiskit-ionq are imported when a backend is created
(`qstore.backends.ionq.backend`), whose `Capabilities` give qubit limits and gradient methods.
"""

from __future__ import annotations

import functools
from typing import Any

from qstore.core.hookspecs import Register, hookimpl

_REQUIRES = ("qiskit_ionq", "qiskit")
_QPUS = ("aria-1", "forte-1", "forte-enterprise-1")


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
    )
    for system in _QPUS:
        register(
            f"ionq.qpu.{system}",
            functools.partial(_create, system),
            requires=_REQUIRES,
            description=f"IonQ {system} trapped-ion QPU via qiskit-ionq; priced before sending, budgets enforced",
        )
