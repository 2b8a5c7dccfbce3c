"""Kernel solvers in torch, on CPU or CUDA with the same code: kernel ridge and a kernel SVM.

Both take precomputed kernel matrices (e.g. from `qstore.core.kernels.QuantumKernel`):

* `TorchKernelRidge`: ``(K + αI) c = y`` by Cholesky factorisation, as scikit-learn's
  ``KernelRidge(kernel="precomputed")``.
* `TorchKernelSVC`: the C-SVM dual ``min ½ αᵀQα − 1ᵀα`` s.t. ``0 ≤ α ≤ C``, ``yᵀα = 0``
  (``Q = yyᵀ ∘ K``) solved by SMO with second-order working-set selection (Fan, Chen & Lin 2005,
  the algorithm of LIBSVM, which scikit-learn's ``SVC`` wraps) and the same stopping rule; several
  classes are handled one-vs-one with voting, as ``SVC`` does.

Arrays or tensors go in; tensors on the solver's device come out.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import torch
from qstore.core.errors import ArgumentError

__all__ = ["TorchKernelRidge", "TorchKernelSVC", "kernel_ridge_solve", "svm_dual_solve"]

_TAU = 1e-12


def _device(device: str | torch.device | None, *tensors: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    for t in tensors:
        if isinstance(t, torch.Tensor):
            return t.device
    return torch.device("cpu")


def _matrix(name: str, value: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    t = torch.as_tensor(value, device=device, dtype=dtype)
    if t.ndim != 2:
        raise ArgumentError(f"{name} must be a 2-D kernel matrix, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ArgumentError(f"{name} has non-finite values (NaN or inf)")
    return t


def kernel_ridge_solve(kernel: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Dual coefficients ``c = (K + αI)⁻¹ y`` by Cholesky; ``y`` is ``(N,)`` or ``(N, T)``."""
    n = kernel.shape[0]
    a = kernel + alpha * torch.eye(n, dtype=kernel.dtype, device=kernel.device)
    factor, info = torch.linalg.cholesky_ex(a)
    if int(info) != 0:
        raise ArgumentError(
            f"K + alpha*I is not positive definite (alpha={alpha}); use a larger alpha or a PSD kernel"
        )
    rhs = y if y.ndim == 2 else y[:, None]
    coef = torch.cholesky_solve(rhs, factor)
    return coef if y.ndim == 2 else coef[:, 0]


class TorchKernelRidge:
    """Kernel ridge regression on a precomputed kernel (Cholesky), on CPU or CUDA."""

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if not alpha > 0:
            raise ArgumentError(f"alpha must be positive, got {alpha!r}")
        self.alpha = float(alpha)
        self.device = device
        self.dtype = dtype

    def fit(self, kernel: Any, y: Any) -> TorchKernelRidge:
        """Solve for the dual coefficients on the training kernel ``(N, N)``."""
        dev = _device(self.device, kernel, y)
        k = _matrix("kernel", kernel, dev, self.dtype)
        target = torch.as_tensor(y, device=dev, dtype=self.dtype)
        if k.shape[0] != k.shape[1] or target.shape[0] != k.shape[0]:
            raise ArgumentError(
                f"kernel must be (N, N) and y (N,) or (N, T); got {tuple(k.shape)}, {tuple(target.shape)}"
            )
        self.dual_coef_ = kernel_ridge_solve(k, target, self.alpha)
        return self

    def predict(self, kernel: Any) -> torch.Tensor:
        """Predictions ``K(X, X_train) c`` for a test kernel ``(M, N)``."""
        k = _matrix("kernel", kernel, self.dual_coef_.device, self.dtype)
        if k.shape[1] != self.dual_coef_.shape[0]:
            raise ArgumentError(f"test kernel needs {self.dual_coef_.shape[0]} columns, got {k.shape[1]}")
        return k @ self.dual_coef_


def svm_dual_solve(
    kernel: torch.Tensor, y: torch.Tensor, C: float, tol: float = 1e-3, max_iter: int = 1_000_000
) -> tuple[torch.Tensor, float, int]:
    """SMO on the C-SVM dual for labels ``y ∈ {−1, +1}``; returns ``(α, b, iterations)``.

    The decision function is ``Σ_i α_i y_i K(x_i, x) + b``. Stops when the maximal KKT violation
    ``max_{I_up} −y∇f − min_{I_low} −y∇f`` drops below ``tol`` (LIBSVM's rule).
    """
    n = kernel.shape[0]
    alpha = torch.zeros(n, dtype=kernel.dtype, device=kernel.device)
    grad = -torch.ones_like(alpha)
    diag = torch.diagonal(kernel)
    pos = y > 0
    inf = torch.tensor(float("inf"), dtype=kernel.dtype, device=kernel.device)
    iterations = 0
    converged = False
    while iterations < max_iter:
        iterations += 1
        score = -y * grad
        below = alpha < C
        above = alpha > 0
        up = (pos & below) | (~pos & above)
        low = (pos & above) | (~pos & below)
        i = int(torch.argmax(torch.where(up, score, -inf)))
        m = score[i]
        if m - torch.min(torch.where(low, score, inf)) < tol:
            converged = True
            break
        b = m - score
        a = torch.clamp(diag[i] + diag - 2 * kernel[i], min=_TAU)
        j = int(torch.argmin(torch.where(low & (score < m), -(b * b) / a, inf)))
        yi, yj, ai, aj, gi, gj, quad = torch.stack(
            [y[i], y[j], alpha[i], alpha[j], grad[i], grad[j], a[j]]
        ).tolist()
        new_i, new_j = _pair_update(yi, yj, ai, aj, gi, gj, quad, C)
        alpha[i], alpha[j] = new_i, new_j
        grad += y * (yi * (new_i - ai) * kernel[:, i] + yj * (new_j - aj) * kernel[:, j])
    if not converged:
        warnings.warn(
            f"SMO stopped at max_iter={max_iter} before the KKT violation fell below tol={tol}",
            RuntimeWarning,
            stacklevel=2,
        )
    return alpha, _intercept(alpha, grad, y, C), iterations


def _pair_update(
    yi: float, yj: float, ai: float, aj: float, gi: float, gj: float, quad: float, C: float
) -> tuple[float, float]:
    """LIBSVM's analytic two-variable step, clipped to the box."""
    if yi != yj:
        delta = (-gi - gj) / quad
        diff = ai - aj
        ai, aj = ai + delta, aj + delta
        if diff > 0:
            if aj < 0:
                aj, ai = 0.0, diff
        elif ai < 0:
            ai, aj = 0.0, -diff
        if diff > 0:
            if ai > C:
                ai, aj = C, C - diff
        elif aj > C:
            aj, ai = C, C + diff
    else:
        delta = (gi - gj) / quad
        total = ai + aj
        ai, aj = ai - delta, aj + delta
        if total > C:
            if ai > C:
                ai, aj = C, total - C
        elif aj < 0:
            aj, ai = 0.0, total
        if total > C:
            if aj > C:
                aj, ai = C, total - C
        elif ai < 0:
            ai, aj = 0.0, total
    return ai, aj


def _intercept(alpha: torch.Tensor, grad: torch.Tensor, y: torch.Tensor, C: float) -> float:
    """``b = −ρ``: the mean of ``−y∇f`` over free vectors, else the middle of the feasible range."""
    yg = y * grad
    free = (alpha > 0) & (alpha < C)
    if bool(free.any()):
        return -float(yg[free].mean())
    pos = y > 0
    at_upper = alpha >= C
    ub_mask = (at_upper & ~pos) | (~at_upper & pos)
    lb_mask = ~ub_mask
    ub = float(yg[ub_mask].min()) if bool(ub_mask.any()) else float("inf")
    lb = float(yg[lb_mask].max()) if bool(lb_mask.any()) else float("-inf")
    return -(ub + lb) / 2


class TorchKernelSVC:
    """C-SVM classifier on a precomputed kernel (SMO dual solver), binary or one-vs-one.

    After `fit`, ``support_`` holds the sorted training indices with a nonzero dual coefficient in
    some pair (the set of scikit-learn's ``SVC.support_``, which orders it by class); a test
    kernel's other columns are never read.
    """

    def __init__(
        self,
        C: float = 1.0,
        *,
        tol: float = 1e-3,
        max_iter: int = 1_000_000,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if not C > 0:
            raise ArgumentError(f"C must be positive, got {C!r}")
        self.C = float(C)
        self.tol = tol
        self.max_iter = max_iter
        self.device = device
        self.dtype = dtype

    def fit(self, kernel: Any, y: Any) -> TorchKernelSVC:
        """Train one binary SVM per pair of classes on the training kernel ``(N, N)``."""
        dev = _device(self.device, kernel)
        k = _matrix("kernel", kernel, dev, self.dtype)
        labels = torch.as_tensor(y, device=dev)
        if k.shape[0] != k.shape[1] or labels.shape != (k.shape[0],):
            raise ArgumentError(
                f"kernel must be (N, N) and y (N,); got {tuple(k.shape)}, {tuple(labels.shape)}"
            )
        self.classes_, encoded = torch.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise ArgumentError("y needs at least two classes")
        self.n_train_ = k.shape[0]
        self.models_: list[tuple[int, int, torch.Tensor, torch.Tensor, float]] = []
        self.n_iter_: list[int] = []
        for a, b in itertools.combinations(range(len(self.classes_)), 2):
            idx = torch.nonzero((encoded == a) | (encoded == b)).flatten()
            sign = torch.where(encoded[idx] == b, 1.0, -1.0).to(self.dtype)
            alpha, bias, its = svm_dual_solve(k[idx][:, idx], sign, self.C, self.tol, self.max_iter)
            self.models_.append((a, b, idx, alpha * sign, bias))
            self.n_iter_.append(its)
        used = torch.zeros(self.n_train_, dtype=torch.bool, device=dev)
        for _, _, idx, coef, _ in self.models_:
            used[idx[coef != 0]] = True
        self.support_ = torch.nonzero(used).flatten()
        return self

    def _pair_decisions(self, kernel: Any) -> torch.Tensor:
        k = _matrix("kernel", kernel, self.models_[0][2].device, self.dtype)
        if k.shape[1] != self.n_train_:
            raise ArgumentError(f"test kernel needs {self.n_train_} columns, got {k.shape[1]}")
        return torch.stack([k[:, idx] @ coef + bias for _, _, idx, coef, bias in self.models_], dim=1)

    def decision_function(self, kernel: Any) -> torch.Tensor:
        """``(M,)`` for two classes (positive means ``classes_[1]``), else ``(M, pairs)`` one-vs-one."""
        dec = self._pair_decisions(kernel)
        return dec[:, 0] if dec.shape[1] == 1 else dec

    def predict(self, kernel: Any) -> torch.Tensor:
        """Labels by one-vs-one voting (ties go to the lower class, as in LIBSVM)."""
        dec = self._pair_decisions(kernel)
        votes = torch.zeros(dec.shape[0], len(self.classes_), device=dec.device, dtype=torch.long)
        for col, (a, b, *_rest) in enumerate(self.models_):
            winner = torch.where(dec[:, col] > 0, b, a)
            votes.scatter_add_(1, winner[:, None], torch.ones_like(winner[:, None]))
        return self.classes_[torch.argmax(votes, dim=1)]
