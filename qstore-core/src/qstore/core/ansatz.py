"""The circuits behind the framework layers, built once here so torch and Keras layers agree.

`layer_circuit` builds encoding + ``depth`` variational layers (RY(θ), RZ(θ) on every qubit, then
CNOT entanglers) + per-qubit readouts. `LayerCircuit.from_circuit` wraps a researcher's own
circuit with named input and weight symbols. Symbol names: inputs ``x_<feature>``, weights
``theta_<layer>_<qubit>_<0|1>``; amplitude encoding binds one vector input ``x``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import attrs
import numpy as np

from qstore.core.circuit import Circuit, StatePreparation
from qstore.core.errors import BindingError, CircuitError
from qstore.core.observables import Observable, ObservableLike, as_observables, readouts
from qstore.core.specs import CircuitSpecs

__all__ = ["ENCODINGS", "ENTANGLEMENTS", "LayerCircuit", "entangling_pairs", "layer_circuit"]

ENCODINGS = ("angle", "amplitude", "reuploading")
ENTANGLEMENTS = ("linear", "circular", "full")
Encoding = Literal["angle", "amplitude", "reuploading"]
Entanglement = Literal["linear", "circular", "full"]


def entangling_pairs(n_qubits: int, entanglement: str) -> list[tuple[int, int]]:
    """CNOT (control, target) pairs of one entangling block."""
    if entanglement not in ENTANGLEMENTS:
        raise CircuitError(f"entanglement must be one of {ENTANGLEMENTS}, got {entanglement!r}")
    if entanglement == "full":
        return [(i, j) for i in range(n_qubits) for j in range(i + 1, n_qubits)]
    pairs = [(i, i + 1) for i in range(n_qubits - 1)]
    if entanglement == "circular" and n_qubits > 2:
        pairs.append((n_qubits - 1, 0))
    return pairs


@attrs.frozen
class LayerCircuit:
    """A circuit plus which symbols are inputs and which are trainable weights.

    ``inputs`` are scalar input symbols in feature order, or the one state-preparation input for
    amplitude encoding; ``weights`` are in the order of a flat weight vector of ``weight_shape``.
    """

    circuit: Circuit
    inputs: tuple[str, ...]
    weights: tuple[str, ...]
    weight_shape: tuple[int, ...]
    observables: tuple[Observable, ...]
    encoding: str = "custom"
    n_features: int = 0
    pad: bool = False

    @classmethod
    def from_circuit(
        cls,
        circuit: Circuit,
        inputs: Sequence[str],
        observables: ObservableLike | Sequence[ObservableLike],
        weights: Sequence[str] | None = None,
    ) -> LayerCircuit:
        """Wrap a user-built circuit; weights default to every symbol that is not an input."""
        inputs = tuple(inputs)
        known = set(circuit.symbols) | set(circuit.vector_inputs)
        unknown = sorted(set(inputs) - known)
        if unknown:
            raise CircuitError(
                f"input symbol(s) {unknown} do not appear in the circuit; it uses {sorted(known)}"
            )
        if weights is None:
            weights = tuple(s for s in circuit.symbols if s not in inputs)
        weights = tuple(weights)
        stray = sorted(set(weights) - set(circuit.symbols))
        if stray:
            raise CircuitError(
                f"weight symbol(s) {stray} do not appear in the circuit; it uses {sorted(known)}"
            )
        both = sorted(set(weights) & set(inputs))
        if both:
            raise CircuitError(f"symbol(s) {both} cannot be both inputs and weights")
        missing = sorted(set(circuit.symbols) - set(inputs) - set(weights))
        if missing:
            raise CircuitError(f"symbol(s) {missing} are neither inputs nor weights")
        amplitude = len(circuit.vector_inputs) == 1 and inputs == circuit.vector_inputs
        prep = [op for op in circuit.operations if isinstance(op, StatePreparation)]
        n_features = 2 ** len(prep[0].qubits) if amplitude else len(inputs)
        return cls(
            circuit,
            inputs,
            weights,
            (len(weights),),
            as_observables(observables),
            "amplitude" if amplitude else "custom",
            n_features,
        )

    @property
    def n_weights(self) -> int:
        """Number of trainable angles."""
        return len(self.weights)

    def draw(self, width: int | None = None) -> str:
        """The circuit as text, wrapped to ``width`` (default: the terminal), readouts at the right."""
        return self.circuit.draw(width, self.observables)

    def specs(self) -> CircuitSpecs:
        """Resource report of the circuit; the input symbols count as inputs."""
        return self.circuit.specs(self.inputs)

    def input_bindings(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Bindings for a ``(B, n_features)`` array of inputs (NumPy; adapters mirror this)."""
        x = np.asarray(features, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise BindingError(f"inputs must have shape (batch, {self.n_features}), got {x.shape}")
        if self.encoding == "amplitude":
            prep = next(
                op
                for op in self.circuit.operations
                if isinstance(op, StatePreparation) and op.input == self.inputs[0]
            )
            return {self.inputs[0]: amplitude_rows(x, len(prep.qubits))}
        return {name: x[:, i] for i, name in enumerate(self.inputs)}


def amplitude_rows(x: np.ndarray, n_qubits: int) -> np.ndarray:
    """Zero-pad rows to ``2**n_qubits`` and normalise them; an all-zero row is an error."""
    dim = 2**n_qubits
    if x.shape[1] > dim:
        raise BindingError(
            f"amplitude encoding on {n_qubits} qubits takes at most {dim} features, got {x.shape[1]}"
        )
    padded = np.zeros((x.shape[0], dim))
    padded[:, : x.shape[1]] = x
    norms = np.linalg.norm(padded, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise BindingError(
            f"amplitude encoding cannot normalise an all-zero input (row {int(np.argmin(norms))})"
        )
    return padded / norms


def layer_circuit(
    n_qubits: int,
    depth: int = 2,
    entanglement: str = "linear",
    encoding: str = "angle",
    bases: str | Sequence[str] = "Z",
    n_features: int | None = None,
    pad: bool = False,
) -> LayerCircuit:
    """Encoding, ``depth`` layers of RY/RZ rotations and CNOT entanglers, per-qubit readouts.

    ``angle``/``reuploading`` take ``n_qubits`` features (RY(x_i) on qubit i; re-uploading repeats
    the encoding before every layer). ``amplitude`` takes ``2**n_qubits`` features, normalised per
    row. With ``pad=True`` fewer features are allowed: angle encodings leave the extra qubits
    unencoded and amplitude encoding zero-pads before normalising.
    """
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, int) or n_qubits < 1:
        raise CircuitError(f"n_qubits must be a positive integer, got {n_qubits!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise CircuitError(f"depth must be a non-negative integer, got {depth!r}")
    if encoding not in ENCODINGS:
        raise CircuitError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    capacity = 2**n_qubits if encoding == "amplitude" else n_qubits
    n_features = capacity if n_features is None else n_features
    if n_features < 1 or n_features > capacity or (n_features != capacity and not pad):
        hint = " (or pass pad=True to use fewer)" if 0 < n_features < capacity else ""
        raise CircuitError(
            f"{encoding} encoding on {n_qubits} qubits takes {capacity} features, got {n_features}{hint}"
        )
    pairs = entangling_pairs(n_qubits, entanglement)
    circuit = Circuit(n_qubits)
    inputs = ("x",) if encoding == "amplitude" else tuple(f"x_{i}" for i in range(n_features))

    def encode(c: Circuit) -> Circuit:
        for i in range(n_features):
            c = c.ry(inputs[i], i)
        return c

    circuit = circuit.prepare_state("x") if encoding == "amplitude" else encode(circuit)
    weights: list[str] = []
    for layer in range(depth):
        if encoding == "reuploading" and layer > 0:
            circuit = encode(circuit)
        for q in range(n_qubits):
            ry, rz = f"theta_{layer}_{q}_0", f"theta_{layer}_{q}_1"
            circuit = circuit.ry(ry, q).rz(rz, q)
            weights += [ry, rz]
        for control, target in pairs:
            circuit = circuit.cnot(control, target)
    return LayerCircuit(
        circuit,
        inputs,
        tuple(weights),
        (depth, n_qubits, 2),
        readouts(n_qubits, bases),
        encoding,
        n_features,
        pad,
    )
