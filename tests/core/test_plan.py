"""Plans fuse the reference ansatz into few steps, compile once per structure, and map permutations."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Circuit, NumpyBackend
from qstore.core.ansatz import layer_circuit
from qstore.core.errors import CircuitError
from qstore.core.gates import GATES
from qstore.core.kernels import zz_feature_map
from qstore.core.plan import (
    INDEX_MAX_QUBITS,
    PHASE_MAX_QUBITS,
    PHASE_TERM_BITS,
    Fused,
    Monomials,
    Permutation,
    Phase,
    compilations,
    compile_plan,
    gate_matrices,
)


def test_layer_ansatz_compiles_to_two_three_qubit_blocks_and_one_gather_per_layer() -> None:
    lc = layer_circuit(6, depth=3)
    plan = compile_plan(lc.circuit)
    kinds = [type(s).__name__ for s in plan.steps]
    assert kinds == ["Fused", "Fused", "Permutation"] * 3
    fused = [s for s in plan.steps if isinstance(s, Fused)]
    assert [(s.qubit, s.width) for s in fused[:2]] == [(0, 3), (3, 3)] and all(s.trainable for s in fused)
    assert compile_plan(lc.circuit) is plan


def test_one_qubit_gates_commute_past_a_disjoint_entangling_block() -> None:
    circuit = Circuit(4).h(0).cnot(0, 1).cnot(1, 2).rz("a", 3).cnot(2, 3).ry("b", 3)
    kinds = [type(s).__name__ for s in compile_plan(circuit).steps]
    assert kinds == ["Fused", "Fused", "Permutation", "Fused"]


def test_a_structure_is_compiled_once_across_new_bindings() -> None:
    circuit = layer_circuit(5, depth=2).circuit.rz("fresh_symbol_for_this_test", 0)
    before = compilations()
    backend = NumpyBackend()
    rng = np.random.default_rng(0)
    for _ in range(100):
        bindings = {s: rng.normal(size=3) for s in circuit.symbols}
        backend.run(circuit, bindings, ["Z0"])
    assert compilations() - before == 1


def test_a_permutation_run_is_the_product_of_its_gates_with_phases() -> None:
    circuit = Circuit(3).cnot(0, 1).cz(1, 2).swap(0, 2).cy(2, 1).ccx(0, 1, 2).iswap(1, 2)
    (step,) = [s for s in compile_plan(circuit).steps if isinstance(s, Permutation)]
    dense = np.eye(8, dtype=complex)
    for op in circuit.operations:
        dense = _embed(GATES[op.gate].matrix(), op.qubits, 3) @ dense
    psi = np.random.default_rng(1).normal(size=8) + 1j * np.random.default_rng(2).normal(size=8)
    got = psi[step.perm] * (1 if step.phase is None else step.phase)
    np.testing.assert_allclose(got, dense @ psi, atol=1e-12)
    back = got[step.inverse_perm] * (1 if step.inverse_phase is None else step.inverse_phase)
    np.testing.assert_allclose(back, psi, atol=1e-12)


@pytest.mark.parametrize("gate", ["rx", "ry", "rz", "phase", "u3", "crz", "rzz", "rxx", "ms", "gpi2"])
def test_fourier_gate_matrices_equal_the_table(gate: str) -> None:
    spec = GATES[gate]
    angles = np.random.default_rng(3).uniform(-4, 4, size=(5, spec.n_params))
    want = np.stack([spec.matrix(*row) for row in angles])
    np.testing.assert_allclose(gate_matrices(gate, angles), want, atol=1e-12)


def test_state_preparation_after_a_gate_on_its_qubits_is_a_clear_error() -> None:
    with pytest.raises(CircuitError, match="before any gate"):
        compile_plan(Circuit(2).h(0).prepare_state("v"))


def _embed(matrix: np.ndarray, targets: tuple[int, ...], n: int) -> np.ndarray:
    """The ``2**n`` matrix of ``matrix`` on ``targets`` (first target most significant)."""
    k = len(targets)
    full = np.zeros((2**n, 2**n), dtype=complex)
    for col in range(2**n):
        bits = [(col >> (n - 1 - q)) & 1 for q in range(n)]
        local = sum(bits[t] << (k - 1 - j) for j, t in enumerate(targets))
        for row_local in range(2**k):
            amp = matrix[row_local, local]
            if amp == 0:
                continue
            out = list(bits)
            for j, t in enumerate(targets):
                out[t] = (row_local >> (k - 1 - j)) & 1
            full[sum(b << (n - 1 - q) for q, b in enumerate(out)), col] += amp
    return full


def test_zz_feature_map_is_one_phase_step_per_repetition_with_few_bit_terms() -> None:
    circuit = zz_feature_map(8, reps=2, entanglement="linear").circuit
    steps = compile_plan(circuit).steps
    assert [type(s).__name__ for s in steps] == ["Fused", "Fused", "Fused", "Phase"] * 2
    assert all(not s.trainable for s in steps if isinstance(s, Fused))
    for step in (s for s in steps if isinstance(s, Phase)):
        assert step.perm is None and 1 < len(step.terms) <= 8
        assert all(len(t.qubits) <= PHASE_TERM_BITS for t in step.terms)


def test_a_phase_run_is_the_product_of_its_gates() -> None:
    circuit = (
        Circuit(3)
        .cnot(0, 1)
        .phase("2*a + 0.3", 1)
        .crz("b", 2, 0)
        .cnot(0, 1)
        .rz("-a", 0)
        .swap(1, 2)
        .rzz(0.7, 0, 2)
        .t(2)
        .cz(1, 2)
    )
    plan = compile_plan(circuit)
    (step,) = plan.steps
    assert isinstance(step, Phase) and step.trainable and step.perm is not None
    values = {"a": 0.4, "b": -1.3}
    dense = np.eye(8, dtype=complex)
    for op in circuit.operations:
        angles = [float(p.evaluate(values)) for p in op.params]
        dense = _embed(GATES[op.gate].matrix(*angles), op.qubits, 3) @ dense
    angles = plan.angles(np.array([[values[s] for s in plan.symbols]]))[0]
    bits = (np.arange(8)[:, None] >> (2 - np.arange(3))) & 1
    phi = np.zeros(8)
    for term in step.terms:
        assert len(term.qubits) <= PHASE_TERM_BITS
        sub = bits[:, list(term.qubits)] @ (1 << np.arange(len(term.qubits) - 1, -1, -1)).astype(int)
        phi += (angles[term.cols] @ term.weights + term.const)[sub]
    factor = np.exp(1j * phi)
    psi = np.random.default_rng(4).normal(size=8) + 1j * np.random.default_rng(5).normal(size=8)
    np.testing.assert_allclose(factor * psi[step.perm], dense @ psi, atol=1e-12)
    np.testing.assert_allclose((np.conj(factor) * (dense @ psi))[step.inverse_perm], psi, atol=1e-12)


def test_wide_circuits_keep_permutation_and_diagonal_steps() -> None:
    circuit = Circuit(PHASE_MAX_QUBITS + 1).cnot(0, 1).crz("a", 1, 2).cnot(0, 1)
    kinds = [type(s).__name__ for s in compile_plan(circuit).steps]
    assert kinds == ["Permutation", "Diagonal", "Permutation"]


def test_wide_circuits_keep_their_permutation_gates_without_index_maps() -> None:
    circuit = Circuit(INDEX_MAX_QUBITS + 1).cnot(0, 1).cz(1, 2).swap(2, 0)
    (step,) = compile_plan(circuit).steps
    assert isinstance(step, Monomials) and [g.qubits for g in step.gates] == [(0, 1), (1, 2), (2, 0)]
    for gate, op in zip(step.gates, circuit.operations, strict=True):
        np.testing.assert_allclose(gate.matrix(), GATES[op.gate].matrix(), atol=1e-15)
        np.testing.assert_allclose(gate.inverse().matrix() @ gate.matrix(), np.eye(4), atol=1e-15)
