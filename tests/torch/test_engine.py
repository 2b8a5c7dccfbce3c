"""Engine sampling: seeded, within statistical bounds, in every measurement basis."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstore.core import Circuit, NumpyBackend
from qstore.core.observables import as_observables
from qstore.core.plan import compile_plan
from qstore.core.testing import random_bindings, random_circuit
from qstore.torch import TorchBackend
from qstore.torch.engine import shot_expectations, simulate


def test_shot_estimates_in_x_y_z_bases_are_within_five_sigma_and_seeded() -> None:
    circuit = Circuit(2).ry("a", 0).rx("b", 1).cnot(0, 1)
    values = torch.tensor([[0.4, -1.0], [2.0, 0.7]], dtype=torch.float64)
    state = simulate(compile_plan(circuit), values, {}, torch.complex128)
    obs = as_observables(["Z0", "X0", "Y1", "X0 Y1", "0.5*Z0 Z1 + 0.25*I"])
    shots = 4000
    draws = [shot_expectations(state, 2, obs, shots, torch.Generator().manual_seed(s)) for s in (1, 1, 2)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])
    exact = (
        TorchBackend(precision="double").run(circuit, {"a": [0.4, 2.0], "b": [-1.0, 0.7]}, obs).expectations
    )
    assert np.all(np.abs(draws[0] - exact) <= 5 / np.sqrt(shots))


def test_samples_follow_the_probabilities() -> None:
    result = TorchBackend().run(
        Circuit(3).h(0).cnot(0, 2), shots=3000, seed=5, outputs=("samples", "probabilities")
    )
    counts = result.counts()
    assert set(counts) == {"000", "101"}
    assert abs(counts["000"] / 3000 - 0.5) < 5 * np.sqrt(0.25 / 3000)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1, atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_random_circuits_on_many_qubits_equal_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    circuit = random_circuit(7, 40, rng)
    bindings = random_bindings(circuit, 5, rng)
    want = NumpyBackend().run(circuit, bindings, outputs=("state",)).statevectors
    values = torch.tensor(np.stack([bindings[s] for s in circuit.symbols], axis=1))
    got = simulate(compile_plan(circuit), values, {}, torch.complex128)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-10)


@pytest.mark.slow
def test_sampling_beyond_24_qubits_follows_the_probabilities() -> None:
    # torch.multinomial refuses more than 2**24 categories; 25 qubits sample by inverse CDF
    result = TorchBackend().run(Circuit(25).x(0).h(24), shots=4000, seed=3)
    counts = result.counts()
    assert set(counts) == {"1" + "0" * 24, "1" + "0" * 23 + "1"}
    assert abs(counts["1" + "0" * 24] / 4000 - 0.5) < 5 * np.sqrt(0.25 / 4000)
