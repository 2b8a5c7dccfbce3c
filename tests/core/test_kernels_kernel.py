"""QuantumKernel: statevector path == overlap path == Qiskit; PSD; shots bound; cache; cancel."""

from __future__ import annotations

import math
import threading
from functools import cached_property

import attrs
import numpy as np
import pytest

from qstore.core import BindingError, Capabilities, CapabilityError, NumpyBackend
from qstore.core.kernels import (
    KernelCancelledError,
    QuantumKernel,
    angle_feature_map,
    reuploading_feature_map,
    zz_feature_map,
)
from qstore.core.storage import MemoryResultCache


class SamplingBackend(NumpyBackend):
    """The numpy engine declaring that it only samples, as hardware does."""

    @cached_property
    def capabilities(self) -> Capabilities:
        base = super().capabilities
        return attrs.evolve(base, name="sampler", statevector=False, exact_expectations=False)


def _data(n: int, f: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 2, size=(n, f))


MAPS = [
    zz_feature_map(3, reps=2, entanglement="full"),
    angle_feature_map(3),
    reuploading_feature_map(3, layers=2),
]


@pytest.mark.parametrize("fm", MAPS, ids=lambda fm: fm.name)
def test_statevector_path_equals_overlap_path(fm) -> None:
    x, y = _data(9, 3, 1), _data(4, 3, 2)
    sv = QuantumKernel(fm, method="statevector", progress=False)
    ov = QuantumKernel(fm, method="overlap", batch_size=7, progress=False)
    np.testing.assert_allclose(sv(x), ov(x), atol=1e-12)
    np.testing.assert_allclose(sv(x, y), ov(x, y), atol=1e-12)


@pytest.mark.parametrize("entanglement", ["linear", "circular", "full"])
def test_equals_qiskit_fidelity_statevector_kernel(entanglement: str) -> None:
    library = pytest.importorskip("qiskit.circuit.library")
    qml_kernels = pytest.importorskip("qiskit_machine_learning.kernels")
    x, y = _data(12, 4, 3), _data(5, 4, 4)
    ref = qml_kernels.FidelityStatevectorKernel(
        feature_map=library.zz_feature_map(4, reps=2, entanglement=entanglement)
    )
    qk = QuantumKernel(zz_feature_map(4, reps=2, entanglement=entanglement), progress=False)
    np.testing.assert_allclose(qk(x), ref.evaluate(x), atol=1e-12)
    np.testing.assert_allclose(qk(x, y), ref.evaluate(x, y), atol=1e-12)


def test_training_kernel_is_symmetric_psd_with_unit_diagonal() -> None:
    x = _data(40, 5)
    k = QuantumKernel(zz_feature_map(5, entanglement="linear"), tile=16, progress=False)(x)
    np.testing.assert_array_equal(k, k.T)
    np.testing.assert_array_equal(np.diag(k), 1.0)
    assert np.linalg.eigvalsh(k).min() > -1e-12
    assert k.min() >= 0.0 and k.max() <= 1.0 + 1e-12


def test_tiles_do_not_change_the_result() -> None:
    x, y = _data(37, 3), _data(11, 3, 5)
    fm = zz_feature_map(3)
    whole = QuantumKernel(fm, progress=False)
    tiled = QuantumKernel(fm, tile=5, batch_size=8, progress=False)
    np.testing.assert_allclose(tiled(x), whole(x), atol=1e-14)
    np.testing.assert_allclose(tiled(x, y), whole(x, y), atol=1e-14)


def test_single_precision_is_close_to_double() -> None:
    x = _data(30, 4)
    fm = zz_feature_map(4)
    double = QuantumKernel(fm, progress=False)(x)
    single = QuantumKernel(fm, precision="single", progress=False)(x)
    np.testing.assert_allclose(single, double, atol=1e-5)


def test_single_precision_w2_map_within_1e_6_on_every_tile_kind() -> None:
    """The 8-qubit ZZ map (W2) in complex64 with tiles of 16: diagonal and cross Gram tiles, and
    `Phase` steps applied from their tables, agree with complex128 to 1e-6."""
    x, y = _data(40, 8, 7) * np.pi, _data(21, 8, 8) * np.pi
    fm = zz_feature_map(8, reps=2, entanglement="linear")
    double = QuantumKernel(fm, progress=False)
    single = QuantumKernel(fm, precision="single", tile=16, progress=False)
    k = single(x)
    np.testing.assert_allclose(k, double(x), atol=1e-6)
    np.testing.assert_allclose(single(x, y), double(x, y), atol=1e-6)
    np.testing.assert_array_equal(k, k.T)
    np.testing.assert_array_equal(np.diag(k), 1.0)
    assert single.states(x).dtype == np.complex64


def test_shot_estimate_within_hoeffding_bound() -> None:
    """Each entry is a binomial proportion: P(|K̂ − K| > ε) ≤ 2 exp(−2 shots ε²).

    With 4000 shots and ε = 0.05 that is 4.5e-9 per entry, 2e-7 over the 45 estimated entries;
    the standard error is at most 0.5/sqrt(shots) = 0.0079.
    """
    x = _data(10, 3)
    fm = zz_feature_map(3, reps=1)
    exact = QuantumKernel(fm, progress=False)(x)
    backend = SamplingBackend()
    with pytest.raises(CapabilityError, match="only samples"):
        QuantumKernel(fm, backend, method="overlap", progress=False)(x)
    shots = 4000
    est = QuantumKernel(fm, backend, shots=shots, seed=11, progress=False)(x)
    assert np.all(np.abs(est - exact) <= 0.05)
    upper = np.triu_indices(10, 1)
    sigma = np.sqrt(np.maximum(exact * (1 - exact), 1e-3) / shots)
    z = (est - exact)[upper] / sigma[upper]
    assert np.abs(z).mean() < 1.5
    np.testing.assert_array_equal(est, est.T)
    np.testing.assert_array_equal(np.diag(est), 1.0)
    again = QuantumKernel(fm, backend, shots=shots, seed=11, progress=False)(x)
    np.testing.assert_array_equal(est, again)


def test_overlap_path_runs_only_the_upper_triangle() -> None:
    calls: list[int] = []

    class Counting(SamplingBackend):
        def run(self, circuit, bindings=None, *args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(len(next(iter(bindings.values()))))
            return super().run(circuit, bindings, *args, **kwargs)

    x = _data(8, 3)
    QuantumKernel(zz_feature_map(3), Counting(), shots=10, batch_size=100, progress=False)(x)
    assert calls == [8 * 7 // 2]


def test_cache_reuses_kernels_by_map_data_backend_and_shots() -> None:
    cache = MemoryResultCache()
    fm = zz_feature_map(3)
    x = _data(6, 3)
    qk = QuantumKernel(fm, cache=cache, progress=False)
    first = qk(x)
    assert len(cache) == 1
    first[0, 1] = 42.0
    second = qk(x)
    assert second[0, 1] != 42.0
    assert len(cache) == 1
    qk(x, x[:2])
    QuantumKernel(zz_feature_map(3, reps=1), cache=cache, progress=False)(x)
    QuantumKernel(fm, SamplingBackend(), shots=100, seed=1, cache=cache, progress=False)(x)
    assert len(cache) == 4


def test_cancellation_leaves_nothing_behind() -> None:
    cache = MemoryResultCache()
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def report(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 2 and len(seen) == 2:
            cancel.set()

    qk = QuantumKernel(zz_feature_map(3), cache=cache, tile=4, batch_size=4, progress=report)
    with pytest.raises(KernelCancelledError, match="cancelled after 2/"):
        qk.evaluate(_data(20, 3), cancel=cancel)
    assert len(cache) == 0
    assert seen[-1][0] == 2
    cancel.clear()
    assert qk.evaluate(_data(20, 3), cancel=cancel).shape == (20, 20)
    assert seen[-1][0] == seen[-1][1]


def test_default_progress_is_silent_for_short_runs(capsys: pytest.CaptureFixture[str]) -> None:
    QuantumKernel(zz_feature_map(3))(_data(5, 3))
    assert capsys.readouterr().err == ""


def test_bad_inputs_are_clear_errors() -> None:
    qk = QuantumKernel(zz_feature_map(3), progress=False)
    with pytest.raises(BindingError, match=r"X must have shape \(n_samples, 3\)"):
        qk(np.zeros((4, 4)))
    with pytest.raises(BindingError, match=r"Y must have shape"):
        qk(np.zeros((4, 3)), np.zeros((2, 2)))
    with pytest.raises(BindingError, match="NaN"):
        qk(np.array([[0.0, math.nan, 1.0]]))
    with pytest.raises(CapabilityError, match="method"):
        QuantumKernel(zz_feature_map(3), method="fast")  # type: ignore[arg-type]
    with pytest.raises(CapabilityError, match="shots"):
        QuantumKernel(zz_feature_map(3), shots=0)
    with pytest.raises(CapabilityError, match="seed"):
        QuantumKernel(zz_feature_map(3), seed=-1)
    with pytest.raises(CapabilityError, match="precision='single' but backend 'numpy' computes in double"):
        QuantumKernel(zz_feature_map(3), NumpyBackend(), precision="single")
    with pytest.raises(CapabilityError, match="no statevectors"):
        QuantumKernel(zz_feature_map(3), SamplingBackend(), method="statevector")
    with pytest.raises(CapabilityError, match="FeatureMap"):
        QuantumKernel("zz")  # type: ignore[arg-type]


def test_backend_by_name_and_generic_statevector_backend() -> None:
    class Plain(NumpyBackend):
        """A statevector backend that is not the fused numpy path."""

    x = _data(6, 3)
    fm = zz_feature_map(3)
    np.testing.assert_allclose(
        QuantumKernel(fm, Plain(), progress=False)(x),
        QuantumKernel(fm, "numpy", progress=False)(x),
        atol=1e-12,
    )
