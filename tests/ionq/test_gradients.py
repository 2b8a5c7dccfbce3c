"""Parameter-shift gradients with shots on ionq.simulator are unbiased and cost one job."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Circuit, NumpyBackend

pytestmark = pytest.mark.timeout(120)


def test_parameter_shift_with_shots_is_unbiased_and_one_job(make_backend, fake) -> None:
    backend = make_backend()
    circuit = Circuit(2).ry("2*a + 0.1", 0).rx("b", 1).cnot(0, 1).rz("a - b", 1).ry("b", 1)
    rows, shots = 100, 300
    bindings = {"a": np.full(rows, 0.4), "b": np.full(rows, -0.8)}
    obs = ["Z0", "Z1", "X0 X1"]
    cot = np.tile([[0.7, -1.3, 0.5]], (rows, 1))
    posts = fake.count("POST")
    got = backend.gradient(circuit, bindings, obs, cot, method="parameter-shift", shots=shots, seed=3)
    assert fake.count("POST") == posts + 1  # every shifted circuit in one multi-circuit job
    want = NumpyBackend().gradient(circuit, bindings, obs, cot, method="adjoint")
    for name in ("a", "b"):
        mean, stderr = got[name].mean(), got[name].std(ddof=1) / np.sqrt(rows)
        assert stderr > 0  # rows are independent samples, not copies
        assert abs(mean - want[name][0]) < 5 * stderr, (name, mean, want[name][0], stderr)


def test_parameter_shift_variance_shrinks_with_shots(make_backend) -> None:
    backend = make_backend()
    circuit = Circuit(1).ry("t", 0)
    rows = 100
    spread = []
    for shots in (100, 1600):
        g = backend.gradient(circuit, {"t": np.full(rows, 0.9)}, ["Z0"], np.ones((rows, 1)), method="parameter-shift",
                        shots=shots, seed=1)["t"]  # fmt: skip
        spread.append(g.std())
        assert abs(g.mean() + np.sin(0.9)) < 5 * g.std() / np.sqrt(rows)
    assert spread[1] < spread[0] / 2
