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


def test_wide_register_readout_from_marginals_matches_the_table_reference(monkeypatch) -> None:
    import tensorflow as tf

    from qstore.core import statevector as sv
    from qstore.core.observables import Observable
    from qstore.core.plan_readout import compile_readout
    from qstore.tf.statevector import readout_expectations

    n = 16
    rng = np.random.default_rng(6)
    psi = rng.normal(size=(2, 2**n)) + 1j * rng.normal(size=(2, 2**n))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    obs = (Observable.parse(f"0.5*X0 Y{n - 1} - Z1 + Y0 Z1 X2 + 0.1*I"), Observable.parse("X3 X4"))
    monkeypatch.setattr(sv, "TABLE_MAX_QUBITS", 64)
    want = sv.expectations(psi.reshape((2,) + (2,) * n), obs)
    got = readout_expectations(compile_readout(obs, n), tf.constant(psi))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
