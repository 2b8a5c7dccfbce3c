"""The TensorFlow statevector engine: TensorFlow kernels for the steps of a core `qstore.core.plan.Plan`.

A batch of states is a ``(B, 2**n)`` complex tensor; qubit 0 is the most significant bit of the
index, as in `qstore.core.statevector`. The plan decides what fuses (one place for every engine);
this module only applies each kind of step with TensorFlow ops, so it runs eagerly and inside
`tf.function` and is differentiable by autodiff in the symbol values and state-preparation inputs.
Readouts follow the core `qstore.core.plan_readout.Readout` with float64 sums.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from qstore.core.circuit import Circuit
from qstore.core.observables import Observable
from qstore.core.plan import (
    Dense,
    Diagonal,
    Fused,
    Monomials,
    Permutation,
    Phase,
    Plan,
    Prepare,
    compile_plan,
    target_index,
)
from qstore.core.plan_readout import TABLE_MAX_QUBITS, Readout, ReadoutGroup, compile_readout
from qstore.tf.gates import gate_matrix, real_dtype

__all__ = [
    "Matrices",
    "apply_block",
    "expectations",
    "matrices",
    "probabilities",
    "readout_expectations",
    "simulate",
    "simulate_plan",
    "stack_values",
    "zero_state",
]

_MATMUL_MIN_REST = 8


class Matrices(NamedTuple):
    """The batch's step matrices: one per `Fused` block (``(d, d)`` when not trainable), one per
    `Dense` / `Diagonal` step, and the
    ``(B, 2**n)`` phase factor of each `Phase` step."""

    blocks: tuple[tf.Tensor, ...]
    others: tuple[tf.Tensor, ...]
    phases: tuple[tf.Tensor, ...]


def zero_state(n_qubits: int, batch_size: int | tf.Tensor, dtype: tf.DType = tf.complex64) -> tf.Tensor:
    """``|0…0>`` for every element of the batch, shape ``(B, 2**n)``."""
    zeros = tf.zeros(tf.reshape(batch_size, [1]), dtype=tf.int32)
    return tf.cast(tf.one_hot(zeros, 2**n_qubits, dtype=real_dtype(dtype)), dtype)


def stack_values(
    plan: Plan, values: Mapping[str, tf.Tensor], batch_size: int | tf.Tensor, dtype: tf.DType
) -> tf.Tensor:
    """``(B, S)`` real symbol values in plan order; scalars (shared weights) are broadcast."""
    rdtype = real_dtype(dtype)
    shape = tf.reshape(batch_size, [1])
    columns = [tf.broadcast_to(tf.reshape(tf.cast(values[s], rdtype), [-1]), shape) for s in plan.symbols]
    if not columns:
        return tf.zeros(tf.concat([shape, [0]], axis=0), rdtype)
    return tf.stack(columns, axis=1)


def matrices(plan: Plan, values: tf.Tensor, dtype: tf.DType) -> Matrices:
    """Every step matrix for the batch, differentiable in ``values`` ``(B, S)``."""
    b = tf.shape(values)[0]
    rdtype = real_dtype(dtype)
    const = tf.constant(plan.angle_const, rdtype)
    if plan.symbols:
        angles = tf.matmul(values, tf.constant(plan.angle_map, rdtype)) + const
    else:
        angles = tf.broadcast_to(const, [b, plan.angle_const.size])
    blocks: list[tf.Tensor] = []
    if len(plan.chains):
        parts = [_gate_rows(name, angles, cols, dtype, b) for name, cols in plan.one_qubit]
        parts.append(tf.broadcast_to(tf.eye(2, dtype=dtype), [b, 1, 2, 2]))
        table = tf.concat(parts, axis=1)
        fused = tf.gather(table, plan.chains[:, 0], axis=1)
        for level in range(1, plan.chains.shape[1]):
            fused = tf.matmul(tf.gather(table, plan.chains[:, level], axis=1), fused)
        for step in plan.steps:
            if isinstance(step, Fused):
                block = fused[:, step.chains[0]]
                for chain in step.chains[1:]:
                    d = block.shape[-1] * 2
                    block = tf.reshape(tf.einsum("bij,bkl->bikjl", block, fused[:, chain]), [-1, d, d])
                blocks.append(block if step.trainable else block[0])
    others = []
    for name, cols, diagonal in plan.others:
        m = _gate_rows(name, angles, cols[None, :], dtype, b)[:, 0]
        others.append(tf.linalg.diag_part(m) if diagonal else m)
    phases = [_phase_factor(step, angles, rdtype, plan.n_qubits) for step in plan.phases]
    return Matrices(tuple(blocks), tuple(others), tuple(phases))


def _phase_factor(step: Phase, angles: tf.Tensor, rdtype: tf.DType, n: int) -> tf.Tensor:
    """``(B, 2**n)`` factor ``e^{iφ}`` of a `Phase` step: each term's small table spread by its bits.

    A small register spreads a table by a matmul with the term's 0/1 selection matrix (exact: one
    nonzero per column), which TensorFlow runs about twice as fast as a gather; a large one gathers.
    """
    factor = None
    for term in step.terms:
        phi = tf.matmul(tf.gather(angles, term.cols, axis=1), tf.constant(term.weights, rdtype))
        phi = phi + tf.constant(term.const, rdtype)
        table = tf.exp(tf.complex(tf.zeros_like(phi), phi))
        if 2 ** (len(term.qubits) + n) <= _SELECTION_MAX_ENTRIES:
            table = tf.matmul(table, tf.constant(_selection(n, term.qubits), table.dtype))
        else:
            table = tf.gather(table, target_index(n, term.qubits), axis=1)
        factor = table if factor is None else factor * table
    return factor


_SELECTION_MAX_ENTRIES = 2**14


@functools.lru_cache(maxsize=256)
def _selection(n_qubits: int, qubits: tuple[int, ...]) -> np.ndarray:
    """``(2**k, 2**n)`` 0/1 matrix taking a table over ``qubits`` to every basis index."""
    out = np.zeros((2 ** len(qubits), 2**n_qubits))
    out[target_index(n_qubits, qubits), np.arange(2**n_qubits)] = 1
    return out


def _gate_rows(name: str, angles: tf.Tensor, cols: np.ndarray, dtype: tf.DType, b: tf.Tensor) -> tf.Tensor:
    """``(B, m, d, d)`` matrices of gate ``name`` for the ``(m, p)`` angle columns ``cols``."""
    m = gate_matrix(name, [tf.gather(angles, cols[:, j], axis=1) for j in range(cols.shape[1])], dtype)
    d = m.shape[-1]
    return tf.broadcast_to(m, [b, cols.shape[0], d, d])


def simulate_plan(
    plan: Plan, values: tf.Tensor, vectors: Mapping[str, tf.Tensor], dtype: tf.DType
) -> tf.Tensor:
    """Final ``(B, 2**n)`` states for symbol ``values`` ``(B, S)`` and state-preparation ``vectors``.

    The state stays one shared row through the leading fixed blocks (a feature map's Hadamard layer
    runs once, not ``B`` times); a `Phase` factor broadcasts it to the batch, any other step first
    spreads it.
    """
    m = matrices(plan, values, dtype)
    n = plan.n_qubits
    b = tf.shape(values)[0]
    state = zero_state(n, 1, dtype)
    shared = True
    for step in plan.steps:
        if shared and not isinstance(step, Phase) and (step.trainable or not isinstance(step, Fused)):
            state, shared = tf.broadcast_to(state, [b, 2**n]), False
        shared = shared and not isinstance(step, Phase)
        if isinstance(step, Prepare):
            state = _prepare(state, vectors[step.input], step.qubits, n)
        elif isinstance(step, Fused):
            state = apply_block(state, m.blocks[step.index], step.qubit, step.width, n)
        elif isinstance(step, Dense):
            state = _apply_dense(state, m.others[step.index], step.qubits, n)
        elif isinstance(step, Diagonal):
            state = state * tf.gather(m.others[step.index], target_index(n, step.qubits), axis=1)
        elif isinstance(step, Monomials):
            for gate in step.gates:
                state = _apply_dense(state, tf.constant(gate.matrix(), state.dtype), gate.qubits, n)
        elif isinstance(step, Phase):
            moved = state if step.perm is None else tf.gather(state, step.perm, axis=1)
            state = moved * m.phases[step.index]
        else:
            state = _permute(state, step)
    return tf.broadcast_to(state, [b, 2**n]) if shared else state


def simulate(
    circuit: Circuit,
    values: Mapping[str, tf.Tensor],
    vectors: Mapping[str, tf.Tensor] | None = None,
    batch_size: int | tf.Tensor = 1,
    dtype: tf.DType = tf.complex64,
) -> tf.Tensor:
    """Final states ``(B, 2**n)`` of ``circuit`` by its compiled plan.

    ``values`` maps each symbol to a real tensor of shape ``()`` or ``(B,)``; ``vectors`` maps each
    state-preparation input to ``(B, 2**k)`` normalised amplitudes.
    """
    plan = compile_plan(circuit)
    return simulate_plan(plan, stack_values(plan, values, batch_size, dtype), vectors or {}, dtype)


def apply_block(state: tf.Tensor, matrix: tf.Tensor, qubit: int, width: int, n_qubits: int) -> tf.Tensor:
    """A ``(d, d)`` or ``(B, d, d)`` block on adjacent qubits ``qubit …`` of a flat ``(B, 2**n)`` batch.

    On the ``(B, 2**q, d, rest)`` view: long rows use one broadcast matmul, the last qubits a matmul
    of the ``(B, 2**q, d)`` rows by the transpose, the middle ground an einsum.
    """
    d = 2**width
    rest = 2 ** (n_qubits - qubit - width)
    shared = matrix.shape.rank == 2
    if rest == 1:
        rows = tf.reshape(state, [-1, d] if shared else [tf.shape(state)[0], -1, d])
        return tf.reshape(tf.matmul(rows, matrix, transpose_b=True), [-1, 2**n_qubits])
    view = tf.reshape(state, [-1, 2**qubit, d, rest])
    if rest >= _MATMUL_MIN_REST:
        out = tf.matmul(matrix if shared else matrix[:, None], view)
    else:
        out = tf.einsum("ij,bajc->baic" if shared else "bij,bajc->baic", matrix, view)
    return tf.reshape(out, [-1, 2**n_qubits])


def _moved_axes(qubits: Sequence[int], n_qubits: int) -> list[int]:
    others = [q for q in range(n_qubits) if q not in qubits]
    return [0, *(1 + q for q in qubits), *(1 + q for q in others)]


def _apply_dense(state: tf.Tensor, matrix: tf.Tensor, qubits: Sequence[int], n_qubits: int) -> tf.Tensor:
    """A ``(B, d, d)`` matrix on ``qubits`` (first most significant): move them first, one matmul."""
    k = len(qubits)
    perm = _moved_axes(qubits, n_qubits)
    moved = tf.transpose(tf.reshape(state, [-1] + [2] * n_qubits), perm)
    out = tf.matmul(matrix, tf.reshape(moved, [-1, 2**k, 2 ** (n_qubits - k)]))
    out = tf.transpose(tf.reshape(out, [-1] + [2] * n_qubits), np.argsort(perm))
    return tf.reshape(out, [-1, 2**n_qubits])


def _permute(state: tf.Tensor, step: Permutation) -> tf.Tensor:
    """``new[i] = phase[i] · old[perm[i]]``."""
    out = tf.gather(state, step.perm, axis=1)
    return out if step.phase is None else out * tf.constant(step.phase, dtype=state.dtype)


def _prepare(state: tf.Tensor, amplitudes: tf.Tensor, qubits: Sequence[int], n_qubits: int) -> tf.Tensor:
    """Load ``(B, 2**k)`` amplitudes into ``qubits``, which no earlier gate has touched."""
    k = len(qubits)
    amplitudes = tf.cast(amplitudes, state.dtype)
    if tuple(qubits) == tuple(range(n_qubits)):
        return amplitudes * state[:, :1]
    perm = _moved_axes(qubits, n_qubits)
    moved = tf.transpose(tf.reshape(state, [-1] + [2] * n_qubits), perm)
    rest = tf.reshape(moved, [-1, 2**k, 2 ** (n_qubits - k)])[:, :1, :]
    out = tf.reshape(amplitudes[:, :, None] * rest, [-1] + [2] * n_qubits)
    return tf.reshape(tf.transpose(out, np.argsort(perm)), [-1, 2**n_qubits])


def probabilities(state: tf.Tensor) -> tf.Tensor:
    """``|ψ|²`` without ``abs`` (whose gradient is undefined at zero amplitudes)."""
    return tf.math.square(tf.math.real(state)) + tf.math.square(tf.math.imag(state))


def readout_expectations(readout: Readout, state: tf.Tensor) -> tf.Tensor:
    """``(B, n_observables)`` expectations of a ``(B, 2**n)`` batch, in the state's real dtype.

    The all-Z group is one product ``|ψ|² @ signs``, each other X/Y mask one gather and one
    product; above `TABLE_MAX_QUBITS` each term is a marginal of the group's overlap instead (no
    ``2**n``-row table). Sums over the ``2**n`` amplitudes run in float64 whatever the precision.
    """
    columns = []
    for group in readout.groups:
        if readout.n_qubits > TABLE_MAX_QUBITS:
            columns.append(_group_from_marginals(group, state))
        elif group.mask == 0:
            probs = tf.cast(probabilities(state), tf.float64)
            columns.append(tf.matmul(probs, tf.constant(group.phases, tf.float64)))
        else:
            overlap = tf.cast(tf.math.conj(state) * tf.gather(state, group.partner, axis=1), tf.complex128)
            columns.append(tf.math.real(tf.matmul(overlap, tf.constant(group.phases, tf.complex128))))
    terms = tf.gather(tf.concat(columns, axis=1), readout.order, axis=1)
    values = tf.matmul(terms, tf.constant(readout.coeffs, tf.float64))
    return tf.cast(values, real_dtype(state.dtype))


def _group_from_marginals(group: ReadoutGroup, state: tf.Tensor) -> tf.Tensor:
    """``(B, n_terms)`` values of one mask group: its overlap ``conj(ψ)·ψ[i ⊕ mask]`` (one reversal per
    flipped qubit), then per term one contraction per qubit with its factors, highest qubit first.

    Every view has rank 4, ``(B, 2**q, 2, rest)``: TensorFlow's reversals and broadcasts stop at a
    few dimensions, so a ``(B, 2, …, 2)`` view would not do for wide registers."""
    n = group.n_qubits
    state = tf.cast(state, tf.complex128)
    if group.mask == 0:
        overlap = tf.cast(probabilities(state), tf.complex128)
    else:
        flipped = state
        for q in group.mask_qubits:
            flipped = tf.reshape(tf.reverse(_split(flipped, q, n), axis=[2]), tf.shape(state))
        overlap = tf.math.conj(state) * flipped
    columns = []
    for qubits, factors in group.factors:
        term, width = overlap, n
        for q, f in zip(qubits[::-1], factors[::-1], strict=True):
            contracted = tf.tensordot(_split(term, q, width), tf.constant(f, tf.complex128), axes=[[2], [0]])
            term, width = tf.reshape(contracted, [tf.shape(term)[0], -1]), width - 1
        columns.append(tf.math.real(tf.reduce_sum(term, axis=1)))
    return tf.stack(columns, axis=1)


def _split(flat: tf.Tensor, q: int, n: int) -> tf.Tensor:
    """``(B, 2**q, 2, 2**(n-q-1))`` view of a flat ``(B, 2**n)`` batch around qubit ``q``."""
    return tf.reshape(flat, [tf.shape(flat)[0], 2**q, 2, 2 ** (n - q - 1)])


def expectations(state: tf.Tensor, observables: Sequence[Observable], n_qubits: int) -> tf.Tensor:
    """Exact ``(B, n_obs)`` expectations of ``observables`` (compiled once by the core readout plan)."""
    return readout_expectations(compile_readout(tuple(observables), n_qubits), state)
