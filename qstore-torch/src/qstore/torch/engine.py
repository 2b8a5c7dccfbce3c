"""The torch statevector engine: run a compiled `Plan` on a batch, read it out, sample it.

States are ``(B, 2**n)`` complex tensors (complex64 or complex128) on any device, batch first,
qubit 0 the most significant bit — the layout of `qstore.core.statevector`. Everything here is
differentiable by autograd; `qstore.torch.adjoint` adds the memory-lean adjoint gradient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

import torch
from qstore.core.gates import GATES
from qstore.core.observables import Observable
from qstore.torch.plan import Plan, Prepare

__all__ = ["sample", "shot_expectations", "simulate", "zero_state"]


def zero_state(n_qubits: int, batch_size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``|0…0>`` for every row of the batch."""
    state = torch.zeros(batch_size, 2**n_qubits, dtype=dtype, device=device)
    state[:, 0] = 1
    return state


def simulate(
    plan: Plan, values: torch.Tensor, vectors: Mapping[str, torch.Tensor], dtype: torch.dtype
) -> torch.Tensor:
    """Final ``(B, 2**n)`` states for symbol ``values`` ``(B, S)`` and state-preparation ``vectors``."""
    matrices = plan.matrices(values, dtype)
    state = zero_state(plan.n_qubits, values.shape[0], dtype, values.device)
    for step in plan.steps:
        if isinstance(step, Prepare):
            state = step.load(state, vectors[step.input])
        else:
            state = step.apply(state, matrices)
    return state


def sample(probs: torch.Tensor, shots: int, generator: torch.Generator) -> torch.Tensor:
    """``(B, shots)`` basis-state indices drawn from each row of ``probs``."""
    return torch.multinomial(probs, shots, replacement=True, generator=generator)


def _basis_change(state: torch.Tensor, n_qubits: int, setting: Mapping[int, str]) -> torch.Tensor:
    """Rotate X/Y-measured qubits so a computational-basis measurement reads them (H, H·S†)."""
    h = torch.tensor(GATES["h"].matrix(), dtype=state.dtype, device=state.device)
    hsdg = h @ torch.tensor(GATES["sdg"].matrix(), dtype=state.dtype, device=state.device)
    b = state.shape[0]
    for q, p in setting.items():
        if p in "XY":
            view = state.view(b, 2**q, 2, -1)
            state = torch.einsum("ij,bajc->baic", h if p == "X" else hsdg, view).reshape(b, -1)
    return state


def _settings(terms: Sequence[tuple[tuple[int, str], ...]]) -> list[tuple[dict[int, str], list[int]]]:
    """Greedy qubit-wise-commuting grouping: each group of terms is measured in one setting."""
    groups: list[tuple[dict[int, str], list[int]]] = []
    for t, paulis in enumerate(terms):
        for setting, members in groups:
            if all(setting.get(q, p) == p for q, p in paulis):
                setting.update(paulis)
                members.append(t)
                break
        else:
            groups.append((dict(paulis), [t]))
    return groups


def shot_expectations(
    state: torch.Tensor,
    n_qubits: int,
    observables: Sequence[Observable],
    shots: int,
    generator: torch.Generator,
) -> np.ndarray:
    """``(B, n_obs)`` expectation estimates from ``shots`` measurements per basis setting."""
    terms = list(dict.fromkeys(t.paulis for obs in observables for t in obs.terms if t.paulis))
    estimates = torch.zeros(state.shape[0], len(terms), dtype=torch.float64, device=state.device)
    for setting, members in _settings(terms):
        rotated = _basis_change(state, n_qubits, setting)
        draws = sample(rotated.real**2 + rotated.imag**2, shots, generator)
        for t in members:
            parity = torch.zeros_like(draws)
            for q, _ in terms[t]:
                parity ^= (draws >> (n_qubits - 1 - q)) & 1
            estimates[:, t] = (1 - 2 * parity).to(torch.float64).mean(dim=1)
    values = estimates.cpu().numpy()
    index = {paulis: t for t, paulis in enumerate(terms)}
    out = np.zeros((state.shape[0], len(observables)))
    for j, obs in enumerate(observables):
        for term in obs.terms:
            out[:, j] += term.coeff * (values[:, index[term.paulis]] if term.paulis else 1.0)
    return out
