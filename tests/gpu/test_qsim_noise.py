"""qsim runs Cirq's channels as trajectories and agrees with the density-matrix reference within
its stated error bar; what it cannot express it refuses. Backends without noise refuse it all."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qsimcirq")

from qstore.backends.gpu.qsim_backend import QsimBackend
from qstore.core import CapabilityError, Circuit, NumpyBackend

OBS = ["Z0", "X1", "Z0 Z1", "Y2"]


def _circuit() -> Circuit:
    return (
        Circuit(3)
        .h(0)
        .rx("t", 1)
        .cnot(0, 1)
        .amplitude_damping(0.3, 0)
        .ry(0.8, 2)
        .depolarizing(0.2, 2)
        .phase_damping(0.4, 1)
        .bit_flip(0.1, 0)
        .phase_flip(0.15, 2)
        .kraus([np.sqrt(0.8) * np.eye(2), np.sqrt(0.2) * np.array([[0, 1], [1, 0]])], 1)
    )


def test_trajectories_agree_with_the_density_matrix_within_four_standard_errors() -> None:
    values = {"t": [0.3, 1.7]}
    exact = NumpyBackend().run(_circuit(), values, OBS).expectations
    result = QsimBackend(trajectories=2000).run(_circuit(), values, OBS, seed=3)
    stderr = result.metadata.extra["stderr"]
    assert result.metadata.extra["trajectories"] == 2000
    assert stderr.shape == exact.shape and np.all(stderr < 0.05)
    assert np.all(np.abs(result.expectations - exact) <= 4 * stderr + 2e-6)  # + complex64 rounding


def test_noisy_samples_follow_the_density_matrix_probabilities() -> None:
    values = {"t": 1.0}
    probs = NumpyBackend().run(_circuit(), values, outputs=("probabilities",)).probabilities[0]
    shots = 4000
    samples = QsimBackend().run(_circuit(), values, shots=shots, seed=1).samples[0]
    freq = np.bincount(samples, minlength=8) / shots
    assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / shots) + 1e-3)


def test_what_qsim_cannot_express_is_refused() -> None:
    backend = QsimBackend()
    assert backend.capabilities.noise == ("trajectories",)
    with pytest.raises(CapabilityError, match="constant strengths only"):
        backend.run(Circuit(1).h(0).amplitude_damping("g", 0), {"g": 0.1}, "Z0")
    with pytest.raises(CapabilityError, match="not states or exact probabilities"):
        backend.run(_circuit(), {"t": 0.1}, outputs=("probabilities",))
    with pytest.raises(CapabilityError, match="use shots=None"):
        backend.run(_circuit(), {"t": 0.1}, "Z0", shots=100)


def test_a_backend_without_noise_refuses_noisy_circuits_naming_the_channels() -> None:
    pytest.importorskip("pennylane_lightning")
    from qstore.backends.gpu.lightning_backend import LightningBackend

    backend = LightningBackend()
    assert backend.capabilities.noise == ()
    noisy = Circuit(2).h(0).amplitude_damping(0.1, 0).depolarizing("p", 1)
    with pytest.raises(
        CapabilityError, match=r"does not simulate noise channels \['amplitude_damping', 'depolarizing'\]"
    ):
        backend.run(noisy, {"p": 0.2}, "Z0")
