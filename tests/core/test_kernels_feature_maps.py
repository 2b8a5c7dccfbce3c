"""Feature maps: gate-for-gate and state-for-state equality with Qiskit's ZZFeatureMap, and data checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qstore.core import BindingError, CircuitError, NumpyBackend
from qstore.core.kernels import (
    angle_feature_map,
    entangler_pairs,
    reuploading_feature_map,
    zz_feature_map,
)

ENTANGLEMENTS = ["linear", "circular", "full"]
_QISKIT_NAMES = {"h": "h", "p": "phase", "cx": "cnot"}


def _states(fm, x):
    return NumpyBackend().run(fm.circuit, fm.bindings(x), outputs=("state",)).statevectors


@pytest.mark.parametrize("entanglement", ENTANGLEMENTS)
@pytest.mark.parametrize("n", [2, 3, 5])
def test_zz_matches_qiskit_gate_for_gate(n: int, entanglement: str) -> None:
    library = pytest.importorskip("qiskit.circuit.library")
    x = np.random.default_rng(n).uniform(-1, 3, size=(1, n))
    ref = library.zz_feature_map(n, reps=3, entanglement=entanglement)
    ref = ref.assign_parameters(x[0])
    fm = zz_feature_map(n, reps=3, entanglement=entanglement)
    values = fm.bindings(x)
    assert len(ref.data) == len(fm.circuit.operations)
    for ins, op in zip(ref.data, fm.circuit.operations, strict=True):
        assert _QISKIT_NAMES[ins.operation.name] == op.gate
        assert tuple(ref.find_bit(q).index for q in ins.qubits) == op.qubits
        angles = [float(p) for p in ins.operation.params]
        ours = [float(p.evaluate(values)[0]) for p in op.params]
        np.testing.assert_allclose(ours, angles, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("entanglement", ENTANGLEMENTS)
def test_zz_statevector_matches_qiskit(entanglement: str) -> None:
    library = pytest.importorskip("qiskit.circuit.library")
    quantum_info = pytest.importorskip("qiskit.quantum_info")
    n = 4
    x = np.random.default_rng(7).uniform(0, 2 * math.pi, size=(3, n))
    fm = zz_feature_map(n, reps=2, entanglement=entanglement)
    ours = _states(fm, x)
    for row, state in zip(x, ours, strict=True):
        qc = library.zz_feature_map(n, reps=2, entanglement=entanglement).assign_parameters(row)
        data = quantum_info.Statevector(qc).data
        msb_first = data.reshape((2,) * n).transpose(tuple(reversed(range(n)))).reshape(-1)
        np.testing.assert_allclose(state, msb_first, atol=1e-12)


def test_entangler_pairs_follow_qiskit_order() -> None:
    assert entangler_pairs(4, "linear") == [(0, 1), (1, 2), (2, 3)]
    assert entangler_pairs(4, "circular") == [(3, 0), (0, 1), (1, 2), (2, 3)]
    assert entangler_pairs(2, "circular") == [(0, 1)]
    assert entangler_pairs(3, "full") == [(0, 1), (0, 2), (1, 2)]
    assert entangler_pairs(3, [(2, 0)]) == [(2, 0)]
    with pytest.raises(CircuitError, match="entanglement must be"):
        entangler_pairs(3, "ring")  # type: ignore[arg-type]
    with pytest.raises(CircuitError, match="distinct qubits"):
        entangler_pairs(3, [(1, 1)])


def test_zz_derived_symbols_are_bound_classically() -> None:
    fm = zz_feature_map(3, reps=1, entanglement="linear")
    x = np.array([[0.1, 0.2, 0.3]])
    values = fm.bindings(x)
    assert set(values) == {"x_0", "x_1", "x_2", "zz_0_1", "zz_1_2"}
    assert values["zz_1_2"][0] == pytest.approx((math.pi - 0.2) * (math.pi - 0.3))


def test_angle_map_kernel_is_product_of_cosines() -> None:
    x = np.random.default_rng(1).normal(size=(2, 3))
    for rotation in ("rx", "ry", "rz"):
        fm = angle_feature_map(3, rotation=rotation, scale=0.7)
        s = _states(fm, x)
        fidelity = abs(np.vdot(s[0], s[1])) ** 2
        expected = np.prod(np.cos(0.7 * (x[0] - x[1]) / 2) ** 2)
        assert fidelity == pytest.approx(expected, abs=1e-12)


def test_reuploading_map_layers_and_width() -> None:
    fm = reuploading_feature_map(5, layers=3, n_qubits=2, seed=4)
    assert fm.n_qubits == 2
    assert fm.circuit.gate_counts()["rx"] == 15
    assert fm.hash == reuploading_feature_map(5, layers=3, n_qubits=2, seed=4).hash
    assert fm.hash != reuploading_feature_map(5, layers=3, n_qubits=2, seed=5).hash


def test_bad_data_is_a_clear_error() -> None:
    fm = zz_feature_map(3)
    with pytest.raises(BindingError, match=r"shape \(n_samples, 3\)"):
        fm.bindings(np.zeros((4, 2)))
    with pytest.raises(BindingError, match=r"shape \(n_samples, 3\)"):
        fm.bindings(np.zeros(3))
    bad = np.zeros((4, 3))
    bad[2, 1] = np.nan
    with pytest.raises(BindingError, match=r"non-finite.*row 2"):
        fm.bindings(bad)
    with pytest.raises(BindingError, match="numeric"):
        fm.bindings([["a", "b", "c"]])
    with pytest.raises(BindingError, match="no rows"):
        fm.bindings(np.zeros((0, 3)))


def test_bad_builder_arguments() -> None:
    with pytest.raises(CircuitError, match="at least 2 features"):
        zz_feature_map(1)
    with pytest.raises(CircuitError, match="reps"):
        zz_feature_map(3, reps=0)
    with pytest.raises(CircuitError, match="rotation"):
        angle_feature_map(3, rotation="ryy")  # type: ignore[arg-type]
