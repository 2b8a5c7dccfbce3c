"""Independent truth for tests: random circuits and a dense Kronecker-product simulator."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from qstore.core.circuit import Circuit, Operation, StatePreparation
from qstore.core.errors import ArgumentError
from qstore.core.expressions import Expr
from qstore.core.gates import GATES

__all__ = [
    "NOISY_VALUES",
    "dense_state",
    "dense_unitary",
    "embed",
    "noisy_circuit",
    "random_bindings",
    "random_circuit",
]

NOISY_VALUES = {"x": [0.3, 1.2, -0.4], "w": [0.4, -0.7, 2.0], "g": [0.25, 0.6, 0.05], "l": [0.2, 0.9, 0.5]}
"""Three rows of bindings for `noisy_circuit` (strengths ``g`` and ``l/2`` inside ``[0, 1]``)."""


def noisy_circuit() -> Circuit:
    """Three qubits with every kind of channel (symbolic strengths and a two-qubit Kraus channel)
    between parametric gates: the shared fixture of the density and trajectory engines' tests."""
    kraus = [np.sqrt(0.6) * np.eye(4), np.sqrt(0.4) * np.kron([[0, 1], [1, 0]], [[1, 0], [0, -1]])]
    return (
        Circuit(3)
        .ry("x", 0)
        .rx("2*w + 0.1", 1)
        .cnot(0, 1)
        .amplitude_damping("g", 1)
        .crz("w", 1, 2)
        .phase_damping("0.5*l", 0)
        .depolarizing("g", 2)
        .kraus(kraus, 2, 0)
        .bit_flip(0.1, 1)
        .phase_flip("l", 2)
    )


def embed(matrix: np.ndarray, targets: Sequence[int], n_qubits: int) -> np.ndarray:
    """The ``2**n × 2**n`` matrix of ``matrix`` on ``targets`` (first target most significant)."""
    k = len(targets)
    others = [q for q in range(n_qubits) if q not in targets]
    full = np.kron(matrix, np.eye(2 ** (n_qubits - k)))
    order = list(targets) + others
    tensor = full.reshape((2,) * (2 * n_qubits))
    inverse = np.argsort(order)
    perm = list(inverse) + [n_qubits + i for i in inverse]
    return tensor.transpose(perm).reshape(2**n_qubits, 2**n_qubits)


def _embedded_gates(circuit: Circuit, values: Mapping[str, Any]) -> list[np.ndarray]:
    """Each operation as a full ``2**n × 2**n`` matrix, in circuit order."""
    mats = []
    for op in circuit.operations:
        if isinstance(op, StatePreparation):
            raise ArgumentError("state preparation has no unitary; use dense_state")
        angles = [float(p.evaluate(values)) for p in op.params]
        mats.append(embed(GATES[op.gate].matrix(*angles), op.qubits, circuit.n_qubits))
    return mats


def dense_unitary(circuit: Circuit, values: Mapping[str, Any] | None = None) -> np.ndarray:
    """The circuit's unitary for one set of symbol values, as a product of embedded gates."""
    u = np.eye(2**circuit.n_qubits, dtype=complex)
    for m in _embedded_gates(circuit, dict(values or {})):
        u = m @ u
    return u


def dense_state(circuit: Circuit, values: Mapping[str, Any] | None = None) -> np.ndarray:
    """Final state for one binding; a leading state preparation loads its amplitudes first."""
    values = dict(values or {})
    ops = list(circuit.operations)
    state = np.zeros(2**circuit.n_qubits, dtype=complex)
    state[0] = 1
    prep = ops[0] if ops else None
    if isinstance(prep, StatePreparation):
        ops.pop(0)
        if prep.qubits != tuple(range(circuit.n_qubits)):
            raise ArgumentError("dense_state supports a state preparation of all qubits in order")
        state = np.asarray(values[prep.input]).astype(complex).reshape(-1)
    scalars = {k: v for k, v in values.items() if not isinstance(prep, StatePreparation) or k != prep.input}
    for m in _embedded_gates(Circuit(circuit.n_qubits, tuple(ops)), scalars):
        state = m @ state
    return state


def random_circuit(
    n_qubits: int,
    n_ops: int,
    rng: np.random.Generator,
    gates: Iterable[str] | None = None,
    symbols: Sequence[str] = ("a", "b", "c"),
) -> Circuit:
    """A random circuit; each angle is a constant or a random linear expression of ``symbols``."""
    names = sorted(g for g in (gates if gates is not None else GATES) if GATES[g].n_qubits <= n_qubits)
    ops = []
    for _ in range(n_ops):
        spec = GATES[names[rng.integers(len(names))]]
        qubits = tuple(int(q) for q in rng.choice(n_qubits, size=spec.n_qubits, replace=False))
        params = []
        for _ in range(spec.n_params):
            if symbols and rng.random() < 0.7:
                name = symbols[int(rng.integers(len(symbols)))]
                params.append(Expr(((name, float(rng.uniform(-2, 2))),), float(rng.uniform(-1, 1))))
            else:
                params.append(Expr((), float(rng.uniform(-np.pi, np.pi))))
        ops.append(Operation(spec.name, qubits, params))
    return Circuit(n_qubits, tuple(ops))


def random_bindings(circuit: Circuit, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Uniform random values in (-π, π) for every symbol of ``circuit``."""
    return {s: rng.uniform(-np.pi, np.pi, size=batch_size) for s in circuit.symbols}
