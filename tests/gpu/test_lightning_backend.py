"""The lightning backend passes the conformance kit; adjoint VJPs, seeds and device errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pennylane_lightning")

from qstore.backends.gpu.lightning_backend import LightningBackend, lightning_devices
from qstore.core import CapabilityError, Circuit, NumpyBackend
from qstore.core.gates import GATES
from qstore.core.testing import BackendConformance, dense_unitary, random_bindings, random_circuit


class TestLightningConformance(BackendConformance):
    atol = 1e-10
    n_random_circuits = 3

    @pytest.fixture
    def backend(self) -> LightningBackend:
        return LightningBackend()


class TestLightningSinglePrecision(BackendConformance):
    atol = 2e-5
    n_random_circuits = 1

    @pytest.fixture
    def backend(self) -> LightningBackend:
        return LightningBackend(precision="single")


@pytest.mark.parametrize("gate", sorted(GATES))
def test_every_gate_is_exact_including_global_phase(gate: str) -> None:
    spec = GATES[gate]
    angles = [0.3 + 0.2 * i for i in range(spec.n_params)]
    n = spec.n_qubits
    circuit = Circuit(n).gate(gate, *range(n), params=angles)
    # column k of the unitary: prepare |k> with X gates, then apply the gate
    states = []
    for k in range(2**n):
        prep = Circuit(n)
        for q in range(n):
            if (k >> (n - 1 - q)) & 1:
                prep = prep.x(q)
        states.append(LightningBackend().run(prep + circuit, outputs=("state",)).statevectors[0])
    np.testing.assert_allclose(np.array(states).T, dense_unitary(circuit), atol=1e-12)


def test_adjoint_vjp_matches_reference_on_random_circuits() -> None:
    rng = np.random.default_rng(8)
    backend, reference = LightningBackend(), NumpyBackend()
    for n in (1, 2, 3, 4):
        circuit = random_circuit(n, 6 * n, rng)
        bindings = random_bindings(circuit, 3, rng)
        obs = (
            ["Z0", f"X{n - 1}", f"0.5*Y0 Z{n - 1} - 0.2*X0 + 0.1*I"]
            if n > 1
            else ["Z0", "X0", "0.5*Y0 + 0.1*I"]
        )
        cot = rng.normal(size=(3, 3))
        got = backend.gradient(circuit, bindings, obs, cot, method="adjoint")
        want = reference.gradient(circuit, bindings, obs, cot, method="adjoint")
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], atol=1e-9)


def test_adjoint_vjp_with_respect_to_some_symbols() -> None:
    circuit = Circuit(2).ry("2*a + b", 0).cnot(0, 1).rx("b - c", 1)
    bindings = {"a": [0.1, 0.2], "b": [0.3, -0.4], "c": 0.5}
    cot = np.ones((2, 1))
    got = LightningBackend().gradient(circuit, bindings, ["Z1"], cot, method="adjoint", wrt=["c"])
    want = NumpyBackend().gradient(circuit, bindings, ["Z1"], cot, method="adjoint", wrt=["c"])
    assert list(got) == ["c"]
    np.testing.assert_allclose(got["c"], want["c"], atol=1e-10)


def test_samples_are_seeded_and_qubit_zero_most_significant() -> None:
    backend = LightningBackend()
    circuit = Circuit(3).x(0).h(2)
    first = backend.run(circuit, shots=200, seed=11).samples
    assert set(np.unique(first)) == {0b100, 0b101}
    np.testing.assert_array_equal(first, backend.run(circuit, shots=200, seed=11).samples)
    assert not np.array_equal(first, backend.run(circuit, shots=200, seed=12).samples)


@pytest.mark.parametrize("device", ["lightning.gpu", "lightning.kokkos"])
def test_missing_device_is_a_clear_error(device: str) -> None:
    if device in lightning_devices():
        pytest.skip(f"{device} is installed here")
    with pytest.raises(CapabilityError, match=f"'{device}' is not installed.*lightning.qubit"):
        LightningBackend(device=device)


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(CapabilityError, match=r"lightning\.gpu"):
        LightningBackend(device="default.qubit")
    with pytest.raises(CapabilityError, match="precision"):
        LightningBackend(precision="half")
