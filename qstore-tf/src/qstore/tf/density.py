"""Density-matrix simulation in TensorFlow: noisy circuits, batched, differentiable by autodiff.

The layout and rules are those of the NumPy reference (`qstore.core.density`) and the torch engine
(`qstore.torch.density`): ``vec(ρ)`` is a ``(B, 4**n)`` complex tensor over ``2n`` qubit axes (row
qubits first); a gate ``U`` acts as ``U`` on the row qubits and ``U*`` on the column qubits, a
channel as its superoperator ``S(p) = C0 + p·C1 + √(1-p)·C2`` on both (the ``C`` come from
`qstore.core.channels.superoperator_basis`, Kraus channels' ``S`` from
`qstore.core.channels.superoperator`). Gate matrices come from `qstore.tf.gates`, so TensorFlow
autodiff differentiates gate angles and channel strengths alike (``∂S/∂p`` is infinite at
``p = 1`` for damping channels). Runs eagerly and inside `tf.function`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from qstore.core.channels import KRAUS, Channel, check_strengths, superoperator, superoperator_basis
from qstore.core.circuit import Circuit, StatePreparation
from qstore.core.density import vectorised_observable
from qstore.core.expressions import Expr
from qstore.core.observables import Observable, ObservableLike, as_observables
from qstore.tf import statevector as sv
from qstore.tf.gates import gate_matrix, real_dtype

__all__ = ["expectations", "probabilities", "readout", "simulate"]


def simulate(
    circuit: Circuit, values: tf.Tensor, vectors: Mapping[str, tf.Tensor], dtype: tf.DType
) -> tf.Tensor:
    """Final ``(B, 4**n)`` vectorised density matrices; ``values`` ``(B, S)`` in ``circuit.symbols`` order."""
    n = circuit.n_qubits
    column = {name: i for i, name in enumerate(circuit.symbols)}
    values = tf.cast(values, real_dtype(dtype))
    rho = sv.zero_state(2 * n, tf.shape(values)[0], dtype)
    for op in circuit.operations:
        cols = tuple(n + q for q in op.qubits)
        if isinstance(op, StatePreparation):
            amps = tf.cast(vectors[op.input], dtype)
            rho = sv._prepare(sv._prepare(rho, amps, op.qubits, 2 * n), tf.math.conj(amps), cols, 2 * n)
        elif isinstance(op, Channel):
            rho = _apply(rho, _superoperator(op, values, column, dtype), (*op.qubits, *cols), 2 * n)
        else:
            matrix = gate_matrix(op.gate, [_angle(p, values, column) for p in op.params], dtype)
            matrix = tf.broadcast_to(matrix, tf.concat([tf.shape(values)[:1], tf.shape(matrix)[-2:]], 0))
            rho = _apply(_apply(rho, matrix, op.qubits, 2 * n), tf.math.conj(matrix), cols, 2 * n)
    return rho


def probabilities(rho: tf.Tensor) -> tf.Tensor:
    """``(B, 2**n)`` computational-basis probabilities (the real diagonal, round-off below 0 clipped)."""
    dim = 2 ** ((int(rho.shape[1]).bit_length() - 1) // 2)
    diagonal = tf.linalg.diag_part(tf.reshape(rho, [-1, dim, dim]))
    return tf.maximum(tf.math.real(diagonal), 0)


def readout(rho: tf.Tensor, observables: Sequence[ObservableLike], n_qubits: int) -> tf.Tensor:
    """``(B, n_obs)`` exact ``Tr(Oρ)`` of simulated ``rho``, summed in float64, in its real dtype;
    observables are objects or strings like ``"Z0 Z1"``."""
    vec = tf.constant(_observables(as_observables(observables), n_qubits))
    values = tf.math.real(tf.matmul(tf.cast(rho, tf.complex128), vec, adjoint_b=True))
    return tf.cast(values, real_dtype(rho.dtype))


def expectations(
    circuit: Circuit,
    values: tf.Tensor,
    vectors: Mapping[str, tf.Tensor],
    observables: Sequence[ObservableLike],
    dtype: tf.DType,
) -> tf.Tensor:
    """``(B, n_obs)`` exact ``Tr(Oρ)`` in the real dtype of ``dtype``."""
    return readout(simulate(circuit, values, vectors, dtype), observables, circuit.n_qubits)


@functools.lru_cache(maxsize=64)
def _observables(observables: tuple[Observable, ...], n: int) -> np.ndarray:
    """``(n_obs, 4**n)`` row-major ``vec(O)`` (read-only, shared between calls)."""
    vec = np.stack([vectorised_observable(o, n) for o in observables]) if observables else np.zeros((0, 4**n))
    vec = vec.astype(np.complex128)
    vec.setflags(write=False)
    return vec


def _angle(expr: Expr, values: tf.Tensor, column: Mapping[str, int]) -> tf.Tensor:
    out = tf.fill(tf.shape(values)[:1], tf.constant(expr.const, values.dtype))
    for name, coeff in expr.terms:
        out = out + coeff * values[:, column[name]]
    return out


def _superoperator(op: Channel, values: tf.Tensor, column: Mapping[str, int], dtype: tf.DType) -> tf.Tensor:
    """``(d, d)`` for a Kraus channel, ``(B, 4, 4)`` for a named one, strengths checked to be in [0, 1]."""
    if op.gate == KRAUS:
        return tf.constant(superoperator(op), dtype=dtype)
    p = _angle(op.params[0], values, column)
    if tf.executing_eagerly():
        check_strengths(op, p.numpy().astype(np.float64))
    else:
        checks = [
            tf.debugging.assert_greater_equal(p, tf.zeros_like(p), message=_range_message(op)),
            tf.debugging.assert_less_equal(p, tf.ones_like(p), message=_range_message(op)),
        ]
        with tf.control_dependencies(checks):
            p = tf.identity(p)
    basis = tf.cast(tf.stack([tf.ones_like(p), p, tf.sqrt(1 - p)], axis=-1), dtype)
    coeffs = tf.constant(superoperator_basis(op.gate).reshape(3, 16), dtype=dtype)
    return tf.reshape(tf.matmul(basis, coeffs), [-1, 4, 4])


def _range_message(op: Channel) -> str:
    return (
        f"channel {op.gate!r} on qubit(s) {op.qubits}: strengths must be in [0, 1] "
        "(map a free weight through a sigmoid)"
    )


def _apply(state: tf.Tensor, matrix: tf.Tensor, targets: Sequence[int], n_axes: int) -> tf.Tensor:
    """``matrix`` (``(d, d)`` or ``(B, d, d)``) on ``targets`` of the ``2n``-qubit vectorised state."""
    if matrix.shape.rank == 2:
        matrix = tf.broadcast_to(matrix, tf.concat([tf.shape(state)[:1], tf.shape(matrix)], 0))
    return sv._apply_dense(state, matrix, targets, n_axes)
