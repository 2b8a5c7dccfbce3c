"""Quantum-first torch layers: shapes, closed forms, gradients, Sequential use and state_dict saving."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from qstore.core.errors import BindingError
from qstore.core.quantum_first import class_probabilities
from qstore.torch.layer import QuantumLayer
from qstore.torch.quantum_first import (
    DecodingLayer,
    EncodingLayer,
    QuantumFeatureExtractor,
    QuantumNonlinearity,
    QuantumPooling,
    QuantumReadout,
)


def _model() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        EncodingLayer(4, pad=True),
        QuantumFeatureExtractor(4, depth=1),
        DecodingLayer(12, units=4),
        QuantumNonlinearity(4),
        QuantumPooling(4, keep=2),
        QuantumReadout(3, n_qubits=2),
    ).double()


def test_shapes_and_probabilities_of_the_quantum_first_stack() -> None:
    model = _model()
    x = torch.rand(6, 3, dtype=torch.float64)
    widths = []
    h = x
    for layer in model:
        h = layer(h)
        widths.append(h.shape[1])
    assert widths == [4, 12, 4, 4, 2, 3]
    assert torch.allclose(h.sum(dim=1), torch.ones(6, dtype=torch.float64))
    assert bool((h >= 0).all())


def test_readout_matches_the_core_reference() -> None:
    layer = QuantumReadout(5, n_qubits=3, depth=1).double()
    x = torch.rand(4, 3, dtype=torch.float64)
    e = QuantumLayer.forward(layer, x).detach().numpy()  # the Z-string expectations before the readout
    assert np.allclose(layer(x).detach().numpy(), class_probabilities(e, 5), atol=1e-12)


def test_nonlinearity_closed_form_and_strength_gradient() -> None:
    layer = QuantumNonlinearity(3, strength=0.3).double()
    x = torch.tensor([[0.3, 1.0, -2.0], [0.0, 2.5, 0.4]], dtype=torch.float64)
    out = layer(x)
    g = 0.3
    assert torch.allclose(out, g + (1 - g) * torch.cos(x))
    out.sum().backward()
    s = torch.sigmoid(layer.raw_strength.detach())
    want = ((1 - torch.cos(x)) * s * (1 - s)).sum(dim=0)  # d/draw of γ + (1-γ)cos x, γ = sigmoid(raw)
    assert torch.allclose(layer.raw_strength.grad, want)


def test_phase_damping_nonlinearity_reads_x() -> None:
    layer = QuantumNonlinearity(2, "phase_damping", strength=0.36).double()
    x = torch.tensor([[0.5, -1.2]], dtype=torch.float64)
    assert torch.allclose(layer(x), 0.8 * torch.sin(x))
    assert layer.n_outputs == 2


def test_gradients_through_the_stack_match_finite_differences() -> None:
    model = _model()
    x = torch.rand(3, 3, dtype=torch.float64)
    params = [p for p in model.parameters() if p.numel()]

    def loss() -> torch.Tensor:
        return model(x).log()[:, 1].sum()

    grads = torch.autograd.grad(loss(), params)
    torch.set_grad_enabled(False)
    h = 1e-6
    for p, g in zip(params, grads, strict=True):
        flat = p.data.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 3)):
            old = float(flat[i])
            flat[i] = old + h
            up = float(loss())
            flat[i] = old - h
            down = float(loss())
            flat[i] = old
            assert math.isclose(float(g.view(-1)[i]), (up - down) / (2 * h), abs_tol=1e-6)
    torch.set_grad_enabled(True)


def test_state_dict_round_trip_gives_identical_outputs() -> None:
    model = _model()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    other = _model()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.1)
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.rand(2, 3, dtype=torch.float64)
    assert torch.equal(model(x), other(x))


def test_encoding_and_decoding() -> None:
    enc = EncodingLayer(3, truncate=True)
    out = enc(torch.tensor([[3.0, 4.0, 0.0, 9.0], [0.0, 0.0, 0.0, 1.0]]))
    assert torch.allclose(out, torch.tensor([[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]]))
    with pytest.raises(BindingError, match="got 2 features; pass pad=True"):
        enc(torch.ones(1, 2))
    assert torch.equal(
        EncodingLayer(2, normalize="none", pad=True)(torch.tensor([[2.0]])), torch.tensor([[2.0, 0.0]])
    )
    dec = DecodingLayer(2, units=1)
    with torch.no_grad():
        dec.scale.copy_(torch.tensor([2.0, -1.0]))
        dec.projection.weight.copy_(torch.tensor([[1.0, 3.0]]))
    assert torch.allclose(dec(torch.tensor([[1.0, 1.0]])), torch.tensor([[-1.0]]))
    with pytest.raises(BindingError, match=r"expects input of shape \(batch, 2\)"):
        dec(torch.ones(1, 3))
    with pytest.raises(BindingError, match="strength must be strictly between 0 and 1"):
        QuantumNonlinearity(2, strength=1.0)


def test_noisy_layer_on_the_numpy_backend_matches_the_torch_engine() -> None:
    x = torch.tensor([[0.3, 1.0], [0.9, -0.2]], dtype=torch.float64, requires_grad=True)
    on_torch = QuantumNonlinearity(2, strength=0.25).double()
    on_numpy = QuantumNonlinearity(2, strength=0.25, backend="numpy").double()
    a, b = on_torch(x), on_numpy(x)
    assert torch.allclose(a, b, atol=1e-12)
    ga = torch.autograd.grad(a.sum(), [x, on_torch.raw_strength])
    gb = torch.autograd.grad(b.sum(), [x, on_numpy.raw_strength])
    for u, v in zip(ga, gb, strict=True):
        assert torch.allclose(u, v, atol=1e-10)


def test_damping_pooling_width_and_noise_on_the_torch_engine() -> None:
    layer = QuantumPooling(5, keep=2, method="damping", strength=0.4).double()
    assert layer.layer_circuit.circuit.has_noise and layer.backend.name == "torch"
    out = layer(torch.rand(3, 5, dtype=torch.float64))
    assert out.shape == (3, 2)
    out.sum().backward()
    assert layer.theta.grad is not None and bool(layer.theta.grad.abs().sum() > 0)
