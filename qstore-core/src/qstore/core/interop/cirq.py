"""IR <-> ``cirq.Circuit``.

IR qubit ``i`` is ``cirq.LineQubit(i)``; Cirq, like the IR, makes the first qubit of an ordering the
most significant bit, so ``to_cirq(c).unitary(qubit_order=cirq.LineQubit.range(n))`` equals the IR
unitary. Symbols become ``sympy.Symbol`` s of the same name and linear angle expressions stay
expressions. Every IR gate has an exact Cirq form (global phase included): U3 and IonQ's MS become
short sequences. Cirq gates the IR lacks are decomposed with Cirq's own decompositions; global
phase is not part of the IR and is dropped on the way in.

>>> import cirq, numpy as np
>>> from qstore.core import Circuit
>>> from qstore.core.testing import dense_unitary
>>> c = Circuit(2).h(0).cnot(0, 1).ry("2*theta + 0.5", 1)
>>> bound = cirq.resolve_parameters(to_cirq(c), {"theta": 0.3})
>>> u = bound.unitary(qubit_order=cirq.LineQubit.range(2))
>>> bool(np.allclose(u, dense_unitary(c, {"theta": 0.3})))
True
>>> from_cirq(to_cirq(c)) == c
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import cirq
import sympy

from qstore.core.channels import KRAUS, Channel
from qstore.core.circuit import Circuit, Operation, StatePreparation
from qstore.core.errors import CircuitError
from qstore.core.expressions import Expr

__all__ = ["channel_to_cirq", "from_cirq", "operation_to_cirq", "to_cirq"]

Value = Any
Qubits = Sequence[cirq.Qid]


def _pi(value: Value) -> Value:
    return sympy.pi if isinstance(value, sympy.Basic) else math.pi


def _z_pow(angle: Value) -> cirq.Gate:
    """diag(1, e^{i·angle})."""
    return cirq.ZPowGate(exponent=angle / _pi(angle))


def _pair_rotation(cls: type[cirq.EigenGate]) -> Callable[[Value], cirq.Gate]:
    """``exp(-iθ P⊗P / 2)`` as Cirq's ``P P ** (θ/π)`` with global shift -1/2."""
    return lambda angle: cls(exponent=angle / _pi(angle), global_shift=-0.5)


_FIXED: dict[str, cirq.Gate] = {
    "i": cirq.I,
    "x": cirq.X,
    "y": cirq.Y,
    "z": cirq.Z,
    "h": cirq.H,
    "s": cirq.S,
    "sdg": cirq.ZPowGate(exponent=-0.5),
    "t": cirq.T,
    "tdg": cirq.ZPowGate(exponent=-0.25),
    "sx": cirq.XPowGate(exponent=0.5),
    "sxdg": cirq.XPowGate(exponent=-0.5),
    "cnot": cirq.CNOT,
    "cy": cirq.ControlledGate(cirq.Y),
    "cz": cirq.CZ,
    "swap": cirq.SWAP,
    "iswap": cirq.ISWAP,
    "iswapdg": cirq.ISwapPowGate(exponent=-1),
    "ccx": cirq.CCX,
}

_ROTATIONS: dict[str, Callable[[Value], cirq.Gate]] = {
    "rx": cirq.rx,
    "ry": cirq.ry,
    "rz": cirq.rz,
    "phase": _z_pow,
    "crx": lambda a: cirq.ControlledGate(cirq.rx(a)),
    "cry": lambda a: cirq.ControlledGate(cirq.ry(a)),
    "crz": lambda a: cirq.ControlledGate(cirq.rz(a)),
    "rxx": _pair_rotation(cirq.XXPowGate),
    "ryy": _pair_rotation(cirq.YYPowGate),
    "rzz": _pair_rotation(cirq.ZZPowGate),
    "zz": lambda turns: cirq.ZZPowGate(exponent=2 * turns, global_shift=-0.5),
    "gpi": lambda turns: cirq.PhasedXPowGate(phase_exponent=2 * turns),
    "gpi2": lambda turns: cirq.PhasedXPowGate(phase_exponent=2 * turns, exponent=0.5, global_shift=-0.5),
}


def operation_to_cirq(
    op: Operation, qubits: Qubits, angles: Sequence[Value] | None = None
) -> list[cirq.Operation]:
    """Exact Cirq operations for one IR operation on ``qubits`` (indexed by IR qubit).

    ``angles`` overrides the operation's own (as numbers or sympy expressions), which lets a
    simulator substitute its own parameter symbols; by default `Expr` angles become sympy.
    """
    a = list(angles) if angles is not None else [_sympy_value(p) for p in op.params]
    q = [qubits[i] for i in op.qubits]
    if op.gate in _FIXED:
        return [_FIXED[op.gate].on(*q)]
    if op.gate in _ROTATIONS:
        return [_ROTATIONS[op.gate](a[0]).on(*q)]
    if op.gate == "u3":  # U(θ, φ, λ) = P(φ) · RY(θ) · P(λ), exactly
        theta, phi, lam = a
        return [_z_pow(lam).on(q[0]), cirq.ry(theta).on(q[0]), _z_pow(phi).on(q[0])]
    if op.gate == "ms":  # MS = (P(φ0)⊗P(φ1)) · exp(-iπθ X⊗X) · (P(-φ0)⊗P(-φ1)), angles in turns
        phi0, phi1, theta = a
        return [
            cirq.ZPowGate(exponent=-2 * phi0).on(q[0]),
            cirq.ZPowGate(exponent=-2 * phi1).on(q[1]),
            cirq.XXPowGate(exponent=2 * theta, global_shift=-0.5).on(q[0], q[1]),
            cirq.ZPowGate(exponent=2 * phi0).on(q[0]),
            cirq.ZPowGate(exponent=2 * phi1).on(q[1]),
        ]
    raise CircuitError(f"gate {op.gate!r} has no Cirq form")


_CHANNELS: dict[str, Callable[[float], cirq.Gate]] = {
    "amplitude_damping": cirq.amplitude_damp,
    "phase_damping": cirq.phase_damp,
    "depolarizing": lambda p: cirq.depolarize(3 * p / 4),  # Cirq's p is the probability of a Pauli error
    "bit_flip": cirq.bit_flip,
    "phase_flip": cirq.phase_flip,
}


def channel_to_cirq(op: Channel, qubits: Qubits) -> cirq.Operation:
    """The Cirq channel equal to an IR channel with a constant strength (Cirq channels take numbers)."""
    q = [qubits[i] for i in op.qubits]
    if op.gate == KRAUS:
        return cirq.KrausChannel(list(op.matrices())).on(*q)
    strength = op.params[0]
    if not strength.is_constant:
        raise CircuitError(
            f"channel {op.gate!r} has symbolic strength {strength}; Cirq channels need numbers, bind it first"
        )
    return _CHANNELS[op.gate](strength.const).on(*q)


def _sympy_value(expr: Expr) -> Value:
    if expr.is_constant:
        return expr.const
    value: Value = sympy.Float(expr.const) if expr.const else sympy.Integer(0)
    for name, coeff in expr.terms:
        value = value + (sympy.Symbol(name) if coeff == 1 else coeff * sympy.Symbol(name))
    return value


def to_cirq(circuit: Circuit) -> cirq.Circuit:
    """The IR circuit on ``cirq.LineQubit.range(n)``; symbols become ``sympy.Symbol`` s.

    State preparation has no parameterised Cirq form and is a `CircuitError`: decompose it first.
    """
    qubits = cirq.LineQubit.range(circuit.n_qubits)
    ops: list[cirq.Operation] = []
    for index, op in enumerate(circuit.operations):
        if isinstance(op, StatePreparation):
            raise CircuitError(
                f"operations[{index}] is a state preparation, which Cirq cannot hold parameterised; "
                "decompose it into gates first (qstore.core.state_prep)"
            )
        if isinstance(op, Channel):
            ops.append(channel_to_cirq(op, qubits))
        else:
            ops.extend(operation_to_cirq(op, qubits))
    return cirq.Circuit(ops)


# -- Cirq -> IR -----------------------------------------------------------------------------------


def _to_expr(value: Value) -> Expr:
    """A number or a sympy expression linear in its symbols, as an `Expr`."""
    if not isinstance(value, sympy.Basic):
        return Expr((), float(value))
    expr = sympy.expand(value)
    terms = []
    for symbol in sorted(expr.free_symbols, key=lambda s: s.name):
        slope = sympy.diff(expr, symbol)
        if slope.free_symbols:
            raise CircuitError(
                f"angle {value} is not linear in {symbol}; the IR holds linear expressions only"
            )
        if not symbol.name.isidentifier():
            raise CircuitError(
                f"sympy symbol {symbol.name!r} cannot be an IR symbol: names must be identifiers"
            )
        terms.append((symbol.name, float(slope)))
    const = expr.subs({s: 0 for s in expr.free_symbols})
    return Expr(tuple(terms), float(const))


def _angle(exponent: Value) -> Expr:
    """The rotation angle ``π·exponent`` of a Cirq power gate."""
    return _to_expr(exponent * _pi(exponent))


def _is(value: Value, number: float) -> bool:
    return not isinstance(value, sympy.Basic) and value == number


_NAMED_POWERS: list[tuple[type[Any], dict[float, str]]] = [
    (cirq.XPowGate, {1: "x", 0.5: "sx", -0.5: "sxdg"}),
    (cirq.YPowGate, {1: "y"}),
    (cirq.ZPowGate, {1: "z", 0.5: "s", -0.5: "sdg", 0.25: "t", -0.25: "tdg"}),
    (cirq.HPowGate, {1: "h"}),
    (cirq.CXPowGate, {1: "cnot"}),
    (cirq.CZPowGate, {1: "cz"}),
    (cirq.SwapPowGate, {1: "swap"}),
    (cirq.ISwapPowGate, {1: "iswap", -1: "iswapdg"}),
    (cirq.CCXPowGate, {1: "ccx"}),
]
_EXACT_ROTATIONS: dict[type[Any], str] = {cirq.Rx: "rx", cirq.Ry: "ry", cirq.Rz: "rz"}
_POWER_ROTATIONS: dict[type[Any], str] = {
    cirq.XPowGate: "rx",
    cirq.YPowGate: "ry",
    cirq.ZPowGate: "phase",
    cirq.XXPowGate: "rxx",
    cirq.YYPowGate: "ryy",
    cirq.ZZPowGate: "rzz",
}
_CONTROLLED = {"x": "cnot", "y": "cy", "z": "cz", "rx": "crx", "ry": "cry", "rz": "crz"}


def _single(gate: cirq.Gate, where: list[int]) -> list[Operation] | None:
    """The IR form of one Cirq gate up to global phase, or None when it needs decomposing."""
    if isinstance(gate, cirq.IdentityGate):
        return [Operation("i", (q,)) for q in where]
    for rotation, name in _EXACT_ROTATIONS.items():
        if isinstance(gate, rotation):
            return [Operation(name, where, [_angle(gate.exponent)])]
    for cls, names in _NAMED_POWERS:
        if isinstance(gate, cls):
            for value, name in names.items():
                if _is(gate.exponent, value):  # type: ignore[attr-defined]
                    return [Operation(name, where)]
    for cls, name in _POWER_ROTATIONS.items():
        if isinstance(gate, cls):
            return [Operation(name, where, [_angle(gate.exponent)])]  # type: ignore[attr-defined]
    if isinstance(gate, cirq.CZPowGate):  # CZ**t = CRZ(πt) followed by P(πt/2) on the control
        angle = _angle(gate.exponent)
        return [Operation("crz", where, [angle]), Operation("phase", where[:1], [angle / 2])]
    if (
        isinstance(gate, cirq.ControlledGate)
        and gate.num_controls() == 1
        and tuple(gate.control_values) == ((1,),)
    ):
        inner = _single(gate.sub_gate, where[1:])
        if inner is not None and len(inner) == 1 and inner[0].gate in _CONTROLLED:
            return [Operation(_CONTROLLED[inner[0].gate], where, inner[0].params)]
    return None


def _channel(gate: cirq.Gate, where: list[int]) -> Channel | None:
    """The IR channel of a Cirq channel (named when it has an IR name, else its Kraus operators)."""
    named = {
        cirq.AmplitudeDampingChannel: ("amplitude_damping", lambda g: g.gamma),
        cirq.PhaseDampingChannel: ("phase_damping", lambda g: g.gamma),
        cirq.BitFlipChannel: ("bit_flip", lambda g: g.p),
        cirq.PhaseFlipChannel: ("phase_flip", lambda g: g.p),
    }
    for kind, (name, strength) in named.items():
        if isinstance(gate, kind):
            return Channel(name, where, (float(strength(gate)),))
    if isinstance(gate, cirq.DepolarizingChannel) and gate.num_qubits() == 1:
        return Channel("depolarizing", where, (4 * gate.p / 3,))
    if cirq.is_parameterized(gate) or cirq.has_unitary(gate):
        return None
    if cirq.has_kraus(gate):
        return Channel(KRAUS, where, kraus=list(cirq.kraus(gate)))
    return None


def _convert(op: cirq.Operation, index: dict[cirq.Qid, int], out: list[Any], depth: int) -> None:
    if cirq.is_measurement(op):
        raise CircuitError("the IR has no measurements; remove them (e.g. cirq.drop_terminal_measurements)")
    if op.gate is not None:
        channel = _channel(op.gate, [index[q] for q in op.qubits])
        if channel is not None:
            out.append(channel)
            return
        converted = _single(op.gate, [index[q] for q in op.qubits])
        if converted is not None:
            out.extend(converted)
            return
    parts = cirq.decompose_once(op, default=None) if depth < 20 else None
    if parts is None:
        raise CircuitError(
            f"Cirq operation {op!r} has no IR equivalent and no decomposition; the IR expresses "
            "Pauli, Clifford, rotation, controlled-rotation, two-qubit Pauli rotations and Toffoli gates"
        )
    for part in parts:
        _convert(part, index, out, depth + 1)


def from_cirq(circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid] | None = None) -> Circuit:
    """The IR circuit of a Cirq circuit; ``qubits[i]`` becomes IR qubit ``i``.

    ``qubits`` defaults to the circuit's qubits in sorted order; pass ``cirq.LineQubit.range(n)``
    to keep idle qubits. Symbols become IR symbols of the same name; angles must be linear.
    Cirq's damping, flip and one-qubit depolarising channels become the IR's named channels, any
    other non-unitary channel a ``kraus`` channel.
    """
    order = list(qubits) if qubits is not None else sorted(circuit.all_qubits())
    index = {q: i for i, q in enumerate(order)}
    missing = sorted(circuit.all_qubits() - set(order))
    if missing:
        raise CircuitError(f"qubits {missing} of the Cirq circuit are not in the given qubit order")
    if not order:
        raise CircuitError("the Cirq circuit has no qubits; an IR circuit needs at least one")
    out: list[Operation | Channel] = []
    for op in circuit.all_operations():
        _convert(op, index, out, 0)
    return Circuit(len(order), tuple(out))
