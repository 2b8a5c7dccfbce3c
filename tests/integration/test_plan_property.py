"""Property test: random circuits executed from the core plan on the numpy, torch and tf engines equal a
plain dense-matrix evaluation written here (full ``2**n`` unitaries by ``np.kron``, never the plan),
and adjoint (numpy, torch) and autodiff (tf) gradients equal central finite differences in float64."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qstore.core import Backend, NumpyBackend
from qstore.core import plan as plan_module
from qstore.core.circuit import Circuit, Operation
from qstore.core.gates import GATES

torch_backend = pytest.importorskip("qstore.torch.backend")
tf_backend = pytest.importorskip("qstore.tf.backend")

SYMBOLS = ("a", "b", "c")
BATCH = 2
SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])


def _engines() -> dict[str, Backend]:
    return {
        "numpy": NumpyBackend(),
        "torch": torch_backend.TorchBackend(precision="double"),
        "tf": tf_backend.TFBackend("double"),
    }


ENGINES = functools.cache(_engines)


@st.composite
def circuits(draw: st.DrawFn) -> Circuit:
    n = draw(st.integers(1, 5))
    gates = sorted(g for g, spec in GATES.items() if spec.n_qubits <= n)
    ops = []
    for _ in range(draw(st.integers(0, 12))):
        gate = draw(st.sampled_from(gates))
        spec = GATES[gate]
        qubits = draw(st.permutations(range(n)))[: spec.n_qubits]
        params = []
        for _ in range(spec.n_params):
            coeff = draw(st.sampled_from([0.0, 1.0, -0.5, 2.0]))
            const = draw(st.floats(-3, 3, allow_nan=False))
            params.append(f"{coeff}*{draw(st.sampled_from(SYMBOLS))} + {const}" if coeff else const)
        ops.append(Operation(gate, tuple(qubits), params))
    ops.append(Operation("ry", (draw(st.integers(0, n - 1)),), ["a"]))
    return Circuit(n, ops)


def _full(matrix: np.ndarray, targets: tuple[int, ...], n: int) -> np.ndarray:
    """``matrix`` on ``targets`` of ``n`` qubits: kron with identities, then adjacent swaps into place."""
    k = len(targets)
    full = np.kron(matrix, np.eye(2 ** (n - k)))
    order = list(targets) + [q for q in range(n) if q not in targets]
    for pos in range(n):
        # bubble the qubit that belongs at ``pos`` into place by adjacent swaps (conjugation)
        at = order.index(pos)
        while at > pos:
            s = np.kron(np.kron(np.eye(2 ** (at - 1)), SWAP), np.eye(2 ** (n - at - 1)))
            full = s @ full @ s
            order[at - 1], order[at] = order[at], order[at - 1]
            at -= 1
    return full


def _dense_states(circuit: Circuit, bindings: dict[str, np.ndarray]) -> np.ndarray:
    n = circuit.n_qubits
    out = []
    for b in range(BATCH):
        psi = np.zeros(2**n, complex)
        psi[0] = 1
        values = {s: bindings[s][b] for s in SYMBOLS}
        for op in circuit.operations:
            angles = [float(p.evaluate(values)) for p in op.params]
            psi = _full(GATES[op.gate].matrix(*angles), op.qubits, n) @ psi
        out.append(psi)
    return np.array(out)


def _bindings(circuit: Circuit, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {s: rng.uniform(-np.pi, np.pi, size=BATCH) for s in SYMBOLS if s in circuit.symbols}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuit=circuits(), seed=st.integers(0, 2**16))
def test_every_engine_equals_the_dense_evaluation(circuit: Circuit, seed: int) -> None:
    bindings = _bindings(circuit, seed)
    want = _dense_states(circuit, {**{s: np.zeros(BATCH) for s in SYMBOLS}, **bindings})
    n = circuit.n_qubits
    obs = [f"Z{n - 1}", "X0"] + ([f"0.5*Y0 Z{n - 1}"] if n > 1 else [])
    for name, backend in ENGINES().items():
        result = backend.run(circuit, bindings, obs, outputs=("state",))
        np.testing.assert_allclose(result.statevectors, want, atol=1e-10, err_msg=name)
        direct = np.einsum("bi,bi->b", want.conj(), want).real
        np.testing.assert_allclose(direct, 1, atol=1e-10)
        z_last = (np.abs(want) ** 2) @ (1 - 2 * (np.arange(2**circuit.n_qubits) & 1))
        np.testing.assert_allclose(result.expectations[:, 0], z_last, atol=1e-10, err_msg=name)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuit=circuits(), seed=st.integers(0, 2**16))
def test_gradients_equal_finite_differences(circuit: Circuit, seed: int) -> None:
    symbols = circuit.symbols
    bindings = _bindings(circuit, seed)
    obs = [f"Z{circuit.n_qubits - 1}", "0.5*X0"]
    cot = np.random.default_rng(seed).normal(size=(BATCH, len(obs)))
    eps = 1e-6
    reference = NumpyBackend()

    def loss(values: dict[str, np.ndarray]) -> np.ndarray:
        return (reference.run(circuit, values, obs).expectations * cot).sum(axis=1)

    fd = {
        s: (loss({**bindings, s: bindings[s] + eps}) - loss({**bindings, s: bindings[s] - eps})) / (2 * eps)
        for s in symbols
    }
    for name, method in (("numpy", "adjoint"), ("torch", "adjoint"), ("tf", "backprop")):
        grads = ENGINES()[name].gradient(circuit, bindings, obs, cot, method=method)
        for s in symbols:
            np.testing.assert_allclose(grads[s], fd[s], atol=1e-6, err_msg=f"{name} d/d{s}")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuit=circuits(), seed=st.integers(0, 2**16))
def test_the_wide_circuit_path_gives_the_same_states_and_gradients(circuit: Circuit, seed: int) -> None:
    """With the thresholds forced to zero, every circuit takes the path of circuits wider than
    `INDEX_MAX_QUBITS` (per-gate `Monomials`, strided diagonals, no phase runs)."""
    bindings = _bindings(circuit, seed)
    want = _dense_states(circuit, {**{s: np.zeros(BATCH) for s in SYMBOLS}, **bindings})
    n = circuit.n_qubits
    obs = [f"Z{n - 1}", "X0"] + ([f"0.5*Y0 Z{n - 1}", "Z0 Z1"] if n > 1 else [])
    cot = np.random.default_rng(seed).normal(size=(BATCH, len(obs)))
    reference = NumpyBackend().gradient(circuit, bindings, obs, cot, method="adjoint")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan_module, "_PLANS", {})
        patch.setattr(plan_module, "INDEX_MAX_QUBITS", 0)
        patch.setattr(plan_module, "PHASE_MAX_QUBITS", 0)
        steps = plan_module.compile_plan(circuit).steps
        assert not any(isinstance(s, plan_module.Permutation | plan_module.Phase) for s in steps)
        for name, backend in ENGINES().items():
            result = backend.run(circuit, bindings, obs, outputs=("state",))
            np.testing.assert_allclose(result.statevectors, want, atol=1e-10, err_msg=name)
        for name in ("numpy", "torch"):
            grads = ENGINES()[name].gradient(circuit, bindings, obs, cot, method="adjoint")
            for s in circuit.symbols:
                np.testing.assert_allclose(grads[s], reference[s], atol=1e-9, err_msg=f"{name} d/d{s}")
