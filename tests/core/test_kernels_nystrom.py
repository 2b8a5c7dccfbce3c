"""Nyström: error reported and shrinking with the number of landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core.kernels import Nystrom, QuantumKernel, zz_feature_map


def _kernel() -> QuantumKernel:
    return QuantumKernel(zz_feature_map(4, reps=1, entanglement="linear"), progress=False)


def _data() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, size=(120, 4))


def test_error_shrinks_with_landmarks() -> None:
    x = _data()
    errors = [Nystrom(_kernel(), m, seed=1).fit(x).error_ for m in (5, 20, 60, 120)]
    traces = [e.trace for e in errors]
    frobs = [e.frobenius_sampled for e in errors]
    assert traces == sorted(traces, reverse=True)
    assert frobs == sorted(frobs, reverse=True)
    assert traces[-1] < 1e-8 and frobs[-1] < 1e-6


def test_reported_errors_match_the_exact_kernel() -> None:
    x = _data()
    qk = _kernel()
    ny = Nystrom(qk, 30, seed=2, error_rows=120).fit(x)
    exact = qk(x)
    approx = ny.approximate(x)
    assert ny.error_.trace == pytest.approx(np.trace(exact - approx) / np.trace(exact), abs=1e-10)
    frob = np.linalg.norm(exact - approx) / np.linalg.norm(exact)
    assert ny.error_.frobenius_sampled == pytest.approx(frob, rel=1e-8)
    assert np.linalg.eigvalsh(exact - approx).min() > -1e-9


def test_transform_features_reproduce_cross_kernel() -> None:
    x = _data()
    y = np.random.default_rng(5).uniform(0, 1, size=(7, 4))
    qk = _kernel()
    ny = Nystrom(qk, 120, seed=0).fit(x)
    np.testing.assert_allclose(ny.transform(y) @ ny.transform(x).T, qk(y, x), atol=1e-6)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_components"):
        Nystrom(_kernel(), 0)
    with pytest.raises(ValueError, match="exceeds"):
        Nystrom(_kernel(), 500).fit(_data())
    with pytest.raises(RuntimeError, match="fit"):
        Nystrom(_kernel(), 5).transform(_data())
