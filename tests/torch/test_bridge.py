"""Any backend inside autograd: forward by `run`, backward by the backend's own `vjp`."""

from __future__ import annotations

import numpy as np
import torch

from qstore.core import Circuit, NumpyBackend
from qstore.core.observables import as_observables
from qstore.torch.backend import expectations
from qstore.torch.bridge import BackendCall, backend_expectations


def test_bridge_values_and_gradients_equal_the_torch_engine() -> None:
    circuit = Circuit(3).ry("a", 0).crx("2*b - 0.3", 0, 1).rzz("a", 1, 2).u3("b", "a", 0.2, 2)
    obs = as_observables(["Z0 Z1", "X2", "Y1 Y2"])
    values = torch.tensor(np.random.default_rng(0).normal(size=(4, 2)), requires_grad=True)
    cot = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
    want = expectations(circuit, values, {}, obs, torch.complex128)
    (g_want,) = torch.autograd.grad((want * cot).sum(), values)
    for method in ("adjoint", "parameter-shift"):
        call = BackendCall(NumpyBackend(), circuit, obs, method)
        got = backend_expectations(call, values, {})
        (g_got,) = torch.autograd.grad((got * cot).sum(), values)
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(g_got, g_want)


def test_seeded_calls_draw_fresh_reproducible_shots() -> None:
    call = BackendCall(NumpyBackend(), Circuit(1).ry("a", 0), as_observables("Z0"), "parameter-shift", 50, 7)
    values = torch.full((1, 1), 1.0, dtype=torch.float64)
    first = [backend_expectations(call, values, {}).item() for _ in range(5)]
    call.calls = 0
    again = [backend_expectations(call, values, {}).item() for _ in range(5)]
    assert first == again and len(set(first)) > 1
