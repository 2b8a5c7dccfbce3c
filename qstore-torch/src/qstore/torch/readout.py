"""Torch kernels for a core `qstore.core.plan_readout.Readout`: expectations and the adjoint's ``O|ψ>``.

The grouping (by X/Y mask) is decided in the core; here each all-Z string is a marginal of ``|ψ|²``
on its qubits (strided sums, no ``2**n`` table) and each other mask one gather and one product. The sums over the ``2**n``
amplitudes accumulate in float64 whatever the state's precision: a float32 sum drifts by about
``2**n`` ulps (1.7e-4 on ⟨Z0⟩ at 20 qubits), while each complex64 amplitude is accurate to one ulp.
"""

from __future__ import annotations

import torch
from qstore.core.plan_readout import Readout, ReadoutGroup
from qstore.torch.engine import grouped, on_device

__all__ = ["SIGN_TABLE_MAX_QUBITS", "expectations", "weighted_apply"]

SIGN_TABLE_MAX_QUBITS = 14
"""Widest register whose all-Z readout is one matmul with a ``2**n × n_terms`` sign table."""


def _partner(group: ReadoutGroup, state: torch.Tensor) -> torch.Tensor:
    return state[:, on_device(group, "partner", group.partner, state.device)]


def _z_strings(group: ReadoutGroup, probs: torch.Tensor) -> torch.Tensor:
    """``(B, n_terms)`` values of all-Z strings of float64 ``probs``: one product with the sign table
    up to `SIGN_TABLE_MAX_QUBITS`, beyond it from marginals on their qubits (no ``2**n`` table)."""
    if group.n_qubits <= SIGN_TABLE_MAX_QUBITS:
        return probs @ on_device(group, "phases", group.phases, probs.device, torch.float64)
    columns = []
    for paulis in group.paulis:
        qubits = tuple(q for q, _ in paulis)
        view, axes = grouped(probs, qubits)
        rest = [a for a in range(1, view.dim()) if a not in axes.values()]
        marginal = view.sum(dim=rest).reshape(probs.shape[0], -1)
        bits = torch.arange(marginal.shape[1], device=probs.device)
        parity = torch.zeros_like(bits)
        for j in range(len(qubits)):
            parity ^= (bits >> j) & 1
        columns.append(marginal @ (1 - 2 * parity).to(torch.float64))
    return torch.stack(columns, dim=1)


def expectations(readout: Readout, state: torch.Tensor) -> torch.Tensor:
    """``(B, n_observables)`` real expectations of a ``(B, 2**n)`` batch, in the state's real dtype."""
    columns: list[torch.Tensor] = []
    for group in readout.groups:
        if group.mask == 0:
            columns.append(_z_strings(group, (state.real**2 + state.imag**2).to(torch.float64)))
        else:
            overlap = (state.conj() * _partner(group, state)).to(torch.complex128)
            phases = on_device(group, "phases", group.phases, state.device, torch.complex128)
            columns.append((overlap @ phases).real)
    values = torch.cat(columns, dim=1)[:, on_device(readout, "order", readout.order, state.device)]
    coeffs = on_device(readout, "coeffs", readout.coeffs, state.device, torch.float64)
    return (values @ coeffs).to(state.real.dtype)


def weighted_apply(readout: Readout, state: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_o weights[:, o] · O_o |ψ>`` — the adjoint method's starting ``|λ>``."""
    real = state.real.dtype
    term_weights = weights.to(real) @ on_device(readout, "coeffs", readout.coeffs, state.device, real).T
    out = torch.zeros_like(state)
    for group in readout.groups:
        w = term_weights[:, on_device(group, "terms", group.terms, state.device)]
        phase = on_device(group, "phases", group.phases, state.device, state.dtype)
        partner = state if group.mask == 0 else _partner(group, state)
        out = out + partner * (w.to(state.dtype) @ phase.T)
    return out
