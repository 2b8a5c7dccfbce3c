"""Torch kernel solvers agree with scikit-learn on the same (quantum) kernel, on CPU and CUDA."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sklearn = pytest.importorskip("sklearn")

from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from qstore.core.kernels import QuantumKernel, zz_feature_map  # noqa: E402
from qstore.torch.kernels import TorchKernelRidge, TorchKernelSVC, svm_dual_solve  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _kernels(n_train: int = 60, n_test: int = 25, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 2, size=(n_train + n_test, 3))
    qk = QuantumKernel(zz_feature_map(3, reps=1, entanglement="linear"), progress=False)
    return qk(x[:n_train]), qk(x[n_train:], x[:n_train]), x


@pytest.mark.parametrize("device", DEVICES)
def test_kernel_ridge_matches_sklearn(device: str) -> None:
    k, k_test, x = _kernels()
    y = np.sin(3 * x[:60]).sum(axis=1)
    ref = KernelRidge(alpha=0.05, kernel="precomputed").fit(k, y)
    ours = TorchKernelRidge(alpha=0.05, device=device).fit(k, y)
    np.testing.assert_allclose(ours.dual_coef_.cpu().numpy(), ref.dual_coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict(k_test).cpu().numpy(), ref.predict(k_test), atol=1e-10)
    multi = np.stack([y, -2 * y], axis=1)
    np.testing.assert_allclose(
        TorchKernelRidge(alpha=0.05, device=device).fit(k, multi).predict(k_test).cpu().numpy(),
        KernelRidge(alpha=0.05, kernel="precomputed").fit(k, multi).predict(k_test),
        atol=1e-10,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("C", [0.1, 1.0, 100.0])
def test_binary_svm_matches_sklearn(device: str, C: float) -> None:
    k, k_test, x = _kernels()
    y = (np.sin(2 * x[:, 0]) + np.cos(3 * x[:, 1]) > 0.3).astype(int)
    ref = SVC(kernel="precomputed", C=C, tol=1e-6).fit(k, y[:60])
    ours = TorchKernelSVC(C=C, tol=1e-6, device=device).fit(k, y[:60])
    np.testing.assert_allclose(
        ours.decision_function(k_test).cpu().numpy(), ref.decision_function(k_test), atol=1e-4
    )
    np.testing.assert_array_equal(ours.predict(k_test).cpu().numpy(), ref.predict(k_test))
    dual = np.zeros(60)
    dual[ref.support_] = ref.dual_coef_[0]
    _, _, idx, coef, _ = ours.models_[0]
    ours_dual = np.zeros(60)
    ours_dual[idx.cpu().numpy()] = coef.cpu().numpy()
    np.testing.assert_allclose(ours_dual, dual, atol=1e-4)


def test_multiclass_one_vs_one_matches_sklearn() -> None:
    k, k_test, x = _kernels(90, 40, seed=3)
    y = np.digitize(np.sin(2 * x[:, 0]) + x[:, 2], [0.8, 1.6])
    ref = SVC(kernel="precomputed", C=5.0, tol=1e-6).fit(k, y[:90])
    ours = TorchKernelSVC(C=5.0, tol=1e-6).fit(k, y[:90])
    assert len(ours.models_) == 3
    agree = (ours.predict(k_test).numpy() == ref.predict(k_test)).mean()
    assert agree >= 0.975


def test_dual_solution_satisfies_kkt() -> None:
    k, _, x = _kernels()
    y = torch.as_tensor(np.where(x[:60, 0] > 1, 1.0, -1.0))
    kt = torch.as_tensor(k)
    C = 2.0
    alpha, b, its = svm_dual_solve(kt, y, C, tol=1e-8)
    assert its > 1
    assert float(alpha.min()) >= 0 and float(alpha.max()) <= C
    assert abs(float(y @ alpha)) < 1e-10
    margin = y * (kt @ (alpha * y) + b)
    free = (alpha > 1e-8) & (alpha < C - 1e-8)
    assert torch.allclose(margin[free], torch.ones_like(margin[free]), atol=1e-6)
    assert bool((margin[alpha < 1e-8] >= 1 - 1e-6).all())


def test_solver_errors() -> None:
    k, _, _ = _kernels()
    with pytest.raises(ValueError, match="alpha must be positive"):
        TorchKernelRidge(alpha=0.0)
    with pytest.raises(ValueError, match="C must be positive"):
        TorchKernelSVC(C=-1.0)
    with pytest.raises(ValueError, match="2-D kernel"):
        TorchKernelSVC().fit(np.zeros(5), np.zeros(5))
    bad = k.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        TorchKernelRidge().fit(bad, np.zeros(60))
    with pytest.raises(ValueError, match="two classes"):
        TorchKernelSVC().fit(k, np.zeros(60))
    with pytest.raises(ValueError, match="columns"):
        TorchKernelSVC().fit(k, np.arange(60) % 2).predict(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="not positive definite"):
        TorchKernelRidge(alpha=1e-3).fit(-np.eye(4), np.zeros(4))


def test_non_convergence_warns() -> None:
    k, _, x = _kernels()
    y = torch.as_tensor(np.where(x[:60, 0] > 1, 1.0, -1.0))
    with pytest.warns(RuntimeWarning, match="max_iter=3"):
        svm_dual_solve(torch.as_tensor(k), y, 1.0, tol=1e-9, max_iter=3)


def test_quantum_kernel_on_the_torch_backend_matches_numpy() -> None:
    from qstore.core import BackendNotFoundError, get_backend

    try:
        backend = get_backend("torch")
    except BackendNotFoundError:
        pytest.skip("the torch backend is not registered")
    fm = zz_feature_map(4, reps=2, entanglement="circular")
    x = np.random.default_rng(9).uniform(0, 2, size=(12, 4))
    on_torch = QuantumKernel(fm, backend, progress=False)
    assert on_torch.resolved_method == "statevector"
    np.testing.assert_allclose(on_torch(x), QuantumKernel(fm, progress=False)(x), atol=1e-5)


def test_quantum_kernel_on_the_torch_backend_honours_precision() -> None:
    fm = zz_feature_map(6, reps=2, entanglement="linear")
    x = np.random.default_rng(3).uniform(0, np.pi, size=(40, 6))
    exact = QuantumKernel(fm, progress=False)(x)
    single = QuantumKernel(fm, backend="torch", precision="single", progress=False)
    double = QuantumKernel(fm, backend="torch", precision="double", progress=False)
    assert single.states(x[:2]).dtype == np.complex64 and double.states(x[:2]).dtype == np.complex128
    k_single, k_double = single(x), double(x)
    np.testing.assert_allclose(k_double, exact, atol=1e-12)
    np.testing.assert_allclose(k_single, exact, atol=1e-5)
    assert np.abs(k_single - exact).max() > 1e-9


def test_support_matches_sklearn() -> None:
    k, _, x = _kernels(90, 40, seed=3)
    y = np.digitize(np.sin(2 * x[:, 0]) + x[:, 2], [0.8, 1.6])[:90]
    ref = SVC(kernel="precomputed", C=5.0, tol=1e-6).fit(k, y)
    ours = TorchKernelSVC(C=5.0, tol=1e-6).fit(k, y)
    np.testing.assert_array_equal(ours.support_.numpy(), np.sort(ref.support_))


def test_qsvc_on_device_matches_sklearn() -> None:
    from qstore.core.kernels import QSVC

    x = np.random.default_rng(4).uniform(0, np.pi, size=(120, 3))
    y = np.digitize(np.sin(2 * x[:, 0]) + x[:, 2], [1.2, 2.4])
    labels = np.array(["a", "b", "c"])[y]
    train, test = x[:80], x[80:]
    ours = QSVC(C=5.0, tol=1e-6, device="cpu").fit(train, labels[:80])
    ref = QSVC(C=5.0, tol=1e-6).fit(train, labels[:80])
    np.testing.assert_array_equal(np.sort(ours.support_), np.sort(ref.support_))
    np.testing.assert_allclose(ours.decision_function(test), ref.decision_function(test), atol=1e-4)
    np.testing.assert_array_equal(ours.predict(test), ref.predict(test))
    binary = labels[:80] == "a"
    np.testing.assert_allclose(
        QSVC(tol=1e-6, device="cpu").fit(train, binary).decision_function(test),
        QSVC(tol=1e-6).fit(train, binary).decision_function(test),
        atol=1e-4,
    )
    with pytest.raises(ValueError, match="class_weight"):
        QSVC(device="cpu", class_weight="balanced").fit(train, binary)


def test_qkernel_ridge_on_device_matches_sklearn() -> None:
    from qstore.core.kernels import QKernelRidge

    x = np.random.default_rng(5).uniform(0, np.pi, size=(60, 3))
    y = np.stack([np.sin(x).sum(axis=1), np.cos(x[:, 0])], axis=1)
    ours = QKernelRidge(alpha=0.1, device="cpu").fit(x[:40], y[:40])
    ref = QKernelRidge(alpha=0.1).fit(x[:40], y[:40])
    np.testing.assert_allclose(ours.dual_coef_, ref.dual_coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict(x[40:]), ref.predict(x[40:]), atol=1e-10)
