"""The reference engine passes its own conformance kit, in both precisions, plus engine specifics."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Circuit, NumpyBackend, ResourceError
from qstore.core.ansatz import layer_circuit
from qstore.core.errors import CapabilityError
from qstore.core.testing import BackendConformance, dense_state, random_bindings, random_circuit


class TestNumpyComplex128(BackendConformance):
    atol = 1e-10

    @pytest.fixture
    def backend(self) -> NumpyBackend:
        return NumpyBackend()


class TestNumpyComplex64(BackendConformance):
    atol = 2e-5
    n_random_circuits = 2

    @pytest.fixture
    def backend(self) -> NumpyBackend:
        return NumpyBackend(precision="single")


def test_random_circuits_match_dense_kron_construction() -> None:
    rng = np.random.default_rng(0)
    backend = NumpyBackend()
    for n in range(1, 11):
        circuit = random_circuit(n, 3 * n + 2, rng)
        bindings = random_bindings(circuit, 2, rng)
        states = backend.run(circuit, bindings, outputs=("state",)).statevectors
        for b in range(2):
            want = dense_state(circuit, {k: v[b] for k, v in bindings.items()})
            np.testing.assert_allclose(states[b], want, atol=1e-10)


def test_unknown_precision_is_rejected() -> None:
    with pytest.raises(
        CapabilityError, match=r"precision must be one of \['single', 'double'\], got 'float32'"
    ):
        NumpyBackend(precision="float32")


def test_state_too_large_for_memory_is_refused_with_size() -> None:
    with pytest.raises(ResourceError, match="GiB"):
        NumpyBackend().run(Circuit(20).ry("a", 0), {"a": np.zeros(2**14)}, ["Z0"])


def test_probabilities_and_statevectors_are_consistent() -> None:
    result = NumpyBackend().run(Circuit(2).h(0).ry(0.4, 1), outputs=("state", "probabilities"))
    np.testing.assert_allclose(result.probabilities, np.abs(result.statevectors) ** 2)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0)


def test_complex64_readout_sums_in_double_precision() -> None:
    circuit = layer_circuit(12, depth=4).circuit
    rng = np.random.default_rng(12)
    bindings = {s: rng.uniform(0, 2 * np.pi, size=2) for s in circuit.symbols}
    obs = ["Z0", "Z11", "X1", "Z0 Z1"]
    want = NumpyBackend().run(circuit, bindings, obs).expectations
    got = NumpyBackend("single").run(circuit, bindings, obs).expectations
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
