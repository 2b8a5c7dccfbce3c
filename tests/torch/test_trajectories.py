"""Torch trajectories: converge to the density-matrix result within their stated error bar, draw
the same branches as the NumPy trajectories for one seed, and refuse gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstore.core import Circuit
from qstore.core.bindings import resolve_bindings
from qstore.core.errors import CapabilityError, GradientError
from qstore.core.numpy_backend import NumpyBackend
from qstore.torch import trajectories as tj
from qstore.torch.backend import TorchBackend

OBSERVABLES = ["Z0", "Z1", "X0 X1", "Y2", "Z0 Z1 Z2"]
VALUES = {"t": [0.4, 2.2], "g": [0.3, 0.75]}


def _circuit() -> Circuit:
    kraus = [np.sqrt(0.7) * np.eye(2), np.sqrt(0.3) * np.array([[0, -1j], [1j, 0]])]
    return (
        Circuit(3)
        .h(0)
        .rx("t", 1)
        .cnot(0, 1)
        .amplitude_damping("g", 0)
        .ry(0.8, 2)
        .depolarizing(0.3, 2)
        .cnot(1, 2)
        .phase_damping(0.4, 1)
        .bit_flip(0.1, 0)
        .kraus(kraus, 2)
        .crz("t", 2, 0)
    )


def test_trajectories_agree_with_density_within_four_standard_errors() -> None:
    exact = NumpyBackend().run(_circuit(), VALUES, OBSERVABLES).expectations
    backend = TorchBackend(precision="double", noise="trajectories", trajectories=3000)
    assert backend.capabilities.noise == ("trajectories",)
    result = backend.run(_circuit(), VALUES, OBSERVABLES, seed=7)
    stderr = result.metadata.extra["stderr"]
    assert result.metadata.extra["trajectories"] == 3000
    assert stderr.shape == exact.shape and np.all(stderr < 0.03)
    assert np.all(np.abs(result.expectations - exact) <= 4 * stderr + 1e-12)


def test_same_seed_same_branches_as_the_numpy_trajectories() -> None:
    numpy = NumpyBackend(noise="trajectories", trajectories=200)
    torch_ = TorchBackend(precision="double", noise="trajectories", trajectories=200)
    a = numpy.run(_circuit(), VALUES, OBSERVABLES, 50, seed=11, outputs=("samples", "probabilities"))
    b = torch_.run(_circuit(), VALUES, OBSERVABLES, 50, seed=11, outputs=("samples", "probabilities"))
    assert np.allclose(a.probabilities, b.probabilities, atol=1e-12)
    assert np.array_equal(a.samples, b.samples)
    exact = numpy.run(_circuit(), VALUES, OBSERVABLES, seed=11)
    assert np.allclose(torch_.run(_circuit(), VALUES, OBSERVABLES, seed=11).expectations, exact.expectations)


def test_state_preparation_and_single_precision() -> None:
    c = Circuit(2).prepare_state("a").amplitude_damping("g", 0).ry("t", 1).cnot(1, 0)
    values = {"a": np.array([[0.6, 0.0, 0.0, 0.8], [0.5, 0.5, 0.5, 0.5]]), "g": [0.3, 0.9], "t": 0.7}
    exact = NumpyBackend().run(c, values, ["Z0", "X0 X1"]).expectations
    runs = tj.simulate(resolve_bindings(c, values), 4000, np.random.default_rng(2), torch.complex64)
    mean, stderr = runs.expectations(NumpyBackend().request(c, values, ["Z0", "X0 X1"]).observables)
    assert runs.states.shape == (2, 4000, 4)
    assert np.all(np.abs(mean - exact) <= 4 * stderr + 1e-6)


def test_trajectories_refuse_gradients_and_bad_options() -> None:
    backend = TorchBackend(noise="trajectories", trajectories=10)
    with pytest.raises(GradientError, match="no gradient"):
        backend.gradient(_circuit(), {"t": 0.1, "g": 0.2}, "Z0", method="adjoint")
    with pytest.raises(CapabilityError, match="noise must be one of"):
        TorchBackend(noise="exact")
    with pytest.raises(CapabilityError, match="trajectories must be an integer from 2"):
        TorchBackend(noise="trajectories", trajectories=1)
