"""The gate library: the one table of gates every engine, compiler and gradient reads.

Conventions (shared by every engine):

* A k-qubit matrix acts on the basis ``|t0 t1 ... t(k-1)>`` of its targets with the *first* target
  most significant; for controlled gates the controls come first.
* Angles of RX/RY/RZ-style rotations are radians with ``R(θ) = exp(-iθP/2)``.
* IonQ's native gates (GPI, GPI2, MS, ZZ) take phases and angles in *turns* (1 turn = 2π) exactly as
  IonQ defines them, so compiled circuits are ordinary IR.

Matrix functions accept angles as scalars or arrays of one shape ``S`` and return ``S + (d, d)``.

Each angle of a parametric gate carries two facts used for exact derivatives:

* ``matrix_frequency`` ν: every matrix entry is ``a + b·e^{iνθ} + c·e^{-iνθ}``, so
  ``dU/dθ = ν/2 · (U(θ + π/2ν) − U(θ − π/2ν))`` exactly (used by adjoint differentiation);
* ``shift``: the spectrum ``{Ω, 2Ω, …, RΩ}`` of the expectation as a function of the angle, from
  which `ShiftRule` builds the general parameter-shift rule (two terms for R = 1, four for R = 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from qstore.core.errors import CircuitError

__all__ = [
    "GATES",
    "GateSpec",
    "ParamRule",
    "ShiftRule",
    "gate_spec",
]

MatrixFn = Callable[..., np.ndarray]


@attrs.frozen
class ShiftRule:
    """Parameter-shift rule for an expectation whose spectrum is ``{Ω, 2Ω, …, RΩ}``.

    ``f'(θ) = Σ coeffs[m] · f(θ + shifts[m])`` exactly (Wierichs et al., 2022, equidistant case).
    """

    shifts: tuple[float, ...]
    coeffs: tuple[float, ...]

    @classmethod
    def for_spectrum(cls, omega: float, n_frequencies: int) -> ShiftRule:
        """Build the 2R-term rule for frequencies ``Ω, 2Ω, …, RΩ``."""
        r = n_frequencies
        period = 2 * math.pi / omega
        shifts, coeffs = [], []
        for mu in range(1, 2 * r + 1):
            x = (2 * mu - 1) * math.pi / (2 * r)
            shift = x / omega
            if shift > period / 2:
                shift -= period
            shifts.append(shift)
            coeffs.append(omega * (-1) ** (mu - 1) / (4 * r * math.sin(x / 2) ** 2))
        return cls(tuple(shifts), tuple(coeffs))


@attrs.frozen
class ParamRule:
    """How one angle of a gate enters its matrix and its expectations (see module docstring)."""

    matrix_frequency: float
    shift_omega: float
    shift_frequencies: int = 1

    @property
    def shift_rule(self) -> ShiftRule:
        """The exact parameter-shift rule for this angle."""
        return ShiftRule.for_spectrum(self.shift_omega, self.shift_frequencies)


@attrs.frozen
class GateSpec:
    """One row of the gate table."""

    name: str
    n_qubits: int
    n_params: int
    matrix_fn: MatrixFn = attrs.field(repr=False, eq=False)
    diagonal: bool = False
    self_inverse: bool = False
    clifford: bool = False
    n_controls: int = 0
    params: tuple[ParamRule, ...] = ()
    inverse_name: str | None = None
    inverse_params: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = attrs.field(
        default=None, repr=False, eq=False
    )

    def matrix(self, *angles: Any) -> np.ndarray:
        """Unitary for the given angles; shape ``S + (2**k, 2**k)`` for angles of shape ``S``."""
        if len(angles) != self.n_params:
            raise CircuitError(f"gate {self.name!r} takes {self.n_params} angle(s), got {len(angles)}")
        return self.matrix_fn(*angles)

    def matrix_derivative(self, angles: Sequence[Any], index: int) -> np.ndarray:
        """Exact ``dU/dθ_index`` from two matrix evaluations (see module docstring)."""
        nu = self.params[index].matrix_frequency
        step = math.pi / (2 * nu)
        plus = list(angles)
        minus = list(angles)
        plus[index] = np.asarray(angles[index]) + step
        minus[index] = np.asarray(angles[index]) - step
        return (nu / 2) * (self.matrix_fn(*plus) - self.matrix_fn(*minus))

    def inverse(self, angles: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        """Name and angles of the inverse gate; angles may be numbers or symbol expressions."""
        if self.self_inverse:
            return self.name, angles
        if self.inverse_name is None:
            raise CircuitError(f"gate {self.name!r} has no inverse in the gate table")
        if self.inverse_params is None:
            return self.inverse_name, angles
        return self.inverse_name, self.inverse_params(angles)


def _stack(rows: list[list[Any]]) -> np.ndarray:
    """Build ``S + (d, d)`` complex matrices from nested rows of scalars or arrays of shape S."""
    entries = [np.asarray(e, dtype=complex) for row in rows for e in row]
    shape = np.broadcast_shapes(*(e.shape for e in entries))
    d = len(rows)
    out = np.empty((*shape, d, d), dtype=complex)
    for i, row in enumerate(rows):
        for j, e in enumerate(row):
            out[..., i, j] = e
    return out


def _fixed(m: Sequence[Sequence[complex]]) -> MatrixFn:
    matrix = np.array(m, dtype=complex)
    matrix.setflags(write=False)
    return lambda: matrix


def _controlled(base: MatrixFn, n_controls: int = 1) -> MatrixFn:
    """Matrix of ``base`` controlled on ``n_controls`` leading qubits being |1>."""

    def fn(*angles: Any) -> np.ndarray:
        u = base(*angles)
        d = u.shape[-1]
        size = d * 2**n_controls
        out = np.zeros((*u.shape[:-2], size, size), dtype=complex)
        idx = np.arange(size - d)
        out[..., idx, idx] = 1.0
        out[..., size - d :, size - d :] = u
        return out

    return fn


def _rx(t: Any) -> np.ndarray:
    c, s = np.cos(np.asarray(t) / 2), np.sin(np.asarray(t) / 2)
    return _stack([[c, -1j * s], [-1j * s, c]])


def _ry(t: Any) -> np.ndarray:
    c, s = np.cos(np.asarray(t) / 2), np.sin(np.asarray(t) / 2)
    return _stack([[c, -s], [s, c]])


def _rz(t: Any) -> np.ndarray:
    e = np.exp(-0.5j * np.asarray(t))
    return _stack([[e, 0], [0, np.conj(e)]])


def _phase(t: Any) -> np.ndarray:
    return _stack([[1, 0], [0, np.exp(1j * np.asarray(t))]])


def _u3(theta: Any, phi: Any, lam: Any) -> np.ndarray:
    c, s = np.cos(np.asarray(theta) / 2), np.sin(np.asarray(theta) / 2)
    ep, el = np.exp(1j * np.asarray(phi)), np.exp(1j * np.asarray(lam))
    return _stack([[c, -el * s], [ep * s, ep * el * c]])


def _two_qubit_rotation(pauli: np.ndarray) -> MatrixFn:
    """``exp(-iθ P⊗P / 2)`` for a one-qubit Pauli P."""
    pp = np.kron(pauli, pauli)

    def fn(t: Any) -> np.ndarray:
        t = np.asarray(t, dtype=float)[..., None, None]
        return np.cos(t / 2) * np.eye(4) - 1j * np.sin(t / 2) * pp

    return fn


def _rzz(t: Any) -> np.ndarray:
    e = np.exp(-0.5j * np.asarray(t))
    f = np.conj(e)
    return _stack([[e, 0, 0, 0], [0, f, 0, 0], [0, 0, f, 0], [0, 0, 0, e]])


def _gpi(phi: Any) -> np.ndarray:
    e = np.exp(2j * np.pi * np.asarray(phi))
    return _stack([[0, np.conj(e)], [e, 0]])


def _gpi2(phi: Any) -> np.ndarray:
    e = np.exp(2j * np.pi * np.asarray(phi))
    r = 1 / math.sqrt(2)
    return _stack([[r, -1j * r * np.conj(e)], [-1j * r * e, r]])


def _ms(phi0: Any, phi1: Any, theta: Any) -> np.ndarray:
    phi0, phi1, theta = np.asarray(phi0), np.asarray(phi1), np.asarray(theta)
    c, s = np.cos(np.pi * theta), np.sin(np.pi * theta)
    p, m = np.exp(2j * np.pi * (phi0 + phi1)), np.exp(2j * np.pi * (phi0 - phi1))
    return _stack(
        [
            [c, 0, 0, -1j * s * np.conj(p)],
            [0, c, -1j * s * np.conj(m), 0],
            [0, -1j * s * m, c, 0],
            [-1j * s * p, 0, 0, c],
        ]
    )


def _ionq_zz(theta: Any) -> np.ndarray:
    return _rzz(2 * np.pi * np.asarray(theta))


_X = [[0, 1], [1, 0]]
_Y = [[0, -1j], [1j, 0]]
_Z = [[1, 0], [0, -1]]
_SQ = 1 / math.sqrt(2)

_ROT = ParamRule(matrix_frequency=0.5, shift_omega=1.0)
_PHASE = ParamRule(matrix_frequency=1.0, shift_omega=1.0)
_CROT = ParamRule(matrix_frequency=0.5, shift_omega=0.5, shift_frequencies=2)
_TURN_PHASE = ParamRule(matrix_frequency=2 * math.pi, shift_omega=2 * math.pi, shift_frequencies=2)
_TURN_ANGLE = ParamRule(matrix_frequency=math.pi, shift_omega=2 * math.pi)


def _negate(angles: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(-a for a in angles)


def _u3_inverse(angles: tuple[Any, ...]) -> tuple[Any, ...]:
    theta, phi, lam = angles
    return (-theta, -lam, -phi)


def _gpi2_inverse(angles: tuple[Any, ...]) -> tuple[Any, ...]:
    return (angles[0] + 0.5,)


def _ms_inverse(angles: tuple[Any, ...]) -> tuple[Any, ...]:
    phi0, phi1, theta = angles
    return (phi0 + 0.5, phi1, theta)


def _table() -> dict[str, GateSpec]:
    fixed_1q = [
        GateSpec("i", 1, 0, _fixed([[1, 0], [0, 1]]), diagonal=True, self_inverse=True, clifford=True),
        GateSpec("x", 1, 0, _fixed(_X), self_inverse=True, clifford=True),
        GateSpec("y", 1, 0, _fixed(_Y), self_inverse=True, clifford=True),
        GateSpec("z", 1, 0, _fixed(_Z), diagonal=True, self_inverse=True, clifford=True),
        GateSpec("h", 1, 0, _fixed([[_SQ, _SQ], [_SQ, -_SQ]]), self_inverse=True, clifford=True),
        GateSpec("s", 1, 0, _fixed([[1, 0], [0, 1j]]), diagonal=True, clifford=True, inverse_name="sdg"),
        GateSpec("sdg", 1, 0, _fixed([[1, 0], [0, -1j]]), diagonal=True, clifford=True, inverse_name="s"),
        GateSpec("t", 1, 0, _fixed([[1, 0], [0, np.exp(0.25j * np.pi)]]), diagonal=True, inverse_name="tdg"),
        GateSpec("tdg", 1, 0, _fixed([[1, 0], [0, np.exp(-0.25j * np.pi)]]), diagonal=True, inverse_name="t"),
        GateSpec("sx", 1, 0, _fixed([[0.5 + 0.5j, 0.5 - 0.5j], [0.5 - 0.5j, 0.5 + 0.5j]]), clifford=True, inverse_name="sxdg"),
        GateSpec("sxdg", 1, 0, _fixed([[0.5 - 0.5j, 0.5 + 0.5j], [0.5 + 0.5j, 0.5 - 0.5j]]), clifford=True, inverse_name="sx"),
    ]  # fmt: skip
    fixed_nq = [
        GateSpec("cnot", 2, 0, _controlled(_fixed(_X)), self_inverse=True, clifford=True, n_controls=1),
        GateSpec("cy", 2, 0, _controlled(_fixed(_Y)), self_inverse=True, clifford=True, n_controls=1),
        GateSpec("cz", 2, 0, _controlled(_fixed(_Z)), diagonal=True, self_inverse=True, clifford=True, n_controls=1),
        GateSpec("swap", 2, 0, _fixed([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]), self_inverse=True, clifford=True),
        GateSpec("iswap", 2, 0, _fixed([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]]), clifford=True, inverse_name="iswapdg"),
        GateSpec("iswapdg", 2, 0, _fixed([[1, 0, 0, 0], [0, 0, -1j, 0], [0, -1j, 0, 0], [0, 0, 0, 1]]), clifford=True, inverse_name="iswap"),
        GateSpec("ccx", 3, 0, _controlled(_fixed(_X), 2), self_inverse=True, n_controls=2),
    ]  # fmt: skip
    rotations = [
        GateSpec("rx", 1, 1, _rx, params=(_ROT,), inverse_name="rx", inverse_params=_negate),
        GateSpec("ry", 1, 1, _ry, params=(_ROT,), inverse_name="ry", inverse_params=_negate),
        GateSpec("rz", 1, 1, _rz, diagonal=True, params=(_ROT,), inverse_name="rz", inverse_params=_negate),
        GateSpec("phase", 1, 1, _phase, diagonal=True, params=(_PHASE,), inverse_name="phase", inverse_params=_negate),
        GateSpec("u3", 1, 3, _u3, params=(_ROT, _PHASE, _PHASE), inverse_name="u3", inverse_params=_u3_inverse),
        GateSpec("crx", 2, 1, _controlled(_rx), n_controls=1, params=(_CROT,), inverse_name="crx", inverse_params=_negate),
        GateSpec("cry", 2, 1, _controlled(_ry), n_controls=1, params=(_CROT,), inverse_name="cry", inverse_params=_negate),
        GateSpec("crz", 2, 1, _controlled(_rz), diagonal=True, n_controls=1, params=(_CROT,), inverse_name="crz", inverse_params=_negate),
        GateSpec("rxx", 2, 1, _two_qubit_rotation(np.array(_X)), params=(_ROT,), inverse_name="rxx", inverse_params=_negate),
        GateSpec("ryy", 2, 1, _two_qubit_rotation(np.array(_Y)), params=(_ROT,), inverse_name="ryy", inverse_params=_negate),
        GateSpec("rzz", 2, 1, _rzz, diagonal=True, params=(_ROT,), inverse_name="rzz", inverse_params=_negate),
    ]  # fmt: skip
    ionq = [
        GateSpec("gpi", 1, 1, _gpi, self_inverse=True, params=(_TURN_PHASE,)),
        GateSpec("gpi2", 1, 1, _gpi2, params=(_TURN_PHASE,), inverse_name="gpi2", inverse_params=_gpi2_inverse),
        GateSpec("ms", 2, 3, _ms, params=(_TURN_PHASE, _TURN_PHASE, _TURN_ANGLE), inverse_name="ms", inverse_params=_ms_inverse),
        GateSpec("zz", 2, 1, _ionq_zz, diagonal=True, params=(_TURN_ANGLE,), inverse_name="zz", inverse_params=_negate),
    ]  # fmt: skip
    return {g.name: g for g in fixed_1q + fixed_nq + rotations + ionq}


GATES: dict[str, GateSpec] = _table()

ALIASES: dict[str, str] = {"cx": "cnot", "p": "phase", "toffoli": "ccx", "id": "i", "u": "u3"}


def gate_spec(name: str) -> GateSpec:
    """Look a gate up by name (case-insensitive; ``cx``, ``p``, ``toffoli``, ``u`` are aliases)."""
    if not isinstance(name, str):
        raise CircuitError(f"a gate name must be a string such as 'h' or 'cnot', got {name!r}")
    key = name.lower()
    key = ALIASES.get(key, key)
    try:
        return GATES[key]
    except KeyError:
        raise CircuitError(f"unknown gate {name!r}; known gates: {', '.join(sorted(GATES))}") from None
