"""Torch gate matrices are derived exactly from the core gate table, for every gate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qstore.core.gates import GATES
from qstore.torch.matrices import gate_matrices


@pytest.mark.parametrize("name", sorted(GATES))
def test_matrices_equal_the_gate_table(name: str) -> None:
    spec = GATES[name]
    angles = np.random.default_rng(0).uniform(-7, 7, size=(4, 3, spec.n_params))
    want = spec.matrix(*np.moveaxis(angles, -1, 0)) if spec.n_params else spec.matrix()
    got = gate_matrices(name, torch.tensor(angles), torch.complex128).numpy()
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), atol=1e-13)
    got64 = gate_matrices(name, torch.tensor(angles, dtype=torch.float32), torch.complex64)
    assert got64.dtype == torch.complex64
    np.testing.assert_allclose(got64.numpy(), np.broadcast_to(want, got.shape), atol=1e-5)


@pytest.mark.parametrize("name", sorted(n for n, s in GATES.items() if s.n_params))
def test_autograd_derivative_equals_the_table_derivative(name: str) -> None:
    spec = GATES[name]
    angles = np.random.default_rng(1).uniform(-3, 3, size=spec.n_params)
    for index in range(spec.n_params):
        want = spec.matrix_derivative(list(angles), index)
        theta = torch.tensor(angles, requires_grad=True)
        jac = torch.autograd.functional.jacobian(
            lambda t: torch.view_as_real(gate_matrices(name, t, torch.complex128)), theta
        )
        got = torch.view_as_complex(jac[..., index].contiguous()).numpy()
        np.testing.assert_allclose(got, want, atol=1e-12)
