"""The circuit IR: builder validation, composition, inverse, structure and identity."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qstore.core import Circuit, CircuitError, Expr, Operation, StatePreparation
from qstore.core.testing import dense_unitary, embed, random_bindings, random_circuit


def one_binding(circuit: Circuit, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {k: float(v[0]) for k, v in random_bindings(circuit, 1, rng).items()}


# -- builder validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, -1, True, 2.0, "3", None])
def test_bad_qubit_counts_are_rejected(n: object) -> None:
    with pytest.raises(CircuitError, match="n_qubits must be a positive integer"):
        Circuit(n)  # type: ignore[arg-type]


def test_qubit_out_of_range_names_the_operation_and_range() -> None:
    with pytest.raises(CircuitError, match=r"operations\[1\] \(cnot\) uses qubit 3 .* 3 qubits \(0\.\.2\)"):
        Circuit(3).h(0).cnot(0, 3)


@pytest.mark.parametrize("qubit", [-1, 1.0, True, "0"])
def test_qubits_must_be_non_negative_integers(qubit: object) -> None:
    with pytest.raises(CircuitError, match="non-negative integers"):
        Circuit(2).h(qubit)  # type: ignore[arg-type]


def test_numpy_integers_are_accepted_and_stored_as_ints() -> None:
    c = Circuit(np.int64(3)).cnot(*np.arange(2)).prepare_state("v", np.array([2]))
    assert c == Circuit(3).cnot(0, 1).prepare_state("v", [2])
    assert all(type(q) is int for op in c.operations for q in op.qubits) and type(c.n_qubits) is int
    assert Circuit.from_json(c.to_json()) == c
    with pytest.raises(CircuitError, match="non-negative integers"):
        Circuit(2).h(np.int64(-1))


def test_an_operation_cannot_use_a_qubit_twice() -> None:
    with pytest.raises(CircuitError, match="twice"):
        Circuit(3).cnot(1, 1)
    with pytest.raises(CircuitError, match="twice"):
        Circuit(3).prepare_state("v", [0, 0])


def test_wrong_arity_and_parameter_count() -> None:
    with pytest.raises(CircuitError, match=r"'cnot' acts on 2 qubit\(s\)"):
        Circuit(3).gate("cnot", 0)
    with pytest.raises(CircuitError, match=r"'h' acts on 1 qubit\(s\)"):
        Circuit(3).gate("h", 0, 1)
    with pytest.raises(CircuitError, match=r"'rx' takes 1 angle\(s\), got 0"):
        Circuit(1).gate("rx", 0)
    with pytest.raises(CircuitError, match=r"'h' takes 0 angle\(s\), got 1"):
        Circuit(1).gate("h", 0, params=[0.3])
    with pytest.raises(CircuitError, match=r"'ms' takes 3 angle\(s\), got 1"):
        Circuit(2).gate("ms", 0, 1, params=[0.25])


def test_bad_angles_and_unknown_gates() -> None:
    with pytest.raises(CircuitError, match=r"unknown gate 'foo'; known gates: .*cnot"):
        Circuit(1).gate("foo", 0)
    with pytest.raises(CircuitError, match="cannot parse angle"):
        Circuit(1).rx("a*b", 0)
    with pytest.raises(CircuitError, match="finite"):
        Circuit(1).rx(float("nan"), 0)
    with pytest.raises(CircuitError, match="not an Operation"):
        Circuit(1, ("h",))  # type: ignore[arg-type]
    with pytest.raises(CircuitError, match="symbol name"):
        Circuit(2).prepare_state("not a name")


def test_builder_methods_append_the_named_gates() -> None:
    c = (
        Circuit(3)
        .i(0).x(0).y(0).z(0).h(0).s(0).sdg(0).t(0).tdg(0).sx(0)
        .rx(0.1, 0).ry(0.2, 0).rz(0.3, 0).phase(0.4, 0).u3(0.1, 0.2, 0.3, 0)
        .cnot(0, 1).cx(1, 2).cy(0, 1).cz(0, 1).swap(0, 1).iswap(0, 1)
        .crx(0.1, 0, 1).cry(0.1, 0, 1).crz(0.1, 0, 1).rxx(0.1, 0, 1).ryy(0.1, 0, 1).rzz(0.1, 0, 1)
        .ccx(0, 1, 2)
    )  # fmt: skip
    names = " ".join(op.gate for op in c.operations)
    assert (
        names
        == "i x y z h s sdg t tdg sx rx ry rz phase u3 cnot cnot cy cz swap iswap crx cry crz rxx ryy rzz ccx"
    )
    assert c.operations[14].params == (Expr((), 0.1), Expr((), 0.2), Expr((), 0.3))
    assert c.operations[16].qubits == (1, 2)


def test_circuits_are_immutable_values() -> None:
    base = Circuit(2).h(0)
    longer = base.cnot(0, 1)
    assert len(base.operations) == 1 and len(longer.operations) == 2
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        base.n_qubits = 3  # type: ignore[misc]
    assert Circuit(2).h(0).cnot(0, 1) == longer
    assert {longer: "cached"}[Circuit(2).h(0).cnot(0, 1)] == "cached"
    assert Circuit(2).h(0) != Circuit(3).h(0)


# -- composition -------------------------------------------------------------------------------------


def test_compose_without_mapping_appends() -> None:
    a = Circuit(3).h(0)
    b = Circuit(2).cnot(0, 1)
    assert (a + b).operations == a.operations + b.operations
    assert a.compose(b).n_qubits == 3
    with pytest.raises(CircuitError, match="cannot compose a 3-qubit circuit onto 2 qubits"):
        b.compose(a)


def test_compose_with_mapping_matches_the_dense_construction() -> None:
    rng = np.random.default_rng(1)
    outer = random_circuit(4, 8, rng, symbols=("a",))
    inner = random_circuit(3, 10, rng, symbols=("a", "b"))
    mapping = [3, 0, 2]
    values = one_binding(outer.compose(inner, mapping))
    got = dense_unitary(outer.compose(inner, mapping), values)
    want = embed(dense_unitary(inner, values), mapping, 4) @ dense_unitary(outer, {"a": values["a"]})
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_compose_mapping_errors() -> None:
    outer, inner = Circuit(3), Circuit(2).cnot(0, 1)
    with pytest.raises(CircuitError, match="must map all 2 qubits, got 1"):
        outer.compose(inner, [0])
    with pytest.raises(CircuitError, match="twice"):
        outer.compose(inner, [1, 1])
    with pytest.raises(CircuitError, match="uses qubit 5"):
        outer.compose(inner, [0, 5])


def test_compose_moves_state_preparations() -> None:
    moved = Circuit(3).compose(Circuit(2).prepare_state("v"), [2, 1])
    assert moved.operations == (StatePreparation((2, 1), "v"),)
    assert moved.vector_inputs == ("v",)


# -- inverse -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_circuit_followed_by_its_inverse_is_the_identity(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(3):
        circuit = random_circuit(n, 6 * n, rng)
        values = one_binding(circuit, n)
        u = dense_unitary(circuit, values)
        np.testing.assert_allclose(dense_unitary(circuit.inverse(), values), u.conj().T, atol=1e-10)
        np.testing.assert_allclose(
            dense_unitary(circuit + circuit.inverse(), values), np.eye(2**n), atol=1e-10
        )


def test_inverse_reverses_and_keeps_symbols() -> None:
    circuit = Circuit(2).h(0).rx("2*a + 1", 1).s(1).cnot(0, 1)
    inverse = circuit.inverse()
    assert [op.gate for op in inverse.operations] == ["cnot", "sdg", "rx", "h"]
    assert inverse.operations[2].params == (Expr({"a": -2.0}, -1.0),)
    assert inverse.inverse() == circuit
    assert inverse.symbols == ("a",)


def test_state_preparation_has_no_inverse() -> None:
    with pytest.raises(CircuitError, match="no inverse"):
        Circuit(2).prepare_state("v").h(0).inverse()


# -- structure ---------------------------------------------------------------------------------------


def test_depth() -> None:
    assert Circuit(3).depth == 0
    assert Circuit(3).h(0).h(1).h(2).depth == 1
    assert Circuit(3).h(0).h(0).h(1).depth == 2
    assert Circuit(3).h(0).cnot(0, 1).h(2).depth == 2
    assert Circuit(3).h(0).cnot(0, 1).cnot(1, 2).h(0).depth == 3
    assert Circuit(3).h(2).ccx(0, 1, 2).h(1).depth == 3
    assert Circuit(4).cnot(0, 3).h(1).h(2).depth == 1
    assert Circuit(2).prepare_state("v").ry("a", 1).depth == 2


def test_gate_counts() -> None:
    c = Circuit(3).h(0).h(1).cnot(0, 1).cx(1, 2).rx("a", 0).prepare_state("v", [2])
    assert c.gate_counts() == {"h": 2, "cnot": 2, "rx": 1, "state_prep": 1}
    assert Circuit(1).gate_counts() == {}


def test_symbols_are_sorted_and_exclude_vector_inputs() -> None:
    c = Circuit(3).prepare_state("vec", [0, 1]).ry("z + 2*a", 0).rz("b", 1).rx(0.5, 2).prepare_state("w", [2])
    assert c.symbols == ("a", "b", "z")
    assert c.vector_inputs == ("vec", "w")
    assert Circuit(1).h(0).symbols == ()
    assert c.operations[1].symbols == frozenset({"a", "z"})


def test_operation_labels() -> None:
    assert Operation("h", (0,)).label() == "H"
    assert Operation("ry", (0,), ["2*x_0 + 0.5"]).label() == "RY(2*x_0 + 0.5)"
    assert StatePreparation((0, 1), "amps").label() == "PREP(amps)"


# -- identity ----------------------------------------------------------------------------------------


def test_hash_is_stable() -> None:
    c = Circuit(2).h(0).cnot(0, 1).ry("2*theta + 0.5", 1)
    # The hash is a cache and storage key: it must not change between processes or releases.
    assert c.hash == "39567281f17f8e69730edf82a88e4f516a65f246245af8335ac9fbf812a11143"
    assert Circuit(2).h(0).cx(0, 1).ry("0.5 + theta*2", 1).hash == c.hash
    assert Circuit.from_json(c.to_json()).hash == c.hash


def test_hash_is_content_sensitive() -> None:
    base = Circuit(3).h(0).cnot(0, 1).ry("2*theta + 0.5", 1).prepare_state("v", [2])
    variants = [
        Circuit(4).h(0).cnot(0, 1).ry("2*theta + 0.5", 1).prepare_state("v", [2]),
        Circuit(3).x(0).cnot(0, 1).ry("2*theta + 0.5", 1).prepare_state("v", [2]),
        Circuit(3).h(0).cnot(1, 0).ry("2*theta + 0.5", 1).prepare_state("v", [2]),
        Circuit(3).h(0).cnot(0, 1).ry("2*theta + 0.25", 1).prepare_state("v", [2]),
        Circuit(3).h(0).cnot(0, 1).ry("3*theta + 0.5", 1).prepare_state("v", [2]),
        Circuit(3).h(0).cnot(0, 1).ry("2*phi + 0.5", 1).prepare_state("v", [2]),
        Circuit(3).h(0).cnot(0, 1).ry("2*theta + 0.5", 2).prepare_state("v", [2]),
        Circuit(3).h(0).cnot(0, 1).ry("2*theta + 0.5", 1).prepare_state("w", [2]),
        Circuit(3).cnot(0, 1).h(0).ry("2*theta + 0.5", 1).prepare_state("v", [2]),
        Circuit(3).h(0).cnot(0, 1).ry("2*theta + 0.5", 1),
    ]
    hashes = {base.hash} | {v.hash for v in variants}
    assert len(hashes) == len(variants) + 1


def test_json_methods_round_trip() -> None:
    c = Circuit(3).prepare_state("v", [0, 1]).crx("a - 1", 0, 2).gate("ms", 1, 2, params=[0.1, "b", 0.25])
    assert Circuit.from_json(c.to_json()) == c
    assert Circuit.from_json(c.to_json(indent=2).encode()) == c
    assert c.to_dict()["format"] == "qstore.circuit/1"


def test_equal_circuits_with_signed_zeros_and_rewritten_expressions_hash_alike() -> None:
    a = Expr.symbol("a")
    pairs = [
        (Circuit(1).rx(-0.0, 0), Circuit(1).rx(0.0, 0)),
        (Circuit(1).rx(-a, 0), Circuit(1).rx(0 - a, 0)),
        (Circuit(1).rx(-a, 0), Circuit(1).rx("-a", 0)),
        (Circuit(1).rx(a * 0.0 - 0.0, 0), Circuit(1).rx(0, 0)),
        (Circuit(1).u3(-0.0, a - a, -(a - a), 0), Circuit(1).u3(0, 0, 0, 0)),
    ]
    for left, right in pairs:
        assert left == right and left.hash == right.hash and left.to_json() == right.to_json()


_SYMBOLS = st.sampled_from(["a", "b", "theta_1"])
_NUMBERS = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) | st.sampled_from([0.0, -0.0])


@st.composite
def _angles(draw: st.DrawFn) -> Expr:
    expr = Expr((), draw(_NUMBERS))
    for _ in range(draw(st.integers(0, 3))):
        term = Expr.symbol(draw(_SYMBOLS)) * draw(_NUMBERS)
        expr = expr + term if draw(st.booleans()) else expr - (-term)
    return expr


def _rewritten(expr: Expr, how: int) -> Expr:
    """The same value written another (float-exact) way: negated twice, subtracted from zero, rebuilt."""
    if how == 0:
        return (-expr).__neg__()
    if how == 1:
        return 0 - (-1 * expr) - 0.0
    return Expr({name: coeff * -1 * -1 for name, coeff in expr.terms}, -expr.const * -1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["rx", "ry", "rz", "phase", "rzz"]), _angles()), max_size=6), st.data()
)
def test_equal_circuits_have_equal_hashes(ops: list[tuple[str, Expr]], data: st.DataObject) -> None:
    left, right = Circuit(2), Circuit(2)
    for gate, angle in ops:
        qubits = (0, 1) if gate == "rzz" else (0,)
        other = _rewritten(angle, data.draw(st.integers(0, 2)))
        left, right = left.gate(gate, *qubits, params=(angle,)), right.gate(gate, *qubits, params=(other,))
    assert left == right and left.hash == right.hash
    restored = Circuit.from_json(left.to_json())
    assert restored == left and restored.hash == left.hash
