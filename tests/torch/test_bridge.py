"""Any backend inside autograd: forward by `run`, backward by the backend's own gradient method."""

from __future__ import annotations

import numpy as np
import torch

from qstore.core import Circuit, NumpyBackend
from qstore.core.adapter import BackendCall, layer_spec
from qstore.core.ansatz import LayerCircuit
from qstore.torch.backend import expectations
from qstore.torch.bridge import backend_expectations
from qstore.torch.layer import ENGINE

CIRCUIT = Circuit(3).ry("a", 0).crx("2*b - 0.3", 0, 1).rzz("a", 1, 2).u3("b", "w", 0.2, 2)
LAYER = LayerCircuit.from_circuit(CIRCUIT, inputs=["a", "b"], observables=["Z0 Z1", "X2", "Y1 Y2"])


def test_bridge_values_and_gradients_equal_the_torch_engine() -> None:
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(4, 2)), requires_grad=True)
    w = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    cot = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
    values = torch.cat([x, w.expand(4, 1)], dim=1)  # circuit.symbols order: a, b, w
    want = expectations(CIRCUIT, values, {}, LAYER.observables, torch.complex128)
    g_want = torch.autograd.grad((want * cot).sum(), (x, w))
    for method in ("adjoint", "parameter-shift", "finite-diff"):
        call = BackendCall(layer_spec(LAYER, NumpyBackend(), None, method, None, ENGINE))
        got = backend_expectations(call, x, w)
        g_got = torch.autograd.grad((got * cot).sum(), (x, w))
        torch.testing.assert_close(got, want)
        tol = {"atol": 1e-6, "rtol": 1e-6} if method == "finite-diff" else {}
        torch.testing.assert_close(g_got[0], g_want[0], **tol)
        torch.testing.assert_close(g_got[1], g_want[1], **tol)


def test_call_k_uses_seed_plus_k() -> None:
    layer = LayerCircuit.from_circuit(Circuit(1).ry("a", 0), inputs=["a"], observables="Z0")
    call = BackendCall(layer_spec(layer, NumpyBackend(), 50, "parameter-shift", 7, ENGINE))
    x, w = torch.full((1, 1), 1.0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
    first = [backend_expectations(call, x, w).item() for _ in range(5)]
    direct = [
        NumpyBackend().run(layer.circuit, {"a": 1.0}, "Z0", shots=50, seed=7 + k).expectations[0, 0]
        for k in range(5)
    ]
    assert first == direct and len(set(first)) > 1
