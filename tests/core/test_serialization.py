"""Versioned circuit JSON: round trips of every gate and a clear, located error for bad input."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qstore.core import Circuit, CircuitError, CircuitFormatError, Expr, Operation, StatePreparation
from qstore.core.gates import GATES
from qstore.core.serialization import FORMAT, circuit_from_dict, circuit_from_json, circuit_to_dict


def round_trip(circuit: Circuit) -> Circuit:
    return circuit_from_json(json.dumps(circuit_to_dict(circuit)))


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_round_trips(name: str) -> None:
    spec = GATES[name]
    qubits = tuple(reversed(range(spec.n_qubits)))
    params = [
        [0.123456789012345, "2*a - 0.5", Expr({"b": -1e-300, "c": 3.0}, 7e20)][i % 3]
        for i in range(spec.n_params)
    ]
    circuit = Circuit(spec.n_qubits + 1, (Operation(name, qubits, params),))
    back = round_trip(circuit)
    assert back == circuit
    assert back.hash == circuit.hash


def test_documented_shape() -> None:
    c = Circuit(2).h(0).ry("2*theta + 0.5", 1).prepare_state("amps", [0, 1])
    assert circuit_to_dict(c) == {
        "format": "qstore.circuit/1",
        "n_qubits": 2,
        "operations": [
            {"gate": "h", "qubits": [0]},
            {"gate": "ry", "qubits": [1], "params": [{"terms": {"theta": 2.0}, "const": 0.5}]},
            {"gate": "state_prep", "qubits": [0, 1], "input": "amps"},
        ],
    }
    assert FORMAT == "qstore.circuit/2"


def test_reader_accepts_integers_and_omitted_optional_fields() -> None:
    data = {
        "format": FORMAT,
        "n_qubits": 2,
        "operations": [
            {"gate": "rx", "qubits": [1], "params": [1]},
            {"gate": "ry", "qubits": [0], "params": [{"terms": {"a": 2}}]},
            {"gate": "rz", "qubits": [0], "params": [{"const": 3}]},
            {"gate": "h", "qubits": [0], "params": []},
        ],
    }
    c = circuit_from_dict(data)
    assert c == Circuit(2).rx(1.0, 1).ry("2*a", 0).rz(3.0, 0).h(0)


angle_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.builds(
        Expr,
        st.dictionaries(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True).filter(lambda s: s != "pi"),
            st.floats(-1e6, 1e6),
            max_size=3,
        ),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
)


@st.composite
def circuits(draw: st.DrawFn) -> Circuit:
    n = draw(st.integers(1, 5))
    ops: list[Any] = []
    for _ in range(draw(st.integers(0, 8))):
        names = sorted(g for g, spec in GATES.items() if spec.n_qubits <= n)
        name = draw(st.sampled_from([*names, "state_prep"]))
        if name == "state_prep":
            qubits = draw(st.permutations(range(n)))[: draw(st.integers(1, n))]
            ops.append(StatePreparation(tuple(qubits), draw(st.from_regex(r"[a-z]{1,4}", fullmatch=True))))
            continue
        spec = GATES[name]
        qubits = draw(st.permutations(range(n)))[: spec.n_qubits]
        params = [draw(angle_values) for _ in range(spec.n_params)]
        ops.append(Operation(name, tuple(qubits), params))
    return Circuit(n, tuple(ops))


@settings(max_examples=150, deadline=None)
@given(circuits())
def test_random_circuits_round_trip_exactly(circuit: Circuit) -> None:
    assert round_trip(circuit) == circuit
    assert Circuit.from_json(circuit.to_json(indent=1)) == circuit


# -- malformed input ---------------------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "format": FORMAT,
    "n_qubits": 3,
    "operations": [
        {"gate": "h", "qubits": [0]},
        {"gate": "cnot", "qubits": [0, 1]},
        {"gate": "ry", "qubits": [2], "params": [{"terms": {"theta": 2.0}, "const": 0.5}]},
        {"gate": "state_prep", "qubits": [1, 2], "input": "amps"},
    ],
}


def test_the_good_document_is_good() -> None:
    assert circuit_from_dict(copy.deepcopy(GOOD)).n_qubits == 3


def mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of GOOD with the value at ``path`` replaced (``...`` deletes it)."""
    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


MALFORMED = [
    (
        "bad format tag",
        ("format",),
        "qstore.circuit/3",
        r"\$\.format: expected one of \['qstore.circuit/1', 'qstore.circuit/2'\]",
    ),
    ("missing format", ("format",), ..., r"\$\.format: expected"),
    ("missing n_qubits", ("n_qubits",), ..., r"\$\.n_qubits: expected an integer >= 1, got None"),
    ("zero n_qubits", ("n_qubits",), 0, r"\$\.n_qubits: expected an integer >= 1"),
    ("string n_qubits", ("n_qubits",), "3", r"\$\.n_qubits: expected an integer"),
    ("bool n_qubits", ("n_qubits",), True, r"\$\.n_qubits: expected an integer"),
    ("float n_qubits", ("n_qubits",), 3.0, r"\$\.n_qubits: expected an integer"),
    ("missing operations", ("operations",), ..., r"\$\.operations: expected a list"),
    ("operations not a list", ("operations",), {"gate": "h"}, r"\$\.operations: expected a list"),
    ("unknown top-level key", ("extra",), 1, r"\$: unknown key\(s\) \['extra'\]"),
    (
        "non-object op",
        ("operations", 1),
        ["cnot", 0, 1],
        r"\$\.operations\[1\]: expected an object, got list",
    ),
    ("missing gate", ("operations", 0, "gate"), ..., r"\$\.operations\[0\]\.gate: expected a gate name"),
    ("gate not a string", ("operations", 0, "gate"), 7, r"\$\.operations\[0\]\.gate: expected a gate name"),
    (
        "unknown gate",
        ("operations", 0, "gate"),
        "hadamard",
        r"\$\.operations\[0\]\.gate: unknown gate 'hadamard'; known: .*cnot",
    ),
    (
        "missing qubits",
        ("operations", 0, "qubits"),
        ...,
        r"\$\.operations\[0\]\.qubits: expected a non-empty list",
    ),
    (
        "empty qubits",
        ("operations", 0, "qubits"),
        [],
        r"\$\.operations\[0\]\.qubits: expected a non-empty list",
    ),
    (
        "negative qubit",
        ("operations", 1, "qubits", 1),
        -1,
        r"\$\.operations\[1\]\.qubits\[1\]: expected an integer >= 0, got -1",
    ),
    (
        "float qubit",
        ("operations", 1, "qubits", 0),
        0.0,
        r"\$\.operations\[1\]\.qubits\[0\]: expected an integer",
    ),
    (
        "bool qubit",
        ("operations", 0, "qubits", 0),
        False,
        r"\$\.operations\[0\]\.qubits\[0\]: expected an integer",
    ),
    (
        "qubit out of range",
        ("operations", 1, "qubits", 1),
        3,
        r"\$\.operations\[1\]\.qubits\[1\]: qubit 3 out of range 0\.\.2",
    ),
    ("duplicate qubits", ("operations", 1, "qubits"), [1, 1], r"\$\.operations\[1\]: .*twice"),
    (
        "wrong arity",
        ("operations", 1, "qubits"),
        [0],
        r"\$\.operations\[1\]\.qubits: gate 'cnot' acts on 2 qubit\(s\), got 1",
    ),
    (
        "wrong param count",
        ("operations", 2, "params"),
        [0.1, 0.2],
        r"\$\.operations\[2\]\.params: gate 'ry' takes 1 angle\(s\), got 2",
    ),
    (
        "params on a fixed gate",
        ("operations", 0, "params"),
        [0.1],
        r"\$\.operations\[0\]\.params: gate 'h' takes 0",
    ),
    ("params not a list", ("operations", 2, "params"), 0.5, r"\$\.operations\[2\]\.params: expected a list"),
    ("null params", ("operations", 2, "params"), None, r"\$\.operations\[2\]\.params: expected a list"),
    (
        "string angle",
        ("operations", 2, "params", 0),
        "theta",
        r"\$\.operations\[2\]\.params\[0\]: expected a finite number",
    ),
    (
        "bool angle",
        ("operations", 2, "params", 0),
        True,
        r"\$\.operations\[2\]\.params\[0\]: expected a finite number, got True",
    ),
    (
        "null angle",
        ("operations", 2, "params", 0),
        None,
        r"\$\.operations\[2\]\.params\[0\]: expected a finite number",
    ),
    (
        "nan angle",
        ("operations", 2, "params", 0),
        float("nan"),
        r"\$\.operations\[2\]\.params\[0\]: expected a finite number",
    ),
    (
        "inf angle",
        ("operations", 2, "params", 0),
        float("inf"),
        r"\$\.operations\[2\]\.params\[0\]: expected a finite number",
    ),
    (
        "huge integer angle",
        ("operations", 2, "params", 0),
        10**400,
        r"\$\.operations\[2\]\.params\[0\]: expected a finite number",
    ),
    (
        "unknown angle key",
        ("operations", 2, "params", 0, "scale"),
        2,
        r"\$\.operations\[2\]\.params\[0\]: unknown key\(s\) \['scale'\]",
    ),
    (
        "terms not an object",
        ("operations", 2, "params", 0, "terms"),
        [["theta", 2.0]],
        r"\$\.operations\[2\]\.params\[0\]\.terms: expected an object",
    ),
    (
        "bad symbol name",
        ("operations", 2, "params", 0, "terms"),
        {"2x": 1.0},
        r"\$\.operations\[2\]\.params\[0\]\.terms: invalid symbol name '2x'",
    ),
    (
        "reserved symbol name",
        ("operations", 2, "params", 0, "terms"),
        {"pi": 1.0},
        r"\$\.operations\[2\]: invalid symbol name 'pi'",
    ),
    (
        "non-ASCII symbol name",
        ("operations", 2, "params", 0, "terms"),
        {"θ": 1.0},
        r"\$\.operations\[2\]: invalid symbol name 'θ'",
    ),
    (
        "string coefficient",
        ("operations", 2, "params", 0, "terms", "theta"),
        "2",
        r"\$\.operations\[2\]\.params\[0\]\.terms\.theta: expected a finite number",
    ),
    (
        "bool coefficient",
        ("operations", 2, "params", 0, "terms", "theta"),
        False,
        r"\.terms\.theta: expected a finite number",
    ),
    (
        "nan coefficient",
        ("operations", 2, "params", 0, "terms", "theta"),
        float("nan"),
        r"\.terms\.theta: expected a finite number",
    ),
    (
        "bad const",
        ("operations", 2, "params", 0, "const"),
        "0.5",
        r"\$\.operations\[2\]\.params\[0\]\.const: expected a finite number",
    ),
    (
        "unknown op key",
        ("operations", 0, "control"),
        1,
        r"\$\.operations\[0\]: unknown key\(s\) \['control'\]",
    ),
    (
        "state_prep without input",
        ("operations", 3, "input"),
        ...,
        r"\$\.operations\[3\]\.input: expected a symbol name",
    ),
    (
        "state_prep bad input",
        ("operations", 3, "input"),
        "a b",
        r"\$\.operations\[3\]\.input: expected a symbol name",
    ),
    (
        "state_prep with params",
        ("operations", 3, "params"),
        [],
        r"\$\.operations\[3\]: unknown key\(s\) \['params'\]",
    ),
    ("state_prep duplicate qubits", ("operations", 3, "qubits"), [2, 2], r"\$\.operations\[3\]: .*twice"),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_documents_name_the_bad_field(path: tuple[Any, ...], value: Any, message: str) -> None:
    text = json.dumps(mutate(path, value))
    with pytest.raises(CircuitFormatError, match=message):
        circuit_from_json(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "does not parse"),
        ("{", "does not parse"),
        ("not json at all", "does not parse"),
        ("{'format': 'qstore.circuit/1'}", "does not parse"),
        (b"\xff\xfe\x00garbage", "does not parse"),
        ("[" * 100_000 + "]" * 100_000, "does not parse"),
        ("1" * 5000, "does not parse"),
        ("[]", r"\$: expected a JSON object, got list"),
        ("null", r"\$: expected a JSON object, got NoneType"),
        ('"qstore.circuit/1"', r"\$: expected a JSON object, got str"),
        ("42", r"\$: expected a JSON object, got int"),
    ],
)
def test_text_that_is_not_a_circuit_object(text: str | bytes, message: str) -> None:
    with pytest.raises(CircuitFormatError, match=message):
        circuit_from_json(text)


def test_format_error_is_a_circuit_error() -> None:
    assert issubclass(CircuitFormatError, CircuitError)
    with pytest.raises(CircuitError):
        Circuit.from_json("{}")
