"""Keras 3 layers: `QuantumLayer`, `ExpectationValue` and `AmplitudeEncoding`.

`QuantumLayer` takes the same arguments as ``qstore.torch.QuantumLayer`` and builds the same IR
with `qstore.core.ansatz.layer_circuit`, so one model definition means the same thing in both
frameworks. Its trainable weights are one variable ``theta`` of ``weight_shape`` =
``(depth, n_qubits, 2)``, whose flat order is ``LayerCircuit.weights``: copy weights between
frameworks with a reshape. Every layer is registered serializable (package ``qstore``), so
``model.save("m.keras")`` and ``keras.models.load_model`` round-trip.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from qstore.core.ansatz import LayerCircuit, layer_circuit
from qstore.core.backend import Backend
from qstore.core.circuit import Circuit
from qstore.core.errors import BindingError, CapabilityError
from qstore.core.observables import ObservableLike
from qstore.core.secrets import without_credentials
from qstore.tf.backend import TFBackend
from qstore.tf.execution import amplitude_rows, choose_method, make_runner

__all__ = ["AmplitudeEncoding", "ExpectationValue", "QuantumLayer"]

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"qstore.tf layers run on Keras's TensorFlow backend, but KERAS_BACKEND is {keras.backend.backend()!r}; "
        "set KERAS_BACKEND=tensorflow (or use qstore.torch with the torch backend)"
    )


def _backend(spec: str | Backend, options: Mapping[str, Any] | None) -> Backend:
    if isinstance(spec, Backend):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"backend must be a registered name or a qstore Backend, got {type(spec).__name__}")
    if spec == "tf":
        return TFBackend(**dict(options or {}))
    from qstore.core.plugins import get_backend

    return get_backend(spec, **dict(options or {}))


class _CircuitLayer(keras.layers.Layer):
    """Shared machinery: weights, input checks, and the forward pass on the chosen backend."""

    def __init__(
        self,
        circuit: LayerCircuit,
        backend: str | Backend = "tf",
        backend_options: Mapping[str, Any] | None = None,
        shots: int | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.layer_circuit = circuit
        self.backend = _backend(backend, backend_options)
        self.backend_options = without_credentials(backend_options)  # configs never hold a key
        self._check_capabilities(shots)
        self.shots = shots
        self.diff_method = diff_method
        self.seed = seed
        self.method = choose_method(self.backend, shots, diff_method)
        self._runner = make_runner(circuit, self.backend, shots, self.method, seed)

    def _check_capabilities(self, shots: int | None) -> None:
        lc = self.layer_circuit
        caps = self.backend.capabilities
        if lc.circuit.n_qubits > caps.max_qubits:
            raise CapabilityError(
                f"backend {caps.name!r} runs at most {caps.max_qubits} qubits; the layer has {lc.circuit.n_qubits}"
            )
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
            raise CapabilityError(f"shots must be None (exact) or a positive integer, got {shots!r}")
        if shots is not None and not caps.shots:
            raise CapabilityError(f"backend {caps.name!r} does not sample; use shots=None")
        if shots is None and not caps.exact_expectations:
            raise CapabilityError(f"backend {caps.name!r} only samples: pass shots=<positive int>")

    @property
    def n_outputs(self) -> int:
        """Number of expectation values per example."""
        return len(self.layer_circuit.observables)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Check the feature dimension and create the ``theta`` weight."""
        want = self.layer_circuit.n_features
        if len(input_shape) != 2 or input_shape[-1] != want:
            raise BindingError(
                f"{type(self).__name__} expects inputs of shape (batch, {want}), got {tuple(input_shape)}"
            )
        self.theta = self.add_weight(
            name="theta",
            shape=self.layer_circuit.weight_shape,
            initializer=keras.initializers.RandomUniform(0.0, 2 * math.pi),
            trainable=True,
        )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """``(B, n_features)`` features to ``(B, n_outputs)`` expectation values."""
        if inputs.shape.rank != 2:
            raise BindingError(
                f"{type(self).__name__} expects a 2-D (batch, features) input, got rank {inputs.shape.rank}"
            )
        return self._runner(inputs, tf.reshape(tf.convert_to_tensor(self.theta), [-1]))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, int]:
        """``(batch, n_outputs)``."""
        return (input_shape[0], self.n_outputs)

    def _base_config(self) -> dict[str, Any]:
        options = dict(self.backend_options)
        if isinstance(self.backend, TFBackend) and not options:
            options = {"dtype": self.backend.dtype.name}
        return {
            "backend": self.backend.name,
            "backend_options": options,
            "shots": self.shots,
            "diff_method": self.diff_method,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="qstore")
class QuantumLayer(_CircuitLayer):
    """Encoding, ``depth`` RY/RZ layers with CNOT entanglers, per-qubit readouts (a Keras layer).

    Args mirror ``qstore.torch.QuantumLayer`` and `qstore.core.ansatz.layer_circuit`: ``encoding``
    is ``"angle"`` (``n_qubits`` features), ``"reuploading"`` or ``"amplitude"`` (``2**n_qubits``
    features, normalised per row); ``bases`` are measurement bases, output ``len(bases)·n_qubits``
    values, basis-major. ``backend`` is ``"tf"`` (in-graph engine, autodiff) or any registered
    backend name (built with ``backend_options``) or instance; ``shots=None`` is exact;
    ``diff_method`` is ``"auto"``, ``"backprop"`` (tf engine) or one of the backend's gradient
    methods; ``seed`` seeds shots and SPSA (call k uses ``seed + k``). Weights start uniform in
    ``[0, 2π)``, as in the torch layer.

    >>> model = keras.Sequential([keras.Input((4,)), QuantumLayer(4, depth=2), keras.layers.Dense(1)])
    """

    def __init__(
        self,
        n_qubits: int,
        depth: int = 2,
        entanglement: str = "linear",
        encoding: str = "angle",
        bases: str | Sequence[str] = "Z",
        *,
        n_features: int | None = None,
        pad: bool = False,
        backend: str | Backend = "tf",
        backend_options: Mapping[str, Any] | None = None,
        shots: int | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        lc = layer_circuit(n_qubits, depth, entanglement, encoding, bases, n_features, pad)
        super().__init__(lc, backend, backend_options, shots, diff_method, seed, **kwargs)
        self.n_qubits = n_qubits
        self.depth = depth
        self.entanglement = entanglement
        self.encoding = encoding
        self.bases = "".join(bases)
        self.n_features = lc.n_features
        self.pad = pad

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments; the backend is saved by name."""
        return {
            **super().get_config(),
            **self._base_config(),
            "n_qubits": self.n_qubits,
            "depth": self.depth,
            "entanglement": self.entanglement,
            "encoding": self.encoding,
            "bases": self.bases,
            "n_features": self.n_features,
            "pad": self.pad,
        }


@keras.saving.register_keras_serializable(package="qstore")
class ExpectationValue(_CircuitLayer):
    """Expectation values of ``observables`` after any circuit, with its non-input symbols trainable.

    ``inputs`` names the circuit symbols fed from the layer's input columns, in order (or the one
    state-preparation input, which then takes amplitude rows); every other symbol is a weight in
    the flat variable ``theta``. The circuit and observables are saved in the layer config.

    >>> circuit = Circuit(2).ry("x0", 0).ry("x1", 1).cnot(0, 1).rx("w", 1)
    >>> layer = ExpectationValue(circuit, ["Z0", "X1", "0.5*Z0 Z1"], inputs=["x0", "x1"])
    """

    def __init__(
        self,
        circuit: Circuit | dict[str, Any] | str,
        observables: ObservableLike | Sequence[ObservableLike],
        inputs: Sequence[str] = (),
        *,
        backend: str | Backend = "tf",
        backend_options: Mapping[str, Any] | None = None,
        shots: int | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(circuit, dict):
            circuit = Circuit.from_json(json.dumps(circuit))
        elif isinstance(circuit, str):
            circuit = Circuit.from_json(circuit)
        lc = LayerCircuit.from_circuit(circuit, inputs, observables)
        super().__init__(lc, backend, backend_options, shots, diff_method, seed, **kwargs)

    def get_config(self) -> dict[str, Any]:
        """The circuit as ``qstore.circuit/1`` data, observables as text, inputs, backend by name."""
        lc = self.layer_circuit
        return {
            **super().get_config(),
            **self._base_config(),
            "circuit": lc.circuit.to_dict(),
            "observables": [str(o) for o in lc.observables],
            "inputs": list(lc.inputs),
        }


@keras.saving.register_keras_serializable(package="qstore")
class AmplitudeEncoding(keras.layers.Layer):
    """Zero-pad ``(B, F)`` features to ``2**n_qubits`` and normalise each row: amplitudes for a
    state preparation (feed an `ExpectationValue` whose circuit starts with ``prepare_state``).

    ``pad=True`` is required when ``F < 2**n_qubits``, so nothing is padded unless asked for.
    """

    def __init__(self, n_qubits: int, pad: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(n_qubits, bool) or not isinstance(n_qubits, int) or n_qubits < 1:
            raise ValueError(f"n_qubits must be a positive integer, got {n_qubits!r}")
        self.n_qubits = n_qubits
        self.pad = pad

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Check the feature count against ``2**n_qubits`` and ``pad``."""
        dim = 2**self.n_qubits
        width = input_shape[-1]
        if len(input_shape) != 2 or width is None or width > dim or (width < dim and not self.pad):
            hint = " (or pass pad=True to zero-pad fewer)" if width is not None and width < dim else ""
            raise ValueError(
                f"AmplitudeEncoding on {self.n_qubits} qubits expects inputs of shape (batch, {dim}){hint}, "
                f"got {tuple(input_shape)}"
            )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """Normalised, zero-padded amplitude rows ``(B, 2**n_qubits)``."""
        return amplitude_rows(inputs, self.n_qubits)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, int]:
        """``(batch, 2**n_qubits)``."""
        return (input_shape[0], 2**self.n_qubits)

    def get_config(self) -> dict[str, Any]:
        """``n_qubits`` and ``pad``."""
        return {**super().get_config(), "n_qubits": self.n_qubits, "pad": self.pad}
