"""Differentiable gate matrices in torch, derived exactly from the core gate table.

`qstore.core.gate_fourier` writes every gate as ``U(θ) = Σ_k C[k] · Π_j f_{k_j}(θ_j)`` over
``k ∈ {0, +, -}^p`` with ``f_0 = 1``, ``f_± = e^{±iνθ}``, the coefficients ``C`` computed from the
table's own NumPy matrices; torch only combines those coefficients with ``e^{±iνθ}`` of its angle
tensors, so no matrix is ever copied here and autograd differentiates the result exactly.
"""

from __future__ import annotations

import functools
import math

import torch
from qstore.core.gate_fourier import fourier_coefficients
from qstore.core.gates import gate_spec

__all__ = ["gate_matrices"]


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
