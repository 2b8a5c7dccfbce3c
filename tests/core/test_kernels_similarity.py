"""`FidelityIndex`: nearest samples by fidelity agree with brute force over the kernel matrix."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core.errors import ArgumentError, CapabilityError
from qstore.core.kernels import QuantumKernel, zz_feature_map
from qstore.core.kernels.similarity import FidelityIndex, density_embedding, state_embedding
from qstore.core.storage import MemoryVectorStore


def _data(n: int, n_features: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, np.pi, (n, n_features))


def brute_force(kernel: QuantumKernel, X: np.ndarray, Y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    K = kernel(Y, X)
    rows = np.argsort(-K, axis=1, kind="stable")[:, :k]
    return rows, np.take_along_axis(K, rows, axis=1)


def test_embeddings_give_fidelity_and_the_real_part() -> None:
    qk = QuantumKernel(zz_feature_map(3), progress=False)
    states = qk.states(_data(7, 3, 0))
    dense = density_embedding(states)
    assert dense.shape == (7, 64)
    np.testing.assert_allclose(dense @ dense.T, qk(_data(7, 3, 0)), atol=1e-12)
    flat = state_embedding(states)
    np.testing.assert_allclose(flat @ flat.T, (states.conj() @ states.T).real, atol=1e-12)


@pytest.mark.parametrize("vectors", ["faiss", "memory"])
def test_density_index_equals_brute_force(vectors: str) -> None:
    if vectors == "faiss":
        pytest.importorskip("faiss")
    qk = QuantumKernel(zz_feature_map(4, reps=1), progress=False)
    X, Y = _data(300, 4, 1), _data(25, 4, 2)
    store = None if vectors == "faiss" else MemoryVectorStore()
    index = FidelityIndex(qk, X, vectors=store)
    assert index.embedding == "density" and len(index) == 300
    rows, fidelity = index.search(Y, k=7)
    expected_rows, expected = brute_force(qk, X, Y, 7)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_allclose(fidelity, expected, atol=1e-12)


def test_state_index_is_exhaustive_with_every_candidate_and_exact_in_its_values() -> None:
    pytest.importorskip("faiss")
    qk = QuantumKernel(zz_feature_map(5, reps=2), progress=False)
    X, Y = _data(400, 5, 3), _data(30, 5, 4)
    expected_rows, expected = brute_force(qk, X, Y, 5)
    full = FidelityIndex(qk, X, embedding="state", candidates=400)
    rows, fidelity = full.search(Y, k=5)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_allclose(fidelity, expected, atol=1e-12)
    rows, fidelity = FidelityIndex(qk, X, embedding="state").search(Y, k=5)
    K = qk(Y, X)
    np.testing.assert_allclose(fidelity, np.take_along_axis(K, rows, axis=1), atol=1e-12)
    assert (np.diff(fidelity, axis=1) <= 0).all()
    assert all(len(set(r)) == 5 for r in rows)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(rows, expected_rows, strict=True)])
    assert recall >= 0.9


def test_errors() -> None:
    fm = zz_feature_map(2, reps=1)
    X = _data(10, 2, 5)
    with pytest.raises(CapabilityError, match="exact states"):
        FidelityIndex(QuantumKernel(fm, shots=100, progress=False), X)
    qk = QuantumKernel(fm, progress=False)
    with pytest.raises(ArgumentError, match="embedding"):
        FidelityIndex(qk, X, embedding="l2")  # type: ignore[arg-type]
    used = MemoryVectorStore()
    used.add([0], np.zeros((1, 16)))
    with pytest.raises(ArgumentError, match="empty"):
        FidelityIndex(qk, X, vectors=used)
    index = FidelityIndex(qk, X, vectors=MemoryVectorStore())
    with pytest.raises(ArgumentError, match="exceeds"):
        index.search(X[:1], k=11)
    with pytest.raises(ArgumentError, match="positive"):
        FidelityIndex(qk, X, vectors=MemoryVectorStore(), candidates=0)
