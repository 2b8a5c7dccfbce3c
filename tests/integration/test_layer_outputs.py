"""Layer output kinds, the same in PyTorch and Keras: variances, probabilities, samples, states,
shot vectors — against closed forms, the reference engine and statistical bounds."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")
qtorch = pytest.importorskip("qstore.torch")
qtf = pytest.importorskip("qstore.tf")

from qstore.core import Circuit, NumpyBackend  # noqa: E402
from qstore.core.ansatz import LayerCircuit  # noqa: E402
from qstore.core.errors import BindingError, CapabilityError  # noqa: E402

# One RY(x)·RY(w) rotation per qubit: <Z_q> = cos(x_q + w_q), closed forms for everything below.
CIRCUIT = Circuit(2).ry("x0", 0).ry("w0", 0).ry("x1", 1).ry("w1", 1)
LAYER = LayerCircuit.from_circuit(CIRCUIT, inputs=["x0", "x1"], observables=["Z0", "Z1"])
X = np.array([[0.3, -1.1], [2.0, 0.4]])
W = np.array([0.5, -0.2])


def _torch(output: str, **kwargs):
    layer = qtorch.QuantumLayer(circuit=LAYER, output=output, **kwargs).double()
    with torch.no_grad():
        layer.theta.copy_(torch.from_numpy(W))
    x = torch.tensor(X, requires_grad=True)
    return layer, x, layer(x)


def _keras(output: str, **kwargs):
    layer = qtf.QuantumLayer(circuit=LAYER, output=output, dtype="float64", **kwargs)
    layer.build((None, 2))
    layer.theta.assign(W)
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x)
        total = tf.reduce_sum(out)
    grad = tape.gradient(total, x)
    return out.numpy(), None if grad is None else grad.numpy()


@pytest.mark.parametrize("backend", ["engine", "numpy"])
def test_variance_is_sin_squared_with_its_gradient(backend: str) -> None:
    options = {} if backend == "engine" else {"backend": "numpy", "diff_method": "parameter-shift"}
    theta = X + W
    want, want_grad = np.sin(theta) ** 2, np.sin(2 * theta)
    _, x, out = _torch("variance", **options)
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), want, atol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), want_grad, atol=1e-8)
    got, grad = _keras("variance", **({} if backend == "engine" else options))
    np.testing.assert_allclose(got, want, atol=1e-10)
    np.testing.assert_allclose(grad, want_grad, atol=1e-8)


def test_probabilities_of_chosen_qubits_and_their_gradients() -> None:
    theta = X + W
    p0 = np.stack([np.cos(theta[:, 0] / 2) ** 2, np.sin(theta[:, 0] / 2) ** 2], axis=1)
    p1 = np.stack([np.cos(theta[:, 1] / 2) ** 2, np.sin(theta[:, 1] / 2) ** 2], axis=1)
    joint = np.einsum("bi,bj->bij", p0, p1).reshape(2, 4)
    _, x, out = _torch("probabilities")
    np.testing.assert_allclose(out.detach().numpy(), joint, atol=1e-10)
    out[:, 1].sum().backward()  # d/dx of p(01) = cos²(θ0/2) sin²(θ1/2)
    want = np.stack([-0.5 * np.sin(theta[:, 0]) * p1[:, 1], 0.5 * np.sin(theta[:, 1]) * p0[:, 0]], axis=1)
    np.testing.assert_allclose(x.grad.numpy(), want, atol=1e-8)
    _, _, marginal = _torch("probabilities", output_qubits=[1])
    np.testing.assert_allclose(marginal.detach().numpy(), p1, atol=1e-10)
    got, _ = _keras("probabilities", output_qubits=[1])
    np.testing.assert_allclose(got, p1, atol=1e-10)
    reference = NumpyBackend().run(
        CIRCUIT, {"x0": X[:, 0], "x1": X[:, 1], "w0": W[0], "w1": W[1]}, outputs=("probabilities",)
    )
    np.testing.assert_allclose(out.detach().numpy(), reference.probabilities, atol=1e-10)


def test_probabilities_from_shots_are_the_empirical_distribution() -> None:
    _, _, out = _torch("probabilities", backend="numpy", shots=500, seed=3)
    freq = out.detach().numpy() * 500
    np.testing.assert_allclose(freq, np.round(freq), atol=1e-8)  # counts / shots exactly
    np.testing.assert_allclose(out.detach().numpy().sum(axis=1), 1.0, atol=1e-12)


def test_samples_and_states_in_both_frameworks() -> None:
    _, _, samples = _torch("samples", backend="numpy", shots=4000, seed=5)
    assert tuple(samples.shape) == (2, 4000, 2)
    theta = X + W
    np.testing.assert_allclose(
        samples.numpy().mean(axis=1), np.sin(theta / 2) ** 2, atol=5 * 0.5 / np.sqrt(4000)
    )
    got, _ = _keras("samples", backend="numpy", shots=4000, seed=5)
    np.testing.assert_array_equal(got, samples.numpy())  # same seed, same draws
    _, _, state = _torch("state")
    want = NumpyBackend().run(
        CIRCUIT, {"x0": X[:, 0], "x1": X[:, 1], "w0": W[0], "w1": W[1]}, outputs=("state",)
    )
    np.testing.assert_allclose(state.numpy(), want.statevectors, atol=1e-12)
    assert state.dtype == torch.complex128 and not state.requires_grad


def test_shot_vectors_give_one_block_per_shot_count() -> None:
    layer, x, out = _torch("expectation", backend="numpy", shots=[200, 20000], seed=9)
    assert tuple(out.shape) == (2, 4) and layer.n_outputs == 4
    exact = np.cos(X + W)
    for block, shots in ((slice(0, 2), 200), (slice(2, 4), 20000)):
        assert np.all(np.abs(out.detach().numpy()[:, block] - exact) < 5 / np.sqrt(shots))
    out.sum().backward()  # each block differentiated with its own shots
    np.testing.assert_allclose(x.grad.numpy(), -2 * np.sin(X + W), atol=5 * 2 / np.sqrt(200))
    got, _ = _keras("expectation", backend="numpy", shots=[200, 20000], seed=9)
    np.testing.assert_allclose(got, out.detach().numpy(), atol=1e-12)


def test_keras_float64_computes_in_complex128() -> None:
    layer = qtf.QuantumLayer(3, depth=1, dtype="float64")
    assert layer.backend.capabilities.precision == "double"
    out = layer(np.array([[0.1, 0.2, 0.3]]))
    assert out.dtype == tf.float64


def test_bad_output_requests_are_clear_errors() -> None:
    with pytest.raises(CapabilityError, match="output must be one of"):
        qtorch.QuantumLayer(2, output="density")
    with pytest.raises(CapabilityError, match="output='samples' needs shots"):
        qtorch.QuantumLayer(2, output="samples")
    with pytest.raises(CapabilityError, match=r"output_qubits must be distinct qubits in 0\.\.1"):
        qtf.QuantumLayer(2, output="probabilities", output_qubits=[0, 5])
    with pytest.raises(CapabilityError, match="output_qubits applies to output='probabilities' only"):
        qtorch.QuantumLayer(2, output_qubits=[0])
    with pytest.raises(CapabilityError, match="shot vector lists positive shot counts"):
        qtorch.QuantumLayer(2, shots=[100, None])
    with pytest.raises(CapabilityError, match="float32 or float64"):
        qtorch.QuantumLayer(2).half()(torch.zeros(1, 2, dtype=torch.float16))


@pytest.mark.parametrize("backend", ["engine", "numpy"])
def test_non_finite_inputs_are_refused_by_both_layers_on_every_path(backend: str) -> None:
    options = {} if backend == "engine" else {"backend": "numpy"}
    bad = np.array([[0.1, np.nan], [0.2, 0.3]])
    with pytest.raises(BindingError, match="non-finite value"):
        qtorch.QuantumLayer(2, depth=1, **options).double()(torch.tensor(bad))
    with pytest.raises((tf.errors.InvalidArgumentError, BindingError), match="non-finite"):
        qtf.QuantumLayer(2, depth=1, **options)(bad.astype(np.float32))
