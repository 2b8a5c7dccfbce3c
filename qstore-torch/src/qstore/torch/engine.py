"""The torch statevector engine: torch kernels for the steps of a core `qstore.core.plan.Plan`.

States are ``(B, 2**n)`` complex tensors (complex64 or complex128) on any device, batch first,
qubit 0 the most significant bit — the layout of `qstore.core.statevector`. The plan decides what
fuses; this module only applies each kind of step (and undoes it, and gives the cotangent of its
matrix for `qstore.torch.adjoint`). Everything here is differentiable by autograd.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs
import numpy as np

import torch
from qstore.core.observables import Observable
from qstore.core.plan import (
    Dense,
    Diagonal,
    Fused,
    Monomial,
    Monomials,
    Permutation,
    Phase,
    Plan,
    Prepare,
    Step,
)
from qstore.core.plan_readout import basis_rotations, measurement_settings
from qstore.torch.matrices import gate_matrices

__all__ = [
    "Matrices",
    "Stream",
    "apply_block",
    "apply_step",
    "block_kernel",
    "block_outer",
    "grouped",
    "matrices",
    "matrix_grad",
    "on_device",
    "permute",
    "product_state",
    "real_dtype",
    "sample",
    "shot_expectations",
    "simulate",
    "zero_state",
]

_MATMUL_MIN_REST = 32
_KRON_MAX = 32
_EINSUM_MAX_AMPLITUDES = 2**17
_OUTER_ROWS_MAX = 64
_TENSORS: weakref.WeakKeyDictionary[object, dict[tuple[str, str, str], torch.Tensor]] = (
    weakref.WeakKeyDictionary()
)


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype matching a complex one (complex64 -> float32)."""
    return torch.float64 if dtype == torch.complex128 else torch.float32


@torch.compiler.disable
def on_device(
    owner: object, name: str, array: np.ndarray, device: torch.device, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """``array`` (owned by the plan object ``owner``) as a tensor on ``device``, cached while it lives."""
    cache = _TENSORS.setdefault(owner, {})
    key = (name, str(device), str(dtype))
    tensor = cache.get(key)
    if tensor is None:
        tensor = cache[key] = torch.tensor(array, dtype=dtype, device=device)
    return tensor


class Matrices(NamedTuple):
    """The batch's step matrices: one per `Fused` block (``(d, d)`` when it depends on no per-row
    symbol, else ``(B, d, d)``; None for the product prefix when `matrices` was asked for ``prefix``),
    one ``(B, …)`` per `Dense` / `Diagonal` step, the ``(B or 1, 2**n)`` factor of each `Phase`
    step, and the prefix chains' first columns ``(B or 1, k, 2)`` (None without ``prefix``)."""

    blocks: tuple[torch.Tensor | None, ...]
    others: tuple[torch.Tensor, ...]
    phases: tuple[torch.Tensor, ...]
    prefix: torch.Tensor | None = None


@attrs.frozen(eq=False)
class _Table:
    """Which one-qubit gates to evaluate (``(gate, angle columns)``) and the chains over them."""

    groups: tuple[tuple[str, np.ndarray], ...]
    chains: np.ndarray


class _Layout(NamedTuple):
    """How a plan's matrices split between per-row symbols and symbols shared by every row."""

    rows: _Table
    shared: _Table
    chain_slot: tuple[tuple[bool, int], ...]
    others_rows: tuple[bool, ...]
    phases_rows: tuple[bool, ...]


_LAYOUTS: weakref.WeakKeyDictionary[Plan, dict[bytes, _Layout]] = weakref.WeakKeyDictionary()


def _layout(plan: Plan, shared: np.ndarray) -> _Layout:
    """The plan's split for the ``shared`` symbol mask (cached per plan and mask)."""
    cache = _LAYOUTS.setdefault(plan, {})
    key = shared.tobytes()
    if key not in cache:
        per_row = plan.angle_map[~shared].any(axis=0)
        gate_rows = [(name, cols[i]) for name, cols in plan.one_qubit for i in range(len(cols))]
        dep = np.array([bool(per_row[cols].any()) for _, cols in gate_rows] + [False])
        chain_rows = dep[plan.chains].any(axis=1) if plan.chains.size else np.zeros(len(plan.chains), bool)
        tables, slot = {}, [(False, 0)] * len(plan.chains)
        for flag in (True, False):
            ids = np.flatnonzero(chain_rows == flag)
            for position, cid in enumerate(ids):
                slot[cid] = (flag, position)
            tables[flag] = _sub_table(gate_rows, plan.chains[ids])
        cache[key] = _Layout(
            tables[True],
            tables[False],
            tuple(slot),
            tuple(bool(per_row[cols].any()) for _, cols, _ in plan.others),
            tuple(any(bool(per_row[t.cols].any()) for t in p.terms) for p in plan.phases),
        )
    return cache[key]


def _sub_table(gate_rows: list[tuple[str, np.ndarray]], chains: np.ndarray) -> _Table:
    """The gates ``chains`` use (grouped by gate), and ``chains`` renumbered into that table."""
    identity = len(gate_rows)
    used = [int(r) for r in np.unique(chains) if r != identity]
    by_gate: dict[str, list[int]] = {}
    for r in used:
        by_gate.setdefault(gate_rows[r][0], []).append(r)
    order = [r for rows in by_gate.values() for r in rows]
    renumber = np.full(identity + 1, len(order), dtype=np.int64)
    renumber[order] = np.arange(len(order))
    groups = tuple((g, np.stack([gate_rows[r][1] for r in rows])) for g, rows in by_gate.items())
    return _Table(groups, renumber[chains])


def _chain_products(table: _Table, angles: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(b, n_chains, 2, 2)`` products of ``table``'s chains for ``angles`` ``(b, A)``."""
    b, device = angles.shape[0], angles.device
    parts = [gate_matrices(name, angles[:, cols], dtype) for name, cols in table.groups]
    eye = torch.eye(2, dtype=dtype, device=device).expand(b, 1, 2, 2)
    gates = torch.cat([p.expand(b, *p.shape[1:]) for p in parts] + [eye], dim=1)
    chains = on_device(table, "chains", table.chains, device)
    fused = gates[:, chains[:, 0]]
    for level in range(1, table.chains.shape[1]):
        fused = gates[:, chains[:, level]] @ fused
    return fused


def matrices(
    plan: Plan,
    values: torch.Tensor,
    dtype: torch.dtype,
    shared: np.ndarray | None = None,
    prefix: bool = False,
) -> Matrices:
    """Every step matrix for the batch, differentiable in ``values`` ``(B, S)``.

    ``shared`` marks symbols whose value is the same in every row (a layer's weights): matrices that
    depend on no other symbol are computed once, from the first row, and applied to every row.
    With ``prefix`` the plan's product-prefix blocks are not built; their chains' first columns are.
    """
    b, device, rdt = values.shape[0], values.device, values.dtype
    mask = np.zeros(len(plan.symbols), bool) if shared is None else shared
    layout = _layout(plan, mask)
    const = on_device(plan, "const", plan.angle_const, device, rdt)
    if plan.symbols:
        angles = torch.addmm(const, values, on_device(plan, "map", plan.angle_map, device, rdt))
    else:
        angles = const.expand(b, -1)
    first = angles[:1]
    products = {
        flag: _chain_products(table, angles if flag else first, dtype)
        for flag, table in ((True, layout.rows), (False, layout.shared))
        if len(table.chains)
    }

    def chain(cid: int, batch: bool) -> torch.Tensor:
        flag, position = layout.chain_slot[cid]
        m = products[flag][:, position]
        return m.expand(b, 2, 2) if batch else m

    skip = plan.prefix if prefix else 0
    blocks: list[torch.Tensor | None] = [None] * skip
    for step in plan.steps[skip:]:
        if isinstance(step, Fused):
            per_row = any(layout.chain_slot[c][0] for c in step.chains)
            block = chain(step.chains[0], per_row)
            for cid in step.chains[1:]:
                d = block.shape[-1] * 2
                block = torch.einsum("bij,bkl->bikjl", block, chain(cid, per_row)).reshape(-1, d, d)
            blocks.append(block if per_row else block[0])
    vectors = None
    if skip:
        ids = [c for step in plan.steps[:skip] for c in step.chains]  # type: ignore[union-attr]
        per_row = any(layout.chain_slot[c][0] for c in ids)
        vectors = torch.stack([chain(c, per_row)[..., 0] for c in ids], dim=1)
    others = []
    for (name, cols, diagonal), per_row in zip(plan.others, layout.others_rows, strict=True):
        m = gate_matrices(name, (angles if per_row else first)[:, cols], dtype).expand(b, -1, -1)
        others.append(torch.diagonal(m, dim1=-2, dim2=-1) if diagonal else m)
    phases = [
        _phase_factor(step, angles if per_row else first, dtype, plan.n_qubits)
        for step, per_row in zip(plan.phases, layout.phases_rows, strict=True)
    ]
    return Matrices(tuple(blocks), tuple(others), tuple(phases), vectors)


def _phase_factor(step: Phase, angles: torch.Tensor, dtype: torch.dtype, n: int) -> torch.Tensor:
    """``(B, 2**n)`` factor ``e^{iφ}`` of a `Phase` step: the product of its terms' small tables, each
    broadcast over the register on a view that splits out only the qubits of its span (few axes)."""
    b, device, rdt = angles.shape[0], angles.device, angles.dtype
    factor = None
    for k, term in enumerate(step.terms):
        cols = on_device(step, f"cols{k}", term.cols, device)
        phi = angles[:, cols] @ on_device(step, f"weights{k}", term.weights, device, rdt)
        phi = phi + on_device(step, f"const{k}", term.const, device, rdt)
        table = torch.polar(torch.ones_like(phi), phi).to(dtype)
        lo, hi = term.qubits[0], term.qubits[-1]
        span = range(lo, hi + 1)
        full = (b, 2**lo, *(2 for _ in span), 2 ** (n - 1 - hi))
        table = table.reshape(b, 1, *(2 if q in term.qubits else 1 for q in span), 1)
        if factor is None:
            factor = table.expand(full).reshape(b, -1)
        else:
            factor = (factor.reshape(full) * table).reshape(b, -1)
    assert factor is not None
    return factor


def zero_state(n_qubits: int, batch_size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``|0…0>`` for every row of the batch."""
    state = torch.zeros(batch_size, 2**n_qubits, dtype=dtype, device=device)
    state[:, 0] = 1
    return state


def product_state(plan: Plan, columns: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``(B, 2**n)`` state after the plan's product prefix: the Kronecker product of its chains'
    first columns ``(B or 1, k, 2)`` (qubits outside the prefix stay in ``|0>``). Each half of the
    register is built qubit by qubit, then one outer product writes the state."""
    qubit_column = {
        q: j
        for j, q in enumerate(
            q for step in plan.steps[: plan.prefix] for q in range(step.qubit, step.qubit + step.width)
        )
    }
    zero = torch.tensor([1, 0], dtype=columns.dtype, device=columns.device)

    def kron(qubits: range) -> torch.Tensor:
        part = torch.ones(1, 1, dtype=columns.dtype, device=columns.device)
        for q in qubits:
            v = columns[:, qubit_column[q]] if q in qubit_column else zero.expand(1, 2)
            part = (part[:, :, None] * v[:, None, :]).reshape(max(part.shape[0], v.shape[0]), -1)
        return part

    half = plan.n_qubits // 2
    left, right = kron(range(half)), kron(range(half, plan.n_qubits))
    state = (left[:, :, None] * right[:, None, :]).reshape(max(left.shape[0], right.shape[0]), -1)
    if state.shape[0] != batch_size:
        state = state.expand(batch_size, -1).contiguous()
    return state


def simulate(
    plan: Plan,
    values: torch.Tensor,
    vectors: Mapping[str, torch.Tensor],
    dtype: torch.dtype,
    shared: np.ndarray | None = None,
) -> torch.Tensor:
    """Final ``(B, 2**n)`` states for symbol ``values`` ``(B, S)`` and state-preparation ``vectors``;
    ``shared`` marks symbols equal in every row (see `matrices`).

    Without a graph to record (no-grad mode, or no input that requires grad) the steps write into
    two alternating buffers (`Stream`); with one, every step returns a new differentiable tensor.
    """
    m = matrices(plan, values, dtype, shared, prefix=True)
    b = values.shape[0]
    if m.prefix is not None:
        state = product_state(plan, m.prefix, b)
    else:
        state = zero_state(plan.n_qubits, b, dtype, values.device)
    inputs = [values, *vectors.values()]
    stream = Stream(state, reuse=not (torch.is_grad_enabled() and any(t.requires_grad for t in inputs)))
    for step in plan.steps[plan.prefix :]:
        if isinstance(step, Prepare):
            stream.write(lambda _, step=step: load(stream.state, step, plan.n_qubits, vectors[step.input]))
        else:
            stream.apply(step, m)
    return stream.state


class Stream:
    """A state evolved step by step; with ``reuse`` (no graph recorded) each kernel writes into a
    spare buffer and the buffers swap roles, so a sweep allocates two states instead of one per
    step (at 16+ qubits fresh multi-MiB allocations cost as much in page faults as the arithmetic).
    The tensor a stream starts from is never written: it may be a caller's."""

    def __init__(self, state: torch.Tensor, reuse: bool = True) -> None:
        self.state = state
        self._reuse = reuse
        self._owned = False
        self._spare: torch.Tensor | None = None

    def apply(
        self,
        step: Fused | Dense | Diagonal | Phase | Permutation | Monomials,
        m: Matrices,
        inverse: bool = False,
    ) -> torch.Tensor:
        """Apply one gate step (or undo it) and return the new state."""
        if isinstance(step, Monomials):
            for gate in reversed(step.gates) if inverse else step.gates:
                g = gate.inverse() if inverse else gate
                self.write(lambda out, g=g: apply_monomial(self.state, g, out))
        else:
            self.write(lambda out: apply_step(step, self.state, m, inverse, out))
        return self.state

    def write(self, kernel: Callable[[torch.Tensor | None], torch.Tensor]) -> torch.Tensor:
        """Replace the state by ``kernel(out)``, which may write its result into the spare ``out``
        (None when buffers are not reused) or return a new tensor."""
        spare = None
        if self._reuse:
            spare = self._spare if self._spare is not None else torch.empty_like(self.state)
        result = kernel(spare)
        if spare is not None:
            written = result.data_ptr() == spare.data_ptr()
            self._spare = (self.state if self._owned else None) if written else spare
        self.state, self._owned = result, True
        return result


def apply_step(
    step: Fused | Dense | Diagonal | Phase | Permutation | Monomials,
    state: torch.Tensor,
    m: Matrices,
    inverse: bool = False,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Apply one gate step to ``state`` (or undo it, with ``inverse``).

    ``out`` (a buffer shaped like ``state``, for no-grad sweeps) may receive the result; a kernel
    that cannot write there returns a new tensor.
    """
    if isinstance(step, Fused):
        block = m.blocks[step.index]
        return apply_block(state, block.mH if inverse else block, step.qubit, step.width, out)
    if isinstance(step, Dense):
        matrix = m.others[step.index]
        return _restore(state, (matrix.mH if inverse else matrix) @ _moved(state, step.qubits), step.qubits)
    if isinstance(step, Diagonal):
        phases = m.others[step.index]
        return _diagonal(state, phases.conj() if inverse else phases, step.qubits, out)
    if isinstance(step, Monomials):
        for gate in reversed(step.gates) if inverse else step.gates:
            state = apply_monomial(state, gate.inverse() if inverse else gate)
        return state
    if isinstance(step, Phase):
        factor = m.phases[step.index]
        if inverse:
            if step.perm is None:
                return state * factor.conj() if out is None else torch.mul(state, factor.conj(), out=out)
            return permute(state * factor.conj(), step, inverse=True, out=out)
        if step.perm is None:
            return state * factor if out is None else torch.mul(state, factor, out=out)
        moved = permute(state, step, out=out)
        return moved * factor if out is None else moved.mul_(factor)
    moved = permute(state, step, inverse, out)
    phase = step.inverse_phase if inverse else step.phase
    if phase is None:
        return moved
    table = on_device(step, ("inverse" if inverse else "perm") + "_phase", phase, state.device, state.dtype)
    return moved * table if out is None else moved.mul_(table)


class _Gather(torch.autograd.Function):
    """``state[:, perm]`` whose backward is the gather by the inverse permutation (no scatter).

    `torch.gather` with the index broadcast over rows is several times faster than indexing."""

    @staticmethod
    def forward(ctx: Any, state: torch.Tensor, perm: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.inverse = inverse
        return torch.gather(state, 1, perm.expand(state.shape[0], -1))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        return torch.gather(grad, 1, ctx.inverse.expand(grad.shape[0], -1)), None, None


def permute(
    state: torch.Tensor, step: Permutation | Phase, inverse: bool = False, out: torch.Tensor | None = None
) -> torch.Tensor:
    """The step's gather ``state[:, perm]`` (or its inverse), differentiable by the inverse gather;
    written into ``out`` when given (no graph)."""
    device = state.device
    perm = on_device(step, "perm", step.perm, device)
    back = on_device(step, "inverse", step.inverse_perm, device)
    if inverse:
        perm, back = back, perm
    if out is not None:
        return torch.gather(state, 1, perm.expand(state.shape[0], -1), out=out)
    return _Gather.apply(state, perm, back)


def matrix_grad(step: Step, lam: torch.Tensor, psi: torch.Tensor, m: Matrices) -> torch.Tensor:
    """Torch-convention gradient of ``2·Re<λ|M ψ>`` with respect to the step's matrix ``M`` in ``m``.

    Shaped like that matrix: ``(d, d)`` or ``(B, d, d)`` for blocks, ``(B, d, d)`` for dense gates,
    ``(B, 2**k)`` for a diagonal's phases, ``(B or 1, 2**n)`` for a `Phase` step's factor (a shared
    matrix's gradient is summed over the rows).
    """
    b = lam.shape[0]
    if isinstance(step, Phase):
        moved = psi if step.perm is None else permute(psi, step)
        grad = 2 * lam * moved.conj()
        return grad if m.phases[step.index].shape[0] == b else grad.sum(dim=0, keepdim=True)
    if isinstance(step, Fused):
        shared = m.blocks[step.index].dim() == 2  # type: ignore[union-attr]
        return 2 * block_outer(lam, psi, step.qubit, step.width, shared)
    if isinstance(step, Dense):
        return 2 * _moved(lam, step.qubits) @ _moved(psi, step.qubits).mH
    assert isinstance(step, Diagonal)
    view, axes = grouped(2 * lam * psi.conj(), step.qubits)
    summed = view.sum(dim=[a for a in range(1, view.dim()) if a not in axes.values()])
    rank = {q: r for r, q in enumerate(sorted(step.qubits))}
    return summed.permute(0, *(1 + rank[q] for q in step.qubits)).reshape(b, -1)


def block_outer(lam: torch.Tensor, psi: torch.Tensor, qubit: int, width: int, shared: bool) -> torch.Tensor:
    """``Σ λ ψᴴ`` over the amplitudes a block on ``qubit …`` pairs: ``(B, d, d)``, or summed over the
    rows too (``(d, d)``) for a ``shared`` block. A shared block of a batch beyond cache (2**17
    amplitudes) copies neither state: short rows (``d·rest <= 64``) as one ``(d·rest)²`` product
    whose diagonal blocks sum to the result, longer ones as a batched product summed over the batch;
    within cache one product of the copied, block-major states is faster."""
    b, d = lam.shape[0], 2**width
    lv, pv = lam.view(b, 2**qubit, d, -1), psi.view(b, 2**qubit, d, -1)
    rest = lv.shape[-1]
    if shared and lam.numel() <= _EINSUM_MAX_AMPLITUDES:
        return lv.movedim(2, 0).reshape(d, -1) @ pv.movedim(2, 0).reshape(d, -1).mH
    if shared and d * rest <= _OUTER_ROWS_MAX:
        rows = (lam.view(-1, d * rest).mH @ psi.view(-1, d * rest)).conj()
        return rows.view(d, rest, d, rest).diagonal(dim1=1, dim2=3).sum(dim=-1)
    if shared:
        return (lv.view(-1, d, rest) @ pv.view(-1, d, rest).mH).sum(dim=0)
    if lv.shape[-1] >= _MATMUL_MIN_REST:
        return (lv @ pv.mH).sum(dim=1)
    if lv.shape[-1] == 1:
        return lv.view(b, -1, d).mT @ pv.view(b, -1, d).conj()
    return torch.einsum("baic,bajc->bij", lv, pv.conj())


class _Block(torch.autograd.Function):
    """A fused block applied by `block_kernel`, with a backward of two kernels and no copies of
    autograd's generic matmul backward."""

    @staticmethod
    def forward(ctx: Any, state: torch.Tensor, matrix: torch.Tensor, qubit: int, width: int) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(state, matrix)
        ctx.qubit, ctx.width = qubit, width
        return block_kernel(state, matrix, qubit, width)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:  # type: ignore[override]
        state, matrix = ctx.saved_tensors
        grad_state = block_kernel(grad, matrix.mH, ctx.qubit, ctx.width) if ctx.needs_input_grad[0] else None
        grad_matrix = None
        if ctx.needs_input_grad[1]:
            grad_matrix = block_outer(grad, state, ctx.qubit, ctx.width, matrix.dim() == 2)
        return grad_state, grad_matrix, None, None


def apply_block(
    state: torch.Tensor, matrix: torch.Tensor, qubit: int, width: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``matrix`` (``(d, d)`` or ``(B, d, d)``) on qubits ``qubit …``, differentiable by `_Block`;
    written into ``out`` when given and no graph is recorded."""
    if torch.is_grad_enabled() and (state.requires_grad or matrix.requires_grad):
        return _Block.apply(state, matrix, qubit, width)
    return block_kernel(state, matrix, qubit, width, out)


def block_kernel(
    state: torch.Tensor, matrix: torch.Tensor, qubit: int, width: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``matrix`` (``(d, d)`` or ``(B, d, d)``) on qubits ``qubit …``, into ``out`` (or a new state).

    On the ``(B, 2**q, d, rest)`` view, without moving the state: the last qubits (``rest == 1``)
    are a matmul of the rows by the transpose; short rows (``d·rest <= 32``) a matmul by
    ``matrix ⊗ 1_rest``, which keeps the GEMM wide where a ``d × d`` product per row would be
    tiny; longer rows one broadcast matmul. Short rows of a batch that fits in cache (up to
    2**17 amplitudes) take an einsum into a new state instead, faster there.
    """
    b, d = state.shape[0], 2**width
    if matrix.dim() == 3 and matrix.shape[0] == 1:
        matrix = matrix[0]
    rest = state.shape[1] // (d << qubit)
    shared = matrix.dim() == 2
    if 1 < rest < _MATMUL_MIN_REST and state.numel() <= _EINSUM_MAX_AMPLITUDES:
        spec = "ij,bajc->baic" if shared else "bij,bajc->baic"
        return torch.einsum(spec, matrix, state.view(b, 2**qubit, d, rest)).reshape(b, -1)
    if out is None:
        out = torch.empty_like(state)
    if rest == 1:
        shape = (-1, d) if shared else (b, -1, d)
        torch.matmul(state.view(shape), matrix.mT, out=out.view(shape))
    elif d * rest <= _KRON_MAX:
        eye = torch.eye(rest, dtype=matrix.dtype, device=matrix.device)
        kron = torch.einsum("...ij,kl->...ikjl", matrix, eye).reshape(*matrix.shape[:-2], d * rest, d * rest)
        shape = (-1, d * rest) if shared else (b, -1, d * rest)
        torch.matmul(state.view(shape), kron.mT, out=out.view(shape))
    else:
        shape = (b, 2**qubit, d, rest)
        torch.matmul(matrix if shared else matrix[:, None], state.view(shape), out=out.view(shape))
    return out


def load(state: torch.Tensor, step: Prepare, n_qubits: int, amplitudes: torch.Tensor) -> torch.Tensor:
    """Load ``(B, 2**k)`` amplitudes into the step's qubits (still in ``|0…0>``)."""
    rest = _moved(state, step.qubits)[:, :1, :]
    return _restore(state, amplitudes.to(state.dtype)[:, :, None] * rest, step.qubits)


def amplitude_grad(step: Prepare, lam: torch.Tensor) -> torch.Tensor:
    """Torch-convention gradient of ``2·Re<λ|ψ>`` with respect to the loaded amplitudes.

    Valid when the other qubits are still in ``|0…0>`` (state preparation comes first).
    """
    return 2 * _moved(lam, step.qubits)[:, :, 0]


def grouped(state: torch.Tensor, qubits: Sequence[int]) -> tuple[torch.Tensor, dict[int, int]]:
    """A view of a flat ``(B, 2**n)`` batch with one axis of size 2 per qubit of ``qubits`` and one
    axis per run of other qubits between them (``2k + 2`` dimensions, no copy), and each qubit's axis."""
    n = state.shape[1].bit_length() - 1
    shape, axes, previous = [state.shape[0]], {}, -1
    for q in sorted(qubits):
        shape += [2 ** (q - previous - 1), 2]
        axes[q] = len(shape) - 1
        previous = q
    shape.append(2 ** (n - previous - 1))
    return state.view(shape), axes


def _diagonal(
    state: torch.Tensor, phases: torch.Tensor, qubits: Sequence[int], out: torch.Tensor | None = None
) -> torch.Tensor:
    """Multiply by ``(B, 2**k)`` diagonal phases on ``qubits`` by broadcasting on a strided view
    (into ``out`` when given)."""
    view, axes = grouped(state, qubits)
    rank = sorted(range(len(qubits)), key=lambda j: qubits[j])
    p = phases.reshape((phases.shape[0],) + (2,) * len(qubits)).permute(0, *(1 + j for j in rank))
    shape = [phases.shape[0]] + [1] * (view.dim() - 1)
    for q in qubits:
        shape[axes[q]] = 2
    if out is None:
        return (view * p.reshape(shape)).reshape(state.shape)
    torch.mul(view, p.reshape(shape), out=out.view(view.shape))
    return out


def apply_monomial(state: torch.Tensor, gate: Monomial, out: torch.Tensor | None = None) -> torch.Tensor:
    """``new[s] = phase[s] · old[source[s]]`` on the gate's bits: ``2**k`` strided slice copies into
    ``out`` (or a new state) and no index array (the kernel of wide circuits' `Monomials`)."""
    view, axes = grouped(state, gate.qubits)
    target = torch.empty_like(view) if out is None else out.view(view.shape)
    k = len(gate.qubits)

    def select(s: int) -> tuple[object, ...]:
        index: list[object] = [slice(None)] * view.dim()
        for j, q in enumerate(gate.qubits):
            index[axes[q]] = (s >> (k - 1 - j)) & 1
        return tuple(index)

    for s, source in enumerate(gate.source.tolist()):
        part = view[select(source)]
        phase = 1 if gate.phase is None else complex(gate.phase[s])
        if phase == 1:
            target[select(s)].copy_(part)
        elif out is None:
            target[select(s)].copy_(part * phase)
        else:
            torch.mul(part, phase, out=target[select(s)])
    return target.reshape(state.shape) if out is None else out


def _moved(state: torch.Tensor, qubits: Sequence[int]) -> torch.Tensor:
    """``(B, 2**k, rest)``: the state with ``qubits`` moved to the front."""
    b, k = state.shape[0], len(qubits)
    n = state.shape[1].bit_length() - 1
    t = state.view((b,) + (2,) * n)
    return t.movedim([1 + q for q in qubits], list(range(1, k + 1))).reshape(b, 2**k, -1)


def _restore(like: torch.Tensor, moved: torch.Tensor, qubits: Sequence[int]) -> torch.Tensor:
    """Undo `_moved` for a result shaped like ``moved`` (batch size may differ from ``like``'s)."""
    b, k = moved.shape[0], len(qubits)
    n = like.shape[1].bit_length() - 1
    t = moved.reshape((b,) + (2,) * n)
    return t.movedim(list(range(1, k + 1)), [1 + q for q in qubits]).reshape(b, -1)


_MULTINOMIAL_MAX_CATEGORIES = 2**24


def sample(probs: torch.Tensor, shots: int, generator: torch.Generator) -> torch.Tensor:
    """``(B, shots)`` basis-state indices drawn from each row of ``probs``.

    Up to 2**24 outcomes (24 qubits) `torch.multinomial` draws them; beyond its category limit, by
    inverse CDF: a float64 cumulative sum searched with sorted uniform draws.
    """
    if probs.shape[1] <= _MULTINOMIAL_MAX_CATEGORIES:
        return torch.multinomial(probs, shots, replacement=True, generator=generator)
    cdf = torch.cumsum(probs.double(), dim=1)
    u = torch.rand(probs.shape[0], shots, generator=generator, dtype=torch.float64, device=probs.device)
    draws = torch.searchsorted(cdf, u * cdf[:, -1:])
    return draws.clamp_(max=probs.shape[1] - 1)


def shot_expectations(
    state: torch.Tensor,
    n_qubits: int,
    observables: Sequence[Observable],
    shots: int,
    generator: torch.Generator,
) -> np.ndarray:
    """``(B, n_obs)`` expectation estimates from ``shots`` measurements per basis setting."""
    terms = list(dict.fromkeys(t.paulis for obs in observables for t in obs.terms if t.paulis))
    estimates = torch.zeros(state.shape[0], len(terms), dtype=torch.float64, device=state.device)
    for setting, members in measurement_settings(terms):
        rotated = state
        for q, rotation in basis_rotations(setting):
            r = torch.tensor(rotation, dtype=state.dtype, device=state.device)
            rotated = apply_block(rotated, r, q, 1)
        draws = sample(rotated.real**2 + rotated.imag**2, shots, generator)
        for t in members:
            parity = torch.zeros_like(draws)
            for q, _ in terms[t]:
                parity ^= (draws >> (n_qubits - 1 - q)) & 1
            estimates[:, t] = (1 - 2 * parity).to(torch.float64).mean(dim=1)
    values = estimates.cpu().numpy()
    index = {paulis: t for t, paulis in enumerate(terms)}
    out = np.zeros((state.shape[0], len(observables)))
    for j, obs in enumerate(observables):
        for term in obs.terms:
            out[:, j] += term.coeff * (values[:, index[term.paulis]] if term.paulis else 1.0)
    return out
