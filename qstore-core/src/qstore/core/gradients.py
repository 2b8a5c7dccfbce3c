"""Gradient methods every backend gets from `Backend.gradient`: parameter shift, finite differences, SPSA.

All three are vector–Jacobian products over symbols, ``{symbol: (B,)}``, built from ordinary
batched `Backend.execute` requests — so they work on any backend, and a batch of shifted circuits
is one request (one job on hardware). Native methods (adjoint, backprop) live in the engines.

* ``parameter-shift``: exact (up to shot noise) from each gate's own shift rule — two terms for
  rotations, four for controlled rotations — and the chain rule through linear angle expressions.
* ``finite-diff``: central differences on each symbol; the step suits the backend's precision
  (`finite_diff_step`: about ``eps**(1/3)``, so 5e-3 in single and 6e-6 in double precision),
  and is 0.1 with shots, where noise, not rounding, dominates.
* ``spsa``: simultaneous perturbation along random ±1 directions (seeded); cheap, noisy, unbiased
  to O(c²).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np

from qstore.core.bindings import Batch
from qstore.core.channels import Channel
from qstore.core.circuit import Circuit, Operation
from qstore.core.errors import GradientError
from qstore.core.expressions import Expr
from qstore.core.gates import ShiftRule

if TYPE_CHECKING:
    from qstore.core.backend import Backend, Request

__all__ = ["check_cotangent", "check_wrt", "finite_diff_step", "generic_vjp"]

_SHIFT = "_qstore_shift_"
_SHOT_STEP = 0.1
_ROW_BUDGET_AMPLITUDES = 2**24


def check_cotangent(cotangent: np.ndarray, batch_size: int, n_observables: int) -> np.ndarray:
    """Validate a cotangent as ``(B, n_observables)`` real numbers."""
    cot = np.asarray(cotangent, dtype=float)
    if cot.shape != (batch_size, n_observables):
        raise GradientError(f"cotangent must have shape ({batch_size}, {n_observables}), got {cot.shape}")
    return cot


def check_wrt(circuit: Circuit, wrt: Sequence[str] | None) -> tuple[str, ...]:
    """The symbols to differentiate: all of the circuit's by default; unknown names are errors."""
    if wrt is None:
        return circuit.symbols
    names = tuple(wrt)
    unknown = sorted(set(names) - set(circuit.symbols))
    if unknown:
        raise GradientError(
            f"cannot differentiate with respect to {unknown}: not symbols of the circuit {list(circuit.symbols)}"
        )
    return names


def finite_diff_step(precision: str, shots: int | None) -> float:
    """Central-difference step balancing truncation (``h²``) against rounding (``eps/h``) error."""
    if shots is not None:
        return _SHOT_STEP
    eps = np.finfo(np.float32 if precision == "single" else np.float64).eps
    return float(np.cbrt(eps))


def generic_vjp(
    backend: Backend,
    method: str,
    request: Request,
    cotangent: np.ndarray,
    wrt: tuple[str, ...],
    *,
    h: float | None = None,
    spsa_c: float = 0.05,
    spsa_samples: int = 1,
) -> dict[str, np.ndarray]:
    """Dispatch to one of the execute-based gradient methods."""
    if method == "parameter-shift":
        return parameter_shift_vjp(backend, request, cotangent, wrt)
    if method == "finite-diff":
        step = h if h is not None else finite_diff_step(backend.capabilities.precision, request.shots)
        return finite_diff_vjp(backend, request, cotangent, wrt, h=step)
    if method == "spsa":
        return spsa_vjp(backend, request, cotangent, wrt, c=spsa_c, samples=spsa_samples)
    raise GradientError(
        f"unknown generic gradient method {method!r}; choose from parameter-shift, finite-diff, spsa"
    )


def _run_rows(
    backend: Backend,
    request: Request,
    circuit: Circuit,
    rows: dict[str, np.ndarray],
    seed: int | None,
) -> np.ndarray:
    """Execute ``circuit`` on the request's batch tiled to ``len(rows[...])`` rows: ``(rows, n_obs)``."""
    batch = request.batch
    n_rows = len(next(iter(rows.values())))
    reps = n_rows // batch.size
    values = {
        name: rows[name] if name in rows else np.tile(batch.values[name], reps) for name in circuit.symbols
    }
    vectors = {name: np.tile(vec, (reps, 1)) for name, vec in batch.vectors.items()}
    tiled = attrs.evolve(request, batch=Batch(circuit, n_rows, values, vectors), seed=seed)
    tiled = attrs.evolve(tiled, outputs=frozenset({"expectations"}))
    result = backend.execute(tiled)
    if result.expectations is None:
        raise GradientError(f"backend {backend.name!r} returned no expectations for a gradient request")
    return result.expectations


def _chunks(n_items: int, rows_each: int, batch: Batch) -> list[range]:
    per_row = 2**batch.circuit.n_qubits
    limit = max(1, _ROW_BUDGET_AMPLITUDES // (per_row * rows_each * batch.size))
    return [range(i, min(i + limit, n_items)) for i in range(0, n_items, limit)]


def parameter_shift_vjp(
    backend: Backend, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Exact gradients from each gate angle's shift rule, batched into few requests."""
    batch, seed = request.batch, request.seed
    wanted = set(wrt)
    sites: list[tuple[int, int]] = []
    rules: list[ShiftRule] = []
    for i, op in enumerate(batch.circuit.operations):
        if isinstance(op, Channel) and op.symbols & wanted:
            raise GradientError(
                f"channel {op.gate!r} strength {sorted(op.symbols & wanted)} has no parameter-shift rule; "
                "use method='finite-diff', or 'adjoint'/'backprop' on an engine with noise support"
            )
        if not isinstance(op, Operation):
            continue
        for j, expr in enumerate(op.params):
            if expr.symbols & wanted:
                if not op.spec.params:
                    raise GradientError(f"gate {op.gate!r} declares no shift rule")
                sites.append((i, j))
                rules.append(op.spec.params[j].shift_rule)
    grads = {name: np.zeros(batch.size) for name in wrt}
    if not sites:
        return grads
    ops = list(batch.circuit.operations)
    for k, (i, j) in enumerate(sites):
        op = ops[i]
        assert isinstance(op, Operation)
        params = list(op.params)
        params[j] = params[j] + Expr.symbol(f"{_SHIFT}{k}")
        ops[i] = Operation(op.gate, op.qubits, params)
    shifted = Circuit(batch.circuit.n_qubits, tuple(ops))
    for call, chunk in enumerate(_chunks(len(sites), max(len(r.shifts) for r in rules), batch)):
        plan = [(k, s, c) for k in chunk for s, c in zip(rules[k].shifts, rules[k].coeffs, strict=True)]
        n_rows = len(plan) * batch.size
        rows = {f"{_SHIFT}{k}": np.zeros(n_rows) for k in range(len(sites))}
        for r, (k, s, _) in enumerate(plan):
            rows[f"{_SHIFT}{k}"][r * batch.size : (r + 1) * batch.size] = s
        run_seed = None if seed is None else seed + call
        values = _run_rows(backend, request, shifted, rows, run_seed).reshape(len(plan), batch.size, -1)
        for r, (k, _, c) in enumerate(plan):
            i, j = sites[k]
            expr = batch.circuit.operations[i].params[j]
            contribution = c * np.einsum("bo,bo->b", cotangent, values[r])
            for name in expr.symbols & wanted:
                grads[name] += expr.coefficient(name) * contribution
    return grads


def _directional_differences(
    backend: Backend,
    request: Request,
    cotangent: np.ndarray,
    names: list[str],
    directions: np.ndarray,
    step: float,
    seed: int | None,
) -> np.ndarray:
    """``(f(s + step·d) − f(s − step·d)) / 2·step`` for each direction ``d``, in one batched request.

    ``directions`` is ``(m, len(names), B)``; ``f = Σ_o cotangent·E``; returns ``(m, B)``.
    """
    batch = request.batch
    m, b = directions.shape[0], batch.size
    rows = {name: np.tile(batch.values[name], 2 * m) for name in batch.circuit.symbols}
    for k, name in enumerate(names):
        shift = (step * directions[:, k, :])[:, None, :] * np.array([1.0, -1.0])[None, :, None]
        rows[name] = rows[name] + shift.reshape(-1)
    values = _run_rows(backend, request, batch.circuit, rows, seed)
    f = np.einsum("rbo,bo->rb", values.reshape(2 * m, b, -1), cotangent)
    return (f[0::2] - f[1::2]) / (2 * step)


def finite_diff_vjp(
    backend: Backend, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...], *, h: float
) -> dict[str, np.ndarray]:
    """Central differences ``(f(s + h) - f(s - h)) / 2h`` on every symbol, in one batched request."""
    names = list(wrt)
    if not names:
        return {}
    size = request.size
    unit = np.broadcast_to(np.eye(len(names))[:, :, None], (len(names), len(names), size))
    diff = _directional_differences(backend, request, cotangent, names, unit, h, request.seed)
    return {name: diff[k] for k, name in enumerate(names)}


def spsa_vjp(
    backend: Backend,
    request: Request,
    cotangent: np.ndarray,
    wrt: tuple[str, ...],
    *,
    c: float,
    samples: int,
) -> dict[str, np.ndarray]:
    """SPSA: perturb all symbols at once along seeded random ±1 directions, ``2·samples`` rows."""
    names = list(wrt)
    if not names:
        return {}
    seed = request.seed
    rng = np.random.default_rng(seed)
    delta = rng.choice([-1.0, 1.0], size=(samples, len(names), request.size))
    run_seed = None if seed is None else seed + 1
    diff = _directional_differences(backend, request, cotangent, names, delta, c, run_seed)
    return {name: (diff * delta[:, k]).mean(axis=0) for k, name in enumerate(names)}
