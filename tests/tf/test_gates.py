"""TensorFlow gate matrices rebuilt from the table's Fourier coefficients equal the table's own."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qstore.core.gate_fourier import fourier_coefficients, fourier_harmonics
from qstore.core.gates import GATES
from qstore.tf.gates import gate_matrix


@pytest.mark.parametrize("name", sorted(GATES))
def test_gate_matrix_matches_table(name: str) -> None:
    spec = GATES[name]
    angles = np.random.default_rng(len(name)).uniform(-4, 4, size=(spec.n_params, 5))
    got = gate_matrix(name, [tf.constant(a) for a in angles], tf.complex128).numpy()
    want = spec.matrix(*angles) if spec.n_params else spec.matrix()
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert fourier_coefficients(name).shape[0] == fourier_harmonics(name).shape[0] == 3**spec.n_params


def test_scalar_angles_give_one_matrix_and_derivatives_follow_the_table() -> None:
    theta = tf.constant(0.7, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(theta)
        m = gate_matrix("crx", [theta], tf.complex128)
        real = tf.math.real(m)
    assert m.shape == (4, 4)
    d_real = tape.jacobian(real, theta).numpy()
    np.testing.assert_allclose(d_real, GATES["crx"].matrix_derivative([0.7], 0).real, atol=1e-12)
