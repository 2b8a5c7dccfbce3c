"""Circuits and rules of the quantum-first layers, against the reference engine and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core.errors import BindingError, CircuitError
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.quantum_first import (
    check_resize,
    class_probabilities,
    nonlinearity_circuit,
    nonlinearity_columns,
    nonlinearity_rows,
    pooled_qubits,
    pooling_circuit,
    readout_circuit,
    readout_qubits,
)


@pytest.mark.parametrize(("n_classes", "n_qubits"), [(2, None), (3, 2), (5, 3), (10, 5)])
def test_readout_probabilities_are_the_renormalised_basis_marginals(
    n_classes: int, n_qubits: int | None
) -> None:
    lc = readout_circuit(n_classes, n_qubits, depth=1)
    rng = np.random.default_rng(n_classes)
    values = {s: rng.uniform(0, 6, size=3) for s in lc.circuit.symbols}
    b = NumpyBackend()
    e = b.run(lc.circuit, values, lc.observables).expectations
    probs = b.run(lc.circuit, values, outputs=("probabilities",)).probabilities
    m, n = readout_qubits(n_classes), lc.circuit.n_qubits
    marginal = probs.reshape(3, 2**m, 2 ** (n - m)).sum(axis=2)[:, :n_classes]
    got = class_probabilities(e, n_classes)
    assert np.allclose(got, marginal / marginal.sum(axis=1, keepdims=True), atol=1e-12)
    assert np.allclose(got.sum(axis=1), 1)


@pytest.mark.parametrize(("channel", "basis"), [("amplitude_damping", "Z"), ("phase_damping", "X")])
def test_nonlinearity_has_its_closed_form(channel: str, basis: str) -> None:
    lc = nonlinearity_circuit(2, channel)
    x, g = np.array([[0.3, 2.0], [-1.0, 0.7]]), np.array([[0.2, 0.5], [0.9, 0.0]])
    values = {**{f"x_{q}": x[:, q] for q in range(2)}, **{f"gamma_{q}": g[:, q] for q in range(2)}}
    out = NumpyBackend().run(lc.circuit, values, lc.observables).expectations
    want = g + (1 - g) * np.cos(x) if basis == "Z" else np.sqrt(1 - g) * np.sin(x)
    assert np.allclose(out, want, atol=1e-12)


def test_pooling_keeps_evenly_spaced_qubits_and_its_width() -> None:
    assert pooled_qubits(4, 2) == ((0, 2), {1: 0, 3: 2})
    assert pooled_qubits(3, 3) == ((0, 1, 2), {})
    for method in ("trace", "measure", "damping"):
        lc = pooling_circuit(6, 3, method)
        assert len(lc.observables) == 3 and lc.n_features == 6
    with pytest.raises(CircuitError, match="keep must be at most n_qubits=2"):
        pooled_qubits(2, 3)
    with pytest.raises(CircuitError, match="method must be one of"):
        pooling_circuit(4, 2, "average")


def test_measure_pooling_is_deferred_measurement() -> None:
    """Measuring qubit 1 and flipping qubit 0 on outcome 1 gives <Z0> = <Z0 Z1> of the unpooled state."""
    trace = pooling_circuit(2, 1, "trace", depth=1)
    measure = pooling_circuit(2, 1, "measure", depth=1)
    values = {s: np.array([0.4, 1.3]) for s in trace.circuit.symbols}
    b = NumpyBackend()
    zz = b.run(trace.circuit, values, ["Z0 Z1"]).expectations
    assert np.allclose(b.run(measure.circuit, values, measure.observables).expectations, zz)


def test_damping_pooling_interpolates_between_measure_and_trace() -> None:
    """Z of the kept qubit is the mixture (1-γ)·<Z0 Z1> + γ·<Z0>: with probability 1-γ the discarded
    qubit's excitation survives the damping and is measured into its partner."""
    trace = pooling_circuit(2, 1, "trace", depth=1)
    values = {s: np.array([0.4, 1.3, -2.0]) for s in trace.circuit.symbols}
    b = NumpyBackend()
    z0, zz = b.run(trace.circuit, values, ["Z0", "Z0 Z1"]).expectations.T
    for gamma in (0.0, 0.3, 1.0):
        lc = pooling_circuit(2, 1, "damping", depth=1, strength=gamma)
        assert lc.circuit.has_noise
        got = b.run(lc.circuit, values, lc.observables).expectations[:, 0]
        assert np.allclose(got, (1 - gamma) * zz + gamma * z0, atol=1e-12)
    assert pooling_circuit(4, 2, "damping").circuit.operations[-2].params[0].const == 0.5
    with pytest.raises(CircuitError, match="method 'trace' takes none"):
        pooling_circuit(4, 2, "trace", strength=0.2)
    with pytest.raises(CircuitError, match=r"strength must be a number in \[0, 1\], got 1.5"):
        pooling_circuit(4, 2, "damping", strength=1.5)


def test_resize_only_when_asked() -> None:
    assert check_resize(4, 4, False, False) == "same"
    assert check_resize(3, 4, True, False) == "pad"
    assert check_resize(5, 4, False, True) == "truncate"
    with pytest.raises(BindingError, match="got 3 features; pass pad=True"):
        check_resize(3, 4, False, True)
    with pytest.raises(BindingError, match="truncate=True"):
        check_resize(5, 4, True, False)
    with pytest.raises(CircuitError, match="n_classes must be an integer >= 2"):
        readout_circuit(1)


def test_one_qubit_rows_reproduce_the_whole_register_nonlinearity() -> None:
    x, g = np.array([[0.3, 2.0, -0.5], [-1.0, 0.7, 1.1]]), np.array([0.2, 0.5, 0.9])
    whole = nonlinearity_circuit(3, "amplitude_damping", "XZ")
    values = {**{f"x_{q}": x[:, q] for q in range(3)}, **{f"gamma_{q}": np.full(2, g[q]) for q in range(3)}}
    want = NumpyBackend().run(whole.circuit, values, whole.observables).expectations
    one = nonlinearity_circuit(1, "amplitude_damping", "XZ")
    rows = nonlinearity_rows(x, g)
    out = (
        NumpyBackend()
        .run(one.circuit, {"x_0": rows[:, 0], "gamma_0": rows[:, 1]}, one.observables)
        .expectations
    )
    assert np.allclose(nonlinearity_columns(out, 3), want, atol=1e-12)
