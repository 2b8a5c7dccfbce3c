"""`QSVC` and `QKernelRidge`: scikit-learn estimators on quantum kernels (needs scikit-learn).

Every constructor argument is a plain hyper-parameter, so both work with ``GridSearchCV``,
``Pipeline`` and ``clone``. The feature map is built at ``fit`` time for the data's width, and
``scale`` multiplies the data first (the kernel's bandwidth). Pass a `SharedCache` as ``cache`` to
reuse training kernels across a grid search of ``C`` or ``alpha`` (``clone`` deep-copies other
stores, so each clone would get its own)::

    search = GridSearchCV(QSVC(cache=SharedCache()), {"C": [0.1, 1, 10], "scale": [0.5, 1]})

`QSVC` keeps its support vectors (the training rows with a nonzero dual coefficient): predictions
evaluate ``K(X, X_sv)`` only, |SV| columns instead of one per training row, which is what matters
when every entry is a paid circuit. The other columns of the test kernel handed to the solver are
zeros that it never reads (they multiply zero dual coefficients).

``device="cpu"``/``"cuda"`` trains with the torch solvers of qstore-torch (`TorchKernelSVC`,
`TorchKernelRidge`) instead of scikit-learn; ``device=None`` (the default) uses scikit-learn. Kernel
ridge agrees with scikit-learn to rounding (about 1e-10). The SVM solver is LIBSVM's algorithm with
its stopping rule, so dual coefficients and decision values agree with ``SVC`` to about ``tol``
(1e-3 by default; tested at 1e-6 on CPU to 1e-4) and predictions agree except for test points
within that distance of the boundary. Tested on CPU only here; CUDA runs the same code, untested.
``class_weight`` is scikit-learn only.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.kernel_ridge import KernelRidge
from sklearn.svm import SVC
from sklearn.utils.multiclass import _ovr_decision_function, check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from qstore.core.errors import ArgumentError, MissingDependencyError
from qstore.core.kernels.feature_maps import (
    FeatureMap,
    angle_feature_map,
    reuploading_feature_map,
    zz_feature_map,
)
from qstore.core.kernels.kernel import QuantumKernel

__all__ = ["QSVC", "QKernelRidge"]

_MAPS = ("zz", "angle", "reuploading")


def _torch_solvers(device: str) -> ModuleType:
    """``qstore.torch.kernels``, imported on first use of a ``device`` (qstore-core never needs it)."""
    try:
        return importlib.import_module("qstore.torch.kernels")
    except ImportError as exc:
        raise MissingDependencyError(
            f"device={device!r} trains with the torch solvers of qstore-torch, which cannot be imported "
            f"({exc}); install it with: pip install qstore-torch, or use device=None for scikit-learn"
        ) from exc


def _host(value: Any) -> np.ndarray:
    """A torch result as a NumPy array on the host."""
    return value.detach().cpu().numpy()


class _QuantumKernelMixin:
    """Builds the `QuantumKernel` from the estimator's hyper-parameters."""

    feature_map: str | FeatureMap
    reps: int
    entanglement: str
    scale: float
    backend: Any
    shots: int | None
    seed: int | None
    precision: str
    cache: Any
    device: str | None

    def _solvers(self) -> ModuleType:
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ArgumentError(f"device must be None, 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        return _torch_solvers(str(self.device))

    def _build_kernel(self, n_features: int) -> QuantumKernel:
        fm = self.feature_map
        if isinstance(fm, FeatureMap):
            if fm.n_features != n_features:
                raise ArgumentError(f"feature_map takes {fm.n_features} features, X has {n_features}")
        elif fm == "zz":
            fm = zz_feature_map(n_features, self.reps, self.entanglement)  # type: ignore[arg-type]
        elif fm == "angle":
            fm = angle_feature_map(n_features)
        elif fm == "reuploading":
            fm = reuploading_feature_map(n_features, self.reps)
        else:
            raise ArgumentError(f"feature_map must be a FeatureMap or one of {_MAPS}, got {fm!r}")
        return QuantumKernel(
            fm,
            self.backend,
            shots=self.shots,
            seed=self.seed,
            precision=self.precision,  # type: ignore[arg-type]
            cache=self.cache,
            progress=False,
        )

    def _kernel(self, X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
        scaled = X * self.scale
        return self.kernel_(scaled, None if Y is None else Y * self.scale)  # type: ignore[attr-defined]


class QSVC(_QuantumKernelMixin, ClassifierMixin, BaseEstimator):
    """Support-vector classifier on a quantum fidelity kernel (scikit-learn's `SVC`, precomputed).

    After `fit`: ``support_`` (training indices) and ``support_vectors_`` (their rows), the only
    samples predictions are compared with. ``device`` selects the torch solver (see the module).
    """

    def __init__(
        self,
        C: float = 1.0,
        *,
        feature_map: str | FeatureMap = "zz",
        reps: int = 2,
        entanglement: str = "linear",
        scale: float = 1.0,
        class_weight: Any = None,
        tol: float = 1e-3,
        backend: Any = None,
        shots: int | None = None,
        seed: int | None = None,
        precision: str = "double",
        cache: Any = None,
        device: str | None = None,
    ) -> None:
        self.C = C
        self.feature_map = feature_map
        self.reps = reps
        self.entanglement = entanglement
        self.scale = scale
        self.class_weight = class_weight
        self.tol = tol
        self.backend = backend
        self.shots = shots
        self.seed = seed
        self.precision = precision
        self.cache = cache
        self.device = device

    def fit(self, X: Any, y: Any) -> QSVC:
        """Compute the training kernel, fit the SVM on it, and keep the support vectors."""
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.kernel_ = self._build_kernel(X.shape[1])
        if self.device is None:
            self.svc_ = SVC(kernel="precomputed", C=self.C, class_weight=self.class_weight, tol=self.tol)
            self.svc_.fit(self._kernel(X), y)
            self.classes_ = self.svc_.classes_
            self.support_ = self.svc_.support_
        else:
            if self.class_weight is not None:
                raise ArgumentError(f"class_weight={self.class_weight!r} needs device=None (scikit-learn)")
            self.classes_, encoded = np.unique(y, return_inverse=True)
            self.svc_ = self._solvers().TorchKernelSVC(self.C, tol=self.tol, device=self.device)
            self.svc_.fit(self._kernel(X), encoded)
            self.support_ = _host(self.svc_.support_)
        self.n_train_ = X.shape[0]
        self.support_vectors_ = X[self.support_]
        return self

    def _test_kernel(self, X: Any) -> np.ndarray:
        """``K(X, X_train)`` with only the support-vector columns evaluated, the rest zero."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        full = np.zeros((X.shape[0], self.n_train_))
        full[:, self.support_] = self._kernel(X, self.support_vectors_)
        return full

    def decision_function(self, X: Any) -> np.ndarray:
        """Signed distances to the separating hyperplane(s), one-vs-rest shaped as ``SVC``'s."""
        kernel = self._test_kernel(X)
        if isinstance(self.svc_, SVC):
            return self.svc_.decision_function(kernel)
        decision = _host(self.svc_.decision_function(kernel))
        if decision.ndim == 1:
            return decision
        # The torch solver's pair (a, b) is positive for b, LIBSVM's for a: scikit-learn's transform
        # of LIBSVM's values ``d`` is ``_ovr_decision_function(d < 0, -d, n)``.
        return _ovr_decision_function(decision > 0, decision, len(self.classes_))

    def predict(self, X: Any) -> np.ndarray:
        """Class labels for ``X``."""
        kernel = self._test_kernel(X)
        if isinstance(self.svc_, SVC):
            return self.svc_.predict(kernel)
        return self.classes_[_host(self.svc_.predict(kernel))]


class QKernelRidge(_QuantumKernelMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge regression on a quantum fidelity kernel (scikit-learn's `KernelRidge`).

    ``device`` selects the torch Cholesky solver (see the module); every training row has a dual
    coefficient, so predictions compare with all of them.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        feature_map: str | FeatureMap = "zz",
        reps: int = 2,
        entanglement: str = "linear",
        scale: float = 1.0,
        backend: Any = None,
        shots: int | None = None,
        seed: int | None = None,
        precision: str = "double",
        cache: Any = None,
        device: str | None = None,
    ) -> None:
        self.alpha = alpha
        self.feature_map = feature_map
        self.reps = reps
        self.entanglement = entanglement
        self.scale = scale
        self.backend = backend
        self.shots = shots
        self.seed = seed
        self.precision = precision
        self.cache = cache
        self.device = device

    def fit(self, X: Any, y: Any) -> QKernelRidge:
        """Compute the training kernel and solve ``(K + αI) c = y``."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        self.kernel_ = self._build_kernel(X.shape[1])
        self.X_fit_ = X
        if self.device is None:
            self.ridge_ = KernelRidge(alpha=self.alpha, kernel="precomputed")
            self.ridge_.fit(self._kernel(X), y)
            self.dual_coef_ = self.ridge_.dual_coef_
        else:
            self.ridge_ = self._solvers().TorchKernelRidge(self.alpha, device=self.device)
            self.ridge_.fit(self._kernel(X), np.asarray(y, dtype=np.float64))
            self.dual_coef_ = _host(self.ridge_.dual_coef_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``K(X, X_fit) c``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        prediction = self.ridge_.predict(self._kernel(X, self.X_fit_))
        return prediction if isinstance(self.ridge_, KernelRidge) else _host(prediction)
