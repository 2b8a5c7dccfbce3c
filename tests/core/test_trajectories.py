"""Monte-Carlo trajectories converge to the density-matrix result within their stated error bar."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Circuit
from qstore.core.errors import CapabilityError, GradientError
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.trajectories import check_trajectories

OBSERVABLES = ["Z0", "Z1", "X0 X1", "Y2", "Z0 Z1 Z2"]


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
    )


def test_trajectories_agree_with_density_within_four_standard_errors() -> None:
    values = {"t": [0.4, 2.2], "g": [0.3, 0.75]}
    exact = NumpyBackend().run(_circuit(), values, OBSERVABLES).expectations
    result = NumpyBackend(noise="trajectories", trajectories=3000).run(
        _circuit(), values, OBSERVABLES, seed=7
    )
    stderr = result.metadata.extra["stderr"]
    assert result.metadata.extra["trajectories"] == 3000
    assert stderr.shape == exact.shape and np.all(stderr < 0.03)
    assert np.all(np.abs(result.expectations - exact) <= 4 * stderr + 1e-12)


def test_trajectory_probabilities_converge_and_runs_are_seeded() -> None:
    values = {"t": 1.0, "g": 0.5}
    exact = NumpyBackend().run(_circuit(), values, outputs=("probabilities",)).probabilities
    b = NumpyBackend(noise="trajectories", trajectories=4000)
    first = b.run(_circuit(), values, seed=3, outputs=("probabilities",)).probabilities
    again = b.run(_circuit(), values, seed=3, outputs=("probabilities",)).probabilities
    assert np.array_equal(first, again)
    assert np.allclose(first.sum(axis=1), 1)
    # each probability is a mean of T values in [0, 1]: standard error at most 0.5/sqrt(T)
    assert np.all(np.abs(first - exact) < 4 * 0.5 / np.sqrt(4000))


def test_trajectories_refuse_bad_counts_and_adjoint() -> None:
    with pytest.raises(CapabilityError, match="trajectories must be an integer from 2"):
        check_trajectories(1)
    with pytest.raises(CapabilityError, match="noise must be one of"):
        NumpyBackend(noise="exact")
    b = NumpyBackend(noise="trajectories", trajectories=10)
    assert b.capabilities.noise == ("trajectories",)
    with pytest.raises(GradientError, match="no adjoint gradient"):
        b.gradient(_circuit(), {"t": 0.1, "g": 0.2}, "Z0", method="adjoint")
