"""Batched TensorFlow statevector kernels: the ``tf`` engine and the Keras layers both run on these.

A batch of states is a ``(B, 2**n)`` complex tensor; qubit 0 is the most significant bit of the
index, as in `qstore.core.statevector`. Everything is TensorFlow ops with a static circuit
structure, so it runs eagerly and inside `tf.function` and is differentiable by autodiff in the
symbol values and state-preparation inputs. Runs of one-qubit gates on a qubit are fused into one
matrix; fixed multi-qubit gates that permute basis states (CNOT, SWAP, CCX, …) are gathers;
diagonal gates are elementwise products.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from qstore.core.circuit import Circuit, Operation, StatePreparation
from qstore.core.errors import CapabilityError
from qstore.core.expressions import Expr
from qstore.core.gates import gate_spec
from qstore.core.observables import Observable
from qstore.tf.gates import gate_matrix, real_dtype

__all__ = ["apply_matrix", "expectations", "probabilities", "simulate", "zero_state"]


def zero_state(n_qubits: int, batch_size: int | tf.Tensor, dtype: tf.DType = tf.complex64) -> tf.Tensor:
    """``|0…0>`` for every element of the batch, shape ``(B, 2**n)``."""
    zeros = tf.zeros(tf.reshape(batch_size, [1]), dtype=tf.int32)
    return tf.cast(tf.one_hot(zeros, 2**n_qubits, dtype=real_dtype(dtype)), dtype)


def apply_matrix(state: tf.Tensor, matrix: tf.Tensor, targets: Sequence[int], n_qubits: int) -> tf.Tensor:
    """Apply a ``(d, d)`` or batched ``(B, d, d)`` matrix to ``targets`` (first target most significant)."""
    k = len(targets)
    if k == 1:
        return tf.reshape(_apply_one_qubit(state, matrix, targets[0], n_qubits), [-1, 2**n_qubits])
    others = [q for q in range(n_qubits) if q not in targets]
    perm = [0, *(1 + q for q in targets), *(1 + q for q in others)]
    moved = tf.transpose(tf.reshape(state, [-1] + [2] * n_qubits), perm)
    out = tf.matmul(matrix, tf.reshape(moved, [-1, 2**k, 2 ** (n_qubits - k)]))
    out = tf.transpose(tf.reshape(out, [-1] + [2] * n_qubits), np.argsort(perm))
    return tf.reshape(out, [-1, 2**n_qubits])


_MATMUL_MIN_RIGHT = 8


def _apply_one_qubit(state: tf.Tensor, matrix: tf.Tensor, target: int, n_qubits: int) -> tf.Tensor:
    """One-qubit gate on a ``(B, left, 2, right)`` view, picking the kernel that stays one big matmul.

    Many columns on the right: ``M @ view``; the last qubit: ``view @ Mᵀ`` on ``(B, 2**(n-1), 2)``
    rows; in between, an einsum (TensorFlow transposes to one batched matmul).
    """
    batched = matrix.shape.rank == 3
    right = 2 ** (n_qubits - target - 1)
    if right >= _MATMUL_MIN_RIGHT:
        view = tf.reshape(state, [-1, 2**target, 2, right])
        return tf.matmul(matrix[:, None] if batched else matrix, view)
    if right == 1:
        rows = tf.reshape(state, [tf.shape(state)[0], -1, 2]) if batched else tf.reshape(state, [-1, 2])
        return tf.matmul(rows, tf.linalg.matrix_transpose(matrix))
    view = tf.reshape(state, [-1, 2**target, 2, right])
    return tf.einsum("bij,bljr->blir" if batched else "ij,bljr->blir", matrix, view)


def _apply_diagonal(
    state: tf.Tensor, diagonal: tf.Tensor, targets: Sequence[int], n_qubits: int
) -> tf.Tensor:
    """Multiply by a diagonal gate given as ``(d,)`` or ``(B, d)`` phases.

    The phases are gathered onto all ``2**n`` basis states, so the product is a plain 2-D
    broadcast (TensorFlow broadcasts at most 5 dimensions on CPU).
    """
    spread = tf.gather(
        tf.reshape(diagonal, [-1, 2 ** len(targets)]), _target_index(n_qubits, tuple(targets)), axis=1
    )
    return state * spread


@functools.lru_cache(maxsize=256)
def _target_index(n_qubits: int, targets: tuple[int, ...]) -> np.ndarray:
    """For every basis index, the index of its target bits (first target most significant)."""
    weights = 2 ** np.arange(len(targets) - 1, -1, -1)
    return (_bits(n_qubits)[:, list(targets)] @ weights).astype(np.int32)


def _bits(n_qubits: int) -> np.ndarray:
    """``(2**n, n)`` bits of every basis index, qubit 0 first."""
    index = np.arange(2**n_qubits)
    return (index[:, None] >> (n_qubits - 1 - np.arange(n_qubits))) & 1


@functools.lru_cache(maxsize=256)
def _monomial_plan(
    gate: str, targets: tuple[int, ...], n_qubits: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """For a fixed gate with one non-zero per row: source index and phase of every output amplitude."""
    m = gate_spec(gate).matrix()
    if np.any(np.count_nonzero(m, axis=1) != 1):
        return None
    column = np.argmax(m != 0, axis=1)
    bits = _bits(n_qubits)
    k = len(targets)
    local = bits[:, list(targets)] @ (1 << np.arange(k - 1, -1, -1))
    source_local = column[local]
    source_bits = bits.copy()
    source_bits[:, list(targets)] = (source_local[:, None] >> np.arange(k - 1, -1, -1)) & 1
    source = source_bits @ (1 << np.arange(n_qubits - 1, -1, -1))
    return source.astype(np.int32), m[local, source_local]


def _angle(expr: Expr, values: Mapping[str, tf.Tensor], rdtype: tf.DType) -> tf.Tensor:
    out = tf.constant(expr.const, rdtype)
    for name, coeff in expr.terms:
        out = out + coeff * tf.cast(values[name], rdtype)
    return out


def _op_matrix(op: Operation, values: Mapping[str, tf.Tensor], dtype: tf.DType) -> tf.Tensor:
    if all(p.is_constant for p in op.params):
        return tf.constant(op.spec.matrix(*(p.const for p in op.params)), dtype=dtype)
    rdtype = real_dtype(dtype)
    return gate_matrix(op.gate, [_angle(p, values, rdtype) for p in op.params], dtype)


def _apply_operation(
    state: tf.Tensor, op: Operation, values: Mapping[str, tf.Tensor], n_qubits: int, dtype: tf.DType
) -> tf.Tensor:
    m = _op_matrix(op, values, dtype)
    if op.spec.diagonal:
        return _apply_diagonal(state, tf.linalg.diag_part(m), op.qubits, n_qubits)
    return apply_matrix(state, m, op.qubits, n_qubits)


def _apply_permutation(state: tf.Tensor, source: np.ndarray, phase: np.ndarray) -> tf.Tensor:
    """``out[y] = phase[y] · state[source[y]]``, skipping the identity parts."""
    if not np.array_equal(source, np.arange(source.size)):
        state = tf.gather(state, source, axis=1)
    return state if np.all(phase == 1) else state * tf.constant(phase, dtype=state.dtype)


def _prepare(state: tf.Tensor, amplitudes: tf.Tensor, qubits: Sequence[int], n_qubits: int) -> tf.Tensor:
    """Load ``(B, 2**k)`` amplitudes into ``qubits``, which no earlier gate has touched."""
    k = len(qubits)
    amplitudes = tf.cast(amplitudes, state.dtype)
    if tuple(qubits) == tuple(range(n_qubits)):
        return amplitudes * state[:, :1]
    others = [q for q in range(n_qubits) if q not in qubits]
    perm = [0, *(1 + q for q in qubits), *(1 + q for q in others)]
    moved = tf.transpose(tf.reshape(state, [-1] + [2] * n_qubits), perm)
    rest = tf.reshape(moved, [-1, 2**k, 2 ** (n_qubits - k)])[:, :1, :]
    out = tf.reshape(amplitudes[:, :, None] * rest, [-1] + [2] * n_qubits)
    return tf.reshape(tf.transpose(out, np.argsort(perm)), [-1, 2**n_qubits])


def simulate(
    circuit: Circuit,
    values: Mapping[str, tf.Tensor],
    vectors: Mapping[str, tf.Tensor] | None = None,
    batch_size: int | tf.Tensor = 1,
    dtype: tf.DType = tf.complex64,
) -> tf.Tensor:
    """Final states ``(B, 2**n)`` of ``circuit``.

    ``values`` maps each symbol to a real tensor of shape ``()`` or ``(B,)`` (weights shared by the
    batch stay scalars, so their matrices are built once); ``vectors`` maps each state-preparation
    input to ``(B, 2**k)`` normalised amplitudes.
    """
    n = circuit.n_qubits
    vectors = vectors or {}
    state = zero_state(n, batch_size, dtype)
    pending: dict[int, tf.Tensor] = {}
    # Consecutive fixed permutation gates (a CNOT chain) compose into one gather.
    source: np.ndarray | None = None
    phase: np.ndarray = np.ones(1)
    permuted: set[int] = set()
    touched: set[int] = set()

    def flush(qubits: Sequence[int]) -> None:
        nonlocal state
        for q in qubits:
            if q in pending:
                state = apply_matrix(state, pending.pop(q), (q,), n)

    def flush_permutation() -> None:
        nonlocal state, source, permuted
        if source is not None:
            state = _apply_permutation(state, source, phase)
            source, permuted = None, set()

    for op in circuit.operations:
        plan = (
            None if op.params or isinstance(op, StatePreparation) else _monomial_plan(op.gate, op.qubits, n)
        )
        if isinstance(op, StatePreparation):
            if touched & set(op.qubits):
                raise CapabilityError(
                    "the tf engine loads a state preparation only on qubits no earlier gate acts on; "
                    f"qubit(s) {sorted(touched & set(op.qubits))} were used before PREP({op.input})"
                )
            flush_permutation()
            state = _prepare(state, vectors[op.input], op.qubits, n)
        elif op.spec.n_qubits == 1:
            if op.qubits[0] in permuted:
                flush_permutation()
            m = _op_matrix(op, values, dtype)
            q = op.qubits[0]
            pending[q] = tf.matmul(m, pending[q]) if q in pending else m
        elif plan is not None:
            flush(op.qubits)
            op_source, op_phase = plan
            if source is None:
                source, phase = op_source, op_phase
            else:
                source, phase = source[op_source], op_phase * phase[op_source]
            permuted |= set(op.qubits)
        else:
            flush(op.qubits)
            flush_permutation()
            state = _apply_operation(state, op, values, n, dtype)
        touched.update(op.qubits)
    flush_permutation()
    flush(sorted(pending))
    return state


def probabilities(state: tf.Tensor) -> tf.Tensor:
    """``|ψ|²`` without ``abs`` (whose gradient is undefined at zero amplitudes)."""
    return tf.math.square(tf.math.real(state)) + tf.math.square(tf.math.imag(state))


@functools.lru_cache(maxsize=64)
def _expectation_plan(
    observables: tuple[Observable, ...], n_qubits: int
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """Diagonal readout matrix ``(2**n, n_obs)``, off-diagonal Pauli gathers with their weights, constants."""
    bits = _bits(n_qubits)
    diagonal = np.zeros((2**n_qubits, len(observables)))
    constant = np.zeros(len(observables))
    terms: dict[tuple[tuple[int, str], ...], int] = {}
    plans: list[tuple[np.ndarray, np.ndarray]] = []
    weights: list[np.ndarray] = []
    for j, obs in enumerate(observables):
        for term in obs.terms:
            if not term.paulis:
                constant[j] += term.coeff
            elif term.is_diagonal:
                diagonal[:, j] += term.coeff * (1 - 2 * (bits[:, list(term.qubits)].sum(axis=1) % 2))
            else:
                if term.paulis not in terms:
                    terms[term.paulis] = len(plans)
                    plans.append(_pauli_plan(term.paulis, bits, n_qubits))
                    weights.append(np.zeros(len(observables)))
                weights[terms[term.paulis]][j] += term.coeff
    off = np.stack(weights) if weights else np.zeros((0, len(observables)))
    return diagonal, plans, off, constant


def _pauli_plan(
    paulis: tuple[tuple[int, str], ...], bits: np.ndarray, n_qubits: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(Pψ)[y] = phase[y] · ψ[source[y]]`` for a Pauli string with X or Y factors."""
    mask = sum(1 << (n_qubits - 1 - q) for q, p in paulis if p != "Z")
    source = np.arange(2**n_qubits) ^ mask
    phase = np.ones(2**n_qubits, dtype=complex)
    for q, p in paulis:
        bit = bits[source, q]
        if p == "Y":
            phase *= np.where(bit == 0, 1j, -1j)
        elif p == "Z":
            phase *= np.where(bit == 0, 1, -1)
    return source.astype(np.int32), phase


def expectations(state: tf.Tensor, observables: Sequence[Observable], n_qubits: int) -> tf.Tensor:
    """Exact ``(B, n_obs)`` expectations; diagonal terms by one matmul with the probabilities.

    Sums over the ``2**n`` amplitudes run in float64 for complex64 states too: a float32 reduction
    drifts by about ``2**n`` ulps, far more than the single-precision amplitudes' own error.
    """
    diagonal, plans, off, constant = _expectation_plan(tuple(observables), n_qubits)
    probs = tf.cast(probabilities(state), tf.float64)
    out = tf.matmul(probs, tf.constant(diagonal, dtype=tf.float64)) + tf.constant(constant, tf.float64)
    if plans:
        conj = tf.cast(tf.math.conj(state), tf.complex128)
        rows = [
            tf.math.real(
                tf.reduce_sum(
                    conj * tf.cast(tf.gather(state, source, axis=1), tf.complex128) * tf.constant(phase), 1
                )
            )
            for source, phase in plans
        ]
        out = out + tf.matmul(tf.stack(rows, axis=1), tf.constant(off, dtype=tf.float64))
    return tf.cast(out, real_dtype(state.dtype))
