"""The framework-neutral half of the quantum-first layers (`qstore.torch` / `qstore.tf` add glue).

A quantum-first model is ``EncodingLayer -> QuantumFeatureExtractor -> QuantumNonlinearity ->
QuantumPooling -> QuantumReadout`` (optionally ``-> DecodingLayer``). Every quantum layer is a
`LayerCircuit` built here, so the torch and Keras layers run the same IR and give the same numbers:

* `nonlinearity_circuit`: ``RY(x_q)`` then a damping channel of strength ``γ_q`` on every qubit,
  read in ``bases``; the layers bind ``γ_q = sigmoid(w_q)`` so the strength is trainable and stays
  in ``[0, 1]``. Amplitude damping read in Z gives ``γ + (1-γ)·cos x``; phase damping read in X
  gives ``√(1-γ)·sin x``. The qubits never interact, so the layers run the one-qubit circuit on
  ``B·n`` rows (`nonlinearity_rows` / `nonlinearity_columns`): ``2×2`` density matrices, not ``4**n``.
* `pooling_circuit`: the ansatz of `layer_circuit`, then ``n_qubits -> keep`` by ``"trace"``
  (read only the kept qubits: the partial trace over the rest), ``"measure"`` (each discarded
  qubit is measured and flips its kept partner on 1 — by deferred measurement, a CNOT — before the
  trace) or ``"damping"`` (each discarded qubit first relaxes towards ``|0>`` by amplitude damping
  of ``strength`` γ, then flips its partner as in ``"measure"``, then is traced: γ = 0 is
  ``"measure"``, γ = 1 is ``"trace"``, and between them the partner receives the discarded qubit's
  excitation with probability ``1-γ``). Output width: ``keep``. ``"damping"`` is a noisy circuit:
  it needs a backend with density matrices (``numpy``, ``torch``, ``tf``).
* `readout_circuit`: the ansatz on ``n_qubits >= ⌈log2 classes⌉`` qubits, read as Z-strings on the
  first ``m = ⌈log2 classes⌉`` qubits; `readout_matrix` turns those into computational-basis
  probabilities ``p_b = (1 + Σ_S (-1)^{|S∩b|} <Z_S>) / 2**m``, of which the first ``classes`` are
  renormalised to sum to 1 (`class_probabilities` is the NumPy reference).
* `check_resize` / `check_normalize`: the arguments of the classical ``EncodingLayer``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from qstore.core.ansatz import LayerCircuit, layer_circuit
from qstore.core.circuit import Circuit
from qstore.core.errors import BindingError, CircuitError
from qstore.core.observables import as_observables, readouts

__all__ = [
    "DEFAULT_POOLING_DAMPING",
    "NONLINEAR_CHANNELS",
    "NORMALIZATIONS",
    "POOLING_METHODS",
    "check_normalize",
    "check_positive",
    "check_resize",
    "class_probabilities",
    "nonlinearity_circuit",
    "nonlinearity_columns",
    "nonlinearity_rows",
    "pooled_qubits",
    "pooling_circuit",
    "readout_circuit",
    "readout_matrix",
    "readout_qubits",
]

NONLINEAR_CHANNELS = {"amplitude_damping": "Z", "phase_damping": "X"}
"""Channels a `nonlinearity_circuit` may use, with the basis each is read in by default."""
POOLING_METHODS = ("trace", "measure", "damping")
DEFAULT_POOLING_DAMPING = 0.5
"""Amplitude-damping strength of ``"damping"`` pooling when none is given."""
NORMALIZATIONS = ("l2", "none")
_EPS = 1e-12


def check_positive(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an integer ``>= minimum``; anything else is a `CircuitError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CircuitError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def nonlinearity_circuit(
    n_qubits: int, channel: str = "amplitude_damping", bases: str | Sequence[str] | None = None
) -> LayerCircuit:
    """``RY(x_q)``, then ``channel`` with strength input ``gamma_q``, on each of ``n_qubits`` qubits.

    Inputs are ``x_0 … x_{n-1}, gamma_0 … gamma_{n-1}`` (the layers append the strengths to the
    features); there are no angle weights. Output width ``n_qubits · len(bases)``.
    """
    n = check_positive("n_qubits", n_qubits)
    if channel not in NONLINEAR_CHANNELS:
        raise CircuitError(f"channel must be one of {sorted(NONLINEAR_CHANNELS)}, got {channel!r}")
    circuit = Circuit(n)
    for q in range(n):
        circuit = circuit.ry(f"x_{q}", q).channel(channel, q, strength=f"gamma_{q}")
    inputs = tuple(f"x_{q}" for q in range(n)) + tuple(f"gamma_{q}" for q in range(n))
    observables = readouts(n, NONLINEAR_CHANNELS[channel] if bases is None else bases)
    return LayerCircuit.from_circuit(circuit, inputs, observables, weights=())


def nonlinearity_rows(x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Reference: ``(B, n)`` features and ``(n,)`` strengths as ``(B·n, 2)`` rows ``[x, γ]`` of the
    one-qubit `nonlinearity_circuit` (row ``b·n + q`` is feature ``q`` of sample ``b``)."""
    b, n = x.shape
    return np.stack([x.reshape(-1), np.tile(gamma, b)], axis=1).reshape(b * n, 2)


def nonlinearity_columns(out: np.ndarray, n: int) -> np.ndarray:
    """Reference: ``(B·n, n_bases)`` one-qubit readouts back to basis-major ``(B, n_bases·n)``."""
    rows, n_bases = out.shape
    return out.reshape(rows // n, n, n_bases).transpose(0, 2, 1).reshape(rows // n, n_bases * n)


def pooled_qubits(n_qubits: int, keep: int) -> tuple[tuple[int, ...], dict[int, int]]:
    """The ``keep`` qubits kept (evenly spaced from 0) and, for each discarded qubit, its kept partner
    (the nearest kept qubit below it)."""
    n = check_positive("n_qubits", n_qubits)
    k = check_positive("keep", keep)
    if k > n:
        raise CircuitError(f"keep must be at most n_qubits={n}, got {k}")
    kept = tuple(sorted({(i * n) // k for i in range(k)}))
    partner = {q: max(p for p in kept if p <= q) for q in range(n) if q not in kept}
    return kept, partner


def pooling_circuit(
    n_qubits: int,
    keep: int,
    method: str = "trace",
    depth: int = 1,
    entanglement: str = "linear",
    strength: float | None = None,
) -> LayerCircuit:
    """Angle-encode ``n_qubits`` features, run ``depth`` ansatz layers, reduce to ``keep`` Z readouts.

    ``strength`` is the damping of ``method="damping"`` (default `DEFAULT_POOLING_DAMPING`); the
    other methods take none.
    """
    if method not in POOLING_METHODS:
        raise CircuitError(f"method must be one of {list(POOLING_METHODS)}, got {method!r}")
    if strength is not None and method != "damping":
        raise CircuitError(f"strength is the damping of method='damping'; method {method!r} takes none")
    gamma = DEFAULT_POOLING_DAMPING if strength is None else strength
    if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not 0 <= gamma <= 1:
        raise CircuitError(f"strength must be a number in [0, 1], got {strength!r}")
    base = layer_circuit(n_qubits, depth, entanglement, "angle", "Z")
    kept, partner = pooled_qubits(n_qubits, keep)
    circuit = base.circuit
    if method != "trace":
        for discarded, target in partner.items():
            if method == "damping":
                circuit = circuit.amplitude_damping(float(gamma), discarded)
            circuit = circuit.cnot(discarded, target)
    observables = as_observables([f"Z{q}" for q in kept])
    return LayerCircuit(
        circuit, base.inputs, base.weights, base.weight_shape, observables, "angle", base.n_features
    )


def readout_qubits(n_classes: int) -> int:
    """``m = ⌈log2 n_classes⌉`` (at least 1): the qubits whose basis states name the classes."""
    return max(1, math.ceil(math.log2(check_positive("n_classes", n_classes, minimum=2))))


def _subsets(m: int) -> list[tuple[int, ...]]:
    return [s for r in range(1, m + 1) for s in itertools.combinations(range(m), r)]


def readout_circuit(
    n_classes: int, n_qubits: int | None = None, depth: int = 2, entanglement: str = "linear"
) -> LayerCircuit:
    """The ansatz on ``n_qubits`` (default ``⌈log2 classes⌉``) read as every Z-string on the readout qubits."""
    m = readout_qubits(n_classes)
    n = m if n_qubits is None else check_positive("n_qubits", n_qubits)
    if n < m:
        raise CircuitError(f"{n_classes} classes need at least {m} qubits, got n_qubits={n}")
    base = layer_circuit(n, depth, entanglement, "angle", "Z")
    observables = as_observables([" ".join(f"Z{q}" for q in s) for s in _subsets(m)])
    return LayerCircuit(
        base.circuit, base.inputs, base.weights, base.weight_shape, observables, "angle", base.n_features
    )


def readout_matrix(n_classes: int) -> np.ndarray:
    """``W`` ``(2**m - 1, n_classes)`` with basis probabilities ``p = (1 + E @ W) / 2**m``."""
    m = readout_qubits(n_classes)
    w = np.zeros((2**m - 1, n_classes))
    for row, subset in enumerate(_subsets(m)):
        for b in range(n_classes):
            ones = sum((b >> (m - 1 - q)) & 1 for q in subset)
            w[row, b] = (-1) ** ones
    return w


def class_probabilities(expectations: np.ndarray, n_classes: int) -> np.ndarray:
    """Reference: ``(B, n_classes)`` class probabilities (clipped at 0, rows summing to 1)."""
    m = readout_qubits(n_classes)
    p = np.clip((1 + expectations @ readout_matrix(n_classes)) / 2**m, 0, None)
    return p / np.maximum(p.sum(axis=1, keepdims=True), _EPS)


def check_normalize(normalize: object) -> str:
    """``"l2"`` (unit-norm rows) or ``"none"``."""
    if normalize not in NORMALIZATIONS:
        raise CircuitError(f"normalize must be one of {list(NORMALIZATIONS)}, got {normalize!r}")
    return str(normalize)


def check_resize(n_in: int, width: int, pad: bool, truncate: bool, layer: str = "EncodingLayer") -> str:
    """How ``n_in`` input features become ``width``: ``"same"``, ``"pad"`` or ``"truncate"``,
    only when asked for (nothing is silently padded or dropped)."""
    check_positive("width", width)
    if n_in == width:
        return "same"
    if n_in < width and pad:
        return "pad"
    if n_in > width and truncate:
        return "truncate"
    fix = "pad=True to zero-pad" if n_in < width else "truncate=True to drop the extra columns"
    raise BindingError(f"{layer} maps features to width {width}, got {n_in} features; pass {fix}")
