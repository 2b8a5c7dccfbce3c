"""Quantum-first Keras layers; the circuits and rules live in `qstore.core.quantum_first`.

Same arguments and numbers as the torch layers in ``qstore.torch`` (up to float32, Keras's default
dtype). Each is registered serializable, so ``model.save("m.keras")`` / ``keras.models.load_model``
round-trip::

    model = keras.Sequential([
        keras.Input((3,)),
        EncodingLayer(4, pad=True),                  # (B, 3) -> (B, 4), unit-norm rows
        QuantumFeatureExtractor(4, depth=1),         # (B, 4) -> (B, 12)
        DecodingLayer(12, units=4),                  # (B, 12) -> (B, 4)
        QuantumNonlinearity(4),                      # (B, 4) -> (B, 4), amplitude damping
        QuantumPooling(4, keep=2),                   # (B, 4) -> (B, 2)
        QuantumReadout(3, n_qubits=2),               # (B, 2) -> (B, 3) class probabilities
    ])

Noisy layers (`QuantumNonlinearity`, ``QuantumPooling(method="damping")``) run on the TensorFlow
density-matrix engine (`qstore.tf.density`) by default, in the graph, with autodiff through the
damping strengths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from qstore.core.backend import Backend
from qstore.core.errors import BindingError
from qstore.core.quantum_first import (
    check_normalize,
    check_positive,
    check_resize,
    nonlinearity_circuit,
    pooling_circuit,
    readout_circuit,
    readout_matrix,
    readout_qubits,
)
from qstore.tf.layers import QuantumLayer, _CircuitLayer

__all__ = [
    "DecodingLayer",
    "EncodingLayer",
    "QuantumFeatureExtractor",
    "QuantumNonlinearity",
    "QuantumPooling",
    "QuantumReadout",
]

_EPS = 1e-12


def _check_matrix(input_shape: Sequence[int | None], width: int | None, layer: str) -> None:
    if len(input_shape) != 2 or (width is not None and input_shape[-1] != width):
        want = f"(batch, {width})" if width is not None else "(batch, features)"
        raise BindingError(f"{layer} expects input of shape {want}, got {tuple(input_shape)}")


@keras.saving.register_keras_serializable(package="qstore")
class QuantumFeatureExtractor(QuantumLayer):
    """`QuantumLayer` read in several bases: ``(B, n_qubits)`` -> ``(B, n_qubits · len(bases))``,
    basis-major (default ``"XYZ"``). Other arguments as `QuantumLayer`."""

    def __init__(
        self,
        n_qubits: int | None = None,
        depth: int = 2,
        entanglement: str = "linear",
        encoding: str = "angle",
        bases: str | Sequence[str] = "XYZ",
        **kwargs: Any,
    ) -> None:
        super().__init__(n_qubits, depth, entanglement, encoding, bases, **kwargs)


@keras.saving.register_keras_serializable(package="qstore")
class QuantumNonlinearity(_CircuitLayer):
    """Damping as an activation: ``(B, n_qubits)`` -> ``(B, n_qubits · len(bases))``.

    ``RY(x_q)`` then ``channel`` (``"amplitude_damping"`` read in Z: ``γ + (1-γ)·cos x``, or
    ``"phase_damping"`` read in X: ``√(1-γ)·sin x``) with trainable ``γ_q = sigmoid(raw_strength_q)``
    starting at ``strength``, as one one-qubit circuit on ``B·n_qubits`` rows (TF density engine by
    default: in graph, autodiff through ``γ``).
    """

    def __init__(
        self,
        n_qubits: int,
        channel: str = "amplitude_damping",
        bases: str | Sequence[str] | None = None,
        *,
        strength: float = 0.1,
        backend: str | Backend = "tf",
        backend_options: Mapping[str, Any] | None = None,
        shots: int | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        lc = nonlinearity_circuit(1, channel, bases)
        super().__init__(lc, backend, backend_options, shots, diff_method, seed, **kwargs)
        check_positive("n_qubits", n_qubits)
        if not 0 < strength < 1:
            raise BindingError(f"strength must be strictly between 0 and 1, got {strength!r}")
        self.n_qubits, self.channel, self.strength = n_qubits, channel, strength
        self.bases = None if bases is None else "".join(bases)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Check ``(batch, n_qubits)`` inputs; create ``raw_strength`` (and the empty ``theta``)."""
        _check_matrix(input_shape, self.n_qubits, type(self).__name__)
        super().build((None, 2))
        self.theta.trainable = False  # empty: the circuit has no angle weights, so no gradient either
        logit = math.log(self.strength / (1 - self.strength))
        self.raw_strength = self.add_weight(
            name="raw_strength", shape=(self.n_qubits,), initializer=keras.initializers.Constant(logit)
        )

    @property
    def n_outputs(self) -> int:
        """``n_qubits · len(bases)``."""
        return self.n_qubits * self.spec.n_outputs

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """One-qubit damping circuits on ``B·n_qubits`` rows ``[x, sigmoid(raw_strength)]``, basis-major out."""
        _check_matrix(tuple(inputs.shape), self.n_qubits, type(self).__name__)
        b = tf.shape(inputs)[0]
        gamma = tf.tile(tf.sigmoid(tf.cast(self.raw_strength, inputs.dtype)), [b])
        out = super().call(tf.stack([tf.reshape(inputs, [-1]), gamma], axis=1))
        out = tf.transpose(tf.reshape(out, [b, self.n_qubits, self.spec.n_outputs]), [0, 2, 1])
        return tf.reshape(out, [b, self.n_outputs])

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (``strength`` is the starting value; trained values are weights)."""
        return {
            **super().get_config(),
            **self._base_config(),
            "n_qubits": self.n_qubits,
            "channel": self.channel,
            "bases": self.bases,
            "strength": self.strength,
        }


@keras.saving.register_keras_serializable(package="qstore")
class QuantumPooling(_CircuitLayer):
    """``(B, n_qubits)`` -> ``(B, keep)``: ansatz, then reduction to ``keep`` evenly spaced qubits by
    ``"trace"`` (partial trace), ``"measure"`` (deferred measurement into kept partners) or
    ``"damping"`` (amplitude damping of ``strength``, default 0.5, before that measurement)."""

    def __init__(
        self,
        n_qubits: int,
        keep: int,
        method: str = "trace",
        depth: int = 1,
        entanglement: str = "linear",
        *,
        strength: float | None = None,
        backend: str | Backend = "tf",
        backend_options: Mapping[str, Any] | None = None,
        shots: int | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        lc = pooling_circuit(n_qubits, keep, method, depth, entanglement, strength)
        super().__init__(lc, backend, backend_options, shots, diff_method, seed, **kwargs)
        self.n_qubits, self.keep, self.method, self.strength = n_qubits, keep, method, strength
        self.depth, self.entanglement = depth, entanglement

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {
            **super().get_config(),
            **self._base_config(),
            "n_qubits": self.n_qubits,
            "keep": self.keep,
            "method": self.method,
            "strength": self.strength,
            "depth": self.depth,
            "entanglement": self.entanglement,
        }


@keras.saving.register_keras_serializable(package="qstore")
class QuantumReadout(_CircuitLayer):
    """``(B, n_qubits)`` -> ``(B, n_classes)`` class probabilities (rows sum to 1): basis-state
    probabilities of the first ``⌈log2 n_classes⌉`` qubits, the first ``n_classes`` renormalised."""

    def __init__(
        self,
        n_classes: int,
        n_qubits: int | None = None,
        depth: int = 2,
        entanglement: str = "linear",
        *,
        backend: str | Backend = "tf",
        backend_options: Mapping[str, Any] | None = None,
        shots: int | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        lc = readout_circuit(n_classes, n_qubits, depth, entanglement)
        super().__init__(lc, backend, backend_options, shots, diff_method, seed, **kwargs)
        self.n_classes, self.n_qubits, self.depth, self.entanglement = (
            n_classes,
            n_qubits,
            depth,
            entanglement,
        )
        self._readout = tf.constant(readout_matrix(n_classes), dtype=tf.float32)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Z-string expectations turned into renormalised class probabilities."""
        e = tf.cast(super().call(inputs), tf.float32)
        p = tf.nn.relu((1 + e @ self._readout) / 2 ** readout_qubits(self.n_classes))
        return p / tf.maximum(tf.reduce_sum(p, axis=1, keepdims=True), _EPS)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, int]:
        """``(batch, n_classes)``."""
        return (input_shape[0], self.n_classes)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {
            **super().get_config(),
            **self._base_config(),
            "n_classes": self.n_classes,
            "n_qubits": self.n_qubits,
            "depth": self.depth,
            "entanglement": self.entanglement,
        }


@keras.saving.register_keras_serializable(package="qstore")
class EncodingLayer(keras.layers.Layer):
    """Classical-minimal encoding ``(B, F)`` -> ``(B, width)``: zero-pad (``pad=True``) or drop
    trailing columns (``truncate=True``) only when asked, then normalise rows (``"l2"``: unit norm,
    all-zero rows stay zero; ``"none"``). No weights."""

    def __init__(
        self, width: int, normalize: str = "l2", pad: bool = False, truncate: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.width, self.normalize = check_positive("width", width), check_normalize(normalize)
        self.pad, self.truncate = pad, truncate

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Check that the feature count can become ``width`` as asked."""
        _check_matrix(input_shape, None, "EncodingLayer")
        self._mode = check_resize(int(input_shape[-1]), self.width, self.pad, self.truncate)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Resize then normalise."""
        x = inputs
        if self._mode == "pad":
            x = tf.pad(x, [[0, 0], [0, self.width - x.shape[-1]]])
        elif self._mode == "truncate":
            x = x[:, : self.width]
        if self.normalize == "l2":
            norms = tf.norm(x, axis=1, keepdims=True)
            x = x / tf.where(norms > 0, norms, tf.ones_like(norms))
        return x

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, int]:
        """``(batch, width)``."""
        return (input_shape[0], self.width)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {
            **super().get_config(),
            "width": self.width,
            "normalize": self.normalize,
            "pad": self.pad,
            "truncate": self.truncate,
        }


@keras.saving.register_keras_serializable(package="qstore")
class DecodingLayer(keras.layers.Layer):
    """Classical-minimal decoding ``(B, n_features)`` -> ``(B, units or n_features)``: a trainable
    per-feature ``scale`` (starting at 1), then with ``units`` a bias-free ``kernel`` of shape
    ``(n_features, units)`` (the transpose of the torch layer's ``projection.weight``)."""

    def __init__(self, n_features: int, units: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_features = check_positive("n_features", n_features)
        self.units = None if units is None else check_positive("units", units)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Check the width; create ``scale`` and, with ``units``, ``kernel``."""
        _check_matrix(input_shape, self.n_features, "DecodingLayer")
        self.scale = self.add_weight(name="scale", shape=(self.n_features,), initializer="ones")
        if self.units is not None:
            self.kernel = self.add_weight(name="kernel", shape=(self.n_features, self.units))

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Rescale, then project if ``units`` was given."""
        y = inputs * tf.cast(self.scale, inputs.dtype)
        return y if self.units is None else y @ tf.cast(self.kernel, inputs.dtype)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, int]:
        """``(batch, units or n_features)``."""
        return (input_shape[0], self.units or self.n_features)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {**super().get_config(), "n_features": self.n_features, "units": self.units}
