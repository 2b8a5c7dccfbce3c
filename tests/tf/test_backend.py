"""The ``tf`` backend: conformance kit in both precisions, tf.function, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qstore.core import Circuit, NumpyBackend
from qstore.core.errors import CapabilityError, CircuitError
from qstore.core.testing import BackendConformance
from qstore.tf import statevector as sv
from qstore.tf.backend import TFBackend


class TestTFComplex64(BackendConformance):
    atol = 1e-5

    @pytest.fixture
    def backend(self) -> TFBackend:
        return TFBackend()


class TestTFComplex128(BackendConformance):
    atol = 1e-9
    n_random_circuits = 3

    @pytest.fixture
    def backend(self) -> TFBackend:
        return TFBackend("double")


def test_graph_mode_matches_eager() -> None:
    circuit = Circuit(3).ry("a", 0).cnot(0, 1).rx("b", 2).crz("a", 1, 2).h(1)
    obs = NumpyBackend().request(circuit, {"a": 0.1, "b": 0.2}, ["Z0", "X1 Y2"]).observables

    @tf.function(reduce_retracing=True)
    def run(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        state = sv.simulate(circuit, {"a": a, "b": b}, batch_size=tf.shape(a)[0])
        return sv.expectations(state, obs, 3)

    a, b = np.array([0.3, 1.0, -2.0], np.float32), np.array([0.5, 0.2, 0.9], np.float32)
    want = NumpyBackend().run(circuit, {"a": a, "b": b}, obs).expectations
    np.testing.assert_allclose(run(tf.constant(a), tf.constant(b)).numpy(), want, atol=1e-5)
    np.testing.assert_allclose(run(tf.constant(a[:1]), tf.constant(b[:1])).numpy(), want[:1], atol=1e-5)


def test_autodiff_matches_finite_differences() -> None:
    circuit = Circuit(2).ry("2*a + 0.1", 0).u3("a", "b", 0.4, 1).cnot(0, 1).rxx("b", 0, 1)
    backend = TFBackend("double")
    point = {"a": np.array([0.4]), "b": np.array([-0.7])}
    got = backend.gradient(circuit, point, ["Z0", "X1"], np.array([[1.0, -0.5]]), method="backprop")
    h = 1e-6
    for name in point:
        plus = backend.run(circuit, {**point, name: point[name] + h}, ["Z0", "X1"]).expectations
        minus = backend.run(circuit, {**point, name: point[name] - h}, ["Z0", "X1"]).expectations
        fd = ((plus - minus) / (2 * h)) @ np.array([1.0, -0.5])
        np.testing.assert_allclose(got[name], fd, atol=1e-7)


def test_unsupported_options_are_clear_errors() -> None:
    with pytest.raises(CapabilityError, match=r"precision must be one of \['single', 'double'\]"):
        TFBackend("float16")
    late_prep = Circuit(2).h(0).prepare_state("v", [0])
    with pytest.raises(CircuitError, match="before any gate"):
        TFBackend().run(late_prep, {"v": [1.0, 0.0]}, ["Z0"])


def test_repeated_circuits_run_compiled_with_the_same_results() -> None:
    backend = TFBackend()
    circuit = Circuit(4).ry("a", 0).cnot(0, 1).cnot(1, 2).rx("b", 3).crz("a", 3, 0).cnot(2, 3)
    obs = ["Z0", "X1 Z3", "Y2"]
    reference = NumpyBackend()
    for size in (3, 3, 5, 2):
        bindings = {"a": np.linspace(-1, 1, size), "b": np.linspace(0.5, 2, size)}
        got = backend.run(circuit, bindings, obs).expectations
        np.testing.assert_allclose(got, reference.run(circuit, bindings, obs).expectations, atol=1e-5)
        grads = backend.gradient(circuit, bindings, obs, np.ones((size, 3)), method="backprop")
        want = reference.gradient(circuit, bindings, obs, np.ones((size, 3)), method="adjoint")
        for name in want:
            np.testing.assert_allclose(grads[name], want[name], atol=1e-4)
    assert len(backend._programs._compiled) == 2
