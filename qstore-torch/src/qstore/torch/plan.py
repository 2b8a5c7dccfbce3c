"""Execution plans: a circuit structure compiled once into a few batched torch steps.

`compile_plan` turns a `Circuit` into a `Plan` (cached by the circuit's content hash), so repeated
calls with new symbol values do no per-gate Python work beyond one tensor op per step:

* every angle is a linear expression of symbols, so all angles of the batch are one matrix product
  ``values (B, S) @ A (S, n_angles) + const``;
* all gates of one name get their matrices in one call (`qstore.torch.matrices.gate_matrices`);
* runs of one-qubit gates on a qubit fuse into one ``2×2`` per batch row, computed for all qubits
  at once by a few batched ``2×2`` products, and those of up to three adjacent qubits into one
  Kronecker-product block (`Fused`), so a rotation layer is ``n/3`` passes over the state;
* fixed permutation-with-phase gates (CNOT, CZ, SWAP, iSWAP, X-type, Toffoli) that follow one another
  fuse into one gather (`Monomial`), a whole CNOT entangling block becoming one index operation;
* parametric diagonal gates (CRZ, RZZ, ZZ) are phase multiplications (`Diagonal`); other multi-qubit
  gates are batched matmuls on their qubits (`Dense`); amplitude encoding is `Prepare`.

Every step can also be undone (`unapply`) and report the cotangent of its matrix (`matrix_grad`),
which is all the adjoint method (`qstore.torch.adjoint`) needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import attrs
import numpy as np

import torch
from qstore.core.circuit import Circuit, Operation, StatePreparation
from qstore.core.errors import CircuitError
from qstore.core.gate_fourier import fourier_coefficients
from qstore.core.gates import gate_spec
from qstore.torch.matrices import gate_matrices

__all__ = ["Dense", "Diagonal", "Fused", "Matrices", "Monomial", "Plan", "Prepare", "compile_plan"]


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype matching a complex one (complex64 -> float32)."""
    return torch.float64 if dtype == torch.complex128 else torch.float32


def _sub_index(n_qubits: int, targets: Sequence[int]) -> np.ndarray:
    """For each basis index, the index of its ``targets`` bits (first target most significant)."""
    idx = np.arange(2**n_qubits)
    sub = np.zeros_like(idx)
    for t in targets:
        sub = (sub << 1) | ((idx >> (n_qubits - 1 - t)) & 1)
    return sub


def _is_monomial(matrix: np.ndarray) -> bool:
    return bool(np.all(np.count_nonzero(np.abs(matrix) > 1e-12, axis=1) == 1))


class Matrices(NamedTuple):
    """The batch's step matrices: one per `Fused` block, and one per `Dense`/`Diagonal` step."""

    blocks: tuple[torch.Tensor, ...]
    others: tuple[torch.Tensor, ...]


@attrs.frozen(eq=False)
class Fused:
    """Fused one-qubit gates on adjacent qubits ``qubit … qubit + width - 1``, as one matrix.

    Each qubit's run of gates is one ``2×2`` per batch row (``chains``, in qubit order); their
    Kronecker product is `Matrices.blocks[index]`, so a whole rotation layer costs
    ``n_qubits / width`` passes over the state instead of one per gate.
    """

    qubit: int
    width: int
    chains: tuple[int, ...]
    index: int
    trainable: bool

    def apply(self, state: torch.Tensor, m: Matrices) -> torch.Tensor:
        return _apply_block(state, m.blocks[self.index], self.qubit, self.width)

    def unapply(self, state: torch.Tensor, m: Matrices) -> torch.Tensor:
        return _apply_block(state, m.blocks[self.index].mH, self.qubit, self.width)

    def matrix_grad(self, lam: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """Torch-convention gradient of ``2·Re<λ|M ψ>`` with respect to ``M``: ``(B, d, d)``."""
        b, d = lam.shape[0], 2**self.width
        lv, pv = lam.view(b, 2**self.qubit, d, -1), psi.view(b, 2**self.qubit, d, -1)
        if lv.shape[-1] >= _MATMUL_MIN_REST:
            return 2 * (lv @ pv.mH).sum(dim=1)
        if lv.shape[-1] == 1:
            return 2 * lv.view(b, -1, d).mT @ pv.view(b, -1, d).conj()
        return 2 * torch.einsum("baic,bajc->bij", lv, pv.conj())


def _apply_block(state: torch.Tensor, matrix: torch.Tensor, qubit: int, width: int) -> torch.Tensor:
    """``matrix`` (``(d, d)`` or ``(B, d, d)``) on qubits ``qubit …`` with the copy-free kernel.

    On the ``(B, 2**q, d, rest)`` view: long rows (``rest >= 32``) use one broadcast matmul
    without moving the state, the last qubits (``rest == 1``) a batched matmul by the transpose,
    and the middle ground an einsum.
    """
    b = state.shape[0]
    view = state.view(b, 2**qubit, 2**width, -1)
    rest = view.shape[-1]
    if rest >= _MATMUL_MIN_REST:
        m = matrix if matrix.dim() == 2 else matrix[:, None]
        return torch.matmul(m, view).reshape(b, -1)
    if rest == 1:
        return torch.matmul(view.view(b, -1, 2**width), matrix.mT).reshape(b, -1)
    if matrix.dim() == 2:
        return torch.einsum("ij,bajc->baic", matrix, view).reshape(b, -1)
    return torch.einsum("bij,bajc->baic", matrix, view).reshape(b, -1)


_MATMUL_MIN_REST = 32


@attrs.frozen(eq=False)
class Dense:
    """A multi-qubit gate applied as a batched matmul on its qubits (`Matrices.others[index]`)."""

    qubits: tuple[int, ...]
    n_qubits: int
    index: int
    trainable: bool

    def _moved(self, state: torch.Tensor) -> torch.Tensor:
        b, k = state.shape[0], len(self.qubits)
        t = state.view((b,) + (2,) * self.n_qubits)
        return t.movedim([1 + q for q in self.qubits], list(range(1, k + 1))).reshape(b, 2**k, -1)

    def _restore(self, moved: torch.Tensor) -> torch.Tensor:
        b, k = moved.shape[0], len(self.qubits)
        t = moved.reshape((b,) + (2,) * self.n_qubits)
        return t.movedim(list(range(1, k + 1)), [1 + q for q in self.qubits]).reshape(b, -1)

    def apply(self, state: torch.Tensor, m: Matrices) -> torch.Tensor:
        return self._restore(m.others[self.index] @ self._moved(state))

    def unapply(self, state: torch.Tensor, m: Matrices) -> torch.Tensor:
        return self._restore(m.others[self.index].mH @ self._moved(state))

    def matrix_grad(self, lam: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """Torch-convention gradient of ``2·Re<λ|M ψ>`` with respect to ``M``."""
        return 2 * self._moved(lam) @ self._moved(psi).mH


@attrs.frozen(eq=False)
class Diagonal:
    """A diagonal gate as a phase multiplication; ``sub[i]`` is basis index i's target pattern."""

    qubits: tuple[int, ...]
    sub: np.ndarray
    index: int
    trainable: bool

    cache: dict[tuple[str, str], torch.Tensor] = attrs.field(factory=dict, init=False, repr=False)

    def _phases(self, m: Matrices, state: torch.Tensor) -> torch.Tensor:
        return m.others[self.index][:, _on(self.cache, "sub", self.sub, state)]

    def apply(self, state: torch.Tensor, m: Matrices) -> torch.Tensor:
        return state * self._phases(m, state)

    def unapply(self, state: torch.Tensor, m: Matrices) -> torch.Tensor:
        return state * self._phases(m, state).conj()

    def matrix_grad(self, lam: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """Torch-convention gradient with respect to the ``(B, 2**k)`` diagonal."""
        terms = 2 * lam * psi.conj()
        out = torch.zeros(lam.shape[0], 2 ** len(self.qubits), dtype=lam.dtype, device=lam.device)
        return out.index_add_(1, _on(self.cache, "sub", self.sub, lam), terms)


@attrs.frozen(eq=False)
class Monomial:
    """Fixed permutation-with-phase gates fused into ``new[i] = phase[i] · old[perm[i]]``.

    Build with `Monomial.of`, which also precomputes the inverse used by the adjoint sweep.
    """

    qubits: frozenset[int]
    perm: np.ndarray
    phase: np.ndarray | None
    inv_perm: np.ndarray
    inv_phase: np.ndarray | None
    trainable = False
    cache: dict[tuple[str, str], torch.Tensor] = attrs.field(factory=dict, init=False, repr=False)

    @classmethod
    def of(cls, qubits: frozenset[int], perm: np.ndarray, phase: np.ndarray | None) -> Monomial:
        """The step for ``perm`` and ``phase`` (None when every phase is 1)."""
        if phase is not None and np.allclose(phase, 1, rtol=0, atol=1e-15):
            phase = None
        inv = np.argsort(perm)
        return cls(qubits, perm, phase, inv, None if phase is None else phase[inv].conj())

    def then(self, other: Monomial) -> Monomial:
        """This step followed by ``other``, as one step."""
        if self.phase is None and other.phase is None:
            phase = None
        else:
            p1 = np.ones(len(self.perm), complex) if self.phase is None else self.phase
            p2 = np.ones(len(self.perm), complex) if other.phase is None else other.phase
            phase = p2 * p1[other.perm]
        return Monomial.of(self.qubits | other.qubits, self.perm[other.perm], phase)

    def _gather(
        self, state: torch.Tensor, name: str, perm: np.ndarray, phase: np.ndarray | None
    ) -> torch.Tensor:
        out = state[:, _on(self.cache, name, perm, state)]
        if phase is not None:
            out = out * _on(self.cache, name + "_phase", phase, state)
        return out

    def apply(self, state: torch.Tensor, m: Matrices) -> torch.Tensor:
        return self._gather(state, "perm", self.perm, self.phase)

    def unapply(self, state: torch.Tensor, m: Matrices) -> torch.Tensor:
        return self._gather(state, "inv", self.inv_perm, self.inv_phase)


@attrs.frozen(eq=False)
class Prepare:
    """Load the normalised amplitudes bound to ``input`` into ``qubits`` (still in ``|0…0>``)."""

    qubits: tuple[int, ...]
    n_qubits: int
    input: str
    trainable = False

    def load(self, state: torch.Tensor, amplitudes: torch.Tensor) -> torch.Tensor:
        view = Dense(self.qubits, self.n_qubits, 0, False)
        rest = view._moved(state)[:, :1, :]
        return view._restore(amplitudes.to(state.dtype)[:, :, None] * rest)

    def amplitude_grad(self, lam: torch.Tensor) -> torch.Tensor:
        """Torch-convention gradient of ``2·Re<λ|ψ>`` with respect to the amplitudes.

        Valid when the other qubits are still in ``|0…0>`` (state preparation comes first).
        """
        view = Dense(self.qubits, self.n_qubits, 0, False)
        return 2 * view._moved(lam)[:, :, 0]


Step = Fused | Dense | Diagonal | Monomial | Prepare


@torch.compiler.disable
def _on(
    cache: dict[tuple[str, str], torch.Tensor], name: str, array: np.ndarray, like: torch.Tensor
) -> torch.Tensor:
    """``array`` as a tensor on ``like``'s device (complex arrays in ``like``'s dtype), cached."""
    key = (name, f"{like.device}:{like.dtype}" if np.iscomplexobj(array) else str(like.device))
    tensor = cache.get(key)
    if tensor is None:
        dtype = like.dtype if np.iscomplexobj(array) else None
        tensor = cache[key] = torch.as_tensor(array, dtype=dtype, device=like.device)
    return tensor


@attrs.frozen(eq=False)
class Plan:
    """A compiled circuit structure; `matrices` evaluates every step matrix for a batch at once.

    ``one_qubit`` lists ``(gate, angle columns (n, p))`` groups whose matrices, concatenated in this
    order plus a trailing identity, form the table that ``chains`` (``(n_fused, L)``, padded with
    the identity's row) multiplies into per-qubit products; each `Fused` step takes the Kronecker
    product of its qubits' products. ``others`` gives each `Dense` / `Diagonal` step's gate and
    angle columns.
    """

    n_qubits: int
    symbols: tuple[str, ...]
    angle_map: np.ndarray
    angle_const: np.ndarray
    one_qubit: tuple[tuple[str, np.ndarray], ...]
    chains: np.ndarray
    others: tuple[tuple[str, np.ndarray, bool], ...]
    steps: tuple[Step, ...]
    cache: dict[tuple[str, str], torch.Tensor] = attrs.field(factory=dict, init=False, repr=False)

    @property
    def last_prepare(self) -> int:
        """Index of the last `Prepare` step, or -1."""
        return max((i for i, s in enumerate(self.steps) if isinstance(s, Prepare)), default=-1)

    def angles(self, values: torch.Tensor) -> torch.Tensor:
        """``(B, n_angles)`` angles from ``(B, S)`` symbol values (S may be 0)."""
        const = _on(self.cache, "const", self.angle_const, values).to(values.dtype)
        if not self.symbols:
            return const.expand(values.shape[0], -1)
        return torch.addmm(const, values, _on(self.cache, "map", self.angle_map, values).to(values.dtype))

    def matrices(self, values: torch.Tensor, dtype: torch.dtype) -> Matrices:
        """Every step matrix for the batch, differentiable in ``values`` ``(B, S)``."""
        angles = self.angles(values)
        b = values.shape[0]
        blocks: list[torch.Tensor] = []
        if len(self.chains):
            parts = [gate_matrices(name, angles[:, cols], dtype) for name, cols in self.one_qubit]
            eye = torch.eye(2, dtype=dtype, device=values.device).expand(b, 1, 2, 2)
            table = torch.cat([p.expand(b, *p.shape[1:]) for p in parts] + [eye], dim=1)
            chains = _on(self.cache, "chains", self.chains, values)
            fused = table[:, chains[:, 0]]
            for level in range(1, self.chains.shape[1]):
                fused = table[:, chains[:, level]] @ fused
            for step in self.steps:
                if isinstance(step, Fused):
                    block = fused[:, step.chains[0]]
                    for chain in step.chains[1:]:
                        d = block.shape[-1] * 2
                        block = torch.einsum("bij,bkl->bikjl", block, fused[:, chain]).reshape(b, d, d)
                    blocks.append(block)
        others = []
        for name, cols, diagonal in self.others:
            m = gate_matrices(name, angles[:, cols], dtype).expand(b, -1, -1)
            others.append(torch.diagonal(m, dim1=-2, dim2=-1) if diagonal else m)
        return Matrices(tuple(blocks), tuple(others))


_PLANS: dict[str, Plan] = {}
_MAX_PLANS = 256


@torch.compiler.disable
def compile_plan(circuit: Circuit) -> Plan:
    """The plan of ``circuit``'s structure, compiled on first use and cached by `Circuit.hash`."""
    key = circuit.hash
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)))
        plan = _PLANS[key] = _Compiler(circuit).compile()
    return plan


class _Compiler:
    """One pass over the operations: fuse, classify, and lay out the angle map."""

    def __init__(self, circuit: Circuit) -> None:
        self.circuit = circuit
        self.n = circuit.n_qubits
        self.symbols = circuit.symbols
        self.columns: list[tuple[dict[str, float], float]] = []
        self.one_qubit: dict[str, list[list[int]]] = {}
        self.one_qubit_slots: list[tuple[str, int]] = []
        self.pending: dict[int, list[int]] = {}
        self.pending_trainable: dict[int, bool] = {}
        self.chains: list[list[int]] = []
        self.others: list[tuple[str, np.ndarray, bool]] = []
        self.steps: list[Step | _Chain] = []
        self.touched: set[int] = set()

    def angle_columns(self, op: Operation) -> list[int]:
        cols = []
        for expr in op.params:
            cols.append(len(self.columns))
            self.columns.append((dict(expr.terms), expr.const))
        return cols

    def compile(self) -> Plan:
        for op in self.circuit.operations:
            if isinstance(op, StatePreparation):
                self.prepare(op)
            elif op.spec.n_qubits == 1:
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
                f"{used}; the torch engine needs it before any gate on its qubits"
            )
        self.steps.append(Prepare(op.qubits, self.n, op.input))

    def one(self, op: Operation) -> None:
        cols = self.angle_columns(op)
        group = self.one_qubit.setdefault(op.gate, [])
        self.one_qubit_slots.append((op.gate, len(group)))
        group.append(cols)
        q = op.qubits[0]
        self.pending.setdefault(q, []).append(len(self.one_qubit_slots) - 1)
        self.pending_trainable[q] = self.pending_trainable.get(q, False) or bool(op.symbols)

    def flush(self, q: int) -> None:
        slots = self.pending.pop(q, None)
        if slots is None:
            return
        step = _Chain(q, slots, self.pending_trainable.pop(q))
        last = self.steps[-1] if self.steps else None
        if isinstance(last, Monomial) and q not in last.qubits:
            self.steps.insert(len(self.steps) - 1, step)
        else:
            self.steps.append(step)

    def multi(self, op: Operation) -> None:
        for q in op.qubits:
            self.flush(q)
        spec = op.spec
        if spec.n_params == 0 and _is_monomial(fourier_coefficients(op.gate)[0]):
            step = _monomial(fourier_coefficients(op.gate)[0], op.qubits, self.n)
            last = self.steps[-1] if self.steps else None
            if isinstance(last, Monomial):
                self.steps[-1] = last.then(step)
            else:
                self.steps.append(step)
            return
        cols = np.array(self.angle_columns(op), dtype=np.int64)
        index = len(self.others)
        self.others.append((op.gate, cols, spec.diagonal))
        trainable = bool(op.symbols)
        if spec.diagonal:
            self.steps.append(Diagonal(op.qubits, _sub_index(self.n, op.qubits), index, trainable))
        else:
            self.steps.append(Dense(op.qubits, self.n, index, trainable))

    def finish(self) -> Plan:
        s_index = {name: i for i, name in enumerate(self.symbols)}
        angle_map = np.zeros((len(self.symbols), len(self.columns)))
        angle_const = np.zeros(len(self.columns))
        for j, (terms, const) in enumerate(self.columns):
            angle_const[j] = const
            for name, coeff in terms.items():
                angle_map[s_index[name], j] = coeff
        order = list(self.one_qubit)
        offsets = dict(
            zip(order, np.cumsum([0] + [len(self.one_qubit[g]) for g in order]).tolist(), strict=False)
        )
        table_row = [offsets[g] + i for g, i in self.one_qubit_slots]
        identity = len(table_row)
        steps: list[Step] = []
        chains: list[list[int]] = []
        blocks = 0
        for run in _runs(self.steps):
            if not isinstance(run, list):
                steps.append(run)
                continue
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
            self.symbols,
            angle_map,
            angle_const,
            groups,
            chain_array,
            tuple(self.others),
            tuple(steps),
        )


_MAX_BLOCK = 3


def _runs(steps: Sequence[Step | _Chain]) -> list[Step | list[_Chain]]:
    """Steps with each maximal run of consecutive chains gathered into a list."""
    out: list[Step | list[_Chain]] = []
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
    """Group a run of chains into blocks of up to ``_MAX_BLOCK`` adjacent qubits.

    Chains on distinct qubits commute, so they may be reordered; a run that touches one qubit twice
    keeps its order, one chain per block.
    """
    if len({c.qubit for c in run}) != len(run):
        return [[c] for c in run]
    groups: list[list[_Chain]] = []
    for chain in sorted(run, key=lambda c: c.qubit):
        last = groups[-1] if groups else None
        if last and last[-1].qubit + 1 == chain.qubit and len(last) < _MAX_BLOCK:
            last.append(chain)
        else:
            groups.append([chain])
    return groups


@attrs.frozen
class _Chain:
    qubit: int
    slots: list[int]
    trainable: bool


def _monomial(matrix: np.ndarray, targets: Sequence[int], n_qubits: int) -> Monomial:
    """The `Monomial` of a fixed permutation-with-phase ``matrix`` on ``targets``."""
    sub = _sub_index(n_qubits, targets)
    cols = np.argmax(np.abs(matrix), axis=1)
    values = matrix[np.arange(len(cols)), cols]
    perm = np.arange(2**n_qubits)
    k = len(targets)
    for j, t in enumerate(targets):
        bit = (cols[sub] >> (k - 1 - j)) & 1
        shift = n_qubits - 1 - t
        perm = (perm & ~(1 << shift)) | (bit << shift)
    return Monomial.of(frozenset(targets), perm, values[sub])
