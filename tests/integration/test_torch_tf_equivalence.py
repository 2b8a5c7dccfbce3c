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


def _pair(config: dict, rng: np.random.Generator) -> tuple:
    torch_layer, keras_layer = qtorch.QuantumLayer(**config), qtf.QuantumLayer(**config)
    assert (
        torch_layer.spec == keras_layer.spec or torch_layer.spec.diff_method == keras_layer.spec.diff_method
    )
    keras_layer.build((None, 3))
    weights = rng.uniform(0, 2 * np.pi, size=torch_layer.layer_circuit.weight_shape).astype(np.float32)
    with torch.no_grad():
        torch_layer.theta.copy_(torch.from_numpy(weights))
    keras_layer.theta.assign(weights)
    return torch_layer, keras_layer


def _outputs_and_gradients(torch_layer, keras_layer, x: np.ndarray, cot: np.ndarray) -> tuple:
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t = torch_layer(xt)
    (out_t * torch.from_numpy(cot)).sum().backward()
    xk = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xk)
        out_k = keras_layer(xk)
        loss = tf.reduce_sum(out_k * cot)
    dx_k, dw_k = tape.gradient(loss, [xk, keras_layer.theta])
    torch_side = (out_t.detach().numpy(), xt.grad.numpy(), torch_layer.theta.grad.numpy())
    return torch_side, (out_k.numpy(), dx_k.numpy(), dw_k.numpy())


@pytest.mark.parametrize(
    ("diff_method", "shots"),
    [
        ("adjoint", None),
        ("parameter-shift", None),
        ("finite-diff", None),
        ("spsa", None),
        ("parameter-shift", 300),
        ("spsa", 300),
        ("finite-diff", 300),
    ],
)
def test_identical_outputs_gradients_and_shots_on_every_method_of_a_backend(diff_method: str, shots) -> None:
    """Same seed, same backend calls: call k uses seed + k in both frameworks, so even shot
    estimates and SPSA directions are the same numbers."""
    rng = np.random.default_rng(7)
    config = dict(
        n_qubits=3, depth=1, bases="XZ", backend="numpy", diff_method=diff_method, shots=shots, seed=11
    )
    torch_layer, keras_layer = _pair(config, rng)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    cot = rng.normal(size=(4, 6)).astype(np.float32)
    for step in range(2):  # the second pass uses fresh seeds, identically in both
        torch_layer.theta.grad = None
        got_t, got_k = _outputs_and_gradients(torch_layer, keras_layer, x, cot)
        for a, b in zip(got_t, got_k, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"pass {step}")
    assert torch_layer._call.calls == keras_layer._call.calls == 4


@pytest.mark.parametrize("torch_method", ["backprop", "adjoint"])
def test_in_graph_engines_agree_on_every_method(torch_method: str) -> None:
    rng = np.random.default_rng(8)
    torch_layer, keras_layer = _pair(dict(n_qubits=3, depth=2, bases="XZ"), rng)
    torch_layer = qtorch.QuantumLayer(3, depth=2, bases="XZ", diff_method=torch_method)
    with torch.no_grad():
        torch_layer.theta.copy_(torch.from_numpy(keras_layer.theta.numpy()))
    assert torch_layer.spec.in_graph and keras_layer.spec.in_graph
    x = rng.normal(size=(5, 3)).astype(np.float32)
    cot = rng.normal(size=(5, 6)).astype(np.float32)
    got_t, got_k = _outputs_and_gradients(torch_layer, keras_layer, x, cot)
    for a, b in zip(got_t, got_k, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-5)
