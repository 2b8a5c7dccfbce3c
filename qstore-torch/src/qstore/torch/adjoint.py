"""Adjoint differentiation as a `torch.autograd.Function`: O(state) memory for any circuit depth.

The forward pass keeps only the final state. The backward pass starts from
``|λ> = Σ_o cotangent_o · O_o|ψ>`` and walks the plan's steps in reverse with the core's shared
`qstore.core.plan_adjoint.reverse_sweep` (torch kernels; ``ψ`` and ``λ`` each alternate between two
buffers, see `qstore.torch.engine.Stream`), so a parametric step's matrix ``M`` gets
the cotangent ``2·Σ λ ψ_beforeᴴ`` (torch's convention for complex tensors). Those small per-step cotangents
are pushed through the angle → matrix construction by autograd, which is cheap: it touches
``O(B × gates)`` numbers, never a statevector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import torch
from qstore.core.errors import GradientError
from qstore.core.plan import Plan, Prepare
from qstore.core.plan_adjoint import reverse_sweep
from qstore.core.plan_readout import Readout
from qstore.torch import readout as ro
from qstore.torch.engine import Stream, amplitude_grad, matrices, matrix_grad, simulate

__all__ = ["adjoint_expectations", "adjoint_sweep"]


def adjoint_sweep(
    plan: Plan,
    readout: Readout,
    values: torch.Tensor,
    state: torch.Tensor,
    cotangent: torch.Tensor,
    dtype: torch.dtype,
    vector_grads: bool,
    shared: np.ndarray | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Gradients of ``Σ cotangent · expectations`` for ``values`` ``(B, S)`` and (optionally) the
    amplitudes of state preparations, keyed by input name.

    ``state`` is the final state of the forward pass. Amplitude gradients need a single state
    preparation before every gate (as in amplitude encoding). ``shared`` marks symbols equal in
    every row (see `qstore.torch.engine.matrices`).
    """
    last_prep = plan.last_prepare
    if any(step.trainable for step in plan.steps[: max(last_prep, 0)]):
        raise GradientError(
            "adjoint differentiation needs state preparation before every parametric gate; "
            "use diff_method='backprop' or 'parameter-shift'"
        )
    if vector_grads and (last_prep != 0 or sum(isinstance(s, Prepare) for s in plan.steps) != 1):
        raise GradientError(
            "adjoint gradients for amplitude inputs need one state preparation, before every gate; "
            "use diff_method='backprop'"
        )
    with torch.enable_grad():
        leaf = values.detach().requires_grad_(True)
        m = matrices(plan, leaf, dtype, shared)
    with torch.no_grad():
        psi = Stream(state.detach())
        lam = Stream(ro.weighted_apply(readout, psi.state, cotangent))
        sweep = reverse_sweep(
            plan,
            psi.state,
            lam.state,
            lambda step, x, inverse: (psi if x is psi.state else lam).apply(step, m, inverse),
            lambda step, lam_at, psi_at: matrix_grad(step, lam_at, psi_at, m),
        )
    prepares = {s.input: s for s in plan.steps if isinstance(s, Prepare)}
    vector_out = (
        {name: amplitude_grad(prepares[name], lam_at) for name, lam_at in sweep.prepared.items()}
        if vector_grads
        else {}
    )
    outputs, grads = [], []
    for matrices_of, grads_of in (
        (m.blocks, sweep.blocks),
        (m.others, sweep.others),
        (m.phases, sweep.phases),
    ):
        for index, g in grads_of.items():
            if matrices_of[index].requires_grad:
                outputs.append(matrices_of[index])
                grads.append(g)
    values_grad = None
    if outputs:
        (values_grad,) = torch.autograd.grad(outputs, [leaf], grads, allow_unused=True)
    if values_grad is None:
        values_grad = torch.zeros_like(values)
    return values_grad, vector_out


class _AdjointExpectations(torch.autograd.Function):
    """Expectations whose backward pass is the adjoint sweep."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        plan: Plan,
        readout: Readout,
        dtype: torch.dtype,
        shared: np.ndarray | None,
        names: tuple[str, ...],
        values: torch.Tensor,
        *vectors: torch.Tensor,
    ) -> torch.Tensor:
        bound = dict(zip(names, vectors, strict=True))
        state = simulate(plan, values, bound, dtype, shared)
        ctx.plan, ctx.readout, ctx.dtype, ctx.shared, ctx.names = plan, readout, dtype, shared, names
        ctx.save_for_backward(values, state, *vectors)
        return ro.expectations(readout, state)

    @staticmethod
    def backward(ctx: Any, cotangent: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        values, state, *vectors = ctx.saved_tensors
        want_vectors = any(ctx.needs_input_grad[6:])
        values_grad, vector_grads = adjoint_sweep(
            ctx.plan, ctx.readout, values, state, cotangent, ctx.dtype, want_vectors, ctx.shared
        )
        vector_out = []
        for name, vec in zip(ctx.names, vectors, strict=True):
            g = vector_grads.get(name)
            vector_out.append(None if g is None else (g if vec.is_complex() else g.real).to(vec.dtype))
        return (None, None, None, None, None, values_grad if ctx.needs_input_grad[5] else None, *vector_out)


def adjoint_expectations(
    plan: Plan,
    readout: Readout,
    values: torch.Tensor,
    vectors: Mapping[str, torch.Tensor],
    dtype: torch.dtype,
    shared: np.ndarray | None = None,
) -> torch.Tensor:
    """``(B, n_obs)`` expectations, differentiable in ``values`` and ``vectors`` by the adjoint method."""
    names = tuple(vectors)
    return _AdjointExpectations.apply(
        plan, readout, dtype, shared, names, values, *(vectors[n] for n in names)
    )
