"""Adjoint differentiation over a `qstore.core.plan.Plan`: the reverse sweep every engine shares,
and the NumPy chain rule from step-matrix cotangents to angles.

The sweep starts from the final ``|ψ>`` and ``|λ> = Σ_o cotangent_o · O_o|ψ>`` and walks the steps
backwards, un-applying each to both; a trainable step's matrix ``M`` gets the cotangent
``G = 2·λ·ψ_beforeᴴ`` (so ``dL = Re Σ conj(G) ⊙ dM``, torch's convention for complex tensors).
The engine supplies the kernels (``apply_step(step, state, inverse=True)``, ``matrix_grad(step,
λ, ψ)``); torch pushes the cotangents to the symbol values by autograd, the NumPy engine by
`angle_grads`, which differentiates fused blocks back to their gates' exact Fourier rules.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from qstore.core.gate_fourier import fourier_coefficients, fourier_harmonics
from qstore.core.plan import Fused, Monomials, Permutation, Phase, Plan, Prepare, gate_matrices

__all__ = ["StepMatrices", "Sweep", "angle_grads", "gate_derivatives", "reverse_sweep"]


class StepMatrices(Protocol):
    """The batch's step matrices as an engine holds them (blocks, others, phases in plan order)."""

    @property
    def blocks(self) -> Any:
        """Fused one-qubit blocks, one matrix stack per `Fused` step."""
        ...

    @property
    def others(self) -> Any:
        """Dense and diagonal gate matrices, one per `Dense`/`Diagonal` step."""
        ...

    @property
    def phases(self) -> Any:
        """Phase factors, one per `Phase` step."""
        ...


class Sweep:
    """Result of `reverse_sweep`: cotangents of the trainable steps' matrices (by kind and index) and
    ``λ`` where each state preparation loads its input."""

    def __init__(self) -> None:
        self.blocks: dict[int, Any] = {}
        self.others: dict[int, Any] = {}
        self.phases: dict[int, Any] = {}
        self.prepared: dict[str, Any] = {}


def reverse_sweep(
    plan: Plan,
    psi: Any,
    lam: Any,
    apply_step: Callable[..., Any],
    matrix_grad: Callable[[Any, Any, Any], Any],
    start: int = 0,
) -> Sweep:
    """Walk ``plan.steps[start:]`` backwards from the final ``psi`` and ``lam`` (engine tensors)."""
    out = Sweep()
    for step in reversed(plan.steps[start:]):
        if isinstance(step, Prepare):
            out.prepared[step.input] = lam
            continue
        psi = apply_step(step, psi, inverse=True)
        if step.trainable:
            assert not isinstance(step, Permutation | Monomials)
            grads = out.blocks if isinstance(step, Fused) else out.others
            grads = out.phases if isinstance(step, Phase) else grads
            grads[step.index] = matrix_grad(step, lam, psi)
        lam = apply_step(step, lam, inverse=True)
    return out


def gate_derivatives(name: str, angles: np.ndarray) -> np.ndarray:
    """``∂U/∂θ_j`` of gate ``name`` for angles ``S + (p,)``: ``S + (p, d, d)`` by its Fourier rule."""
    coeffs, harmonics = fourier_coefficients(name), fourier_harmonics(name)
    basis = np.exp(1j * (angles @ harmonics.T))
    flat = coeffs.reshape(coeffs.shape[0], -1)
    d = coeffs.shape[-1]
    rows = [(basis * (1j * harmonics[:, j])) @ flat for j in range(harmonics.shape[1])]
    return np.stack(rows, axis=-2).reshape((*angles.shape[:-1], harmonics.shape[1], d, d))


def angle_grads(plan: Plan, angles: np.ndarray, m: StepMatrices, sweep: Sweep) -> np.ndarray:
    """``(B, n_angles)`` gradient of the swept loss with respect to the plan's angles (NumPy).

    Each angle appears in exactly one step, so every column is written by one rule.
    """
    out = np.zeros(angles.shape)
    if sweep.blocks:
        _block_grads(plan, angles, sweep.blocks, out)
    for index, g in sweep.others.items():
        name, cols, diagonal = plan.others[index]
        derivs = gate_derivatives(name, angles[:, cols])
        if diagonal:
            derivs = np.diagonal(derivs, axis1=-2, axis2=-1)
            out[:, cols] += np.einsum("bs,bjs->bj", g.conj(), derivs).real
        else:
            out[:, cols] += np.einsum("bik,bjik->bj", g.conj(), derivs).real
    n = plan.n_qubits
    for index, g in sweep.phases.items():
        d_phi = (g.conj() * 1j * m.phases[index]).real.reshape((-1,) + (2,) * n)
        for term in plan.phases[index].terms:
            others = tuple(1 + q for q in range(n) if q not in term.qubits)
            d_term = d_phi.sum(axis=others).reshape(d_phi.shape[0], -1)
            out[:, term.cols] += d_term @ term.weights.T
    return out


def _block_grads(plan: Plan, angles: np.ndarray, grads: dict[int, np.ndarray], out: np.ndarray) -> None:
    """Fused blocks -> chain products -> each gate of a chain -> its angles."""
    b = angles.shape[0]
    parts = [gate_matrices(name, angles[:, cols]) for name, cols in plan.one_qubit]
    eye = np.broadcast_to(np.eye(2, dtype=complex), (b, 1, 2, 2))
    table = np.concatenate([p.reshape(b, -1, 2, 2) for p in parts] + [eye], axis=1)
    gates = table[:, plan.chains]
    prefix = [np.broadcast_to(np.eye(2, dtype=complex), (*gates.shape[:2], 2, 2))]
    for level in range(plan.chains.shape[1]):
        prefix.append(gates[:, :, level] @ prefix[-1])
    products = prefix[-1]
    chain_grads = np.zeros(products.shape, dtype=complex)
    blocks = [s for s in plan.steps if isinstance(s, Fused)]
    for index, g in grads.items():
        step = blocks[index]
        w = step.width
        letters = string.ascii_letters
        out_bits, in_bits = letters[:w], letters[w : 2 * w]
        g_t = g.reshape((b,) + (2,) * (2 * w))
        for k, chain in enumerate(step.chains):
            others = [f"z{out_bits[o]}{in_bits[o]}" for o in range(w) if o != k]
            spec = ",".join([f"z{out_bits}{in_bits}", *others]) + f"->z{out_bits[k]}{in_bits[k]}"
            factors = [products[:, step.chains[o]].conj() for o in range(w) if o != k]
            chain_grads[:, chain] = np.einsum(spec, g_t, *factors)
    suffix = np.broadcast_to(np.eye(2, dtype=complex), chain_grads.shape).copy()
    table_grads = np.zeros(table.shape, dtype=complex)
    for level in reversed(range(plan.chains.shape[1])):
        gate_grad = _dagger(suffix) @ chain_grads @ _dagger(prefix[level])
        table_grads[:, plan.chains[:, level]] = gate_grad
        suffix = suffix @ gates[:, :, level]
    offset = 0
    for name, cols in plan.one_qubit:
        rows_grad = table_grads[:, offset : offset + len(cols)]
        offset += len(cols)
        if cols.shape[1] == 0:
            continue
        derivs = gate_derivatives(name, angles[:, cols])
        contrib = np.einsum("bmik,bmjik->bmj", rows_grad.conj(), derivs).real
        out[:, cols] += contrib


def _dagger(matrix: np.ndarray) -> np.ndarray:
    return np.conj(np.swapaxes(matrix, -1, -2))
