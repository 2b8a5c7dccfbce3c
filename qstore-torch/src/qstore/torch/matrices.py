"""Differentiable gate matrices in torch, derived exactly from the core gate table.

The table (`qstore.core.gates`) promises that every matrix entry of a parametric gate is
``a + b·e^{iνθ} + c·e^{-iνθ}`` in each of its angles θ (ν = ``ParamRule.matrix_frequency``). A gate
with ``p`` angles is therefore ``U(θ) = Σ_k C[k] · Π_j f_{k_j}(θ_j)`` over ``k ∈ {0, +, -}^p`` with
``f_0 = 1``, ``f_± = e^{±iνθ}``. Evaluating the table's NumPy matrix once on the grid where the
``e^{iνθ_j}`` are the cube roots of unity and inverting that 3-point DFT per angle gives ``C``
exactly, so no matrix is ever copied here: torch only combines the table's own coefficients.
"""

from __future__ import annotations

import functools
import math

import numpy as np

import torch
from qstore.core.gates import gate_spec

__all__ = ["fourier_coefficients", "gate_matrices"]

_OMEGA = np.exp(2j * np.pi / 3)
# _DFT[m, k] = f_k at the m-th grid point, with f = (1, e^{iνθ}, e^{-iνθ}) and e^{iνθ_m} = ω^m.
_DFT = np.array([[1, _OMEGA**m, _OMEGA ** (-m)] for m in range(3)])
_DFT_INV = np.linalg.inv(_DFT)


@functools.cache
def fourier_coefficients(name: str) -> np.ndarray:
    """``C`` of shape ``(3**p, d, d)`` (complex128, read-only) with ``U = Σ_k C[k] Π_j f_{k_j}``.

    Index ``k`` is row-major over the angles (first angle slowest); a fixed gate has ``p = 0``
    and ``C = U[None]``.
    """
    spec = gate_spec(name)
    p = spec.n_params
    if p == 0:
        coeffs = np.asarray(spec.matrix(), dtype=complex)[None]
    else:
        grids = [
            2 * math.pi * np.arange(3) / (3 * rule.matrix_frequency) for rule in spec.params
        ]  # θ_j on the cube-root grid of its own frequency
        mesh = np.meshgrid(*grids, indexing="ij")
        samples = np.asarray(spec.matrix(*mesh), dtype=complex)  # (3,)*p + (d, d)
        coeffs = samples
        for axis in range(p):
            coeffs = np.moveaxis(np.tensordot(_DFT_INV, coeffs, axes=([1], [axis])), 0, axis)
        d = samples.shape[-1]
        coeffs = coeffs.reshape(3**p, d, d)
    coeffs = np.where(np.abs(coeffs) < 1e-14, 0, coeffs)
    coeffs.setflags(write=False)
    return coeffs


@torch.compiler.disable
@functools.lru_cache(maxsize=512)
def _coefficients(name: str, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, tuple[float, ...]]:
    """The flattened ``C`` on ``device`` and the angles' matrix frequencies ν."""
    coeffs = fourier_coefficients(name)
    nus = tuple(rule.matrix_frequency for rule in gate_spec(name).params)
    return torch.tensor(coeffs.reshape(coeffs.shape[0], -1), dtype=dtype, device=device), nus


def gate_matrices(name: str, angles: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Matrices of gate ``name`` for real ``angles`` of shape ``S + (p,)``: returns ``S + (d, d)``.

    Differentiable in ``angles`` by autograd; ``dtype`` is the complex dtype of the result.
    """
    coeffs, nus = _coefficients(name, dtype, str(angles.device))
    d = math.isqrt(coeffs.shape[1])
    batch_shape = angles.shape[:-1]
    if not nus:
        return coeffs.reshape(d, d).expand(*batch_shape, d, d)
    basis = None
    for j, nu in enumerate(nus):
        phase = angles[..., j] * nu
        e = torch.polar(torch.ones_like(phase), phase)
        f = torch.stack([torch.ones_like(e), e, e.conj()], dim=-1)
        basis = f if basis is None else (basis[..., :, None] * f[..., None, :]).flatten(-2)
    assert basis is not None
    return (basis.to(dtype) @ coeffs).reshape(*batch_shape, d, d)
