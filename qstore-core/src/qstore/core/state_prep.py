"""Möttönen decomposition of amplitude encoding into RY, RZ and CNOT gates.

For backends that cannot load a state, `decompose_state_preparation` rewrites every
`StatePreparation` of a bound batch into uniformly controlled rotations (Möttönen et al., 2004):
an RY tree sets the magnitudes qubit by qubit and, for complex inputs, an RZ tree sets the relative
phases. Real inputs need RY and CNOT only. The result equals the input state up to a global phase.
The per-sample angles are computed classically and bound as new symbols, so the batch keeps one
circuit structure.
"""

from __future__ import annotations

import numpy as np

from qstore.core.bindings import Batch
from qstore.core.circuit import Circuit, Operation, StatePreparation

__all__ = ["decompose_state_preparation", "uniformly_controlled_rotation"]


def _gray(i: int) -> int:
    return i ^ (i >> 1)


def uniformly_controlled_rotation(
    gate: str, controls: tuple[int, ...], target: int, prefix: str
) -> tuple[list[Operation], np.ndarray]:
    """Gates of a uniformly controlled ``gate`` (``"ry"`` or ``"rz"``) and its angle transform.

    Returns the operations, whose i-th rotation angle is the symbol ``f"{prefix}{i}"``, and the
    matrix ``T`` with ``θ = α @ T`` turning per-control-pattern angles α (control ``controls[0]``
    most significant) into those rotation angles.
    """
    m = len(controls)
    size = 2**m
    patterns = np.arange(size)
    gray = np.array([_gray(i) for i in range(size)])
    parity = np.array([[bin(c & g).count("1") % 2 for g in gray] for c in patterns])
    transform = (1 - 2 * parity) / size
    ops: list[Operation] = []
    for i in range(size):
        ops.append(Operation(gate, (target,), (f"{prefix}{i}",)))
        if m:
            changed = _gray(i) ^ _gray((i + 1) % size)
            bit = changed.bit_length() - 1
            ops.append(Operation("cnot", (controls[m - 1 - bit], target)))
    return ops, transform


def _tree_angles(values: np.ndarray, level: int, signed: bool) -> np.ndarray:
    """Per-prefix rotation angles ``(B, 2**level)`` for one level of the magnitude tree."""
    b, dim = values.shape
    k = int(np.log2(dim))
    grouped = values.reshape(b, 2**level, 2, 2 ** (k - level - 1))
    if signed:
        zero, one = grouped[..., 0, 0], grouped[..., 1, 0]
    else:
        zero, one = (
            np.linalg.norm(grouped[..., 0, :], axis=-1),
            np.linalg.norm(grouped[..., 1, :], axis=-1),
        )
    return 2 * np.arctan2(one, zero)


def _phase_angles(phases: np.ndarray, level: int) -> np.ndarray:
    """Per-prefix RZ angles: mean phase of the |…1> subtree minus that of the |…0> subtree."""
    b, dim = phases.shape
    k = int(np.log2(dim))
    means = phases.reshape(b, 2**level, 2, 2 ** (k - level - 1)).mean(axis=-1)
    return means[..., 1] - means[..., 0]


def _decompose_one(
    op: StatePreparation, amplitudes: np.ndarray, tag: str
) -> tuple[list[Operation], dict[str, np.ndarray]]:
    qubits = op.qubits
    real = not np.iscomplexobj(amplitudes) or bool(np.all(amplitudes.imag == 0))
    values = amplitudes.real if real else np.abs(amplitudes)
    ops: list[Operation] = []
    bindings: dict[str, np.ndarray] = {}
    for level, target in enumerate(qubits):
        signed = real and level == len(qubits) - 1
        alphas = _tree_angles(values, level, signed)
        gates, transform = uniformly_controlled_rotation("ry", qubits[:level], target, f"{tag}y{level}_")
        ops += gates
        bindings.update({f"{tag}y{level}_{i}": col for i, col in enumerate((alphas @ transform).T)})
    if not real:
        phases = np.angle(amplitudes)
        for level, target in enumerate(qubits):
            alphas = _phase_angles(phases, level)
            gates, transform = uniformly_controlled_rotation("rz", qubits[:level], target, f"{tag}z{level}_")
            ops += gates
            bindings.update({f"{tag}z{level}_{i}": col for i, col in enumerate((alphas @ transform).T)})
    return ops, bindings


def decompose_state_preparation(batch: Batch) -> Batch:
    """Rewrite every state preparation of ``batch`` into RY/RZ/CNOT gates with bound angles."""
    ops: list[Operation] = []
    values: dict[str, np.ndarray] = {}
    for index, op in enumerate(batch.circuit.operations):
        if isinstance(op, StatePreparation):
            gates, angles = _decompose_one(op, batch.vectors[op.input], f"_prep{index}_")
            ops += gates
            values.update(angles)
        else:
            ops.append(op)
    circuit = Circuit(batch.circuit.n_qubits, tuple(ops))
    return Batch(circuit, batch.size, {**batch.values, **values}, {})
