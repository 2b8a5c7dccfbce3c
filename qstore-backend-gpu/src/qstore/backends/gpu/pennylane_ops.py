"""IR operations as PennyLane operations whose parameters stay linear expressions of IR symbols.

Every gate of the table maps to operations Lightning runs natively, exactly (global phase
included), so a PennyLane parameter is an `Expr` of IR symbols: its values for a batch are one
vectorised evaluation, and its derivative with respect to a symbol is the expression's coefficient
(the chain rule behind `LightningBackend`'s adjoint VJP).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import attrs
import pennylane as qml

from qstore.core.circuit import Operation
from qstore.core.expressions import Expr, as_expr

__all__ = ["PennyLaneOp", "pennylane_ops"]

_TURN = 2 * math.pi
Template = list[tuple[type[qml.operation.Operation], list[Expr | float], tuple[int, ...]]]


@attrs.frozen
class PennyLaneOp:
    """One PennyLane operation: its class, wires and parameters as expressions of IR symbols."""

    cls: type[qml.operation.Operation]
    wires: tuple[int, ...]
    params: tuple[Expr, ...]


def _fixed(cls: type[qml.operation.Operation]) -> Callable[[list[Expr]], Template]:
    return lambda a: [(cls, [], ())]


def _rotation(cls: type[qml.operation.Operation]) -> Callable[[list[Expr]], Template]:
    return lambda a: [(cls, [a[0]], ())]


def _phase_conjugated(
    cls: type[qml.operation.Operation], angles: list[float]
) -> Callable[[list[Expr]], Template]:
    """``P(2πφ) · G · P(-2πφ)``: IonQ's GPI/GPI2 as a phase-conjugated X or RX(π/2)."""
    return lambda a: [
        (qml.PhaseShift, [-_TURN * a[0]], ()),
        (cls, list(angles), ()),
        (qml.PhaseShift, [_TURN * a[0]], ()),
    ]


def _ms(a: list[Expr]) -> Template:
    """MS = (P(φ0)⊗P(φ1)) · IsingXX(2πθ) · (P(-φ0)⊗P(-φ1)), angles in turns."""
    return [
        (qml.PhaseShift, [-_TURN * a[0]], (0,)),
        (qml.PhaseShift, [-_TURN * a[1]], (1,)),
        (qml.IsingXX, [_TURN * a[2]], (0, 1)),
        (qml.PhaseShift, [_TURN * a[0]], (0,)),
        (qml.PhaseShift, [_TURN * a[1]], (1,)),
    ]


_TEMPLATES: dict[str, Callable[[list[Expr]], Template]] = {
    "i": _fixed(qml.Identity),
    "x": _fixed(qml.PauliX),
    "y": _fixed(qml.PauliY),
    "z": _fixed(qml.PauliZ),
    "h": _fixed(qml.Hadamard),
    "s": _fixed(qml.S),
    "sdg": lambda a: [(qml.PhaseShift, [-math.pi / 2], ())],
    "t": _fixed(qml.T),
    "tdg": lambda a: [(qml.PhaseShift, [-math.pi / 4], ())],
    "sx": _fixed(qml.SX),
    "sxdg": lambda a: [(qml.RX, [-math.pi / 2], ()), (qml.GlobalPhase, [math.pi / 4], ())],
    "cnot": _fixed(qml.CNOT),
    "cy": _fixed(qml.CY),
    "cz": _fixed(qml.CZ),
    "swap": _fixed(qml.SWAP),
    "iswap": _fixed(qml.ISWAP),
    "iswapdg": lambda a: [(qml.PauliZ, [], (0,)), (qml.PauliZ, [], (1,)), (qml.ISWAP, [], (0, 1))],
    "ccx": _fixed(qml.Toffoli),
    "rx": _rotation(qml.RX),
    "ry": _rotation(qml.RY),
    "rz": _rotation(qml.RZ),
    "phase": _rotation(qml.PhaseShift),
    "u3": lambda a: [(qml.PhaseShift, [a[2]], ()), (qml.RY, [a[0]], ()), (qml.PhaseShift, [a[1]], ())],
    "crx": _rotation(qml.CRX),
    "cry": _rotation(qml.CRY),
    "crz": _rotation(qml.CRZ),
    "rxx": _rotation(qml.IsingXX),
    "ryy": _rotation(qml.IsingYY),
    "rzz": _rotation(qml.IsingZZ),
    "zz": lambda a: [(qml.IsingZZ, [_TURN * a[0]], ())],
    "gpi": _phase_conjugated(qml.PauliX, []),
    "gpi2": _phase_conjugated(qml.RX, [math.pi / 2]),
    "ms": _ms,
}


def pennylane_ops(op: Operation) -> list[PennyLaneOp]:
    """The exact PennyLane form of one IR operation (wires are IR qubits)."""
    out = []
    for cls, params, local in _TEMPLATES[op.gate](list(op.params)):
        wires: Sequence[int] = [op.qubits[i] for i in local] if local else op.qubits
        out.append(PennyLaneOp(cls, tuple(wires), tuple(as_expr(p) for p in params)))
    return out
