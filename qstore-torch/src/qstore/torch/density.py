"""Density-matrix simulation in torch: noisy circuits, batched, differentiable by autograd.

The layout and rules are those of the NumPy reference (`qstore.core.density`): ``vec(ρ)`` is a
``(B, 4**n)`` complex tensor over ``2n`` qubit axes (rows first); a gate ``U`` acts as ``U`` on the
row qubits and ``U*`` on the column qubits, a channel as its superoperator
``S(p) = C0 + p·C1 + √(1-p)·C2`` on both (coefficients from `qstore.core.channels`). Gate
matrices come from `qstore.torch.matrices`, so autograd differentiates gate angles and channel
strengths alike (``∂S/∂p`` is infinite at ``p = 1`` for damping channels).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np

import torch
from qstore.core.channels import KRAUS, Channel, check_strengths, superoperator, superoperator_basis
from qstore.core.circuit import Circuit, StatePreparation
from qstore.core.density import vectorised_observable
from qstore.core.expressions import Expr
from qstore.core.observables import Observable
from qstore.core.plan import Prepare
from qstore.torch.engine import _moved, _restore, load, real_dtype
from qstore.torch.matrices import gate_matrices

__all__ = ["expectations", "probabilities", "simulate"]


def simulate(
    circuit: Circuit, values: torch.Tensor, vectors: Mapping[str, torch.Tensor], dtype: torch.dtype
) -> torch.Tensor:
    """Final ``(B, 4**n)`` vectorised density matrices; ``values`` ``(B, S)`` in ``circuit.symbols`` order."""
    n, b = circuit.n_qubits, values.shape[0]
    column = {name: i for i, name in enumerate(circuit.symbols)}
    rho = torch.zeros(b, 4**n, dtype=dtype, device=values.device)
    rho[:, 0] = 1
    for op in circuit.operations:
        cols = tuple(n + q for q in op.qubits)
        if isinstance(op, StatePreparation):
            amps = vectors[op.input].to(dtype)
            rho = load(
                load(rho, Prepare(op.qubits, op.input), 2 * n, amps),
                Prepare(cols, op.input),
                2 * n,
                amps.conj(),
            )
        elif isinstance(op, Channel):
            rho = _apply(rho, _superoperator(op, values, column, dtype), (*op.qubits, *cols))
        else:
            angles = [_angle(p, values, column) for p in op.params]
            matrix = gate_matrices(
                op.gate, torch.stack(angles, -1) if angles else values.new_zeros(b, 0), dtype
            )
            rho = _apply(_apply(rho, matrix, op.qubits), matrix.conj(), cols)
    return rho


def probabilities(rho: torch.Tensor) -> torch.Tensor:
    """``(B, 2**n)`` computational-basis probabilities (the real diagonal)."""
    dim = 2 ** ((rho.shape[1].bit_length() - 1) // 2)
    return torch.diagonal(rho.view(-1, dim, dim), dim1=1, dim2=2).real.clamp_min(0)


def expectations(
    circuit: Circuit,
    values: torch.Tensor,
    vectors: Mapping[str, torch.Tensor],
    observables: Sequence[Observable],
    dtype: torch.dtype,
) -> torch.Tensor:
    """``(B, n_obs)`` exact ``Tr(Oρ)`` in the real dtype of ``dtype`` (summed in float64)."""
    rho = simulate(circuit, values, vectors, dtype)
    vec = _observables(tuple(observables), circuit.n_qubits, str(rho.device))
    return (rho.to(torch.complex128) @ vec.conj().T).real.to(real_dtype(dtype))


@functools.lru_cache(maxsize=64)
def _observables(observables: tuple[Observable, ...], n: int, device: str) -> torch.Tensor:
    vec = np.stack([vectorised_observable(o, n) for o in observables]) if observables else np.zeros((0, 4**n))
    return torch.tensor(vec, dtype=torch.complex128, device=device)


def _angle(expr: Expr, values: torch.Tensor, column: Mapping[str, int]) -> torch.Tensor:
    out = values.new_full((values.shape[0],), expr.const)
    for name, coeff in expr.terms:
        out = out + coeff * values[:, column[name]]
    return out


def _superoperator(
    op: Channel, values: torch.Tensor, column: Mapping[str, int], dtype: torch.dtype
) -> torch.Tensor:
    if op.gate == KRAUS:
        return torch.tensor(superoperator(op), dtype=dtype, device=values.device)
    p = _angle(op.params[0], values, column)
    check_strengths(op, p.detach().double().cpu().numpy())
    basis = torch.stack([torch.ones_like(p), p, torch.sqrt(1 - p)], dim=-1).to(dtype)
    coeffs = torch.tensor(superoperator_basis(op.gate).reshape(3, 16), dtype=dtype, device=values.device)
    return (basis @ coeffs).view(-1, 4, 4)


def _apply(state: torch.Tensor, matrix: torch.Tensor, targets: Sequence[int]) -> torch.Tensor:
    """``matrix`` (``(d, d)`` or ``(B, d, d)``) on ``targets`` of the ``2n``-qubit vectorised state."""
    return _restore(state, matrix @ _moved(state, targets), targets)
