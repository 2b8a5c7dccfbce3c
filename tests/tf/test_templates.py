"""Templates inside the Keras layer: a template circuit is an ordinary `ExpectationValue` circuit."""

from __future__ import annotations

import numpy as np

from qstore.core import Circuit, NumpyBackend
from qstore.core.templates import basic_entangler_layers
from qstore.tf import ExpectationValue


def test_basic_entangler_template_in_the_keras_layer_matches_the_reference_engine() -> None:
    t = basic_entangler_layers(3, n_layers=2, rotation="ry")
    circuit = Circuit(3).rx("x_0", 0).rx("x_1", 1).rx("x_2", 2) + t.circuit
    layer = ExpectationValue(circuit, ["Z0", "Z1 Z2"], inputs=["x_0", "x_1", "x_2"])
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    out = np.asarray(layer(x))
    lc = layer.layer_circuit
    bindings = {f"x_{i}": x[:, i].astype(float) for i in range(3)}
    bindings.update(zip(lc.weights, layer.theta.numpy().reshape(-1).astype(float), strict=True))
    want = NumpyBackend().run(circuit, bindings, ["Z0", "Z1 Z2"]).expectations
    assert sorted(lc.weights) == sorted(t.weights)
    np.testing.assert_allclose(out, want, atol=1e-5)
