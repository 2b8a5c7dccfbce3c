"""Batched NumPy statevector kernels shared by the reference engine and its adjoint gradients.

A batch of states has shape ``(B, 2, …, 2)``: axis ``1 + q`` is qubit ``q``, so flattening gives
the index ``Σ_q bit_q · 2**(n-1-q)`` — qubit 0 is the most significant bit (as in Cirq and
PennyLane; Qiskit and IonQ use the opposite order and their plugins convert).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing

from qstore.core.bindings import Batch
from qstore.core.circuit import Operation, StatePreparation
from qstore.core.errors import BindingError, ResourceError
from qstore.core.memory import available_memory
from qstore.core.observables import Observable, PauliString
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
    gate_matrices,
    target_index,
)
from qstore.core.plan_readout import (
    TABLE_MAX_QUBITS,
    ReadoutGroup,
    basis_rotations,
    compile_readout,
    measurement_settings,
)

__all__ = [
    "Matrices",
    "apply_block",
    "apply_diagonal",
    "apply_matrix",
    "apply_operation",
    "apply_pauli",
    "apply_phase_tables",
    "apply_step",
    "check_memory",
    "expectations",
    "matrix_grad",
    "op_matrix",
    "plan_matrices",
    "probabilities",
    "sample",
    "setting_expectations",
    "shot_expectations",
    "simulate",
    "zero_state",
]

_WORKING_COPIES = 4


def check_memory(n_qubits: int, batch_size: int, dtype: np.typing.DTypeLike) -> None:
    """Refuse a workload whose states would not fit in memory, saying how much it needs."""
    itemsize = np.dtype(dtype).itemsize
    need = _WORKING_COPIES * batch_size * itemsize * 2**n_qubits
    have = available_memory()
    if need > have:
        raise ResourceError(
            f"simulating {batch_size} state(s) of {n_qubits} qubits as {np.dtype(dtype).name} needs about "
            f"{need / 2**30:.2f} GiB but only {have / 2**30:.2f} GiB is available; use a smaller batch, "
            f"fewer qubits, or complex64"
        )


def zero_state(n_qubits: int, batch_size: int, dtype: np.typing.DTypeLike = np.complex128) -> np.ndarray:
    """``|0…0>`` for every element of the batch."""
    state = np.zeros((batch_size,) + (2,) * n_qubits, dtype=dtype)
    state.reshape(batch_size, -1)[:, 0] = 1
    return state


def apply_matrix(state: np.ndarray, matrix: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """Apply a ``(d, d)`` or batched ``(B, d, d)`` matrix to ``targets`` (first target most significant).

    One-qubit gates use a batched matmul on a ``(B, 2**t, 2, rest)`` view, or strided slices when the
    target is among the last qubits; two-qubit gates are sums of strided slices (zero entries of
    constant matrices skipped); larger gates fall back to a transpose and a batched matmul.
    """
    k = len(targets)
    matrix = matrix.astype(state.dtype, copy=False)
    if k == 1:
        b, t, n = state.shape[0], targets[0], state.ndim - 1
        right = 2 ** (n - t - 1)
        if right < _MATMUL_MIN_RIGHT:
            return _apply_sliced(state, matrix, targets)
        view = np.ascontiguousarray(state).reshape(b, 2**t, 2, right)
        m = matrix[:, None] if matrix.ndim == 3 else matrix
        return np.matmul(m, view).reshape(state.shape)
    if k == 2:
        if targets[0] > targets[1]:
            matrix = matrix[..., _SWAP_ORDER, :][..., :, _SWAP_ORDER]
        return _apply_sliced(state, matrix, sorted(targets))
    axes = [1 + t for t in targets]
    front = list(range(1, k + 1))
    moved = np.moveaxis(state, axes, front)
    shape = moved.shape
    flat = moved.reshape(shape[0], 2**k, -1)
    out = np.matmul(matrix, flat).reshape(shape)
    return np.moveaxis(out, front, axes)


_SWAP_ORDER = [0, 2, 1, 3]
_MATMUL_MIN_RIGHT = 8


def _apply_sliced(state: np.ndarray, matrix: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """``out[i] = Σ_j m[i, j] · state[j]`` over the target index, on a strided view of the state."""
    b, n = state.shape[0], state.ndim - 1
    shape = [b]
    previous = -1
    for t in targets:
        shape += [2 ** (t - previous - 1), 2]
        previous = t
    shape.append(2 ** (n - previous - 1))
    view = np.ascontiguousarray(state).reshape(shape)
    out = np.empty_like(view)
    dim = 2 ** len(targets)
    batched = matrix.ndim == 3
    index = [tuple(int(v) for v in np.unravel_index(i, (2,) * len(targets))) for i in range(dim)]

    def at(bits: tuple[int, ...]) -> tuple[Any, ...]:
        sel: list[Any] = [slice(None)]
        for bit in bits:
            sel += [slice(None), int(bit)]
        return (*sel, slice(None))

    bshape = (b,) + (1,) * (len(shape) - 1 - len(targets))
    for i in range(dim):
        acc = None
        for j in range(dim):
            if batched:
                coeff = matrix[:, i, j].reshape(bshape)
            else:
                coeff = matrix[i, j]
                if coeff == 0:
                    continue
            term = view[at(index[j])] if (not batched and coeff == 1) else coeff * view[at(index[j])]
            acc = term if acc is None else acc + term
        out[at(index[i])] = 0 if acc is None else acc
    return out.reshape(state.shape)


def prepare(state: np.ndarray, amplitudes: np.ndarray, qubits: Sequence[int]) -> np.ndarray:
    """Load ``amplitudes`` ``(B, 2**k)`` into ``qubits``, which must still be in ``|0…0>``."""
    k = len(qubits)
    axes = [1 + q for q in qubits]
    moved = np.moveaxis(state, axes, list(range(1, k + 1)))
    rest = moved.reshape(moved.shape[0], 2**k, -1)
    leftover = np.linalg.norm(rest[:, 1:, :].reshape(rest.shape[0], -1), axis=1)
    if np.any(leftover > 1e-9):
        raise BindingError(f"state preparation on qubits {tuple(qubits)} requires them to be in |0>")
    out = amplitudes.astype(state.dtype)[:, :, None] * rest[:, :1, :]
    return np.moveaxis(out.reshape(moved.shape), list(range(1, k + 1)), axes)


class Matrices:
    """A batch's step matrices: `Fused` blocks ``(B, d, d)`` (``(d, d)`` when not trainable), `Dense`
    matrices and `Diagonal` phases (``plan.others`` order), and per `Phase` step its terms' small
    ``(B, 2**k)`` tables of ``e^{iφ_t}``. The forward pass applies the tables term by term in place;
    ``phases``, the full ``(B, 2**n)`` factors adjoint sweeps use, is built on first use."""

    def __init__(
        self, plan: Plan, blocks: list[np.ndarray], others: list[np.ndarray], tables: list[list[np.ndarray]]
    ) -> None:
        self.plan = plan
        self.blocks = blocks
        self.others = others
        self.tables = tables

    @cached_property
    def phases(self) -> list[np.ndarray]:
        """``(B, 2**n)`` factor ``e^{iφ}`` of every `Phase` step (its terms' tables spread and multiplied)."""
        out = []
        for step, tables in zip(self.plan.phases, self.tables, strict=True):
            factor = np.ones((tables[0].shape[0], 2**self.plan.n_qubits), dtype=tables[0].dtype)
            out.append(apply_phase_tables(step, tables, factor)[0])
        return out


def apply_phase_tables(
    step: Phase, tables: list[np.ndarray], state: np.ndarray, spare: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``state · e^{iφ}`` of a `Phase` step without its permutation, term by term: each ``(B, 2**k)``
    table is spread over the register by one row gather (into ``spare`` when given) and multiplied
    into the state in place. ``state`` must be this caller's own; a one-row state broadcasts to the
    batch in the first gather's memory. Returns the new state and a free buffer of its shape (or None).
    """
    n = state.shape[1].bit_length() - 1
    for term, table in zip(step.terms, tables, strict=True):
        fits = spare is not None and spare.shape == (table.shape[0], state.shape[1])
        spread = np.take(table, target_index(n, term.qubits), axis=1, out=spare if fits else None)
        if spread.shape == state.shape:
            state, spare = np.multiply(state, spread, out=state), spread
        else:
            state, spare = np.multiply(spread, state, out=spread), None
    return state, spare


def apply_diagonal(state: np.ndarray, diagonal: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """Multiply by a diagonal gate given as ``(d,)`` or ``(B, d)`` phases."""
    k = len(targets)
    n = state.ndim - 1
    diag = diagonal.reshape((-1,) + (2,) * k)
    order = np.argsort(targets)
    diag = np.transpose(diag, [0, *(1 + int(i) for i in order)])
    shape = [diag.shape[0]] + [1] * n
    for t in sorted(targets):
        shape[1 + t] = 2
    return state * diag.reshape(shape).astype(state.dtype, copy=False)


def op_matrix(op: Operation, batch: Batch) -> np.ndarray:
    """The operation's matrix: ``(d, d)`` when its angles are constant, else ``(B, d, d)``."""
    spec = op.spec
    if all(p.is_constant for p in op.params):
        return spec.matrix(*(p.const for p in op.params))
    return spec.matrix(*batch.angles(op))


def apply_operation(state: np.ndarray, op: Operation | StatePreparation, batch: Batch) -> np.ndarray:
    """Apply one operation (gate or state preparation) of a bound batch."""
    if isinstance(op, StatePreparation):
        return prepare(state, batch.vectors[op.input], op.qubits)
    m = op_matrix(op, batch)
    if op.spec.diagonal:
        return apply_diagonal(state, np.diagonal(m, axis1=-2, axis2=-1), op.qubits)
    return apply_matrix(state, m, op.qubits)


def simulate(batch: Batch, dtype: np.typing.DTypeLike = np.complex128) -> np.ndarray:
    """Final states ``(B, 2, …, 2)`` of a bound batch, executing its `qstore.core.plan.Plan`.

    The state stays one shared row until the first step whose matrices differ across the batch
    (a feature map's constant Hadamard layer runs once, not ``B`` times).
    """
    n = batch.circuit.n_qubits
    check_memory(n, batch.size, dtype)
    plan = compile_plan(batch.circuit)
    m = plan_matrices(plan, batch, dtype)
    state = zero_state(n, 1, dtype).reshape(1, -1)
    spare: np.ndarray | None = None  # a dead full-size state whose memory the next block reuses
    for step in plan.steps:
        if isinstance(step, Dense | Prepare) and state.shape[0] != batch.size:
            state = np.repeat(state, batch.size, axis=0)
        previous = state
        if isinstance(step, Prepare):
            shaped = state.reshape((batch.size,) + (2,) * n)
            state = prepare(shaped, batch.vectors[step.input], step.qubits).reshape(batch.size, -1)
        elif isinstance(step, Phase) and step.perm is None:
            state, spare = apply_phase_tables(step, m.tables[step.index], state, spare)
            continue
        elif isinstance(step, Fused) and spare is not None and state.shape[0] == batch.size:
            state = apply_block(state, m.blocks[step.index], step.qubit, step.width, out=spare)
        else:
            state = apply_step(step, state, m)
        reusable = previous.shape == state.shape and previous.flags.c_contiguous
        spare = previous if reusable and not np.may_share_memory(previous, state) else None
    if state.shape[0] != batch.size:
        state = np.repeat(state, batch.size, axis=0)
    return state.reshape((batch.size,) + (2,) * n)


def apply_step(
    step: Fused | Dense | Diagonal | Phase | Permutation | Monomials,
    state: np.ndarray,
    m: Matrices,
    inverse: bool = False,
) -> np.ndarray:
    """Apply one gate step to a flat ``(B, 2**n)`` batch (or undo it, with ``inverse``)."""
    b = state.shape[0]
    n = state.shape[1].bit_length() - 1
    if isinstance(step, Fused):
        block = m.blocks[step.index]
        return apply_block(state, _dagger(block) if inverse else block, step.qubit, step.width)
    if isinstance(step, Dense):
        matrix = m.others[step.index]
        shaped = state.reshape((b,) + (2,) * n)
        return apply_matrix(shaped, _dagger(matrix) if inverse else matrix, step.qubits).reshape(b, -1)
    if isinstance(step, Diagonal):
        phases = m.others[step.index][:, target_index(n, step.qubits)]
        return state * (phases.conj() if inverse else phases).astype(state.dtype, copy=False)
    if isinstance(step, Monomials):
        shaped = state.reshape((b,) + (2,) * n)
        for gate in reversed(step.gates) if inverse else step.gates:
            g = gate.inverse() if inverse else gate
            shaped = apply_matrix(shaped, g.matrix(), g.qubits)
        return shaped.reshape(b, -1)
    if isinstance(step, Phase):
        phases = m.phases[step.index].astype(state.dtype, copy=False)
        if inverse:
            out = state * phases.conj()
            return out if step.inverse_perm is None else out[:, step.inverse_perm]
        return (state if step.perm is None else state[:, step.perm]) * phases
    perm, phase = (step.inverse_perm, step.inverse_phase) if inverse else (step.perm, step.phase)
    out = state[:, perm]
    return out if phase is None else out * phase.astype(state.dtype, copy=False)


def matrix_grad(step: Fused | Dense | Diagonal | Phase, lam: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Cotangent ``2·λ·ψᴴ`` of the step's matrix for flat ``λ`` and the state ``ψ`` before the step:
    ``(B, d, d)`` for blocks and dense gates, ``(B, 2**k)`` for a diagonal, ``(B, 2**n)`` for a `Phase`."""
    b = lam.shape[0]
    if isinstance(step, Fused):
        d = 2**step.width
        lv, pv = lam.reshape(b, 2**step.qubit, d, -1), psi.reshape(b, 2**step.qubit, d, -1)
        return 2 * np.einsum("baic,bajc->bij", lv, pv.conj())
    if isinstance(step, Phase):
        return 2 * lam * (psi if step.perm is None else psi[:, step.perm]).conj()
    lm, pm = _moved(lam, step.qubits), _moved(psi, step.qubits)
    if isinstance(step, Dense):
        return 2 * lm @ np.swapaxes(pm.conj(), -1, -2)
    return 2 * np.einsum("bsr,bsr->bs", lm, pm.conj())


def _moved(state: np.ndarray, qubits: Sequence[int]) -> np.ndarray:
    """``(B, 2**k, rest)``: a flat batch with ``qubits`` moved to the front."""
    b, n = state.shape[0], state.shape[1].bit_length() - 1
    shaped = np.moveaxis(state.reshape((b,) + (2,) * n), [1 + q for q in qubits], range(1, len(qubits) + 1))
    return shaped.reshape(b, 2 ** len(qubits), -1)


def _dagger(matrix: np.ndarray) -> np.ndarray:
    return np.conj(np.swapaxes(matrix, -1, -2))


def plan_matrices(plan: Plan, batch: Batch, dtype: np.typing.DTypeLike = np.complex128) -> Matrices:
    """The batch's step matrices for every step of ``plan``: gate matrices in complex128, `Phase`
    tables in ``dtype`` (phase sums in float64, reduced to ``[-π, π]`` before a single-precision
    ``cos``/``sin``)."""
    symbols = plan.symbols
    values = np.zeros((batch.size, len(symbols)))
    for j, name in enumerate(symbols):
        values[:, j] = batch.values[name]
    angles = plan.angles(values)
    blocks: list[np.ndarray] = []
    if len(plan.chains):
        varying = any(s.trainable for s in plan.steps if isinstance(s, Fused))
        rows = angles if varying else angles[:1]
        size = rows.shape[0]
        parts = [gate_matrices(name, rows[:, cols]) for name, cols in plan.one_qubit]
        eye = np.broadcast_to(np.eye(2, dtype=complex), (size, 1, 2, 2))
        table = np.concatenate([p.reshape(size, -1, 2, 2) for p in parts] + [eye], axis=1)
        fused = table[:, plan.chains[:, 0]]
        for level in range(1, plan.chains.shape[1]):
            fused = table[:, plan.chains[:, level]] @ fused
        for step in plan.steps:
            if isinstance(step, Fused):
                block = fused[:, step.chains[0]]
                for chain in step.chains[1:]:
                    d = block.shape[-1] * 2
                    kron = block[:, :, None, :, None] * fused[:, chain][:, None, :, None, :]
                    block = kron.reshape(size, d, d)
                blocks.append(block if step.trainable else block[0])
    others = []
    for name, cols, diagonal in plan.others:
        m = gate_matrices(name, angles[:, cols])
        others.append(np.diagonal(m, axis1=-2, axis2=-1) if diagonal else m)
    tables = [
        [_unit(angles[:, t.cols] @ t.weights + t.const, np.dtype(dtype)) for t in step.terms]
        for step in plan.phases
    ]
    return Matrices(plan, blocks, others, tables)


def _unit(phi: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``e^{iφ}`` in complex ``dtype``: ``cos`` and ``sin`` in its real precision on contiguous arrays
    (after reducing ``φ`` to ``[-π, π]`` in float64 for single precision), interleaved once."""
    real = np.finfo(dtype).dtype
    if real != phi.dtype:
        phi = (phi - (2 * np.pi) * np.rint(phi * (0.5 / np.pi))).astype(real)
    return np.stack([np.cos(phi), np.sin(phi)], axis=-1).view(dtype)[..., 0]


def apply_block(
    state: np.ndarray, matrix: np.ndarray, qubit: int, width: int, out: np.ndarray | None = None
) -> np.ndarray:
    """A ``(d, d)`` or ``(B, d, d)`` block on adjacent qubits ``qubit …`` of a flat ``(B, 2**n)`` batch.

    On the ``(B, 2**q, d, rest)`` view: one broadcast matmul without moving the state, or for the
    last qubits a matmul of the ``(B, 2**q, d)`` rows by the transpose (one GEMM for a shared block).
    A one-row state broadcasts against a batched block. ``out`` (shaped like the result, not
    overlapping ``state``) receives the result instead of a new array.
    """
    b = state.shape[0]
    d = 2**width
    view = state.reshape(b, 2**qubit, d, -1)
    matrix = matrix.astype(state.dtype, copy=False)
    if view.shape[-1] == 1:
        rows = view.reshape(-1, d) if matrix.ndim == 2 else view.reshape(b, -1, d)
        target = None if out is None else out.reshape(rows.shape)
        result = np.matmul(rows, np.swapaxes(matrix, -1, -2), out=target)
    else:
        m = matrix if matrix.ndim == 2 else matrix[:, None]
        result = np.matmul(m, view, out=None if out is None else out.reshape(view.shape))
    return result.reshape(-1, state.shape[1])


def apply_pauli(state: np.ndarray, term: PauliString) -> np.ndarray:
    """``P|ψ>`` for the Pauli string (coefficient not applied)."""
    out = state
    n = state.ndim - 1
    for q, p in term.paulis:
        shape = [1] * (n + 1)
        shape[1 + q] = 2
        if p == "Z":
            out = out * np.array([1, -1], dtype=state.dtype).reshape(shape)
        else:
            out = np.flip(out, axis=1 + q)
            if p == "Y":
                out = out * np.array([-1j, 1j], dtype=state.dtype).reshape(shape)
    return out


def apply_observable(state: np.ndarray, observable: Observable) -> np.ndarray:
    """``O|ψ>`` for a weighted sum of Pauli strings."""
    out = np.zeros_like(state)
    for term in observable.terms:
        out += term.coeff * apply_pauli(state, term)
    return out


def expectations(state: np.ndarray, observables: Sequence[Observable]) -> np.ndarray:
    """Exact ``(B, n_obs)`` expectation values by the core readout plan's mask groups.

    Sums run in float64 for complex64 states too (a float32 sum over ``2**n`` terms drifts by about
    ``2**n`` ulps). Above `TABLE_MAX_QUBITS` no ``2**n``-row table is built: each group's overlap
    ``conj(ψ)·ψ[i ⊕ mask]`` comes from a reversed view, each term from a marginal of it.
    """
    b, n = state.shape[0], state.ndim - 1
    readout = compile_readout(tuple(observables), n)
    flat = state.reshape(b, -1).astype(np.complex128, copy=False)
    columns = []
    for group in readout.groups:
        if n <= TABLE_MAX_QUBITS:
            overlap = flat.real**2 + flat.imag**2 if group.mask == 0 else flat.conj() * flat[:, group.partner]
            columns.append((overlap @ group.phases).real)
        else:
            columns.append(_group_from_marginals(group, flat.reshape((b,) + (2,) * n)))
    values = np.concatenate(columns, axis=1)[:, readout.order] if columns else np.zeros((b, 0))
    return values @ readout.coeffs


def _group_from_marginals(group: ReadoutGroup, view: np.ndarray) -> np.ndarray:
    """``(B, n_terms)`` values of one mask group on a ``(B, 2, …, 2)`` state, in one state's memory."""
    if group.mask == 0:
        overlap = view.real**2 + view.imag**2
    else:
        overlap = view.conj() * np.flip(view, axis=[1 + q for q in group.mask_qubits])
    n = view.ndim - 1
    out = np.empty((view.shape[0], len(group.factors)))
    for t, (qubits, factors) in enumerate(group.factors):
        marginal = overlap.sum(axis=tuple(1 + q for q in range(n) if q not in qubits))
        for f in reversed(factors):  # each product contracts the last remaining qubit axis
            marginal = marginal @ f
        out[:, t] = marginal.real
    return out


def probabilities(state: np.ndarray) -> np.ndarray:
    """``(B, 2**n)`` measurement probabilities."""
    return (np.abs(state) ** 2).reshape(state.shape[0], -1)


def sample(probs: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, shots)`` basis-state indices drawn from each row of ``probs`` (vectorised inverse CDF)."""
    b, dim = probs.shape
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    offsets = np.arange(b)[:, None]
    flat_cdf = (cdf + offsets).ravel()
    draws = (rng.random((b, shots)) + offsets).ravel()
    idx = np.searchsorted(flat_cdf, draws, side="right").reshape(b, shots)
    return np.minimum(idx - offsets * dim, dim - 1)


def shot_expectations(
    state: np.ndarray, observables: Sequence[Observable], shots: int, rng: np.random.Generator
) -> np.ndarray:
    """Expectation estimates from ``shots`` measurements per basis setting."""

    def rotated_probabilities(setting: Any) -> np.ndarray:
        rotated = state
        for q, rotation in basis_rotations(setting):
            rotated = apply_matrix(rotated, rotation, (q,))
        return probabilities(rotated)

    return setting_expectations(
        rotated_probabilities, observables, state.ndim - 1, state.shape[0], shots, rng
    )


def setting_expectations(
    rotated_probabilities: Callable[[Any], np.ndarray],
    observables: Sequence[Observable],
    n_qubits: int,
    batch_size: int,
    shots: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Shot estimates of ``observables`` given the ``(B, 2**n)`` probabilities after each basis setting's
    rotations (``rotated_probabilities(setting)``), so state and density engines share the sampling."""
    n = n_qubits
    unique = list(dict.fromkeys(t for obs in observables for t in obs.terms if t.paulis))
    estimates: dict[PauliString, np.ndarray] = {}
    for setting, members in measurement_settings([t.paulis for t in unique]):
        draws = sample(rotated_probabilities(setting), shots, rng)
        for term in (unique[t] for t in members):
            parity = np.zeros_like(draws)
            for q in term.qubits:
                parity ^= (draws >> (n - 1 - q)) & 1
            estimates[term] = (1 - 2 * parity).mean(axis=1)
    out = np.zeros((batch_size, len(observables)))
    for j, obs in enumerate(observables):
        for term in obs.terms:
            value = estimates[term] if term.paulis else np.ones(batch_size)
            out[:, j] += term.coeff * value
    return out
