"""Any backend inside autograd: a `torch.autograd.Function` around `Backend.run` and `Backend.vjp`.

The forward pass sends the batch to the backend (NumPy in, NumPy out, on the CPU); the backward
pass asks the backend for the vector–Jacobian product with a gradient method it declares
(adjoint, parameter-shift, SPSA or finite differences). With shots, parameter-shift and SPSA give
unbiased gradient estimates, so stochastic training works on samplers and hardware alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

import torch
from qstore.core.backend import Backend
from qstore.core.circuit import Circuit
from qstore.core.observables import Observable

__all__ = ["BackendCall", "backend_expectations"]


@attrs.define
class BackendCall:
    """How to run one circuit on a backend: observables, shots, gradient method and seeding.

    With a ``seed``, call ``k`` uses ``seed + k`` so repeated forward passes draw fresh shots
    reproducibly; without one, every call is freshly random.
    """

    backend: Backend
    circuit: Circuit
    observables: tuple[Observable, ...]
    method: str
    shots: int | None = None
    seed: int | None = None
    calls: int = 0

    def next_seed(self) -> int | None:
        """The seed of the next backend call."""
        self.calls += 1
        return None if self.seed is None else self.seed + self.calls


def _bindings(circuit: Circuit, values: torch.Tensor, vectors: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    array = values.detach().cpu().double().numpy()
    out: dict[str, Any] = {name: array[:, i] for i, name in enumerate(circuit.symbols)}
    out.update({name: v.detach().cpu().numpy() for name, v in vectors.items()})
    return out


class _BackendExpectations(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, call: BackendCall, names: tuple[str, ...], values: torch.Tensor, *vectors: torch.Tensor
    ) -> torch.Tensor:
        bindings = _bindings(call.circuit, values, dict(zip(names, vectors, strict=True)))
        result = call.backend.run(call.circuit, bindings, call.observables, call.shots, seed=call.next_seed())
        assert result.expectations is not None
        ctx.call, ctx.bindings = call, bindings
        ctx.save_for_backward(values)
        return torch.as_tensor(result.expectations, dtype=values.dtype, device=values.device)

    @staticmethod
    def backward(ctx: Any, cotangent: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        (values,) = ctx.saved_tensors
        call: BackendCall = ctx.call
        symbols = call.circuit.symbols
        grads = call.backend.vjp(
            call.circuit,
            ctx.bindings,
            call.observables,
            cotangent.detach().cpu().double().numpy(),
            method=call.method,
            shots=call.shots,
            seed=call.next_seed(),
        )
        stacked = np.stack([grads[s] for s in symbols], axis=1) if symbols else np.zeros(values.shape)
        values_grad = torch.as_tensor(stacked, dtype=values.dtype, device=values.device)
        return (None, None, values_grad, *([None] * (len(ctx.needs_input_grad) - 3)))


def backend_expectations(
    call: BackendCall, values: torch.Tensor, vectors: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """``(B, n_obs)`` expectations from ``call.backend``, differentiable in ``values`` ``(B, S)``.

    ``values`` are in the order of ``call.circuit.symbols``. State-preparation ``vectors`` are
    inputs only: gradients with respect to them are not available through a generic backend.
    """
    names = tuple(vectors)
    return _BackendExpectations.apply(call, names, values, *(vectors[n] for n in names))
