"""scikit-learn compatibility: callable and precomputed kernels, QSVC and QKernelRidge in searches."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from qstore.core.backend import Request, Result  # noqa: E402
from qstore.core.errors import MissingDependencyError  # noqa: E402
from qstore.core.kernels import QSVC, QKernelRidge, QuantumKernel, SharedCache, zz_feature_map  # noqa: E402
from qstore.core.numpy_backend import NumpyBackend  # noqa: E402


class CountingBackend(NumpyBackend):
    """The numpy engine, counting the circuits (feature-map states) it simulates."""

    def __init__(self) -> None:
        super().__init__()
        self.circuits = 0

    def execute(self, request: Request) -> Result:
        self.circuits += request.size
        return super().execute(request)


def _classification(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(n_samples=n, n_features=3, n_informative=3, n_redundant=0, random_state=0)
    return MinMaxScaler((0, np.pi)).fit_transform(x), y


def test_callable_kernel_equals_precomputed() -> None:
    x, y = _classification()
    qk = QuantumKernel(zz_feature_map(3, entanglement="linear"), progress=False)
    callable_svc = SVC(kernel=qk).fit(x[:40], y[:40])
    pre = SVC(kernel="precomputed").fit(qk(x[:40]), y[:40])
    np.testing.assert_allclose(
        callable_svc.decision_function(x[40:]), pre.decision_function(qk(x[40:], x[:40])), atol=1e-10
    )
    assert clone(SVC(kernel=qk)).kernel.feature_map == qk.feature_map


def test_qsvc_matches_svc_on_the_same_kernel() -> None:
    x, y = _classification()
    model = QSVC(C=2.0).fit(x[:40], y[:40])
    qk = QuantumKernel(zz_feature_map(3, entanglement="linear"), progress=False)
    ref = SVC(kernel="precomputed", C=2.0).fit(qk(x[:40]), y[:40])
    np.testing.assert_array_equal(model.predict(x[40:]), ref.predict(qk(x[40:], x[:40])))
    assert 0.0 <= model.score(x[40:], y[40:]) <= 1.0


def test_qsvc_in_grid_search_and_pipeline_with_cache() -> None:
    x, y = _classification()
    cache = SharedCache()
    pipe = make_pipeline(MinMaxScaler((0, np.pi)), QSVC(cache=cache))
    search = GridSearchCV(pipe, {"qsvc__C": [0.5, 5.0], "qsvc__scale": [0.5, 1.0]}, cv=3)
    search.fit(x, y)
    assert set(search.best_params_) == {"qsvc__C", "qsvc__scale"}
    assert search.score(x, y) > 0.6
    assert 0 < len(cache) < 2 * 3 * 2 * 2


@pytest.mark.parametrize("n_classes", [2, 3])
def test_qsvc_predicts_from_support_vectors_only(n_classes: int) -> None:
    x, _ = _classification(90)
    y = np.digitize(
        x[:, 0] + 0.3 * np.sin(3 * x[:, 1]), np.quantile(x[:, 0], [1 / 3, 2 / 3])[: n_classes - 1]
    )
    train, test = x[:60], x[60:]
    backend = CountingBackend()
    model = QSVC(C=5.0, backend=backend).fit(train, y[:60])
    qk = QuantumKernel(zz_feature_map(3, entanglement="linear"), progress=False)
    ref = SVC(kernel="precomputed", C=5.0).fit(qk(train), y[:60])
    np.testing.assert_array_equal(model.support_, ref.support_)
    assert 0 < len(model.support_) < 60
    np.testing.assert_array_equal(model.support_vectors_, train[ref.support_])
    backend.circuits = 0
    predicted = model.predict(test)
    # One state per test row and one per support vector: |SV| columns, not 60.
    assert backend.circuits == len(test) + len(ref.support_)
    full = qk(test, train)
    np.testing.assert_array_equal(predicted, ref.predict(full))
    np.testing.assert_allclose(model.decision_function(test), ref.decision_function(full), atol=1e-12)


def test_overlap_prediction_runs_one_circuit_per_test_row_and_support_vector() -> None:
    x, y = _classification(50)
    backend = CountingBackend()
    model = QSVC(backend=backend, shots=None).fit(x[:40], y[:40])
    model.kernel_.method = "overlap"
    backend.circuits = 0
    model.predict(x[40:])
    assert backend.circuits == 10 * len(model.support_)


def test_device_without_qstore_torch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _classification()
    real = importlib.import_module

    def no_torch(name: str, package: str | None = None) -> object:
        if name.startswith("qstore.torch"):
            raise ImportError(f"No module named {name!r}")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", no_torch)
    with pytest.raises(MissingDependencyError, match="pip install qstore-torch"):
        QSVC(device="cpu").fit(x, y)
    with pytest.raises(ValueError, match="device must be"):
        QKernelRidge(device="tpu").fit(x, y.astype(float))


def test_qsvc_multiclass_and_other_maps() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, np.pi, size=(45, 3))
    y = np.repeat([0, 1, 2], 15)
    for fm in ("zz", "angle", "reuploading"):
        model = QSVC(feature_map=fm).fit(x, y)
        assert model.predict(x).shape == (45,)
        assert list(model.classes_) == [0, 1, 2]


def test_qkernel_ridge_matches_kernel_ridge() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, np.pi, size=(50, 3))
    y = np.sin(x).sum(axis=1)
    model = QKernelRidge(alpha=0.1).fit(x[:35], y[:35])
    qk = QuantumKernel(zz_feature_map(3, entanglement="linear"), progress=False)
    ref = KernelRidge(alpha=0.1, kernel="precomputed").fit(qk(x[:35]), y[:35])
    np.testing.assert_allclose(model.predict(x[35:]), ref.predict(qk(x[35:], x[:35])), atol=1e-10)
    search = GridSearchCV(QKernelRidge(), {"alpha": [0.01, 1.0]}, cv=3).fit(x, y)
    assert search.best_params_["alpha"] in (0.01, 1.0)


def test_estimator_errors() -> None:
    x, y = _classification()
    with pytest.raises(ValueError, match="feature_map must be"):
        QSVC(feature_map="rbf").fit(x, y)
    model = QSVC().fit(x, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(x[:, :2])
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        QSVC().fit(bad, y)


def test_importing_core_and_kernels_does_not_import_heavy_packages() -> None:
    code = (
        "import sys, qstore.core, qstore.core.kernels as k; k.QuantumKernel; "
        "print(sorted(m for m in ('sklearn', 'torch', 'qiskit', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
