"""The backend conformance kit: the pytest suite every backend runs against itself.

A backend — in this repository or a third party's — proves it agrees with the reference engine by
subclassing `BackendConformance` in its own tests and providing a ``backend`` fixture::

    # tests/test_conformance.py of a third-party backend
    import pytest
    from qstore.core.testing import BackendConformance
    from mysim.backend import MySimBackend

    class TestMySim(BackendConformance):
        atol = 1e-6                      # agreement with the reference engine

        @pytest.fixture
        def backend(self):
            return MySimBackend()

Run it with ``pytest -p no:cacheprovider tests/test_conformance.py``. The suite reads the backend's
`Capabilities` and checks what it declares: closed-form circuits (Bell, GHZ, single-qubit
rotations), random circuits of its gate set against `NumpyBackend`, batching, state preparation,
observables, shot statistics (within ``sigmas`` standard errors), seeds, every declared gradient
method, `submit`/``await``, and the errors for unsupported input. Shots-only backends are compared
statistically with ``shots`` samples per expectation.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from qstore.core.backend import GRADIENT_METHODS, Backend
from qstore.core.bindings import resolve_bindings
from qstore.core.circuit import Circuit
from qstore.core.errors import BindingError, CapabilityError, GradientError
from qstore.core.gates import GATES
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.observables import Observable, PauliString
from qstore.core.plugins import list_backends
from qstore.core.testing.circuits import random_bindings, random_circuit

__all__ = ["BackendConformance"]


class BackendConformance:
    """Subclass in a test module and provide a ``backend`` fixture; tune the class attributes."""

    atol: float = 1e-8
    """Tolerance for exact results against the reference engine."""
    shots: int = 4000
    """Shots per expectation for backends without exact expectations."""
    sigmas: float = 5.0
    """Width of the statistical acceptance band, in standard errors."""
    max_random_qubits: int = 4
    n_random_circuits: int = 6
    registered_name: str | None = None
    """The name the backend's plugin registers; default: the backend's own name, which must be registered."""

    @pytest.fixture
    def backend(self) -> Backend:
        """Override: return the backend under test."""
        pytest.fail("a BackendConformance subclass must define a `backend` fixture")

    @pytest.fixture
    def reference(self) -> NumpyBackend:
        """The reference engine."""
        return NumpyBackend()

    # -- helpers --------------------------------------------------------------------------------

    def expect(
        self,
        backend: Backend,
        circuit: Circuit,
        bindings: dict[str, Any] | None,
        observables: Any,
        seed: int = 7,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Expectations and per-entry tolerance: exact, or estimated from ``shots`` samples."""
        obs = _observables(observables)
        if backend.capabilities.exact_expectations:
            values = backend.run(circuit, bindings, obs).expectations
            assert values is not None
            return values, np.full(values.shape, self.atol)
        values = backend.run(circuit, bindings, obs, shots=self.shots, seed=seed).expectations
        assert values is not None
        scale = np.array([sum(abs(t.coeff) for t in o.terms) for o in obs])
        return values, np.broadcast_to(self.sigmas * scale / np.sqrt(self.shots) + self.atol, values.shape)

    def supports(self, backend: Backend, *gates: str) -> bool:
        """Whether the backend declares all ``gates``."""
        return set(gates) <= backend.capabilities.gates

    def assert_close(self, actual: Any, expected: Any, tol: Any) -> None:
        """Elementwise ``|actual - expected| <= tol`` with a readable failure."""
        actual, expected = np.asarray(actual), np.asarray(expected)
        assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
        excess = np.abs(actual - expected) - tol
        assert np.all(excess <= 0), (
            f"max deviation beyond tolerance: {excess.max():.3g}\n{actual}\n!=\n{expected}"
        )

    # -- declared capabilities ------------------------------------------------------------------

    def test_capabilities_are_consistent(self, backend: Backend) -> None:
        """Capabilities name the backend, allow 2+ qubits and declare only gates of the library."""
        caps = backend.capabilities
        assert caps.name and caps.name == backend.name
        assert caps.max_qubits >= 2
        assert caps.gates <= set(GATES), f"unknown gates declared: {sorted(caps.gates - set(GATES))}"
        assert set(caps.gradient_methods) <= set(GRADIENT_METHODS)
        assert caps.exact_expectations or caps.shots
        assert caps.devices

    def test_registered_under_its_name(self, backend: Backend) -> None:
        """``Capabilities.name`` is the name the backend is registered under."""
        name = self.registered_name or backend.name
        assert backend.name == name, (
            f"registered as {name!r} but the backend's name is {backend.name!r}; "
            "Capabilities.name must be the registered name"
        )
        installed = list_backends()
        assert name in installed, f"no installed plugin registers backend {name!r}; installed: {installed}"

    # -- closed forms ---------------------------------------------------------------------------

    def test_bell_state(self, backend: Backend) -> None:
        """The Bell state's Pauli correlations (and state, where given) are exact."""
        bell = Circuit(2).h(0).cnot(0, 1)
        values, tol = self.expect(backend, bell, None, ["Z0 Z1", "X0 X1", "Y0 Y1", "Z0", "Z1"])
        self.assert_close(values, [[1, 1, -1, 0, 0]], tol)
        if backend.capabilities.statevector:
            state = backend.run(bell, outputs=("state",)).statevectors
            assert state is not None
            self.assert_close(_unphase(state), _unphase(np.array([[1, 0, 0, 1]]) / np.sqrt(2)), self.atol)

    def test_ghz_state(self, backend: Backend) -> None:
        """The 3-qubit GHZ state's correlations match, and its samples are only 000 and 111."""
        ghz = Circuit(3).h(0).cnot(0, 1).cnot(1, 2)
        values, tol = self.expect(backend, ghz, None, ["Z0 Z1", "Z1 Z2", "X0 X1 X2", "Z0", "Y0 Y1 X2"])
        self.assert_close(values, [[1, 1, 1, 0, -1]], tol)
        if backend.capabilities.shots:
            result = backend.run(ghz, shots=500, seed=3)
            assert set(result.counts()) <= {"000", "111"}
            assert sum(result.counts().values()) == 500

    def test_single_qubit_rotations(self, backend: Backend) -> None:
        """RX, RY, RZ expectations follow their closed forms over a sweep of angles."""
        theta = np.linspace(-np.pi, np.pi, 7)
        cases = [
            (Circuit(1).rx("t", 0), ["Z0", "Y0", "X0"], [np.cos(theta), -np.sin(theta), 0 * theta]),
            (Circuit(1).ry("t", 0), ["Z0", "X0", "Y0"], [np.cos(theta), np.sin(theta), 0 * theta]),
            (Circuit(1).h(0).rz("t", 0), ["X0", "Y0", "Z0"], [np.cos(theta), np.sin(theta), 0 * theta]),
        ]
        for circuit, obs, expected in cases:
            if not self.supports(backend, *(op.gate for op in circuit.operations)):
                continue
            values, tol = self.expect(backend, circuit, {"t": theta}, obs)
            self.assert_close(values, np.stack(expected, axis=1), tol)

    # -- agreement with the reference -----------------------------------------------------------

    def test_random_circuits_match_reference(self, backend: Backend, reference: NumpyBackend) -> None:
        """Random circuits of the declared gates agree with the reference engine."""
        rng = np.random.default_rng(2024)
        gates = backend.capabilities.gates
        for n in range(1, self.max_random_qubits + 1):
            for _ in range(self.n_random_circuits):
                circuit = random_circuit(n, 4 * n, rng, gates)
                bindings = random_bindings(circuit, 3, rng)
                obs = _random_observables(n, rng)
                values, tol = self.expect(backend, circuit, bindings, obs)
                expected = reference.run(circuit, bindings, obs).expectations
                self.assert_close(values, expected, tol)
                if backend.capabilities.statevector:
                    got = backend.run(circuit, bindings, outputs=("state",)).statevectors
                    want = reference.run(circuit, bindings, outputs=("state",)).statevectors
                    self.assert_close(_unphase(got), _unphase(want), 10 * self.atol)

    def test_batch_equals_individual_runs(self, backend: Backend) -> None:
        """A batch of bindings gives what running each binding alone gives."""
        rng = np.random.default_rng(5)
        circuit = random_circuit(3, 10, rng, backend.capabilities.gates)
        bindings = random_bindings(circuit, 4, rng)
        obs = ["Z0", "X1 Z2"]
        if not backend.capabilities.exact_expectations:
            pytest.skip("batch equality is checked exactly; shots-only backends are covered statistically")
        batched = backend.run(circuit, bindings, obs).expectations
        assert batched is not None
        for b in range(4):
            single = backend.run(circuit, {k: v[b] for k, v in bindings.items()}, obs).expectations
            self.assert_close(batched[b : b + 1], single, self.atol)

    def test_state_preparation(self, backend: Backend, reference: NumpyBackend) -> None:
        """Real and complex state preparation, followed by gates, agrees with the reference."""
        rng = np.random.default_rng(11)
        circuit = Circuit(3).prepare_state("v").ry("a", 1).cnot(1, 2)
        for amplitudes in (rng.normal(size=(2, 8)), rng.normal(size=(2, 8)) + 1j * rng.normal(size=(2, 8))):
            amplitudes = amplitudes / np.linalg.norm(amplitudes, axis=1, keepdims=True)
            bindings = {"v": amplitudes, "a": np.array([0.3, -1.1])}
            obs = ["Z0", "X1", "Y2 Z0", "Z1 Z2"]
            values, tol = self.expect(backend, circuit, bindings, obs)
            self.assert_close(values, reference.run(circuit, bindings, obs).expectations, tol)

    # -- sampling -------------------------------------------------------------------------------

    def test_shot_statistics(self, backend: Backend) -> None:
        """Sampled frequencies lie within ``sigmas`` standard errors of the exact probabilities."""
        if not backend.capabilities.shots:
            pytest.skip("backend does not sample")
        theta = np.array([0.3, 1.2, 2.5])
        shots = 2000
        result = backend.run(Circuit(1).ry("t", 0), {"t": theta}, shots=shots, seed=1)
        assert result.samples is not None and result.samples.shape == (3, shots)
        assert set(np.unique(result.samples)) <= {0, 1}
        p1 = np.sin(theta / 2) ** 2
        sigma = np.sqrt(p1 * (1 - p1) / shots)
        self.assert_close(result.samples.mean(axis=1), p1, self.sigmas * sigma)

    def test_seeded_sampling_is_reproducible(self, backend: Backend) -> None:
        """Two runs with the same seed give the same samples."""
        if not backend.capabilities.shots:
            pytest.skip("backend does not sample")
        circuit = Circuit(2).h(0).ry(0.7, 1).cnot(0, 1)
        first = backend.run(circuit, shots=300, seed=42).samples
        second = backend.run(circuit, shots=300, seed=42).samples
        np.testing.assert_array_equal(first, second)

    # -- gradients ------------------------------------------------------------------------------

    @pytest.mark.parametrize("method", GRADIENT_METHODS)
    def test_gradient_matches_reference(self, backend: Backend, reference: NumpyBackend, method: str) -> None:
        """Each declared gradient method agrees with the reference's adjoint gradient."""
        if method not in backend.capabilities.gradient_methods:
            pytest.skip(f"{method} not declared")
        gates = backend.capabilities.gates
        circuit = (
            Circuit(2).ry("2*a + 0.1", 0).rx("b", 1).cnot(0, 1).rz("a - b", 1)
            if self.supports(backend, "ry", "rx", "rz", "cnot")
            else random_circuit(2, 6, np.random.default_rng(3), gates, symbols=("a", "b"))
        )
        shots = None if backend.capabilities.exact_expectations else self.shots
        if method == "finite-diff" and (shots is not None or self.atol > 1e-7):
            pytest.skip("finite differences need exact, double-precision expectations")
        noisy = method == "spsa" or shots is not None
        batch = 64 if noisy else 3
        bindings = {k: np.full(batch, v) for k, v in {"a": 0.4, "b": -0.8}.items() if k in circuit.symbols}
        obs = ["Z0", "Z1", "X0 X1"]
        cot = np.tile(np.random.default_rng(9).normal(size=(1, 3)), (batch, 1))
        got = backend.gradient(circuit, bindings, obs, cot, method=method, shots=shots, seed=13)
        want = reference.gradient(circuit, bindings, obs, cot, method="adjoint")
        for name in want:
            if noisy:
                mean, err = got[name].mean(), got[name].std() / np.sqrt(batch)
                tol = self.sigmas * err + 1e-6
                assert abs(mean - want[name][0]) <= tol, (
                    f"{method} d/d{name}: {mean} vs {want[name][0]} ± {tol}"
                )
            else:
                tol = 1e-6 if method == "finite-diff" else max(100 * self.atol, 1e-9)
                self.assert_close(got[name], want[name], tol)

    # -- errors ---------------------------------------------------------------------------------

    def test_bad_input_is_a_clear_error(self, backend: Backend) -> None:
        """Missing bindings, bad qubits, shots, gates, sizes and gradient methods raise Q-Store errors."""
        circuit = Circuit(2).ry("a", 0).cnot(0, 1)
        with pytest.raises(BindingError, match="a"):
            backend.run(circuit, {}, ["Z0"], shots=None if backend.capabilities.exact_expectations else 10)
        with pytest.raises(BindingError, match="batch size"):
            resolve_bindings(Circuit(2).ry("a", 0).rx("b", 1), {"a": [1, 2], "b": [1, 2, 3]})
        with pytest.raises(CapabilityError, match="qubit"):
            backend.run(
                circuit, {"a": 0.1}, ["Z5"], shots=None if backend.capabilities.exact_expectations else 10
            )
        with pytest.raises(CapabilityError, match="shots"):
            backend.run(circuit, {"a": 0.1}, ["Z0"], shots=0)
        too_big = backend.capabilities.max_qubits + 1
        with pytest.raises(CapabilityError, match=str(backend.capabilities.max_qubits)):
            backend.run(Circuit(too_big).h(0), shots=None if backend.capabilities.exact_expectations else 10)
        missing = sorted(set(GATES) - backend.capabilities.gates)
        if missing:
            spec = GATES[missing[0]]
            bad = Circuit(max(spec.n_qubits, 2)).gate(
                missing[0], *range(spec.n_qubits), params=[0.1] * spec.n_params
            )
            with pytest.raises(CapabilityError, match="supports"):
                backend.run(bad, shots=None if backend.capabilities.exact_expectations else 10)
        undeclared = [m for m in GRADIENT_METHODS if m not in backend.capabilities.gradient_methods]
        if undeclared:
            with pytest.raises(GradientError, match="supports"):
                backend.gradient(circuit, {"a": 0.1}, ["Z0"], np.ones((1, 1)), method=undeclared[0])

    # -- asynchronous use -----------------------------------------------------------------------

    def test_submit_result_and_await(self, backend: Backend) -> None:
        """``submit`` returns a job whose ``result`` and ``await`` give the run's result."""
        circuit = Circuit(2).h(0).cnot(0, 1)
        shots = None if backend.capabilities.exact_expectations else 200
        job = backend.submit(circuit, None, ["Z0 Z1"], shots=shots, seed=1)
        result = job.result(timeout=120)
        assert result.expectations is not None and result.expectations.shape == (1, 1)
        assert job.status() == "done"

        async def main() -> Any:
            return await backend.submit(circuit, None, ["Z0 Z1"], shots=shots, seed=1)

        awaited = asyncio.run(main())
        np.testing.assert_allclose(awaited.expectations, result.expectations, atol=1e-6)


def _observables(values: Any) -> tuple[Observable, ...]:
    from qstore.core.observables import as_observables

    return as_observables(values)


def _random_observables(n: int, rng: np.random.Generator) -> list[Observable]:
    """Z on every qubit, a random Pauli string, and a weighted sum."""
    obs = [Observable((PauliString(((q, "Z"),)),)) for q in range(n)]
    paulis = [(q, "XYZ"[rng.integers(3)]) for q in range(n)]
    obs.append(Observable((PauliString(paulis),)))
    obs.append(Observable((PauliString(paulis[:1], 0.5), PauliString(paulis[-1:], -0.25))))
    return obs


def _unphase(states: Any) -> np.ndarray:
    """Remove each row's global phase (fix the phase of its largest amplitude).

    Amplitudes tied for largest up to single-precision rounding count as tied, and the first wins,
    so a complex64 engine and the reference pick the same amplitude.
    """
    states = np.asarray(states, dtype=complex)
    magnitude = np.abs(states)
    idx = np.argmax(magnitude >= magnitude.max(axis=1, keepdims=True) - 1e-4, axis=1)
    phase = states[np.arange(states.shape[0]), idx]
    return states * (np.abs(phase) / phase)[:, None]
