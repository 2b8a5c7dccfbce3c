"""IR <-> Cirq: exact unitaries (global phase included), sympy symbols, decomposition and errors."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("cirq")

import cirq
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from qstore.core import Circuit, CircuitError, Expr
from qstore.core.gates import GATES
from qstore.core.interop import cirq as cirq_interop
from qstore.core.interop.cirq import from_cirq, to_cirq
from qstore.core.testing import dense_unitary, random_circuit


class _Opaque(cirq.Gate):
    """A gate with a unitary but no decomposition."""

    def _num_qubits_(self) -> int:
        return 1

    def _unitary_(self) -> np.ndarray:
        return np.diag([1, 1j])


def _cirq_unitary(circuit: cirq.Circuit, n: int, values: dict[str, float]) -> np.ndarray:
    return cirq.resolve_parameters(circuit, values).unitary(qubit_order=cirq.LineQubit.range(n))


def _assert_same_up_to_phase(u: np.ndarray, w: np.ndarray) -> None:
    overlap = np.vdot(u.ravel(), w.ravel())
    assert abs(overlap) > 1e-9
    np.testing.assert_allclose(u * overlap / abs(overlap), w, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_random_round_trip_preserves_unitary(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    circuit = random_circuit(n, 10, rng, GATES)
    values = {s: float(rng.uniform(-3, 3)) for s in circuit.symbols}
    converted = to_cirq(circuit)
    assert {s.name for s in cirq.parameter_symbols(converted)} == set(circuit.symbols)
    want = dense_unitary(circuit, values)
    np.testing.assert_allclose(_cirq_unitary(converted, n, values), want, atol=1e-9)
    back = from_cirq(converted, cirq.LineQubit.range(n))
    assert set(back.symbols) == set(circuit.symbols)
    _assert_same_up_to_phase(dense_unitary(back, values), want)


@pytest.mark.parametrize("gate", sorted(GATES))
def test_every_gate_matches_the_table_exactly(gate: str) -> None:
    spec = GATES[gate]
    angles = [0.3 + 0.2 * i for i in range(spec.n_params)]
    circuit = Circuit(spec.n_qubits).gate(gate, *range(spec.n_qubits), params=angles)
    got = _cirq_unitary(to_cirq(circuit), spec.n_qubits, {})
    np.testing.assert_allclose(got, spec.matrix(*angles), atol=1e-12)


SINGLE_GATE_FORMS = sorted(set(GATES) - {"u3", "ms", "gpi", "gpi2", "zz"})


def test_gates_with_a_single_cirq_form_round_trip_exactly() -> None:
    circuit = random_circuit(3, 80, np.random.default_rng(1), SINGLE_GATE_FORMS)
    back = from_cirq(to_cirq(circuit), cirq.LineQubit.range(3))
    for q in range(3):  # Cirq packs commuting operations into moments; per-qubit order is kept
        got = [op for op in back.operations if q in op.qubits]
        want = [op for op in circuit.operations if q in op.qubits]
        assert [(op.gate, op.qubits) for op in got] == [(op.gate, op.qubits) for op in want]
        for a, b in zip(got, want, strict=True):
            for x, y in zip(a.params, b.params, strict=True):
                assert x.symbols == y.symbols and x.const == pytest.approx(y.const, abs=1e-12)
                assert all(x.coefficient(n) == pytest.approx(y.coefficient(n)) for n in y.symbols)


def test_qubit_order_is_preserved() -> None:
    circuit = Circuit(3).x(0).cnot(0, 2)
    state = cirq.Simulator().simulate(to_cirq(circuit), qubit_order=cirq.LineQubit.range(3))
    assert np.argmax(np.abs(state.final_state_vector)) == 0b101
    grid = cirq.Circuit(cirq.CNOT(cirq.GridQubit(1, 0), cirq.GridQubit(0, 0)))
    assert from_cirq(grid).operations[0].qubits == (1, 0)


def test_idle_qubits_need_an_explicit_order() -> None:
    circuit = Circuit(3).h(2)
    assert from_cirq(to_cirq(circuit)).n_qubits == 1
    assert from_cirq(to_cirq(circuit), cirq.LineQubit.range(3)) == circuit
    with pytest.raises(CircuitError, match="not in the given qubit order"):
        from_cirq(to_cirq(circuit), cirq.LineQubit.range(2))


def test_linear_expressions_stay_symbolic() -> None:
    circuit = Circuit(2).ry("2*theta + 0.5", 0).rzz("-phi/2 + theta", 0, 1)
    converted = to_cirq(circuit)
    assert sorted(s.name for s in cirq.parameter_symbols(converted)) == ["phi", "theta"]
    back = from_cirq(converted, cirq.LineQubit.range(2))
    assert back.operations[0].params[0] == Expr((("theta", 2.0),), 0.5)
    assert back.operations[1].params[0] == Expr((("phi", -0.5), ("theta", 1.0)))


def test_cirq_gates_outside_the_ir_are_decomposed() -> None:
    q = cirq.LineQubit.range(3)
    t = sympy.Symbol("t")
    native = cirq.Circuit(
        cirq.CZ(q[0], q[1]) ** 0.3,
        cirq.FSimGate(0.4, 0.2).on(q[1], q[2]),
        cirq.CSWAP(*q),
        cirq.PhasedXZGate(x_exponent=0.3, z_exponent=0.1, axis_phase_exponent=0.7).on(q[2]),
        cirq.CZPowGate(exponent=t).on(q[2], q[0]),
    )
    values = {"t": 0.37}
    circuit = from_cirq(native, q)
    _assert_same_up_to_phase(dense_unitary(circuit, values), _cirq_unitary(native, 3, values))


def test_measurements_opaque_gates_and_non_linear_angles_are_errors() -> None:
    q = cirq.LineQubit(0)
    with pytest.raises(CircuitError, match="measurements"):
        from_cirq(cirq.Circuit(cirq.H(q), cirq.measure(q)))
    with pytest.raises(CircuitError, match="no IR equivalent"):
        from_cirq(cirq.Circuit(_Opaque().on(q)))
    a, b = sympy.symbols("a b")
    with pytest.raises(CircuitError, match="linear"):
        from_cirq(cirq.Circuit(cirq.rx(a * b).on(q)))
    with pytest.raises(CircuitError, match="state preparation"):
        to_cirq(Circuit(2).prepare_state("v"))


def test_importing_core_does_not_import_cirq() -> None:
    code = "import sys, qstore.core, qstore.core.interop; assert 'cirq' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_module_docstring_example_runs_on_the_installed_cirq() -> None:
    result = doctest.testmod(cirq_interop)
    assert result.attempted >= 7 and result.failed == 0
