"""The tf engine's readout stays exact in single precision: float64 sums over the amplitudes."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import NumpyBackend
from qstore.core.ansatz import layer_circuit
from qstore.tf.backend import TFBackend


@pytest.mark.parametrize(
    ("n", "atol"), [(8, 1e-6), pytest.param(20, 1e-5, marks=pytest.mark.slow)], ids=["8q", "20q"]
)
def test_single_precision_readout_agrees_with_the_double_reference(n: int, atol: float) -> None:
    circuit = layer_circuit(n, depth=4).circuit
    rng = np.random.default_rng(n)
    bindings = {s: rng.uniform(0, 2 * np.pi, size=1) for s in circuit.symbols}
    obs = ["Z0", f"Z{n - 1}", "X1", "Z0 Z1"]
    want = NumpyBackend().run(circuit, bindings, obs).expectations
    got = TFBackend("single").run(circuit, bindings, obs).expectations
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)
