"""Batched NumPy density-matrix simulation: the reference engine for noisy circuits.

A batch of density matrices ``ρ`` (``2**n × 2**n``) is held *vectorised* as a ``2n``-qubit batch of
shape ``(B, 2, …, 2)``: axes ``1 … n`` are the row qubits and ``n+1 … 2n`` the column qubits, i.e.
row-major ``vec(ρ)``. Every operation is then a matrix on a few of those axes, applied by the
statevector kernels of `qstore.core.statevector`:

* a gate ``U`` on ``targets``: ``U`` on the row qubits and ``U*`` on the column qubits (``UρU†``);
* a channel: its superoperator ``S = Σ K ⊗ K*`` on ``targets + (n + targets)``
  (`qstore.core.channels.superoperator`);
* state preparation ``|a>``: ``a`` into the row qubits and ``a*`` into the column qubits.

Expectations are ``Tr(Oρ) = <<O|ρ>>``; `vjp` is the adjoint method on superoperators (the states
before each operation are kept, since channels cannot be undone), exact for gate angles and channel
strengths alike. Memory is ``4**n`` amplitudes per row, so this suits small noisy registers; larger
ones use `qstore.core.trajectories`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing

from qstore.core import statevector as sv
from qstore.core.bindings import Batch
from qstore.core.channels import KRAUS, Channel, superoperator, superoperator_basis
from qstore.core.circuit import Operation, StatePreparation
from qstore.core.errors import GradientError
from qstore.core.observables import Observable
from qstore.core.plan_readout import basis_rotations

__all__ = [
    "density_matrices",
    "expectations",
    "probabilities",
    "shot_expectations",
    "simulate",
    "vectorised_observable",
    "vjp",
]

Op = Operation | StatePreparation | Channel


def simulate(batch: Batch, dtype: np.typing.DTypeLike = np.complex128) -> np.ndarray:
    """Final vectorised density matrices ``(B, 2, …, 2)`` (``2n`` qubit axes) of a bound batch."""
    rho = _initial(batch, dtype)
    for op in batch.circuit.operations:
        rho = _apply(rho, op, batch)
    return rho


def density_matrices(rho: np.ndarray) -> np.ndarray:
    """``(B, 2**n, 2**n)`` matrices from the vectorised form."""
    dim = round(np.sqrt(rho[0].size))
    return rho.reshape(rho.shape[0], dim, dim)


def probabilities(rho: np.ndarray) -> np.ndarray:
    """``(B, 2**n)`` computational-basis probabilities: the real diagonal (round-off below 0 clipped)."""
    return np.clip(np.diagonal(density_matrices(rho), axis1=1, axis2=2).real, 0.0, None)


def expectations(rho: np.ndarray, observables: Sequence[Observable]) -> np.ndarray:
    """Exact ``(B, n_obs)`` values ``Tr(Oρ)``, summed in float64."""
    n = (rho.ndim - 1) // 2
    flat = rho.reshape(rho.shape[0], -1).astype(np.complex128, copy=False)
    if not observables:
        return np.zeros((rho.shape[0], 0))
    vec = np.stack([vectorised_observable(obs, n) for obs in observables])
    return (flat @ vec.conj().T).real


def shot_expectations(
    rho: np.ndarray, observables: Sequence[Observable], shots: int, rng: np.random.Generator
) -> np.ndarray:
    """Estimates from ``shots`` measurements per basis setting (shared sampling with the statevector)."""
    n = (rho.ndim - 1) // 2

    def rotated_probabilities(setting: Any) -> np.ndarray:
        rotated = rho
        for q, rotation in basis_rotations(setting):
            rotated = _unitary(rotated, rotation, (q,), n)
        return probabilities(rotated)

    return sv.setting_expectations(rotated_probabilities, observables, n, rho.shape[0], shots, rng)


def vjp(
    batch: Batch,
    observables: Sequence[Observable],
    cotangent: np.ndarray,
    wrt: tuple[str, ...],
    dtype: np.typing.DTypeLike = np.complex128,
) -> dict[str, np.ndarray]:
    """Adjoint method on superoperators: ``{symbol: (B,)}`` of ``Σ_o cotangent[b, o] ∂Tr(O_o ρ_b)/∂symbol``.

    With ``Λ = Σ_o cotangent_o vec(O_o)`` swept backwards by ``S†``, the derivative through an
    operation is ``Re <<Λ| ∂S |ρ_before>>``; channel strengths use ``∂S/∂p`` from
    `superoperator_basis` (infinite for a damping channel at strength 1, which is refused).
    """
    ops = batch.circuit.operations
    wanted = set(wrt)
    n, b = batch.circuit.n_qubits, batch.size
    last_prep = max((i for i, op in enumerate(ops) if isinstance(op, StatePreparation)), default=-1)
    if any(op.symbols & wanted for op in ops[: max(last_prep, 0)]):
        raise GradientError(
            "adjoint differentiation needs state preparation before every differentiated gate"
        )
    rho = _initial(batch, dtype)
    before: list[np.ndarray] = []
    for op in ops:
        before.append(rho)
        rho = _apply(rho, op, batch)
    vec = (
        np.stack([vectorised_observable(obs, n) for obs in observables])
        if observables
        else np.zeros((0, 4**n))
    )
    lam = (cotangent @ vec).astype(rho.dtype).reshape(rho.shape)
    grads = {name: np.zeros(b) for name in wrt}
    for op, prev in zip(reversed(ops[last_prep + 1 :]), reversed(before[last_prep + 1 :]), strict=True):
        for index, expr in enumerate(op.params):
            used = expr.symbols & wanted
            if not used:
                continue
            g = _inner(lam, _derivative(prev, op, batch, index))
            for name in used:
                grads[name] += expr.coefficient(name) * g
        lam = _apply_adjoint(lam, op, batch)
    return grads


def _initial(batch: Batch, dtype: np.typing.DTypeLike) -> np.ndarray:
    sv.check_memory(2 * batch.circuit.n_qubits, batch.size, dtype)
    return sv.zero_state(2 * batch.circuit.n_qubits, batch.size, dtype)


def _columns(targets: Sequence[int], n: int) -> tuple[int, ...]:
    return tuple(n + t for t in targets)


def _unitary(rho: np.ndarray, matrix: np.ndarray, targets: Sequence[int], n: int) -> np.ndarray:
    rho = sv.apply_matrix(rho, matrix, targets)
    return sv.apply_matrix(rho, np.conj(matrix), _columns(targets, n))


def _channel_matrix(op: Channel, batch: Batch) -> np.ndarray:
    return superoperator(op) if op.gate == KRAUS else superoperator(op, batch.angles(op))


def _apply(rho: np.ndarray, op: Op, batch: Batch) -> np.ndarray:
    n = batch.circuit.n_qubits
    if isinstance(op, StatePreparation):
        amplitudes = batch.vectors[op.input]
        rho = sv.prepare(rho, amplitudes, op.qubits)
        return sv.prepare(rho, np.conj(amplitudes), _columns(op.qubits, n))
    if isinstance(op, Channel):
        return sv.apply_matrix(rho, _channel_matrix(op, batch), (*op.qubits, *_columns(op.qubits, n)))
    return _unitary(rho, sv.op_matrix(op, batch), op.qubits, n)


def _apply_adjoint(lam: np.ndarray, op: Op, batch: Batch) -> np.ndarray:
    """``S† Λ`` for a gate or channel (state preparations are never crossed)."""
    n = batch.circuit.n_qubits
    if isinstance(op, Channel):
        s_dag = np.conj(np.swapaxes(_channel_matrix(op, batch), -1, -2))
        return sv.apply_matrix(lam, s_dag, (*op.qubits, *_columns(op.qubits, n)))
    assert isinstance(op, Operation)
    m = sv.op_matrix(op, batch)
    return _unitary(lam, np.conj(np.swapaxes(m, -1, -2)), op.qubits, n)


def _derivative(rho: np.ndarray, op: Op, batch: Batch, index: int) -> np.ndarray:
    """``∂S/∂param[index] · ρ`` for a gate angle or channel strength."""
    n = batch.circuit.n_qubits
    if isinstance(op, Channel):
        p = batch.angles(op)[0]
        coeffs = superoperator_basis(op.gate)
        if np.any(coeffs[2]) and np.any(p >= 1):
            raise GradientError(
                f"channel {op.gate!r} has an infinite derivative at strength 1; keep its strength below 1"
            )
        d_sqrt = -0.5 / np.sqrt(np.clip(1 - p, np.finfo(float).tiny, None))
        ds = coeffs[1][None] + d_sqrt[:, None, None] * coeffs[2][None]
        return sv.apply_matrix(rho, ds, (*op.qubits, *_columns(op.qubits, n)))
    assert isinstance(op, Operation)
    m = sv.op_matrix(op, batch)
    dm = op.spec.matrix_derivative(batch.angles(op), index)
    cols = _columns(op.qubits, n)
    left = sv.apply_matrix(sv.apply_matrix(rho, dm, op.qubits), np.conj(m), cols)
    right = sv.apply_matrix(sv.apply_matrix(rho, m, op.qubits), np.conj(dm), cols)
    return left + right


def _inner(lam: np.ndarray, x: np.ndarray) -> np.ndarray:
    b = lam.shape[0]
    return np.einsum("bi,bi->b", lam.reshape(b, -1).conj(), x.reshape(b, -1)).real


def vectorised_observable(observable: Observable, n: int) -> np.ndarray:
    """Row-major ``vec(O)`` (``4**n``,) of an observable, built by applying it to the identity's columns."""
    dim = 2**n
    identity = np.eye(dim, dtype=complex).reshape((1,) + (2,) * n + (dim,))
    return sv.apply_observable(identity, observable).reshape(-1)
