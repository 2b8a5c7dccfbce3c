"""The torch statevector engine: torch kernels for the steps of a core `qstore.core.plan.Plan`.

States are ``(B, 2**n)`` complex tensors (complex64 or complex128) on any device, batch first,
qubit 0 the most significant bit — the layout of `qstore.core.statevector`. The plan decides what
fuses; this module only applies each kind of step (and undoes it, and gives the cotangent of its
matrix for `qstore.torch.adjoint`). Everything here is differentiable by autograd.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import NamedTuple

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
    "apply_step",
    "grouped",
    "matrices",
    "matrix_grad",
    "on_device",
    "real_dtype",
    "sample",
    "shot_expectations",
    "simulate",
    "zero_state",
]

_MATMUL_MIN_REST = 32
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
    """The batch's step matrices: one per `Fused` block (``(d, d)`` when not trainable), one per
    `Dense` / `Diagonal` step, and the
    ``(B, 2**n)`` phase factor of each `Phase` step."""

    blocks: tuple[torch.Tensor, ...]
    others: tuple[torch.Tensor, ...]
    phases: tuple[torch.Tensor, ...]


def matrices(plan: Plan, values: torch.Tensor, dtype: torch.dtype) -> Matrices:
    """Every step matrix for the batch, differentiable in ``values`` ``(B, S)``."""
    b, device, rdt = values.shape[0], values.device, values.dtype
    const = on_device(plan, "const", plan.angle_const, device, rdt)
    if plan.symbols:
        angles = torch.addmm(const, values, on_device(plan, "map", plan.angle_map, device, rdt))
    else:
        angles = const.expand(b, -1)
    blocks: list[torch.Tensor] = []
    if len(plan.chains):
        parts = [gate_matrices(name, angles[:, cols], dtype) for name, cols in plan.one_qubit]
        eye = torch.eye(2, dtype=dtype, device=device).expand(b, 1, 2, 2)
        table = torch.cat([p.expand(b, *p.shape[1:]) for p in parts] + [eye], dim=1)
        chains = on_device(plan, "chains", plan.chains, device)
        fused = table[:, chains[:, 0]]
        for level in range(1, plan.chains.shape[1]):
            fused = table[:, chains[:, level]] @ fused
        for step in plan.steps:
            if isinstance(step, Fused):
                block = fused[:, step.chains[0]]
                for chain in step.chains[1:]:
                    d = block.shape[-1] * 2
                    block = torch.einsum("bij,bkl->bikjl", block, fused[:, chain]).reshape(b, d, d)
                blocks.append(block if step.trainable else block[0])
    others = []
    for name, cols, diagonal in plan.others:
        m = gate_matrices(name, angles[:, cols], dtype).expand(b, -1, -1)
        others.append(torch.diagonal(m, dim1=-2, dim2=-1) if diagonal else m)
    phases = [_phase_factor(step, angles, dtype, plan.n_qubits) for step in plan.phases]
    return Matrices(tuple(blocks), tuple(others), tuple(phases))


def _phase_factor(step: Phase, angles: torch.Tensor, dtype: torch.dtype, n: int) -> torch.Tensor:
    """``(B, 2**n)`` factor ``e^{iφ}`` of a `Phase` step: the outer product of its terms' small tables."""
    b, device, rdt = angles.shape[0], angles.device, angles.dtype
    factor = None
    for k, term in enumerate(step.terms):
        cols = on_device(step, f"cols{k}", term.cols, device)
        phi = angles[:, cols] @ on_device(step, f"weights{k}", term.weights, device, rdt)
        phi = phi + on_device(step, f"const{k}", term.const, device, rdt)
        table = torch.polar(torch.ones_like(phi), phi).to(dtype)
        view = table.reshape((b, *(2 if q in term.qubits else 1 for q in range(n))))
        factor = view if factor is None else factor * view
    assert factor is not None
    return factor.expand((b,) + (2,) * n).reshape(b, -1)


def zero_state(n_qubits: int, batch_size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``|0…0>`` for every row of the batch."""
    state = torch.zeros(batch_size, 2**n_qubits, dtype=dtype, device=device)
    state[:, 0] = 1
    return state


def simulate(
    plan: Plan, values: torch.Tensor, vectors: Mapping[str, torch.Tensor], dtype: torch.dtype
) -> torch.Tensor:
    """Final ``(B, 2**n)`` states for symbol ``values`` ``(B, S)`` and state-preparation ``vectors``."""
    m = matrices(plan, values, dtype)
    state = zero_state(plan.n_qubits, values.shape[0], dtype, values.device)
    for step in plan.steps:
        if isinstance(step, Prepare):
            state = load(state, step, plan.n_qubits, vectors[step.input])
        else:
            state = apply_step(step, state, m)
    return state


def apply_step(
    step: Fused | Dense | Diagonal | Phase | Permutation | Monomials,
    state: torch.Tensor,
    m: Matrices,
    inverse: bool = False,
) -> torch.Tensor:
    """Apply one gate step to ``state`` (or undo it, with ``inverse``)."""
    if isinstance(step, Fused):
        block = m.blocks[step.index]
        return apply_block(state, block.mH if inverse else block, step.qubit, step.width)
    if isinstance(step, Dense):
        matrix = m.others[step.index]
        return _restore(state, (matrix.mH if inverse else matrix) @ _moved(state, step.qubits), step.qubits)
    if isinstance(step, Diagonal):
        phases = m.others[step.index]
        return _diagonal(state, phases.conj() if inverse else phases, step.qubits)
    if isinstance(step, Monomials):
        for gate in reversed(step.gates) if inverse else step.gates:
            state = apply_monomial(state, gate.inverse() if inverse else gate)
        return state
    if isinstance(step, Phase):
        factor = m.phases[step.index]
        if inverse:
            out = state * factor.conj()
            return (
                out
                if step.inverse_perm is None
                else out[:, on_device(step, "inverse", step.inverse_perm, out.device)]
            )
        out = state if step.perm is None else state[:, on_device(step, "perm", step.perm, state.device)]
        return out * factor
    perm, phase = (step.inverse_perm, step.inverse_phase) if inverse else (step.perm, step.phase)
    name = "inverse" if inverse else "perm"
    out = state[:, on_device(step, name, perm, state.device)]
    if phase is not None:
        out = out * on_device(step, name + "_phase", phase, state.device, state.dtype)
    return out


def matrix_grad(step: Step, lam: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """Torch-convention gradient of ``2·Re<λ|M ψ>`` with respect to the step's matrix ``M``.

    ``(B, d, d)`` for blocks and dense gates, ``(B, 2**k)`` for a diagonal's phases, ``(B, 2**n)``
    for a `Phase` step's factor.
    """
    b = lam.shape[0]
    if isinstance(step, Phase):
        moved = psi if step.perm is None else psi[:, on_device(step, "perm", step.perm, psi.device)]
        return 2 * lam * moved.conj()
    if isinstance(step, Fused):
        d = 2**step.width
        lv, pv = lam.view(b, 2**step.qubit, d, -1), psi.view(b, 2**step.qubit, d, -1)
        if lv.shape[-1] >= _MATMUL_MIN_REST:
            return 2 * (lv @ pv.mH).sum(dim=1)
        if lv.shape[-1] == 1:
            return 2 * lv.view(b, -1, d).mT @ pv.view(b, -1, d).conj()
        return 2 * torch.einsum("baic,bajc->bij", lv, pv.conj())
    if isinstance(step, Dense):
        return 2 * _moved(lam, step.qubits) @ _moved(psi, step.qubits).mH
    assert isinstance(step, Diagonal)
    view, axes = grouped(2 * lam * psi.conj(), step.qubits)
    summed = view.sum(dim=[a for a in range(1, view.dim()) if a not in axes.values()])
    rank = {q: r for r, q in enumerate(sorted(step.qubits))}
    return summed.permute(0, *(1 + rank[q] for q in step.qubits)).reshape(b, -1)


def apply_block(state: torch.Tensor, matrix: torch.Tensor, qubit: int, width: int) -> torch.Tensor:
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
        rows = view.reshape(-1, 2**width) if matrix.dim() == 2 else view.view(b, -1, 2**width)
        return torch.matmul(rows, matrix.mT).reshape(b, -1)
    if matrix.dim() == 2:
        return torch.einsum("ij,bajc->baic", matrix, view).reshape(b, -1)
    return torch.einsum("bij,bajc->baic", matrix, view).reshape(b, -1)


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


def _diagonal(state: torch.Tensor, phases: torch.Tensor, qubits: Sequence[int]) -> torch.Tensor:
    """Multiply by ``(B, 2**k)`` diagonal phases on ``qubits`` by broadcasting on a strided view."""
    view, axes = grouped(state, qubits)
    rank = sorted(range(len(qubits)), key=lambda j: qubits[j])
    p = phases.reshape((phases.shape[0],) + (2,) * len(qubits)).permute(0, *(1 + j for j in rank))
    shape = [phases.shape[0]] + [1] * (view.dim() - 1)
    for q in qubits:
        shape[axes[q]] = 2
    return (view * p.reshape(shape)).reshape(state.shape)


def apply_monomial(state: torch.Tensor, gate: Monomial) -> torch.Tensor:
    """``new[s] = phase[s] · old[source[s]]`` on the gate's bits: ``2**k`` strided slice copies, one
    output state and no index array (the kernel of wide circuits' `Monomials`)."""
    view, axes = grouped(state, gate.qubits)
    out = torch.empty_like(view)
    k = len(gate.qubits)

    def select(s: int) -> tuple[object, ...]:
        index: list[object] = [slice(None)] * view.dim()
        for j, q in enumerate(gate.qubits):
            index[axes[q]] = (s >> (k - 1 - j)) & 1
        return tuple(index)

    for s, source in enumerate(gate.source.tolist()):
        part = view[select(source)]
        if gate.phase is not None and gate.phase[s] != 1:
            part = part * complex(gate.phase[s])
        out[select(s)] = part
    return out.reshape(state.shape)


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
