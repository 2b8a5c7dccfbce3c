"""Layer circuits: structure and names for each encoding and entanglement, input handling, wrapping."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import BindingError, Circuit, CircuitError, NumpyBackend, Observable, StatePreparation
from qstore.core.ansatz import (
    ENCODINGS,
    ENTANGLEMENTS,
    LayerCircuit,
    amplitude_rows,
    entangling_pairs,
    layer_circuit,
)


def test_entangling_pairs() -> None:
    assert entangling_pairs(4, "linear") == [(0, 1), (1, 2), (2, 3)]
    assert entangling_pairs(4, "circular") == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert entangling_pairs(2, "circular") == [(0, 1)]  # no duplicate pair on two qubits
    assert entangling_pairs(3, "full") == [(0, 1), (0, 2), (1, 2)]
    assert entangling_pairs(1, "linear") == [] and entangling_pairs(1, "full") == []
    with pytest.raises(CircuitError, match=r"entanglement must be one of .*'ring'"):
        entangling_pairs(3, "ring")


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("entanglement", ENTANGLEMENTS)
@pytest.mark.parametrize(("n", "depth"), [(1, 1), (3, 2), (4, 0)])
def test_layer_circuit_structure_and_names(encoding: str, entanglement: str, n: int, depth: int) -> None:
    lc = layer_circuit(n, depth=depth, entanglement=entanglement, encoding=encoding)
    pairs = entangling_pairs(n, entanglement)
    assert lc.encoding == encoding and lc.circuit.n_qubits == n
    assert lc.weight_shape == (depth, n, 2)
    assert lc.weights == tuple(f"theta_{d}_{q}_{r}" for d in range(depth) for q in range(n) for r in (0, 1))
    assert lc.n_weights == depth * n * 2
    assert lc.observables == tuple(Observable.parse(f"Z{q}") for q in range(n))
    counts = lc.circuit.gate_counts()
    assert counts.get("cnot", 0) == depth * len(pairs)
    assert counts.get("rz", 0) == depth * n
    if encoding == "amplitude":
        assert lc.inputs == ("x",) and lc.n_features == 2**n
        assert lc.circuit.vector_inputs == ("x",)
        assert lc.circuit.operations[0] == StatePreparation(tuple(range(n)), "x")
        assert counts.get("ry", 0) == depth * n
    else:
        assert lc.inputs == tuple(f"x_{i}" for i in range(n)) and lc.n_features == n
        uploads = max(depth, 1) if encoding == "reuploading" else 1
        assert counts["ry"] == depth * n + uploads * n
    assert set(lc.circuit.symbols) == set(lc.weights) | (set() if encoding == "amplitude" else set(lc.inputs))


def test_layer_order_and_reuploading_positions() -> None:
    lc = layer_circuit(2, depth=2, encoding="reuploading", entanglement="linear")
    ops = [(op.gate, op.qubits, str(op.params[0]) if op.params else "") for op in lc.circuit.operations]
    assert ops == [
        ("ry", (0,), "x_0"),
        ("ry", (1,), "x_1"),
        ("ry", (0,), "theta_0_0_0"),
        ("rz", (0,), "theta_0_0_1"),
        ("ry", (1,), "theta_0_1_0"),
        ("rz", (1,), "theta_0_1_1"),
        ("cnot", (0, 1), ""),
        ("ry", (0,), "x_0"),
        ("ry", (1,), "x_1"),
        ("ry", (0,), "theta_1_0_0"),
        ("rz", (0,), "theta_1_0_1"),
        ("ry", (1,), "theta_1_1_0"),
        ("rz", (1,), "theta_1_1_1"),
        ("cnot", (0, 1), ""),
    ]


def test_readout_bases_are_basis_major() -> None:
    lc = layer_circuit(2, bases="XZ")
    assert [str(o) for o in lc.observables] == ["X0", "X1", "Z0", "Z1"]


def test_feature_count_errors_and_padding() -> None:
    with pytest.raises(
        CircuitError, match=r"angle encoding on 3 qubits takes 3 features, got 2 \(or pass pad=True"
    ):
        layer_circuit(3, n_features=2)
    with pytest.raises(CircuitError, match="takes 3 features, got 4"):
        layer_circuit(3, n_features=4, pad=True)
    with pytest.raises(CircuitError, match="amplitude encoding on 2 qubits takes 4 features, got 0"):
        layer_circuit(2, encoding="amplitude", n_features=0, pad=True)
    padded = layer_circuit(3, n_features=2, pad=True, depth=1)
    assert padded.inputs == ("x_0", "x_1") and padded.pad
    assert [op.qubits for op in padded.circuit.operations[:2]] == [(0,), (1,)]
    assert padded.circuit.operations[2].params[0].symbols == {"theta_0_0_0"}
    amp = layer_circuit(2, encoding="amplitude", n_features=3, pad=True)
    assert amp.n_features == 3
    np.testing.assert_allclose(
        amp.input_bindings(np.array([[1.0, 2.0, 2.0]]))["x"], [[1 / 3, 2 / 3, 2 / 3, 0]]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_qubits": 0}, "n_qubits must be a positive integer"),
        ({"n_qubits": True}, "n_qubits must be a positive integer"),
        ({"n_qubits": 2, "depth": -1}, "depth must be a non-negative integer"),
        ({"n_qubits": 2, "depth": 1.5}, "depth must be a non-negative integer"),
        ({"n_qubits": 2, "encoding": "basis"}, "encoding must be one of"),
        ({"n_qubits": 2, "entanglement": "star"}, "entanglement must be one of"),
        ({"n_qubits": 2, "bases": "XQ"}, "must be X, Y or Z"),
    ],
)
def test_layer_circuit_argument_errors(kwargs: dict, message: str) -> None:
    with pytest.raises((CircuitError, ValueError), match=message):
        layer_circuit(**kwargs)


def test_input_bindings_for_angle_encoding() -> None:
    lc = layer_circuit(3, depth=1)
    x = np.arange(6.0).reshape(2, 3)
    bindings = lc.input_bindings(x)
    assert list(bindings) == ["x_0", "x_1", "x_2"]
    np.testing.assert_array_equal(bindings["x_2"], [2.0, 5.0])
    with pytest.raises(BindingError, match=r"inputs must have shape \(batch, 3\), got \(2, 2\)"):
        lc.input_bindings(np.zeros((2, 2)))
    with pytest.raises(BindingError, match=r"shape \(batch, 3\), got \(3,\)"):
        lc.input_bindings(np.zeros(3))


def test_amplitude_rows_are_normalised_and_zero_rows_rejected() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6))
    rows = amplitude_rows(x, 3)
    assert rows.shape == (5, 8)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0)
    np.testing.assert_allclose(rows[:, :6] * np.linalg.norm(x, axis=1, keepdims=True), x)
    np.testing.assert_array_equal(rows[:, 6:], 0)
    with pytest.raises(BindingError, match=r"all-zero input \(row 1\)"):
        amplitude_rows(np.array([[1.0, 0], [0, 0]]), 1)
    with pytest.raises(BindingError, match="at most 4 features, got 5"):
        amplitude_rows(np.ones((1, 5)), 2)


def test_amplitude_layer_runs_on_normalised_rows() -> None:
    lc = layer_circuit(2, depth=1, encoding="amplitude")
    x = np.array([[3.0, 0, 0, 4.0], [1, 1, 1, 1]])
    weights = {w: 0.0 for w in lc.weights}
    result = NumpyBackend().run(
        lc.circuit, {**lc.input_bindings(x), **weights}, lc.observables, outputs=("state",)
    )
    # Zero weights leave only the CNOT: |00>,|11> amplitudes 0.6, 0.8 become |00>, |10>.
    np.testing.assert_allclose(result.statevectors[0], [0.6, 0, 0.8, 0], atol=1e-12)


def test_from_circuit_defaults_and_amplitude_detection() -> None:
    circuit = Circuit(2).ry("x_0", 0).ry("2*u", 1).rz("w1", 0).cnot(0, 1).rx("w0", 1)
    lc = LayerCircuit.from_circuit(circuit, ["x_0", "u"], ["Z0", "X1"])
    assert lc.weights == ("w0", "w1") and lc.weight_shape == (2,) and lc.n_features == 2
    assert lc.encoding == "custom"
    assert lc.observables == (Observable.parse("Z0"), Observable.parse("X1"))
    np.testing.assert_array_equal(lc.input_bindings(np.array([[1.0, 2.0]]))["u"], [2.0])
    explicit = LayerCircuit.from_circuit(circuit, ["x_0", "u"], "Z0", weights=["w1", "w0"])
    assert explicit.weights == ("w1", "w0")
    amp = LayerCircuit.from_circuit(Circuit(3).prepare_state("v", [0, 2]).ry("t", 1), ["v"], ["Z0"])
    assert amp.encoding == "amplitude" and amp.n_features == 4 and amp.weights == ("t",)
    rows = amp.input_bindings(np.array([[1.0, 1.0, 1.0, 1.0]]))["v"]
    np.testing.assert_allclose(rows, [[0.5, 0.5, 0.5, 0.5]])  # sized for the prepared qubits, not the circuit
    result = NumpyBackend().run(amp.circuit, {"v": rows, "t": 0.0}, ["Z0", "Z2"])
    np.testing.assert_allclose(result.expectations, [[0.0, 0.0]], atol=1e-12)


def test_from_circuit_validation() -> None:
    circuit = Circuit(2).ry("x_0", 0).rz("w", 1).rx("v", 0)
    with pytest.raises(CircuitError, match=r"input symbol\(s\) \['y'\] do not appear in the circuit"):
        LayerCircuit.from_circuit(circuit, ["x_0", "y"], ["Z0"])
    with pytest.raises(CircuitError, match=r"symbol\(s\) \['v'\] are neither inputs nor weights"):
        LayerCircuit.from_circuit(circuit, ["x_0"], ["Z0"], weights=["w"])
    with pytest.raises(CircuitError, match=r"weight symbol\(s\) \['nope'\] do not appear in the circuit"):
        LayerCircuit.from_circuit(circuit, ["x_0"], ["Z0"], weights=["w", "v", "nope"])
    with pytest.raises(CircuitError, match=r"\['x_0'\] cannot be both inputs and weights"):
        LayerCircuit.from_circuit(circuit, ["x_0"], ["Z0"], weights=["w", "v", "x_0"])
    with pytest.raises(Exception, match="bad factor"):
        LayerCircuit.from_circuit(circuit, ["x_0"], ["Q0"])
