"""Feature maps: circuit builders that encode a row of features as a quantum state.

A `FeatureMap` is an IR circuit whose angles are linear in *input symbols* ``x_0 … x_{F-1}`` plus
classically derived symbols (angles must be linear, so a product such as ``(π − x_i)(π − x_j)`` is
computed here and bound as its own symbol ``zz_i_j``). ``feature_map.bindings(X)`` turns a data
matrix ``(N, F)`` into the ``{symbol: (N,)}`` bindings every backend accepts::

    fm = zz_feature_map(8, reps=2, entanglement="linear")
    states = NumpyBackend().run(fm.circuit, fm.bindings(X), outputs=("state",)).statevectors
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any, Literal

import attrs
import numpy as np

from qstore.core.circuit import Circuit
from qstore.core.errors import BindingError, CircuitError
from qstore.core.expressions import Expr

__all__ = [
    "Entanglement",
    "FeatureMap",
    "PairProduct",
    "angle_feature_map",
    "entangler_pairs",
    "reuploading_feature_map",
    "zz_feature_map",
]

Entanglement = Literal["linear", "circular", "full"]


def input_symbol(i: int) -> str:
    """Name of the symbol bound to feature ``i``."""
    return f"x_{i}"


@attrs.frozen
class PairProduct:
    """A derived symbol ``name = (π − x_i)(π − x_j)``: Qiskit's default two-feature data map."""

    name: str
    i: int
    j: int

    def evaluate(self, data: np.ndarray) -> np.ndarray:
        """Values for every row of ``data`` ``(N, F)``."""
        return (math.pi - data[:, self.i]) * (math.pi - data[:, self.j])


@attrs.frozen
class FeatureMap:
    """An encoding circuit with input symbols ``x_i`` and classically derived symbols."""

    name: str
    n_features: int
    circuit: Circuit
    derived: tuple[PairProduct, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def n_qubits(self) -> int:
        """Width of the encoding circuit."""
        return self.circuit.n_qubits

    @property
    def hash(self) -> str:
        """Stable content hash of the circuit and the classical part of the map."""
        spec = {
            "circuit": self.circuit.hash,
            "n_features": self.n_features,
            "derived": [attrs.astuple(d) for d in self.derived],
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def check_data(self, data: Any, what: str = "X") -> np.ndarray:
        """``data`` as a finite float64 matrix ``(N, n_features)``, or a clear `BindingError`."""
        try:
            arr = np.asarray(data, dtype=float)
        except (TypeError, ValueError):
            raise BindingError(f"{what} must be numeric, got {type(data).__name__}") from None
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise BindingError(
                f"{what} must have shape (n_samples, {self.n_features}) for feature map {self.name!r}, "
                f"got {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise BindingError(f"{what} has no rows")
        if not np.all(np.isfinite(arr)):
            row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
            raise BindingError(f"{what} has non-finite values (NaN or inf), first in row {row}")
        return arr

    def bindings(self, data: Any) -> dict[str, np.ndarray]:
        """``{symbol: (N,)}`` for the data matrix ``(N, n_features)``, derived symbols included."""
        arr = self.check_data(data)
        used = set(self.circuit.symbols)
        out = {input_symbol(i): arr[:, i] for i in range(self.n_features) if input_symbol(i) in used}
        for d in self.derived:
            out[d.name] = d.evaluate(arr)
        return out


def _check_features(n_features: int) -> None:
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        raise CircuitError(f"n_features must be a positive integer, got {n_features!r}")


def _check_reps(name: str, reps: int) -> None:
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise CircuitError(f"{name} must be a positive integer, got {reps!r}")


def entangler_pairs(n: int, entanglement: Entanglement | Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Qubit pairs in Qiskit's order: linear ``(i, i+1)``; circular adds ``(n-1, 0)`` first; full ``i<j``."""
    if not isinstance(entanglement, str):
        pairs = [(int(a), int(b)) for a, b in entanglement]
        for a, b in pairs:
            if a == b or not (0 <= a < n and 0 <= b < n):
                raise CircuitError(f"entanglement pair {(a, b)} is not two distinct qubits of 0..{n - 1}")
        return pairs
    linear = [(i, i + 1) for i in range(n - 1)]
    if entanglement == "linear":
        return linear
    if entanglement == "circular":
        return ([(n - 1, 0)] if n > 2 else []) + linear
    if entanglement == "full":
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    raise CircuitError(
        f"entanglement must be 'linear', 'circular', 'full' or a list of pairs, got {entanglement!r}"
    )


def zz_feature_map(
    n_features: int,
    reps: int = 2,
    entanglement: Entanglement | Sequence[tuple[int, int]] = "full",
) -> FeatureMap:
    """Qiskit's ``ZZFeatureMap`` gate for gate (IQP encoding, Havlíček et al. 2019).

    Each repetition: H on every qubit, ``P(2 x_i)`` on qubit i, then for each pair ``(i, j)``
    ``CX(i, j) · P(2 (π − x_i)(π − x_j)) on j · CX(i, j)``. Qubit i holds feature i (Qiskit draws
    qubit 0 as its least significant bit; the circuits are the same, only the index order differs).
    """
    _check_features(n_features)
    _check_reps("reps", reps)
    if n_features < 2:
        raise CircuitError(f"the ZZ feature map needs at least 2 features, got {n_features}")
    pairs = entangler_pairs(n_features, entanglement)
    derived = tuple(PairProduct(f"zz_{i}_{j}", i, j) for i, j in dict.fromkeys(pairs))
    circuit = Circuit(n_features)
    for _ in range(reps):
        for q in range(n_features):
            circuit = circuit.h(q)
        for q in range(n_features):
            circuit = circuit.phase(f"2*{input_symbol(q)}", q)
        for i, j in pairs:
            circuit = circuit.cnot(i, j).phase(f"2*zz_{i}_{j}", j).cnot(i, j)
    options = (("reps", reps), ("entanglement", str(entanglement)))
    return FeatureMap("zz", n_features, circuit, derived, options)


def angle_feature_map(
    n_features: int, rotation: Literal["rx", "ry", "rz"] = "ry", scale: float = 1.0
) -> FeatureMap:
    """One rotation per feature: qubit i gets ``R(scale · x_i)`` (RZ after an H, so it is not trivial).

    The kernel is the product of per-feature cosines, ``Π cos²(scale (x_i − y_i) / 2)``.
    """
    _check_features(n_features)
    if rotation not in ("rx", "ry", "rz"):
        raise CircuitError(f"rotation must be 'rx', 'ry' or 'rz', got {rotation!r}")
    circuit = Circuit(n_features)
    for q in range(n_features):
        if rotation == "rz":
            circuit = circuit.h(q)
        circuit = circuit.gate(rotation, q, params=(Expr.symbol(input_symbol(q)) * float(scale),))
    return FeatureMap("angle", n_features, circuit, (), (("rotation", rotation), ("scale", float(scale))))


def reuploading_feature_map(
    n_features: int,
    layers: int = 2,
    n_qubits: int | None = None,
    seed: int = 0,
) -> FeatureMap:
    """Data re-uploading: ``layers`` times, RX(x) encodings, fixed RY/RZ rotations and a CNOT chain.

    Feature ``i`` is uploaded on qubit ``i mod n_qubits`` in every layer (several features per qubit
    when ``n_qubits < n_features``). The fixed rotation angles are drawn from ``seed`` so the map is
    reproducible; a kernel needs no trainable weights.
    """
    _check_features(n_features)
    _check_reps("layers", layers)
    width = n_features if n_qubits is None else n_qubits
    _check_reps("n_qubits", width)
    rng = np.random.default_rng(seed)
    circuit = Circuit(width)
    for _ in range(layers):
        for i in range(n_features):
            circuit = circuit.rx(input_symbol(i), i % width)
        for q in range(width):
            a, b = rng.uniform(-math.pi, math.pi, size=2)
            circuit = circuit.ry(float(a), q).rz(float(b), q)
        for q in range(width - 1):
            circuit = circuit.cnot(q, q + 1)
    options = (("layers", layers), ("seed", seed))
    return FeatureMap("reuploading", n_features, circuit, (), options)
