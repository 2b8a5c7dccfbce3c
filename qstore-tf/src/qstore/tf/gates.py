"""Differentiable gate matrices in TensorFlow, rebuilt from the core table's Fourier coefficients.

`qstore.core.gate_fourier` gives, for every gate of the one table, ``U(θ) = Σ_k C[k] ·
exp(i · h[k] @ θ)`` exactly; here that sum is evaluated with TensorFlow ops, so matrices are
differentiable in the angle tensors and no matrix is copied out of the table.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from qstore.core.gate_fourier import fourier_coefficients, fourier_harmonics

__all__ = ["gate_matrix", "real_dtype"]


def real_dtype(dtype: tf.DType) -> tf.DType:
    """The real dtype matching a complex one: float32 for complex64, float64 for complex128."""
    return tf.float32 if dtype == tf.complex64 else tf.float64


@functools.cache
def _terms(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero Fourier terms of gate ``name``: coefficients ``(K, d, d)`` and harmonics ``(K, p)``."""
    coeffs, harmonics = fourier_coefficients(name), fourier_harmonics(name)
    keep = np.any(coeffs != 0, axis=(1, 2))
    return coeffs[keep], harmonics[keep]


def gate_matrix(name: str, angles: Sequence[tf.Tensor], dtype: tf.DType = tf.complex64) -> tf.Tensor:
    """Matrix of gate ``name`` for real angle tensors of one broadcastable shape ``S``: ``S + (d, d)``."""
    coeffs, harmonics = _terms(name)
    c = tf.constant(coeffs, dtype=dtype)
    if not angles:
        return c[0]
    rdtype = real_dtype(dtype)
    theta = tf.stack(_broadcast([tf.cast(a, rdtype) for a in angles]), axis=-1)
    phase = tf.tensordot(theta, tf.constant(harmonics.T, dtype=rdtype), axes=1)
    basis = tf.exp(tf.complex(tf.zeros_like(phase), phase))
    return tf.tensordot(basis, c, axes=1)


def _broadcast(tensors: list[tf.Tensor]) -> list[tf.Tensor]:
    if all(t.shape.rank == 0 for t in tensors):
        return tensors
    shape = tf.shape(tensors[0])
    for t in tensors[1:]:
        shape = tf.broadcast_dynamic_shape(shape, tf.shape(t))
    return [tf.broadcast_to(t, shape) for t in tensors]
