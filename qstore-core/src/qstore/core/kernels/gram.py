"""Fidelity Gram matrices ``K[i, j] = |<a_i|b_j>|²`` from statevectors, in bounded tiles, computed in
the framework that holds the states (NumPy arrays, or torch tensors on their device).

Each tile is real matrix products in the states' own precision, which BLAS runs faster than one
complex product: with ``v`` a state's interleaved ``[Re, Im]`` view (no copy), ``Re<a|b> = v_a · v_b``
and ``Im<a|b> = v_a · w_b`` for ``w = v(-i·b)``. A symmetric kernel computes only the tiles on and
above the diagonal and mirrors them; a diagonal tile takes half the arithmetic: ``Re = v vᵀ`` is
one ``syrk`` (NumPy's matmul calls it for ``v @ v.T``) and ``Im = X - Xᵀ`` with ``X = Re(a) Im(a)ᵀ``.
Squares and sums are taken on the host into the float64 result, reusing the products' memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qstore.core.kernels.progress import Progress

__all__ = ["fidelity_gram", "gram_tiles", "tile_ranges"]


def tile_ranges(n: int, tile: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering ``range(n)`` in steps of ``tile``."""
    return [(s, min(s + tile, n)) for s in range(0, n, tile)]


def _host(array: Any) -> np.ndarray:
    """A NumPy view of a tile result (copied to the host when it lives on an accelerator)."""
    return array if isinstance(array, np.ndarray) else array.cpu().numpy()


def _interleaved(states: Any) -> Any:
    """The ``(N, 2·d)`` real view ``[Re ψ_0, Im ψ_0, Re ψ_1, …]`` of contiguous complex rows."""
    return _contiguous(states).view(states.real.dtype)


def _contiguous(array: Any) -> Any:
    return np.ascontiguousarray(array) if isinstance(array, np.ndarray) else array.contiguous()


def _store_diagonal(out: np.ndarray, a: Any) -> None:
    """``out = |a a^†|²`` with ``Re`` exactly symmetric and ``Im = X - Xᵀ`` exactly antisymmetric.

    ``X`` first (its ``Re``/``Im`` copies die with the product), then ``Re`` squared into ``out``;
    ``Re``'s memory then holds ``Im²``: two live ``tile²`` blocks at most (fewer fresh pages to fault
    in per call, which on a loaded machine costs as much as the arithmetic).
    """
    x = _host(_contiguous(a.real) @ _contiguous(a.imag).mT)
    v = _interleaved(a)
    re = v @ v.mT
    if not isinstance(re, np.ndarray):
        re = (re + re.mT) * 0.5  # a general GEMM need not round (i, j) and (j, i) alike
    re = _host(re)
    np.square(re, out=out, dtype=np.float64)
    im = np.subtract(x, x.T, out=re)
    out += np.square(im, out=im)


def _store_cross(out: np.ndarray, a: Any, b: Any) -> None:
    """``out = |a b^†|²`` from two real products of inner size ``2·d`` (``Re``, then ``Im``)."""
    v = _interleaved(a)
    re = _host(v @ _interleaved(b).mT)
    np.square(re, out=out, dtype=np.float64)
    im = _host(v @ _interleaved(b * -1j).mT)
    out += np.square(im, out=im)


def gram_tiles(n_left: int, n_right: int | None, tile: int) -> int:
    """How many tile products `fidelity_gram` computes (for progress totals)."""
    rows = len(tile_ranges(n_left, tile))
    if n_right is None:
        return rows * (rows + 1) // 2
    return rows * len(tile_ranges(n_right, tile))


def fidelity_gram(
    left: Any,
    right: Any | None = None,
    *,
    tile: int = 512,
    progress: Progress | None = None,
) -> np.ndarray:
    """``|left @ right^†|²`` as float64 NumPy ``(N, M)``; ``right=None`` means the symmetric ``K(left)``.

    ``left``/``right`` are ``(N, 2**n)`` complex NumPy arrays or torch tensors; the products run in
    their framework, device and precision. Working memory beyond the output is a few ``tile × tile``
    real blocks. The symmetric kernel is exactly symmetric with an exact unit diagonal (states are
    normalised; rounding is not allowed to show).
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
                _store_diagonal(out[r0:r1, c0:c1], left[r0:r1])
            else:
                _store_cross(out[r0:r1, c0:c1], left[r0:r1], other[c0:c1])
            if symmetric and j > i:
                out[c0:c1, r0:r1] = out[r0:r1, c0:c1].T
            if progress is not None:
                progress.step()
    if symmetric:
        np.fill_diagonal(out, 1.0)
    return out
