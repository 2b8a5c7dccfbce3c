"""The torch density-matrix engine against the NumPy reference: values, shots, autograd gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstore.core import Circuit
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.testing import NOISY_VALUES, noisy_circuit
from qstore.torch import density
from qstore.torch.backend import TorchBackend, expectations

OBS = ["Z0", "X1 Z2", "Y2", "Z0 Z1"]


def _values(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    c = noisy_circuit()
    return torch.tensor(np.stack([NOISY_VALUES[s] for s in c.symbols], axis=1), dtype=dtype)


def test_expectations_match_the_numpy_reference() -> None:
    want = NumpyBackend().run(noisy_circuit(), NOISY_VALUES, OBS).expectations
    got = expectations(noisy_circuit(), _values(), {}, OBS, torch.complex128)
    assert np.allclose(got.detach().numpy(), want, atol=1e-12)
    single = expectations(noisy_circuit(), _values(torch.float32), {}, OBS, torch.complex64)
    assert single.dtype == torch.float32
    assert np.allclose(single.detach().numpy(), want, atol=1e-5)


def test_density_matrices_have_unit_trace_and_are_psd() -> None:
    rho = density.simulate(noisy_circuit(), _values(), {}, torch.complex128).view(3, 8, 8)
    assert torch.allclose(
        torch.diagonal(rho, dim1=1, dim2=2).sum(-1).real, torch.ones(3, dtype=torch.float64)
    )
    assert float(torch.linalg.eigvalsh(rho).min()) > -1e-10
    assert torch.allclose(
        density.probabilities(rho.reshape(3, -1)).sum(1), torch.ones(3, dtype=torch.float64)
    )


def test_autograd_matches_numpy_finite_differences_through_strengths() -> None:
    values = _values().requires_grad_(True)
    cot = torch.tensor(
        [[1.0, -0.5, 2.0, 0.3], [0.3, 0.7, -1.1, 0.0], [-1.0, 0.2, 0.5, 1.5]], dtype=torch.float64
    )
    out = expectations(noisy_circuit(), values, {}, OBS, torch.complex128)
    (grad,) = torch.autograd.grad(out, values, cot)
    fd = NumpyBackend().gradient(noisy_circuit(), NOISY_VALUES, OBS, cot.numpy(), method="finite-diff")
    for j, name in enumerate(noisy_circuit().symbols):
        assert np.allclose(grad[:, j].numpy(), fd[name], atol=1e-8), name
    adjoint = NumpyBackend().gradient(noisy_circuit(), NOISY_VALUES, OBS, cot.numpy(), method="adjoint")
    for j, name in enumerate(noisy_circuit().symbols):
        assert np.allclose(grad[:, j].numpy(), adjoint[name], atol=1e-10), name


def test_backend_runs_noisy_circuits_and_its_vjp_agrees() -> None:
    backend = TorchBackend(precision="double")
    assert backend.capabilities.noise == ("density",)
    ref = NumpyBackend()
    got = backend.run(noisy_circuit(), NOISY_VALUES, OBS, outputs=("probabilities",))
    want = ref.run(noisy_circuit(), NOISY_VALUES, OBS, outputs=("probabilities",))
    assert np.allclose(got.expectations, want.expectations, atol=1e-12)
    assert np.allclose(got.probabilities, want.probabilities, atol=1e-12)
    shots = backend.run(noisy_circuit(), NOISY_VALUES, OBS, 100, seed=4).expectations
    assert np.allclose(shots, ref.run(noisy_circuit(), NOISY_VALUES, OBS, 100, seed=4).expectations)
    g_torch = backend.gradient(noisy_circuit(), NOISY_VALUES, OBS, method="adjoint")
    g_ref = ref.gradient(noisy_circuit(), NOISY_VALUES, OBS, method="adjoint")
    for name in g_ref:
        assert np.allclose(g_torch[name], g_ref[name], atol=1e-10), name


def test_state_preparation_under_noise_matches_numpy() -> None:
    c = Circuit(2).prepare_state("a").amplitude_damping("g", 0).ry("t", 1)
    amps = np.array([[0.6, 0.0, 0.0, 0.8], [0.5, 0.5, 0.5, 0.5]])
    values = {"a": amps, "g": [0.3, 0.9], "t": [0.1, 0.2]}
    want = NumpyBackend().run(c, values, ["Z0", "X0 X1"]).expectations
    got = TorchBackend(precision="double").run(c, values, ["Z0", "X0 X1"]).expectations
    assert np.allclose(got, want, atol=1e-12)


def test_bad_strength_is_a_binding_error() -> None:
    from qstore.core.errors import BindingError

    with pytest.raises(BindingError, match="strength"):
        expectations(Circuit(1).bit_flip("p", 0), torch.tensor([[1.5]]), {}, ["Z0"], torch.complex64)
