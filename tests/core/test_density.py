"""The NumPy density-matrix engine against closed forms, Cirq's density-matrix simulator, and
finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Circuit, z_all
from qstore.core import density as dm
from qstore.core.bindings import resolve_bindings
from qstore.core.errors import CapabilityError, GradientError
from qstore.core.numpy_backend import NumpyBackend

X = np.array([[0, 1], [1, 0]])
Z = np.diag([1, -1])


def _rho_ry(theta: float) -> np.ndarray:
    psi = np.array([np.cos(theta / 2), np.sin(theta / 2)])
    return np.outer(psi, psi.conj())


def _final(circuit: Circuit, bindings: dict | None = None) -> np.ndarray:
    return dm.density_matrices(dm.simulate(resolve_bindings(circuit, bindings)))


CLOSED_FORMS = {
    "amplitude_damping": lambda r, g: np.array(
        [[r[0, 0] + g * r[1, 1], np.sqrt(1 - g) * r[0, 1]], [np.sqrt(1 - g) * r[1, 0], (1 - g) * r[1, 1]]]
    ),
    "phase_damping": lambda r, g: np.array(
        [[r[0, 0], np.sqrt(1 - g) * r[0, 1]], [np.sqrt(1 - g) * r[1, 0], r[1, 1]]]
    ),
    "depolarizing": lambda r, p: (1 - p) * r + p * np.eye(2) / 2,
    "bit_flip": lambda r, p: (1 - p) * r + p * X @ r @ X,
    "phase_flip": lambda r, p: (1 - p) * r + p * Z @ r @ Z,
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@pytest.mark.parametrize("p", [0.0, 0.25, 0.9, 1.0])
def test_one_qubit_channels_match_their_closed_forms(name: str, p: float) -> None:
    theta = 1.1
    out = _final(Circuit(1).ry(theta, 0).channel(name, 0, strength="s"), {"s": p})[0]
    assert np.allclose(out, CLOSED_FORMS[name](_rho_ry(theta), p), atol=1e-12)


def _noisy_circuit(n: int, rng: np.random.Generator) -> Circuit:
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    q, _ = np.linalg.qr(np.vstack([a, rng.normal(size=(4, 4))]))  # 8x4 isometry -> two 4x4 Kraus ops
    kraus = [q[:4], q[4:]]
    c = Circuit(n)
    for layer in range(2):
        for i in range(n):
            c = c.ry(rng.uniform(0, 6), i).rz(rng.uniform(0, 6), i)
        for i in range(n - 1):
            c = c.cnot(i, i + 1)
        c = c.amplitude_damping(0.2, 0).phase_damping(0.3, n - 1).depolarizing(0.15, 1)
        c = c.bit_flip(0.05, layer % n).phase_flip(0.1, (layer + 1) % n)
    return c.kraus(kraus, 0, 2)


def test_density_matrices_are_states_to_1e_10() -> None:
    rho = _final(_noisy_circuit(4, np.random.default_rng(3)))[0]
    assert abs(np.trace(rho) - 1) < 1e-10
    assert np.allclose(rho, rho.conj().T, atol=1e-12)
    assert np.linalg.eigvalsh(rho).min() > -1e-10


def test_agrees_with_cirq_density_matrix_simulator() -> None:
    cirq = pytest.importorskip("cirq")
    from qstore.core.interop.cirq import to_cirq

    circuit = _noisy_circuit(3, np.random.default_rng(11))
    ours = _final(circuit)[0]
    sim = cirq.DensityMatrixSimulator(dtype=np.complex128)
    theirs = sim.simulate(to_cirq(circuit), qubit_order=cirq.LineQubit.range(3)).final_density_matrix
    assert np.allclose(ours, theirs, atol=1e-10)


def test_noiseless_density_equals_the_statevector_outer_product() -> None:
    c = Circuit(3).h(0).cnot(0, 1).ry(0.4, 2).crz(0.7, 2, 0)
    psi = NumpyBackend().run(c, outputs=("state",)).statevectors[0]
    assert np.allclose(_final(c)[0], np.outer(psi, psi.conj()), atol=1e-12)


def test_state_preparation_loads_a_pure_density_matrix() -> None:
    amps = np.array([0.6, 0.0, 0.0, 0.8])
    rho = _final(Circuit(2).prepare_state("a").bit_flip(0.3, 1), {"a": amps})[0]
    flipped = amps[[1, 0, 3, 2]]
    assert np.allclose(rho, 0.7 * np.outer(amps, amps) + 0.3 * np.outer(flipped, flipped))


def test_backend_expectations_probabilities_and_shots() -> None:
    c = Circuit(2).rx("t", 0).cnot(0, 1).amplitude_damping("g", 1)
    b = NumpyBackend()
    values = {"t": [0.3, 2.0], "g": [0.1, 0.8]}
    r = b.run(c, values, z_all(2), outputs=("probabilities",))
    rho = dm.density_matrices(dm.simulate(resolve_bindings(c, values)))
    diag = np.real(np.diagonal(rho, axis1=1, axis2=2))
    assert np.allclose(r.probabilities, diag)
    assert np.allclose(r.probabilities.sum(axis=1), 1)
    assert np.allclose(r.expectations[:, 0], diag[:, 0] + diag[:, 1] - diag[:, 2] - diag[:, 3])
    shots = 20000
    est = b.run(c, values, z_all(2), shots, seed=5).expectations
    bound = 5 * np.sqrt((1 - r.expectations**2) / shots) + 1e-9
    assert np.all(np.abs(est - r.expectations) < bound)
    with pytest.raises(CapabilityError, match="mixed state"):
        b.run(c, values, outputs=("state",))


@pytest.mark.parametrize("precision", ["double", "single"])
def test_adjoint_through_angles_and_strengths_matches_finite_differences(precision: str) -> None:
    c = (
        Circuit(3)
        .ry("x", 0)
        .rx("2*w + 0.1", 1)
        .cnot(0, 1)
        .amplitude_damping("g", 1)
        .crz("w", 1, 2)
        .phase_damping("0.5*l", 0)
        .depolarizing("g", 2)
    )
    values = {"x": [0.3, 1.2], "w": [0.4, -0.7], "g": [0.25, 0.6], "l": [0.2, 0.9]}
    obs = ["Z0", "X1 Z2", "Y2"]
    cot = np.array([[1.0, -0.5, 2.0], [0.3, 0.7, -1.1]])
    b = NumpyBackend(precision)
    adj = b.gradient(c, values, obs, cot, method="adjoint")
    fd = NumpyBackend().gradient(c, values, obs, cot, method="finite-diff")
    tol = 1e-8 if precision == "double" else 1e-4
    for name in values:
        assert np.allclose(adj[name], fd[name], atol=tol), name


def test_damping_gradient_at_strength_one_is_refused() -> None:
    c = Circuit(1).h(0).amplitude_damping("g", 0)
    with pytest.raises(GradientError, match="infinite derivative at strength 1"):
        NumpyBackend().gradient(c, {"g": 1.0}, "X0", method="adjoint")


def test_cirq_channels_round_trip_and_foreign_channels_become_kraus() -> None:
    cirq = pytest.importorskip("cirq")
    from qstore.core.interop.cirq import from_cirq, to_cirq

    circuit = _noisy_circuit(3, np.random.default_rng(5))
    back = from_cirq(to_cirq(circuit), cirq.LineQubit.range(3))  # Cirq's moments may reorder commuting ops
    assert back.gate_counts() == circuit.gate_counts()
    assert np.allclose(_final(back), _final(circuit), atol=1e-12)
    q = cirq.LineQubit.range(2)
    foreign = cirq.Circuit(
        cirq.H(q[0]),
        cirq.CNOT(q[0], q[1]),
        cirq.generalized_amplitude_damp(0.3, 0.2).on(q[0]),
        cirq.asymmetric_depolarize(0.1, 0.05, 0.02).on(q[1]),
    )
    ours = _final(from_cirq(foreign))[0]
    theirs = (
        cirq.DensityMatrixSimulator(dtype=np.complex128).simulate(foreign, qubit_order=q).final_density_matrix
    )
    assert np.allclose(ours, theirs, atol=1e-10)
