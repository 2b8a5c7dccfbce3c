"""Fidelity Gram matrices ``K[i, j] = |<a_i|b_j>|²`` from statevectors, in bounded BLAS tiles.

One complex matrix product per tile pair; a symmetric kernel computes only the tiles on and above
the diagonal and mirrors them, and when SciPy is installed its diagonal tiles use the BLAS
Hermitian rank-k update (``zherk``/``cherk``), so ``K(X)`` costs half of ``K(X, X)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qstore.core.kernels.progress import Progress

__all__ = ["fidelity_gram", "gram_tiles", "tile_ranges"]


def tile_ranges(n: int, tile: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering ``range(n)`` in steps of ``tile``."""
    return [(s, min(s + tile, n)) for s in range(0, n, tile)]


def _fidelity_tile(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    g = a.conj() @ b.T
    np.square(g.real, out=out)
    out += np.square(g.imag)


def _herk(dtype: np.dtype) -> Any:
    try:
        from scipy.linalg import blas
    except ImportError:
        return None
    return blas.zherk if dtype == np.complex128 else blas.cherk if dtype == np.complex64 else None


def _symmetric_tile(a: np.ndarray, out: np.ndarray) -> None:
    herk = _herk(a.dtype)
    if herk is None:
        _fidelity_tile(a, a, out)
        return
    g = herk(1.0, a.T, trans=2, lower=0)
    upper = np.square(g.real)
    upper += np.square(g.imag)
    np.copyto(out, np.triu(upper))
    out += np.triu(upper, 1).T


def gram_tiles(n_left: int, n_right: int | None, tile: int) -> int:
    """How many tile products `fidelity_gram` computes (for progress totals)."""
    rows = len(tile_ranges(n_left, tile))
    if n_right is None:
        return rows * (rows + 1) // 2
    return rows * len(tile_ranges(n_right, tile))


def fidelity_gram(
    left: np.ndarray,
    right: np.ndarray | None = None,
    *,
    tile: int = 1024,
    progress: Progress | None = None,
) -> np.ndarray:
    """``|left @ right^†|²`` as float64 ``(N, M)``; ``right=None`` means the symmetric ``K(left)``.

    Working memory beyond the output is one ``tile × tile`` complex block. The symmetric kernel has
    an exact unit diagonal (states are normalised; rounding is not allowed to show).
    """
    symmetric = right is None
    other = left if right is None else right
    out = np.empty((left.shape[0], other.shape[0]), dtype=np.float64)
    rows = tile_ranges(left.shape[0], tile)
    cols = tile_ranges(other.shape[0], tile)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            if symmetric and j < i:
                continue
            if progress is not None:
                progress.check()
            if symmetric and i == j:
                _symmetric_tile(left[r0:r1], out[r0:r1, r0:r1])
            else:
                _fidelity_tile(left[r0:r1], other[c0:c1], out[r0:r1, c0:c1])
            if symmetric and j > i:
                out[c0:c1, r0:r1] = out[r0:r1, c0:c1].T
            if progress is not None:
                progress.step()
    if symmetric:
        np.fill_diagonal(out, 1.0)
    return out
