"""Kernel store: each entry is paid once (counted at the backend) and reused with identical values."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from qstore.core.backend import Request, Result
from qstore.core.errors import CapabilityError
from qstore.core.kernels import KernelCancelledError, QuantumKernel, zz_feature_map
from qstore.core.kernels import store as store_module
from qstore.core.kernels.store import kernel_space, sample_hashes
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.storage import MemoryKernelStore, MemoryResultCache


class CountingBackend(NumpyBackend):
    """The numpy engine, counting every circuit (binding) it simulates."""

    def __init__(self) -> None:
        super().__init__()
        self.circuits = 0
        self._lock = threading.Lock()

    def execute(self, request: Request) -> Result:
        with self._lock:
            self.circuits += request.size
        return super().execute(request)


FM = zz_feature_map(3, reps=1)


def data(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 2 * np.pi, (n, FM.n_features))


def test_symmetric_300_after_200_pays_only_the_new_pairs() -> None:
    X = data(300, 0)
    backend = CountingBackend()
    qk = QuantumKernel(FM, backend, method="overlap", store=MemoryKernelStore(), progress=False)
    first = qk(X[:200])
    assert backend.circuits == 200 * 199 // 2
    assert qk.last_stats is not None and qk.last_stats.reused == 0
    backend.circuits = 0
    second = qk(X)
    assert backend.circuits == 300 * 299 // 2 - 200 * 199 // 2
    assert qk.last_stats.reused == 200 * 199 // 2
    assert qk.last_stats.computed == backend.circuits
    np.testing.assert_array_equal(second[:200, :200], first)
    reference = QuantumKernel(FM, method="overlap", progress=False)(X)
    np.testing.assert_allclose(second, reference, atol=1e-12)


def test_cross_block_300x300_after_200x200_evaluates_exactly_50000_entries() -> None:
    X, Y = data(300, 1), data(300, 2)
    backend = CountingBackend()
    qk = QuantumKernel(FM, backend, method="overlap", store=MemoryKernelStore(), progress=False)
    first = qk(X[:200], Y[:200])
    assert backend.circuits == 40_000
    backend.circuits = 0
    second = qk(X, Y)
    assert backend.circuits == 90_000 - 40_000
    assert qk.last_stats is not None
    assert (qk.last_stats.reused, qk.last_stats.computed) == (40_000, 50_000)
    np.testing.assert_array_equal(second[:200, :200], first)


def test_statevector_path_simulates_only_samples_of_missing_pairs() -> None:
    X = data(40, 3)
    backend = CountingBackend()
    store = MemoryKernelStore()
    qk = QuantumKernel(FM, backend, store=store, progress=False)
    qk(X[:30])
    backend.circuits = 0
    qk(X[10:30])  # contained in the first block: nothing to simulate
    assert backend.circuits == 0 and qk.last_stats is not None and qk.last_stats.computed == 0
    block = qk(X[30:], X[:5])  # 10 × 5 new pairs need 15 states
    assert backend.circuits == 15
    np.testing.assert_allclose(block, QuantumKernel(FM, progress=False)(X[30:], X[:5]), atol=1e-12)


def test_statevector_and_overlap_share_entries_and_agree() -> None:
    X = data(25, 4)
    store = MemoryKernelStore()
    exact = QuantumKernel(FM, store=store, progress=False)(X)
    backend = CountingBackend()
    reused = QuantumKernel(FM, backend, method="overlap", store=store, progress=False)(X)
    assert backend.circuits == 0
    np.testing.assert_array_equal(exact, reused)


def test_duplicate_samples_cost_nothing_and_give_one() -> None:
    x = data(5, 5)
    X = np.concatenate([x, x])
    backend = CountingBackend()
    qk = QuantumKernel(FM, backend, method="overlap", store=MemoryKernelStore(), progress=False)
    K = qk(X)
    assert backend.circuits == 5 * 4 // 2
    np.testing.assert_array_equal(K[:5, 5:], K[:5, :5])
    np.testing.assert_array_equal(np.diag(K[:5, 5:]), np.ones(5))


def test_spaces_separate_backend_precision_and_shots_but_not_the_seed() -> None:
    fm_hash = FM.hash
    base = kernel_space(fm_hash, "numpy", "double", None)
    assert len({base, kernel_space(fm_hash, "torch", "double", None)}) == 2
    assert base != kernel_space(fm_hash, "numpy", "single", None)
    assert base != kernel_space(fm_hash, "numpy", "double", 1000)
    assert base != kernel_space(zz_feature_map(3, reps=2).hash, "numpy", "double", None)
    X = data(6, 6)
    store = MemoryKernelStore()
    shot_a = QuantumKernel(FM, shots=500, seed=1, store=store, progress=False)
    Ka = shot_a(X)
    backend = CountingBackend()
    Kb = QuantumKernel(FM, backend, shots=500, seed=2, store=store, progress=False)(X)
    assert backend.circuits == 0
    np.testing.assert_array_equal(Ka, Kb)
    assert store.count() == 15


def test_sample_hashes_follow_content() -> None:
    X = data(4, 7)
    assert sample_hashes(X) == sample_hashes(X.copy())
    assert len(set(sample_hashes(X))) == 4
    Y = X.copy()
    Y[2, 1] = np.nextafter(Y[2, 1], 10)
    changed = [a != b for a, b in zip(sample_hashes(X), sample_hashes(Y), strict=True)]
    assert changed == [False, False, True, False]


def test_cancel_keeps_the_batches_already_paid() -> None:
    X = data(30, 8)
    cancel = threading.Event()
    store = MemoryKernelStore()
    seen: list[int] = []

    def report(done: int, total: int) -> None:
        seen.append(done)
        if done == 2:
            cancel.set()

    qk = QuantumKernel(FM, method="overlap", batch_size=50, store=store, progress=report)
    with pytest.raises(KernelCancelledError):
        qk.evaluate(X, cancel=cancel)
    assert store.count() == 100
    backend = CountingBackend()
    full = QuantumKernel(FM, backend, method="overlap", store=store, progress=False)(X)
    assert backend.circuits == 30 * 29 // 2 - 100
    np.testing.assert_allclose(full, QuantumKernel(FM, progress=False)(X), atol=1e-12)


def test_store_and_cache_are_exclusive_and_store_is_checked() -> None:
    with pytest.raises(CapabilityError, match="not both"):
        QuantumKernel(FM, cache=MemoryResultCache(), store=MemoryKernelStore())
    with pytest.raises(CapabilityError, match="KernelStore"):
        QuantumKernel(FM, store={})  # type: ignore[arg-type]


def test_memory_store_keeps_first_value_and_clears() -> None:
    store = MemoryKernelStore()
    store.put("s", ["a", "b"], ["c", "d"], [0.25, 0.5])
    store.put("s", ["a"], ["c"], [0.75])
    store.put("t", ["a"], ["c"], [0.1])
    np.testing.assert_array_equal(store.get("s", ["a", "b", "x"], ["c", "d", "y"]), [0.25, 0.5, np.nan])
    assert (store.count("s"), store.count()) == (2, 3)
    assert store.clear("s") == 2 and store.count() == 1
    with pytest.raises(ValueError, match="nan or inf"):
        store.put("s", ["a"], ["b"], [np.nan])
    with pytest.raises(ValueError, match="2 and 1 sample hashes"):
        store.put("s", ["a", "b"], ["c"], [0.1, 0.2])


def test_plan_predicts_what_evaluate_pays() -> None:
    X = data(30, 9)
    backend = CountingBackend()
    qk = QuantumKernel(FM, backend, method="overlap", store=MemoryKernelStore(), progress=False)
    qk(X[:20])
    plan = qk.plan(X)
    assert backend.circuits == 190
    assert (plan.reused, plan.computed, plan.circuits) == (190, 435 - 190, 435 - 190)
    backend.circuits = 0
    qk(X)
    assert qk.last_stats == plan and backend.circuits == plan.circuits
    with pytest.raises(CapabilityError, match="store="):
        QuantumKernel(FM).plan(X)


class CrashingBackend(CountingBackend):
    """Fails (as a lost connection would) on its ``fail_at``-th call."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.calls, self.fail_at = 0, fail_at

    def execute(self, request: Request) -> Result:
        self.calls += 1
        if self.calls == self.fail_at:
            raise ConnectionError("backend went away")
        return super().execute(request)


def test_a_crashed_overlap_computation_resumes_without_recomputing_stored_entries() -> None:
    X = data(40, 10)
    store = MemoryKernelStore()
    crashing = CrashingBackend(fail_at=4)
    with pytest.raises(ConnectionError):
        QuantumKernel(FM, crashing, method="overlap", batch_size=60, store=store, progress=False)(X)
    assert store.count() == 3 * 60 == crashing.circuits
    backend = CountingBackend()
    qk = QuantumKernel(FM, backend, method="overlap", store=store, progress=False)
    resumed = qk(X)
    assert backend.circuits == 40 * 39 // 2 - 180
    assert qk.last_stats is not None and qk.last_stats.reused == 180
    np.testing.assert_allclose(resumed, QuantumKernel(FM, progress=False)(X), atol=1e-12)


def test_an_interrupted_statevector_computation_resumes_from_its_stored_chunks() -> None:
    X = data(500, 11)
    pairs = 500 * 499 // 2
    chunk = store_module._PAIR_CHUNK
    cancel = threading.Event()
    store = MemoryKernelStore()

    def report(done: int, total: int) -> None:
        if done == total - 1:  # every state and every pair chunk but the last
            cancel.set()

    qk = QuantumKernel(FM, store=store, batch_size=100, progress=report)
    with pytest.raises(KernelCancelledError):
        qk.evaluate(X, cancel=cancel)
    stored = store.count()
    assert stored == (pairs // chunk) * chunk
    backend = CountingBackend()
    resumed = QuantumKernel(FM, backend, store=store, progress=False)
    K = resumed(X)
    assert resumed.last_stats is not None
    assert (resumed.last_stats.reused, resumed.last_stats.computed) == (stored, pairs - stored)
    assert backend.circuits == resumed.last_stats.circuits <= 500
    np.testing.assert_allclose(K, QuantumKernel(FM, progress=False)(X), atol=1e-12)
