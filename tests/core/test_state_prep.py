"""Möttönen decomposition against native state preparation (statevectors up to a global phase)."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Backend, Capabilities, Circuit, NumpyBackend, StatePreparation
from qstore.core import statevector as sv
from qstore.core.backend import Request, Result
from qstore.core.bindings import resolve_bindings
from qstore.core.gates import GATES
from qstore.core.state_prep import decompose_state_preparation, uniformly_controlled_rotation
from qstore.core.testing import dense_unitary, embed


def random_inputs(k: int, batch: int, rng: np.random.Generator, complex_: bool) -> np.ndarray:
    x = rng.normal(size=(batch, 2**k))
    if complex_:
        x = x + 1j * rng.normal(size=(batch, 2**k))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def assert_equal_up_to_phase(got: np.ndarray, want: np.ndarray, atol: float = 1e-10) -> None:
    """Row-wise ``got = e^{iφ_b} want``."""
    for g, w in zip(got, want, strict=True):
        overlap = np.vdot(w, g)
        assert abs(abs(overlap) - 1) < atol
        np.testing.assert_allclose(g, overlap * w, atol=atol)


def native_and_decomposed(
    circuit: Circuit, bindings: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, Circuit]:
    batch = resolve_bindings(circuit, bindings)
    native = sv.simulate(batch).reshape(batch.size, -1)
    decomposed = decompose_state_preparation(batch)
    assert not decomposed.vectors and not decomposed.circuit.vector_inputs
    states = sv.simulate(decomposed).reshape(batch.size, -1)
    return native, states, decomposed.circuit


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_decomposition_equals_native_preparation(k: int, complex_: bool) -> None:
    rng = np.random.default_rng(k + 10 * complex_)
    x = random_inputs(k, 6, rng, complex_)
    native, decomposed, circuit = native_and_decomposed(Circuit(k).prepare_state("x"), {"x": x})
    np.testing.assert_allclose(native, x, atol=1e-12)
    assert_equal_up_to_phase(decomposed, native)
    allowed = {"ry", "rz", "cnot"} if complex_ else {"ry", "cnot"}
    assert set(circuit.gate_counts()) <= allowed
    if k > 1:
        assert "cnot" in circuit.gate_counts()


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_decomposition_on_a_subset_of_qubits_inside_a_circuit(complex_: bool) -> None:
    rng = np.random.default_rng(3)
    bindings = {
        "x": random_inputs(3, 4, rng, complex_),
        "y": random_inputs(1, 1, rng, complex_)[0],
        "a": rng.uniform(-3, 3, size=4),
    }
    circuit = Circuit(5).ry("a", 2).prepare_state("x", [4, 1, 3]).cnot(1, 2).rz("a", 4)
    circuit = circuit.prepare_state("y", [0]).cry(0.3, 3, 0)
    native, decomposed, _ = native_and_decomposed(circuit, bindings)
    assert_equal_up_to_phase(decomposed, native)


@pytest.mark.parametrize(
    "x",
    [
        [0, 0, -1, 0],
        [0, 1, 0, 0],
        [-0.6, 0, 0, 0.8],
        [0.5, -0.5, -0.5, 0.5],
        [0, 0, 0, 0, 0, 0, 0, -1],
        [1j, 0, 0, 0],
        [0, (1 + 1j) / 2, 0, (1 - 1j) / 2],
        [0.6, 0, 0, 0, 0, 0, -0.8j, 0],
    ],
)
def test_sparse_and_signed_inputs(x: list[complex]) -> None:
    x_arr = np.asarray(x)
    k = int(np.log2(len(x)))
    native, decomposed, _ = native_and_decomposed(Circuit(k).prepare_state("x"), {"x": x_arr})
    assert_equal_up_to_phase(decomposed, native)


def test_real_inputs_are_prepared_exactly_without_phase() -> None:
    """Real inputs need RY and CNOT only, and those are real matrices: no global phase at all."""
    rng = np.random.default_rng(5)
    x = random_inputs(3, 5, rng, complex_=False)
    _, decomposed, _ = native_and_decomposed(Circuit(3).prepare_state("x"), {"x": x})
    np.testing.assert_allclose(decomposed, x, atol=1e-10)


@pytest.mark.parametrize("gate", ["ry", "rz"])
@pytest.mark.parametrize("m", [0, 1, 2, 3])
def test_uniformly_controlled_rotation_is_a_multiplexer(gate: str, m: int) -> None:
    rng = np.random.default_rng(m)
    controls = tuple(int(c) for c in rng.permutation(m + 1)[:m])
    target = next(q for q in range(m + 1) if q not in controls)
    ops, transform = uniformly_controlled_rotation(gate, controls, target, "t")
    alphas = rng.uniform(-np.pi, np.pi, size=2**m)
    thetas = alphas @ transform
    circuit = Circuit(m + 1, tuple(ops))
    assert set(circuit.gate_counts()) <= {gate, "cnot"}
    got = dense_unitary(circuit, {f"t{i}": thetas[i] for i in range(2**m)})
    # Independent construction: Σ_c |c><c| ⊗ R(α_c), controls then target, permuted to qubit order.
    block = np.zeros((2 ** (m + 1), 2 ** (m + 1)), dtype=complex)
    for c in range(2**m):
        proj = np.zeros((2**m, 2**m))
        proj[c, c] = 1
        block += np.kron(proj, GATES[gate].matrix(alphas[c]))
    want = embed(block, [*controls, target], m + 1)
    np.testing.assert_allclose(got, want, atol=1e-12)


class NoStatePrepBackend(Backend):
    """The reference engine behind capabilities that declare no native state preparation."""

    def __init__(self) -> None:
        self.engine = NumpyBackend()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            name="no-prep", max_qubits=10, gates={"ry", "rz", "cnot", "h", "x"}, native_state_prep=False
        )

    def execute(self, request: Request) -> Result:
        assert not any(isinstance(op, StatePreparation) for op in request.circuit.operations)
        return self.engine.execute(request)


def test_a_backend_without_native_state_prep_gets_the_decomposition() -> None:
    rng = np.random.default_rng(6)
    x = random_inputs(3, 4, rng, complex_=True)
    circuit = Circuit(3).prepare_state("x").h(0).cnot(0, 2)
    observables = ["Z0", "X1", "Y2", "Z0 Z1"]
    want = NumpyBackend().run(circuit, {"x": x}, observables, outputs=("state",))
    got = NoStatePrepBackend().run(circuit, {"x": x}, observables, outputs=("state",))
    np.testing.assert_allclose(got.expectations, want.expectations, atol=1e-10)
    assert_equal_up_to_phase(got.statevectors, want.statevectors)
