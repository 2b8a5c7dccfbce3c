"""Quantum-first Keras layers: the same numbers and gradients as the torch layers, Sequential use,
and saving with Keras's own format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

from qstore.core.errors import BindingError  # noqa: E402
from qstore.tf import quantum_first as kq  # noqa: E402
from qstore.torch import quantum_first as tq  # noqa: E402

X = np.random.default_rng(0).uniform(-1, 1, size=(5, 3)).astype(np.float32)


def _torch_model() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        tq.EncodingLayer(4, pad=True),
        tq.QuantumFeatureExtractor(4, depth=1),
        tq.DecodingLayer(12, units=4),
        tq.QuantumNonlinearity(4, strength=0.2),
        tq.QuantumPooling(4, keep=2, method="damping"),
        tq.QuantumReadout(3, n_qubits=2),
    )


def _keras_model() -> keras.Sequential:
    return keras.Sequential(
        [
            keras.Input((3,)),
            kq.EncodingLayer(4, pad=True),
            kq.QuantumFeatureExtractor(4, depth=1),
            kq.DecodingLayer(12, units=4),
            kq.QuantumNonlinearity(4, strength=0.2),
            kq.QuantumPooling(4, keep=2, method="damping"),
            kq.QuantumReadout(3, n_qubits=2),
        ]
    )


def _copy_weights(source: torch.nn.Sequential, target: keras.Sequential) -> None:
    t = source
    target.layers[1].theta.assign(t[1].theta.detach().numpy())
    target.layers[2].scale.assign(t[2].scale.detach().numpy())
    target.layers[2].kernel.assign(t[2].projection.weight.detach().numpy().T)
    target.layers[3].raw_strength.assign(t[3].raw_strength.detach().numpy())
    target.layers[4].theta.assign(t[4].theta.detach().numpy())
    target.layers[5].theta.assign(t[5].theta.detach().numpy())


def test_keras_and_torch_give_identical_outputs_and_gradients() -> None:
    tm, km = _torch_model(), _keras_model()
    _copy_weights(tm, km)
    xt = torch.tensor(X)
    out_t = tm(xt)
    loss_t = out_t.log()[:, 1].sum()
    grads_t = torch.autograd.grad(loss_t, [tm[1].theta, tm[2].scale, tm[3].raw_strength, tm[5].theta])
    with tf.GradientTape() as tape:
        out_k = km(X)
        loss_k = tf.reduce_sum(tf.math.log(out_k)[:, 1])
    variables = [km.layers[1].theta, km.layers[2].scale, km.layers[3].raw_strength, km.layers[5].theta]
    grads_k = tape.gradient(loss_k, variables)
    assert np.allclose(out_k.numpy(), out_t.detach().numpy(), atol=1e-5)
    assert np.allclose(out_k.numpy().sum(axis=1), 1, atol=1e-6)
    for gt, gk in zip(grads_t, grads_k, strict=True):
        assert np.allclose(gk.numpy(), gt.numpy(), atol=1e-4)


def test_documented_output_widths() -> None:
    km = _keras_model()
    widths = [layer.compute_output_shape((None, 0))[1] for layer in km.layers]
    assert widths == [4, 12, 4, 4, 2, 3]
    assert km(X).shape == (5, 3)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    km = _keras_model()
    before = km(X).numpy()
    path = tmp_path / "quantum_first.keras"
    km.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in km.layers]
    assert np.allclose(loaded(X).numpy(), before, atol=1e-6)


def test_fit_trains_the_damping_strength() -> None:
    model = keras.Sequential([keras.Input((2,)), kq.QuantumNonlinearity(2, strength=0.5)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    start = model.layers[0].raw_strength.numpy().copy()
    x = np.array([[1.0, 2.0], [0.5, -1.0]], dtype=np.float32)
    model.fit(x, np.ones((2, 2), dtype=np.float32), epochs=2, verbose=0)
    assert np.all(model.layers[0].raw_strength.numpy() > start)  # γ -> 1 moves every output to 1


def test_noisy_layers_run_in_graph_on_the_tf_density_engine() -> None:
    layer = kq.QuantumNonlinearity(2, strength=0.3, dtype="float64")
    assert layer.backend.name == "tf" and layer.spec.in_graph
    x = np.array([[0.4, -1.3], [2.0, 0.1]])
    fit_step = tf.function(lambda v: layer(v))
    assert np.allclose(fit_step(x).numpy(), 0.3 + 0.7 * np.cos(x), atol=1e-12)
    pooling = kq.QuantumPooling(4, keep=2, method="damping")
    assert pooling.spec.in_graph and pooling.compute_output_shape((None, 4)) == (None, 2)


@pytest.mark.parametrize("method", ["trace", "measure", "damping"])
def test_pooling_widths_and_numbers_equal_torch(method: str) -> None:
    torch.manual_seed(3)
    strength = 0.3 if method == "damping" else None
    tl = tq.QuantumPooling(5, keep=2, method=method, depth=2, strength=strength).double()
    kl = kq.QuantumPooling(5, keep=2, method=method, depth=2, strength=strength, dtype="float64")
    x = np.random.default_rng(1).uniform(-2, 2, size=(4, 5))
    kl.build((None, 5))
    kl.theta.assign(tl.theta.detach().numpy())
    xt = torch.tensor(x, requires_grad=True)
    out_t = tl(xt)
    xk = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xk)
        out_k = kl(xk)
        loss_k = tf.reduce_sum(out_k[:, 0] - 2 * out_k[:, 1])
    assert out_k.shape == (4, 2) and out_t.shape == (4, 2)
    assert np.allclose(out_k.numpy(), out_t.detach().numpy(), atol=1e-12)
    g_theta_t, g_x_t = torch.autograd.grad((out_t[:, 0] - 2 * out_t[:, 1]).sum(), [tl.theta, xt])
    g_theta_k, g_x_k = tape.gradient(loss_k, [kl.theta, xk])
    assert np.allclose(g_theta_k.numpy(), g_theta_t.numpy(), atol=1e-10)
    assert np.allclose(g_x_k.numpy(), g_x_t.numpy(), atol=1e-10)


def test_errors() -> None:
    with pytest.raises(BindingError, match=r"expects input of shape \(batch, 2\)"):
        kq.QuantumNonlinearity(2)(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(BindingError, match="truncate=True"):
        kq.EncodingLayer(2)(np.zeros((1, 3), dtype=np.float32))
