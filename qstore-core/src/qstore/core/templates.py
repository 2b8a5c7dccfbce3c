"""The circuit library: common trainable blocks and embeddings by name, as IR circuits.

Every trainable template returns a `Template`: the circuit, its weight symbols in the flat (C)
order of a weight array of ``weight_shape``, and that shape. Symbols are ``<prefix>_<index>…``, so
two templates with different prefixes compose without clashes. `Template.layer` wraps a template
(after an optional encoding circuit) as the `LayerCircuit` both framework layers take; their weight
tensor then has the template's ``weight_shape``::

    sel = strongly_entangling_layers(4, n_layers=2)          # weights (2, 4, 3)
    encoding = Circuit(4).ry("x_0", 0).ry("x_1", 1).ry("x_2", 2).ry("x_3", 3)
    spec = sel.layer(readouts(4), encoding=encoding, inputs=["x_0", "x_1", "x_2", "x_3"])
    layer = qstore.torch.QuantumLayer(circuit=spec)

Definitions follow PennyLane's templates of the same names gate for gate (``RandomLayers`` draws
the same architecture for the same seed); `hardware_efficient` is Qiskit's ``efficient_su2``
layout. `iqp_embedding` encodes inputs, not weights, and returns a kernel `FeatureMap`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from qstore.core.ansatz import LayerCircuit, entangling_pairs
from qstore.core.circuit import Circuit
from qstore.core.errors import BindingError, CircuitError
from qstore.core.gates import gate_spec
from qstore.core.kernels.feature_maps import FeatureMap, input_symbol
from qstore.core.observables import ObservableLike

__all__ = [
    "FeatureProduct",
    "Template",
    "basic_entangler_layers",
    "hardware_efficient",
    "iqp_embedding",
    "qaoa_maxcut_layers",
    "random_layers",
    "strongly_entangling_layers",
]

_ROTATIONS = ("rx", "ry", "rz")


@attrs.frozen
class Template:
    """A trainable circuit block: circuit, weight symbols in flat order, and the weight shape."""

    name: str
    circuit: Circuit
    weights: tuple[str, ...]
    weight_shape: tuple[int, ...]

    def bindings(self, values: Any) -> dict[str, np.ndarray]:
        """``{symbol: value}`` for a weight array of ``weight_shape`` or ``(B, *weight_shape)``."""
        arr = np.asarray(values, dtype=float)
        batch = arr.shape[: max(arr.ndim - len(self.weight_shape), 0)]
        if len(batch) > 1 or arr.shape[len(batch) :] != self.weight_shape:
            raise BindingError(
                f"weights of template {self.name!r} must have shape {self.weight_shape} "
                f"or (batch, *{self.weight_shape}), got {arr.shape}"
            )
        flat = arr.reshape(*batch, -1)
        return {name: flat[..., i] for i, name in enumerate(self.weights)}

    def layer(
        self,
        observables: ObservableLike | Sequence[ObservableLike],
        encoding: Circuit | None = None,
        inputs: Sequence[str] = (),
    ) -> LayerCircuit:
        """The `LayerCircuit` running ``encoding`` then this template, read out by ``observables``.

        ``inputs`` names the encoding's input symbols in feature order; the layers' weight tensor
        has this template's ``weight_shape``.
        """
        circuit = self.circuit
        if encoding is not None:
            if encoding.n_qubits != circuit.n_qubits:
                raise CircuitError(
                    f"encoding has {encoding.n_qubits} qubits but template {self.name!r} has "
                    f"{circuit.n_qubits}; build both on the same register"
                )
            circuit = encoding.compose(circuit)
        spec = LayerCircuit.from_circuit(circuit, inputs, observables, weights=self.weights)
        return attrs.evolve(spec, weight_shape=self.weight_shape)


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise CircuitError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _rotation(name: str, value: str) -> str:
    if not isinstance(value, str) or value.lower() not in _ROTATIONS:
        raise CircuitError(f"{name} must be one of {_ROTATIONS}, got {value!r}")
    return value.lower()


def _two_qubit_gate(value: str) -> str:
    spec = gate_spec(value)
    if spec.n_qubits != 2 or spec.n_params != 0:
        raise CircuitError(
            f"imprimitive must be a fixed two-qubit gate such as 'cnot' or 'cz', got {value!r}"
        )
    return spec.name


def strongly_entangling_layers(
    n_qubits: int,
    n_layers: int = 1,
    ranges: Sequence[int] | None = None,
    imprimitive: str = "cnot",
    prefix: str = "w",
) -> Template:
    """PennyLane's ``StronglyEntanglingLayers``; weights ``(n_layers, n_qubits, 3)``.

    Layer l: ``Rot(w[l,q,0], w[l,q,1], w[l,q,2]) = RZ(w2)·RY(w1)·RZ(w0)`` on every qubit q, then
    ``imprimitive(q, (q + r_l) mod n)`` for every q; ``r_l`` defaults to ``l mod (n−1) + 1``.
    """
    n = _positive("n_qubits", n_qubits)
    n_layers = _positive("n_layers", n_layers)
    gate = _two_qubit_gate(imprimitive)
    if ranges is None:
        ranges = [layer % (n - 1) + 1 if n > 1 else 0 for layer in range(n_layers)]
    ranges = [int(r) for r in ranges]
    if len(ranges) != n_layers or (n > 1 and any(not 0 < r < n for r in ranges)):
        raise CircuitError(
            f"ranges must hold {n_layers} integers in 1..{n - 1} (one per layer), got {ranges}"
        )
    circuit, weights = Circuit(n), []
    for layer in range(n_layers):
        for q in range(n):
            phi, theta, omega = (f"{prefix}_{layer}_{q}_{k}" for k in range(3))
            circuit = circuit.rz(phi, q).ry(theta, q).rz(omega, q)
            weights += [phi, theta, omega]
        if n > 1:
            for q in range(n):
                circuit = circuit.gate(gate, q, (q + ranges[layer]) % n)
    return Template("strongly_entangling_layers", circuit, tuple(weights), (n_layers, n, 3))


def basic_entangler_layers(
    n_qubits: int, n_layers: int = 1, rotation: str = "rx", prefix: str = "w"
) -> Template:
    """PennyLane's ``BasicEntanglerLayers``; weights ``(n_layers, n_qubits)``.

    Layer l: ``rotation(w[l,q])`` on every qubit, then a CNOT ring ``(q, q+1 mod n)`` (one CNOT for
    two qubits, none for one).
    """
    n = _positive("n_qubits", n_qubits)
    n_layers = _positive("n_layers", n_layers)
    rotation = _rotation("rotation", rotation)
    ring = [(0, 1)] if n == 2 else [(q, (q + 1) % n) for q in range(n)] if n > 2 else []
    circuit, weights = Circuit(n), []
    for layer in range(n_layers):
        for q in range(n):
            name = f"{prefix}_{layer}_{q}"
            circuit = circuit.gate(rotation, q, params=(name,))
            weights.append(name)
        for control, target in ring:
            circuit = circuit.cnot(control, target)
    return Template("basic_entangler_layers", circuit, tuple(weights), (n_layers, n))


def random_layers(
    n_qubits: int,
    n_layers: int = 1,
    n_rotations: int = 1,
    ratio_imprim: float = 0.3,
    rotations: Sequence[str] = _ROTATIONS,
    imprimitive: str = "cnot",
    seed: int = 42,
    prefix: str = "w",
) -> Template:
    """PennyLane's ``RandomLayers``; weights ``(n_layers, n_rotations)``, same architecture per seed.

    Per layer, until ``n_rotations`` rotations are placed: with probability ``1 − ratio_imprim`` a
    random rotation on a random qubit takes the next weight, else ``imprimitive`` acts on two random
    distinct qubits. Draws come from ``numpy.random.default_rng(seed)`` in PennyLane's order.
    """
    n = _positive("n_qubits", n_qubits)
    n_layers = _positive("n_layers", n_layers)
    n_rotations = _positive("n_rotations", n_rotations)
    if not 0.0 <= float(ratio_imprim) < 1.0:
        raise CircuitError(f"ratio_imprim must be in [0, 1), got {ratio_imprim!r}")
    rotations = [_rotation("rotations[]", r) for r in rotations]
    if not rotations:
        raise CircuitError(f"rotations must name at least one of {_ROTATIONS}")
    gate = _two_qubit_gate(imprimitive)
    rng = np.random.default_rng(seed)
    circuit, weights = Circuit(n), []
    for layer in range(n_layers):
        placed = 0
        while placed < n_rotations:
            if rng.random() > ratio_imprim:
                rotation = rotations[int(rng.choice(len(rotations)))]
                (q,) = rng.choice(n, size=1, replace=False)
                name = f"{prefix}_{layer}_{placed}"
                circuit = circuit.gate(rotation, q, params=(name,))
                weights.append(name)
                placed += 1
            elif n > 1:
                a, b = rng.choice(n, size=2, replace=False)
                circuit = circuit.gate(gate, a, b)
    return Template("random_layers", circuit, tuple(weights), (n_layers, n_rotations))


def qaoa_maxcut_layers(
    n_qubits: int,
    edges: Sequence[tuple[int, int]],
    n_layers: int = 1,
    initial_plus: bool = True,
    prefix: str = "w",
) -> Template:
    """QAOA for MaxCut on ``edges``; weights ``(n_layers, 2)``: ``[l, 0]`` = γ_l, ``[l, 1]`` = β_l.

    Optionally H on every qubit (the uniform superposition), then per layer the cost unitary
    ``exp(−iγ H_C)`` with PennyLane's ``H_C = Σ_edges ½(Z_i Z_j − 1)`` — one ``RZZ(γ)`` per edge,
    up to a global phase — and the mixer ``exp(−iβ Σ X_q)``, ``RX(2β)`` on every qubit.
    """
    n = _positive("n_qubits", n_qubits)
    n_layers = _positive("n_layers", n_layers)
    pairs = [(int(a), int(b)) for a, b in edges]
    if not pairs:
        raise CircuitError("edges must list at least one (i, j) pair for the MaxCut cost")
    for a, b in pairs:
        if a == b or not (0 <= a < n and 0 <= b < n):
            raise CircuitError(f"edge {(a, b)} is not two distinct qubits of 0..{n - 1}")
    circuit, weights = Circuit(n), []
    if initial_plus:
        for q in range(n):
            circuit = circuit.h(q)
    for layer in range(n_layers):
        gamma, beta = f"{prefix}_{layer}_0", f"{prefix}_{layer}_1"
        for a, b in pairs:
            circuit = circuit.rzz(gamma, a, b)
        for q in range(n):
            circuit = circuit.rx(f"2*{beta}", q)
        weights += [gamma, beta]
    return Template("qaoa_maxcut_layers", circuit, tuple(weights), (n_layers, 2))


def hardware_efficient(
    n_qubits: int,
    reps: int = 1,
    rotations: Sequence[str] = ("ry", "rz"),
    entanglement: str = "linear",
    prefix: str = "w",
) -> Template:
    """Hardware-efficient ansatz (Qiskit's ``efficient_su2`` layout); weights ``(reps+1, n_qubits, R)``.

    ``reps`` times: the rotations in order on every qubit, then CNOTs over the ``entanglement``
    pairs of `qstore.core.ansatz.entangling_pairs`; a final rotation layer closes the circuit.
    ``w[l, q, k]`` is the angle of ``rotations[k]`` on qubit q in rotation layer l.
    """
    n = _positive("n_qubits", n_qubits)
    reps = _positive("reps", reps)
    rotations = [_rotation("rotations[]", r) for r in rotations]
    if not rotations:
        raise CircuitError(f"rotations must name at least one of {_ROTATIONS}")
    pairs = entangling_pairs(n, entanglement)
    circuit, weights = Circuit(n), []
    for layer in range(reps + 1):
        for k, rotation in enumerate(rotations):
            for q in range(n):
                circuit = circuit.gate(rotation, q, params=(f"{prefix}_{layer}_{q}_{k}",))
        weights += [f"{prefix}_{layer}_{q}_{k}" for q in range(n) for k in range(len(rotations))]
        if layer < reps:
            for control, target in pairs:
                circuit = circuit.cnot(control, target)
    return Template("hardware_efficient", circuit, tuple(weights), (reps + 1, n, len(rotations)))


@attrs.frozen
class FeatureProduct:
    """A derived input symbol ``name = x_i · x_j`` (IQP's entangling angle).

    ``kind`` sets it apart from `PairProduct` in `FeatureMap.hash`.
    """

    name: str
    i: int
    j: int
    kind: str = "product"

    def evaluate(self, data: np.ndarray) -> np.ndarray:
        """Values for every row of ``data`` ``(N, F)``."""
        return data[:, self.i] * data[:, self.j]


def iqp_embedding(
    n_features: int, n_repeats: int = 1, pattern: Sequence[tuple[int, int]] | None = None
) -> FeatureMap:
    """PennyLane's ``IQPEmbedding`` as a kernel `FeatureMap` on ``n_features`` qubits.

    Each repeat: H then ``RZ(x_q)`` on every qubit q, then ``MultiRZ(x_i·x_j) = RZZ(x_i·x_j)`` for
    every pair of ``pattern`` (default all ``i < j``). The products are derived symbols
    ``xx_<i>_<j>`` computed by ``FeatureMap.bindings``; angles in the IR stay linear.
    """
    n = _positive("n_features", n_features)
    n_repeats = _positive("n_repeats", n_repeats)
    pairs = (
        list(itertools.combinations(range(n), 2))
        if pattern is None
        else [(int(a), int(b)) for a, b in pattern]
    )
    for a, b in pairs:
        if a == b or not (0 <= a < n and 0 <= b < n):
            raise CircuitError(f"pattern pair {(a, b)} is not two distinct qubits of 0..{n - 1}")
    derived = tuple(FeatureProduct(f"xx_{a}_{b}", a, b) for a, b in dict.fromkeys(pairs))
    circuit = Circuit(n)
    for _ in range(n_repeats):
        for q in range(n):
            circuit = circuit.h(q).rz(input_symbol(q), q)
        for a, b in pairs:
            circuit = circuit.rzz(f"xx_{a}_{b}", a, b)
    options = (("n_repeats", n_repeats), ("pattern", str(pairs)))
    return FeatureMap("iqp", n, circuit, derived, options)  # type: ignore[arg-type]
