"""Readout of a sharded state: Pauli expectations, the adjoint's ``O|ψ>``, and shot sampling.

The core's `qstore.core.plan_readout` tabulates phases over all ``2**n`` indices, which a sharded
register cannot afford; here each Pauli term's phase is built from this shard's bits, a term's
X/Y qubits are first made local (`make_local`), and the per-rank sums meet in one ``all_reduce``
(in float64 whatever the state's precision). Shots are drawn without gathering the state: a shared
generator assigns every shot to a rank by the ranks' total weights, each rank fills its shots from
its own shard, and one ``all_reduce`` of the disjoint slots gives every rank the same samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

import torch
from qstore.core.errors import CapabilityError
from qstore.core.observables import Observable
from qstore.core.plan_readout import basis_rotations, measurement_settings
from qstore.torch.distributed.layout import Exchange
from qstore.torch.distributed.shards import Sharded

__all__ = ["expectations", "make_local", "sample", "shot_expectations", "weighted_apply"]

Paulis = tuple[tuple[int, str], ...]
_FACTORS = {"X": (1, 1), "Y": (-1j, 1j), "Z": (1, -1)}


def make_local(sh: Sharded, qubits: Iterable[int], tensors: Sequence[torch.Tensor] | None = None) -> None:
    """Exchange so that ``qubits`` are local (one all-to-all if any is global)."""
    need = set(qubits)
    wanted = sorted(q for q in need if sh.is_global(q))
    if not wanted:
        return
    free = sorted((q for q in range(sh.n) if not sh.is_global(q) and q not in need), key=lambda q: -sh.pos[q])
    if len(free) < len(wanted):
        raise CapabilityError(
            f"reading out X/Y on qubits {sorted(need)} needs {len(need)} local qubits but each shard "
            f"holds {sh.local}; use fewer ranks or fewer X/Y qubits per observable set"
        )
    pairs = tuple(sorted((sh.pos[g], sh.pos[v]) for g, v in zip(wanted, free[: len(wanted)], strict=True)))
    sh.exchange(Exchange(pairs), tensors)


def _terms(observables: Sequence[Observable]) -> tuple[list[Paulis], np.ndarray]:
    terms: dict[Paulis, int] = {}
    for obs in observables:
        for term in obs.terms:
            terms.setdefault(term.paulis, len(terms))
    coeffs = np.zeros((len(terms), len(observables)))
    for j, obs in enumerate(observables):
        for term in obs.terms:
            coeffs[terms[term.paulis], j] += term.coeff
    return list(terms), coeffs


def _flip_qubits(terms: Sequence[Paulis]) -> set[int]:
    return {q for paulis in terms for q, p in paulis if p in "XY"}


def _phase(sh: Sharded, paulis: Paulis) -> tuple[torch.Tensor | complex, torch.Tensor | None]:
    """``phase_P(i)`` on this shard and the local partner index ``i ⊕ mask`` (None when diagonal)."""
    phase: torch.Tensor | complex = 1.0
    mask = 0
    for q, p in paulis:
        low, high = _FACTORS[p]
        bit = sh.bits(q)
        phase = phase * ((high if bit else low) if isinstance(bit, int) else torch.where(bit == 1, high, low))
        if p in "XY":
            mask |= 1 << (sh.local - 1 - sh.axis(q))
    partner = None if mask == 0 else torch.arange(2**sh.local, device=sh.tensor.device) ^ mask
    return phase, partner


def _diagonal_values(sh: Sharded, terms: Sequence[Paulis]) -> torch.Tensor:
    """``(B, len(terms))`` float64 sums of ``|ψ|²·(±1)`` of Z-only terms on this shard.

    Works block by block (`Sharded.blocks`): each term is a marginal of the block's probabilities
    times a parity sign, so no index tables or shard-sized temporaries are needed.
    """
    state = sh.tensor
    b = state.shape[0]
    out = torch.zeros(b, len(terms), dtype=torch.float64, device=state.device)
    for block in sh.blocks(state, ()):
        probs = (block.view.real**2 + block.view.imag**2).to(torch.float64)
        for t, paulis in enumerate(terms):
            sign, dims = 1.0, []
            for q, _ in paulis:
                if sh.is_global(q) or sh.axis(q) in block.fixed:
                    bit = sh.rank_bit(q) if sh.is_global(q) else block.fixed[sh.axis(q)]
                    sign = -sign if bit else sign
                else:
                    dims.append(1 + block.axis[sh.axis(q)])
            others = [d for d in range(1, probs.dim()) if d not in dims]
            marginal = (probs.sum(dim=others) if others else probs).reshape(b, -1)
            parity = torch.ones(1, dtype=torch.float64, device=state.device)
            for _ in dims:
                parity = torch.cat([parity, -parity])
            out[:, t] += sign * (marginal * parity).sum(dim=1)
    return out


def expectations(sh: Sharded, observables: Sequence[Observable]) -> np.ndarray:
    """``(B, n_obs)`` exact expectations, identical on every rank."""
    terms, coeffs = _terms(observables)
    make_local(sh, _flip_qubits(terms))
    state = sh.tensor
    values = torch.zeros(state.shape[0], len(terms), dtype=torch.complex128, device=state.device)
    diagonal = [t for t, paulis in enumerate(terms) if not _flip_qubits([paulis])]
    if diagonal:
        values[:, diagonal] = _diagonal_values(sh, [terms[t] for t in diagonal]).to(torch.complex128)
    for t, paulis in enumerate(terms):
        if t not in diagonal:
            phase, partner = _phase(sh, paulis)
            values[:, t] = ((state.conj() * state[:, partner]).to(torch.complex128) * phase).sum(dim=1)
    sh.comm.all_reduce(values)
    return values.real.cpu().numpy() @ coeffs


def weighted_apply(sh: Sharded, observables: Sequence[Observable], weights: np.ndarray) -> torch.Tensor:
    """``Σ_o weights[:, o] · O_o |ψ>`` on this shard (the adjoint's ``|λ>``); X/Y qubits made local."""
    terms, coeffs = _terms(observables)
    make_local(sh, _flip_qubits(terms))
    state = sh.tensor
    term_weights = torch.as_tensor(weights @ coeffs.T, device=state.device).to(state.dtype)
    out = torch.zeros_like(state)
    for t, paulis in enumerate(terms):
        phase, partner = _phase(sh, paulis)
        source = state if partner is None else state[:, partner]
        out += term_weights[:, t : t + 1] * (source * phase)
    return out


def _seeds(sh: Sharded, seed: int | None) -> tuple[int, int]:
    """A seed shared by all ranks and one for this rank, from ``seed`` (rank 0 draws one if None)."""
    if seed is None:
        drawn = torch.randint(0, 2**62, (1,), dtype=torch.int64, device=sh.tensor.device)
        if sh.comm.rank != 0:
            drawn.zero_()
        seed = int(sh.comm.all_reduce(drawn).item())
    children = np.random.SeedSequence(seed).spawn(sh.comm.world + 1)
    shared, own = children[0], children[sh.comm.rank + 1]
    return int(shared.generate_state(1)[0]), int(own.generate_state(1)[0])


def sample(sh: Sharded, shots: int, seed: int | None, tensor: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, shots)`` basis indices (qubit 0 most significant) drawn from the sharded states."""
    state = sh.tensor if tensor is None else tensor
    probs = (state.real**2 + state.imag**2).to(torch.float64)
    weights = sh.comm.all_gather(probs.sum(dim=1)).T.cpu()
    shared_seed, own_seed = _seeds(sh, seed)
    shared = torch.Generator().manual_seed(shared_seed)
    owner = torch.multinomial(weights, shots, replacement=True, generator=shared).to(state.device)
    mine = owner == sh.comm.rank
    out = torch.zeros(state.shape[0], shots, dtype=torch.int64, device=state.device)
    own = torch.Generator(device=state.device).manual_seed(own_seed)
    cdf = torch.cumsum(probs, dim=1)
    for b in range(state.shape[0]):
        count = int(mine[b].sum())
        if count:
            u = torch.rand(count, dtype=torch.float64, generator=own, device=state.device) * cdf[b, -1]
            index = torch.searchsorted(cdf[b], u).clamp_(max=probs.shape[1] - 1)
            out[b, mine[b]] = sh.canonical(index)
    return sh.comm.all_reduce(out)


def shot_expectations(
    sh: Sharded, observables: Sequence[Observable], shots: int, seed: int | None
) -> np.ndarray:
    """``(B, n_obs)`` estimates from ``shots`` measurements per qubit-wise-commuting setting."""
    terms, coeffs = _terms(observables)
    measured = [paulis for paulis in terms if paulis]
    estimates = np.zeros((sh.tensor.shape[0], len(terms)))
    for i, (setting, members) in enumerate(measurement_settings(measured)):
        rotated = sh.copy()
        rotations = basis_rotations(setting)
        make_local(rotated, [q for q, _ in rotations])
        for q, rotation in rotations:
            r = torch.as_tensor(rotation, dtype=rotated.tensor.dtype, device=rotated.tensor.device)
            rotated.tensor = rotated.apply(r, (q,))
        draws = sample(rotated, shots, None if seed is None else seed + i).cpu().numpy()
        for t in members:
            parity = np.zeros_like(draws)
            for q, _ in measured[t]:
                parity ^= (draws >> (sh.n - 1 - q)) & 1
            estimates[:, terms.index(measured[t])] = (1 - 2 * parity).mean(axis=1)
    for t, paulis in enumerate(terms):
        if not paulis:
            estimates[:, t] = 1.0
    return estimates @ coeffs
