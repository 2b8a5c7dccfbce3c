"""Every gradient method against high-order finite differences; SPSA against a statistical bound."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from qstore.core import Circuit, GradientError, NumpyBackend, Operation
from qstore.core import gradients as grad
from qstore.core.expressions import Expr
from qstore.core.gates import GATES

PARAMETRIC = sorted(name for name, spec in GATES.items() if spec.n_params)
TURN_GATES = {"gpi", "gpi2", "ms", "zz"}  # angles in turns: keep coefficients small
FIXED = ["h", "s", "sx", "cnot", "cz", "ccx", "y", "t"]
SYMBOLS = ("a", "b", "c")
OBSERVABLES = ["Z0", "X1 Y2", "0.5*X0 Z1 - Y2", "Y0"]
BACKEND = NumpyBackend()


def random_angle(gate: str, rng: np.random.Generator) -> Expr:
    """A constant or a linear expression of one or two symbols."""
    scale = 0.25 if gate in TURN_GATES else 1.2
    if rng.random() < 0.2:
        return Expr((), float(rng.uniform(-3, 3)) * scale)
    names = rng.choice(SYMBOLS, size=int(rng.integers(1, 3)), replace=False)
    terms = {str(n): float(rng.uniform(0.3, 1.0) * rng.choice([-1, 1]) * scale) for n in names}
    return Expr(terms, float(rng.uniform(-1, 1)))


def gradient_circuit(gates: Sequence[str], n_qubits: int, rng: np.random.Generator) -> Circuit:
    """Each of ``gates`` (with expression angles), interleaved with random fixed gates."""
    ops = [Operation("h", (q,)) for q in range(n_qubits)]
    for gate in gates:
        for _ in range(2):
            fixed = GATES[FIXED[int(rng.integers(len(FIXED)))]]
            qs = rng.choice(n_qubits, size=fixed.n_qubits, replace=False)
            ops.append(Operation(fixed.name, tuple(int(q) for q in qs)))
        spec = GATES[gate]
        qs = rng.choice(n_qubits, size=spec.n_qubits, replace=False)
        ops.append(
            Operation(
                gate, tuple(int(q) for q in qs), [random_angle(gate, rng) for _ in range(spec.n_params)]
            )
        )
    return Circuit(n_qubits, tuple(ops))


def finite_difference_vjp(
    circuit: Circuit,
    bindings: dict[str, np.ndarray],
    observables: Sequence[str],
    cotangent: np.ndarray,
    h: float = 1e-4,
) -> dict[str, np.ndarray]:
    """Five-point central differences (error O(h⁴)) of ``Σ_o cot[b, o] E[b, o]`` per symbol."""
    out = {}
    for name in circuit.symbols:
        f = {}
        for k in (-2, -1, 1, 2):
            shifted = {**bindings, name: bindings[name] + k * h}
            e = BACKEND.run(circuit, shifted, observables).expectations
            f[k] = np.einsum("bo,bo->b", cotangent, e)
        out[name] = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * h)
    return out


def setup(circuit: Circuit, batch: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    bindings = {s: rng.uniform(-np.pi, np.pi, size=batch) for s in circuit.symbols}
    return bindings, rng.normal(size=(batch, len(OBSERVABLES)))


@pytest.mark.parametrize("gate", PARAMETRIC)
@pytest.mark.parametrize("method", ["adjoint", "parameter-shift"])
def test_exact_methods_match_finite_differences_for_every_parametric_gate(gate: str, method: str) -> None:
    rng = np.random.default_rng(PARAMETRIC.index(gate))
    circuit = gradient_circuit([gate, gate], 3, rng)
    bindings, cot = setup(circuit, 3, rng)
    want = finite_difference_vjp(circuit, bindings, OBSERVABLES, cot)
    got = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method=method)
    assert set(got) == set(circuit.symbols)
    for name in circuit.symbols:
        assert got[name].shape == (3,)
        np.testing.assert_allclose(got[name], want[name], atol=1e-8, err_msg=f"{gate} d/d{name}")


@pytest.mark.parametrize("method", ["adjoint", "parameter-shift"])
def test_exact_methods_on_a_circuit_with_every_parametric_gate(method: str) -> None:
    rng = np.random.default_rng(100)
    circuit = gradient_circuit(list(rng.permutation(PARAMETRIC)), 4, rng)
    bindings, cot = setup(circuit, 2, rng)
    obs = ["Z0", "X1 Y2", "0.5*X0 Z1 - Y3", "Y0"]
    want = finite_difference_vjp(circuit, bindings, obs, cot)
    got = BACKEND.gradient(circuit, bindings, obs, cot, method=method)
    for name in SYMBOLS:
        np.testing.assert_allclose(got[name], want[name], atol=1e-8)


def test_adjoint_and_parameter_shift_agree_closely() -> None:
    rng = np.random.default_rng(101)
    circuit = gradient_circuit(PARAMETRIC, 3, rng)
    bindings, cot = setup(circuit, 4, rng)
    adjoint = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method="adjoint")
    shift = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method="parameter-shift")
    for name in SYMBOLS:
        np.testing.assert_allclose(adjoint[name], shift[name], atol=1e-11)


def test_finite_diff_method_matches_to_its_own_accuracy() -> None:
    rng = np.random.default_rng(102)
    circuit = gradient_circuit(["rx", "crz", "u3", "gpi2"], 3, rng)
    bindings, cot = setup(circuit, 2, rng)
    want = finite_difference_vjp(circuit, bindings, OBSERVABLES, cot)
    got = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method="finite-diff")
    for name in circuit.symbols:
        np.testing.assert_allclose(got[name], want[name], atol=1e-6)


def test_gradients_after_state_preparation() -> None:
    rng = np.random.default_rng(103)
    x = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    circuit = (
        Circuit(3)
        .prepare_state("v", [0, 2])
        .cry("a", 0, 1)
        .rxx("2*b - a", 1, 2)
        .gate("ms", 0, 2, params=["0.1*a", 0, 0.2])
    )
    bindings = {"v": x, "a": rng.uniform(-3, 3, size=3), "b": rng.uniform(-3, 3, size=3)}
    cot = rng.normal(size=(3, len(OBSERVABLES)))
    scalars = {"a": bindings["a"], "b": bindings["b"]}
    want = {}
    for name in ("a", "b"):
        f = {}
        for k in (-2, -1, 1, 2):
            shifted = {**bindings, name: scalars[name] + k * 1e-4}
            f[k] = np.einsum("bo,bo->b", cot, BACKEND.run(circuit, shifted, OBSERVABLES).expectations)
        want[name] = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / 12e-4
    for method in ("adjoint", "parameter-shift"):
        got = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method=method)
        assert set(got) == {"a", "b"}
        for name in ("a", "b"):
            np.testing.assert_allclose(got[name], want[name], atol=1e-8)


def test_adjoint_refuses_differentiated_gates_before_state_preparation() -> None:
    circuit = Circuit(2).ry("a", 1).prepare_state("v", [0]).rx("b", 0)
    bindings = {"a": 0.3, "b": 0.2, "v": [0.6, 0.8]}
    cot = np.ones((1, 2))
    with pytest.raises(GradientError, match="state preparation before every differentiated gate"):
        BACKEND.gradient(circuit, bindings, ["Z0", "Z1"], cot, method="adjoint")
    only_b = BACKEND.gradient(circuit, bindings, ["Z0", "Z1"], cot, method="adjoint", wrt=["b"])
    shift = BACKEND.gradient(circuit, bindings, ["Z0", "Z1"], cot, method="parameter-shift")
    np.testing.assert_allclose(only_b["b"], shift["b"], atol=1e-12)
    np.testing.assert_allclose(shift["a"], [-np.sin(0.3)], atol=1e-12)  # d<Z1>/da for RY(a)|0>


@pytest.mark.parametrize("method", ["adjoint", "parameter-shift", "finite-diff", "spsa"])
def test_wrt_subset_returns_only_those_symbols(method: str) -> None:
    rng = np.random.default_rng(104)
    circuit = gradient_circuit(["rx", "ry", "crx"], 3, rng)
    bindings, cot = setup(circuit, 2, rng)
    full = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method=method, seed=5)
    part = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method=method, wrt=["b"], seed=5)
    assert set(part) == {"b"}
    if method != "spsa":  # SPSA perturbs only the wrt symbols, so its noise differs
        np.testing.assert_allclose(part["b"], full["b"], atol=1e-9)
    assert BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method=method, wrt=[]) == {}


def test_auto_picks_adjoint_on_the_reference_engine() -> None:
    assert BACKEND.capabilities.best_gradient_method() == "adjoint"
    rng = np.random.default_rng(105)
    circuit = gradient_circuit(["ry"], 2, rng)
    bindings = {s: rng.uniform(-3, 3, size=2) for s in circuit.symbols}
    cot = rng.normal(size=(2, 2))
    auto = BACKEND.gradient(circuit, bindings, ["Z0", "X1"], cot)
    adjoint = BACKEND.gradient(circuit, bindings, ["Z0", "X1"], cot, method="adjoint")
    for name in circuit.symbols:
        np.testing.assert_array_equal(auto[name], adjoint[name])


def test_parameter_shift_in_several_chunks_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(106)
    circuit = gradient_circuit(["crx", "u3", "ms"], 3, rng)
    bindings, cot = setup(circuit, 2, rng)
    whole = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method="parameter-shift")
    monkeypatch.setattr(grad, "_ROW_BUDGET_AMPLITUDES", 1)
    chunked = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method="parameter-shift")
    for name in circuit.symbols:
        np.testing.assert_allclose(chunked[name], whole[name], atol=1e-12)


def test_parameter_shift_with_shots_is_within_a_statistical_bound() -> None:
    circuit = Circuit(2).ry("a", 0).cnot(0, 1).crx("2*a", 0, 1)
    a = 0.7
    cot = np.array([[1.0]])
    exact = BACKEND.gradient(circuit, {"a": a}, ["Z1"], cot, method="adjoint")["a"]
    shots = 20_000
    noisy = BACKEND.gradient(circuit, {"a": a}, ["Z1"], cot, method="parameter-shift", shots=shots, seed=1)[
        "a"
    ]
    # Shift terms: two for RY (coeff 1/2) and four for CRX with chain-rule factor 2; each ±1 outcome
    # has variance ≤ 1, so σ ≤ sqrt(Σ (chain · coeff)² / shots).
    coeffs = [0.5, 0.5] + [2 * c for c in GATES["crx"].params[0].shift_rule.coeffs]
    sigma = np.sqrt(np.sum(np.square(coeffs)) / shots)
    assert abs(noisy[0] - exact[0]) < 5 * sigma


# -- SPSA ----------------------------------------------------------------------------------------


def test_spsa_is_unbiased_over_many_samples() -> None:
    rng = np.random.default_rng(107)
    circuit = gradient_circuit(["rx", "cry", "rzz", "u3"], 3, rng)
    bindings, cot = setup(circuit, 2, rng)
    request = BACKEND.request(circuit, bindings, OBSERVABLES, seed=3)
    exact = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method="adjoint")
    samples = 4000
    estimate = grad.spsa_vjp(BACKEND, request, cot, circuit.symbols, c=1e-3, samples=samples)
    # One SPSA sample estimates g_k + Σ_{j≠k} g_j Δ_j Δ_k: mean g_k (up to O(c²)), variance Σ_{j≠k} g_j².
    g = np.stack([exact[s] for s in circuit.symbols])
    for k, name in enumerate(circuit.symbols):
        sigma = np.sqrt(((g**2).sum(axis=0) - g[k] ** 2) / samples)
        assert np.all(np.abs(estimate[name] - exact[name]) < 5 * sigma + 1e-4), name


def test_spsa_through_the_backend_is_unbiased_over_a_large_batch() -> None:
    rng = np.random.default_rng(108)
    circuit = gradient_circuit(["ry", "crz", "gpi2"], 3, rng)
    size = 3000
    one = {s: rng.uniform(-3, 3) for s in circuit.symbols}
    bindings = {s: np.full(size, v) for s, v in one.items()}
    cot = np.tile(rng.normal(size=(1, len(OBSERVABLES))), (size, 1))
    exact = BACKEND.gradient(
        circuit, {s: [v] for s, v in one.items()}, OBSERVABLES, cot[:1], method="adjoint"
    )
    estimate = BACKEND.gradient(circuit, bindings, OBSERVABLES, cot, method="spsa", seed=4)
    g = np.array([exact[s][0] for s in circuit.symbols])
    for k, name in enumerate(circuit.symbols):
        sigma = np.sqrt((np.sum(g**2) - g[k] ** 2) / size)
        # c = 0.05 by default: allow an O(c²) bias on top of the 5σ band.
        assert abs(estimate[name].mean() - g[k]) < 5 * sigma + 0.02 * (1 + abs(g).sum()), name


def test_spsa_is_seeded() -> None:
    rng = np.random.default_rng(109)
    circuit = gradient_circuit(["rx", "ry"], 2, rng)
    bindings = {s: rng.uniform(-3, 3, size=3) for s in circuit.symbols}
    cot = np.ones((3, 1))
    one = BACKEND.gradient(circuit, bindings, ["Z0"], cot, method="spsa", seed=1)
    two = BACKEND.gradient(circuit, bindings, ["Z0"], cot, method="spsa", seed=1)
    other = BACKEND.gradient(circuit, bindings, ["Z0"], cot, method="spsa", seed=2)
    for name in circuit.symbols:
        np.testing.assert_array_equal(one[name], two[name])
    assert any(not np.array_equal(one[n], other[n]) for n in circuit.symbols)


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["adjoint", "parameter-shift", "finite-diff", "spsa"])
@pytest.mark.parametrize("shape", [(2,), (2, 3), (3, 2), (1, 2), (2, 2, 1)])
def test_cotangent_shape_errors(method: str, shape: tuple[int, ...]) -> None:
    circuit = Circuit(2).rx("a", 0).cnot(0, 1)
    with pytest.raises(GradientError, match=r"cotangent must have shape \(2, 2\), got"):
        BACKEND.gradient(circuit, {"a": [0.1, 0.2]}, ["Z0", "Z1"], np.ones(shape), method=method)


def test_unknown_wrt_names_are_errors() -> None:
    circuit = Circuit(2).rx("a", 0).ry("b", 1)
    with pytest.raises(
        GradientError, match=r"cannot differentiate with respect to \['c', 'v'\]: .*\['a', 'b'\]"
    ):
        BACKEND.gradient(circuit, {"a": 0.1, "b": 0.2}, ["Z0"], np.ones((1, 1)), wrt=["a", "c", "v"])


def test_adjoint_with_shots_is_an_error() -> None:
    with pytest.raises(GradientError, match="adjoint differentiation is exact: use shots=None"):
        BACKEND.gradient(
            Circuit(1).rx("a", 0), {"a": 0.1}, ["Z0"], np.ones((1, 1)), method="adjoint", shots=100
        )


def test_unknown_method_is_an_error() -> None:
    with pytest.raises(GradientError, match="does not support gradient method 'backprop'"):
        BACKEND.gradient(Circuit(1).rx("a", 0), {"a": 0.1}, ["Z0"], np.ones((1, 1)), method="backprop")
    request = BACKEND.request(Circuit(1).rx("a", 0), {"a": 0.1}, "Z0")
    with pytest.raises(GradientError, match="unknown generic gradient method 'backprop'; choose from"):
        grad.generic_vjp(BACKEND, "backprop", request, np.ones((1, 1)), ("a",))


def test_symbol_free_circuits_have_empty_gradients() -> None:
    for method in ("adjoint", "parameter-shift", "finite-diff", "spsa"):
        assert BACKEND.gradient(Circuit(1).rx(0.3, 0), None, ["Z0"], np.ones((1, 1)), method=method) == {}
