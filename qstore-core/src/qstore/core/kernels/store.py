"""Kernel blocks through a `KernelStore`: pay for each kernel entry once, reuse it everywhere.

Every sample is named by a content hash, every kernel by a *space* (feature-map hash, backend,
precision, shots). A requested block ``K(X, Y)`` is looked up entry by entry; only the missing
unordered sample pairs are evaluated (overlap circuits, or statevectors of just the samples they
involve), and they are written to the store batch by batch, so a cancelled or crashed computation
keeps what it already paid for. Identical samples give exactly 1 and cost nothing.

With shots, the store keeps the first estimate of each entry whatever seed produced it: reuse
across experiments is the point of paying once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import TYPE_CHECKING

import attrs
import numpy as np

from qstore.core.kernels import overlap
from qstore.core.kernels.progress import Progress
from qstore.core.storage import KernelStore

if TYPE_CHECKING:
    from qstore.core.kernels.kernel import QuantumKernel

__all__ = ["KernelStats", "kernel_space", "plan_kernel", "sample_hashes", "stored_kernel"]

_PAIR_CHUNK = 2**16  # pairs per statevector chunk of inner products


@attrs.frozen
class KernelStats:
    """What one block cost: requested entries, distinct pairs, reused, computed, backend circuits."""

    entries: int
    unique: int
    reused: int
    computed: int
    circuits: int


def sample_hashes(data: np.ndarray) -> list[str]:
    """One content hash per row of a float64 matrix (128-bit BLAKE2b of the row's bytes)."""
    rows = np.ascontiguousarray(data, dtype=np.float64)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in rows]


def kernel_space(feature_map_hash: str, backend: str, precision: str, shots: int | None) -> str:
    """``qstore.kernelspace/1:<sha256>``: everything that fixes entry values except the samples."""
    spec = {"feature_map": feature_map_hash, "backend": backend, "precision": precision, "shots": shots}
    return "qstore.kernelspace/1:" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


@attrs.frozen
class _Block:
    """A requested block resolved against the store: distinct pairs, their values, what is missing."""

    space: str
    shape: tuple[int, int]
    names: np.ndarray
    samples: np.ndarray
    off: np.ndarray
    where: np.ndarray
    a: np.ndarray
    b: np.ndarray
    values: np.ndarray
    missing: np.ndarray


def _resolve(kernel: QuantumKernel, store: KernelStore, left: np.ndarray, right: np.ndarray | None) -> _Block:
    space = kernel_space(kernel.feature_map.hash, kernel.backend.name, kernel.precision, kernel.shots)
    n, m = len(left), len(left if right is None else right)
    hashes = sample_hashes(left) + ([] if right is None else sample_hashes(right))
    names, ids = np.unique(np.asarray(hashes), return_inverse=True)
    samples = np.empty((len(names), left.shape[1]))
    samples[ids] = left if right is None else np.concatenate([left, right])
    li, ri = ids[:n], ids[:n] if right is None else ids[n:]
    lo, hi = np.minimum.outer(li, ri), np.maximum.outer(li, ri)
    off = lo != hi
    codes, where = np.unique(lo[off].astype(np.int64) * len(names) + hi[off], return_inverse=True)
    a, b = codes // len(names), codes % len(names)
    values = store.get(space, names[a].tolist(), names[b].tolist()) if codes.size else np.empty(0)
    missing = np.flatnonzero(np.isnan(values))
    return _Block(space, (n, m), names, samples, off, where, a, b, values, missing)


def _circuits(kernel: QuantumKernel, block: _Block) -> int:
    """Backend circuits the missing pairs cost: one per pair, or one state per sample involved."""
    if kernel.resolved_method != "statevector":
        return int(block.missing.size)
    return int(np.unique(np.concatenate([block.a[block.missing], block.b[block.missing]])).size)


def _stats(kernel: QuantumKernel, block: _Block) -> KernelStats:
    unique, computed = int(block.values.size), int(block.missing.size)
    return KernelStats(
        block.shape[0] * block.shape[1], unique, unique - computed, computed, _circuits(kernel, block)
    )


def plan_kernel(
    kernel: QuantumKernel, store: KernelStore, left: np.ndarray, right: np.ndarray | None
) -> KernelStats:
    """What `stored_kernel` would cost now, without running anything (``computed`` entries to pay)."""
    return _stats(kernel, _resolve(kernel, store, left, right))


def stored_kernel(
    kernel: QuantumKernel,
    store: KernelStore,
    left: np.ndarray,
    right: np.ndarray | None,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, KernelStats]:
    """``K(left, right)`` (``right=None``: symmetric) with only the entries missing from ``store`` paid."""
    block = _resolve(kernel, store, left, right)
    stats = _stats(kernel, block)
    _fill(kernel, store, block, cancel)
    out = np.ones(block.shape)
    out[block.off] = block.values[block.where]
    return out, stats


def _fill(kernel: QuantumKernel, store: KernelStore, block: _Block, cancel: threading.Event | None) -> None:
    """Evaluate the block's missing pairs into ``block.values``, writing each batch to the store."""
    missing = block.missing
    if missing.size == 0:
        return
    a, b, names, samples = block.a[missing], block.b[missing], block.names, block.samples
    statevector = kernel.resolved_method == "statevector"
    chunk = _PAIR_CHUNK if statevector else kernel.batch_size
    starts = range(0, missing.size, chunk)
    needed = np.unique(np.concatenate([a, b])) if statevector else np.empty(0, dtype=np.int64)
    state_steps = kernel._state_batches(needed.size) if statevector else 0
    progress = Progress(state_steps + len(starts), "quantum kernel (store)", kernel.progress, cancel)
    if statevector:
        states = kernel._states(samples[needed], progress)
        row = np.empty(len(names), dtype=np.int64)
        row[needed] = np.arange(needed.size)
    else:
        overlap.check_overlap_backend(kernel.backend, kernel.shots)
        circuit = overlap.overlap_circuit(kernel.feature_map)
        seeds = np.random.SeedSequence(kernel.seed).generate_state(len(starts))
    for k, start in enumerate(starts):
        progress.check()
        pa, pb = a[start : start + chunk], b[start : start + chunk]
        if statevector:
            inner = np.einsum("ij,ij->i", states[row[pa]].conj(), states[row[pb]])
            chunk_values = (inner.real**2 + inner.imag**2).astype(np.float64)
        else:
            chunk_values = overlap.overlap_values(
                kernel.feature_map,
                kernel.backend,
                circuit,
                samples[pa],
                samples[pb],
                shots=kernel.shots,
                seed=int(seeds[k]),
            )
        store.put(block.space, names[pa].tolist(), names[pb].tolist(), chunk_values)
        block.values[missing[start : start + chunk]] = chunk_values
        progress.step()
