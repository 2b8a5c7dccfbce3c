"""Monte-Carlo trajectories: noisy circuits on statevectors, for registers too large for ``ρ``.

Each batch row is simulated as ``T`` pure-state trajectories at once (a ``(B·T, 2, …, 2)`` batch).
At a channel with Kraus operators ``K_k`` every trajectory computes the branches ``K_k|ψ>``, picks
branch ``k`` with probability ``p_k = ‖K_k|ψ>‖²`` from the seeded generator, and continues with
``K_k|ψ>/√p_k``. Averaged over trajectories this is exactly the density-matrix evolution, so

* an expectation is the trajectory mean, with standard error ``s/√T`` (``s`` the sample standard
  deviation over trajectories) reported per row and observable: the density-matrix value lies
  within 4 standard errors except with probability about 6e-5 (the normal tail);
* probabilities are the trajectory mean of ``|ψ|²``, and shots are drawn from those.

Memory is ``T·2**n`` amplitudes per row instead of ``4**n``. Trajectories are stochastic, so they
have no exact gradient: differentiate noisy circuits on the density-matrix engine.

The framework-neutral rules — the Kraus operators per row (`kraus_operators`), the seeded choice of
branches from their weights (`choose_branches`) and the error bar (`mean_and_stderr`) — are shared
with the torch engine (`qstore.torch.trajectories`), which therefore draws the same branches as this
one for the same seed.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing

from qstore.core import statevector as sv
from qstore.core.bindings import Batch
from qstore.core.channels import KRAUS, Channel, channel_spec, check_strengths
from qstore.core.errors import CapabilityError

__all__ = [
    "DEFAULT_TRAJECTORIES",
    "Trajectories",
    "check_trajectories",
    "choose_branches",
    "kraus_operators",
    "mean_and_stderr",
    "simulate",
]

DEFAULT_TRAJECTORIES = 1000
MAX_TRAJECTORIES = 10**7


def check_trajectories(value: object) -> int:
    """A trajectory count: an integer from 2 (a standard error needs two) to `MAX_TRAJECTORIES`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not 2 <= value <= MAX_TRAJECTORIES
    ):
        raise CapabilityError(
            f"trajectories must be an integer from 2 to {MAX_TRAJECTORIES:.0e}, got {value!r}"
        )
    return int(value)


@attrs.frozen(eq=False)
class Trajectories:
    """``states`` ``(B, T, 2, …, 2)``: the final pure state of every trajectory of every row."""

    states: np.ndarray

    @property
    def count(self) -> int:
        """Trajectories per row."""
        return int(self.states.shape[1])

    def expectations(self, observables: tuple) -> tuple[np.ndarray, np.ndarray]:
        """``(B, n_obs)`` trajectory means and their standard errors ``s/√T``."""
        b, t = self.states.shape[:2]
        flat = self.states.reshape((b * t, *self.states.shape[2:]))
        return mean_and_stderr(sv.expectations(flat, observables).reshape(b, t, -1))

    def probabilities(self) -> np.ndarray:
        """``(B, 2**n)`` mean computational-basis probabilities."""
        b, t = self.states.shape[:2]
        return (
            sv.probabilities(self.states.reshape((b * t, *self.states.shape[2:]))).reshape(b, t, -1).mean(1)
        )


def mean_and_stderr(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(B, T, n_obs)`` per-trajectory values to ``(B, n_obs)`` means and standard errors ``s/√T``."""
    t = values.shape[1]
    return values.mean(axis=1), values.std(axis=1, ddof=1) / np.sqrt(t)


def simulate(
    batch: Batch, trajectories: int, rng: np.random.Generator, dtype: np.typing.DTypeLike = np.complex128
) -> Trajectories:
    """Run ``trajectories`` seeded pure-state trajectories of every row of a bound batch."""
    t = check_trajectories(trajectories)
    n, b = batch.circuit.n_qubits, batch.size
    sv.check_memory(n, b * t, dtype)
    rows = np.repeat(np.arange(b), t)
    state = sv.zero_state(n, b * t, dtype)
    for op in batch.circuit.operations:
        if isinstance(op, Channel):
            state = _branch(state, kraus_operators(op, batch)[rows], op.qubits, rng)
        else:
            state = sv.apply_operation(state, op, _repeated(batch, rows))
    return Trajectories(state.reshape((b, t, *state.shape[1:])))


def _repeated(batch: Batch, rows: np.ndarray) -> Batch:
    """The batch with every row repeated once per trajectory."""
    values = {name: v[rows] for name, v in batch.values.items()}
    vectors = {name: v[rows] for name, v in batch.vectors.items()}
    return Batch(batch.circuit, rows.size, values, vectors)


def kraus_operators(op: Channel, batch: Batch) -> np.ndarray:
    """``(B, K, d, d)`` Kraus operators of a channel for every row (strengths checked in [0, 1])."""
    if op.gate == KRAUS:
        return np.broadcast_to(op.matrices(), (batch.size, *op.matrices().shape))
    strengths = check_strengths(op, np.asarray(batch.angles(op)[0], dtype=float))
    spec = channel_spec(op.gate)
    return np.stack([np.stack(spec.kraus(float(p))) for p in strengths])


def _branch(
    state: np.ndarray, kraus: np.ndarray, qubits: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Apply one Kraus branch per trajectory, chosen with probability ``‖K_k ψ‖²``, and renormalise."""
    rows = state.shape[0]
    branches = np.stack([sv.apply_matrix(state, kraus[:, k], qubits) for k in range(kraus.shape[1])], axis=1)
    weights = (np.abs(branches.reshape(rows, kraus.shape[1], -1)) ** 2).sum(axis=2)
    chosen = choose_branches(weights, rng)
    picked = branches[np.arange(rows), chosen]
    norm = np.sqrt(weights[np.arange(rows), chosen]).reshape((rows,) + (1,) * (state.ndim - 1))
    return picked / norm


def choose_branches(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(rows,)`` branch indices, row ``r`` choosing ``k`` with probability ``weights[r, k] / Σ_k``.

    One uniform draw per row from ``rng`` (inverse CDF), so engines sharing a seed share the choice.
    """
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64), axis=1)
    draw = rng.random(cdf.shape[0]) * cdf[:, -1]
    return np.minimum((cdf <= draw[:, None]).sum(axis=1), cdf.shape[1] - 1)
