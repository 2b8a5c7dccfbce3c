"""Torch and Keras layers train on ``ionq.simulator`` (fake server) with shots and parameter shift."""

from __future__ import annotations

import numpy as np
import pytest
from fake_ionq import API_KEY

from qstore.core.plugins import isolated_registry

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


@pytest.fixture
def ionq_options(fake) -> dict:
    return {
        "api_key": API_KEY,
        "url": fake.url,
        "poll_interval": 0.005,
        "max_poll_interval": 0.05,
        "timeout": 60,
    }


def test_torch_layer_on_ionq_simulator(ionq_options) -> None:
    torch = pytest.importorskip("torch")
    from qstore.torch import QuantumLayer

    x = torch.tensor(np.random.default_rng(0).uniform(-1, 1, (6, 2)), dtype=torch.float64)
    with isolated_registry("qstore.backends.ionq.plugin", "qstore.torch.plugin", strict=True, disabled=()):
        exact = QuantumLayer(2, depth=1, bases="XZ", backend="torch").double()
        ionq = QuantumLayer(2, depth=1, bases="XZ", backend="ionq.simulator", backend_options=ionq_options,
                            shots=4000, seed=1, diff_method="parameter-shift").double()  # fmt: skip
    with torch.no_grad():
        ionq.theta.copy_(exact.theta)
    out_exact, out_ionq = exact(x), ionq(x)
    assert torch.all((out_exact - out_ionq).abs() < 5 / np.sqrt(4000))
    out_exact.sum().backward()
    out_ionq.sum().backward()
    assert torch.allclose(ionq.theta.grad, exact.theta.grad, atol=0.25)


def test_keras_layer_on_ionq_simulator(make_backend) -> None:
    tf = pytest.importorskip("tensorflow")
    from qstore.tf import QuantumLayer

    backend = make_backend()
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (6, 2)), dtype=tf.float32)
    exact = QuantumLayer(2, depth=1, bases="XZ", backend="tf")
    ionq = QuantumLayer(2, depth=1, bases="XZ", backend=backend, shots=4000, diff_method="parameter-shift")
    exact.build((None, 2))
    ionq.build((None, 2))
    ionq.set_weights(exact.get_weights())
    grads = []
    for layer in (exact, ionq):
        with tf.GradientTape() as tape:
            out = layer(x)
            loss = tf.reduce_sum(out)
        grads.append(tape.gradient(loss, layer.trainable_variables)[0].numpy())
    np.testing.assert_allclose(grads[1], grads[0], atol=0.25)
