"""Pauli strings and observables: parsing, errors, readout order, and their meaning as matrices."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import NumpyBackend, Observable, ObservableError, PauliString, readouts, z_all
from qstore.core.observables import as_observables
from qstore.core.testing import dense_state, random_bindings, random_circuit

PAULI = {
    "I": np.eye(2),
    "X": np.array([[0, 1], [1, 0]]),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0, -1.0]),
}


def dense_observable(obs: Observable, n_qubits: int) -> np.ndarray:
    """Σ coeff · ⊗_q P_q with qubit 0 the leftmost (most significant) factor."""
    total = np.zeros((2**n_qubits, 2**n_qubits), dtype=complex)
    for term in obs.terms:
        factors = dict(term.paulis)
        m = np.eye(1)
        for q in range(n_qubits):
            m = np.kron(m, PAULI[factors.get(q, "I")])
        total += term.coeff * m
    return total


@pytest.mark.parametrize(
    ("text", "paulis", "coeff"),
    [
        ("Z0 Z1", ((0, "Z"), (1, "Z")), 1.0),
        ("X3", ((3, "X"),), 1.0),
        ("I", (), 1.0),
        ("-0.5*Y1", ((1, "Y"),), -0.5),
        ("-Z2", ((2, "Z"),), -1.0),
        ("2.5 * X1 I0 Z0", ((0, "Z"), (1, "X")), 2.5),
        ("  Y10   X2 ", ((2, "X"), (10, "Y")), 1.0),
        ("1e-3*Z0", ((0, "Z"),), 1e-3),
    ],
)
def test_pauli_string_parsing(text: str, paulis: tuple[tuple[int, str], ...], coeff: float) -> None:
    term = PauliString.parse(text)
    assert term.paulis == paulis
    assert term.coeff == coeff


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Z0 Z0", "qubit 0 appears twice"),
        ("Z0 X0", "qubit 0 appears twice"),
        ("W1", "bad factor 'W1'"),
        ("Z", "bad factor 'Z'"),
        ("z0", "bad factor 'z0'"),
        ("Z-1", "bad factor"),
        ("abc*Z0", "bad coefficient 'abc'"),
        ("", "no Pauli factors"),
        ("2*", "no Pauli factors"),
    ],
)
def test_pauli_string_errors(text: str, message: str) -> None:
    with pytest.raises(ObservableError, match=message):
        PauliString.parse(text)


def test_pauli_string_constructor_validation() -> None:
    assert PauliString({0: "Z", 2: "I"}).paulis == ((0, "Z"),)
    with pytest.raises(ObservableError, match="non-negative integer"):
        PauliString([(-1, "Z")])
    with pytest.raises(ObservableError, match="non-negative integer"):
        PauliString([(True, "Z")])
    with pytest.raises(ObservableError, match="one of X, Y, Z, I"):
        PauliString([(0, "W")])


def test_pauli_string_properties() -> None:
    term = PauliString.parse("Z3 Z0")
    assert term.qubits == (0, 3)
    assert term.is_diagonal
    assert not PauliString.parse("Z0 X1").is_diagonal
    assert PauliString.parse("I").is_diagonal and PauliString.parse("I").qubits == ()
    assert str(PauliString.parse("Z1 X0")) == "X0 Z1"
    assert str(PauliString.parse("-0.5*Y1")) == "-0.5*Y1"


def test_observable_parsing() -> None:
    obs = Observable.parse("0.5*X0 X1 - Z2 + Y1")
    assert obs.terms == (
        PauliString({0: "X", 1: "X"}, 0.5),
        PauliString({2: "Z"}, -1.0),
        PauliString({1: "Y"}, 1.0),
    )
    assert obs.max_qubit == 2
    assert Observable.parse("-Z0 - 0.5*X1").terms == (PauliString({0: "Z"}, -1), PauliString({1: "X"}, -0.5))
    assert Observable.parse("I").max_qubit == -1
    # A leading sign must not glue the factors of a multi-qubit term together.
    assert Observable.parse("-Z0 Z1").terms == (PauliString({0: "Z", 1: "Z"}, -1.0),)
    assert Observable.parse("-0.5*X0 X1 + Z2").terms[0] == PauliString({0: "X", 1: "X"}, -0.5)
    assert Observable.parse("Z0 - 2*X1 Y2").terms[1] == PauliString({1: "X", 2: "Y"}, -2.0)
    assert Observable.parse(str(obs)) == obs


@pytest.mark.parametrize("text", ["", "Z0 +", "0.5*X0 + Q1", "Z0 + + Z1", "Z0 Z0 + X1"])
def test_observable_errors(text: str) -> None:
    with pytest.raises(ObservableError):
        Observable.parse(text)


def test_observable_needs_pauli_terms() -> None:
    with pytest.raises(ObservableError, match="at least one"):
        Observable(())
    with pytest.raises(ObservableError, match="must be PauliString"):
        Observable(("Z0",))  # type: ignore[arg-type]


def test_as_observables_normalises_mixed_input() -> None:
    term = PauliString.parse("X1")
    obs = Observable.parse("Z0 + Z1")
    assert as_observables("Z0") == (Observable((PauliString({0: "Z"}),)),)
    assert as_observables(term) == (Observable((term,)),)
    assert as_observables([obs, term, "Y0"]) == (obs, Observable((term,)), Observable.parse("Y0"))
    with pytest.raises(ObservableError, match="expected an Observable"):
        as_observables([3])  # type: ignore[list-item]


def test_readouts_are_basis_major() -> None:
    got = [str(o) for o in readouts(3, "XYZ")]
    assert got == ["X0", "X1", "X2", "Y0", "Y1", "Y2", "Z0", "Z1", "Z2"]
    assert [str(o) for o in readouts(2, ["Z", "X"])] == ["Z0", "Z1", "X0", "X1"]
    assert z_all(4) == readouts(4, "Z") == tuple(Observable.parse(f"Z{q}") for q in range(4))


def test_readout_errors() -> None:
    with pytest.raises(ObservableError, match="must be X, Y or Z"):
        readouts(2, "XW")
    with pytest.raises(ObservableError, match="repeat"):
        readouts(2, "ZZ")


def test_expectations_match_the_dense_matrix_meaning() -> None:
    """Observables mean what the kron construction says, with qubit 0 most significant."""
    rng = np.random.default_rng(0)
    circuit = random_circuit(3, 15, rng)
    bindings = random_bindings(circuit, 2, rng)
    observables = [
        Observable.parse("0.5*X0 X1 - Z2 + Y1"),
        Observable.parse("Z0"),
        Observable.parse("-2*Y0 Z2 + 0.25*I"),
        Observable.parse("X0 Y1 Z2"),
        *readouts(3, "XYZ"),
    ]
    got = NumpyBackend().run(circuit, bindings, observables).expectations
    for b in range(2):
        psi = dense_state(circuit, {k: v[b] for k, v in bindings.items()})
        want = [np.real(psi.conj() @ dense_observable(o, 3) @ psi) for o in observables]
        np.testing.assert_allclose(got[b], want, atol=1e-10)
