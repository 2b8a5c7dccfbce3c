"""Templates against their published definitions: PennyLane/Qiskit gate by gate, and closed forms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qstore.core import Circuit, CircuitError, NumpyBackend, readouts
from qstore.core.errors import BindingError
from qstore.core.templates import (
    basic_entangler_layers,
    hardware_efficient,
    iqp_embedding,
    qaoa_maxcut_layers,
    random_layers,
    strongly_entangling_layers,
)
from qstore.core.testing import dense_state, dense_unitary, embed

# Textbook matrices, written out here so the references do not read the gate table.
_I = np.eye(2)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]])
_Z = np.diag([1.0 + 0j, -1.0])
_H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
_PAULI = {"rx": _X, "ry": _Y, "rz": _Z}
_CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)


def _rot(axis: str, angle: float) -> np.ndarray:
    return np.cos(angle / 2) * _I - 1j * np.sin(angle / 2) * _PAULI[axis]


def _apply(ops: list[tuple[np.ndarray, tuple[int, ...]]], n: int) -> np.ndarray:
    u = np.eye(2**n, dtype=complex)
    for matrix, qubits in ops:
        u = embed(matrix, qubits, n) @ u
    return u


def _same_up_to_phase(a: np.ndarray, b: np.ndarray) -> bool:
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    return np.allclose(a * (b[k] / a[k]), b, atol=1e-12)


# -- closed forms (always run) ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_strongly_entangling_matches_its_definition(n: int) -> None:
    t = strongly_entangling_layers(n, n_layers=3)
    assert t.weight_shape == (3, n, 3) and len(t.weights) == 9 * n
    w = np.random.default_rng(n).uniform(-np.pi, np.pi, t.weight_shape)
    ops = []
    for layer in range(3):
        for q in range(n):
            ops += [(_rot("rz", w[layer, q, 0]), (q,)), (_rot("ry", w[layer, q, 1]), (q,))]
            ops += [(_rot("rz", w[layer, q, 2]), (q,))]
        r = layer % (n - 1) + 1 if n > 1 else 0
        ops += [(_CNOT, (q, (q + r) % n)) for q in range(n)] if n > 1 else []
    assert np.allclose(dense_unitary(t.circuit, t.bindings(w)), _apply(ops, n), atol=1e-12)


def test_basic_entangler_one_qubit_is_one_rotation_by_the_summed_angle() -> None:
    t = basic_entangler_layers(1, n_layers=4, rotation="rx")
    w = np.array([[0.3], [-1.1], [2.0], [0.25]])
    state = dense_state(t.circuit, t.bindings(w))
    assert np.isclose(abs(state[0]) ** 2 - abs(state[1]) ** 2, np.cos(w.sum()))


@pytest.mark.parametrize(("n", "rotation"), [(2, "rx"), (3, "ry"), (4, "rz")])
def test_basic_entangler_matches_its_definition(n: int, rotation: str) -> None:
    t = basic_entangler_layers(n, n_layers=2, rotation=rotation)
    w = np.random.default_rng(0).normal(size=(2, n))
    ring = [(0, 1)] if n == 2 else [(q, (q + 1) % n) for q in range(n)]
    ops = []
    for layer in range(2):
        ops += [(_rot(rotation, w[layer, q]), (q,)) for q in range(n)]
        ops += [(_CNOT, pair) for pair in ring]
    assert np.allclose(dense_unitary(t.circuit, t.bindings(w)), _apply(ops, n), atol=1e-12)


def test_random_layers_are_reproducible_and_use_every_weight_once() -> None:
    a = random_layers(4, n_layers=3, n_rotations=5, seed=7)
    assert a == random_layers(4, n_layers=3, n_rotations=5, seed=7)
    assert a.circuit != random_layers(4, n_layers=3, n_rotations=5, seed=8).circuit
    assert a.weight_shape == (3, 5) and set(a.circuit.symbols) == set(a.weights)
    rotations = [op for op in a.circuit.operations if op.params]
    assert [str(op.params[0]) for op in rotations] == list(a.weights)
    assert {op.gate for op in a.circuit.operations} <= {"rx", "ry", "rz", "cnot"}


def test_qaoa_maxcut_matches_cost_and_mixer_exponentials() -> None:
    n, edges = 4, [(0, 1), (1, 2), (2, 3), (0, 3), (0, 2)]
    t = qaoa_maxcut_layers(n, edges, n_layers=2)
    w = np.array([[0.4, 0.9], [-0.7, 0.3]])
    bits = np.array(list(itertools.product([0, 1], repeat=n)))
    z = 1 - 2 * bits
    cost = sum(0.5 * (z[:, i] * z[:, j] - 1) for i, j in edges)
    plus = np.ones(2**n) / np.sqrt(2**n)
    state = plus
    for gamma, beta in w:
        mixer = np.cos(beta) * _I - 1j * np.sin(beta) * _X
        full = mixer
        for _ in range(n - 1):
            full = np.kron(full, mixer)
        state = full @ (np.exp(-1j * gamma * cost) * state)
    assert _same_up_to_phase(dense_state(t.circuit, t.bindings(w)), state)


def test_hardware_efficient_matches_its_definition() -> None:
    t = hardware_efficient(3, reps=2, entanglement="circular")
    assert t.weight_shape == (3, 3, 2)
    w = np.random.default_rng(1).normal(size=t.weight_shape)
    ops = []
    for layer in range(3):
        ops += [(_rot("ry", w[layer, q, 0]), (q,)) for q in range(3)]
        ops += [(_rot("rz", w[layer, q, 1]), (q,)) for q in range(3)]
        if layer < 2:
            ops += [(_CNOT, pair) for pair in [(0, 1), (1, 2), (2, 0)]]
    assert np.allclose(dense_unitary(t.circuit, t.bindings(w)), _apply(ops, 3), atol=1e-12)


def test_iqp_embedding_matches_its_definition_with_products_as_derived_inputs() -> None:
    fm = iqp_embedding(3, n_repeats=2)
    x = np.array([[0.3, -1.2, 0.8], [1.0, 2.0, 3.0]])
    bindings = fm.bindings(x)
    for row in range(2):
        ops = []
        for _ in range(2):
            for q in range(3):
                ops += [(_H, (q,)), (_rot("rz", x[row, q]), (q,))]
            for i, j in [(0, 1), (0, 2), (1, 2)]:
                zz = np.diag(np.exp(-0.5j * x[row, i] * x[row, j] * np.array([1, -1, -1, 1])))
                ops.append((zz, (i, j)))
        values = {k: v[row] for k, v in bindings.items()}
        assert np.allclose(dense_unitary(fm.circuit, values), _apply(ops, 3), atol=1e-12)


def test_templates_compose_and_batch_bindings_run_on_the_reference_engine() -> None:
    a = basic_entangler_layers(3, 2, prefix="a")
    b = strongly_entangling_layers(3, 1, prefix="b")
    wa = np.random.default_rng(2).normal(size=(5, 2, 3))
    wb = np.random.default_rng(3).normal(size=(5, 1, 3, 3))
    circuit = a.circuit + b.circuit
    got = NumpyBackend().run(circuit, {**a.bindings(wa), **b.bindings(wb)}, outputs=("state",))
    for k in range(5):
        want = dense_state(circuit, {**a.bindings(wa[k]), **b.bindings(wb[k])})
        assert np.allclose(got.statevectors[k], want, atol=1e-12)


def test_layer_spec_keeps_the_template_weight_shape_and_flat_order() -> None:
    t = strongly_entangling_layers(2, 2)
    encoding = Circuit(2).ry("x_0", 0).ry("x_1", 1)
    spec = t.layer(readouts(2), encoding=encoding, inputs=["x_0", "x_1"])
    assert spec.weight_shape == (2, 2, 3) and spec.weights == t.weights
    assert spec.inputs == ("x_0", "x_1") and spec.n_features == 2
    assert spec.circuit == encoding + t.circuit


def test_bad_arguments_name_the_argument_and_what_is_allowed() -> None:
    with pytest.raises(CircuitError, match="n_layers must be a positive integer, got 0"):
        strongly_entangling_layers(3, 0)
    with pytest.raises(CircuitError, match=r"ranges must hold 2 integers in 1\.\.2"):
        strongly_entangling_layers(3, 2, ranges=[1, 3])
    with pytest.raises(CircuitError, match="rotation must be one of"):
        basic_entangler_layers(2, rotation="u3")
    with pytest.raises(CircuitError, match=r"ratio_imprim must be in \[0, 1\)"):
        random_layers(2, ratio_imprim=1.0)
    with pytest.raises(CircuitError, match="imprimitive must be a fixed two-qubit gate"):
        random_layers(2, imprimitive="rzz")
    with pytest.raises(CircuitError, match=r"edge \(1, 1\) is not two distinct qubits of 0\.\.2"):
        qaoa_maxcut_layers(3, [(1, 1)])
    with pytest.raises(CircuitError, match="edges must list at least one"):
        qaoa_maxcut_layers(3, [])
    with pytest.raises(CircuitError, match="entanglement must be one of"):
        hardware_efficient(3, entanglement="ring")
    with pytest.raises(CircuitError, match="encoding has 3 qubits but template"):
        basic_entangler_layers(2).layer(readouts(2), encoding=Circuit(3))
    with pytest.raises(
        BindingError, match=r"must have shape \(1, 2\) or \(batch, \*\(1, 2\)\), got \(2, 2\)"
    ):
        basic_entangler_layers(2).bindings(np.zeros((2, 2)))


# -- PennyLane and Qiskit, gate by gate (bench extra) ----------------------------------------------


def _pennylane():  # type: ignore[no-untyped-def]
    return pytest.importorskip(
        "pennylane", reason="PennyLane comes with the bench extra (qstore-core[bench])"
    )


def _pl_gates(ops: list) -> list[tuple[str, tuple[int, ...], tuple[float, ...]]]:  # type: ignore[type-arg]
    out = []
    for op in ops:
        if op.name == "Rot":
            phi, theta, omega = (float(p) for p in op.parameters)
            q = tuple(op.wires)
            out += [("rz", q, (phi,)), ("ry", q, (theta,)), ("rz", q, (omega,))]
        else:
            name = {"CNOT": "cnot", "CZ": "cz", "MultiRZ": "rzz", "Hadamard": "h"}.get(
                op.name, op.name.lower()
            )
            out.append((name, tuple(op.wires), tuple(float(p) for p in op.parameters)))
    return out


def _our_gates(circuit: Circuit, values: dict) -> list[tuple[str, tuple[int, ...], tuple[float, ...]]]:  # type: ignore[type-arg]
    return [
        (op.gate, op.qubits, tuple(float(p.evaluate(values)) for p in op.params)) for op in circuit.operations
    ]


def _assert_same_gates(ours: list, theirs: list) -> None:  # type: ignore[type-arg]
    assert [(g, q) for g, q, _ in ours] == [(g, q) for g, q, _ in theirs]
    assert np.allclose([p for *_, ps in ours for p in ps], [p for *_, ps in theirs for p in ps])


@pytest.mark.parametrize(
    ("n", "ranges", "imprimitive"),
    [(1, None, "cnot"), (2, None, "cnot"), (4, None, "cnot"), (4, [3, 2], "cz")],
)
def test_strongly_entangling_gate_by_gate_against_pennylane(
    n: int, ranges: list | None, imprimitive: str
) -> None:  # type: ignore[type-arg]
    qml = _pennylane()
    t = strongly_entangling_layers(n, 2, ranges=ranges, imprimitive=imprimitive)
    w = np.random.default_rng(4).normal(size=t.weight_shape)
    pl = qml.StronglyEntanglingLayers(
        w, wires=range(n), ranges=ranges, imprimitive=getattr(qml, imprimitive.upper())
    )
    _assert_same_gates(_our_gates(t.circuit, t.bindings(w)), _pl_gates(pl.decomposition()))
    assert np.allclose(dense_unitary(t.circuit, t.bindings(w)), qml.matrix(pl, wire_order=range(n)))


@pytest.mark.parametrize(("n", "rotation"), [(1, "rx"), (2, "ry"), (5, "rz")])
def test_basic_entangler_gate_by_gate_against_pennylane(n: int, rotation: str) -> None:
    qml = _pennylane()
    t = basic_entangler_layers(n, 3, rotation=rotation)
    w = np.random.default_rng(5).normal(size=t.weight_shape)
    pl = qml.BasicEntanglerLayers(w, wires=range(n), rotation=getattr(qml, rotation.upper()))
    _assert_same_gates(_our_gates(t.circuit, t.bindings(w)), _pl_gates(pl.decomposition()))


@pytest.mark.parametrize(
    ("seed", "rotations", "ratio"), [(42, ("rx", "ry", "rz"), 0.3), (0, ("ry", "rx"), 0.6), (9, ("rz",), 0.0)]
)
def test_random_layers_draw_pennylanes_architecture_for_the_same_seed(
    seed: int, rotations: tuple, ratio: float
) -> None:  # type: ignore[type-arg]
    qml = _pennylane()
    t = random_layers(4, 3, n_rotations=6, ratio_imprim=ratio, rotations=rotations, seed=seed)
    w = np.random.default_rng(6).normal(size=t.weight_shape)
    pl_rotations = [getattr(qml, r.upper()) for r in rotations]
    pl = qml.RandomLayers(w, wires=range(4), ratio_imprim=ratio, rotations=pl_rotations, seed=seed)
    _assert_same_gates(_our_gates(t.circuit, t.bindings(w)), _pl_gates(pl.decomposition()))


def test_iqp_embedding_gate_by_gate_against_pennylane() -> None:
    qml = _pennylane()
    fm = iqp_embedding(3, n_repeats=2, pattern=[(0, 2), (1, 2)])
    x = np.array([[0.4, -0.9, 1.7]])
    values = {k: v[0] for k, v in fm.bindings(x).items()}
    pl = qml.IQPEmbedding(x[0], wires=range(3), n_repeats=2, pattern=[[0, 2], [1, 2]])
    _assert_same_gates(_our_gates(fm.circuit, values), _pl_gates(pl.decomposition()))


def test_qaoa_maxcut_against_pennylane_cost_and_mixer_layers() -> None:
    qml = _pennylane()
    nx = pytest.importorskip("networkx", reason="PennyLane's maxcut helper takes a networkx graph")
    edges = [(0, 1), (1, 2), (2, 3), (3, 0)]
    cost_h, mixer_h = qml.qaoa.maxcut(nx.Graph(edges))
    t = qaoa_maxcut_layers(4, edges, n_layers=2)
    w = np.array([[0.5, -0.2], [1.1, 0.7]])

    def reference() -> None:
        for q in range(4):
            qml.Hadamard(q)
        for gamma, beta in w:
            qml.qaoa.cost_layer(gamma, cost_h)
            qml.qaoa.mixer_layer(beta, mixer_h)

    pl = qml.matrix(reference, wire_order=range(4))()
    assert _same_up_to_phase(dense_unitary(t.circuit, t.bindings(w)), pl)


@pytest.mark.parametrize("entanglement", ["linear", "full"])
def test_hardware_efficient_against_qiskit_efficient_su2(entanglement: str) -> None:
    library = pytest.importorskip("qiskit.circuit.library", reason="Qiskit comes with qstore-core[qiskit]")
    from qiskit.quantum_info import Operator

    n, reps = 3, 2
    t = hardware_efficient(n, reps, entanglement=entanglement)
    w = np.random.default_rng(8).normal(size=t.weight_shape)
    reference = library.efficient_su2(n, reps=reps, entanglement=entanglement)
    # Qiskit orders θ by rotation layer, then gate, then qubit; ours is [layer, qubit, gate].
    bound = reference.assign_parameters(w.transpose(0, 2, 1).reshape(-1))
    want = Operator(bound.reverse_bits()).data  # Qiskit's qubit 0 is the least significant bit
    assert np.allclose(dense_unitary(t.circuit, t.bindings(w)), want, atol=1e-12)
