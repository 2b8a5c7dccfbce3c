"""Statevector kernels against dense kron constructions; sampling against chi-square and 5σ bounds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qstore.core import Circuit, NumpyBackend, Observable, ResourceError
from qstore.core import statevector as sv
from qstore.core.bindings import resolve_bindings
from qstore.core.errors import CircuitError
from qstore.core.gates import GATES
from qstore.core.testing import dense_state, embed, random_bindings, random_circuit

PAULI = {"X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]), "Z": np.diag([1.0, -1.0])}


def random_states(n: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    psi = rng.normal(size=(batch, 2**n)) + 1j * rng.normal(size=(batch, 2**n))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    return psi


def random_unitary(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


# -- bit order -----------------------------------------------------------------------------------


def test_bit_order_qubit_zero_is_most_significant() -> None:
    result = NumpyBackend().run(Circuit(3).x(0), shots=5, seed=0, outputs=("state", "samples"))
    assert np.argmax(np.abs(result.statevectors[0])) == 4
    np.testing.assert_array_equal(result.samples, [[4, 4, 4, 4, 4]])
    assert result.counts() == {"100": 5}
    assert NumpyBackend().run(Circuit(3).x(2), shots=3, seed=0).counts() == {"001": 3}
    state = sv.simulate(resolve_bindings(Circuit(3).x(1)))
    assert state.shape == (1, 2, 2, 2) and state[0, 0, 1, 0] == 1


# -- kernels against the dense construction --------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_apply_matrix_matches_embedding(n: int) -> None:
    rng = np.random.default_rng(n)
    batch = 3
    psi = random_states(n, batch, rng)
    state = psi.reshape((batch,) + (2,) * n)
    for k in range(1, min(n, 3) + 1):
        for _ in range(4):
            targets = [int(t) for t in rng.choice(n, size=k, replace=False)]
            u = random_unitary(2**k, rng)
            got = sv.apply_matrix(state, u, targets).reshape(batch, -1)
            np.testing.assert_allclose(got, psi @ embed(u, targets, n).T, atol=1e-12)
            stack = np.stack([random_unitary(2**k, rng) for _ in range(batch)])
            got = sv.apply_matrix(state, stack, targets).reshape(batch, -1)
            want = np.stack([embed(stack[b], targets, n) @ psi[b] for b in range(batch)])
            np.testing.assert_allclose(got, want, atol=1e-12)


def test_apply_pauli_and_expectations_match_kron() -> None:
    rng = np.random.default_rng(3)
    n = 3
    psi = random_states(n, 2, rng)
    state = psi.reshape((2,) + (2,) * n)
    obs = Observable.parse("0.5*X0 Y2 - Z1 + Y0 Z1 X2 + 0.1*I")
    dense = 0.1 * np.eye(8, dtype=complex)
    dense += 0.5 * np.kron(np.kron(PAULI["X"], np.eye(2)), PAULI["Y"])
    dense -= np.kron(np.kron(np.eye(2), PAULI["Z"]), np.eye(2))
    dense += np.kron(np.kron(PAULI["Y"], PAULI["Z"]), PAULI["X"])
    np.testing.assert_allclose(sv.apply_observable(state, obs).reshape(2, -1), psi @ dense.T, atol=1e-12)
    want = np.einsum("bi,ij,bj->b", psi.conj(), dense, psi).real
    np.testing.assert_allclose(sv.expectations(state, [obs])[:, 0], want, atol=1e-12)


@pytest.mark.parametrize("n", [3, 16])
def test_wide_registers_read_observables_from_marginals_without_tables(n: int, monkeypatch) -> None:
    rng = np.random.default_rng(5)
    psi = random_states(n, 2, rng)
    obs = [Observable.parse(f"0.5*X0 Y{n - 1} - Z1 + Y0 Z1 X2 + 0.1*I"), Observable.parse(f"Z{n - 1}")]
    monkeypatch.setattr(sv, "TABLE_MAX_QUBITS", 64)  # read by the 2**n tables
    want = sv.expectations(psi.reshape((2,) + (2,) * n), obs)
    monkeypatch.setattr(sv, "TABLE_MAX_QUBITS", 2)  # read from marginals
    got = sv.expectations(psi.reshape((2,) + (2,) * n), obs)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_simulate_with_fusion_matches_dense_state() -> None:
    rng = np.random.default_rng(4)
    one_qubit = [g for g, spec in GATES.items() if spec.n_qubits == 1]
    circuit = random_circuit(4, 30, rng, gates=[*one_qubit, "cnot", "crz", "ms"])
    bindings = random_bindings(circuit, 3, rng)
    states = sv.simulate(resolve_bindings(circuit, bindings)).reshape(3, -1)
    for b in range(3):
        want = dense_state(circuit, {k: v[b] for k, v in bindings.items()})
        np.testing.assert_allclose(states[b], want, atol=1e-12)


def test_state_preparation_requires_qubits_in_zero() -> None:
    circuit = Circuit(2).h(0).prepare_state("v", [0])
    with pytest.raises(CircuitError, match="before any gate on its qubits"):
        sv.simulate(resolve_bindings(circuit, {"v": [0.6, 0.8]}))
    ok = Circuit(2).h(1).prepare_state("v", [0])
    state = sv.simulate(resolve_bindings(ok, {"v": [0.6, 0.8]})).reshape(-1)
    np.testing.assert_allclose(state, np.kron([0.6, 0.8], [1, 1]) / np.sqrt(2), atol=1e-12)


def test_zero_state_and_probabilities() -> None:
    state = sv.zero_state(3, 2)
    assert state.shape == (2, 2, 2, 2) and state.dtype == np.complex128
    np.testing.assert_array_equal(sv.probabilities(state), np.eye(8)[[0, 0]])
    assert sv.zero_state(2, 1, np.complex64).dtype == np.complex64


def test_check_memory_refuses_with_the_size_needed() -> None:
    with pytest.raises(ResourceError, match=r"needs about .* GiB but only .* GiB is available"):
        sv.check_memory(40, 1, np.complex128)
    sv.check_memory(10, 4, np.complex128)


# -- sampling ------------------------------------------------------------------------------------


def test_sampling_histogram_passes_chi_square() -> None:
    rng = np.random.default_rng(2024)
    probs = sv.probabilities(random_states(3, 1, rng).reshape(1, 2, 2, 2))
    shots = 20_000
    draws = sv.sample(probs, shots, np.random.default_rng(7))
    assert draws.shape == (1, shots)
    observed = np.bincount(draws[0], minlength=8)
    assert stats.chisquare(observed, probs[0] * shots).pvalue > 0.001


def test_batched_sampling_uses_each_rows_own_distribution() -> None:
    rng = np.random.default_rng(5)
    probs = sv.probabilities(random_states(3, 4, rng).reshape(4, 2, 2, 2))
    probs[2] = 0
    probs[2, 5] = 1  # a deterministic row
    shots = 10_000
    draws = sv.sample(probs, shots, np.random.default_rng(8))
    assert np.all(draws[2] == 5)
    for b in (0, 1, 3):
        observed = np.bincount(draws[b], minlength=8)
        assert stats.chisquare(observed, probs[b] * shots).pvalue > 0.001


def test_zero_probability_outcomes_are_never_drawn() -> None:
    probs = np.array([[0.0, 0.5, 0.0, 0.5], [0.25, 0.0, 0.75, 0.0]])
    draws = sv.sample(probs, 5000, np.random.default_rng(0))
    assert set(np.unique(draws[0])) == {1, 3}
    assert set(np.unique(draws[1])) == {0, 2}


def test_backend_counts_pass_chi_square_on_a_random_circuit() -> None:
    rng = np.random.default_rng(11)
    circuit = random_circuit(3, 12, rng, symbols=())
    backend = NumpyBackend()
    result = backend.run(circuit, shots=30_000, seed=3, outputs=("probabilities", "samples"))
    counts = result.counts()
    assert sum(counts.values()) == 30_000
    observed = np.array([counts.get(format(i, "03b"), 0) for i in range(8)])
    expected = result.probabilities[0] * 30_000
    keep = expected > 0
    assert (
        stats.chisquare(observed[keep], expected[keep] * observed.sum() / expected[keep].sum()).pvalue > 0.001
    )


def test_shot_expectations_are_within_five_sigma() -> None:
    rng = np.random.default_rng(12)
    n, batch, shots = 3, 4, 4000
    state = random_states(n, batch, rng).reshape((batch,) + (2,) * n)
    terms = ["Z0", "X1", "Y2", "Z0 Z1", "X0 Y1 Z2", "Y0 Y1", "I"]
    observables = [Observable.parse(t) for t in terms] + [Observable.parse("0.5*X0 X1 - 2*Z2 + Y0")]
    exact = sv.expectations(state, observables)
    estimate = sv.shot_expectations(state, observables, shots, np.random.default_rng(13))
    term_exact = sv.expectations(state, [Observable.parse(t) for t in ("X0 X1", "Z2", "Y0")])
    sigma = np.sqrt(np.clip(1 - exact**2, 0, None) / shots)
    # A weighted sum: bound its standard error by the sum of the terms' (triangle inequality).
    sigma[:, -1] = (np.array([0.5, 2, 1]) * np.sqrt((1 - term_exact**2) / shots)).sum(axis=1)
    assert np.all(np.abs(estimate - exact) <= 5 * sigma + 1e-12)
    np.testing.assert_array_equal(estimate[:, terms.index("I")], 1.0)


def test_seeded_runs_are_reproducible() -> None:
    circuit = Circuit(3).h(0).ry(0.7, 1).cnot(0, 2).rx("a", 2)
    bindings = {"a": np.linspace(0, 1, 4)}
    backend = NumpyBackend()
    one = backend.run(circuit, bindings, ["X0", "Z1 Z2"], shots=500, seed=42)
    two = backend.run(circuit, bindings, ["X0", "Z1 Z2"], shots=500, seed=42)
    np.testing.assert_array_equal(one.samples, two.samples)
    np.testing.assert_array_equal(one.expectations, two.expectations)
    other = backend.run(circuit, bindings, ["X0", "Z1 Z2"], shots=500, seed=43)
    assert not np.array_equal(one.samples, other.samples)
