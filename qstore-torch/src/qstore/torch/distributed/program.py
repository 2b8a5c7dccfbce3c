"""The core plan lowered for a sharded state: ops with the qubits they need local, run and undone.

`lower` turns the steps of `qstore.core.plan.Plan` into ops: a `Fused` block, a `Dense` gate and a
`Prepare` need all their qubits local; a `Diagonal` needs none; a `Monomials` run (plans compiled with ``per_gate=True``) becomes its
fixed gates, each needing local only the qubits it flips (a CNOT's control or a CZ stays global).
`forward` runs the ops with the exchanges of `qstore.torch.distributed.layout.schedule`;
`adjoint_grads` walks them back on ``|ψ>`` and ``|λ>`` (two shards, no autograd graph) and sums the
per-step matrix cotangents over the ranks with one ``all_reduce``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import attrs
import numpy as np

import torch
from qstore.core.errors import GradientError
from qstore.core.plan import Dense, Diagonal, Fused, Monomials, Plan, Prepare, Step
from qstore.torch.distributed.layout import Schedule, initial_layout, schedule
from qstore.torch.distributed.shards import Sharded
from qstore.torch.engine import Matrices, on_device

__all__ = ["Op", "adjoint_grads", "forward", "lower", "plan_schedule"]


@attrs.frozen(eq=False)
class Op:
    """One unit of the sharded sweep: a plan step, or one fixed gate of a `Monomials` step."""

    step: Step
    qubits: tuple[int, ...]
    needs: frozenset[int]
    fixed: np.ndarray | None = None


def _flipped(matrix: np.ndarray, qubits: tuple[int, ...]) -> frozenset[int]:
    """Qubits whose bit a permutation-with-phase matrix changes."""
    cols = np.argmax(np.abs(matrix), axis=1)
    rows = np.arange(len(cols))
    k = len(qubits)
    return frozenset(q for j, q in enumerate(qubits) if np.any(((rows ^ cols) >> (k - 1 - j)) & 1))


@functools.lru_cache(maxsize=64)
def lower(plan: Plan) -> tuple[Op, ...]:
    """The plan's steps as sharded ops (cached per plan)."""
    ops: list[Op] = []
    for step in plan.steps:
        if isinstance(step, Fused):
            qubits = tuple(range(step.qubit, step.qubit + step.width))
            ops.append(Op(step, qubits, frozenset(qubits)))
        elif isinstance(step, Dense | Prepare):
            ops.append(Op(step, step.qubits, frozenset(step.qubits)))
        elif isinstance(step, Diagonal):
            ops.append(Op(step, step.qubits, frozenset()))
        else:
            assert isinstance(step, Monomials), "the sharded engine runs plans compiled with per_gate=True"
            for gate in step.gates:
                matrix = gate.matrix()
                ops.append(Op(step, gate.qubits, _flipped(matrix, gate.qubits), matrix))
    return tuple(ops)


def plan_schedule(plan: Plan, n_global: int) -> Schedule:
    """The forward exchange schedule of ``plan`` on ``2**n_global`` ranks (from ``|0…0>``)."""
    needs = [op.needs for op in lower(plan)]
    return schedule(needs, initial_layout(needs, plan.n_qubits, n_global), n_global)


def _apply(sh: Sharded, op: Op, m: Matrices, tensor: torch.Tensor, inverse: bool) -> torch.Tensor:
    step = op.step
    if op.fixed is not None:
        name, fixed = ("inverse", op.fixed.conj().T) if inverse else ("fixed", op.fixed)
        matrix = on_device(op, name, fixed, tensor.device, tensor.dtype)
        return sh.apply(matrix, op.qubits, tensor)
    if isinstance(step, Diagonal):
        phases = m.others[step.index]
        return sh.apply_diagonal(phases.conj() if inverse else phases, op.qubits, tensor)
    matrix = m.blocks[step.index] if isinstance(step, Fused) else m.others[step.index]
    return sh.apply(matrix.mH if inverse else matrix, op.qubits, tensor)


def forward(
    plan: Plan, m: Matrices, vectors: Mapping[str, torch.Tensor], sh: Sharded, plan_: Schedule
) -> Sharded:
    """Run every op on ``sh`` (``|0…0>`` in the schedule's start layout) with its exchanges."""
    for i, op in enumerate(lower(plan)):
        exchange = plan_.before.get(i)
        if exchange is not None:
            sh.exchange(exchange)
        if isinstance(op.step, Prepare):
            sh.tensor = sh.load(vectors[op.step.input], op.qubits)
        else:
            sh.tensor = _apply(sh, op, m, sh.tensor, inverse=False)
    return sh


def adjoint_grads(plan: Plan, m: Matrices, psi: Sharded, lam: torch.Tensor) -> tuple[list, list]:
    """Cotangents of every trainable step matrix, summed over ranks: ``(blocks, others)`` lists.

    ``psi`` is the final state (consumed); ``lam`` is ``Σ_o cotangent_o · O_o|ψ>`` in its layout.
    """
    ops = lower(plan)
    last_prep = plan.last_prepare
    if any(step.trainable for step in plan.steps[: max(last_prep, 0)]):
        raise GradientError(
            "adjoint differentiation needs state preparation before every parametric gate; "
            "use method='parameter-shift'"
        )
    back = schedule([op.needs for op in reversed(ops)], psi.pos, psi.k)
    blocks: list[torch.Tensor | None] = [None] * len(m.blocks)
    others: list[torch.Tensor | None] = [None] * len(m.others)
    for j, op in enumerate(reversed(ops)):
        exchange = back.before.get(j)
        if exchange is not None:
            psi.exchange(exchange, [psi.tensor, lam])
        step = op.step
        if isinstance(step, Prepare):
            continue
        psi.tensor = _apply(psi, op, m, psi.tensor, inverse=True)
        if step.trainable:
            if isinstance(step, Diagonal):
                others[step.index] = psi.diagonal_grad(lam, psi.tensor, op.qubits)
            elif isinstance(step, Fused):
                blocks[step.index] = psi.matrix_grad(lam, psi.tensor, op.qubits)
            else:
                others[step.index] = psi.matrix_grad(lam, psi.tensor, op.qubits)
        lam = _apply(psi, op, m, lam, inverse=True)
    local = [g for g in blocks + others if g is not None]
    if local:
        flat = psi.comm.all_reduce(torch.cat([g.reshape(g.shape[0], -1) for g in local], dim=1))
        sizes = [g[0].numel() for g in local]
        summed = iter(torch.split(flat, sizes, dim=1))
        blocks = [None if g is None else next(summed).reshape(g.shape) for g in blocks]
        others = [None if g is None else next(summed).reshape(g.shape) for g in others]
    return blocks, others
