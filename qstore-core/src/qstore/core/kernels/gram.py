"""Fidelity Gram matrices ``K[i, j] = |<a_i|b_j>|²`` from statevectors, in bounded BLAS tiles.

Each tile is two real matrix products on ``[Re a, Im a]`` (``Re<a|b>`` and ``Im<a|b>``), which BLAS
runs faster than one complex product; a symmetric kernel computes only the tiles on and above the
diagonal and mirrors them, and its diagonal tiles' real part is a symmetric rank-k update.
"""

from __future__ import annotations

import numpy as np

from qstore.core.kernels.progress import Progress

__all__ = ["fidelity_gram", "gram_tiles", "tile_ranges"]


def tile_ranges(n: int, tile: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering ``range(n)`` in steps of ``tile``."""
    return [(s, min(s + tile, n)) for s in range(0, n, tile)]


def _real_parts(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[Re a, Im a]`` and ``[Im a, -Re a]`` side by side, so ``<a|b>`` is two real products."""
    re, im = states.real, states.imag
    return np.concatenate([re, im], axis=1), np.concatenate([im, -re], axis=1)


def _fidelity_tile(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    a_parts, _ = _real_parts(a)
    b_parts, b_rotated = _real_parts(b)
    _square_sum(a_parts @ b_parts.T, a_parts @ b_rotated.T, out)


def _symmetric_tile(a: np.ndarray, out: np.ndarray) -> None:
    parts, rotated = _real_parts(a)
    _square_sum(parts @ parts.T, parts @ rotated.T, out)
    lower = np.tril_indices(out.shape[0], -1)
    out[lower] = out.T[lower]  # exact symmetry: the two triangles' imaginary parts round differently


def _square_sum(real: np.ndarray, imag: np.ndarray, out: np.ndarray) -> None:
    """``out = real² + imag²`` (``|<a|b>|²`` from ``Re<a|b>`` and ``Im<a|b>``)."""
    np.square(real, out=real)
    np.square(imag, out=imag)
    np.add(real, imag, out=out)


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
