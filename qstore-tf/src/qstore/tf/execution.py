"""Running a layer's circuit on a batch of TensorFlow features and a flat weight tensor.

Two paths, one meaning (the choice is `qstore.core.adapter.layer_spec`'s, shared with torch):

* **in graph**: the ``tf`` engine inside the TensorFlow graph, differentiated by autodiff (exact);
  a noisy circuit runs on its density matrices (`qstore.tf.density`);
* **any other backend** (or shots, or a gradient method the engine does not run in graph): the
  forward pass calls the core `BackendCall` through `tf.numpy_function`, and a
  `tf.custom_gradient` asks it for the vector–Jacobian product, so it trains under ``model.fit``.

Weights are a flat vector in the order of ``LayerCircuit.weights``; inputs are ``(B, n_features)``.
On the backend path, amplitude-encoded inputs have no gradient (``None``: state preparation has no
shift rule); the weights are differentiated as usual. The in-graph path differentiates both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from qstore.core.adapter import BackendCall, Engine, LayerSpec
from qstore.tf import density
from qstore.tf import statevector as sv
from qstore.tf.backend import TFBackend
from qstore.tf.gates import real_dtype

__all__ = ["ENGINE", "amplitude_rows", "make_runner", "raw_runner"]

ENGINE = Engine("tf", ("backprop",))
"""The tf engine runs in graph and differentiates by TensorFlow autodiff (backprop) only."""

Runner = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def amplitude_rows(features: tf.Tensor, n_qubits: int) -> tf.Tensor:
    """Zero-pad ``(B, F)`` rows to ``2**n_qubits`` and normalise them (differentiable)."""
    dim = 2**n_qubits
    padded = tf.pad(features, [[0, 0], [0, dim - tf.shape(features)[-1]]])
    norms = tf.norm(padded, axis=-1, keepdims=True)
    check = tf.debugging.assert_greater(
        norms, tf.zeros_like(norms), message="amplitude encoding cannot normalise an all-zero input row"
    )
    with tf.control_dependencies([check]):
        return padded / norms


def make_runner(spec: LayerSpec, call: BackendCall, out_dtype: tf.DType) -> Runner:
    """``runner(features, weights) -> (B, shot counts · measured)`` expectations of the measured
    observables, in ``out_dtype``; `LayerOutput.finish` turns them into the layer's output."""
    if spec.in_graph:
        assert isinstance(spec.backend, TFBackend)
        dtype = spec.backend.dtype
        return lambda features, weights: tf.cast(_native(spec, dtype, features, weights), out_dtype)
    return _via_backend(spec, call, out_dtype)


def raw_runner(call: BackendCall, out_dtype: tf.DType) -> Runner:
    """``runner(features, weights)`` for the outputs without gradients: samples or states."""
    kind = call.spec.output.kind
    dtype = out_dtype if kind == "samples" else (tf.complex128 if out_dtype == tf.float64 else tf.complex64)

    def run(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return call.raw(features, weights).astype(dtype.as_numpy_dtype)

    return lambda features, weights: tf.stop_gradient(
        tf.numpy_function(run, [features, weights], dtype, stateful=True)
    )


def _native(spec: LayerSpec, dtype: tf.DType, features: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    lc = spec.circuit
    rdtype = real_dtype(dtype)
    values = {name: tf.cast(weights[k], rdtype) for k, name in enumerate(lc.weights)}
    vectors = {}
    n = lc.circuit.n_qubits
    if lc.encoding == "amplitude":
        vectors[lc.inputs[0]] = tf.cast(amplitude_rows(tf.cast(features, rdtype), n), dtype)
    else:
        values.update({name: tf.cast(features[:, i], rdtype) for i, name in enumerate(lc.inputs)})
    if lc.circuit.has_noise:
        b = tf.shape(features)[0]
        columns = [tf.broadcast_to(tf.reshape(values[s], [-1]), [b]) for s in lc.circuit.symbols]
        stacked = tf.stack(columns, axis=1) if columns else tf.zeros([b, 0], rdtype)
        return density.expectations(lc.circuit, stacked, vectors, lc.observables, dtype)
    state = sv.simulate(lc.circuit, values, vectors, tf.shape(features)[0], dtype)
    return sv.expectations(state, lc.observables, n)


def _via_backend(spec: LayerSpec, call: BackendCall, out_dtype: tf.DType) -> Runner:
    n_measured = len(spec.circuit.observables) * len(spec.shot_counts)
    amplitude = spec.circuit.encoding == "amplitude"
    np_dtype = out_dtype.as_numpy_dtype

    def forward(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return call.forward(features, weights).astype(np_dtype)

    def backward(features: np.ndarray, weights: np.ndarray, upstream: np.ndarray) -> tuple[np.ndarray, ...]:
        d_features, d_weights = call.backward(features, weights, upstream)
        if d_features is None:
            d_features = np.zeros(features.shape)
        return d_features.astype(np_dtype), d_weights.astype(np_dtype).reshape(weights.shape)

    @tf.custom_gradient
    def run(features: tf.Tensor, weights: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tuple]]:
        features = tf.cast(features, out_dtype)
        weights = tf.cast(weights, out_dtype)
        out = tf.numpy_function(forward, [features, weights], out_dtype, stateful=True)
        out.set_shape([features.shape[0], n_measured])

        def grad(upstream: tf.Tensor) -> tuple[tf.Tensor | None, tf.Tensor]:
            d_features, d_weights = tf.numpy_function(
                backward, [features, weights, upstream], [out_dtype, out_dtype], stateful=True
            )
            d_features.set_shape(features.shape)
            d_weights.set_shape(weights.shape)
            return (None if amplitude else d_features), d_weights

        return out, grad

    return run
