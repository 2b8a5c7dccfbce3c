"""Speed models: the fit recovers a known model, profiles round-trip, measured times are predicted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qstore.core.errors import CorruptDataError
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.routing_speed import (
    Profile,
    SpeedModel,
    Timing,
    calibrate,
    fit,
    load_profile,
    profile_dir,
    save_profile,
    time_backend,
)


def test_fit_recovers_a_known_model_exactly() -> None:
    truth = SpeedModel(2e-3, 5e-5, 3e-9)
    points = [
        Timing("b", "forward", n, k, g, truth.predict(n, k, g))
        for n in (2, 6, 10)
        for k in (1, 8)
        for g in (10, 40)
    ]
    model = fit(points)
    np.testing.assert_allclose(
        [model.overhead, model.per_row, model.per_amp_gate], [2e-3, 5e-5, 3e-9], rtol=1e-6
    )
    assert model.median_rel_error < 1e-9


def test_fit_never_returns_negative_coefficients() -> None:
    points = [Timing("b", "forward", n, 1, 10, 1e-3 + 1e-8 * 2**n) for n in (2, 4, 8)]
    points.append(Timing("b", "forward", 2, 64, 10, 1e-3))  # more rows, no slower: per_row would go negative
    model = fit(points)
    assert min(model.overhead, model.per_row, model.per_amp_gate) >= 0


def test_profiles_round_trip_under_the_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSTORE_CACHE_DIR", str(tmp_path))
    profile = Profile(
        "k1",
        {"numpy": {"forward": SpeedModel(1e-3, 0.0, 1e-9, 4, 0.1)}},
        (Timing("numpy", "forward", 2, 1, 3, 0.5),),
        7.0,
    )
    path = save_profile(profile)
    assert path.parent == profile_dir() == tmp_path / "router"
    assert load_profile("k1") == profile and load_profile("other") is None
    path.write_text(
        '{"format": "qstore.router-profile/1", "key": "k1", "models": {"numpy": {"forward": {"speed": 1}}}}'
    )
    with pytest.raises(CorruptDataError, match="qstore calibrate"):
        load_profile("k1")


def test_the_fitted_model_predicts_held_out_measured_times_within_a_factor_of_three() -> None:
    backend = NumpyBackend()
    profile = calibrate([backend], [(4, 1), (4, 32), (8, 1), (8, 32), (11, 1), (11, 16)], repeats=3)
    model = profile.model("numpy", "forward")
    assert model is not None and profile.model("numpy", "adjoint") is not None
    held_out = [time_backend(backend, n, k, "forward", repeats=3) for n, k in ((6, 8), (10, 4))]
    ratios = [model.predict(t.n_qubits, t.batch, t.gates) / t.seconds for t in held_out]
    assert all(1 / 3 < r < 3 for r in ratios), ratios
