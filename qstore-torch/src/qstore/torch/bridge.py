"""Any backend inside autograd: a `torch.autograd.Function` around the core `BackendCall`.

The forward pass sends the batch to the backend (NumPy in, NumPy out, on the CPU); the backward
pass asks the backend for the vector–Jacobian product with the layer's gradient method (adjoint,
backprop, parameter-shift, SPSA or finite differences). With shots, parameter-shift and SPSA give
unbiased gradient estimates, so stochastic training works on samplers and hardware alike.
"""

from __future__ import annotations

from typing import Any

import torch
from qstore.core.adapter import BackendCall

__all__ = ["backend_expectations"]


def _numpy(t: torch.Tensor) -> Any:
    return t.detach().cpu().double().numpy()


class _BackendExpectations(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, call: BackendCall, features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = call.forward(_numpy(features), _numpy(weights))
        ctx.call = call
        ctx.save_for_backward(features, weights)
        return torch.as_tensor(out, dtype=weights.dtype, device=weights.device)

    @staticmethod
    def backward(ctx: Any, cotangent: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        features, weights = ctx.saved_tensors
        d_features, d_weights = ctx.call.backward(
            _numpy(features), _numpy(weights), _numpy(cotangent), input_grads=ctx.needs_input_grad[1]
        )
        as_tensor = {"dtype": weights.dtype, "device": weights.device}
        grad_features = None if d_features is None else torch.as_tensor(d_features, **as_tensor)
        return None, grad_features, torch.as_tensor(d_weights, **as_tensor).reshape(weights.shape)


def backend_expectations(call: BackendCall, features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``(B, n_outputs)`` expectations from ``call``'s backend, differentiable in features and weights.

    Amplitude-encoded features have no gradient through a generic backend (state preparation has
    no shift rule); the layer refuses them when they require one.
    """
    return _BackendExpectations.apply(call, features, weights)
