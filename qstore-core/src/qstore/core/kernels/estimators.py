"""`QSVC` and `QKernelRidge`: scikit-learn estimators on quantum kernels (needs scikit-learn).

Every constructor argument is a plain hyper-parameter, so both work with ``GridSearchCV``,
``Pipeline`` and ``clone``. The feature map is built at ``fit`` time for the data's width, and
``scale`` multiplies the data first (the kernel's bandwidth). Pass a `SharedCache` as ``cache`` to
reuse training kernels across a grid search of ``C`` or ``alpha`` (``clone`` deep-copies other
stores, so each clone would get its own)::

    search = GridSearchCV(QSVC(cache=SharedCache()), {"C": [0.1, 1, 10], "scale": [0.5, 1]})
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.kernel_ridge import KernelRidge
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from qstore.core.errors import ArgumentError
from qstore.core.kernels.feature_maps import (
    FeatureMap,
    angle_feature_map,
    reuploading_feature_map,
    zz_feature_map,
)
from qstore.core.kernels.kernel import QuantumKernel

__all__ = ["QSVC", "QKernelRidge"]

_MAPS = ("zz", "angle", "reuploading")


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
    """Support-vector classifier on a quantum fidelity kernel (scikit-learn's `SVC`, precomputed)."""

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

    def fit(self, X: Any, y: Any) -> QSVC:
        """Compute the training kernel and fit the SVM on it."""
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.kernel_ = self._build_kernel(X.shape[1])
        self.X_fit_ = X
        self.svc_ = SVC(kernel="precomputed", C=self.C, class_weight=self.class_weight, tol=self.tol)
        self.svc_.fit(self._kernel(X), y)
        self.classes_ = self.svc_.classes_
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Signed distances to the separating hyperplane(s)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.svc_.decision_function(self._kernel(X, self.X_fit_))

    def predict(self, X: Any) -> np.ndarray:
        """Class labels for ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.svc_.predict(self._kernel(X, self.X_fit_))


class QKernelRidge(_QuantumKernelMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge regression on a quantum fidelity kernel (scikit-learn's `KernelRidge`)."""

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

    def fit(self, X: Any, y: Any) -> QKernelRidge:
        """Compute the training kernel and solve ``(K + αI) c = y``."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        self.kernel_ = self._build_kernel(X.shape[1])
        self.X_fit_ = X
        self.ridge_ = KernelRidge(alpha=self.alpha, kernel="precomputed")
        self.ridge_.fit(self._kernel(X), y)
        self.dual_coef_ = self.ridge_.dual_coef_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``K(X, X_fit) c``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.ridge_.predict(self._kernel(X, self.X_fit_))
