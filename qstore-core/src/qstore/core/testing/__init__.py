"""Test support shared by every backend: the conformance kit and independent reference constructions.

Importing this package needs pytest: install `qstore-core[testing]`.
"""

from qstore.core.testing.circuits import (
    NOISY_VALUES,
    dense_state,
    dense_unitary,
    embed,
    noisy_circuit,
    random_bindings,
    random_circuit,
)
from qstore.core.testing.conformance import BackendConformance

__all__ = [
    "NOISY_VALUES",
    "BackendConformance",
    "dense_state",
    "dense_unitary",
    "embed",
    "noisy_circuit",
    "random_bindings",
    "random_circuit",
]
