"""IR <-> Qiskit: unitaries (little-endian handled), parameters, expansion and errors."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("qiskit")

from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter, ParameterVector
from qiskit.circuit.library import U3Gate
from qiskit.quantum_info import Operator, Statevector

from qstore.core import Circuit, CircuitError, Expr
from qstore.core.gates import GATES
from qstore.core.interop import qiskit as qiskit_interop
from qstore.core.interop.qiskit import from_qiskit, symbol_name, to_qiskit
from qstore.core.testing import dense_state, dense_unitary, random_circuit


def _assert_same_up_to_phase(u: np.ndarray, w: np.ndarray) -> None:
    overlap = np.vdot(u.ravel(), w.ravel())
    assert abs(overlap) > 1e-9
    np.testing.assert_allclose(u * overlap / abs(overlap), w, atol=1e-9)


def _qiskit_unitary(qc: QuantumCircuit, values: dict[str, float]) -> np.ndarray:
    bound = qc.assign_parameters({p: values[p.name] for p in qc.parameters})
    return Operator(bound).reverse_qargs().data


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_random_round_trip_preserves_unitary(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    circuit = random_circuit(n, 10, rng, GATES)
    values = {s: float(rng.uniform(-3, 3)) for s in circuit.symbols}
    qc = to_qiskit(circuit)
    assert {p.name for p in qc.parameters} == set(circuit.symbols)
    want = dense_unitary(circuit, values)
    _assert_same_up_to_phase(_qiskit_unitary(qc, values), want)
    back = from_qiskit(qc)
    assert back.n_qubits == n and set(back.symbols) == set(circuit.symbols)
    _assert_same_up_to_phase(dense_unitary(back, values), want)


DIRECT = sorted(set(GATES) - {"iswapdg", "gpi", "gpi2", "ms", "zz"})


def test_standard_gates_round_trip_exactly() -> None:
    circuit = random_circuit(3, 80, np.random.default_rng(1), DIRECT)
    assert from_qiskit(to_qiskit(circuit)) == circuit


@pytest.mark.parametrize("gate", sorted(GATES))
def test_every_gate_matches_the_table_including_phase_for_standard_gates(gate: str) -> None:
    spec = GATES[gate]
    angles = [0.3 + 0.2 * i for i in range(spec.n_params)]
    circuit = Circuit(spec.n_qubits).gate(gate, *range(spec.n_qubits), params=angles)
    got = Operator(to_qiskit(circuit)).reverse_qargs().data
    if gate in DIRECT or gate in ("gpi", "gpi2", "ms"):
        np.testing.assert_allclose(got, spec.matrix(*angles), atol=1e-12)
    else:
        _assert_same_up_to_phase(got, spec.matrix(*angles))


def test_qubit_order_is_little_endian_in_qiskit() -> None:
    circuit = Circuit(3).x(0).h(2)
    qc = to_qiskit(circuit)
    assert [qc.find_bit(q).index for q in qc.data[0].qubits] == [0]
    np.testing.assert_allclose(Statevector(qc).reverse_qargs().data, dense_state(circuit), atol=1e-12)
    counts = Statevector(to_qiskit(Circuit(3).x(0))).probabilities_dict()
    assert counts == {"001": 1.0}  # Qiskit prints qubit 0 last; the IR bitstring is "100"


def test_linear_expressions_stay_parameterised() -> None:
    circuit = Circuit(2).ry("2*theta + 0.5", 0).rzz("-phi/2 + theta", 0, 1)
    qc = to_qiskit(circuit)
    assert sorted(p.name for p in qc.parameters) == ["phi", "theta"]
    back = from_qiskit(qc)
    assert back.operations[0].params[0] == Expr((("theta", 2.0),), 0.5)
    assert back.operations[1].params[0] == Expr((("phi", -0.5), ("theta", 1.0)))


def test_existing_parameters_are_reused() -> None:
    theta = Parameter("theta")
    qc = to_qiskit(Circuit(1).rx("theta", 0), parameters={"theta": theta})
    assert qc.parameters[0] == theta and qc.parameters[0] != Parameter("theta")


def test_parameter_vectors_become_indexed_symbols() -> None:
    v = ParameterVector("w", 2)
    qc = QuantumCircuit(2)
    qc.ry(v[0], 0)
    qc.crz(3 * v[1] - 1, 0, 1)
    assert from_qiskit(qc).symbols == ("w_0", "w_1")


def test_gates_outside_the_ir_are_expanded() -> None:
    qc = QuantumCircuit(3)
    qc.ch(0, 1)
    qc.cswap(0, 1, 2)
    qc.append(U3Gate(0.1, 0.2, 0.3), [2])
    qc.cp(0.7, 2, 0)
    circuit = from_qiskit(qc)
    _assert_same_up_to_phase(dense_unitary(circuit), Operator(qc).reverse_qargs().data)


def test_global_phase_is_dropped() -> None:
    qc = QuantumCircuit(1, global_phase=0.4)
    qc.x(0)
    assert from_qiskit(qc) == Circuit(1).x(0)


def test_measurements_and_opaque_gates_are_errors() -> None:
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    with pytest.raises(CircuitError, match="remove_final_measurements"):
        from_qiskit(qc)
    opaque = QuantumCircuit(1)
    opaque.append(Gate("mystery", 1, []), [0])
    with pytest.raises(CircuitError, match="mystery"):
        from_qiskit(opaque)


def test_non_linear_angles_are_errors() -> None:
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(1)
    qc.rx(a * b, 0)
    with pytest.raises(CircuitError, match="linear"):
        from_qiskit(qc)


def test_state_preparation_is_an_error() -> None:
    with pytest.raises(CircuitError, match="state preparation"):
        to_qiskit(Circuit(2).prepare_state("v"))


def test_importing_core_does_not_import_qiskit() -> None:
    code = "import sys, qstore.core, qstore.core.interop; assert 'qiskit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_complex_angles_are_errors() -> None:
    a = Parameter("a")
    qc = QuantumCircuit(1)
    qc.rx(a + 1j, 0)
    with pytest.raises(CircuitError, match="complex"):
        from_qiskit(qc)


def test_qiskit_library_circuits_with_greek_parameters_round_trip() -> None:
    from qiskit.circuit.library import real_amplitudes

    qc = real_amplitudes(2, reps=1)
    ir = from_qiskit(qc)
    assert ir.symbols == ("theta_0", "theta_1", "theta_2", "theta_3")
    values = {f"theta_{i}": 0.3 + 0.4 * i for i in range(4)}
    original = Operator(qc.assign_parameters({p: values[symbol_name(p.name)] for p in qc.parameters}))
    np.testing.assert_allclose(original.reverse_qargs().data, dense_unitary(ir, values), atol=1e-12)
    back = to_qiskit(ir)
    assert sorted(p.name for p in back.parameters) == sorted(values)
    assert from_qiskit(back) == ir and from_qiskit(real_amplitudes(2, reps=1)).hash == ir.hash


@pytest.mark.parametrize(
    ("name", "symbol"),
    [("theta", "theta"), ("θ[0]", "theta_0"), ("Φ", "Phi"), ("λ[12]", "lamda_12"), ("w[3]", "w_3"),
     ("a.b", "a_b"), ("3x", "p_3x"), ("中", "u4e2d")],
)  # fmt: skip
def test_parameter_names_map_to_symbols_deterministically(name: str, symbol: str) -> None:
    qc = QuantumCircuit(1)
    qc.rx(Parameter(name), 0)
    assert symbol_name(name) == symbol and from_qiskit(qc).symbols == (symbol,)


def test_parameters_mapping_to_one_symbol_or_to_pi_are_errors() -> None:
    qc = QuantumCircuit(1)
    qc.rx(Parameter("a.b"), 0)
    qc.ry(Parameter("a_b"), 0)
    with pytest.raises(CircuitError, match=r"'a\.b' and 'a_b' both map to symbol 'a_b'"):
        from_qiskit(qc)
    qc = QuantumCircuit(1)
    qc.rx(Parameter("pi"), 0)
    with pytest.raises(CircuitError, match="'pi' means π"):
        from_qiskit(qc)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(qiskit_interop, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
