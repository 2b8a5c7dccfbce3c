"""Q-Store IonQ backends: the IonQ simulator and QPUs through qiskit-ionq.

Importing this package does not import qiskit: the compiler, prices, budgets and jobs are pure
NumPy and `qstore.core`; `IonQBackend` (in ``backend``) is imported on first attribute access.
"""

from __future__ import annotations

from typing import Any

from qstore.backends.ionq.budget import ionq_budget
from qstore.backends.ionq.compiler import CompiledCircuit, compile_circuit, entangler_for, native_gate_counts
from qstore.backends.ionq.errors import (
    IonQAPIError,
    IonQAuthenticationError,
    IonQCredentialsError,
    IonQOriginError,
)
from qstore.backends.ionq.jobs import IonQJob, PollPolicy
from qstore.backends.ionq.pricing import PRICES, IonQCostModel, Price, estimate, price_for

__all__ = [
    "PRICES",
    "CompiledCircuit",
    "IonQAPIError",
    "IonQAuthenticationError",
    "IonQBackend",
    "IonQCostModel",
    "IonQCredentialsError",
    "IonQJob",
    "IonQOriginError",
    "PollPolicy",
    "Price",
    "compile_circuit",
    "entangler_for",
    "estimate",
    "ionq_budget",
    "native_gate_counts",
    "price_for",
]


def __getattr__(name: str) -> Any:
    if name == "IonQBackend":
        from qstore.backends.ionq.backend import IonQBackend

        return IonQBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
