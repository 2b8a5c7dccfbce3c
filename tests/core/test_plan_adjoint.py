"""The shared reverse sweep and the NumPy chain rule: adjoint gradients through fused three-qubit
blocks, phase runs, dense and diagonal steps equal central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Circuit, NumpyBackend
from qstore.core import plan as plan_module
from qstore.core.gates import GATES
from qstore.core.plan import Dense, Diagonal, Fused, Phase, compile_plan
from qstore.core.plan_adjoint import gate_derivatives

CIRCUIT = (
    Circuit(4)
    .ry("a", 0)
    .rz("2*b - 0.3", 0)
    .u3("c", "a", 0.2, 1)
    .rx("b", 2)
    .h(3)
    .cnot(0, 1)
    .phase("a + c", 1)
    .cnot(0, 1)
    .crz("b", 2, 3)
    .rxx("c", 1, 2)
    .ry("a", 3)
    .cnot(3, 0)
    .rzz("0.5*a", 0, 3)
)


@pytest.fixture(params=["phase runs", "permutations and diagonals"])
def kinds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> set[type]:
    """The plan as compiled narrow (phase runs) or as for wide circuits (no phase runs)."""
    monkeypatch.setattr(plan_module, "_PLANS", {})
    if request.param != "phase runs":
        monkeypatch.setattr(plan_module, "PHASE_MAX_QUBITS", 0)
    steps = compile_plan(CIRCUIT).steps
    assert any(isinstance(s, Fused) and s.width == 3 and s.trainable for s in steps)
    return {type(s) for s in steps if s.trainable}


@pytest.mark.parametrize("precision", ["double", "single"])
def test_numpy_adjoint_equals_finite_differences(precision: str, kinds: set[type]) -> None:
    assert kinds in ({Fused, Phase, Dense}, {Fused, Diagonal, Dense})
    rng = np.random.default_rng(7)
    bindings = {s: rng.uniform(-np.pi, np.pi, size=3) for s in ("a", "b", "c")}
    obs = ["Z0", "X1 Y3", "0.5*Z2 Z3"]
    cot = rng.normal(size=(3, 3))
    reference = NumpyBackend()
    eps = 1e-6
    got = NumpyBackend(precision).gradient(CIRCUIT, bindings, obs, cot, method="adjoint")
    for name in bindings:
        plus = reference.run(CIRCUIT, {**bindings, name: bindings[name] + eps}, obs).expectations
        minus = reference.run(CIRCUIT, {**bindings, name: bindings[name] - eps}, obs).expectations
        fd = ((plus - minus) * cot).sum(axis=1) / (2 * eps)
        np.testing.assert_allclose(got[name], fd, atol=1e-7 if precision == "double" else 1e-4)


@pytest.mark.parametrize("gate", ["rx", "u3", "crz", "rxx", "phase", "gpi2"])
def test_gate_derivatives_equal_finite_differences(gate: str) -> None:
    spec = GATES[gate]
    angles = np.random.default_rng(1).uniform(-3, 3, size=(2, spec.n_params))
    got = gate_derivatives(gate, angles)
    for j in range(spec.n_params):
        step = np.zeros(spec.n_params)
        step[j] = 1e-6
        fd = [(spec.matrix(*(row + step)) - spec.matrix(*(row - step))) / 2e-6 for row in angles]
        np.testing.assert_allclose(got[:, j], np.array(fd), atol=1e-8)
