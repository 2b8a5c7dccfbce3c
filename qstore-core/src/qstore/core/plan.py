"""Engine plans: a circuit structure compiled once into framework-neutral steps.

Every statevector engine (NumPy, torch, TensorFlow) executes the same `Plan`, so fusion is decided
here and nowhere else; an engine only supplies kernels (a ``d×d`` block on adjacent qubits, a
phase vector, a gather by an index map, a batched matmul on a few qubits, loading amplitudes).

* Angles: every angle is a linear expression of symbols, so all angles of a batch are
  ``values (B, S) @ angle_map (S, n_angles) + angle_const``; a gate's matrix follows from its angles
  by the gate's exact Fourier rule (`qstore.core.gate_fourier`, see `gate_matrices`).
* `Fused`: runs of one-qubit gates on a qubit become one ``2×2`` per batch row (a *chain*: rows of
  the one-qubit table multiplied in order), and the chains of up to three adjacent qubits one
  Kronecker-product block, so a rotation layer is ``n/3`` passes over the state.
* `Permutation`: consecutive fixed permutation-with-phase gates (CNOT, CZ, SWAP, X, CCX, …) become
  one gather ``new[i] = phase[i] · old[perm[i]]``; a whole CNOT entangler is one index operation.
* `Phase`: a run of permutation gates and parametric diagonal gates (the ZZ feature map's
  CNOT·P·CNOT, CRZ, RZZ, …) is ``new[i] = e^{iφ(i)} · old[perm[i]]`` with a *linear phase
  polynomial* ``φ = angles @ weights + const``: one gather, one small matmul and one ``exp`` per
  run (up to `PHASE_MAX_QUBITS`; wider circuits keep `Permutation` and `Diagonal` steps).
* `Diagonal`: parametric diagonal multi-qubit gates outside phase runs are phase multiplications.
* `Monomials`: above `INDEX_MAX_QUBITS` a permutation run keeps its gates, which engines apply with
  strided kernels, so no step holds a ``2**n``-entry index array.
* `Dense`: other multi-qubit gates, a batched matmul on their qubits.
* `Prepare`: amplitude loading, on qubits no earlier gate has touched.

Plans are cached by the circuit's structure hash (`compile_plan`); `compilations()` counts real
compilations. Readouts are compiled by `qstore.core.plan_readout`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

import attrs
import numpy as np

from qstore.core.channels import Channel
from qstore.core.circuit import Circuit, Operation, StatePreparation
from qstore.core.errors import CircuitError
from qstore.core.gate_fourier import fourier_coefficients, fourier_harmonics
from qstore.core.gates import gate_spec

__all__ = [
    "INDEX_MAX_QUBITS",
    "PHASE_MAX_QUBITS",
    "Dense",
    "Diagonal",
    "Fused",
    "Monomial",
    "Monomials",
    "Permutation",
    "Phase",
    "PhaseTerm",
    "Plan",
    "Prepare",
    "Step",
    "compilations",
    "compile_plan",
    "gate_matrices",
    "target_index",
]

MAX_BLOCK = 3
PHASE_MAX_QUBITS = 16
"""Widest circuit whose diagonal/permutation runs become `Phase` steps (index maps of ``2**n``)."""
INDEX_MAX_QUBITS = 24
"""Widest circuit whose permutation runs become one `Permutation` index map; wider ones `Monomials`."""
PHASE_TERM_BITS = 4
"""Bits a `PhaseTerm` may span when items are merged (its table has ``2**bits`` entries)."""


@attrs.frozen(eq=False)
class Fused:
    """Fused one-qubit gates on adjacent qubits ``qubit … qubit + width - 1``, as one block.

    ``chains`` are rows of `Plan.chains` (one per qubit, in qubit order); the block is the
    Kronecker product of their ``2×2`` products. ``index`` numbers the plan's `Fused` steps.
    """

    qubit: int
    width: int
    chains: tuple[int, ...]
    index: int
    trainable: bool


@attrs.frozen(eq=False)
class Dense:
    """A multi-qubit gate as a matmul on its qubits; its matrix is `Plan.others[index]`."""

    qubits: tuple[int, ...]
    index: int
    trainable: bool


@attrs.frozen(eq=False)
class Diagonal:
    """A diagonal multi-qubit gate as a phase multiplication; its gate is `Plan.others[index]`."""

    qubits: tuple[int, ...]
    index: int
    trainable: bool


@attrs.frozen(eq=False)
class Permutation:
    """Fixed permutation-with-phase gates fused into ``new[i] = phase[i] · old[perm[i]]``.

    ``phase`` is None when every phase is 1; ``inverse_perm``/``inverse_phase`` undo the step
    (``old[j] = inverse_phase[j] · new[inverse_perm[j]]``) for adjoint sweeps.
    """

    qubits: frozenset[int]
    perm: np.ndarray
    phase: np.ndarray | None
    inverse_perm: np.ndarray
    inverse_phase: np.ndarray | None
    trainable: ClassVar[bool] = False


@attrs.frozen(eq=False)
class PhaseTerm:
    """Part of a phase polynomial that depends only on the bits of ``qubits`` (ascending):
    ``φ_t[s] = angles[:, cols] @ weights[:, s] + const[s]`` for the ``2**k`` values ``s`` of those bits
    (first qubit most significant). ``weights`` is ``(len(cols), 2**k)``."""

    qubits: tuple[int, ...]
    cols: np.ndarray
    weights: np.ndarray
    const: np.ndarray


@attrs.frozen(eq=False)
class Phase:
    """A diagonal-and-permutation run: ``new[i] = e^{iφ(i)} · old[perm[i]]`` with ``φ = Σ_t φ_t`` over
    few-bit `PhaseTerm` s, so the factor is an outer product of small tables (``2**k`` exponentials
    per term and row, not ``2**n``); ``perm`` is None when the run permutes nothing. ``inverse_perm``
    undoes the gather for adjoint sweeps: ``old = (e^{-iφ} · new)[inverse_perm]``. ``index`` numbers
    the plan's `Phase` steps.
    """

    qubits: frozenset[int]
    terms: tuple[PhaseTerm, ...]
    perm: np.ndarray | None
    inverse_perm: np.ndarray | None
    index: int
    trainable: bool


@attrs.frozen(eq=False)
class Monomial:
    """One fixed permutation-with-phase gate on ``qubits`` (first most significant):
    ``new[s] = phase[s] · old[source[s]]`` over the ``2**k`` values of its bits (``phase`` None: all 1)."""

    qubits: tuple[int, ...]
    source: np.ndarray
    phase: np.ndarray | None

    def matrix(self) -> np.ndarray:
        """The gate's ``2**k × 2**k`` matrix."""
        out = np.zeros((self.source.size, self.source.size), dtype=complex)
        out[np.arange(self.source.size), self.source] = 1 if self.phase is None else self.phase
        return out

    def inverse(self) -> Monomial:
        """The monomial undoing this one."""
        back = np.empty_like(self.source)
        back[self.source] = np.arange(self.source.size)
        return Monomial(self.qubits, back, None if self.phase is None else self.phase[back].conj())


@attrs.frozen(eq=False)
class Monomials:
    """Fixed permutation gates of a circuit wider than `INDEX_MAX_QUBITS`, applied one by one by
    strided kernels instead of a ``2**n`` index map (which would cost 8 bytes per amplitude)."""

    qubits: frozenset[int]
    gates: tuple[Monomial, ...]
    trainable: ClassVar[bool] = False


@attrs.frozen(eq=False)
class Prepare:
    """Load the normalised amplitudes bound to ``input`` into ``qubits`` (still in ``|0…0>``)."""

    qubits: tuple[int, ...]
    input: str
    trainable: ClassVar[bool] = False


Step = Fused | Dense | Diagonal | Permutation | Monomials | Phase | Prepare


@attrs.frozen(eq=False)
class Plan:
    """A compiled circuit structure.

    ``one_qubit`` lists ``(gate, angle columns (m, p))`` groups; their matrices, concatenated in this
    order plus a trailing identity, form the table whose rows ``chains`` (``(n_chains, L)``, padded
    with the identity's row) multiplies, first column first, into per-qubit ``2×2`` products.
    ``others`` gives each `Dense` / `Diagonal` step's ``(gate, angle columns, diagonal)``.
    ``prefix`` counts the leading `Fused` steps on distinct qubits: they act on ``|0…0>``, so an engine
    may build the state after them as the Kronecker product of their chains' first columns.
    """

    n_qubits: int
    symbols: tuple[str, ...]
    angle_map: np.ndarray
    angle_const: np.ndarray
    one_qubit: tuple[tuple[str, np.ndarray], ...]
    chains: np.ndarray
    others: tuple[tuple[str, np.ndarray, bool], ...]
    steps: tuple[Step, ...]
    prefix: int = 0

    @property
    def last_prepare(self) -> int:
        """Index of the last `Prepare` step, or -1."""
        return max((i for i, s in enumerate(self.steps) if isinstance(s, Prepare)), default=-1)

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The `Phase` steps, in order (``phases[i].index == i``)."""
        return tuple(s for s in self.steps if isinstance(s, Phase))

    @property
    def n_blocks(self) -> int:
        """Number of `Fused` steps."""
        return sum(isinstance(s, Fused) for s in self.steps)

    def angles(self, values: np.ndarray) -> np.ndarray:
        """``(B, n_angles)`` angles from ``(B, S)`` symbol values."""
        return values @ self.angle_map + self.angle_const


def gate_matrices(name: str, angles: np.ndarray) -> np.ndarray:
    """Matrices of gate ``name`` for angles of shape ``S + (p,)`` by its exact Fourier rule:
    ``S + (d, d)`` complex128 (see `qstore.core.gate_fourier`)."""
    coeffs = fourier_coefficients(name)
    shape = angles.shape[:-1] + coeffs.shape[1:]
    if angles.shape[-1] == 0:
        return np.broadcast_to(coeffs[0], shape)
    basis = np.exp(1j * (angles @ fourier_harmonics(name).T))
    return (basis @ coeffs.reshape(coeffs.shape[0], -1)).reshape(shape)


@functools.lru_cache(maxsize=256)
def target_index(n_qubits: int, targets: tuple[int, ...]) -> np.ndarray:
    """For every basis index, the index of its ``targets`` bits (first target most significant)."""
    idx = np.arange(2**n_qubits)
    sub = np.zeros_like(idx)
    for t in targets:
        sub = (sub << 1) | ((idx >> (n_qubits - 1 - t)) & 1)
    sub.setflags(write=False)
    return sub


_PLANS: dict[str, Plan] = {}
_MAX_PLANS = 256
_COUNT = [0]


def compile_plan(circuit: Circuit, *, per_gate: bool = False) -> Plan:
    """The plan of ``circuit``'s structure, compiled on first use and cached by `Circuit.hash`.

    ``per_gate=True`` compiles as for a register wider than `INDEX_MAX_QUBITS`: permutation gates
    stay `Monomials` and no phase runs are formed (for engines that cannot gather a whole register,
    such as the sharded one)."""
    key = f"{circuit.hash}:{per_gate}"
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)))
        plan = _PLANS[key] = _Compiler(circuit, per_gate).compile()
        _COUNT[0] += 1
    return plan


def compilations() -> int:
    """How many plans `compile_plan` has compiled in this process (cache misses)."""
    return _COUNT[0]


def _phase_gate(op: Operation) -> bool:
    """A gate a phase run takes: a fixed permutation (with phases) or linear-phase diagonal."""
    if op.spec.diagonal and _linear_phases(op.gate) is not None:
        return True
    return op.spec.n_params == 0 and _is_permutation(fourier_coefficients(op.gate)[0])


def _is_permutation(matrix: np.ndarray) -> bool:
    nonzero = np.abs(matrix) > 1e-12
    return bool(np.all(nonzero.sum(axis=1) == 1) and np.all(nonzero.sum(axis=0) == 1))


@attrs.frozen
class _Chain:
    qubit: int
    slots: list[int]
    trainable: bool


@functools.lru_cache(maxsize=256)
def _linear_phases(name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(b (d,), m (d, p))`` with diagonal ``e^{i(b + m @ θ)}``, or None for another form.

    Read from the gate's Fourier terms: each diagonal entry must be one term of modulus one.
    """
    coeffs, harmonics = fourier_coefficients(name), fourier_harmonics(name)
    d = coeffs.shape[1]
    entries = coeffs[:, np.arange(d), np.arange(d)]
    offsets = np.empty(d)
    slopes = np.empty((d, harmonics.shape[1]))
    for s in range(d):
        (ks,) = np.nonzero(np.abs(entries[:, s]) > 1e-12)
        if len(ks) != 1 or abs(abs(entries[ks[0], s]) - 1) > 1e-12:
            return None
        offsets[s] = np.angle(entries[ks[0], s])
        slopes[s] = harmonics[ks[0]]
    return offsets, slopes


class _PhaseRun:
    """Permutation gates and linear-phase diagonal gates collected in order (with their angle
    columns); `step` builds the one gather and phase polynomial they amount to."""

    def __init__(self, n_qubits: int, per_gate: bool = False) -> None:
        self.n = n_qubits
        self.per_gate = per_gate
        self.ops: list[tuple[Operation, list[int]]] = []
        self.qubits: set[int] = set()

    def add(self, op: Operation, cols: list[int]) -> None:
        self.ops.append((op, cols))
        self.qubits.update(op.qubits)

    def step(self, index: int) -> Permutation | Monomials | Phase:
        """Walk the gates backwards from the identity map, so each costs a few vector operations:
        ``idx`` is where output amplitude ``i`` sits before the gate, whose phase is read there.
        Wide circuits (only fixed gates here) keep their gates as `Monomials`."""
        n = self.n
        if n > INDEX_MAX_QUBITS or self.per_gate:
            return Monomials(frozenset(self.qubits), tuple(_monomial(op) for op, _ in self.ops))
        idx = np.arange(2**n)
        const = np.zeros(2**n)
        rows: dict[int, np.ndarray] = {}
        for op, cols in reversed(self.ops):
            local = np.zeros_like(idx)
            for t in op.qubits:
                local = (local << 1) | ((idx >> (n - 1 - t)) & 1)
            linear = _linear_phases(op.gate) if op.spec.diagonal else None
            if linear is not None:
                offsets, slopes = linear
                const += offsets[local]
                for j, c in enumerate(cols):
                    rows[c] = rows.get(c, 0) + slopes[local, j]
                continue
            matrix = fourier_coefficients(op.gate)[0]
            source_cols = np.argmax(np.abs(matrix), axis=1)
            const += np.angle(matrix[np.arange(len(source_cols)), source_cols])[local]
            source = source_cols[local]
            k = len(op.qubits)
            for j, t in enumerate(op.qubits):
                shift = n - 1 - t
                idx = (idx & ~(1 << shift)) | (((source >> (k - 1 - j)) & 1) << shift)
        inverse = np.empty_like(idx)
        inverse[idx] = np.arange(idx.size)
        if not rows:
            phase = np.exp(1j * const)
            if np.allclose(phase, 1, rtol=0, atol=1e-15):
                return Permutation(frozenset(self.qubits), idx, None, inverse, None)
            return Permutation(frozenset(self.qubits), idx, phase, inverse, phase[inverse].conj())
        identity = bool(np.array_equal(idx, np.arange(idx.size)))
        return Phase(
            frozenset(self.qubits),
            _phase_terms(n, rows, const),
            None if identity else idx,
            None if identity else inverse,
            index,
            any(op.symbols for op, _ in self.ops),
        )


def _monomial(op: Operation) -> Monomial:
    matrix = fourier_coefficients(op.gate)[0]
    source = np.argmax(np.abs(matrix), axis=1)
    phase = matrix[np.arange(source.size), source]
    fixed = np.allclose(phase, 1, rtol=0, atol=1e-15)
    return Monomial(op.qubits, source, None if fixed else phase)


def _support(values: np.ndarray, n: int) -> tuple[int, ...]:
    """The qubits whose bit ``values`` (``(2**n,)``, a function of the basis index) depends on."""
    t = values.reshape((2,) * n)
    return tuple(q for q in range(n) if not np.allclose(t.take(0, q), t.take(1, q), rtol=0, atol=1e-13))


def _restrict(values: np.ndarray, n: int, qubits: tuple[int, ...]) -> np.ndarray:
    """``values`` as a ``2**k`` table over ``qubits`` (the other bits zero)."""
    t = values.reshape((2,) * n)
    return t[tuple(slice(None) if q in qubits else 0 for q in range(n))].reshape(-1)


def _phase_terms(n: int, rows: dict[int, np.ndarray], const: np.ndarray) -> tuple[PhaseTerm, ...]:
    """Split ``φ = Σ_c angle_c · rows[c] + const`` into terms of at most `PHASE_TERM_BITS` bits.

    Items (each column's row, and the constant) are taken by their last bit and merged into the
    current term while the union of their bits stays small; a wider item is a term of its own.
    """
    items = sorted(
        [(_support(r, n), c) for c, r in rows.items()] + [(_support(const, n), -1)],
        key=lambda item: (max(item[0], default=-1), item[1]),
    )
    groups: list[tuple[set[int], list[int]]] = []
    for support, c in items:
        if groups and len(groups[-1][0] | set(support)) <= PHASE_TERM_BITS:
            groups[-1][0].update(support)
            groups[-1][1].append(c)
        else:
            groups.append((set(support), [c]))
    terms = []
    for bits, members in groups:
        qubits = tuple(sorted(bits))
        cols = [c for c in members if c >= 0]
        weights = (
            np.stack([_restrict(rows[c], n, qubits) for c in cols])
            if cols
            else np.zeros((0, 2 ** len(qubits)))
        )
        table = _restrict(const, n, qubits) if -1 in members else np.zeros(2 ** len(qubits))
        terms.append(PhaseTerm(qubits, np.array(cols, dtype=np.int64), weights, table))
    return tuple(terms)


class _Compiler:
    """One pass over the operations: fuse, classify, and lay out the angle map."""

    def __init__(self, circuit: Circuit, per_gate: bool = False) -> None:
        self.circuit = circuit
        self.n = circuit.n_qubits
        self.per_gate = per_gate
        self.columns: list[tuple[dict[str, float], float]] = []
        self.one_qubit: dict[str, list[list[int]]] = {}
        self.one_qubit_slots: list[tuple[str, int]] = []
        self.pending: dict[int, list[int]] = {}
        self.pending_trainable: dict[int, bool] = {}
        self.others: list[tuple[str, np.ndarray, bool]] = []
        self.steps: list[Step | _Chain | _PhaseRun] = []
        self.phase_runs = self.n <= PHASE_MAX_QUBITS and not per_gate
        self.touched: set[int] = set()

    def angle_columns(self, op: Operation) -> list[int]:
        cols = []
        for expr in op.params:
            cols.append(len(self.columns))
            self.columns.append((dict(expr.terms), expr.const))
        return cols

    def compile(self) -> Plan:
        for op in self.circuit.operations:
            if isinstance(op, Channel):
                raise CircuitError(
                    f"channel {op.gate!r} on qubit(s) {op.qubits} cannot run on a statevector plan; "
                    "noisy circuits run on density matrices (qstore.core.density) or trajectories"
                )
            if isinstance(op, StatePreparation):
                self.prepare(op)
            elif op.spec.n_qubits == 1 and not self.joins_run(op):
                self.one(op)
            else:
                self.multi(op)
            self.touched.update(op.qubits)
        for q in sorted(self.pending):
            self.flush(q)
        return self.finish()

    def prepare(self, op: StatePreparation) -> None:
        used = sorted(self.touched & set(op.qubits))
        if used:
            raise CircuitError(
                f"state preparation of {op.input!r} on qubits {op.qubits} comes after gates on qubit(s) "
                f"{used}; it must come before any gate on its qubits"
            )
        self.steps.append(Prepare(op.qubits, op.input))

    def one(self, op: Operation) -> None:
        cols = self.angle_columns(op)
        group = self.one_qubit.setdefault(op.gate, [])
        self.one_qubit_slots.append((op.gate, len(group)))
        group.append(cols)
        q = op.qubits[0]
        self.pending.setdefault(q, []).append(len(self.one_qubit_slots) - 1)
        self.pending_trainable[q] = self.pending_trainable.get(q, False) or bool(op.symbols)

    def flush(self, q: int) -> None:
        """Emit qubit ``q``'s pending chain; it may move before a permutation run it commutes with."""
        slots = self.pending.pop(q, None)
        if slots is None:
            return
        step = _Chain(q, slots, self.pending_trainable.pop(q))
        last = self.steps[-1] if self.steps else None
        if isinstance(last, _PhaseRun) and q not in last.qubits:
            self.steps.insert(len(self.steps) - 1, step)
        else:
            self.steps.append(step)

    def joins_run(self, op: Operation) -> bool:
        """Whether a one-qubit gate goes to a phase run rather than its qubit's chain.

        A fixed permutation or linear-phase diagonal gate continues the open run on a qubit the run
        touches when nothing is pending there; a parametric diagonal gate also leaves a constant
        pending chain (the Hadamards of a feature map) constant, so that block is one shared matrix.
        """
        if not (self.phase_runs and _phase_gate(op)):
            return False
        q = op.qubits[0]
        if q in self.pending:
            return op.spec.diagonal and bool(op.symbols) and not self.pending_trainable[q]
        last = self.steps[-1] if self.steps else None
        return isinstance(last, _PhaseRun) and q in last.qubits

    def multi(self, op: Operation) -> None:
        for q in op.qubits:
            self.flush(q)
        spec = op.spec
        fixed = spec.n_params == 0 and _is_permutation(fourier_coefficients(op.gate)[0])
        if fixed or (self.phase_runs and _phase_gate(op)):
            last = self.steps[-1] if self.steps else None
            if not isinstance(last, _PhaseRun):
                last = _PhaseRun(self.n, self.per_gate)
                self.steps.append(last)
            last.add(op, [] if fixed else self.angle_columns(op))
            return
        cols = np.array(self.angle_columns(op), dtype=np.int64)
        index = len(self.others)
        self.others.append((op.gate, cols, spec.diagonal))
        kind = Diagonal if spec.diagonal else Dense
        self.steps.append(kind(op.qubits, index, bool(op.symbols)))

    def finish(self) -> Plan:
        symbols = self.circuit.symbols
        s_index = {name: i for i, name in enumerate(symbols)}
        angle_map = np.zeros((len(symbols), len(self.columns)))
        angle_const = np.zeros(len(self.columns))
        for j, (terms, const) in enumerate(self.columns):
            angle_const[j] = const
            for name, coeff in terms.items():
                angle_map[s_index[name], j] = coeff
        order = list(self.one_qubit)
        offsets: dict[str, int] = {}
        for g in order:
            offsets[g] = sum(len(self.one_qubit[h]) for h in offsets)
        table_row = [offsets[g] + i for g, i in self.one_qubit_slots]
        identity = len(table_row)
        steps: list[Step] = []
        chains: list[list[int]] = []
        blocks = 0
        for run in _runs(self.steps):
            if isinstance(run, _PhaseRun):
                steps.append(run.step(sum(isinstance(s, Phase) for s in steps)))
            elif not isinstance(run, list):
                steps.append(run)
            else:
                for group in _blocks(run):
                    ids = tuple(range(len(chains), len(chains) + len(group)))
                    chains += [[table_row[s] for s in c.slots] for c in group]
                    trainable = any(c.trainable for c in group)
                    steps.append(Fused(group[0].qubit, len(group), ids, blocks, trainable))
                    blocks += 1
        length = max((len(c) for c in chains), default=0)
        chain_array = np.full((len(chains), length), identity, dtype=np.int64)
        for i, c in enumerate(chains):
            chain_array[i, : len(c)] = c
        groups = tuple(
            (
                g,
                np.array(self.one_qubit[g], dtype=np.int64).reshape(
                    len(self.one_qubit[g]), gate_spec(g).n_params
                ),
            )
            for g in order
        )
        return Plan(
            self.n,
            symbols,
            angle_map,
            angle_const,
            groups,
            chain_array,
            tuple(self.others),
            tuple(steps),
            _product_prefix(steps),
        )


def _product_prefix(steps: Sequence[Step]) -> int:
    """How many leading steps are `Fused` blocks on qubits no earlier step touched."""
    seen: set[int] = set()
    for count, step in enumerate(steps):
        if not isinstance(step, Fused):
            return count
        qubits = set(range(step.qubit, step.qubit + step.width))
        if qubits & seen:
            return count
        seen |= qubits
    return len(steps)


def _runs(
    steps: Sequence[Step | _Chain | _PhaseRun],
) -> list[Step | _PhaseRun | list[_Chain]]:
    """Steps with each maximal run of consecutive chains gathered into a list."""
    out: list[Step | _PhaseRun | list[_Chain]] = []
    for step in steps:
        if isinstance(step, _Chain):
            if out and isinstance(out[-1], list):
                out[-1].append(step)
            else:
                out.append([step])
        else:
            out.append(step)
    return out


def _blocks(run: list[_Chain]) -> list[list[_Chain]]:
    """Group a run of chains into blocks of up to `MAX_BLOCK` adjacent qubits.

    Chains on distinct qubits commute, so they may be reordered; a run that touches one qubit twice
    keeps its order, one chain per block.
    """
    if len({c.qubit for c in run}) != len(run):
        return [[c] for c in run]
    groups: list[list[_Chain]] = []
    for chain in sorted(run, key=lambda c: c.qubit):
        last = groups[-1] if groups else None
        if last and last[-1].qubit + 1 == chain.qubit and len(last) < MAX_BLOCK:
            last.append(chain)
        else:
            groups.append([chain])
    return groups
