"""Measurement settings for shot-based expectations, and IonQ's bit order.

Observables are measured by rotating qubits into the Z basis before readout: terms that commute
qubit-wise share one *setting* (one circuit per batch element). Setting 0 is always the
computational basis when samples are asked for or pure-Z terms need it: its samples are the
result's ``samples``. A run that asks only for expectations of X/Y terms sends no unrotated
circuit, so it is not charged for one.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from qstore.core.circuit import Circuit, Operation
from qstore.core.observables import Observable, PauliString

__all__ = ["Settings", "estimate_expectations", "ionq_to_qstore_index", "measurement_settings"]


@attrs.frozen
class Settings:
    """Bases to measure (``{qubit: "X"|"Y"|"Z"}`` per setting; when ``computational``, setting 0 is
    ``{}``, the computational basis) and which setting reads each term."""

    bases: tuple[dict[int, str], ...]
    term_setting: dict[PauliString, int]
    computational: bool = True

    def rotated(self, circuit: Circuit, index: int) -> Circuit:
        """``circuit`` followed by the basis change of setting ``index`` (H for X, S†·H for Y)."""
        ops: list[Operation] = []
        for q, p in sorted(self.bases[index].items()):
            if p == "Y":
                ops.append(Operation("sdg", (q,)))
            if p in ("X", "Y"):
                ops.append(Operation("h", (q,)))
        return circuit.append(*ops)


def measurement_settings(observables: Sequence[Observable], samples: bool = True) -> Settings:
    """Group the observables' terms into qubit-wise commuting settings (greedy, first fit); the
    computational basis is measured when ``samples`` are wanted or a pure-Z term reads it."""
    terms = list(dict.fromkeys(t for o in observables for t in o.terms if t.paulis))
    bases: list[dict[int, str]] = [{}]
    term_setting: dict[PauliString, int] = {}
    for term in terms:
        if term.is_diagonal:
            term_setting[term] = 0
            continue
        for index, setting in enumerate(bases[1:], start=1):
            if all(setting.get(q, p) == p for q, p in term.paulis):
                setting.update(term.paulis)
                term_setting[term] = index
                break
        else:
            bases.append(dict(term.paulis))
            term_setting[term] = len(bases) - 1
    if samples or 0 in term_setting.values() or len(bases) == 1:
        return Settings(tuple(bases), term_setting)
    return Settings(tuple(bases[1:]), {t: s - 1 for t, s in term_setting.items()}, computational=False)


def estimate_expectations(
    samples: np.ndarray, n_qubits: int, observables: Sequence[Observable], settings: Settings
) -> np.ndarray:
    """``(B, n_obs)`` estimates from ``samples`` of shape ``(B, n_settings, shots)`` (qubit 0 = MSB)."""
    b = samples.shape[0]
    out = np.zeros((b, len(observables)))
    for j, obs in enumerate(observables):
        for term in obs.terms:
            if not term.paulis:
                out[:, j] += term.coeff
                continue
            draws = samples[:, settings.term_setting[term], :]
            parity = np.zeros_like(draws)
            for q in term.qubits:
                parity ^= (draws >> (n_qubits - 1 - q)) & 1
            out[:, j] += term.coeff * (1 - 2 * parity).mean(axis=1)
    return out


def ionq_to_qstore_index(keys: np.ndarray, n_qubits: int) -> np.ndarray:
    """Map IonQ result keys (qubit i is bit 2**i) to Q-Store indices (qubit 0 is the MSB)."""
    keys = np.asarray(keys, dtype=np.int64)
    out = np.zeros_like(keys)
    for q in range(n_qubits):
        out |= ((keys >> q) & 1) << (n_qubits - 1 - q)
    return out
