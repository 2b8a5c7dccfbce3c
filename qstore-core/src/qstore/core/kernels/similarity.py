"""`FidelityIndex`: nearest training samples in quantum feature space, by fidelity ``|<φ(x)|φ(y)>|²``.

The states of the training samples are embedded as real vectors in a `VectorStore` (the FAISS
driver of qstore-storage by default), searched there for candidates, and the candidates are
re-ranked by their exact fidelity, computed in float64 from the states (which the index keeps).

Fidelity is not the real inner product of ``[Re ψ, Im ψ]`` (that is ``Re<a|b>``), so two
embeddings are offered:

* ``"density"`` (exact): the ``d² = 4**n_qubits`` real coordinates of ``ρ = |ψ><ψ|`` — the
  diagonal ``|ψ_i|²`` and ``√2 Re``, ``√2 Im`` of ``ψ_i ψ̄_j`` for ``i < j`` — whose dot product
  *is* ``Tr(ρσ) = |<a|b>|²``. Every vector has unit norm, so the store's squared L2 distance is
  ``2 − 2·fidelity`` and its nearest vectors are the most similar states: results equal brute
  force up to FAISS's float32 rounding (about 1e-6 in fidelity, which could only swap neighbours
  tied to that precision). Memory is ``4**n_qubits`` floats per sample, so it is the ``"auto"``
  choice up to 6 qubits.
* ``"state"`` (approximate): ``[Re ψ, Im ψ]`` (``2·2**n_qubits`` floats), searched with the query
  rotated by the global phases 1, i, −1, −i. Some rotation has ``Re(e^{iθ}<a|b>) ≥ cos(π/4)·|<a|b>|``,
  so states of high fidelity score high, but a true neighbour can still fall outside the
  ``candidates`` fetched per rotation: results are exact fidelities of possibly not the exact
  nearest samples. ``candidates=len(X)`` makes it exhaustive.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from qstore.core.errors import ArgumentError, CapabilityError
from qstore.core.kernels.kernel import QuantumKernel
from qstore.core.storage import VectorStore

__all__ = ["DENSITY_MAX_QUBITS", "Embedding", "FidelityIndex", "density_embedding", "state_embedding"]

Embedding = Literal["auto", "density", "state"]
DENSITY_MAX_QUBITS = 6
"""Largest register ``"auto"`` embeds exactly (4096 floats per sample)."""
_PHASES = np.exp(0.5j * np.pi * np.arange(4))
_CHUNK_BYTES = 2**26


def _step(per_row: int) -> int:
    """Rows per chunk so that one chunk's working memory stays near `_CHUNK_BYTES`."""
    return max(1, _CHUNK_BYTES // max(per_row, 1))


def density_embedding(states: np.ndarray) -> np.ndarray:
    """Real ``(N, d²)`` coordinates of ``|ψ><ψ|`` whose dot products are the fidelities."""
    n, d = states.shape
    i, j = np.triu_indices(d, 1)
    out = np.empty((n, d * d))
    step = _step(32 * d * d)
    for start in range(0, n, step):
        chunk = states[start : start + step]
        off = np.sqrt(2.0) * chunk[:, i] * chunk[:, j].conj()
        out[start : start + step] = np.concatenate([np.abs(chunk) ** 2, off.real, off.imag], axis=1)
    return out


def state_embedding(states: np.ndarray) -> np.ndarray:
    """``[Re ψ, Im ψ]``: dot products are ``Re<a|b>``, a lower bound of ``|<a|b>|``."""
    return np.concatenate([states.real, states.imag], axis=1)


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
    return value


class FidelityIndex:
    """The samples ``X`` indexed for fidelity search under ``kernel``'s feature map.

    ``vectors`` is an empty `VectorStore` to hold the embeddings (default: the ``faiss`` storage
    driver, ``get_storage("faiss", dim=...)``); ``embedding`` is ``"density"`` (exact),
    ``"state"`` (approximate) or ``"auto"`` (density up to `DENSITY_MAX_QUBITS`); ``candidates``
    is how many neighbours the store returns per query (per phase rotation with ``"state"``)
    before exact re-ranking, default ``max(4k, 32)``. The kernel's backend must give states::

        index = FidelityIndex(QuantumKernel(zz_feature_map(4)), X_train)
        rows, fidelities = index.search(X_test, k=5)
    """

    def __init__(
        self,
        kernel: QuantumKernel,
        X: Any,
        *,
        vectors: VectorStore | None = None,
        embedding: Embedding = "auto",
        candidates: int | None = None,
    ) -> None:
        if kernel.resolved_method != "statevector":
            raise CapabilityError(
                f"similarity search embeds exact states; backend {kernel.backend.name!r} with "
                f"shots={kernel.shots} gives none (use a statevector backend and shots=None)"
            )
        if embedding not in ("auto", "density", "state"):
            raise ArgumentError(f"embedding must be 'auto', 'density' or 'state', got {embedding!r}")
        if embedding == "auto":
            embedding = "density" if kernel.feature_map.n_qubits <= DENSITY_MAX_QUBITS else "state"
        self.kernel = kernel
        self.embedding: Literal["density", "state"] = embedding
        self.candidates = None if candidates is None else _positive("candidates", candidates)
        self.states = np.asarray(kernel.states(X), dtype=np.complex128)
        embed = density_embedding if embedding == "density" else state_embedding
        points = embed(self.states)
        if vectors is None:
            from qstore.core.plugins import get_storage

            vectors = get_storage("faiss", dim=points.shape[1])
        if len(vectors) != 0:
            raise ArgumentError(f"vectors must be an empty VectorStore, it holds {len(vectors)} vectors")
        vectors.add(list(range(len(points))), points)
        self.vectors = vectors

    def __len__(self) -> int:
        return len(self.states)

    def search(self, Y: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``X`` most similar to each row of ``Y`` and their fidelities, ``(m, k)`` each.

        Most similar first; fidelities are exact (float64, from the states); equal ones are
        ordered by row.
        """
        k = _positive("k", k)
        if k > len(self):
            raise ArgumentError(f"k={k} exceeds the {len(self)} indexed samples")
        query = np.asarray(self.kernel.states(Y), dtype=np.complex128)
        fetch = min(len(self), self.candidates or max(4 * k, 32))
        if self.embedding == "density":
            rows, _ = self.vectors.search(density_embedding(query), fetch)
        else:
            rotated = (query[None, :, :] * _PHASES[:, None, None]).reshape(-1, query.shape[1])
            found, _ = self.vectors.search(state_embedding(rotated), fetch)
            rows = found.reshape(len(_PHASES), len(query), fetch).transpose(1, 0, 2).reshape(len(query), -1)
        rows = np.sort(rows.astype(np.int64), axis=1)
        fidelity = np.empty(rows.shape)
        step = _step(16 * rows.shape[1] * query.shape[1])
        for start in range(0, len(query), step):
            part = slice(start, start + step)
            inner = np.einsum("md,mcd->mc", query[part].conj(), self.states[rows[part]])
            fidelity[part] = inner.real**2 + inner.imag**2
        fidelity[:, 1:][rows[:, 1:] == rows[:, :-1]] = -np.inf  # a row found under several phases
        order = np.argsort(-fidelity, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(rows, order, axis=1), np.take_along_axis(fidelity, order, axis=1)
