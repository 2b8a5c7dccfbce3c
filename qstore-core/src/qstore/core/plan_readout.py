"""Readout plans: Pauli observables compiled once into groups every engine evaluates the same way.

A Pauli string P acts on a basis state as ``P|i> = phase_P(i) |i ⊕ m>`` for its X/Y mask ``m``, so
``<ψ|P|ψ> = Σ_i conj(ψ_i) · phase_P(i) · ψ_{i⊕m}``. Terms are grouped by mask: the all-Z group
(``m = 0``, including every per-qubit Z readout and the identity) is one product ``|ψ|² @ signs``;
each other mask costs one gather ``ψ[i ⊕ m]`` and one product for all its terms. Engines sum over
the ``2**n`` amplitudes in float64 whatever the state's precision (a float32 sum drifts by about
``2**n`` ulps). For shots, `measurement_settings` groups qubit-wise commuting terms, each group
measured in one basis after `basis_rotations`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import attrs
import numpy as np

from qstore.core.gates import GATES
from qstore.core.observables import Observable

__all__ = [
    "PAULI_FACTORS",
    "TABLE_MAX_QUBITS",
    "Readout",
    "ReadoutGroup",
    "basis_rotations",
    "compile_readout",
    "measurement_settings",
]

TABLE_MAX_QUBITS = 14
"""Widest register read with ``2**n``-row `ReadoutGroup.phases`/``partner`` tables; wider ones use
`ReadoutGroup.factors` on strided views, so readout memory stays one state."""

PAULI_FACTORS = {"X": (1, 1), "Y": (-1j, 1j), "Z": (1, -1)}
"""The factor ``phase_P(i)`` takes from one qubit's Pauli for its row bit 0 / 1."""

Paulis = tuple[tuple[int, str], ...]


@attrs.frozen(eq=False)
class ReadoutGroup:
    """Terms sharing the X/Y ``mask`` (their Pauli strings in ``paulis``); ``phases`` is
    ``(2**n, n_terms)``, real when ``mask == 0``; ``partner`` is ``i ⊕ mask`` for every basis index
    (the gather of a non-diagonal group). Both are built on first use, so an engine that reads an
    all-Z group from marginals never allocates ``2**n``-entry tables."""

    n_qubits: int
    mask: int
    terms: np.ndarray
    paulis: tuple[Paulis, ...]

    @functools.cached_property
    def phases(self) -> np.ndarray:
        """``phase_P(i)`` of every term (columns) for every basis index (rows)."""
        phases = np.stack([_phase_vector(p, self.n_qubits) for p in self.paulis], axis=1)
        return phases.real if self.mask == 0 else phases

    @functools.cached_property
    def mask_qubits(self) -> tuple[int, ...]:
        """The qubits the X/Y mask flips (ascending): ``ψ[i ⊕ mask]`` is ``ψ`` reversed along them."""
        return tuple(q for q in range(self.n_qubits) if self.mask >> (self.n_qubits - 1 - q) & 1)

    @functools.cached_property
    def factors(self) -> tuple[tuple[tuple[int, ...], np.ndarray], ...]:
        """Per term, its qubits (ascending) and ``(k, 2)`` factors: ``phase_P(i) = Π_j f[j, bit_j(i)]``,
        so ``Σ_i o_i phase_P(i)`` contracts the marginal of ``o`` on those qubits with the factors."""
        out = []
        for paulis in self.paulis:
            ordered = sorted(paulis)
            out.append(
                (
                    tuple(q for q, _ in ordered),
                    np.array([PAULI_FACTORS[p] for _, p in ordered], dtype=complex),
                )
            )
        return tuple(out)

    @functools.cached_property
    def partner(self) -> np.ndarray:
        """``i ⊕ mask`` for every basis index."""
        return np.arange(2**self.n_qubits) ^ self.mask


@attrs.frozen(eq=False)
class Readout:
    """Compiled observables: mask groups, and the ``(n_terms, n_obs)`` coefficient matrix.

    ``order`` puts the groups' concatenated term columns back in term order.
    """

    n_qubits: int
    groups: tuple[ReadoutGroup, ...]
    coeffs: np.ndarray
    order: np.ndarray


@functools.lru_cache(maxsize=256)
def compile_readout(observables: tuple[Observable, ...], n_qubits: int) -> Readout:
    """Compile ``observables`` on ``n_qubits`` into a `Readout` (cached)."""
    terms: dict[Paulis, int] = {}
    for obs in observables:
        for term in obs.terms:
            terms.setdefault(term.paulis, len(terms))
    coeffs = np.zeros((len(terms), len(observables)))
    for j, obs in enumerate(observables):
        for term in obs.terms:
            coeffs[terms[term.paulis], j] += term.coeff
    by_mask: dict[int, list[int]] = {}
    for paulis, t in terms.items():
        by_mask.setdefault(_mask(paulis, n_qubits), []).append(t)
    paulis_of = list(terms)
    groups = [
        ReadoutGroup(n_qubits, mask, np.array(members), tuple(paulis_of[t] for t in members))
        for mask, members in by_mask.items()
    ]
    order = np.argsort(np.concatenate([g.terms for g in groups])) if groups else np.zeros(0, np.int64)
    return Readout(n_qubits, tuple(groups), coeffs, order)


def measurement_settings(terms: Sequence[Paulis]) -> list[tuple[dict[int, str], list[int]]]:
    """Greedy qubit-wise-commuting grouping: each group of terms (by index) is measured in one setting."""
    groups: list[tuple[dict[int, str], list[int]]] = []
    for t, paulis in enumerate(terms):
        for setting, members in groups:
            if all(setting.get(q, p) == p for q, p in paulis):
                setting.update(paulis)
                members.append(t)
                break
        else:
            groups.append((dict(paulis), [t]))
    return groups


def basis_rotations(setting: dict[int, str]) -> list[tuple[int, np.ndarray]]:
    """``(qubit, 2×2)`` rotations (H for X, H·S† for Y) after which measuring Z reads ``setting``."""
    h = GATES["h"].matrix()
    rotation = {"X": h, "Y": h @ GATES["sdg"].matrix()}
    return [(q, rotation[p]) for q, p in sorted(setting.items()) if p in rotation]


def _mask(paulis: Paulis, n_qubits: int) -> int:
    return sum(1 << (n_qubits - 1 - q) for q, p in paulis if p in "XY")


def _phase_vector(paulis: Paulis, n_qubits: int) -> np.ndarray:
    """``phase_P(i)`` for every basis index i."""
    idx = np.arange(2**n_qubits)
    phase = np.ones(2**n_qubits, dtype=complex)
    for q, p in paulis:
        bit = (idx >> (n_qubits - 1 - q)) & 1
        phase *= np.where(bit == 0, *PAULI_FACTORS[p])
    return phase
