"""Compiled Pauli readouts equal the reference kernels, including identities and weighted sums,
and stay exact to 1e-5 in single precision at 20 qubits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstore.core import Circuit, NumpyBackend
from qstore.core import statevector as sv
from qstore.core.ansatz import layer_circuit
from qstore.core.observables import as_observables
from qstore.core.plan_readout import compile_readout
from qstore.torch import TorchBackend
from qstore.torch import readout as ro


def _random_states(n: int, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(batch, 2**n)) + 1j * rng.normal(size=(batch, 2**n))
    return states / np.linalg.norm(states, axis=1, keepdims=True)


@pytest.mark.parametrize("tables", [True, False], ids=["phase-tables", "strided"])
def test_expectations_and_weighted_apply_equal_the_reference(
    tables: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # strided: the path of registers above TABLE_MAX_QUBITS (flipped views, per-qubit factors)
    if not tables:
        monkeypatch.setattr(ro, "TABLE_MAX_QUBITS", 0)
    n = 4
    obs = as_observables(
        ["Z0", "X1", "Y1", "Z0 Z3", "0.5*X0 Y2 Z3 - 2*Y3 + I", "X1 X2", "I", "Y0 Y1 Y2 Y3", "Z2 Z3", "Z1"]
    )
    states = _random_states(n, 5, 0)
    readout = compile_readout(obs, n)
    got = ro.expectations(readout, torch.tensor(states)).numpy()
    want = sv.expectations(states.reshape((5,) + (2,) * n), obs)
    np.testing.assert_allclose(got, want, atol=1e-12)
    weights = np.random.default_rng(1).normal(size=(5, len(obs)))
    lam = ro.weighted_apply(readout, torch.tensor(states), torch.tensor(weights)).numpy()
    shaped = states.reshape((5,) + (2,) * n)
    ref = sum(
        weights[:, j].reshape(-1, *(1,) * n) * sv.apply_observable(shaped, o) for j, o in enumerate(obs)
    )
    np.testing.assert_allclose(lam, ref.reshape(5, -1), atol=1e-12)


def test_readouts_are_compiled_once() -> None:
    obs = as_observables(["Z0", "X1"])
    assert compile_readout(obs, 2) is compile_readout(obs, 2)


def _anchor(n: int) -> tuple[Circuit, dict[str, np.ndarray]]:
    """The W1/W3 circuit (RY encoding, 4 layers of RY/RZ and a CNOT chain) with fixed random angles."""
    circuit = layer_circuit(n, depth=4).circuit
    rng = np.random.default_rng(n)
    return circuit, {s: rng.uniform(0, 2 * np.pi, size=1) for s in circuit.symbols}


@pytest.mark.parametrize(
    ("n", "atol"), [(8, 1e-6), pytest.param(20, 1e-5, marks=pytest.mark.slow)], ids=["8q", "20q"]
)
def test_single_precision_readout_agrees_with_the_double_reference(n: int, atol: float) -> None:
    circuit, bindings = _anchor(n)
    obs = ["Z0", f"Z{n - 1}", "X1", "Z0 Z1"]
    want = NumpyBackend().run(circuit, bindings, obs).expectations
    got = TorchBackend(precision="single").run(circuit, bindings, obs).expectations
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)
