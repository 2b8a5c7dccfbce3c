"""A QuantumLayer on the torch.distributed backend trains under 2 gloo ranks like the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstore.torch import QuantumLayer
from qstore.torch.distributed import spawn

STEPS = 3


def _train(layer: QuantumLayer, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[np.ndarray]]:
    """Plain SGD on the MSE of the layer's outputs; the loss and weight gradient of every step."""
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.2)
    losses, grads = [], []
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(layer(x), y)
        loss.backward()
        losses.append(float(loss))
        grads.append(layer.theta.grad.detach().numpy().copy())
        optimizer.step()
    return losses, grads


def _layer_trains(rank: int, world: int) -> None:
    generator = torch.Generator().manual_seed(7)
    x = torch.rand(5, 7, generator=generator, dtype=torch.float64) * np.pi
    y = torch.rand(5, 7, generator=generator, dtype=torch.float64) * 2 - 1
    theta = torch.rand(2, 7, 2, generator=generator, dtype=torch.float64) * 2 * np.pi
    layers = {}
    for name, options, method in (
        ("torch.distributed", {"precision": "double"}, "adjoint"),
        ("numpy", None, "parameter-shift"),
    ):
        layer = QuantumLayer(7, depth=2, backend=name, backend_options=options, diff_method=method).double()
        with torch.no_grad():
            layer.theta.copy_(theta)
        layers[name] = layer
    sharded_losses, sharded_grads = _train(layers["torch.distributed"], x, y)
    losses, grads = _train(layers["numpy"], x, y)
    np.testing.assert_allclose(sharded_losses, losses, atol=1e-10)
    for got, want in zip(sharded_grads, grads, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-10)
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(
        layers["torch.distributed"].theta.detach().numpy(), layers["numpy"].theta.detach().numpy(), atol=1e-10
    )


@pytest.mark.slow
def test_quantum_layer_trains_on_two_ranks_like_the_numpy_reference() -> None:
    spawn(_layer_trains, 2, timeout=300)
