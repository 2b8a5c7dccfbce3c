"""The adjoint autograd function equals backprop, the reference VJP and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstore.core import Circuit, NumpyBackend
from qstore.core.errors import GradientError
from qstore.core.observables import as_observables
from qstore.core.plan import compile_plan
from qstore.core.plan_readout import compile_readout
from qstore.core.testing import random_bindings, random_circuit
from qstore.torch import readout as ro
from qstore.torch.adjoint import adjoint_expectations
from qstore.torch.engine import simulate


def _grads(circuit: Circuit, values: torch.Tensor, vectors: dict, obs: tuple, method: str) -> list:
    plan, readout = compile_plan(circuit), compile_readout(obs, circuit.n_qubits)
    if method == "adjoint":
        out = adjoint_expectations(plan, readout, values, vectors, torch.complex128)
    else:
        out = ro.expectations(readout, simulate(plan, values, vectors, torch.complex128))
    cot = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)
    return [out, *torch.autograd.grad((out * cot).sum(), [values, *vectors.values()])], cot


@pytest.mark.parametrize(("seed", "n_qubits"), [(s, 4) for s in range(5)] + [(5, 7), (6, 8)])
def test_adjoint_equals_backprop_and_reference(seed: int, n_qubits: int) -> None:
    rng = np.random.default_rng(seed)
    circuit = random_circuit(n_qubits, 6 * n_qubits, rng)
    bindings = random_bindings(circuit, 3, rng)
    obs = as_observables(["Z0", "X1", "Y2 Z3", f"0.5*X0 X{n_qubits - 1} - Y1"])
    values = torch.tensor(np.stack([bindings[s] for s in circuit.symbols], 1), requires_grad=True)
    (e1, g1), _ = _grads(circuit, values, {}, obs, "adjoint")
    (e2, g2), cot = _grads(circuit, values, {}, obs, "backprop")
    torch.testing.assert_close(e1, e2, atol=1e-12, rtol=0)
    torch.testing.assert_close(g1, g2, atol=1e-10, rtol=0)
    ref = NumpyBackend().gradient(circuit, bindings, obs, cot.numpy(), method="adjoint")
    np.testing.assert_allclose(g1.numpy(), np.stack([ref[s] for s in circuit.symbols], 1), atol=1e-10)


def test_adjoint_gradient_of_amplitudes_equals_backprop() -> None:
    circuit = Circuit(3).prepare_state("v").ry("a", 1).cnot(1, 2).crx("b", 0, 2).rzz("a", 0, 1)
    v = torch.randn(2, 8, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    v = (v / v.norm(dim=1, keepdim=True)).requires_grad_(True)
    values = torch.tensor([[0.3, -1.2], [1.1, 0.4]], dtype=torch.float64, requires_grad=True)
    obs = as_observables(["Z0", "X1", "Y2 Z0"])
    (_, ga, va), _ = _grads(circuit, values, {"v": v}, obs, "adjoint")
    (_, gb, vb), _ = _grads(circuit, values, {"v": v}, obs, "backprop")
    torch.testing.assert_close(ga, gb, atol=1e-12, rtol=0)
    torch.testing.assert_close(va, vb, atol=1e-12, rtol=0)


def test_adjoint_refuses_parameters_before_state_preparation() -> None:
    circuit = Circuit(3).ry("a", 0).cnot(0, 1).prepare_state("v", [2])
    values = torch.tensor([[0.3]], dtype=torch.float64, requires_grad=True)
    v = torch.tensor([[0.6, 0.8]], dtype=torch.float64)
    out = adjoint_expectations(
        compile_plan(circuit), compile_readout(as_observables("Z0"), 3), values, {"v": v}, torch.complex128
    )
    with pytest.raises(GradientError, match="state preparation"):
        out.sum().backward()


def test_per_gate_plans_equal_backprop_and_a_second_backward_rereads_the_forward_state() -> None:
    # per-gate plans keep Monomials (as above 24 qubits); the sweep's buffers never alias the saved state
    rng = np.random.default_rng(11)
    circuit = random_circuit(6, 40, rng)
    bindings = random_bindings(circuit, 3, rng)
    values = torch.tensor(np.stack([bindings[s] for s in circuit.symbols], 1), requires_grad=True)
    obs = as_observables(["Z0", "X1 Y4", "0.5*Z2 Z5 - X3"])
    plan, readout = compile_plan(circuit, per_gate=True), compile_readout(obs, 6)
    out = adjoint_expectations(plan, readout, values, {}, torch.complex128)
    first = torch.autograd.grad(out.sum(), values, retain_graph=True)[0]
    second = torch.autograd.grad(out.sum(), values)[0]
    (want,) = torch.autograd.grad(
        ro.expectations(readout, simulate(plan, values, {}, torch.complex128)).sum(), values
    )
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    torch.testing.assert_close(first, want, atol=1e-10, rtol=0)
