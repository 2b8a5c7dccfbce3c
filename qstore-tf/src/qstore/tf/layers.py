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

from qstore.core.adapter import (
    BackendCall,
    build_layer_circuit,
    check_feature_shape,
    layer_spec,
    make_backend,
)
from qstore.core.ansatz import LayerCircuit
from qstore.core.backend import Backend
from qstore.core.circuit import Circuit
from qstore.core.errors import BindingError, CapabilityError
from qstore.core.memory import rows_that_fit
from qstore.core.observables import ObservableLike
from qstore.core.plan import compile_plan
from qstore.core.secrets import without_credentials
from qstore.core.specs import CircuitSpecs
from qstore.tf.backend import TFBackend
from qstore.tf.execution import ENGINE, amplitude_rows, make_runner, raw_runner

__all__ = ["AmplitudeEncoding", "ExpectationValue", "QuantumLayer"]

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"qstore.tf layers run on Keras's TensorFlow backend, but KERAS_BACKEND is {keras.backend.backend()!r}; "
        "set KERAS_BACKEND=tensorflow (or use qstore.torch with the torch backend)"
    )


class _CircuitLayer(keras.layers.Layer):
    """Shared machinery: the core `LayerSpec`, the ``theta`` weight, input checks, the forward pass."""

    def __init__(
        self,
        circuit: LayerCircuit,
        backend: str | Backend = "tf",
        backend_options: Mapping[str, Any] | None = None,
        shots: int | Sequence[int] | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        output: str = "expectation",
        output_qubits: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.backend_options = without_credentials(backend_options)  # configs never hold a key
        compute = tf.as_dtype(self.compute_dtype)
        if compute not in (tf.float32, tf.float64, tf.float16, tf.bfloat16):
            raise CapabilityError(
                f"{type(self).__name__} computes in floating point, got dtype {compute.name}"
            )
        options = dict(backend_options or {})
        if backend == "tf" and not options and compute == tf.float64:
            options = {"precision": "double"}  # dtype="float64" simulates in complex128
        self.spec = layer_spec(
            circuit, make_backend(backend, options), shots, diff_method, seed, ENGINE, output, output_qubits
        )
        self._output_qubits = None if output_qubits is None else list(output_qubits)
        self._call = BackendCall(self.spec)
        self._out_dtype = tf.float64 if compute == tf.float64 else tf.float32
        self._runner = (
            make_runner(self.spec, self._call, self._out_dtype)
            if self.spec.output.differentiable
            else raw_runner(self._call, self._out_dtype)
        )

    @property
    def layer_circuit(self) -> LayerCircuit:
        """The circuit with its input and weight symbols and observables."""
        return self.spec.circuit

    @property
    def backend(self) -> Backend:
        """The backend running the circuit."""
        return self.spec.backend

    @property
    def n_outputs(self) -> int:
        """Number of expectation values per example."""
        return self.spec.n_outputs

    def draw(self, width: int | None = None) -> str:
        """The layer's circuit as text, wrapped to ``width`` (default: the terminal), readouts at the right."""
        return self.spec.circuit.draw(width)

    def specs(self) -> CircuitSpecs:
        """Resource report of the layer's circuit; the layer's input symbols count as inputs."""
        return self.spec.circuit.specs()

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Check the feature dimension and create the ``theta`` weight."""
        check_feature_shape(self.spec.circuit, tuple(input_shape), type(self).__name__)
        self.theta = self.add_weight(
            name="theta",
            shape=self.spec.circuit.weight_shape,
            initializer=keras.initializers.RandomUniform(0.0, 2 * math.pi),
            trainable=True,
        )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        """``(B, n_features)`` features to ``(B, n_outputs)`` outputs (see ``output``).

        The simulation runs in complex64 (complex128 for ``dtype="float64"``); under a mixed
        precision policy the output is cast to the compute dtype (e.g. float16).
        """
        check_feature_shape(self.spec.circuit, tuple(inputs.shape), type(self).__name__)
        inputs = tf.debugging.assert_all_finite(
            tf.convert_to_tensor(inputs), f"{type(self).__name__} input has a non-finite value (NaN or inf)"
        )
        weights = tf.reshape(tf.convert_to_tensor(self.theta), [-1])
        out = self.spec.output
        if not out.differentiable:
            return self._runner(tf.cast(inputs, self._out_dtype), tf.cast(weights, self._out_dtype))
        if self.spec.in_graph:
            inputs = self._refuse_oversized_batch(inputs)
        measured = self._runner(inputs, weights)
        walsh = None if out.walsh is None else tf.constant(out.walsh, dtype=measured.dtype)
        blocks = tf.reshape(measured, [-1, len(self.spec.shot_counts), len(out.measured)])
        result = tf.reshape(out.finish(blocks, walsh), [-1, self.spec.n_outputs])
        return tf.cast(result, self.compute_dtype)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, int]:
        """``(batch, n_outputs)``."""
        return (input_shape[0], self.n_outputs)

    def _refuse_oversized_batch(self, inputs: tf.Tensor) -> tf.Tensor:
        """Autodiff keeps every step's states: refuse a batch whose working memory would not fit,
        with a clear error, before TensorFlow allocates it (instead of an allocator crash)."""
        circuit = self.spec.circuit.circuit
        if circuit.has_noise:  # density matrices: 4**n amplitudes per operation kept for autodiff
            per_row = 3 * len(circuit.operations) * 4**circuit.n_qubits * self.spec.backend.dtype.size
        else:
            per_row = (
                3 * len(compile_plan(circuit).steps) * 2**circuit.n_qubits * self.spec.backend.dtype.size
            )
        what = f"{type(self).__name__} on {circuit.n_qubits} qubits"
        limit = rows_that_fit(2**62, per_row, what)
        check = tf.debugging.assert_less_equal(
            tf.shape(inputs)[0],
            limit,
            message=f"{what} fits at most {limit} rows per call in this process's memory; use a smaller batch_size",
        )
        with tf.control_dependencies([check]):
            return tf.identity(inputs)

    def _base_config(self) -> dict[str, Any]:
        spec = self.spec
        options = dict(self.backend_options)
        if isinstance(spec.backend, TFBackend) and not options:
            options = {"precision": spec.backend.precision}
        return {
            "backend": spec.backend.name,
            "backend_options": options,
            "shots": spec.shots,
            "diff_method": spec.diff_method if spec.output.differentiable else "auto",
            "seed": spec.seed,
            "output": spec.output.kind,
            "output_qubits": self._output_qubits,
        }


@keras.saving.register_keras_serializable(package="qstore")
class QuantumLayer(_CircuitLayer):
    """Encoding, ``depth`` RY/RZ layers with CNOT entanglers, per-qubit readouts (a Keras layer).

    Takes the same arguments as ``qstore.torch.QuantumLayer`` (see `qstore.core.adapter`):
    ``encoding`` is ``"angle"`` (``n_qubits`` features), ``"reuploading"`` or ``"amplitude"``
    (``2**n_qubits`` features, normalised per row); ``bases`` are measurement bases, output
    ``len(bases)·n_qubits`` values, basis-major; ``circuit=`` takes a user-built `LayerCircuit`
    instead of the ansatz. ``backend`` is ``"tf"`` (in-graph engine, autodiff) or any registered
    backend name (built with ``backend_options``) or instance; ``shots=None`` is exact;
    ``diff_method`` is ``"auto"``, ``"backprop"`` (tf engine) or one of the backend's gradient
    methods; ``seed`` seeds shots and SPSA (call k, forward or backward, uses ``seed + k``).
    The weight is one variable ``theta`` of ``weight_shape``, uniform in ``[0, 2π)`` at start.

    >>> model = keras.Sequential([keras.Input((4,)), QuantumLayer(4, depth=2), keras.layers.Dense(1)])
    """

    def __init__(
        self,
        n_qubits: int | None = None,
        depth: int = 2,
        entanglement: str = "linear",
        encoding: str = "angle",
        bases: str | Sequence[str] = "Z",
        *,
        n_features: int | None = None,
        pad: bool = False,
        circuit: LayerCircuit | None = None,
        backend: str | Backend = "tf",
        backend_options: Mapping[str, Any] | None = None,
        shots: int | Sequence[int] | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        output: str = "expectation",
        output_qubits: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        lc = build_layer_circuit(n_qubits, depth, entanglement, encoding, bases, n_features, pad, circuit)
        super().__init__(
            lc, backend, backend_options, shots, diff_method, seed, output, output_qubits, **kwargs
        )
        self._custom = circuit is not None
        self.depth = depth
        self.entanglement = entanglement
        self.bases = "".join(bases)
        self.pad = pad

    @property
    def n_qubits(self) -> int:
        """Register size."""
        return self.spec.circuit.circuit.n_qubits

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments; the backend is saved by name, a custom circuit as data."""
        lc = self.spec.circuit
        config = {**super().get_config(), **self._base_config()}
        if self._custom:
            return {
                **config,
                "circuit": {
                    "circuit": lc.circuit.to_dict(),
                    "inputs": list(lc.inputs),
                    "weights": list(lc.weights),
                    "observables": [str(o) for o in lc.observables],
                },
            }
        return {
            **config,
            "n_qubits": self.n_qubits,
            "depth": self.depth,
            "entanglement": self.entanglement,
            "encoding": lc.encoding,
            "bases": self.bases,
            "n_features": lc.n_features,
            "pad": self.pad,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> QuantumLayer:
        """Rebuild from `get_config`, including a custom circuit saved as data."""
        data = config.pop("circuit", None)
        if data is not None:
            circuit = Circuit.from_json(json.dumps(data["circuit"]))
            config["circuit"] = LayerCircuit.from_circuit(
                circuit, data["inputs"], data["observables"], data["weights"]
            )
        return cls(**config)


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
        shots: int | Sequence[int] | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        output: str = "expectation",
        output_qubits: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(circuit, dict):
            circuit = Circuit.from_json(json.dumps(circuit))
        elif isinstance(circuit, str):
            circuit = Circuit.from_json(circuit)
        elif not isinstance(circuit, Circuit):
            raise BindingError(
                f"ExpectationValue takes a Circuit (or its qstore.circuit/1 JSON), got {type(circuit).__name__}"
            )
        lc = LayerCircuit.from_circuit(circuit, inputs, observables)
        super().__init__(
            lc, backend, backend_options, shots, diff_method, seed, output, output_qubits, **kwargs
        )

    def get_config(self) -> dict[str, Any]:
        """The circuit as ``qstore.circuit/1`` data, observables as text, inputs, backend by name."""
        lc = self.spec.circuit
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
            raise BindingError(f"n_qubits must be a positive integer, got {n_qubits!r}")
        self.n_qubits = n_qubits
        self.pad = pad

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Check the feature count against ``2**n_qubits`` and ``pad``."""
        dim = 2**self.n_qubits
        width = input_shape[-1]
        if len(input_shape) != 2 or width is None or width > dim or (width < dim and not self.pad):
            hint = " (or pass pad=True to zero-pad fewer)" if width is not None and width < dim else ""
            raise BindingError(
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
