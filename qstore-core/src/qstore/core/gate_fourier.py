"""Gate matrices as exact Fourier sums, derived from the gate table, for autodiff engines.

The table (`qstore.core.gates`) promises that every entry of a parametric gate is
``a + b·e^{iνθ} + c·e^{-iνθ}`` in each angle θ (ν = ``ParamRule.matrix_frequency``). A gate with
``p`` angles is therefore ``U(θ) = Σ_k C[k] · exp(i Σ_j k_j ν_j θ_j)`` over ``k ∈ {0, +1, -1}^p``.
Evaluating the table's own NumPy matrix on the grid where each ``e^{iν_jθ_j}`` runs over the cube
roots of unity and inverting that 3-point DFT per angle gives ``C`` exactly. Framework engines
(TensorFlow, torch) rebuild differentiable matrices from ``C`` with their own ops, so no matrix is
ever copied out of the table. NumPy only.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from qstore.core.gates import gate_spec

__all__ = ["fourier_coefficients", "fourier_harmonics"]

_OMEGA = np.exp(2j * np.pi / 3)
# _DFT[m, k] = f_k at the m-th grid point, with f = (1, e^{iνθ}, e^{-iνθ}) and e^{iνθ_m} = ω^m.
_DFT_INV = np.linalg.inv(np.array([[1, _OMEGA**m, _OMEGA ** (-m)] for m in range(3)]))
_SIGNS = (0, 1, -1)


@functools.cache
def fourier_coefficients(name: str) -> np.ndarray:
    """``C`` of shape ``(3**p, d, d)`` (complex128, read-only) for gate ``name``.

    Index ``k`` is row-major over the angles (first angle slowest), each digit in the order
    ``(0, +1, -1)`` of `fourier_harmonics`; a fixed gate has ``p = 0`` and ``C = U[None]``.
    """
    spec = gate_spec(name)
    p = spec.n_params
    if p == 0:
        coeffs = np.asarray(spec.matrix(), dtype=complex)[None]
    else:
        grids = [2 * math.pi * np.arange(3) / (3 * rule.matrix_frequency) for rule in spec.params]
        samples = np.asarray(spec.matrix(*np.meshgrid(*grids, indexing="ij")), dtype=complex)
        coeffs = samples
        for axis in range(p):
            coeffs = np.moveaxis(np.tensordot(_DFT_INV, coeffs, axes=([1], [axis])), 0, axis)
        d = samples.shape[-1]
        coeffs = coeffs.reshape(3**p, d, d)
    coeffs = np.where(np.abs(coeffs) < 1e-14, 0, coeffs)
    coeffs.setflags(write=False)
    return coeffs


@functools.cache
def fourier_harmonics(name: str) -> np.ndarray:
    """``(3**p, p)`` real array of ``k_j · ν_j``: term ``k`` of `fourier_coefficients` is
    ``C[k] · exp(i · harmonics[k] @ θ)``."""
    spec = gate_spec(name)
    nus = [rule.matrix_frequency for rule in spec.params]
    rows = [
        [s * nu for s, nu in zip(signs, nus, strict=True)]
        for signs in itertools.product(_SIGNS, repeat=len(nus))
    ]
    out = np.array(rows, dtype=float).reshape(3 ** len(nus), len(nus))
    out.setflags(write=False)
    return out
