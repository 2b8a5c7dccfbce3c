"""The native-gate compiler: equivalence on random circuits, merging, virtual Z, angle ranges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qstore.backends.ionq.compiler import compile_circuit, entangler_for, native_gate_counts
from qstore.core import GATES, Circuit
from qstore.core.testing import dense_unitary, random_circuit

pytestmark = pytest.mark.timeout(120)


def _distance_up_to_phase(u: np.ndarray, v: np.ndarray) -> float:
    """max |u - e^{iφ} v| with φ fixed by the largest entry of v."""
    i = np.unravel_index(np.argmax(np.abs(v)), v.shape)
    return float(np.max(np.abs(u - (u[i] / v[i]) * v)))


@pytest.mark.parametrize("entangler", ["ms", "zz"])
def test_thousand_random_circuits_compile_to_equivalent_unitaries(entangler: str) -> None:
    rng = np.random.default_rng(20261122)
    worst = 0.0
    for _ in range(1000):
        n = int(rng.integers(1, 5))
        circuit = random_circuit(n, int(rng.integers(1, 16)), rng)
        values = {s: float(rng.uniform(-np.pi, np.pi)) for s in circuit.symbols}
        compiled = compile_circuit(circuit, values, entangler)  # type: ignore[arg-type]
        assert {op.gate for op in compiled.circuit.operations} <= {"gpi", "gpi2", entangler}
        worst = max(
            worst, _distance_up_to_phase(dense_unitary(compiled.with_frame()), dense_unitary(circuit, values))
        )
    assert worst < 1e-9


@pytest.mark.parametrize("entangler", ["ms", "zz"])
@pytest.mark.parametrize("gate", sorted(GATES))
def test_every_gate_of_the_table_compiles(gate: str, entangler: str) -> None:
    spec = GATES[gate]
    rng = np.random.default_rng(abs(hash(gate)) % 2**32)
    for _ in range(5):
        angles = [float(a) for a in rng.uniform(-4, 4, spec.n_params)]
        circuit = Circuit(spec.n_qubits).gate(gate, *range(spec.n_qubits), params=angles)
        compiled = compile_circuit(circuit, None, entangler)  # type: ignore[arg-type]
        assert _distance_up_to_phase(dense_unitary(compiled.with_frame()), dense_unitary(circuit)) < 1e-9


def test_runs_of_one_qubit_gates_merge_into_at_most_two_natives() -> None:
    circuit = Circuit(1).h(0).rx(0.3, 0).t(0).ry(-1.2, 0).sx(0).u3(0.1, 0.2, 0.3, 0)
    compiled = compile_circuit(circuit)
    assert len(compiled.circuit.operations) <= 2


def test_z_rotations_are_virtual() -> None:
    circuit = Circuit(2).rz(0.4, 0).s(1).t(0).rzz(0.3, 0, 1).phase(1.1, 1)
    compiled = compile_circuit(circuit, entangler="zz")
    assert compiled.circuit.gate_counts() == {"zz": 1}
    assert compiled.frame[0] != 0


def test_frame_moves_into_ms_phases() -> None:
    compiled = compile_circuit(Circuit(2).rz(0.5, 0).rxx(0.2, 0, 1))
    (ms,) = compiled.circuit.operations
    assert ms.gate == "ms"
    assert float(ms.params[0].const) == pytest.approx((-0.5 / (2 * math.pi)) % 1.0)


@pytest.mark.parametrize("entangler", ["ms", "zz"])
def test_native_angles_and_phases_are_in_ionq_ranges(entangler: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        circuit = random_circuit(3, 10, rng)
        values = {s: float(rng.uniform(-10, 10)) for s in circuit.symbols}
        for op in compile_circuit(circuit, values, entangler).circuit.operations:  # type: ignore[arg-type]
            params = [float(p.const) for p in op.params]
            if op.gate in ("gpi", "gpi2"):
                assert 0 <= params[0] < 1
            elif op.gate == "ms":
                assert 0 <= params[0] < 1 and 0 <= params[1] < 1 and 0 < params[2] <= 0.25
            else:
                assert 0 < params[0] <= 0.25


def test_cnot_costs_one_entangler_and_few_single_qubit_gates() -> None:
    for entangler in ("ms", "zz"):
        counts = compile_circuit(Circuit(2).cnot(0, 1), entangler=entangler).counts()  # type: ignore[arg-type]
        assert counts["2q"] == 1 and counts["1q"] <= 4
    assert native_gate_counts(Circuit(2).h(0).cnot(0, 1)) == {"1q": 1, "2q": 1}


def test_systems_and_unbound_symbols() -> None:
    assert entangler_for("aria-1") == "ms" and entangler_for("forte-1") == "zz"
    with pytest.raises(Exception, match="unknown IonQ system"):
        entangler_for("harmony-9")
    with pytest.raises(Exception, match="no values for symbol"):
        compile_circuit(Circuit(1).rx("theta", 0))
