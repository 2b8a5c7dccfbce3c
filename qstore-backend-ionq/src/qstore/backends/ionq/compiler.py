"""Compile bound IR circuits to IonQ's native gates: GPI, GPI2 and MS (Aria) or ZZ (Forte).

Pure NumPy and `qstore.core`: every matrix comes from the core gate table. The output is ordinary
IR made of the table's ``gpi``/``gpi2``/``ms``/``zz`` rows (phases and angles in turns, as IonQ
defines them), so the core engine can check it.

How it works, in time order:

1. *Lowering.* Every gate becomes one-qubit unitaries plus two-qubit Pauli interactions
   ``exp(-iα P⊗P)`` with P = X or Z (CNOT = H·CZ·H, CZ ∝ RZ⊗RZ·exp(iπ/4 Z⊗Z),
   CRZ(θ) = RZ(θ/2)·exp(iθ/4 Z⊗Z), SWAP ∝ exp(-iπ/4 (XX+YY+ZZ)), …).
2. *Native entangler.* Aria runs XX as ``ms`` (ZZ is conjugated by H); Forte runs ZZ as ``zz``
   (XX is conjugated by H). Angles are reduced so that the native angle lies in (0, 0.25] turns:
   a quarter turn of P⊗P splits off as P on both qubits, and a negative ``ms`` angle becomes a
   half-turn shift of the first phase; a negative ``zz`` angle is conjugated by X (a quarter turn
   negative, as in CZ and CNOT, becomes a positive one times a virtual Z⊗Z instead).
3. *Merging and virtual Z.* Runs of one-qubit gates on a qubit are multiplied into one 2×2
   unitary, split as ``RZ(γ)·V`` where V is at most two natives (none, one GPI, one GPI2, or two
   GPI2). ``RZ(γ)`` is never sent: it stays in the qubit's *frame*, is absorbed into the phases of
   the next MS (``XX·RZ(γ) = RZ(γ)·MS(−γ/2π)``) or commutes through ZZ, and the frame left at
   the end does not change Z-basis measurement. `CompiledCircuit.frame` keeps it for proofs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Literal

import attrs
import numpy as np

from qstore.core.circuit import Circuit, Operation, StatePreparation
from qstore.core.errors import CapabilityError
from qstore.core.gates import GATES

__all__ = [
    "NATIVE_GATES",
    "SYSTEM_ENTANGLERS",
    "CompiledCircuit",
    "Entangler",
    "compile_circuit",
    "entangler_for",
    "native_gate_counts",
]

Entangler = Literal["ms", "zz"]

SYSTEM_ENTANGLERS: dict[str, Entangler] = {
    "harmony": "ms",
    "harmony-1": "ms",
    "harmony-2": "ms",
    "aria-1": "ms",
    "aria-2": "ms",
    "forte-1": "zz",
    "forte-enterprise-1": "zz",
}
"""The native two-qubit gate of each IonQ system (``ms`` only on Aria, ``zz`` only on Forte)."""

NATIVE_GATES: frozenset[str] = frozenset({"gpi", "gpi2", "ms", "zz"})

_TOL = 1e-10
_SQ = 1 / math.sqrt(2)


def entangler_for(system: str) -> Entangler:
    """The native two-qubit gate of ``system`` (``"aria-1"``, ``"forte-1"``, …)."""
    try:
        return SYSTEM_ENTANGLERS[system]
    except KeyError:
        raise CapabilityError(
            f"unknown IonQ system {system!r}; known systems: {sorted(SYSTEM_ENTANGLERS)}"
        ) from None


@attrs.frozen
class CompiledCircuit:
    """A circuit of IonQ natives plus the per-qubit Z frame (radians) left virtual at the end.

    ``circuit`` followed by ``RZ(frame[q])`` on every qubit equals the source circuit up to a
    global phase; the frame does not change Z-basis measurement, so it is never sent.
    """

    circuit: Circuit
    frame: tuple[float, ...]

    def with_frame(self) -> Circuit:
        """The native circuit with the final frame appended as ``rz`` gates (for proofs)."""
        ops = [Operation("rz", (q,), (g,)) for q, g in enumerate(self.frame) if abs(g) > 0]
        return self.circuit.append(*ops)

    def counts(self) -> dict[str, int]:
        """Native gate counts: ``{"1q": …, "2q": …}``."""
        return native_gate_counts(self.circuit)


def native_gate_counts(circuit: Circuit) -> dict[str, int]:
    """One- and two-qubit gate counts of a circuit (what per-gate prices are charged on)."""
    one = sum(1 for op in circuit.operations if len(op.qubits) == 1)
    return {"1q": one, "2q": len(circuit.operations) - one}


# -- lowering to one-qubit unitaries and Pauli interactions -------------------------------------

_Item = tuple  # ("u", q, 2x2) or ("xx" | "zz", a, b, alpha)


def _m(name: str, *angles: float) -> np.ndarray:
    return GATES[name].matrix(*angles)


_H = _m("h")
_S = _m("s")
_SDG = _m("sdg")
_X = _m("x")
_Z = _m("z")


def _u(q: int, m: np.ndarray) -> _Item:
    return ("u", q, m)


def _cz(c: int, t: int) -> list[_Item]:
    return [_u(c, _m("rz", math.pi / 2)), _u(t, _m("rz", math.pi / 2)), ("zz", c, t, -math.pi / 4)]


def _cnot(c: int, t: int) -> list[_Item]:
    return [_u(t, _H), *_cz(c, t), _u(t, _H)]


def _crz(theta: float, c: int, t: int) -> list[_Item]:
    return [_u(t, _m("rz", theta / 2)), ("zz", c, t, -theta / 4)]


def _yy(a: int, b: int, alpha: float) -> list[_Item]:
    return [_u(a, _SDG), _u(b, _SDG), ("xx", a, b, alpha), _u(a, _S), _u(b, _S)]


def _ccx(c0: int, c1: int, t: int) -> list[_Item]:
    t_, tdg = _m("t"), _m("tdg")
    return [
        _u(t, _H), *_cnot(c1, t), _u(t, tdg), *_cnot(c0, t), _u(t, t_), *_cnot(c1, t), _u(t, tdg),
        *_cnot(c0, t), _u(c1, t_), _u(t, t_), _u(t, _H), *_cnot(c0, c1), _u(c0, t_), _u(c1, tdg),
        *_cnot(c0, c1),
    ]  # fmt: skip


_Lower = Callable[[tuple[int, ...], tuple[float, ...]], list[_Item]]

_TWO_QUBIT: dict[str, _Lower] = {
    "cnot": lambda q, a: _cnot(*q),
    "cz": lambda q, a: _cz(*q),
    "cy": lambda q, a: [_u(q[1], _SDG), *_cnot(*q), _u(q[1], _S)],
    "crz": lambda q, a: _crz(a[0], *q),
    "crx": lambda q, a: [_u(q[1], _H), *_crz(a[0], *q), _u(q[1], _H)],
    "cry": lambda q, a: [_u(q[1], _H @ _SDG), *_crz(a[0], *q), _u(q[1], _S @ _H)],
    "rxx": lambda q, a: [("xx", *q, a[0] / 2)],
    "ryy": lambda q, a: _yy(q[0], q[1], a[0] / 2),
    "rzz": lambda q, a: [("zz", *q, a[0] / 2)],
    "swap": lambda q, a: [("xx", *q, math.pi / 4), *_yy(q[0], q[1], math.pi / 4), ("zz", *q, math.pi / 4)],
    "iswap": lambda q, a: [("xx", *q, -math.pi / 4), *_yy(q[0], q[1], -math.pi / 4)],
    "iswapdg": lambda q, a: [("xx", *q, math.pi / 4), *_yy(q[0], q[1], math.pi / 4)],
    "ccx": lambda q, a: _ccx(*q),
    "ms": lambda q, a: [
        _u(q[0], _m("rz", -2 * math.pi * a[0])),
        _u(q[1], _m("rz", -2 * math.pi * a[1])),
        ("xx", *q, math.pi * a[2]),
        _u(q[0], _m("rz", 2 * math.pi * a[0])),
        _u(q[1], _m("rz", 2 * math.pi * a[1])),
    ],
    "zz": lambda q, a: [("zz", *q, math.pi * a[0])],
}


def _lower(op: Operation, values: Mapping[str, float]) -> list[_Item]:
    angles = tuple(float(p.evaluate(values)) for p in op.params)
    if op.spec.n_qubits == 1:
        return [] if op.gate == "i" else [_u(op.qubits[0], op.spec.matrix(*angles))]
    try:
        lower = _TWO_QUBIT[op.gate]
    except KeyError:
        raise CapabilityError(f"the IonQ compiler has no rule for gate {op.gate!r}") from None
    return lower(op.qubits, angles)


# -- one-qubit synthesis --------------------------------------------------------------------------


def _wrap(turns: float) -> float:
    """A phase in [0, 1) turns (``-1e-17 % 1.0`` is 1.0 in floating point, hence the guard)."""
    r = float(turns % 1.0)
    return 0.0 if r >= 1.0 else r


def _turns(radians: float) -> float:
    return _wrap(radians / (2 * math.pi))


def _split(u: np.ndarray) -> tuple[list[tuple[str, float]], float]:
    """Write ``u`` (up to phase) as ``RZ(γ)·V``: the natives of V in time order, and γ."""
    u = u / np.sqrt(np.linalg.det(u))
    a, b = complex(u[0, 0]), complex(u[1, 0])
    arg_a, arg_b = math.atan2(a.imag, a.real), math.atan2(b.imag, b.real)
    if abs(b) < _TOL:
        return [], -2 * arg_a
    if abs(a) < _TOL:
        return [("gpi", _turns(arg_b - math.pi / 2))], 0.0
    if abs(abs(a) - _SQ) < _TOL:
        gamma = -2 * arg_a
        return [("gpi2", _turns(arg_b + math.pi / 2 - gamma / 2))], gamma
    delta = 2 * math.atan2(abs(a), abs(b))
    gamma = math.pi - delta - 2 * arg_a
    sigma = 2 * arg_b + math.pi - gamma
    return [("gpi2", _turns((sigma - delta) / 2)), ("gpi2", _turns((sigma + delta) / 2))], gamma


def _frame_angle(diag: np.ndarray) -> float:
    """γ of a diagonal ``RZ(γ)`` up to phase."""
    return float(np.angle(diag[1, 1]) - np.angle(diag[0, 0]))


def _reduce(alpha: float) -> tuple[float, bool]:
    """Reduce ``exp(-iα P⊗P)`` to α' ∈ [-π/4, π/4] and whether P⊗P splits off."""
    alpha = math.remainder(alpha, math.pi)
    if abs(alpha) <= math.pi / 4 + 1e-15:
        return alpha, False
    return alpha - math.copysign(math.pi / 2, alpha), True


class _Emitter:
    """Per-qubit pending one-qubit unitaries, flushed into natives at each entangler."""

    def __init__(self, n_qubits: int, entangler: Entangler) -> None:
        self.n = n_qubits
        self.entangler = entangler
        self.pending = [np.eye(2, dtype=complex) for _ in range(n_qubits)]
        self.ops: list[Operation] = []

    def one(self, q: int, m: np.ndarray) -> None:
        self.pending[q] = m @ self.pending[q]

    def flush(self, q: int) -> float:
        natives, gamma = _split(self.pending[q])
        self.ops.extend(Operation(name, (q,), (phase,)) for name, phase in natives)
        self.pending[q] = _m("rz", gamma)
        return gamma

    def interaction(self, kind: str, a: int, b: int, alpha: float) -> None:
        if kind != ("xx" if self.entangler == "ms" else "zz"):
            self.one(a, _H)
            self.one(b, _H)
            self.interaction("xx" if kind == "zz" else "zz", a, b, alpha)
            self.one(a, _H)
            self.one(b, _H)
            return
        alpha, split = _reduce(alpha)
        if abs(alpha) > _TOL:
            if self.entangler == "ms":
                self._ms(a, b, alpha)
            else:
                self._zz(a, b, alpha)
        if split:
            pauli = _X if kind == "xx" else _Z
            self.one(a, pauli)
            self.one(b, pauli)

    def _ms(self, a: int, b: int, alpha: float) -> None:
        ga, gb = self.flush(a), self.flush(b)
        phi0 = -ga / (2 * math.pi) + (0.5 if alpha < 0 else 0.0)
        phi1 = -gb / (2 * math.pi)
        self.ops.append(Operation("ms", (a, b), (_wrap(phi0), _wrap(phi1), min(abs(alpha) / math.pi, 0.25))))

    def _zz(self, a: int, b: int, alpha: float) -> None:
        if abs(alpha + math.pi / 4) < _TOL:
            # exp(iπ/4 ZZ) = exp(-iπ/4 ZZ)·(i Z⊗Z): the Z⊗Z is virtual, so CZ and CNOT need no X pair
            self.one(a, _Z)
            self.one(b, _Z)
            alpha = math.pi / 4
        if alpha < 0:
            self.one(a, _X)
        self.flush(a)
        self.flush(b)
        self.ops.append(Operation("zz", (a, b), (min(abs(alpha) / math.pi, 0.25),)))
        if alpha < 0:
            self.one(a, _X)

    def finish(self) -> CompiledCircuit:
        frame = []
        for q in range(self.n):
            frame.append(math.remainder(self.flush(q), 4 * math.pi))
        return CompiledCircuit(Circuit(self.n, tuple(self.ops)), tuple(frame))


def compile_circuit(
    circuit: Circuit, values: Mapping[str, float] | None = None, entangler: Entangler = "ms"
) -> CompiledCircuit:
    """Compile one bound circuit to IonQ natives for an ``ms`` (Aria) or ``zz`` (Forte) system.

    ``values`` binds the circuit's symbols to numbers. Example::

        compiled = compile_circuit(Circuit(2).h(0).cnot(0, 1), entangler="zz")
        compiled.circuit.gate_counts()   # {'gpi2': 3, 'zz': 1, ...}
    """
    if entangler not in ("ms", "zz"):
        raise CapabilityError(f"entangler must be 'ms' (Aria) or 'zz' (Forte), got {entangler!r}")
    values = dict(values or {})
    missing = sorted(set(circuit.symbols) - set(values))
    if missing:
        raise CapabilityError(f"compile a bound circuit: no values for symbol(s) {missing}")
    emitter = _Emitter(circuit.n_qubits, entangler)
    for op in circuit.operations:
        if isinstance(op, StatePreparation):
            raise CapabilityError(
                "state preparation must be decomposed before native compilation "
                "(Backend.prepare does this for backends without native state preparation)"
            )
        for item in _lower(op, values):
            if item[0] == "u":
                emitter.one(item[1], item[2])
            else:
                emitter.interaction(*item)
    return emitter.finish()
