"""Monte-Carlo trajectories on the torch statevector engine, for noisy registers too large for ``ρ``.

The method and its error bar are those of `qstore.core.trajectories`: each batch row runs ``T``
pure-state trajectories (one ``(B·T, 2**n)`` batch on CPU or CUDA); at a channel every trajectory
computes its branches ``K_k|ψ>``, picks one with probability ``‖K_k ψ‖²`` and renormalises. The
gates between channels run as compiled core plans on the torch kernels (`qstore.torch.engine`), so
fusion is the plan's. The framework-neutral rules are the core's: Kraus operators per row
(`kraus_operators`), the branch choice from a seeded NumPy generator (`choose_branches`, one uniform
draw per trajectory and channel, so a seed draws the same branches as the NumPy engine) and the
error bar (`mean_and_stderr`: the density-matrix value lies within 4 standard errors ``s/√T``
except with probability about 6e-5). Memory is ``T·2**n`` amplitudes per row; no gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

import torch
from qstore.core.bindings import Batch
from qstore.core.channels import Channel
from qstore.core.circuit import Circuit
from qstore.core.observables import Observable
from qstore.core.plan import Prepare, compile_plan
from qstore.core.plan_readout import compile_readout
from qstore.core.trajectories import (
    check_trajectories,
    choose_branches,
    kraus_operators,
    mean_and_stderr,
)
from qstore.torch import readout as ro
from qstore.torch.engine import _moved, _restore, apply_step, load, matrices, real_dtype, zero_state

__all__ = ["Trajectories", "simulate"]


@attrs.frozen(eq=False)
class Trajectories:
    """``states`` ``(B, T, 2**n)``: the final pure state of every trajectory of every row."""

    states: torch.Tensor

    @property
    def count(self) -> int:
        """Trajectories per row."""
        return int(self.states.shape[1])

    def expectations(self, observables: Sequence[Observable]) -> tuple[np.ndarray, np.ndarray]:
        """``(B, n_obs)`` float64 trajectory means and their standard errors ``s/√T``."""
        b, t, dim = self.states.shape
        readout = compile_readout(tuple(observables), dim.bit_length() - 1)
        values = ro.expectations(readout, self.states.reshape(b * t, dim))
        return mean_and_stderr(values.double().cpu().numpy().reshape(b, t, -1))

    def probabilities(self) -> np.ndarray:
        """``(B, 2**n)`` float64 mean computational-basis probabilities."""
        probs = self.states.real.double() ** 2 + self.states.imag.double() ** 2
        return probs.mean(dim=1).cpu().numpy()


def simulate(
    batch: Batch,
    trajectories: int,
    rng: np.random.Generator,
    dtype: torch.dtype = torch.complex128,
    device: torch.device | str = "cpu",
) -> Trajectories:
    """Run ``trajectories`` seeded pure-state trajectories of every row of a bound batch."""
    t = check_trajectories(trajectories)
    n, b = batch.circuit.n_qubits, batch.size
    rows = np.repeat(np.arange(b), t)
    state = zero_state(n, b * t, dtype, torch.device(device))
    for segment in _segments(batch.circuit):
        if isinstance(segment, Channel):
            kraus = torch.as_tensor(kraus_operators(segment, batch)[rows], device=state.device).to(dtype)
            state = _branch(state, kraus, segment.qubits, rng)
        else:
            state = _run_gates(segment, batch, rows, state)
    return Trajectories(state.reshape(b, t, -1))


def _segments(circuit: Circuit) -> list[Circuit | Channel]:
    """The circuit as noiseless sub-circuits separated by its channels."""
    out: list[Circuit | Channel] = []
    gates: list = []
    for op in (*circuit.operations, None):
        if isinstance(op, Channel) or op is None:
            if gates:
                out.append(Circuit(circuit.n_qubits, tuple(gates)))
                gates = []
            if op is not None:
                out.append(op)
        else:
            gates.append(op)
    return out


def _run_gates(circuit: Circuit, batch: Batch, rows: np.ndarray, state: torch.Tensor) -> torch.Tensor:
    """A noiseless segment's compiled plan on every trajectory (each row's values repeated ``T`` times)."""
    plan = compile_plan(circuit)
    rdtype = real_dtype(state.dtype)
    columns = [np.broadcast_to(batch.values[s], (batch.size,))[rows] for s in plan.symbols]
    stacked = np.stack(columns, axis=1) if columns else np.zeros((rows.size, 0))
    values = torch.as_tensor(stacked, dtype=rdtype, device=state.device)
    m = matrices(plan, values, state.dtype)
    for step in plan.steps:
        if isinstance(step, Prepare):
            amps = torch.as_tensor(np.asarray(batch.vectors[step.input])[rows], device=state.device)
            state = load(state, step, plan.n_qubits, amps)
        else:
            state = apply_step(step, state, m)
    return state


def _branch(
    state: torch.Tensor, kraus: torch.Tensor, qubits: tuple[int, ...], rng: np.random.Generator
) -> torch.Tensor:
    """Apply one Kraus branch per trajectory, chosen with probability ``‖K_k ψ‖²``, and renormalise."""
    moved = _moved(state, qubits)
    branches = kraus @ moved[:, None]  # (rows, K, d, rest)
    weights = (branches.real.double() ** 2 + branches.imag.double() ** 2).sum(dim=(2, 3))
    chosen = choose_branches(weights.cpu().numpy(), rng)
    index = torch.as_tensor(chosen, device=state.device)
    picked = branches[torch.arange(state.shape[0], device=state.device), index]
    norm = weights[torch.arange(state.shape[0], device=state.device), index].sqrt().to(picked.real.dtype)
    return _restore(state, picked / norm[:, None, None], qubits)
