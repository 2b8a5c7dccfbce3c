"""The kernel's Gram product runs in torch on the torch backend, in the backend's precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstore.core.kernels import QuantumKernel, fidelity_gram, zz_feature_map
from qstore.torch.backend import TorchBackend


def _states(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=(n, dim)) + 1j * rng.normal(size=(n, dim))
    return psi / np.linalg.norm(psi, axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_torch_tiles_equal_the_direct_product(dtype: torch.dtype) -> None:
    left, right = _states(37, 16, 1), _states(23, 16, 2)
    want_cross = np.abs(left.conj() @ right.T) ** 2
    want_sym = np.abs(left.conj() @ left.T) ** 2
    atol = 1e-6 if dtype == torch.complex64 else 1e-13
    t_left, t_right = torch.tensor(left, dtype=dtype), torch.tensor(right, dtype=dtype)
    cross = fidelity_gram(t_left, t_right, tile=10)
    sym = fidelity_gram(t_left, tile=10)
    assert cross.dtype == sym.dtype == np.float64
    np.testing.assert_allclose(cross, want_cross, atol=atol)
    np.testing.assert_allclose(sym, want_sym, atol=atol)
    np.testing.assert_array_equal(sym, sym.T)
    np.testing.assert_array_equal(np.diag(sym), 1.0)


def test_the_torch_backend_hands_the_kernel_tensors_on_its_device() -> None:
    array = _states(3, 4, 3).astype(np.complex64)
    native = TorchBackend().native_array(array)
    assert isinstance(native, torch.Tensor) and native.dtype == torch.complex64
    assert native.device == torch.device("cpu") and np.shares_memory(native.numpy(), array)


def test_quantum_kernel_on_torch_honours_precision() -> None:
    fm = zz_feature_map(4, reps=2, entanglement="linear")
    x = np.random.default_rng(5).uniform(0, np.pi, size=(30, 4))
    exact = QuantumKernel(fm, progress=False)(x)
    double = QuantumKernel(fm, backend="torch", precision="double", progress=False)(x)
    single = QuantumKernel(fm, backend="torch", precision="single", progress=False)(x)
    np.testing.assert_allclose(double, exact, atol=1e-12)
    np.testing.assert_allclose(single, exact, atol=1e-5)
    assert np.abs(single - exact).max() > 1e-12  # single precision really ran in single precision
