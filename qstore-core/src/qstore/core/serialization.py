"""Versioned JSON for circuits (``"format": "qstore.circuit/2"``).

Shape::

    {"format": "qstore.circuit/2", "n_qubits": 2,
     "operations": [{"gate": "h", "qubits": [0]},
                    {"gate": "ry", "qubits": [1], "params": [{"terms": {"theta": 2.0}, "const": 0.5}]},
                    {"gate": "state_prep", "qubits": [0, 1], "input": "amps"},
                    {"gate": "amplitude_damping", "qubits": [0], "params": ["gamma" as an angle]},
                    {"gate": "kraus", "qubits": [1], "kraus": [[[[re, im], [re, im]], ...], ...]}]}

An angle (or channel strength) is a number or ``{"terms": {symbol: coefficient}, "const": number}``;
Kraus matrices are nested lists of ``[re, im]`` pairs. Version 2 added noise channels
(`qstore.core.channels`). The writer tags a document with the oldest version that can express it
(``/1`` without channels), so noiseless circuits keep their content hash (`Circuit.hash`) and stay
readable by older releases; the reader accepts both. The reader checks every
field and raises `CircuitFormatError` naming the JSON path of the first bad one.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from qstore.core.channels import CHANNELS, KRAUS, Channel
from qstore.core.errors import CircuitError, CircuitFormatError
from qstore.core.expressions import Expr
from qstore.core.gates import GATES

if TYPE_CHECKING:
    from qstore.core.circuit import Circuit

__all__ = ["FORMAT", "READABLE", "circuit_from_dict", "circuit_from_json", "circuit_to_dict"]

FORMAT = "qstore.circuit/2"
READABLE = ("qstore.circuit/1", FORMAT)
"""Formats the reader accepts: version 1 (gates and state preparation) and version 2 (+ channels)."""


def circuit_to_dict(circuit: Circuit) -> dict[str, Any]:
    """Plain-data form of a circuit."""
    from qstore.core.circuit import StatePreparation

    ops: list[dict[str, Any]] = []
    for op in circuit.operations:
        if isinstance(op, StatePreparation):
            ops.append({"gate": "state_prep", "qubits": list(op.qubits), "input": op.input})
            continue
        if isinstance(op, Channel) and op.gate == KRAUS:
            pairs = np.stack([op.matrices().real, op.matrices().imag], axis=-1)
            ops.append({"gate": KRAUS, "qubits": list(op.qubits), "kraus": pairs.tolist()})
            continue
        entry: dict[str, Any] = {"gate": op.gate, "qubits": list(op.qubits)}
        if op.params:
            entry["params"] = [p.to_json() for p in op.params]
        ops.append(entry)
    version = FORMAT if circuit.has_noise else READABLE[0]
    return {"format": version, "n_qubits": circuit.n_qubits, "operations": ops}


def circuit_from_json(text: str | bytes) -> Circuit:
    """Parse and validate circuit JSON text (strict: ``NaN``/``Infinity`` and overflowing numbers are refused)."""
    if not isinstance(text, str | bytes | bytearray):
        raise CircuitFormatError(f"circuit JSON must be str or bytes, got {type(text).__name__}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise CircuitFormatError(f"circuit JSON does not parse: {exc}") from None
    return circuit_from_dict(data)


def _fail(path: str, why: str) -> CircuitFormatError:
    return CircuitFormatError(f"{path}: {why}")


def _int(value: Any, path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(path, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _number(value: Any, path: str) -> float:
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # a JSON integer literal beyond the float range
            number = math.inf
        if math.isfinite(number):
            return number
    raise _fail(path, f"expected a finite number, got {value!r}")


def _angle(value: Any, path: str) -> Expr:
    if not isinstance(value, dict):
        return Expr((), _number(value, path))
    unknown = set(value) - {"terms", "const"}
    if unknown:
        raise _fail(path, f"unknown key(s) {sorted(unknown)}; allowed: 'terms', 'const'")
    terms = value.get("terms", {})
    if not isinstance(terms, dict):
        raise _fail(f"{path}.terms", f"expected an object of symbol: coefficient, got {terms!r}")
    for name, coeff in terms.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise _fail(f"{path}.terms", f"invalid symbol name {name!r}")
        _number(coeff, f"{path}.terms.{name}")
    return Expr(terms, _number(value.get("const", 0.0), f"{path}.const"))


def _kraus(value: Any, path: str) -> np.ndarray:
    """``[[[[re, im], ...], ...], ...]`` to ``(K, d, d)`` complex (validated by the channel itself)."""
    try:
        pairs = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise _fail(path, "expected a list of matrices of [re, im] pairs") from None
    if pairs.ndim != 4 or pairs.shape[-1] != 2:
        raise _fail(
            path, f"expected a list of matrices of [re, im] pairs, got an array of shape {pairs.shape}"
        )
    if not np.all(np.isfinite(pairs)):
        raise _fail(path, "expected finite numbers")
    return pairs[..., 0] + 1j * pairs[..., 1]


def _operation(raw: Any, path: str, n_qubits: int, channels: bool) -> Any:
    from qstore.core.circuit import Operation, StatePreparation

    if not isinstance(raw, dict):
        raise _fail(path, f"expected an object, got {type(raw).__name__}")
    gate = raw.get("gate")
    if not isinstance(gate, str):
        raise _fail(f"{path}.gate", f"expected a gate name, got {gate!r}")
    qubits = raw.get("qubits")
    if not isinstance(qubits, list) or not qubits:
        raise _fail(f"{path}.qubits", f"expected a non-empty list of qubit indices, got {qubits!r}")
    for i, q in enumerate(qubits):
        _int(q, f"{path}.qubits[{i}]")
        if q >= n_qubits:
            raise _fail(f"{path}.qubits[{i}]", f"qubit {q} out of range 0..{n_qubits - 1}")
    is_channel = gate == KRAUS or gate in CHANNELS
    if is_channel and not channels:
        raise _fail(f"{path}.gate", f"channel {gate!r} needs format {FORMAT!r}; version 1 has no channels")
    if gate == "state_prep":
        allowed = {"gate", "qubits", "input"}
        name = raw.get("input")
        if not isinstance(name, str) or not name.isidentifier():
            raise _fail(f"{path}.input", f"expected a symbol name, got {name!r}")
    elif gate == KRAUS:
        allowed = {"gate", "qubits", "kraus"}
    elif gate in CHANNELS:
        allowed = {"gate", "qubits", "params"}
        params = raw.get("params")
        if not isinstance(params, list) or len(params) != 1:
            raise _fail(f"{path}.params", f"channel {gate!r} takes one strength, got {params!r}")
    else:
        allowed = {"gate", "qubits", "params"}
        if gate not in GATES:
            raise _fail(f"{path}.gate", f"unknown gate {gate!r}; known: {', '.join(sorted(GATES))}")
        params = raw.get("params", [])
        if not isinstance(params, list):
            raise _fail(f"{path}.params", f"expected a list of angles, got {params!r}")
        spec = GATES[gate]
        if len(params) != spec.n_params:
            raise _fail(f"{path}.params", f"gate {gate!r} takes {spec.n_params} angle(s), got {len(params)}")
        if len(qubits) != spec.n_qubits:
            raise _fail(
                f"{path}.qubits",
                f"gate {gate!r} acts on {spec.n_qubits} qubit(s), got {len(qubits)}",
            )
    unknown = set(raw) - allowed
    if unknown:
        raise _fail(path, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    try:
        if gate == "state_prep":
            return StatePreparation(tuple(qubits), raw["input"])
        if gate == KRAUS:
            return Channel(KRAUS, tuple(qubits), kraus=_kraus(raw.get("kraus"), f"{path}.kraus"))
        if is_channel:
            return Channel(gate, tuple(qubits), (_angle(raw["params"][0], f"{path}.params[0]"),))
        angles = [_angle(p, f"{path}.params[{i}]") for i, p in enumerate(raw.get("params", []))]
        return Operation(gate, tuple(qubits), angles)
    except CircuitFormatError:
        raise
    except CircuitError as exc:
        raise _fail(path, str(exc)) from None


def circuit_from_dict(data: Any) -> Circuit:
    """Validate plain data and build the circuit."""
    from qstore.core.circuit import Circuit

    if not isinstance(data, dict):
        raise _fail("$", f"expected a JSON object, got {type(data).__name__}")
    fmt = data.get("format")
    if fmt not in READABLE:
        raise _fail("$.format", f"expected one of {list(READABLE)}, got {fmt!r}")
    unknown = set(data) - {"format", "n_qubits", "operations"}
    if unknown:
        raise _fail("$", f"unknown key(s) {sorted(unknown)}; allowed: format, n_qubits, operations")
    n = _int(data.get("n_qubits"), "$.n_qubits", minimum=1)
    ops = data.get("operations")
    if not isinstance(ops, list):
        raise _fail("$.operations", f"expected a list, got {type(ops).__name__}")
    return Circuit(
        n, tuple(_operation(op, f"$.operations[{i}]", n, fmt != READABLE[0]) for i, op in enumerate(ops))
    )
