"""The fused feature-map simulator equals the reference engine on any circuit of the gate table."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Circuit, NumpyBackend
from qstore.core.kernels import angle_feature_map, reuploading_feature_map, simulate_states, zz_feature_map
from qstore.core.kernels.simulator import FAST_MAX_QUBITS, DenseRun, PhaseRun, plan_for, supports


def _reference(circuit: Circuit, values: dict[str, np.ndarray]) -> np.ndarray:
    return NumpyBackend().run(circuit, values, outputs=("state",)).statevectors


def _mixed_circuit() -> Circuit:
    return (
        Circuit(4)
        .h(0)
        .h(1)
        .h(2)
        .h(3)
        .rz("2*a - 0.3", 0)
        .cnot(0, 2)
        .phase("b", 2)
        .crz("a + b", 2, 3)
        .rzz("0.5*b", 1, 3)
        .y(1)
        .swap(0, 3)
        .iswap(1, 2)
        .s(0)
        .t(3)
        .cz(0, 1)
        .ry("a", 1)
        .rx(0.4, 2)
        .ccx(0, 1, 3)
        .phase("a", 0)
        .x(2)
    )


def test_mixed_circuit_matches_reference() -> None:
    circuit = _mixed_circuit()
    rng = np.random.default_rng(0)
    values = {"a": rng.normal(size=6), "b": rng.normal(size=6)}
    np.testing.assert_allclose(simulate_states(circuit, values, 6), _reference(circuit, values), atol=1e-12)


def test_plan_fuses_phase_runs_and_keeps_a_final_permutation() -> None:
    plan = plan_for(_mixed_circuit())
    kinds = [type(s) for s in plan.steps]
    assert PhaseRun in kinds and DenseRun in kinds
    last_phase = [s for s in plan.steps if isinstance(s, PhaseRun)][-1]
    assert last_phase.perm is not None


@pytest.mark.parametrize("entanglement", ["linear", "circular", "full"])
def test_zz_map_matches_reference_in_both_precisions(entanglement: str) -> None:
    fm = zz_feature_map(5, reps=2, entanglement=entanglement)
    x = np.random.default_rng(3).uniform(0, 2, size=(9, 5))
    ref = _reference(fm.circuit, fm.bindings(x))
    np.testing.assert_allclose(simulate_states(fm.circuit, fm.bindings(x), 9), ref, atol=1e-12)
    single = simulate_states(fm.circuit, fm.bindings(x), 9, np.complex64)
    assert single.dtype == np.complex64
    np.testing.assert_allclose(single, ref, atol=2e-6)


def test_constant_circuit_broadcasts_to_the_batch() -> None:
    circuit = Circuit(3).h(0).cnot(0, 1).t(1).h(2)
    out = simulate_states(circuit, {}, 4)
    assert out.shape == (4, 8)
    np.testing.assert_allclose(out, np.repeat(_reference(circuit, {}), 4, axis=0), atol=1e-12)


@pytest.mark.parametrize(
    "fm",
    [
        angle_feature_map(4, "rz"),
        reuploading_feature_map(4, layers=2),
        reuploading_feature_map(5, 2, n_qubits=3),
    ],
    ids=["angle-rz", "reuploading", "reuploading-narrow"],
)
def test_other_maps_match_reference(fm) -> None:
    x = np.random.default_rng(2).uniform(-2, 2, size=(5, fm.n_features))
    values = fm.bindings(x)
    np.testing.assert_allclose(
        simulate_states(fm.circuit, values, 5), _reference(fm.circuit, values), atol=1e-12
    )


def test_lone_high_qubit_phase_broadcasts_over_lower_bits() -> None:
    circuit = Circuit(3).h(0).h(1).h(2).rz("a", 2).ry("a", 0).phase("b", 1)
    values = {"a": np.array([0.3, -1.2]), "b": np.array([2.0, 0.1])}
    np.testing.assert_allclose(simulate_states(circuit, values, 2), _reference(circuit, values), atol=1e-12)


def test_supports_leaves_wide_or_prepared_circuits_to_the_backend() -> None:
    assert supports(zz_feature_map(8).circuit)
    assert not supports(Circuit(FAST_MAX_QUBITS + 1).h(0))
    assert not supports(Circuit(2).prepare_state("v"))
