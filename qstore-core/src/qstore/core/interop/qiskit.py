"""IR <-> ``qiskit.QuantumCircuit``.

IR qubit ``i`` is Qiskit qubit ``i``. Qiskit orders basis states little-endian (qubit 0 is the
*least* significant bit) while the IR makes qubit 0 the most significant, so the unitaries agree
after reversing qubit order: ``Operator(to_qiskit(c)).reverse_qargs()`` equals the IR unitary, and a
Qiskit bitstring ``"b_{n-1}…b_0"`` read backwards is the IR bitstring.

Symbols become `Parameter` objects of the same name; linear angle expressions become
`ParameterExpression` s and come back as the same `Expr`. Global phase is not part of the IR and
is dropped on the way in. Gates Qiskit lacks (IonQ's GPI, GPI2, MS, ZZ) are written as exact
sequences of standard gates; Qiskit gates the IR lacks are expanded through their definitions.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter, ParameterExpression
from qiskit.circuit import library as lib

from qstore.core.circuit import Circuit, Operation, StatePreparation
from qstore.core.errors import CircuitError
from qstore.core.expressions import Expr

__all__ = ["from_qiskit", "symbol_name", "to_qiskit"]

Value = Any
Emit = list[tuple[Gate, tuple[int, ...]]]

_DIRECT: dict[str, Callable[..., Gate]] = {
    "i": lib.IGate,
    "x": lib.XGate,
    "y": lib.YGate,
    "z": lib.ZGate,
    "h": lib.HGate,
    "s": lib.SGate,
    "sdg": lib.SdgGate,
    "t": lib.TGate,
    "tdg": lib.TdgGate,
    "sx": lib.SXGate,
    "sxdg": lib.SXdgGate,
    "cnot": lib.CXGate,
    "cy": lib.CYGate,
    "cz": lib.CZGate,
    "swap": lib.SwapGate,
    "iswap": lib.iSwapGate,
    "ccx": lib.CCXGate,
    "rx": lib.RXGate,
    "ry": lib.RYGate,
    "rz": lib.RZGate,
    "phase": lib.PhaseGate,
    "u3": lib.UGate,
    "crx": lib.CRXGate,
    "cry": lib.CRYGate,
    "crz": lib.CRZGate,
    "rxx": lib.RXXGate,
    "ryy": lib.RYYGate,
    "rzz": lib.RZZGate,
}

_FROM_NAME: dict[str, str] = {
    "id": "i", "x": "x", "y": "y", "z": "z", "h": "h", "s": "s", "sdg": "sdg", "t": "t",
    "tdg": "tdg", "sx": "sx", "sxdg": "sxdg", "cx": "cnot", "cy": "cy", "cz": "cz", "swap": "swap",
    "iswap": "iswap", "ccx": "ccx", "rx": "rx", "ry": "ry", "rz": "rz", "p": "phase", "u": "u3",
    "crx": "crx", "cry": "cry", "crz": "crz", "rxx": "rxx", "ryy": "ryy", "rzz": "rzz",
}  # fmt: skip

_TURN = 2 * math.pi


def _sequence(name: str, a: list[Value]) -> Emit:
    """Exact Qiskit sequences for iSWAP† and IonQ's native gates (whose angles are in turns)."""
    if name == "gpi":
        return [(lib.UGate(math.pi, _TURN * a[0], math.pi - _TURN * a[0]), (0,))]
    if name == "gpi2":
        half = math.pi / 2
        return [(lib.UGate(half, _TURN * a[0] - half, half - _TURN * a[0]), (0,))]
    if name == "zz":
        return [(lib.RZZGate(_TURN * a[0]), (0, 1))]
    if name == "ms":
        # MS = (P(φ0)⊗P(φ1)) · RXX(2πθ) · (P(-φ0)⊗P(-φ1)), phases in radians.
        p0, p1 = _TURN * a[0], _TURN * a[1]
        return [
            (lib.PhaseGate(-p0), (0,)),
            (lib.PhaseGate(-p1), (1,)),
            (lib.RXXGate(_TURN * a[2]), (0, 1)),
            (lib.PhaseGate(p0), (0,)),
            (lib.PhaseGate(p1), (1,)),
        ]
    if name == "iswapdg":
        return [(lib.iSwapGate().inverse(), (0, 1))]
    raise CircuitError(f"gate {name!r} has no Qiskit equivalent")


def _parameter_value(expr: Expr, params: dict[str, Parameter]) -> Value:
    if expr.is_constant:
        return expr.const
    value: Value = expr.const
    for name, coeff in expr.terms:
        if name not in params:
            params[name] = Parameter(name)
        value = value + coeff * params[name]
    return value


def to_qiskit(circuit: Circuit, parameters: Mapping[str, Parameter] | None = None) -> QuantumCircuit:
    """The IR circuit as a `QuantumCircuit` on ``circuit.n_qubits`` qubits (qubit i -> qubit i).

    ``parameters`` reuses existing `Parameter` objects by symbol name (others are created).
    State preparation has no parameterised Qiskit form and is a `CircuitError`: bind the amplitudes
    and decompose it first (`qstore.core.state_prep`).
    """
    params: dict[str, Parameter] = dict(parameters or {})
    qc = QuantumCircuit(circuit.n_qubits)
    for index, op in enumerate(circuit.operations):
        if isinstance(op, StatePreparation):
            raise CircuitError(
                f"operations[{index}] is a state preparation, which Qiskit cannot hold parameterised; "
                "decompose it into gates first (qstore.core.state_prep)"
            )
        angles = [_parameter_value(p, params) for p in op.params]
        if op.gate in _DIRECT:
            qc.append(_DIRECT[op.gate](*angles), list(op.qubits))
            continue
        for gate, local in _sequence(op.gate, angles):
            qc.append(gate, [op.qubits[i] for i in local])
    return qc


_INDEXED = re.compile(r"\[(\d+)\]")
_NOT_SYMBOL = re.compile(r"[^A-Za-z0-9_]")


def _ascii(char: str) -> str:
    """A non-ASCII letter's Unicode name (``θ`` -> ``theta``, ``Φ`` -> ``Phi``), else ``u<hex>``."""
    if char.isascii():
        return char
    name = unicodedata.name(char, "")
    if " LETTER " not in name:
        return f"u{ord(char):04x}"
    word = name.split(" LETTER ", 1)[1].lower().replace(" ", "_")
    return word.capitalize() if "CAPITAL" in name else word


def symbol_name(parameter_name: str) -> str:
    """The IR symbol for a Qiskit parameter name; deterministic, so a circuit always maps alike.

    ``theta`` stays ``theta``; a ParameterVector element ``w[3]`` becomes ``w_3``; a non-ASCII
    letter becomes its Unicode name (``θ[0]`` -> ``theta_0``, ``Φ`` -> ``Phi``, other characters
    ``u<hex>``); any other character not allowed in a symbol becomes ``_``, and a leading digit
    gets a ``p_`` prefix.
    """
    name = "".join(_ascii(c) for c in _INDEXED.sub(r"_\1", parameter_name))
    name = _NOT_SYMBOL.sub("_", name)
    return f"p_{name}" if not name or name[0].isdigit() else name


def _symbol_name(param: Parameter, seen: dict[str, str]) -> str:
    name = symbol_name(param.name)
    if name == "pi":
        raise CircuitError(f"Qiskit parameter {param.name!r} cannot be an IR symbol: 'pi' means π in angles")
    if seen.setdefault(name, param.name) != param.name:
        raise CircuitError(f"Qiskit parameters {seen[name]!r} and {param.name!r} both map to symbol {name!r}")
    return name


def _real(value: Value, angle: Value) -> float:
    number = complex(value)
    if abs(number.imag) > 1e-12:
        raise CircuitError(f"angle {angle} has a complex coefficient; IR angles are real")
    return number.real


def _to_expr(value: Value, seen: dict[str, str]) -> Expr:
    if not isinstance(value, ParameterExpression):
        return Expr((), _real(value, value))
    if not value.parameters:
        return Expr((), _real(value.numeric(), value))
    terms = []
    for param in value.parameters:
        slope = value.gradient(param)
        if isinstance(slope, ParameterExpression):
            raise CircuitError(
                f"angle {value} is not linear in {param.name}; the IR holds linear expressions only"
            )
        terms.append((_symbol_name(param, seen), _real(slope, value)))
    return Expr(tuple(terms), _real(value.bind({p: 0 for p in value.parameters}).numeric(), value))


_SKIPPED = frozenset({"barrier", "delay"})


def _convert(
    qc: QuantumCircuit, qubits: list[int], seen: dict[str, str], out: list[Operation], depth: int
) -> None:
    for instruction in qc.data:
        op = instruction.operation
        where = [qubits[qc.find_bit(q).index] for q in instruction.qubits]
        if op.name in _SKIPPED:
            continue
        if instruction.clbits or not isinstance(op, Gate):
            raise CircuitError(
                f"Qiskit instruction {op.name!r} is not a unitary gate; the IR has no measurements, "
                "resets or classical control (use qc.remove_final_measurements(inplace=False))"
            )
        if op.name in _FROM_NAME:
            out.append(Operation(_FROM_NAME[op.name], where, [_to_expr(p, seen) for p in op.params]))
            continue
        definition = op.definition
        if definition is None or depth > 20:
            raise CircuitError(
                f"Qiskit gate {op.name!r} has no IR equivalent and no definition to expand; the IR "
                f"expresses {sorted(set(_FROM_NAME))} (transpile to those basis gates first)"
            )
        _convert(definition, where, seen, out, depth + 1)


def from_qiskit(qc: QuantumCircuit) -> Circuit:
    """The IR circuit of a `QuantumCircuit` (qubit i -> qubit i, across registers in order).

    Gates without an IR equivalent are expanded through their Qiskit definitions; barriers and
    delays are skipped; measurements, resets and classical control are errors. Parameters become
    symbols named by `symbol_name` (``θ[3]`` becomes ``theta_3``); angles must be linear in them.

    >>> from qiskit.circuit.library import real_amplitudes
    >>> from_qiskit(real_amplitudes(2, reps=1)).symbols
    ('theta_0', 'theta_1', 'theta_2', 'theta_3')
    """
    if qc.num_qubits == 0:
        raise CircuitError("the Qiskit circuit has no qubits; an IR circuit needs at least one")
    out: list[Operation] = []
    _convert(qc, list(range(qc.num_qubits)), {}, out, 0)
    return Circuit(qc.num_qubits, tuple(out))
