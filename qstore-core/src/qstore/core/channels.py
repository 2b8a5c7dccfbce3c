"""Noise channels as IR operations: one table of named channels plus general Kraus channels.

A channel maps a density matrix ``ρ -> Σ_k K_k ρ K_k†``. Named channels act on one qubit and take
one *strength* (a number or a linear expression of symbols, so a damping rate can be trainable):

===================== ============================================================= =========
name                  Kraus operators                                               strength
===================== ============================================================= =========
``amplitude_damping`` ``[[1, 0], [0, √(1-γ)]]``, ``[[0, √γ], [0, 0]]``                γ ∈ [0, 1]
``phase_damping``     ``[[1, 0], [0, √(1-λ)]]``, ``[[0, 0], [0, √λ]]``                λ ∈ [0, 1]
``depolarizing``      ``√(1-3p/4)·I``, ``√(p/4)·X``, ``√(p/4)·Y``, ``√(p/4)·Z``        p ∈ [0, 1]
``bit_flip``          ``√(1-p)·I``, ``√p·X``                                          p ∈ [0, 1]
``phase_flip``        ``√(1-p)·I``, ``√p·Z``                                          p ∈ [0, 1]
===================== ============================================================= =========

``depolarizing(p)`` is ``ρ -> (1-p)·ρ + p·I/2`` (Nielsen & Chuang; Qiskit's ``depolarizing_error``);
Cirq's ``depolarize(q)`` is the same channel with ``p = 4q/3``. ``kraus`` channels carry fixed
matrices on any number of qubits and must be complete (``Σ K†K = I`` to `COMPLETENESS_TOLERANCE`).

Engines use the *superoperator* ``S = Σ_k K_k ⊗ K_k*`` acting on the row-major vectorised ``ρ``.
Every named channel's ``S`` is exactly ``C0 + p·C1 + √(1-p)·C2``: `superoperator_basis` derives the
``C`` from the Kraus table (three evaluations, one linear solve), so autodiff engines rebuild ``S``
and its derivative from the table with their own ops and no matrix is ever copied.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import attrs
import numpy as np

from qstore.core.errors import BindingError, CircuitError
from qstore.core.expressions import Expr, as_expr

__all__ = [
    "CHANNELS",
    "COMPLETENESS_TOLERANCE",
    "KRAUS",
    "Channel",
    "ChannelSpec",
    "basis_values",
    "channel_spec",
    "check_kraus",
    "check_strengths",
    "superoperator",
    "superoperator_basis",
]

COMPLETENESS_TOLERANCE = 1e-10
_I = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.array([[1, 0], [0, -1]], dtype=complex)


@attrs.frozen
class ChannelSpec:
    """A named one-qubit channel: its Kraus operators as a function of the strength."""

    name: str
    kraus: Callable[[float], list[np.ndarray]] = attrs.field(eq=False)
    description: str
    n_qubits: ClassVar[int] = 1
    n_params: ClassVar[int] = 1


def _amplitude_damping(g: float) -> list[np.ndarray]:
    return [
        np.array([[1, 0], [0, math.sqrt(1 - g)]], complex),
        np.array([[0, math.sqrt(g)], [0, 0]], complex),
    ]


def _phase_damping(lam: float) -> list[np.ndarray]:
    return [
        np.array([[1, 0], [0, math.sqrt(1 - lam)]], complex),
        np.array([[0, 0], [0, math.sqrt(lam)]], complex),
    ]


def _depolarizing(p: float) -> list[np.ndarray]:
    return [math.sqrt(1 - 3 * p / 4) * _I] + [math.sqrt(p / 4) * m for m in (_X, _Y, _Z)]


def _pauli_flip(pauli: np.ndarray) -> Callable[[float], list[np.ndarray]]:
    return lambda p: [math.sqrt(1 - p) * _I, math.sqrt(p) * pauli]


CHANNELS: dict[str, ChannelSpec] = {
    spec.name: spec
    for spec in (
        ChannelSpec(
            "amplitude_damping", _amplitude_damping, "energy relaxation |1> -> |0> with probability γ"
        ),
        ChannelSpec("phase_damping", _phase_damping, "loss of phase coherence without energy loss"),
        ChannelSpec("depolarizing", _depolarizing, "(1-p)·ρ + p·I/2"),
        ChannelSpec("bit_flip", _pauli_flip(_X), "X with probability p"),
        ChannelSpec("phase_flip", _pauli_flip(_Z), "Z with probability p"),
    )
}
"""The named channels by name."""

KRAUS = "kraus"
"""The name of general channels given by fixed Kraus matrices."""


def channel_spec(name: str) -> ChannelSpec:
    """The table row of a named channel; unknown names are a `CircuitError` listing the known ones."""
    spec = CHANNELS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise CircuitError(f"unknown channel {name!r}; known channels: {sorted(CHANNELS)} and {KRAUS!r}")
    return spec


def check_kraus(matrices: Any, n_qubits: int) -> np.ndarray:
    """Validate Kraus matrices for ``n_qubits`` qubits: ``(K, d, d)`` complex128, complete to 1e-10."""
    try:
        ops = np.asarray(matrices, dtype=complex)
    except (TypeError, ValueError):
        raise CircuitError(f"kraus must be a list of square complex matrices, got {matrices!r:.80}") from None
    d = 2**n_qubits
    if ops.ndim != 3 or ops.shape[1:] != (d, d) or ops.shape[0] == 0:
        raise CircuitError(
            f"a Kraus channel on {n_qubits} qubit(s) needs a non-empty list of {d}x{d} matrices, "
            f"got shape {ops.shape}"
        )
    if not np.all(np.isfinite(ops)):
        raise CircuitError("kraus matrices must be finite (no NaN or inf)")
    gap = np.abs(np.einsum("kji,kjl->il", ops.conj(), ops) - np.eye(d)).max()
    if gap > COMPLETENESS_TOLERANCE:
        raise CircuitError(
            f"kraus matrices are not complete: max |Σ K†K - I| = {gap:.3g} > {COMPLETENESS_TOLERANCE} "
            "(a channel must preserve the trace)"
        )
    return ops


def _qubits(value: Iterable[int]) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise CircuitError(f"qubits must be a sequence of qubit indices, got {value!r}")
    out = tuple(int(q) if isinstance(q, numbers.Integral) and not isinstance(q, bool) else q for q in value)
    for q in out:
        if isinstance(q, bool) or not isinstance(q, int) or q < 0:
            raise CircuitError(f"qubit indices must be non-negative integers, got {q!r}")
    if not out or len(set(out)) != len(out):
        raise CircuitError(f"a channel needs distinct qubits, got {out}")
    return out


def _kraus_data(value: Any) -> tuple[tuple[tuple[complex, ...], ...], ...]:
    if value is None:
        return ()
    return tuple(tuple(tuple(complex(x) for x in row) for row in m) for m in np.asarray(value, dtype=complex))


@attrs.frozen
class Channel:
    """A noise channel on ``qubits``: a named channel with one strength, or fixed Kraus matrices.

    >>> Channel("amplitude_damping", (0,), ("gamma",))          # trainable damping rate
    >>> Channel("kraus", (0,), kraus=[np.eye(2)])                # identity channel
    """

    gate: str = attrs.field()
    qubits: tuple[int, ...] = attrs.field(converter=_qubits)
    params: tuple[Expr, ...] = attrs.field(default=(), converter=lambda ps: tuple(as_expr(p) for p in ps))
    kraus: tuple[tuple[tuple[complex, ...], ...], ...] = attrs.field(default=None, converter=_kraus_data)

    def __attrs_post_init__(self) -> None:
        if self.gate == KRAUS:
            if self.params:
                raise CircuitError(f"a Kraus channel takes no strengths, got {len(self.params)}")
            check_kraus(self.kraus, len(self.qubits))
            return
        spec = channel_spec(self.gate)
        if self.kraus:
            raise CircuitError(
                f"channel {self.gate!r} is defined by its strength; kraus= is only for {KRAUS!r}"
            )
        if len(self.qubits) != spec.n_qubits:
            raise CircuitError(
                f"channel {self.gate!r} acts on {spec.n_qubits} qubit, got qubits {self.qubits}"
            )
        if len(self.params) != spec.n_params:
            raise CircuitError(
                f"channel {self.gate!r} takes {spec.n_params} strength, got {len(self.params)}"
            )
        for p in self.params:
            if p.is_constant and not 0 <= p.const <= 1:
                raise CircuitError(f"channel {self.gate!r} strength must be in [0, 1], got {p.const}")

    @property
    def symbols(self) -> frozenset[str]:
        """Symbols its strength depends on."""
        return frozenset().union(*(p.symbols for p in self.params))

    def matrices(self) -> np.ndarray:
        """The fixed Kraus matrices ``(K, d, d)`` of a ``kraus`` channel."""
        if self.gate != KRAUS:
            raise CircuitError(
                f"channel {self.gate!r} has strength-dependent Kraus operators; use superoperator()"
            )
        return np.asarray(self.kraus, dtype=complex)

    def inverse(self) -> Channel:
        """Channels are not unitary, so a noisy circuit has no inverse."""
        raise CircuitError(f"channel {self.gate!r} is not invertible; a noisy circuit has no inverse")

    def label(self) -> str:
        """Short text for drawings: ``AD(gamma)``, ``KRAUS``."""
        short = {"amplitude_damping": "AD", "phase_damping": "PD", "depolarizing": "DEP"}
        name = short.get(self.gate, self.gate.upper())
        return f"{name}({', '.join(str(p) for p in self.params)})" if self.params else name


def basis_values(p: np.ndarray) -> np.ndarray:
    """``(…, 3)`` values ``(1, p, √(1-p))`` of the superoperator basis functions at strengths ``p``."""
    p = np.asarray(p, dtype=float)
    return np.stack([np.ones_like(p), p, np.sqrt(1 - p)], axis=-1)


_FIT_POINTS = (0.0, 0.75, 1.0)


def _kraus_superoperator(ops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    return np.sum([np.kron(k, k.conj()) for k in ops], axis=0)


@functools.cache
def superoperator_basis(name: str) -> np.ndarray:
    """``C`` of shape ``(3, 4, 4)`` (read-only) with ``S(p) = Σ_j basis_values(p)[j]·C[j]`` exactly."""
    spec = channel_spec(name)
    grid = basis_values(np.array(_FIT_POINTS))
    values = np.stack([_kraus_superoperator(spec.kraus(p)) for p in _FIT_POINTS]).reshape(3, -1)
    coeffs = np.linalg.solve(grid, values).reshape(3, 4, 4)
    coeffs[np.abs(coeffs) < 1e-14] = 0
    coeffs.setflags(write=False)
    return coeffs


def check_strengths(channel: Channel, values: np.ndarray) -> np.ndarray:
    """Strengths bound for a batch, refused (`BindingError`) outside ``[0, 1]``."""
    bad = np.flatnonzero((values < 0) | (values > 1))
    if bad.size:
        raise BindingError(
            f"channel {channel.gate!r} on qubit(s) {channel.qubits} has strength {values[bad[0]]:.6g} in batch "
            f"row {bad[0]}; strengths must be in [0, 1] (map a free weight through a sigmoid)"
        )
    return values


def superoperator(channel: Channel, strengths: Sequence[np.ndarray] = ()) -> np.ndarray:
    """``S = Σ K ⊗ K*``: ``(4**k, 4**k)`` for a Kraus channel, ``(B, 4, 4)`` for a named one."""
    if channel.gate == KRAUS:
        return _kraus_superoperator(channel.matrices())
    p = check_strengths(channel, np.asarray(strengths[0], dtype=float))
    return np.einsum("bj,jkl->bkl", basis_values(p), superoperator_basis(channel.gate))
