"""Malformed input, one table: each case names the exception type and a fragment of its message.

Covers circuit JSON, the builder, bindings, observables, shots and files on disk of the storage
drivers (those cases skip when the storage distribution is not installed). Layer inputs are tested
with the layers. Every error here is a `QstoreError`, so nothing reaches the caller as a bare
``TypeError``/``KeyError`` from deep inside.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qstore.core import (
    BindingError,
    CapabilityError,
    Circuit,
    CircuitError,
    CircuitFormatError,
    Expr,
    NumpyBackend,
    Observable,
    ObservableError,
    Operation,
    PauliString,
    QstoreError,
    StatePreparation,
)
from qstore.core.bindings import resolve_bindings
from qstore.core.errors import CorruptDataError
from qstore.core.gates import gate_spec
from qstore.core.observables import as_observables, readouts
from qstore.core.serialization import circuit_from_dict, circuit_from_json

Case = Callable[[Path], Any]

_OP = '{"gate": "rx", "qubits": [0], "params": [%s]}'


def _json(operations: str = "", n_qubits: str = "1", extra: str = "") -> Case:
    text = f'{{"format": "qstore.circuit/1", "n_qubits": {n_qubits}, "operations": [{operations}]{extra}}}'
    return lambda _: circuit_from_json(text)


def _angle(value: str) -> Case:
    return _json(_OP % value)


def _bind(bindings: Any, circuit: Circuit | None = None) -> Case:
    target = circuit if circuit is not None else Circuit(2).rx("theta", 0).ry("phi", 1)
    return lambda _: resolve_bindings(target, bindings)


def _shots(shots: Any) -> Case:
    return lambda _: NumpyBackend().run(Circuit(1).h(0), shots=shots)


# -- storage files -------------------------------------------------------------------------------


def _checkpoint(tmp_path: Path, damage: Callable[[Path], None]) -> Any:
    pytest.importorskip("zarr")
    from qstore.storage.checkpoints import ZarrCheckpointStore

    store = ZarrCheckpointStore(tmp_path)
    store.save("ckpt", {"w": np.arange(1.0, 9.0), "b": np.ones(2)})
    damage(tmp_path / "1@ckpt")
    return store.load("ckpt")


def _chunk(folder: Path) -> Path:
    return next(p for p in (folder / "w" / "c").rglob("*") if p.is_file())


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_header(folder: Path, edit: Callable[[dict[str, Any]], Any]) -> None:
    meta = json.loads((folder / "zarr.json").read_text())
    meta["attributes"]["qstore"] = edit(meta["attributes"]["qstore"])
    (folder / "zarr.json").write_text(json.dumps(meta))


def _ckpt(damage: Callable[[Path], None]) -> Case:
    return lambda tmp_path: _checkpoint(tmp_path, damage)


def _faiss(edit: Callable[[dict[str, Any]], Any]) -> Case:
    def case(tmp_path: Path) -> Any:
        pytest.importorskip("faiss")
        from qstore.storage.vectors import FaissVectorStore

        FaissVectorStore(path=tmp_path).add(["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
        manifest = json.loads((tmp_path / "ids.json").read_text())
        edited = edit(manifest)
        (tmp_path / "ids.json").write_text(edited if isinstance(edited, str) else json.dumps(edited))
        return FaissVectorStore(path=tmp_path)

    return case


def _metrics(content: bytes) -> Case:
    def case(tmp_path: Path) -> Any:
        pytest.importorskip("pyarrow")
        from qstore.storage.metrics import read_metrics

        (tmp_path / "m.parquet").write_bytes(content)
        return read_metrics(tmp_path / "m.parquet")

    return case


def _without(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: {k: v for k, v in d.items() if k != key}


HEX = "0123456789abcdef" * 2

CASES: list[Any] = [
    # -- circuit JSON ----------------------------------------------------------------------------
    pytest.param(lambda _: circuit_from_json("{"), CircuitFormatError, "does not parse", id="json-truncated"),
    pytest.param(lambda _: circuit_from_json(""), CircuitFormatError, "does not parse", id="json-empty"),
    pytest.param(
        lambda _: circuit_from_json(b"\xff\xfe"), CircuitFormatError, "does not parse", id="json-bad-utf8"
    ),
    pytest.param(
        lambda _: circuit_from_json("[" * 100_000), CircuitFormatError, "does not parse", id="json-deep"
    ),
    pytest.param(
        lambda _: circuit_from_json({"a": 1}), CircuitFormatError, "must be str or bytes", id="json-dict"
    ),
    pytest.param(
        lambda _: circuit_from_json(None), CircuitFormatError, "must be str or bytes", id="json-none"
    ),
    pytest.param(
        lambda _: circuit_from_json("[]"), CircuitFormatError, "$: expected a JSON object", id="json-list"
    ),
    pytest.param(
        lambda _: circuit_from_json('"x"'), CircuitFormatError, "expected a JSON object", id="json-str"
    ),
    pytest.param(lambda _: circuit_from_json("{}"), CircuitFormatError, "$.format", id="json-no-format"),
    pytest.param(
        lambda _: circuit_from_json('{"format": "qstore.circuit/9", "n_qubits": 1, "operations": []}'),
        CircuitFormatError,
        "expected one of ['qstore.circuit/1', 'qstore.circuit/2']",
        id="json-future-format",
    ),
    pytest.param(
        _json(extra=', "extra": 1'), CircuitFormatError, "unknown key(s) ['extra']", id="json-extra-key"
    ),
    pytest.param(
        _json(n_qubits="0"), CircuitFormatError, "$.n_qubits: expected an integer >= 1", id="json-0-qubits"
    ),
    pytest.param(_json(n_qubits="-3"), CircuitFormatError, "$.n_qubits", id="json-neg-qubits"),
    pytest.param(_json(n_qubits="2.0"), CircuitFormatError, "$.n_qubits", id="json-float-qubits"),
    pytest.param(_json(n_qubits="true"), CircuitFormatError, "$.n_qubits", id="json-bool-qubits"),
    pytest.param(_json(n_qubits='"2"'), CircuitFormatError, "$.n_qubits", id="json-str-qubits"),
    pytest.param(_json(n_qubits="null"), CircuitFormatError, "$.n_qubits", id="json-null-qubits"),
    pytest.param(
        lambda _: circuit_from_json('{"format": "qstore.circuit/1", "n_qubits": 1, "operations": {}}'),
        CircuitFormatError,
        "$.operations: expected a list",
        id="json-ops-object",
    ),
    pytest.param(_json("1"), CircuitFormatError, "$.operations[0]: expected an object", id="json-op-number"),
    pytest.param(_json('{"qubits": [0]}'), CircuitFormatError, "$.operations[0].gate", id="json-no-gate"),
    pytest.param(
        _json('{"gate": {"h": 1}, "qubits": [0]}'),
        CircuitFormatError,
        ".gate: expected a gate name",
        id="json-gate-object",
    ),
    pytest.param(
        _json('{"gate": "hh", "qubits": [0]}'),
        CircuitFormatError,
        "unknown gate 'hh'",
        id="json-unknown-gate",
    ),
    pytest.param(
        _json('{"gate": "h"}'), CircuitFormatError, ".qubits: expected a non-empty list", id="json-no-qubits"
    ),
    pytest.param(
        _json('{"gate": "h", "qubits": []}'), CircuitFormatError, "non-empty list", id="json-empty-qubits"
    ),
    pytest.param(
        _json('{"gate": "h", "qubits": [0.0]}'),
        CircuitFormatError,
        ".qubits[0]: expected an integer",
        id="json-float-qubit",
    ),
    pytest.param(
        _json('{"gate": "h", "qubits": [-1]}'), CircuitFormatError, ".qubits[0]", id="json-neg-qubit"
    ),
    pytest.param(
        _json('{"gate": "h", "qubits": [1]}'),
        CircuitFormatError,
        "qubit 1 out of range 0..0",
        id="json-qubit-range",
    ),
    pytest.param(
        _json('{"gate": "h", "qubits": ["0"]}'), CircuitFormatError, ".qubits[0]", id="json-str-qubit"
    ),
    pytest.param(
        _json('{"gate": "cnot", "qubits": [0, 0]}', "2"),
        CircuitFormatError,
        "twice on one qubit",
        id="json-repeat-qubit",
    ),
    pytest.param(
        _json('{"gate": "cnot", "qubits": [0]}'),
        CircuitFormatError,
        "acts on 2 qubit(s), got 1",
        id="json-arity",
    ),
    pytest.param(
        _json('{"gate": "rx", "qubits": [0]}'),
        CircuitFormatError,
        "takes 1 angle(s), got 0",
        id="json-no-params",
    ),
    pytest.param(
        _json('{"gate": "rx", "qubits": [0], "params": 1}'),
        CircuitFormatError,
        ".params: expected a list",
        id="json-params-number",
    ),
    pytest.param(
        _json('{"gate": "h", "qubits": [0], "color": 1}'),
        CircuitFormatError,
        "unknown key(s) ['color']",
        id="json-op-extra",
    ),
    pytest.param(
        _angle("1e999"), CircuitFormatError, "expected a finite number, got inf", id="json-angle-1e999"
    ),
    pytest.param(_angle("-1e999"), CircuitFormatError, "finite number", id="json-angle-neg-1e999"),
    pytest.param(_angle("Infinity"), CircuitFormatError, "finite number", id="json-angle-Infinity"),
    pytest.param(_angle("NaN"), CircuitFormatError, "finite number", id="json-angle-NaN"),
    pytest.param(_angle("1" + "0" * 400), CircuitFormatError, "finite number", id="json-angle-huge-int"),
    pytest.param(_angle('"theta"'), CircuitFormatError, "finite number, got 'theta'", id="json-angle-string"),
    pytest.param(_angle("true"), CircuitFormatError, "finite number, got True", id="json-angle-bool"),
    pytest.param(_angle("null"), CircuitFormatError, "finite number, got None", id="json-angle-null"),
    pytest.param(_angle("[1]"), CircuitFormatError, "finite number", id="json-angle-list"),
    pytest.param(
        _angle('{"terms": {"x": 1e999}}'),
        CircuitFormatError,
        ".terms.x: expected a finite",
        id="json-coeff-1e999",
    ),
    pytest.param(_angle('{"terms": {"x": NaN}}'), CircuitFormatError, ".terms.x", id="json-coeff-NaN"),
    pytest.param(_angle('{"terms": {"x": "2"}}'), CircuitFormatError, ".terms.x", id="json-coeff-string"),
    pytest.param(
        _angle('{"const": Infinity}'), CircuitFormatError, ".const: expected a finite", id="json-const-inf"
    ),
    pytest.param(
        _angle('{"terms": [1]}'), CircuitFormatError, ".terms: expected an object", id="json-terms-list"
    ),
    pytest.param(
        _angle('{"terms": {"1x": 1}}'), CircuitFormatError, "invalid symbol name '1x'", id="json-symbol-digit"
    ),
    pytest.param(
        _angle('{"terms": {"pi": 1}}'), CircuitFormatError, "invalid symbol name 'pi'", id="json-symbol-pi"
    ),
    pytest.param(
        _angle('{"terms": {"θ": 1}}'), CircuitFormatError, "invalid symbol name 'θ'", id="json-symbol-greek"
    ),
    pytest.param(
        _angle('{"terms": {}, "scale": 2}'),
        CircuitFormatError,
        "unknown key(s) ['scale']",
        id="json-angle-extra",
    ),
    pytest.param(
        lambda _: circuit_from_dict(
            {
                "format": "qstore.circuit/1",
                "n_qubits": 1,
                "operations": [{"gate": "rx", "qubits": [0], "params": [{"terms": {1: 1.0}}]}],
            }
        ),
        CircuitFormatError,
        "invalid symbol name 1",
        id="dict-int-symbol",
    ),
    pytest.param(
        _json('{"gate": "state_prep", "qubits": [0]}'),
        CircuitFormatError,
        ".input: expected a symbol",
        id="json-prep-no-input",
    ),
    pytest.param(
        _json('{"gate": "state_prep", "qubits": [0], "input": "a b"}'),
        CircuitFormatError,
        ".input",
        id="json-prep-bad-input",
    ),
    pytest.param(
        _json('{"gate": "state_prep", "qubits": [0], "input": "x", "params": []}'),
        CircuitFormatError,
        "unknown key(s) ['params']",
        id="json-prep-params",
    ),
    # -- builder ---------------------------------------------------------------------------------
    pytest.param(
        lambda _: Circuit(0), CircuitError, "n_qubits must be a positive integer, got 0", id="build-0-qubits"
    ),
    pytest.param(
        lambda _: Circuit(2.0),
        CircuitError,
        "n_qubits must be a positive integer, got 2.0",
        id="build-float-n",
    ),
    pytest.param(
        lambda _: Circuit("2"), CircuitError, "n_qubits must be a positive integer", id="build-str-n"
    ),
    pytest.param(
        lambda _: Circuit(True), CircuitError, "n_qubits must be a positive integer", id="build-bool-n"
    ),
    pytest.param(
        lambda _: Circuit(None), CircuitError, "n_qubits must be a positive integer", id="build-none-n"
    ),
    pytest.param(lambda _: Circuit(2, 5), CircuitError, "operations must be a sequence", id="build-ops-int"),
    pytest.param(
        lambda _: Circuit(2, Operation("h", (0,))),
        CircuitError,
        "operations must be a sequence",
        id="build-ops-single",
    ),
    pytest.param(
        lambda _: Circuit(2, ("h",)), CircuitError, "operations[0] is not an Operation", id="build-ops-str"
    ),
    pytest.param(
        lambda _: Circuit(2).append("h"), CircuitError, "is not an Operation", id="build-append-str"
    ),
    pytest.param(
        lambda _: Circuit(2).gate({"h": 1}, 0),
        CircuitError,
        "gate name must be a string",
        id="build-gate-dict",
    ),
    pytest.param(
        lambda _: Circuit(2).gate(None, 0), CircuitError, "gate name must be a string", id="build-gate-none"
    ),
    pytest.param(lambda _: gate_spec(3), CircuitError, "gate name must be a string", id="gate-spec-int"),
    pytest.param(
        lambda _: Circuit(2).gate("hadamard", 0),
        CircuitError,
        "unknown gate 'hadamard'",
        id="build-unknown-gate",
    ),
    pytest.param(
        lambda _: Circuit(2).h(0.0),
        CircuitError,
        "qubit indices must be non-negative integers, got 0.0",
        id="build-float-qubit",
    ),
    pytest.param(lambda _: Circuit(2).h("0"), CircuitError, "got '0'", id="build-str-qubit"),
    pytest.param(lambda _: Circuit(2).h(-1), CircuitError, "got -1", id="build-neg-qubit"),
    pytest.param(lambda _: Circuit(2).h(True), CircuitError, "got True", id="build-bool-qubit"),
    pytest.param(lambda _: Circuit(2).h(None), CircuitError, "got None", id="build-none-qubit"),
    pytest.param(
        lambda _: Circuit(2).h(2),
        CircuitError,
        "uses qubit 2 but the circuit has 2 qubits",
        id="build-qubit-range",
    ),
    pytest.param(
        lambda _: Circuit(2).cnot(1, 1),
        CircuitError,
        "cannot act twice on one qubit",
        id="build-repeat-qubit",
    ),
    pytest.param(lambda _: Circuit(2).gate("cnot", 0), CircuitError, "acts on 2 qubit(s)", id="build-arity"),
    pytest.param(
        lambda _: Operation("h", 0),
        CircuitError,
        "qubits must be a sequence of qubit indices",
        id="op-qubits-int",
    ),
    pytest.param(
        lambda _: Operation("h", "01"), CircuitError, "qubits must be a sequence", id="op-qubits-str"
    ),
    pytest.param(
        lambda _: Circuit(1).gate("rx", 0, params=0.5),
        CircuitError,
        "params must be a sequence of angles",
        id="build-params-float",
    ),
    pytest.param(
        lambda _: Circuit(1).gate("rx", 0, params="a"),
        CircuitError,
        "params must be a sequence",
        id="build-params-str",
    ),
    pytest.param(
        lambda _: Circuit(1).gate("rx", 0, params=(1, 2)),
        CircuitError,
        "takes 1 angle(s), got 2",
        id="build-params-count",
    ),
    pytest.param(
        lambda _: Circuit(1).rx(None, 0),
        CircuitError,
        "an angle must be a number, a symbol name or an Expr",
        id="build-angle-none",
    ),
    pytest.param(
        lambda _: Circuit(1).rx([1.0], 0), CircuitError, "an angle must be a number", id="build-angle-list"
    ),
    pytest.param(
        lambda _: Circuit(1).rx(True, 0), CircuitError, "an angle must be a number", id="build-angle-bool"
    ),
    pytest.param(
        lambda _: Circuit(1).rx(1j, 0), CircuitError, "an angle must be a number", id="build-angle-complex"
    ),
    pytest.param(
        lambda _: Circuit(1).rx(float("inf"), 0),
        CircuitError,
        "an angle must be finite, got inf",
        id="build-angle-inf",
    ),
    pytest.param(
        lambda _: Circuit(1).rx(float("nan"), 0),
        CircuitError,
        "an angle must be finite, got nan",
        id="build-angle-nan",
    ),
    pytest.param(
        lambda _: Circuit(1).rx(np.float32("inf"), 0), CircuitError, "must be finite", id="build-angle-np-inf"
    ),
    pytest.param(
        lambda _: Circuit(1).rx("1e999", 0),
        CircuitError,
        "number 1e999 is beyond the float range",
        id="build-angle-1e999",
    ),
    pytest.param(
        lambda _: Circuit(1).rx("1e308*10*x", 0), CircuitError, "must be finite", id="build-angle-overflow"
    ),
    pytest.param(
        lambda _: Circuit(1).rx("x*y", 0),
        CircuitError,
        "product of two symbols is not linear",
        id="build-angle-nonlinear",
    ),
    pytest.param(
        lambda _: Circuit(1).rx("x/0", 0), CircuitError, "divide by a non-zero number", id="build-angle-div0"
    ),
    pytest.param(
        lambda _: Circuit(1).rx("2*", 0), CircuitError, "unexpected end", id="build-angle-truncated"
    ),
    pytest.param(lambda _: Circuit(1).rx("", 0), CircuitError, "empty expression", id="build-angle-empty"),
    pytest.param(lambda _: Circuit(1).rx("(a b", 0), CircuitError, "missing ')'", id="build-angle-paren"),
    pytest.param(lambda _: Circuit(1).rx("a $ b", 0), CircuitError, "unexpected '$'", id="build-angle-char"),
    pytest.param(
        lambda _: Expr({"x": float("inf")}),
        CircuitError,
        "coefficient of 'x' must be finite",
        id="expr-coeff-inf",
    ),
    pytest.param(
        lambda _: Expr({"x": "2"}),
        CircuitError,
        "coefficient of 'x' must be a real number",
        id="expr-coeff-str",
    ),
    pytest.param(
        lambda _: Expr({}, float("nan")), CircuitError, "Expr constant must be finite", id="expr-const-nan"
    ),
    pytest.param(lambda _: Expr(5), CircuitError, "Expr terms must map symbol names", id="expr-terms-int"),
    pytest.param(
        lambda _: Expr({"a b": 1.0}), CircuitError, "invalid symbol name 'a b'", id="expr-bad-symbol"
    ),
    pytest.param(
        lambda _: Expr.symbol("x") * "2",
        CircuitError,
        "an Expr factor must be a real number",
        id="expr-mul-str",
    ),
    pytest.param(
        lambda _: Expr.symbol("x") * float("inf"),
        CircuitError,
        "an Expr factor must be finite",
        id="expr-mul-inf",
    ),
    pytest.param(
        lambda _: Expr.symbol("x") / 0, CircuitError, "cannot divide an Expr by zero", id="expr-div-zero"
    ),
    pytest.param(
        lambda _: Expr.symbol("x") * Expr.symbol("y"),
        CircuitError,
        "cannot multiply two symbol",
        id="expr-mul-expr",
    ),
    pytest.param(
        lambda _: Expr.parse(5), CircuitError, "an angle expression must be a string", id="expr-parse-int"
    ),
    pytest.param(
        lambda _: Circuit(2).prepare_state(5),
        CircuitError,
        "input must be a symbol name, got 5",
        id="prep-input-int",
    ),
    pytest.param(
        lambda _: Circuit(2).prepare_state("x", qubits=[]),
        CircuitError,
        "at least one qubit",
        id="prep-no-qubits",
    ),
    pytest.param(
        lambda _: Circuit(2).prepare_state("x", qubits=3),
        CircuitError,
        "qubits must be a sequence",
        id="prep-qubits-int",
    ),
    pytest.param(
        lambda _: StatePreparation((0,), "a-b"), CircuitError, "must be a symbol name", id="prep-input-bad"
    ),
    pytest.param(
        lambda _: Circuit(2).prepare_state("x").inverse(), CircuitError, "has no inverse", id="prep-inverse"
    ),
    pytest.param(
        lambda _: Circuit(2).compose("h"),
        CircuitError,
        "can only compose a Circuit, got str",
        id="compose-str",
    ),
    pytest.param(
        lambda _: Circuit(1).compose(Circuit(2)),
        CircuitError,
        "cannot compose a 2-qubit circuit onto 1",
        id="compose-big",
    ),
    pytest.param(
        lambda _: Circuit(2).compose(Circuit(1), qubits=[0.5]),
        CircuitError,
        "got 0.5",
        id="compose-float-map",
    ),
    pytest.param(
        lambda _: Circuit(2).compose(Circuit(1), qubits=[0, 1]),
        CircuitError,
        "must map all 1 qubits",
        id="compose-map-len",
    ),
    # -- bindings --------------------------------------------------------------------------------
    pytest.param(
        _bind("x"), BindingError, "bindings must be a mapping of symbol name to values", id="bind-str"
    ),
    pytest.param(_bind([0.1, 0.2]), BindingError, "bindings must be a mapping", id="bind-list"),
    pytest.param(_bind(0.5), BindingError, "bindings must be a mapping", id="bind-float"),
    pytest.param(_bind({1: 0.5, "phi": 1}), BindingError, "binding names must be strings", id="bind-int-key"),
    pytest.param(
        _bind({"thetta": 0.1, "phi": 0.2}), BindingError, "did you mean 'theta'?", id="bind-misspelt"
    ),
    pytest.param(
        _bind({"thetta": 0.1}), BindingError, "'thetta': did you mean 'theta'", id="bind-misspelt-missing"
    ),
    pytest.param(_bind({"Phi": 0.1, "theta": 1}), BindingError, "did you mean 'phi'", id="bind-case"),
    pytest.param(
        _bind({"theta": 0.1, "phi": 1, "zzz": 2}), BindingError, "['zzz'] are not symbols", id="bind-unknown"
    ),
    pytest.param(
        _bind({"theta": 0.1}), BindingError, "no value bound for symbol(s) ['phi']", id="bind-missing"
    ),
    pytest.param(_bind(None), BindingError, "no value bound", id="bind-none"),
    pytest.param(
        _bind({"theta": "a", "phi": 1}),
        BindingError,
        "symbol 'theta' must be bound to real numbers",
        id="bind-str-value",
    ),
    pytest.param(_bind({"theta": 1j, "phi": 1}), BindingError, "got complex values", id="bind-complex"),
    pytest.param(
        _bind({"theta": [[1.0]], "phi": 1}), BindingError, "must be a scalar or shape (B,)", id="bind-2d"
    ),
    pytest.param(_bind({"theta": np.nan, "phi": 1}), BindingError, "non-finite values", id="bind-nan"),
    pytest.param(_bind({"theta": [1, np.inf], "phi": 1}), BindingError, "non-finite values", id="bind-inf"),
    pytest.param(
        _bind({"theta": [1, 2], "phi": [1, 2, 3]}),
        BindingError,
        "disagree on the batch size",
        id="bind-sizes",
    ),
    pytest.param(_bind({"theta": [], "phi": 1}), BindingError, "the batch is empty", id="bind-empty"),
    pytest.param(
        _bind({"theta": None, "phi": 1}), BindingError, "must be bound to real numbers", id="bind-none-value"
    ),
    pytest.param(
        _bind({"theta": "0.5", "phi": 1}),
        BindingError,
        "must be bound to real numbers",
        id="bind-numeric-str",
    ),
    pytest.param(
        _bind({"theta": [1, [2]], "phi": 1}), BindingError, "must be bound to real numbers", id="bind-ragged"
    ),
    pytest.param(
        _bind({"v": [1.0, 1.0]}, Circuit(1).prepare_state("v")),
        BindingError,
        "must be normalised",
        id="bind-unnormalised",
    ),
    pytest.param(
        _bind({"v": [1.0, 0, 0]}, Circuit(1).prepare_state("v")),
        BindingError,
        "needs shape (B, 2)",
        id="bind-state-shape",
    ),
    pytest.param(
        _bind({"v": ["a", "b"]}, Circuit(1).prepare_state("v")),
        BindingError,
        "must be numeric",
        id="bind-state-str",
    ),
    pytest.param(
        _bind({"v": [np.nan, 1]}, Circuit(1).prepare_state("v")),
        BindingError,
        "non-finite",
        id="bind-state-nan",
    ),
    pytest.param(
        lambda _: resolve_bindings("circuit", {}),
        BindingError,
        "circuit must be a qstore Circuit",
        id="bind-not-circuit",
    ),
    # -- observables -----------------------------------------------------------------------------
    pytest.param(
        lambda _: Observable.parse("inf*Z0"),
        ObservableError,
        "coefficient 'inf' in Pauli string 'inf*Z0' is not finite",
        id="obs-inf",
    ),
    pytest.param(lambda _: Observable.parse("nan*Z0 + X1"), ObservableError, "is not finite", id="obs-nan"),
    pytest.param(
        lambda _: Observable.parse("1e999*Z0"), ObservableError, "'1e999' in Pauli string", id="obs-1e999"
    ),
    pytest.param(
        lambda _: Observable.parse("abc*Z0"), ObservableError, "bad coefficient 'abc'", id="obs-bad-coeff"
    ),
    pytest.param(lambda _: Observable.parse("Z"), ObservableError, "bad factor 'Z'", id="obs-no-index"),
    pytest.param(lambda _: Observable.parse("Q0"), ObservableError, "bad factor 'Q0'", id="obs-bad-pauli"),
    pytest.param(
        lambda _: Observable.parse("Z0 X0"), ObservableError, "qubit 0 appears twice", id="obs-repeat"
    ),
    pytest.param(lambda _: Observable.parse(""), ObservableError, "no Pauli factors", id="obs-empty"),
    pytest.param(
        lambda _: Observable.parse(5), ObservableError, "an observable must be a string", id="obs-parse-int"
    ),
    pytest.param(
        lambda _: PauliString.parse(None),
        ObservableError,
        "a Pauli string must be a string",
        id="pauli-parse-none",
    ),
    pytest.param(
        lambda _: PauliString(((0, "Z"),), float("inf")),
        ObservableError,
        "coefficient must be finite",
        id="pauli-coeff-inf",
    ),
    pytest.param(
        lambda _: PauliString(((0, "Z"),), "2"),
        ObservableError,
        "coefficient must be a real number",
        id="pauli-coeff-str",
    ),
    pytest.param(lambda _: PauliString(5), ObservableError, "Pauli factors must be (qubit,", id="pauli-int"),
    pytest.param(
        lambda _: PauliString(((0.0, "Z"),)),
        ObservableError,
        "qubit must be a non-negative integer",
        id="pauli-float-q",
    ),
    pytest.param(
        lambda _: PauliString(((0, "W"),)), ObservableError, "must be one of X, Y, Z, I", id="pauli-W"
    ),
    pytest.param(
        lambda _: Observable("Z0"), ObservableError, "sequence of PauliString terms", id="observable-str"
    ),
    pytest.param(lambda _: Observable(()), ObservableError, "at least one Pauli term", id="observable-empty"),
    pytest.param(
        lambda _: Observable(["Z0"]), ObservableError, "terms must be PauliString", id="observable-str-terms"
    ),
    pytest.param(
        lambda _: as_observables(5), ObservableError, "observables must be an Observable", id="as-obs-int"
    ),
    pytest.param(
        lambda _: as_observables(None), ObservableError, "observables must be an Observable", id="as-obs-none"
    ),
    pytest.param(
        lambda _: as_observables(["Z0", 5]),
        ObservableError,
        "expected an Observable, PauliString or string",
        id="as-obs-mixed",
    ),
    pytest.param(lambda _: as_observables(["a", "b"]), ObservableError, "bad factor 'a'", id="as-obs-words"),
    pytest.param(lambda _: readouts(2, "XQ"), ObservableError, "must be X, Y or Z, got 'Q'", id="readouts-Q"),
    pytest.param(lambda _: readouts(2, "XX"), ObservableError, "bases repeat", id="readouts-repeat"),
    pytest.param(
        lambda _: readouts("3"), ObservableError, "n_qubits must be a positive integer", id="readouts-str-n"
    ),
    pytest.param(
        lambda _: readouts(2, 5),
        ObservableError,
        "bases must be a string like 'XYZ'",
        id="readouts-int-bases",
    ),
    pytest.param(
        lambda _: NumpyBackend().run(Circuit(1).h(0), observables="Z1"),
        CapabilityError,
        "acts on qubit 1, beyond the circuit's 1",
        id="obs-beyond-circuit",
    ),
    # -- shots -----------------------------------------------------------------------------------
    pytest.param(_shots(0), CapabilityError, "shots must be None", id="shots-0"),
    pytest.param(_shots(-5), CapabilityError, "shots must be None", id="shots-neg"),
    pytest.param(_shots(2.5), CapabilityError, "shots must be None", id="shots-float"),
    pytest.param(_shots(100.0), CapabilityError, "shots must be None", id="shots-float-int"),
    pytest.param(_shots(True), CapabilityError, "shots must be None", id="shots-bool"),
    pytest.param(_shots("100"), CapabilityError, "shots must be None", id="shots-str"),
    pytest.param(_shots([10]), CapabilityError, "shots must be None", id="shots-list"),
    # -- storage files ---------------------------------------------------------------------------
    pytest.param(
        _ckpt(lambda f: _chunk(f).unlink()),
        CorruptDataError,
        "array 'w': 1 chunk file(s) saved, 0 found",
        id="ckpt-chunk-deleted",
    ),
    pytest.param(
        _ckpt(lambda f: _flip(_chunk(f))), CorruptDataError, "checkpoint 'ckpt'", id="ckpt-chunk-flipped"
    ),
    pytest.param(
        _ckpt(lambda f: _chunk(f).write_bytes(b"")), CorruptDataError, "array 'w'", id="ckpt-chunk-empty"
    ),
    pytest.param(
        _ckpt(lambda f: (f / "zarr.json").write_text("{")),
        CorruptDataError,
        "group metadata unreadable",
        id="ckpt-group-json",
    ),
    pytest.param(
        _ckpt(lambda f: (f / "w" / "zarr.json").unlink()),
        CorruptDataError,
        "array 'w' is missing",
        id="ckpt-array-meta-gone",
    ),
    pytest.param(
        _ckpt(lambda f: _edit_header(f, lambda h: None)),
        CorruptDataError,
        "is not a qstore.checkpoint/2",
        id="ckpt-no-header",
    ),
    pytest.param(
        _ckpt(lambda f: _edit_header(f, lambda h: {**h, "format": "other/1"})),
        CorruptDataError,
        "is not a qstore.checkpoint/2",
        id="ckpt-format",
    ),
    pytest.param(
        _ckpt(lambda f: _edit_header(f, lambda h: {**h, "arrays": "w"})),
        CorruptDataError,
        "header 'arrays' must list array names",
        id="ckpt-arrays-str",
    ),
    pytest.param(
        _ckpt(lambda f: _edit_header(f, lambda h: {**h, "arrays": ["../x"]})),
        CorruptDataError,
        "header 'arrays' must list array names",
        id="ckpt-arrays-traversal",
    ),
    pytest.param(
        _ckpt(lambda f: _edit_header(f, lambda h: _without("sha256")(h))),
        CorruptDataError,
        "header 'sha256' must have an entry per array",
        id="ckpt-no-checksums",
    ),
    pytest.param(
        _ckpt(lambda f: _edit_header(f, lambda h: {**h, "chunks": {"w": 1}})),
        CorruptDataError,
        "header 'chunks' must have an entry per array",
        id="ckpt-chunks-partial",
    ),
    pytest.param(
        _ckpt(lambda f: _edit_header(f, lambda h: {**h, "sha256": {**h["sha256"], "w": "sha256:00"}})),
        CorruptDataError,
        "array 'w': data does not match its saved SHA-256",
        id="ckpt-checksum-wrong",
    ),
    pytest.param(_faiss(lambda m: "{"), CorruptDataError, "ids.json' is not valid JSON", id="faiss-json"),
    pytest.param(
        _faiss(lambda m: "null"), CorruptDataError, "is not a qstore.faiss/1 id table", id="faiss-null"
    ),
    pytest.param(_faiss(_without("ids")), CorruptDataError, "lacks the key 'ids'", id="faiss-no-ids"),
    pytest.param(_faiss(_without("index")), CorruptDataError, "lacks the key 'index'", id="faiss-no-index"),
    pytest.param(
        _faiss(lambda m: {**m, "index_file": "../../etc/passwd"}),
        CorruptDataError,
        "key 'index_file' must name",
        id="faiss-traversal",
    ),
    pytest.param(
        _faiss(lambda m: {**m, "index_file": "/tmp/index.faiss"}),
        CorruptDataError,
        "key 'index_file' must name",
        id="faiss-absolute",
    ),
    pytest.param(
        _faiss(lambda m: {**m, "index_file": 7}),
        CorruptDataError,
        "key 'index_file' must be the index file name",
        id="faiss-file-int",
    ),
    pytest.param(
        _faiss(lambda m: {**m, "index_file": f"index-{HEX}.faiss"}),
        CorruptDataError,
        "missing or not a regular file",
        id="faiss-file-gone",
    ),
    pytest.param(
        _faiss(lambda m: {**m, "dim": -1}),
        CorruptDataError,
        "key 'dim' must be a positive integer",
        id="faiss-dim",
    ),
    pytest.param(
        _faiss(lambda m: {**m, "ids": {"a": 0}}),
        CorruptDataError,
        "key 'ids' must be a list",
        id="faiss-ids-dict",
    ),
    pytest.param(
        _metrics(b"not parquet"),
        CorruptDataError,
        "m.parquet' is not a readable Parquet file",
        id="metrics-garbage",
    ),
    pytest.param(_metrics(b""), CorruptDataError, "is not a readable Parquet file", id="metrics-empty"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), CASES)
def test_malformed_input_is_a_clear_error(
    call: Case, error: type[Exception], fragment: str, tmp_path: Path
) -> None:
    with pytest.raises(error) as info:
        call(tmp_path)
    assert isinstance(info.value, QstoreError)
    assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


def test_the_table_is_large() -> None:
    assert len(CASES) >= 100
