"""Templates inside the torch layer: the weight tensor has the template's shape and flat order."""

from __future__ import annotations

import numpy as np
import torch

from qstore.core import Circuit, NumpyBackend, readouts
from qstore.core.templates import hardware_efficient, strongly_entangling_layers
from qstore.torch import QuantumLayer


def test_strongly_entangling_template_in_the_torch_layer_matches_the_reference_engine() -> None:
    t = strongly_entangling_layers(3, n_layers=2)
    encoding = Circuit(3).ry("x_0", 0).ry("x_1", 1).ry("x_2", 2)
    layer = QuantumLayer(circuit=t.layer(readouts(3, "ZX"), encoding, ["x_0", "x_1", "x_2"])).double()
    assert layer.theta.shape == (2, 3, 3)
    x = torch.randn(5, 3, dtype=torch.float64)
    out = layer(x)
    bindings = {f"x_{i}": x[:, i].numpy() for i in range(3)}
    bindings.update(t.bindings(layer.theta.detach().numpy()))
    want = NumpyBackend().run(layer.layer_circuit.circuit, bindings, readouts(3, "ZX")).expectations
    np.testing.assert_allclose(out.detach().numpy(), want, atol=1e-12)
    out.sum().backward()
    assert layer.theta.grad is not None and layer.theta.grad.shape == (2, 3, 3)


def test_hardware_efficient_template_trains_in_the_torch_layer() -> None:
    torch.manual_seed(0)
    t = hardware_efficient(2, reps=1)
    layer = QuantumLayer(circuit=t.layer(["Z0 Z1"], Circuit(2).rx("u", 0).rx("v", 1), ["u", "v"])).double()
    x = torch.tensor([[0.1, 0.2], [1.0, -0.5]], dtype=torch.float64)
    target = torch.tensor([[0.8], [-0.8]], dtype=torch.float64)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((layer(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
