"""Observables: Pauli strings and weighted sums of them.

``PauliString.parse("Z0 Z1")``, ``Observable.parse("0.5*X0 X1 - Z2")``, and the common readouts
``z_all(n)`` (Z on every qubit) and ``readouts(n, "XYZ")`` (per-qubit X, Y, Z, basis-major).
Coefficients are finite real numbers: ``"inf*Z0"`` or a NaN weight is an `ObservableError`.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from qstore.core.errors import ObservableError

__all__ = ["Observable", "ObservableLike", "PauliString", "as_observables", "readouts", "z_all"]

_FACTOR = re.compile(r"([XYZI])(\d+)\Z")


def _paulis(value: Any) -> tuple[tuple[int, str], ...]:
    try:
        items = list(dict(value).items() if isinstance(value, dict) else value)
        if not all(isinstance(item, tuple | list) and len(item) == 2 for item in items):
            raise TypeError
    except TypeError:
        raise ObservableError(
            f"Pauli factors must be (qubit, 'X'|'Y'|'Z'|'I') pairs or a {{qubit: pauli}} dict, got {value!r}"
        ) from None
    out: dict[int, str] = {}
    for q, p in items:
        if isinstance(q, bool) or not isinstance(q, int) or q < 0:
            raise ObservableError(f"Pauli qubit must be a non-negative integer, got {q!r}")
        if p not in ("X", "Y", "Z", "I"):
            raise ObservableError(f"Pauli on qubit {q} must be one of X, Y, Z, I, got {p!r}")
        if q in out:
            raise ObservableError(f"qubit {q} appears twice in one Pauli string")
        if p != "I":
            out[q] = p
    return tuple(sorted(out.items()))


def _coeff(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObservableError(f"a Pauli string coefficient must be a real number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ObservableError(f"a Pauli string coefficient must be finite, got {value!r}")
    return float(value) + 0.0


def _text(what: str, text: Any) -> str:
    if not isinstance(text, str):
        raise ObservableError(f"{what} must be a string such as 'Z0 Z1', got {text!r}")
    return text


@attrs.frozen
class PauliString:
    """``coeff · P_q0 ⊗ P_q1 ⊗ …``; qubits not listed carry the identity."""

    paulis: tuple[tuple[int, str], ...] = attrs.field(converter=_paulis)
    coeff: float = attrs.field(default=1.0, converter=_coeff)

    @classmethod
    def parse(cls, text: str) -> PauliString:
        """Parse ``"Z0 Z1"``, ``"X3"``, ``"I"`` or ``"-0.5*Y1"``."""
        body = _text("a Pauli string", text).strip()
        coeff = 1.0
        if "*" in body:
            head, body = body.split("*", 1)
            try:
                coeff = float(head)
            except ValueError:
                raise ObservableError(f"bad coefficient {head!r} in Pauli string {text!r}") from None
            if not math.isfinite(coeff):
                raise ObservableError(f"coefficient {head.strip()!r} in Pauli string {text!r} is not finite")
        elif body.startswith("-"):
            coeff, body = -1.0, body[1:]
        if not body.strip():
            raise ObservableError(
                f"no Pauli factors in {text!r}; write e.g. 'Z0 X1', or 'I' for the identity"
            )
        factors = []
        for token in body.split():
            m = _FACTOR.match(token)
            if m is None:
                if token == "I":
                    continue
                raise ObservableError(f"bad factor {token!r} in {text!r}; write e.g. 'Z0 X1'")
            factors.append((int(m.group(2)), m.group(1)))
        return cls(factors, coeff)

    @property
    def qubits(self) -> tuple[int, ...]:
        """Qubits with a non-identity factor."""
        return tuple(q for q, _ in self.paulis)

    @property
    def is_diagonal(self) -> bool:
        """True when every factor is Z (measurable in the computational basis)."""
        return all(p == "Z" for _, p in self.paulis)

    def __str__(self) -> str:
        body = " ".join(f"{p}{q}" for q, p in self.paulis) or "I"
        return body if self.coeff == 1 else f"{self.coeff:g}*{body}"


def _terms(value: Iterable[PauliString]) -> tuple[PauliString, ...]:
    if isinstance(value, PauliString | str) or not isinstance(value, Iterable):
        raise ObservableError(f"Observable takes a sequence of PauliString terms, got {value!r}")
    terms = tuple(value)
    if not terms:
        raise ObservableError("an observable needs at least one Pauli term")
    for t in terms:
        if not isinstance(t, PauliString):
            raise ObservableError(f"observable terms must be PauliString, got {t!r}")
    return terms


@attrs.frozen
class Observable:
    """A weighted sum of Pauli strings."""

    terms: tuple[PauliString, ...] = attrs.field(converter=_terms)

    @classmethod
    def parse(cls, text: str) -> Observable:
        """Parse ``"0.5*X0 X1 - Z2 + Y1"``."""
        pieces = re.split(r"\s+(?=[+-]\s*(?:\d|\.|[XYZI]))", _text("an observable", text).strip())
        terms = []
        for piece in pieces:
            sign = -1.0 if piece.startswith("-") else 1.0
            term = PauliString.parse(piece[1:] if piece[:1] in "+-" else piece)
            terms.append(attrs.evolve(term, coeff=sign * term.coeff))
        return cls(terms)

    @property
    def max_qubit(self) -> int:
        """Highest qubit any term acts on (-1 for a pure identity)."""
        return max((q for t in self.terms for q in t.qubits), default=-1)

    def squared(self) -> Observable:
        """``O²`` as a sum of Pauli strings (for variances ``<O²> - <O>²``).

        Anticommuting pairs cancel in ``P_i P_j + P_j P_i``; commuting pairs give a real ±1 phase.
        """
        combined: dict[tuple[tuple[int, str], ...], float] = {}
        for a in self.terms:
            for b in self.terms:
                paulis, phase = _pauli_product(a.paulis, b.paulis)
                if phase.imag == 0:
                    combined[paulis] = combined.get(paulis, 0.0) + a.coeff * b.coeff * phase.real
        return Observable(
            [PauliString(p, c) for p, c in combined.items() if c != 0] or [PauliString((), 0.0)]
        )

    def __str__(self) -> str:
        return " + ".join(str(t) for t in self.terms).replace("+ -", "- ")


_PRODUCT = {
    ("X", "Y"): (1j, "Z"),
    ("Y", "Z"): (1j, "X"),
    ("Z", "X"): (1j, "Y"),
    ("Y", "X"): (-1j, "Z"),
    ("Z", "Y"): (-1j, "X"),
    ("X", "Z"): (-1j, "Y"),
}


def _pauli_product(
    a: tuple[tuple[int, str], ...], b: tuple[tuple[int, str], ...]
) -> tuple[tuple[tuple[int, str], ...], complex]:
    """The Pauli string ``a·b`` and its phase."""
    left, right = dict(a), dict(b)
    phase: complex = 1
    out = []
    for q in sorted(set(left) | set(right)):
        p, r = left.get(q), right.get(q)
        if p is None or r is None:
            out.append((q, p or r))
        elif p != r:
            factor, pauli = _PRODUCT[(p, r)]
            phase *= factor
            out.append((q, pauli))
    return tuple(out), phase


ObservableLike = Observable | PauliString | str


def as_observables(values: ObservableLike | Sequence[ObservableLike]) -> tuple[Observable, ...]:
    """Normalise one or several observables (objects or strings) into a tuple of `Observable`."""
    if isinstance(values, Observable | PauliString | str):
        values = [values]
    if not isinstance(values, Sequence):
        raise ObservableError(
            f"observables must be an Observable, a PauliString, a string like 'Z0 Z1' or a sequence of "
            f"them, got {values!r}"
        )
    out = []
    for v in values:
        if isinstance(v, Observable):
            out.append(v)
        elif isinstance(v, PauliString):
            out.append(Observable((v,)))
        elif isinstance(v, str):
            out.append(Observable.parse(v))
        else:
            raise ObservableError(f"expected an Observable, PauliString or string, got {v!r}")
    return tuple(out)


def z_all(n_qubits: int) -> tuple[Observable, ...]:
    """⟨Z_i⟩ for every qubit, in qubit order."""
    return readouts(n_qubits, "Z")


def readouts(n_qubits: int, bases: str | Sequence[str] = "Z") -> tuple[Observable, ...]:
    """Per-qubit readouts in each basis, basis-major: ``[X0..X(n-1), Y0.., Z0..]`` for ``"XYZ"``."""
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, numbers.Integral) or n_qubits < 1:
        raise ObservableError(f"n_qubits must be a positive integer, got {n_qubits!r}")
    if not isinstance(bases, str | Sequence):
        raise ObservableError(
            f"bases must be a string like 'XYZ' or a sequence of 'X', 'Y', 'Z', got {bases!r}"
        )
    bases = tuple(bases)
    for b in bases:
        if b not in ("X", "Y", "Z"):
            raise ObservableError(f"measurement bases must be X, Y or Z, got {b!r}")
    if len(set(bases)) != len(bases):
        raise ObservableError(f"measurement bases repeat: {bases}")
    return tuple(Observable((PauliString(((q, b),)),)) for b in bases for q in range(int(n_qubits)))
