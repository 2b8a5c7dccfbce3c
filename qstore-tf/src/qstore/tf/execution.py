"""Running a `LayerCircuit` on a batch of TensorFlow features and a flat weight tensor.

Two paths, one meaning:

* **native**: the ``tf`` engine inside the TensorFlow graph, differentiated by autodiff (exact);
* **any other backend** (or shots, or an explicitly requested gradient method): the forward pass
  calls `Backend.run` through `tf.numpy_function`, and a `tf.custom_gradient` calls
  `Backend.vjp` with the chosen method, so it trains under ``model.fit`` like any Keras op.

Weights are a flat vector in the order of ``LayerCircuit.weights``; inputs are ``(B, n_features)``.
On the backend path, amplitude-encoded inputs have no gradient (``None``: state preparation has no
shift rule); the weights are differentiated as usual. The native path differentiates both.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from qstore.core.ansatz import LayerCircuit
from qstore.core.backend import GRADIENT_METHODS, Backend
from qstore.core.errors import GradientError
from qstore.tf import statevector as sv
from qstore.tf.backend import TFBackend
from qstore.tf.gates import real_dtype

__all__ = ["DIFF_METHODS", "amplitude_rows", "choose_method", "make_runner"]

DIFF_METHODS = ("auto", "backprop", *GRADIENT_METHODS)

Runner = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def amplitude_rows(features: tf.Tensor, n_qubits: int) -> tf.Tensor:
    """Zero-pad ``(B, F)`` rows to ``2**n_qubits`` and normalise them (differentiable)."""
    dim = 2**n_qubits
    width = features.shape[-1]
    if width is not None and width > dim:
        raise ValueError(f"amplitude encoding on {n_qubits} qubits takes at most {dim} features, got {width}")
    padded = tf.pad(features, [[0, 0], [0, dim - tf.shape(features)[-1]]])
    norms = tf.norm(padded, axis=-1, keepdims=True)
    check = tf.debugging.assert_greater(
        norms, tf.zeros_like(norms), message="amplitude encoding cannot normalise an all-zero input row"
    )
    with tf.control_dependencies([check]):
        return padded / norms


def choose_method(backend: Backend, shots: int | None, diff_method: str) -> str:
    """The gradient method to use: the requested one, or the best the backend declares for ``shots``.

    On the ``tf`` engine with exact expectations, ``"auto"``, ``"backprop"`` and ``"adjoint"`` all
    mean TensorFlow autodiff through the in-graph simulation (returned as ``"backprop"``).
    """
    if diff_method not in DIFF_METHODS:
        raise GradientError(f"diff_method must be one of {list(DIFF_METHODS)}, got {diff_method!r}")
    declared = backend.capabilities.gradient_methods
    if isinstance(backend, TFBackend) and shots is None and diff_method in ("auto", "backprop", "adjoint"):
        return "backprop"
    if diff_method == "backprop":
        raise GradientError(
            "diff_method='backprop' needs the tf engine (backend='tf') with shots=None; "
            f"this configuration supports {list(declared)}"
        )
    if diff_method == "auto":
        usable = [m for m in ("adjoint", "parameter-shift", "spsa", "finite-diff") if m in declared]
        if shots is not None:
            usable = [m for m in usable if m != "adjoint"]
        if not usable:
            raise GradientError(
                f"backend {backend.name!r} declares no gradient method usable with shots={shots}"
            )
        return usable[0]
    if diff_method not in declared:
        raise GradientError(
            f"backend {backend.name!r} does not support diff_method {diff_method!r}; it supports {list(declared)}"
        )
    if diff_method == "adjoint" and shots is not None:
        raise GradientError("diff_method 'adjoint' is exact; use shots=None or a sampling method")
    return diff_method


def make_runner(
    lc: LayerCircuit, backend: Backend, shots: int | None, method: str, seed: int | None = None
) -> Runner:
    """``runner(features, weights) -> (B, n_observables)`` float32 expectations for this circuit.

    With a ``seed``, backend call ``k`` (forward or gradient) uses ``seed + k``, so repeated passes
    draw fresh shots reproducibly.
    """
    if isinstance(backend, TFBackend) and method == "backprop":
        return lambda features, weights: _native(lc, backend.dtype, features, weights)
    return _via_backend(lc, backend, shots, method, seed)


def _native(lc: LayerCircuit, dtype: tf.DType, features: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    rdtype = real_dtype(dtype)
    values = {name: tf.cast(weights[k], rdtype) for k, name in enumerate(lc.weights)}
    vectors = {}
    n = lc.circuit.n_qubits
    if lc.encoding == "amplitude":
        vectors[lc.inputs[0]] = tf.cast(amplitude_rows(tf.cast(features, rdtype), n), dtype)
    else:
        values.update({name: tf.cast(features[:, i], rdtype) for i, name in enumerate(lc.inputs)})
    state = sv.simulate(lc.circuit, values, vectors, tf.shape(features)[0], dtype)
    return tf.cast(sv.expectations(state, lc.observables, n), tf.float32)


def _via_backend(
    lc: LayerCircuit, backend: Backend, shots: int | None, method: str, seed: int | None
) -> Runner:
    n_obs = len(lc.observables)
    scalar_inputs = () if lc.encoding == "amplitude" else lc.inputs
    calls = itertools.count()

    def next_seed() -> int | None:
        return None if seed is None else seed + next(calls)

    def bindings(features: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
        out = lc.input_bindings(features)
        out.update({name: np.asarray(weights[k], np.float64) for k, name in enumerate(lc.weights)})
        return out

    def forward(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
        result = backend.run(lc.circuit, bindings(features, weights), lc.observables, shots, seed=next_seed())
        assert result.expectations is not None
        return result.expectations.astype(np.float32)

    def backward(features: np.ndarray, weights: np.ndarray, upstream: np.ndarray) -> tuple[np.ndarray, ...]:
        wrt = (*scalar_inputs, *lc.weights)
        grads = backend.vjp(
            lc.circuit,
            bindings(features, weights),
            lc.observables,
            upstream,
            method=method,
            shots=shots,
            seed=next_seed(),
            wrt=wrt,
        )
        d_features = np.zeros(features.shape, np.float32)
        for i, name in enumerate(scalar_inputs):
            d_features[:, i] = grads[name]
        d_weights = np.array([grads[name].sum() for name in lc.weights], np.float32).reshape(weights.shape)
        return d_features, d_weights

    @tf.custom_gradient
    def run(features: tf.Tensor, weights: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tuple]]:
        features = tf.cast(features, tf.float32)
        out = tf.numpy_function(forward, [features, weights], tf.float32, stateful=True)
        out.set_shape([features.shape[0], n_obs])

        def grad(upstream: tf.Tensor) -> tuple[tf.Tensor | None, tf.Tensor]:
            d_features, d_weights = tf.numpy_function(
                backward, [features, weights, upstream], [tf.float32, tf.float32], stateful=True
            )
            d_features.set_shape(features.shape)
            d_weights.set_shape(weights.shape)
            return (None if lc.encoding == "amplitude" else d_features), d_weights

        return out, grad

    return run
