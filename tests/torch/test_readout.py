"""Compiled Pauli readouts equal the reference kernels, including identities and weighted sums."""

from __future__ import annotations

import numpy as np
import torch

from qstore.core import statevector as sv
from qstore.core.observables import as_observables
from qstore.torch.readout import compile_readout


def _random_states(n: int, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(batch, 2**n)) + 1j * rng.normal(size=(batch, 2**n))
    return states / np.linalg.norm(states, axis=1, keepdims=True)


def test_expectations_and_weighted_apply_equal_the_reference() -> None:
    n = 4
    obs = as_observables(["Z0", "X1", "Y1", "Z0 Z3", "0.5*X0 Y2 Z3 - 2*Y3 + I", "X1 X2", "I", "Y0 Y1 Y2 Y3"])
    states = _random_states(n, 5, 0)
    readout = compile_readout(obs, n)
    got = readout.expectations(torch.tensor(states)).numpy()
    want = sv.expectations(states.reshape((5,) + (2,) * n), obs)
    np.testing.assert_allclose(got, want, atol=1e-12)
    weights = np.random.default_rng(1).normal(size=(5, len(obs)))
    lam = readout.weighted_apply(torch.tensor(states), torch.tensor(weights)).numpy()
    shaped = states.reshape((5,) + (2,) * n)
    ref = sum(
        weights[:, j].reshape(-1, *(1,) * n) * sv.apply_observable(shaped, o) for j, o in enumerate(obs)
    )
    np.testing.assert_allclose(lam, ref.reshape(5, -1), atol=1e-12)


def test_readouts_are_compiled_once() -> None:
    obs = as_observables(["Z0", "X1"])
    assert compile_readout(obs, 2) is compile_readout(obs, 2)
