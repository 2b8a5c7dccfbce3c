"""Plans fuse the reference ansatz into few steps and still equal the reference engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstore.core import Circuit, NumpyBackend
from qstore.core.ansatz import layer_circuit
from qstore.core.errors import CircuitError
from qstore.core.testing import random_bindings, random_circuit
from qstore.torch.engine import simulate
from qstore.torch.plan import Fused, compile_plan


def _values(circuit: Circuit, bindings: dict[str, np.ndarray]) -> torch.Tensor:
    return torch.tensor(np.stack([bindings[s] for s in circuit.symbols], axis=1))


def test_layer_ansatz_compiles_to_two_three_qubit_blocks_and_one_gather_per_layer() -> None:
    lc = layer_circuit(6, depth=3)
    plan = compile_plan(lc.circuit)
    kinds = [type(s).__name__ for s in plan.steps]
    assert kinds == ["Fused", "Fused", "Monomial"] * 3
    fused = [s for s in plan.steps if isinstance(s, Fused)]
    assert [(s.qubit, s.width) for s in fused[:2]] == [(0, 3), (3, 3)] and all(s.trainable for s in fused)
    assert compile_plan(lc.circuit) is plan


def test_one_qubit_gates_commute_past_a_disjoint_entangling_block() -> None:
    circuit = Circuit(4).h(0).cnot(0, 1).cnot(1, 2).rz("a", 3).cnot(2, 3).ry("b", 3)
    kinds = [type(s).__name__ for s in compile_plan(circuit).steps]
    assert kinds == ["Fused", "Fused", "Monomial", "Fused"]


@pytest.mark.parametrize("seed", range(4))
def test_random_circuits_on_many_qubits_equal_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    circuit = random_circuit(7, 40, rng)
    bindings = random_bindings(circuit, 5, rng)
    want = NumpyBackend().run(circuit, bindings, outputs=("state",)).statevectors
    got = simulate(compile_plan(circuit), _values(circuit, bindings), {}, torch.complex128)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-10)


def test_state_preparation_after_a_gate_on_its_qubits_is_a_clear_error() -> None:
    with pytest.raises(CircuitError, match="before any gate"):
        compile_plan(Circuit(2).h(0).prepare_state("v"))
