"""A fast exact statevector path for feature maps: dense layers plus fused phase polynomials.

Feature maps such as ZZ/IQP are layers of one-qubit gates separated by long runs of gates that are
diagonal or *monomial* (a permutation with phases: CNOT, X, SWAP, CZ, P, RZ, …). Such a run maps
``|z>`` to ``e^{iφ(z)} |π(z)>``, and because every angle is linear in the symbols,
``φ(z) = c(z) + Σ_s value_s · W[s, z]``. The plan splits φ into terms that each depend on a few
bits (a ZZ pair term on two), so a run costs a handful of complex exponentials per sample on
small tables, broadcast products that build the ``2**n`` phase factor, and one gather if ``π``
is not the identity.

Everything is derived from the IR and the gate table: a diagonal gate qualifies when its table
matrix has the form ``diag(e^{i(b_k + m_k ν θ)})`` (checked numerically when the plan is built), a
constant gate when its matrix is monomial. Other gates run through the reference kernels of
`qstore.core.statevector`; a layer of constant one-qubit gates on every qubit becomes two BLAS
products with Kronecker factors. The result equals `NumpyBackend` (tested). Circuits wider than
``FAST_MAX_QUBITS`` or with state preparation are left to the backend (`supports`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from qstore.core import statevector as sv
from qstore.core.bindings import Batch
from qstore.core.circuit import Circuit, Operation, StatePreparation
from qstore.core.errors import CircuitError
from qstore.core.gates import GateSpec

__all__ = [
    "FAST_MAX_QUBITS",
    "DenseRun",
    "PhaseRun",
    "PhaseTerm",
    "SimulationPlan",
    "plan_for",
    "simulate_states",
    "supports",
]

FAST_MAX_QUBITS = 16
_KRON_MAX_QUBITS = 10
_MERGE_BITS = 4
_PROBE = 0.7310585786300049


@attrs.frozen(eq=False)
class PhaseTerm:
    """Phases ``const[j] + values @ weights[:, j]`` indexed by the bits ``support`` (qubit order)."""

    support: tuple[int, ...]
    symbols: tuple[str, ...]
    weights: np.ndarray
    const: np.ndarray
    factor_dims: tuple[int, ...]
    table_dims: tuple[int, ...]
    dims: tuple[int, ...]

    def phases(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """``(B or 1, 2**len(support))`` phase angles for the bound symbol values."""
        out = self.const[None, :]
        for row, name in zip(self.weights, self.symbols, strict=True):
            out = out + np.asarray(values[name], dtype=float)[:, None] * row[None, :]
        return out


@attrs.frozen(eq=False)
class PhaseRun:
    """``|z> -> e^{iφ(z)} |perm[z]>`` for a run of monomial gates; ``φ`` is a sum of `PhaseTerm`.

    Each term depends on a few bits only, so its phases need ``2**len(support)`` complex
    exponentials per sample; the full ``2**n`` factor is built from broadcast products, its width
    growing to the last bit any term depends on.
    """

    n_qubits: int
    terms: tuple[PhaseTerm, ...]
    perm: np.ndarray | None


@attrs.frozen(eq=False)
class DenseRun:
    """Operations applied by the reference kernels (one-qubit runs fused per qubit)."""

    ops: tuple[Operation, ...]


@attrs.frozen(eq=False)
class SimulationPlan:
    """A circuit compiled into alternating dense runs and phase runs."""

    circuit: Circuit
    steps: tuple[PhaseRun | DenseRun, ...]


@functools.lru_cache(maxsize=256)
def _diagonal_form(spec: GateSpec) -> tuple[np.ndarray, np.ndarray] | None:
    """``(b, m ν)`` with diagonal ``e^{i(b + m ν θ)}``, or None when the gate has another form."""
    if not spec.diagonal or spec.n_params > 1:
        return None
    if spec.n_params == 0:
        d = np.diagonal(spec.matrix())
        if not np.allclose(np.abs(d), 1.0, atol=1e-12):
            return None
        return np.angle(d), np.zeros(d.shape)
    nu = spec.params[0].matrix_frequency
    d0 = np.diagonal(spec.matrix(0.0))
    quarter = np.diagonal(spec.matrix(math.pi / (2 * nu))) / d0
    b = np.angle(d0)
    m = np.round(np.angle(quarter) / (math.pi / 2))
    probe = np.diagonal(spec.matrix(_PROBE))
    if not np.allclose(probe, np.exp(1j * (b + m * nu * _PROBE)), atol=1e-12):
        return None
    return b, m * nu


@functools.lru_cache(maxsize=256)
def _monomial_form(spec: GateSpec) -> tuple[np.ndarray, np.ndarray] | None:
    """``(perm, phase)`` with ``M[perm[j], j] = e^{i phase[j]}`` for a constant monomial gate."""
    if spec.n_params != 0:
        return None
    m = spec.matrix()
    nonzero = np.abs(m) > 1e-12
    if not (nonzero.sum(axis=0) == 1).all() or not (nonzero.sum(axis=1) == 1).all():
        return None
    perm = np.argmax(nonzero, axis=0)
    entries = m[perm, np.arange(m.shape[1])]
    if not np.allclose(np.abs(entries), 1.0, atol=1e-12):
        return None
    return perm, np.angle(entries)


def _is_phase_op(op: Operation | StatePreparation) -> bool:
    if isinstance(op, StatePreparation):
        return False
    return _diagonal_form(op.spec) is not None or _monomial_form(op.spec) is not None


def _local_index(bits: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    k = len(targets)
    idx = np.zeros(bits.shape[1], dtype=np.int64)
    for pos, t in enumerate(targets):
        idx |= bits[t].astype(np.int64) << (k - 1 - pos)
    return idx


def _support(table: np.ndarray, n: int) -> tuple[int, ...]:
    t = table.reshape((2,) * n)
    return tuple(
        q for q in range(n) if not np.allclose(np.take(t, 0, axis=q), np.take(t, 1, axis=q), atol=1e-13)
    )


def _restrict(table: np.ndarray, n: int, support: tuple[int, ...]) -> np.ndarray:
    t = table.reshape((2,) * n)
    return t[tuple(slice(None) if q in support else 0 for q in range(n))].reshape(-1)


def _terms(n: int, const: np.ndarray, rows: Mapping[str, np.ndarray]) -> tuple[PhaseTerm, ...]:
    """Split ``φ(z)`` into terms by the bits they depend on, ordered by their last bit.

    Terms ending on the same bit are merged when together they depend on at most ``_MERGE_BITS``
    bits: their phases add on a small table, saving a full-width complex product each.
    """
    named = [("", const), *sorted(rows.items())]
    supports = [_support(row, n) for _, row in named]
    unions: dict[int, set[int]] = {}
    for support in supports:
        unions.setdefault(max(support, default=-1), set()).update(support)
    groups: dict[tuple[int, ...], tuple[list[str], list[np.ndarray], np.ndarray]] = {}
    for (name, row), own in zip(named, supports, strict=True):
        union = tuple(sorted(unions[max(own, default=-1)]))
        support = union if len(union) <= _MERGE_BITS else own
        names, weights, c = groups.setdefault(support, ([], [], np.zeros(2 ** len(support))))
        if name:
            names.append(name)
            weights.append(_restrict(row, n, support))
        else:
            c += _restrict(row, n, support)
    terms = []
    width = 0
    for support, (names, weights, c) in sorted(groups.items(), key=lambda g: max(g[0], default=-1)):
        top = max(support, default=-1)
        keys = [(q in support, q < width) for q in range(top + 1)]
        factor_dims: list[int] = []
        table_dims: list[int] = []
        dims: list[int] = []
        for q, key in enumerate(keys):
            if q and key == keys[q - 1]:
                factor_dims[-1] *= 2 if key[1] else 1
                table_dims[-1] *= 2 if key[0] else 1
                dims[-1] *= 2
            else:
                factor_dims.append(2 if key[1] else 1)
                table_dims.append(2 if key[0] else 1)
                dims.append(2)
        w = np.stack(weights) if weights else np.zeros((0, c.size))
        terms.append(
            PhaseTerm(support, tuple(names), w, c, tuple(factor_dims), tuple(table_dims), tuple(dims))
        )
        width = max(width, top + 1)
    return tuple(terms)


def _compile_phase_run(n: int, ops: Sequence[Operation]) -> PhaseRun:
    z = np.arange(2**n)
    bits = np.stack([(z >> (n - 1 - q)) & 1 for q in range(n)]).astype(np.uint8)
    const = np.zeros(2**n)
    rows: dict[str, np.ndarray] = {}
    for op in ops:
        idx = _local_index(bits, op.qubits)
        diagonal = _diagonal_form(op.spec)
        if diagonal is not None:
            b, slope = diagonal
            const += b[idx]
            if op.params:
                expr = op.params[0]
                const += slope[idx] * expr.const
                for name, coeff in expr.terms:
                    rows.setdefault(name, np.zeros(2**n))
                    rows[name] += coeff * slope[idx]
            continue
        monomial = _monomial_form(op.spec)
        assert monomial is not None
        perm, phase = monomial
        const += phase[idx]
        new = perm[idx]
        k = len(op.qubits)
        for pos, t in enumerate(op.qubits):
            bits[t] = (new >> (k - 1 - pos)) & 1
    final = _local_index(bits, range(n))
    perm_out = None if np.array_equal(final, z) else final
    return PhaseRun(n, _terms(n, const, rows), perm_out)


@functools.lru_cache(maxsize=64)
def _plan(circuit: Circuit) -> SimulationPlan:
    steps: list[PhaseRun | DenseRun] = []
    run: list[Operation] = []
    dense: list[Operation] = []
    for op in circuit.operations:
        if isinstance(op, StatePreparation):
            raise CircuitError("feature-map circuits cannot contain state preparation here")
        if _is_phase_op(op):
            if dense:
                steps.append(DenseRun(tuple(dense)))
                dense = []
            run.append(op)
        else:
            if run:
                steps.append(_compile_phase_run(circuit.n_qubits, run))
                run = []
            dense.append(op)
    if run:
        steps.append(_compile_phase_run(circuit.n_qubits, run))
    if dense:
        steps.append(DenseRun(tuple(dense)))
    return SimulationPlan(circuit, tuple(steps))


def supports(circuit: Circuit) -> bool:
    """Whether `simulate_states` takes this circuit (at most ``FAST_MAX_QUBITS``, no state prep)."""
    return circuit.n_qubits <= FAST_MAX_QUBITS and not circuit.vector_inputs


def plan_for(circuit: Circuit) -> SimulationPlan:
    """The compiled plan of ``circuit`` (cached per circuit)."""
    return _plan(circuit)


def _exp_i(phase: np.ndarray, dtype: np.dtype) -> np.ndarray:
    out = np.empty(phase.shape, dtype=dtype)
    out.real = np.cos(phase)
    out.imag = np.sin(phase)
    return out


def _apply_phase_run(state: np.ndarray, step: PhaseRun, values: Mapping[str, np.ndarray]) -> np.ndarray:
    factor = np.ones((1, 1), dtype=state.dtype)
    for term in step.terms:
        table = _exp_i(term.phases(values), state.dtype)
        fv = factor.reshape(factor.shape[0], *term.factor_dims)
        tv = table.reshape(table.shape[0], *term.table_dims)
        if fv.shape[1:] == term.dims and fv.shape[0] >= tv.shape[0]:
            np.multiply(fv, tv, out=fv)
            continue
        grown = fv * tv
        if grown.shape[1:] != term.dims:
            grown = np.broadcast_to(grown, (grown.shape[0], *term.dims))
        factor = grown.reshape(grown.shape[0], -1)
    flat = state.reshape(state.shape[0], factor.shape[1], -1) * factor[:, :, None]
    flat = flat.reshape(flat.shape[0], -1)
    if step.perm is not None:
        out = np.empty_like(flat)
        out[:, step.perm] = flat
        flat = out
    return flat.reshape((flat.shape[0],) + (2,) * (state.ndim - 1))


@functools.lru_cache(maxsize=32)
def _kron_factors(layer: tuple[tuple[Operation, ...], ...]) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(M_hi, M_lo, real)``: the layer's matrix ``M_hi ⊗ M_lo`` split between the two qubit halves.

    For a real matrix (e.g. the Hadamard layer) ``M_lo`` is ``M_lo ⊗ I₂`` so that it acts on the
    interleaved real and imaginary parts of a complex state viewed as floats.
    """
    mats = []
    for ops in layer:
        m = np.eye(2, dtype=complex)
        for op in ops:
            m = op.spec.matrix(*(p.const for p in op.params)) @ m
        mats.append(m)
    half = len(mats) - len(mats) // 2
    hi = functools.reduce(np.kron, mats[:half], np.eye(1, dtype=complex))
    lo = functools.reduce(np.kron, mats[half:], np.eye(1, dtype=complex))
    if np.all(hi.imag == 0) and np.all(lo.imag == 0):
        return np.ascontiguousarray(hi.real), np.ascontiguousarray(np.kron(lo.real, np.eye(2)).T), True
    return hi, np.ascontiguousarray(lo.T), False


def _apply_kron(state: np.ndarray, layer: tuple[tuple[Operation, ...], ...]) -> np.ndarray:
    """A layer of constant one-qubit gates as two BLAS products, one per half of the qubits."""
    hi, lo_t, real = _kron_factors(layer)
    b = state.shape[0]
    flat = np.ascontiguousarray(state).reshape(b, -1)
    if real:
        rdt = flat.real.dtype
        work = flat.view(rdt).reshape(b * hi.shape[0], lo_t.shape[0]) @ lo_t.astype(rdt, copy=False)
        out = np.matmul(hi.astype(rdt, copy=False), work.reshape(b, hi.shape[0], lo_t.shape[0]))
        return out.reshape(b, -1).view(flat.dtype).reshape(state.shape)
    work = flat.reshape(b * hi.shape[0], lo_t.shape[0]) @ lo_t.astype(flat.dtype, copy=False)
    out = np.matmul(hi.astype(flat.dtype, copy=False), work.reshape(b, hi.shape[0], lo_t.shape[0]))
    return out.reshape(state.shape)


def _apply_dense_run(state: np.ndarray, step: DenseRun, batch: Batch) -> np.ndarray:
    n = state.ndim - 1
    pending: dict[int, np.ndarray] = {}
    pending_ops: dict[int, list[Operation]] = {}

    def flush(qubits: Sequence[int]) -> None:
        nonlocal state
        for q in qubits:
            if q in pending:
                pending_ops.pop(q)
                m = pending.pop(q)
                if m.ndim == 3 and state.shape[0] != m.shape[0]:
                    state = np.broadcast_to(state, (m.shape[0], *state.shape[1:]))
                state = sv.apply_matrix(state, m, (q,))

    for op in step.ops:
        if op.spec.n_qubits == 1:
            m = sv.op_matrix(op, batch)
            q = op.qubits[0]
            pending[q] = m @ pending[q] if q in pending else m
            pending_ops.setdefault(q, []).append(op)
            continue
        flush(op.qubits)
        if any(not p.is_constant for p in op.params) and state.shape[0] != batch.size:
            state = np.broadcast_to(state, (batch.size, *state.shape[1:]))
        state = sv.apply_operation(state, op, batch)
    constant = all(m.ndim == 2 for m in pending.values())
    if len(pending) == n and constant and n <= _KRON_MAX_QUBITS and state.shape[0] > 1:
        return _apply_kron(state, tuple(tuple(pending_ops[q]) for q in range(n)))
    flush(sorted(pending))
    return state


def simulate_states(
    circuit: Circuit,
    values: Mapping[str, np.ndarray],
    size: int,
    dtype: np.typing.DTypeLike = np.complex128,
) -> np.ndarray:
    """Statevectors ``(size, 2**n)`` of ``circuit`` for symbol values ``{name: (size,)}``."""
    plan = plan_for(circuit)
    n = circuit.n_qubits
    sv.check_memory(n, size, dtype)
    batch = Batch(circuit, size, dict(values), {})
    state = sv.zero_state(n, 1, dtype)
    for step in plan.steps:
        if isinstance(step, PhaseRun):
            state = _apply_phase_run(state, step, values)
        else:
            state = _apply_dense_run(state, step, batch)
    flat = state.reshape(state.shape[0], -1)
    if flat.shape[0] != size:
        flat = np.broadcast_to(flat, (size, flat.shape[1]))
    return np.ascontiguousarray(flat, dtype=dtype)
