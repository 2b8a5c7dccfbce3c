"""One model definition, two frameworks: the torch and Keras QuantumLayers agree to complex64 tolerance.

Both build their IR with `qstore.core.ansatz.layer_circuit`, and both keep the weights as one
tensor of ``weight_shape`` in the flat order of ``LayerCircuit.weights``, so weights copy across.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")
qtorch = pytest.importorskip("qstore.torch")
qtf = pytest.importorskip("qstore.tf")

CASES = [
    dict(n_qubits=3, depth=2, entanglement="linear", encoding="angle", bases="Z"),
    dict(n_qubits=4, depth=2, entanglement="circular", encoding="reuploading", bases="XYZ"),
    dict(n_qubits=3, depth=1, entanglement="full", encoding="amplitude", bases="XZ"),
    dict(n_qubits=3, depth=2, entanglement="linear", encoding="angle", bases="YZ", n_features=2, pad=True),
]


@pytest.mark.parametrize("config", CASES, ids=lambda c: f"{c['encoding']}-{c['bases']}-{c['entanglement']}")
def test_same_weights_same_outputs_and_gradients(config: dict) -> None:
    rng = np.random.default_rng(3)
    torch_layer = qtorch.QuantumLayer(**config)
    keras_layer = qtf.QuantumLayer(**config)
    assert torch_layer.layer_circuit == keras_layer.layer_circuit
    x = rng.normal(size=(5, keras_layer.layer_circuit.n_features)).astype(np.float32)
    keras_layer.build((None, x.shape[1]))
    weights = rng.uniform(0, 2 * np.pi, size=torch_layer.layer_circuit.weight_shape).astype(np.float32)
    with torch.no_grad():
        torch_layer.theta.copy_(torch.from_numpy(weights))
    keras_layer.theta.assign(weights)
    cot = rng.normal(size=(5, torch_layer.n_outputs)).astype(np.float32)

    xt = torch.from_numpy(x).requires_grad_(config["encoding"] != "amplitude")
    out_torch = torch_layer(xt)
    (out_torch * torch.from_numpy(cot)).sum().backward()

    xk = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xk)
        out_keras = keras_layer(xk)
        loss = tf.reduce_sum(out_keras * cot)
    dx_keras, dw_keras = tape.gradient(loss, [xk, keras_layer.theta])

    np.testing.assert_allclose(out_keras.numpy(), out_torch.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(dw_keras.numpy(), torch_layer.theta.grad.numpy(), atol=1e-4)
    if xt.requires_grad:
        np.testing.assert_allclose(dx_keras.numpy(), xt.grad.numpy(), atol=1e-4)


def test_same_gradients_through_another_backend() -> None:
    rng = np.random.default_rng(4)
    config = dict(n_qubits=3, depth=1, bases="XZ", backend="numpy", diff_method="parameter-shift")
    torch_layer, keras_layer = qtorch.QuantumLayer(**config), qtf.QuantumLayer(**config)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    keras_layer.build((None, 3))
    weights = rng.uniform(0, 2 * np.pi, size=(1, 3, 2)).astype(np.float32)
    with torch.no_grad():
        torch_layer.theta.copy_(torch.from_numpy(weights))
    keras_layer.theta.assign(weights)
    torch_layer(torch.from_numpy(x)).sum().backward()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(keras_layer(x))
    np.testing.assert_allclose(
        tape.gradient(loss, keras_layer.theta).numpy(), torch_layer.theta.grad.numpy(), atol=1e-5
    )
