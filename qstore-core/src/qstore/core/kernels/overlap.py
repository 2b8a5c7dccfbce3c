"""Overlap circuits: ``K(x, y)`` as the probability of ``|0…0>`` after ``U(x)`` then ``U(y)^†``.

This is the path for backends that only sample. Each pair of samples is one binding of a single
circuit, so pairs run in large batches. With ``shots`` the estimate is ``zeros / shots``, a binomial
proportion with standard error ``sqrt(K (1 − K) / shots) ≤ 0.5 / sqrt(shots)``; by Hoeffding,
``P(|K̂ − K| > ε) ≤ 2 exp(−2 shots ε²)`` for each entry.
"""

from __future__ import annotations

import attrs
import numpy as np

from qstore.core.backend import Backend
from qstore.core.circuit import Circuit, Operation
from qstore.core.errors import CapabilityError
from qstore.core.expressions import Expr
from qstore.core.kernels.feature_maps import FeatureMap
from qstore.core.kernels.progress import Progress

__all__ = [
    "check_overlap_backend",
    "overlap_batches",
    "overlap_circuit",
    "overlap_kernel",
    "overlap_values",
]

_RIGHT = "r_"


def _renamed(circuit: Circuit, prefix: str) -> Circuit:
    ops = []
    for op in circuit.operations:
        assert isinstance(op, Operation)
        params = tuple(Expr(tuple((prefix + n, c) for n, c in p.terms), p.const) for p in op.params)
        ops.append(attrs.evolve(op, params=params))
    return Circuit(circuit.n_qubits, tuple(ops))


def overlap_circuit(feature_map: FeatureMap) -> Circuit:
    """``U(x)`` followed by ``U(y)^†``; the symbols of ``y`` carry the prefix ``r_``."""
    circuit = feature_map.circuit
    return circuit.compose(_renamed(circuit, _RIGHT).inverse())


def overlap_batches(n_left: int, n_right: int | None, batch_size: int) -> int:
    """How many backend runs `overlap_kernel` makes (for progress totals)."""
    pairs = n_left * (n_left - 1) // 2 if n_right is None else n_left * n_right
    return max(-(-pairs // batch_size), 1)


def overlap_values(
    feature_map: FeatureMap,
    backend: Backend,
    circuit: Circuit,
    a: np.ndarray,
    b: np.ndarray,
    *,
    shots: int | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """``K(a[k], b[k])`` for paired rows, in one backend run of ``len(a)`` bindings of ``circuit``.

    ``circuit`` is `overlap_circuit` of ``feature_map`` (built once by the caller).
    """
    bindings = feature_map.bindings(a)
    bindings.update({_RIGHT + n: v for n, v in feature_map.bindings(b).items()})
    if shots is None:
        result = backend.run(circuit, bindings, outputs=("probabilities",))
        assert result.probabilities is not None
        return np.asarray(result.probabilities[:, 0], dtype=np.float64)
    result = backend.run(circuit, bindings, shots=shots, seed=seed)
    assert result.samples is not None
    return np.asarray((result.samples == 0).mean(axis=1), dtype=np.float64)


def check_overlap_backend(backend: Backend, shots: int | None) -> None:
    """Exact overlaps need probabilities: a sampling-only backend must be given shots."""
    caps = backend.capabilities
    if shots is None and not caps.statevector:
        raise CapabilityError(
            f"backend {caps.name!r} only samples: exact overlap kernels need shots=<positive int>"
        )


def overlap_kernel(
    feature_map: FeatureMap,
    backend: Backend,
    left: np.ndarray,
    right: np.ndarray | None = None,
    *,
    shots: int | None = None,
    seed: int | None = None,
    batch_size: int = 4096,
    progress: Progress | None = None,
) -> np.ndarray:
    """Kernel matrix from overlap circuits; ``right=None`` runs only the pairs ``i < j``."""
    check_overlap_backend(backend, shots)
    circuit = overlap_circuit(feature_map)
    if right is None:
        rows, cols = np.triu_indices(left.shape[0], k=1)
        other = left
    else:
        rows, cols = (a.ravel() for a in np.indices((left.shape[0], right.shape[0])))
        other = right
    out = np.ones((left.shape[0], other.shape[0]))
    seeds = np.random.SeedSequence(seed).generate_state(max(-(-rows.size // batch_size), 1))
    for k, start in enumerate(range(0, rows.size, batch_size)):
        if progress is not None:
            progress.check()
        r, c = rows[start : start + batch_size], cols[start : start + batch_size]
        values = overlap_values(
            feature_map, backend, circuit, left[r], other[c], shots=shots, seed=int(seeds[k])
        )
        out[r, c] = values
        if right is None:
            out[c, r] = values
        if progress is not None:
            progress.step()
    return out
