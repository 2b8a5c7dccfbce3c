"""Keras layers: agreement with the reference engine, gradients, fit, saving, and errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from qstore.core import Circuit, NumpyBackend
from qstore.core.ansatz import layer_circuit
from qstore.core.errors import CapabilityError, CircuitError, GradientError
from qstore.tf import AmplitudeEncoding, ExpectationValue, QuantumLayer, TFBackend

RNG = np.random.default_rng(7)


def reference(layer: QuantumLayer | ExpectationValue, x: np.ndarray) -> np.ndarray:
    """The layer's outputs from the NumPy reference engine, binding its weights by symbol name."""
    lc = layer.layer_circuit
    bindings = lc.input_bindings(x)
    bindings.update(zip(lc.weights, layer.theta.numpy().reshape(-1).astype(float), strict=True))
    return NumpyBackend().run(lc.circuit, bindings, lc.observables).expectations


@pytest.mark.parametrize(
    ("encoding", "n_features", "bases"),
    [("angle", 3, "Z"), ("reuploading", 3, "XYZ"), ("amplitude", 8, "ZX"), ("amplitude", 5, "Y")],
)
def test_quantum_layer_matches_reference(encoding: str, n_features: int, bases: str) -> None:
    layer = QuantumLayer(
        3, depth=2, entanglement="circular", encoding=encoding, bases=bases, n_features=n_features, pad=True
    )
    x = RNG.normal(size=(5, n_features)).astype(np.float32)
    out = layer(x).numpy()
    assert out.shape == (5, 3 * len(bases))
    np.testing.assert_allclose(out, reference(layer, x), atol=1e-5)


def test_expectation_value_layer_matches_reference() -> None:
    circuit = (
        Circuit(3)
        .ry("x0", 0)
        .ry("x1", 2)
        .cnot(0, 1)
        .crx("w", 1, 2)
        .u3("v", "2*w", 0.1, 0)
        .rzz("x1 + v", 0, 2)
    )
    layer = ExpectationValue(circuit, ["Z0", "X1 Y2", "0.5*Z0 Z2 - X0"], inputs=["x0", "x1"])
    x = RNG.normal(size=(4, 2)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), reference(layer, x), atol=1e-5)


def test_amplitude_encoding_feeds_a_state_preparation() -> None:
    circuit = Circuit(2).prepare_state("x").ry("w", 1).cnot(1, 0)
    inputs = keras.Input((3,))
    outputs = ExpectationValue(circuit, ["Z0", "X1"], inputs=["x"])(AmplitudeEncoding(2, pad=True)(inputs))
    model = keras.Model(inputs, outputs)
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    layer = model.layers[-1]
    np.testing.assert_allclose(model(x).numpy(), reference(layer, np.pad(x, [(0, 0), (0, 1)])), atol=1e-5)


def _gradients(layer: QuantumLayer, x: np.ndarray, cot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(layer(xt) * cot)
    dx, dw = tape.gradient(loss, [xt, layer.theta])
    return dx.numpy(), dw.numpy()


def test_gradients_match_finite_differences() -> None:
    layer = QuantumLayer(3, depth=2, bases="XZ", backend=TFBackend("double"))
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    layer(x)
    cot = RNG.normal(size=(2, 6))
    dx, dw = _gradients(layer, x, cot)
    lc = layer.layer_circuit
    theta = layer.theta.numpy().reshape(-1).astype(float)

    def loss(xv: np.ndarray, th: np.ndarray) -> float:
        b = lc.input_bindings(xv)
        b.update(zip(lc.weights, th, strict=True))
        return float((NumpyBackend().run(lc.circuit, b, lc.observables).expectations * cot).sum())

    h = 1e-6
    x64 = x.astype(float)
    for k in range(theta.size):
        e = np.eye(theta.size)[k] * h
        fd = (loss(x64, theta + e) - loss(x64, theta - e)) / (2 * h)
        assert dw.reshape(-1)[k] == pytest.approx(fd, abs=1e-5)
    for i in range(3):
        e = np.zeros_like(x64)
        e[1, i] = h
        fd = (loss(x64 + e, theta) - loss(x64 - e, theta)) / (2 * h)
        assert dx[1, i] == pytest.approx(fd, abs=1e-5)


@pytest.mark.parametrize(
    ("backend", "diff_method"), [("numpy", "auto"), ("numpy", "parameter-shift"), ("tf", "parameter-shift")]
)
def test_custom_gradient_path_matches_autodiff(backend: str, diff_method: str) -> None:
    native = QuantumLayer(3, depth=1, bases="YZ")
    other = QuantumLayer(3, depth=1, bases="YZ", backend=backend, diff_method=diff_method)
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    native(x), other(x)
    other.theta.assign(native.theta)
    cot = RNG.normal(size=(4, 6)).astype(np.float32)
    for got, want in zip(_gradients(other, x, cot), _gradients(native, x, cot), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4)


def _toy_task(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    x = RNG.uniform(-np.pi, np.pi, size=(n, 2)).astype(np.float32)
    return x, (np.cos(x[:, :1]) * np.cos(x[:, 1:])).astype(np.float32)


@pytest.mark.parametrize("backend", ["tf", "numpy"])
def test_fit_reduces_loss(backend: str) -> None:
    x, y = _toy_task()
    model = keras.Sequential(
        [keras.Input((2,)), QuantumLayer(2, depth=2, backend=backend), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.Adam(0.05), "mse")
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0).history["loss"]
    assert history[-1] < 0.6 * history[0]


def test_shots_forward_and_parameter_shift_training() -> None:
    x, y = _toy_task(16)
    layer = QuantumLayer(2, depth=1, shots=2000)
    assert layer.spec.diff_method == "parameter-shift"  # best declared method usable with shots
    exact = QuantumLayer(2, depth=1)
    exact(x), layer(x)
    layer.theta.assign(exact.theta)
    np.testing.assert_allclose(layer(x).numpy(), exact(x).numpy(), atol=0.15)
    model = keras.Sequential([keras.Input((2,)), layer, keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    model.fit(x, y, epochs=1, verbose=0)


def test_save_and_load_round_trip(tmp_path: object) -> None:
    inputs = keras.Input((3,))
    hidden = QuantumLayer(3, depth=2, encoding="reuploading", bases="XZ")(inputs)
    circuit = Circuit(2).prepare_state("x").ry("w", 0).cnot(0, 1)
    amplitudes = AmplitudeEncoding(2, pad=True)(hidden[:, :3])
    extra = ExpectationValue(circuit, ["Z1", "0.5*X0 X1"], inputs=["x"], backend="numpy")(amplitudes)
    model = keras.Model(inputs, keras.layers.Concatenate()([keras.layers.Dense(2)(hidden), extra]))
    path = f"{tmp_path}/m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = RNG.normal(size=(6, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    config = loaded.layers[1].get_config()
    assert config["encoding"] == "reuploading" and config["bases"] == "XZ" and config["backend"] == "tf"
    assert config["backend_options"] == {"precision": "single"}
    double = QuantumLayer.from_config(QuantumLayer(2, backend=TFBackend("double")).get_config())
    assert double.backend.dtype == tf.complex128


def test_weight_layout_is_the_layer_circuit_order() -> None:
    layer = QuantumLayer(3, depth=2)
    layer.build((None, 3))
    lc = layer_circuit(3, 2)
    assert tuple(layer.theta.shape) == lc.weight_shape == (2, 3, 2)
    assert lc.weights[:3] == ("theta_0_0_0", "theta_0_0_1", "theta_0_1_0")


def test_bad_shapes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"takes 3 features, got input of shape \(2, 4\)"):
        QuantumLayer(3)(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"takes 3 features, got input of shape \(2, 2\)"):
        QuantumLayer(3)(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="expects input of shape"):
        QuantumLayer(3).call(tf.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="pad=True"):
        AmplitudeEncoding(2)(np.ones((2, 3), np.float32))
    with pytest.raises(CircuitError, match="pad=True"):
        QuantumLayer(3, n_features=2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="all-zero"):
        QuantumLayer(2, encoding="amplitude")(np.zeros((1, 4), np.float32))


def test_unsupported_options_are_clear_errors() -> None:
    with pytest.raises(CircuitError, match="encoding must be one of"):
        QuantumLayer(2, encoding="basis")
    with pytest.raises(GradientError, match="diff_method must be one of"):
        QuantumLayer(2, diff_method="backprop-magic")
    with pytest.raises(GradientError, match=r"needs the framework's own engine \(backend='tf'\)"):
        QuantumLayer(2, backend="numpy", diff_method="backprop")
    with pytest.raises(GradientError, match="exact"):
        QuantumLayer(2, backend="numpy", shots=100, diff_method="adjoint")
    with pytest.raises(GradientError, match="backend 'tf' does not support gradient method 'adjoint'"):
        QuantumLayer(2, diff_method="adjoint")  # never silently turned into backprop
    with pytest.raises(CapabilityError, match="shots"):
        QuantumLayer(2, shots=0)
    with pytest.raises(CapabilityError, match="at most"):
        QuantumLayer(64)
    with pytest.raises(Exception, match="no backend named 'nope'"):
        QuantumLayer(2, backend="nope")


def test_amplitude_inputs_have_no_gradient_through_another_backend() -> None:
    layer = QuantumLayer(2, depth=1, encoding="amplitude", backend="numpy")
    x = tf.constant(RNG.normal(size=(3, 4)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x))
    dx, dw = tape.gradient(loss, [x, layer.theta])
    assert dx is None and dw is not None and np.any(dw.numpy() != 0)


def test_draw_and_specs_match_the_torch_layer_contract() -> None:
    layer = QuantumLayer(3, depth=1, bases="XZ")
    assert all(len(line) <= 60 for line in layer.draw(width=60).splitlines())
    specs = layer.specs()
    assert specs.n_qubits == 3 and specs.gate_counts["cnot"] == 2 and specs.inputs == ("x_0", "x_1", "x_2")


@pytest.mark.slow
def test_an_oversized_batch_under_a_memory_limit_is_a_clear_error_not_a_crash() -> None:
    import subprocess
    import sys
    import textwrap

    child = textwrap.dedent(
        """
        import os, resource
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import numpy as np, tensorflow as tf
        from qstore.tf import QuantumLayer
        layer = QuantumLayer(12, depth=2)
        layer(np.zeros((2, 12), np.float32))
        with open("/proc/self/status") as f:
            used = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (used + 600 * 2**20, resource.RLIM_INFINITY))
        fresh = QuantumLayer(12, depth=2)
        try:
            fresh(np.zeros((20000, 12), np.float32))
        except tf.errors.InvalidArgumentError as exc:
            print("refused:", "fits at most" in str(exc))
        print("small batch:", fresh(np.zeros((4, 12), np.float32)).shape)
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "refused: True" in result.stdout and "small batch: (4, 12)" in result.stdout
