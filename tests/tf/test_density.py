"""The TensorFlow density-matrix engine against the NumPy reference: values, shots, autodiff
gradients through channel strengths (against finite differences), eager and in tf.function."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qstore.core import Circuit
from qstore.core.errors import BindingError, CapabilityError
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.testing import NOISY_VALUES, noisy_circuit
from qstore.tf import density
from qstore.tf.backend import TFBackend

OBS = ["Z0", "X1 Z2", "Y2", "Z0 Z1"]


def _values(dtype: tf.DType = tf.float64) -> tf.Tensor:
    return tf.constant(np.stack([NOISY_VALUES[s] for s in noisy_circuit().symbols], axis=1), dtype=dtype)


def test_expectations_match_the_numpy_reference_eager_and_in_graph() -> None:
    want = NumpyBackend().run(noisy_circuit(), NOISY_VALUES, OBS).expectations
    got = density.expectations(noisy_circuit(), _values(), {}, OBS, tf.complex128)
    assert np.allclose(got.numpy(), want, atol=1e-10)
    graph = tf.function(lambda v: density.expectations(noisy_circuit(), v, {}, OBS, tf.complex128))
    assert np.allclose(graph(_values()).numpy(), want, atol=1e-10)
    single = density.expectations(noisy_circuit(), _values(tf.float32), {}, OBS, tf.complex64)
    assert single.dtype == tf.float32
    assert np.allclose(single.numpy(), want, atol=1e-5)


def test_density_matrices_have_unit_trace_and_are_psd() -> None:
    rho = density.simulate(noisy_circuit(), _values(), {}, tf.complex128)
    matrices = tf.reshape(rho, [3, 8, 8]).numpy()
    assert np.allclose(np.trace(matrices, axis1=1, axis2=2), 1, atol=1e-12)
    assert np.linalg.eigvalsh(matrices).min() > -1e-10
    assert np.allclose(density.probabilities(rho).numpy().sum(axis=1), 1, atol=1e-12)


def test_autodiff_through_damping_strength_matches_finite_differences() -> None:
    circuit = Circuit(2).ry("x", 0).cnot(0, 1).amplitude_damping("g", 0).amplitude_damping("0.5*g", 1)
    values = tf.constant([[0.3, 1.1], [0.8, -0.6], [0.05, 2.4]], dtype=tf.float64)  # columns g, x
    cot = tf.constant([[1.0, -0.5], [0.3, 0.7], [-1.0, 2.0]], dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(values)
        out = density.expectations(circuit, values, {}, ["Z0", "Z0 Z1"], tf.complex128)
        loss = tf.reduce_sum(out * cot)
    grad = tape.gradient(loss, values).numpy()[:, 0]
    ref = NumpyBackend()
    h = 1e-6
    base = {"g": values.numpy()[:, 0], "x": values.numpy()[:, 1]}

    def value(g: np.ndarray) -> np.ndarray:
        return (ref.run(circuit, {**base, "g": g}, ["Z0", "Z0 Z1"]).expectations * cot.numpy()).sum(axis=1)

    fd = (value(base["g"] + h) - value(base["g"] - h)) / (2 * h)
    assert np.allclose(grad, fd, atol=1e-8)


def test_backend_runs_noisy_circuits_like_the_reference() -> None:
    backend = TFBackend(precision="double")
    assert backend.capabilities.noise == ("density",)
    ref = NumpyBackend()
    for _ in range(2):  # the second run is the compiled program
        got = backend.run(noisy_circuit(), NOISY_VALUES, OBS, outputs=("probabilities",))
        want = ref.run(noisy_circuit(), NOISY_VALUES, OBS, outputs=("probabilities",))
        assert np.allclose(got.expectations, want.expectations, atol=1e-10)
        assert np.allclose(got.probabilities, want.probabilities, atol=1e-10)
    shots = backend.run(noisy_circuit(), NOISY_VALUES, OBS, 100, seed=4, outputs=("samples",))
    want = ref.run(noisy_circuit(), NOISY_VALUES, OBS, 100, seed=4, outputs=("samples",))
    assert np.allclose(shots.expectations, want.expectations)
    assert np.array_equal(shots.samples, want.samples)
    g_tf = backend.gradient(noisy_circuit(), NOISY_VALUES, OBS)
    g_ref = ref.gradient(noisy_circuit(), NOISY_VALUES, OBS, method="adjoint")
    for name in g_ref:
        assert np.allclose(g_tf[name], g_ref[name], atol=1e-10), name


def test_state_preparation_under_noise_matches_numpy() -> None:
    c = Circuit(2).prepare_state("a").amplitude_damping("g", 0).ry("t", 1)
    amps = np.array([[0.6, 0.0, 0.0, 0.8], [0.5, 0.5, 0.5, 0.5]])
    values = {"a": amps, "g": [0.3, 0.9], "t": [0.1, 0.2]}
    want = NumpyBackend().run(c, values, ["Z0", "X0 X1"]).expectations
    got = TFBackend(precision="double").run(c, values, ["Z0", "X0 X1"]).expectations
    assert np.allclose(got, want, atol=1e-10)


def test_bad_strengths_and_states_are_refused() -> None:
    with pytest.raises(BindingError, match="strength"):
        density.expectations(Circuit(1).bit_flip("p", 0), tf.constant([[1.5]]), {}, ["Z0"], tf.complex64)
    graph = tf.function(
        lambda v: density.expectations(Circuit(1).bit_flip("p", 0), v, {}, ["Z0"], tf.complex64)
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"strengths must be in \[0, 1\]"):
        graph(tf.constant([[-0.5]]))
    with pytest.raises(CapabilityError, match="mixed state"):
        TFBackend().run(Circuit(1).bit_flip(0.1, 0), outputs=("state",))
