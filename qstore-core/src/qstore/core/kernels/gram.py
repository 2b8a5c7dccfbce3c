"""Fidelity Gram matrices ``K[i, j] = |<a_i|b_j>|²`` from statevectors, in bounded tiles, computed in
the framework that holds the states (NumPy arrays, or torch tensors on their device).

Each tile is two real matrix products on ``[Re a, Im a]`` (``Re<a|b>`` and ``Im<a|b>``), which BLAS
runs faster than one complex product, in the states' own precision; a symmetric kernel computes only
the tiles on and above the diagonal and mirrors them. The functions use only operations NumPy and
torch share (``concat``, ``matmul``, ``square``, ``.real``/``.imag``/``.mT``), so there is one path.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

from qstore.core.kernels.progress import Progress

__all__ = ["fidelity_gram", "gram_tiles", "tile_ranges"]


def tile_ranges(n: int, tile: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering ``range(n)`` in steps of ``tile``."""
    return [(s, min(s + tile, n)) for s in range(0, n, tile)]


def _namespace(array: Any) -> ModuleType:
    """The array library of ``array`` (its ``__array_namespace__``, else its top-level module)."""
    namespace = getattr(array, "__array_namespace__", None)
    return namespace() if namespace is not None else sys.modules[type(array).__module__.partition(".")[0]]


def _host(array: Any) -> np.ndarray:
    """A NumPy view of a tile result (copied to the host when it lives on an accelerator)."""
    return array if isinstance(array, np.ndarray) else array.cpu().numpy()


def _real_parts(xp: ModuleType, states: Any) -> tuple[Any, Any]:
    """``[Re a, Im a]`` and ``[Im a, -Re a]`` side by side, so ``<a|b>`` is two real products."""
    re, im = states.real, states.imag
    return xp.concat([re, im], 1), xp.concat([im, -re], 1)


def _fidelity_tile(xp: ModuleType, a: Any, b: Any) -> Any:
    a_parts, _ = _real_parts(xp, a)
    b_parts, b_rotated = _real_parts(xp, b)
    return xp.square(a_parts @ b_parts.mT) + xp.square(a_parts @ b_rotated.mT)


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
    tile: int = 1024,
    progress: Progress | None = None,
) -> np.ndarray:
    """``|left @ right^†|²`` as float64 NumPy ``(N, M)``; ``right=None`` means the symmetric ``K(left)``.

    ``left``/``right`` are ``(N, 2**n)`` complex NumPy arrays or torch tensors; the products run in
    their framework, device and precision. Working memory beyond the output is a few ``tile × tile``
    real blocks. The symmetric kernel is exactly symmetric with an exact unit diagonal (states are
    normalised; rounding is not allowed to show).
    """
    xp = _namespace(left)
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
            out[r0:r1, c0:c1] = _host(_fidelity_tile(xp, left[r0:r1], other[c0:c1]))
            if symmetric and i == j:
                block = out[r0:r1, r0:r1]
                lower = np.tril_indices(block.shape[0], -1)
                block[lower] = block.T[lower]  # exact symmetry: the triangles' rounding differs
            if symmetric and j > i:
                out[c0:c1, r0:r1] = out[r0:r1, c0:c1].T
            if progress is not None:
                progress.step()
    if symmetric:
        np.fill_diagonal(out, 1.0)
    return out
