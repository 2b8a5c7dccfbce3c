"""Nyström low-rank approximation of a quantum kernel, with its error reported.

With ``m`` landmark samples L, ``K ≈ C W⁺ Cᵀ`` where ``C = K(X, L)`` and ``W = K(L, L)``: N·m kernel
entries instead of N². `Nystrom.transform` returns features ``Φ = C W^{-1/2}`` with ``K ≈ Φ Φᵀ``, so
a linear model on Φ stands in for a kernel machine (usable in a scikit-learn ``Pipeline``).

The error is reported two ways, neither needing the full kernel:

* ``trace``: ``tr(K − K̂) / tr(K)``, exact — ``K − K̂`` is PSD and a fidelity kernel has a unit
  diagonal, so this is the relative nuclear-norm error;
* ``frobenius_sampled``: ``‖K_S − K̂_S‖_F / ‖K_S‖_F`` on ``error_rows`` random rows S.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from qstore.core.backend import check_seed
from qstore.core.errors import ArgumentError, NotFittedError
from qstore.core.kernels.kernel import QuantumKernel

__all__ = ["Nystrom", "NystromError"]


@attrs.frozen
class NystromError:
    """How far the approximation is from the exact kernel on the fitted data."""

    n_components: int
    trace: float
    frobenius_sampled: float
    sampled_rows: int


class Nystrom:
    """Nyström features of a `QuantumKernel` from ``n_components`` landmarks drawn with ``seed``."""

    def __init__(
        self,
        kernel: QuantumKernel,
        n_components: int = 100,
        *,
        seed: int | None = 0,
        error_rows: int = 32,
        rcond: float = 1e-10,
    ) -> None:
        if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
            raise ArgumentError(f"n_components must be a positive integer, got {n_components!r}")
        self.kernel = kernel
        self.n_components = n_components
        self.seed = check_seed(seed)
        self.error_rows = error_rows
        self.rcond = rcond

    def fit(self, X: Any, y: Any = None) -> Nystrom:
        """Pick landmarks from ``X``, build ``W^{-1/2}``, and measure the error on ``X``."""
        data = self.kernel.feature_map.check_data(X, "X")
        n = data.shape[0]
        if self.n_components > n:
            raise ArgumentError(f"n_components={self.n_components} exceeds the {n} samples of X")
        rng = np.random.default_rng(self.seed)
        self.landmark_indices_ = np.sort(rng.choice(n, self.n_components, replace=False))
        self.landmarks_ = data[self.landmark_indices_]
        w = self.kernel(self.landmarks_)
        vals, vecs = np.linalg.eigh(w)
        keep = vals > self.rcond * vals.max()
        self.normalization_ = vecs[:, keep] / np.sqrt(vals[keep])
        self.rank_ = int(keep.sum())
        features = self.kernel(data, self.landmarks_) @ self.normalization_
        self.error_ = self._error(data, features, rng)
        return self

    def _error(self, data: np.ndarray, features: np.ndarray, rng: np.random.Generator) -> NystromError:
        n = data.shape[0]
        trace = float(1.0 - np.einsum("ij,ij->i", features, features).mean())
        rows = np.sort(rng.choice(n, min(self.error_rows, n), replace=False))
        exact = self.kernel(data[rows], data)
        approx = features[rows] @ features.T
        frob = float(np.linalg.norm(exact - approx) / np.linalg.norm(exact))
        return NystromError(self.n_components, max(trace, 0.0), frob, len(rows))

    def transform(self, X: Any) -> np.ndarray:
        """Features ``(N, rank)`` with ``Φ(X) Φ(Y)ᵀ ≈ K(X, Y)``."""
        if not hasattr(self, "normalization_"):
            raise NotFittedError("call fit() before transform()")
        data = self.kernel.feature_map.check_data(X, "X")
        return self.kernel(data, self.landmarks_) @ self.normalization_

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """`fit` then `transform` on the same data."""
        return self.fit(X).transform(X)

    def approximate(self, X: Any, Y: Any = None) -> np.ndarray:
        """The low-rank kernel ``Φ(X) Φ(Y)ᵀ``."""
        fx = self.transform(X)
        return fx @ (fx if Y is None else self.transform(Y)).T
