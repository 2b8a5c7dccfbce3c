"""Speed models: the fit recovers known models (also through a busy machine), timing keeps the
steady state, calibrate predicts held-out sizes, profiles round-trip. A fake clock keeps it exact."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import attrs
import numpy as np
import pytest

from qstore.core import routing_speed
from qstore.core.ansatz import layer_circuit
from qstore.core.backend import Request, Result
from qstore.core.errors import CorruptDataError
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.routing_speed import (
    QUICK_GRID,
    Profile,
    SpeedModel,
    Timing,
    calibrate,
    fit,
    load_profile,
    profile_dir,
    save_profile,
    time_backend,
    time_points,
)

TRUTH = SpeedModel(2e-3, 3e-5, 5e-5, 4e-6, 3e-9, 6e-9)


def test_fit_recovers_a_known_model_exactly() -> None:
    points = [
        Timing("b", "forward", n, k, g, n, TRUTH.predict(n, k, g, n))
        for n in (2, 6, 10, 16)
        for k in (1, 8)
        for g in (10, 40)
    ]
    model = fit(points)
    np.testing.assert_allclose(model.coefficients, TRUTH.coefficients, rtol=1e-6)
    assert model.median_rel_error < 1e-9


def test_fit_is_not_pulled_by_a_few_slowed_points() -> None:
    sizes = [(n, k) for n in (2, 4, 6, 8, 10, 12, 16) for k in (1, 4, 16)]
    points = [Timing("b", "forward", n, k, 7 * n, n, TRUTH.predict(n, k, 7 * n, n)) for n, k in sizes]
    points[3] = attrs.evolve(points[3], seconds=points[3].seconds * 4)  # a busy machine only adds time
    points[11] = attrs.evolve(points[11], seconds=points[11].seconds * 2)
    model = fit(points)
    clean = [t for i, t in enumerate(points) if i not in (3, 11)]
    rel = [abs(model.predict(t.n_qubits, t.batch, t.gates, t.observables) / t.seconds - 1) for t in clean]
    assert max(rel) < 0.01


def test_fit_never_returns_negative_coefficients() -> None:
    points = [Timing("b", "forward", n, 1, 10, 1, 1e-3 + 1e-8 * 2**n) for n in (2, 4, 8)]
    points.append(
        Timing("b", "forward", 2, 64, 10, 1, 1e-3)
    )  # more rows, no slower: per_row would go negative
    model = fit(points)
    assert (model.coefficients >= 0).all()


class FakeClock:
    """Stands in for the `time` module of `routing_speed`: advanced by the backend, not by the machine."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return 1e9


class Clocked(NumpyBackend):
    """The NumPy engine whose calls take ``scale`` times what ``TRUTH`` says (forward; twice that
    for adjoint), the first two calls of each structure 10x slower, as a compiling engine's are,
    and calls whose index is in ``burst`` 5x slower, as on a busy machine."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock, self.calls, self.scale, self.burst = clock, Counter(), 1.0, range(0)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def _advance(self, request: Request, factor: float) -> None:
        c = request.circuit
        self.calls[c.hash] += 1
        slowdown = 10.0 if self.calls[c.hash] <= 2 else 1.0
        slowdown *= 5.0 if self.total - 1 in self.burst else 1.0
        seconds = TRUTH.predict(c.n_qubits, request.batch.size, len(c.operations), len(request.observables))
        self.clock.now += slowdown * factor * self.scale * seconds

    def execute(self, request: Request) -> Result:
        self._advance(request, 1.0)
        return super().execute(request)

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        self._advance(request, 2.0)
        return super().vjp(request, cotangent, wrt)


def test_time_backend_keeps_the_best_of_at_least_repeats_calls_and_more_while_cheap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(routing_speed, "time", clock)
    backend = Clocked(clock)
    t = time_backend(backend, 3, 2, "forward", repeats=3)
    assert t.seconds == pytest.approx(TRUTH.predict(3, 2, t.gates, 3))  # the compiling calls lose
    assert backend.total == 3  # together over the cheap limit already: exactly ``repeats``
    again = time_backend(backend, 3, 2, "forward")
    assert again.seconds == t.seconds
    assert backend.total - 3 == math.ceil(routing_speed._CHEAP_SECONDS / t.seconds)  # cheap: more calls
    backend.scale = 1e-3
    time_backend(backend, 3, 2, "forward")
    assert backend.total - 3 - math.ceil(routing_speed._CHEAP_SECONDS / t.seconds) == 10  # the cap


def test_time_points_keeps_each_point_s_best_pass_through_compilation_and_bursts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(routing_speed, "time", clock)
    backend = Clocked(clock)
    backend.scale = 1e4  # every call is expensive: one per pass
    backend.burst = range(4, 8)  # calls 0-1 warm up, 2-3 compile still (pass 1), passes 2 and 3 slowed
    points = [(backend, "forward", 4, 2, 4), (backend, "adjoint", 3, 1, 3)]
    a, b = time_points(points, rounds=4)
    assert backend.total == 2 + 4 * 2
    assert (a.n_qubits, a.mode, b.n_qubits, b.mode) == (4, "forward", 3, "adjoint")
    assert a.seconds == pytest.approx(1e4 * TRUTH.predict(4, 2, a.gates, 4))
    assert b.seconds == pytest.approx(2e4 * TRUTH.predict(3, 1, b.gates, 3))


def test_calibrate_fits_every_mode_and_predicts_held_out_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(routing_speed, "time", clock)
    profile = calibrate([Clocked(clock)], QUICK_GRID)
    assert set(profile.models["numpy"]) == {"forward", "adjoint"}
    assert len(profile.timings) == 2 * len(QUICK_GRID)
    forward, adjoint = profile.model("numpy", "forward"), profile.model("numpy", "adjoint")
    for n, k in ((5, 100), (20, 1), (24, 1), (8, 256)):
        gates = len(layer_circuit(n).circuit.operations)
        assert forward.predict(n, k, gates, n) == pytest.approx(TRUTH.predict(n, k, gates, n), rel=1e-6)
        assert adjoint.predict(n, k, gates, n) == pytest.approx(2 * TRUTH.predict(n, k, gates, n), rel=1e-6)


def test_profiles_round_trip_under_the_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSTORE_CACHE_DIR", str(tmp_path))
    profile = Profile(
        "k1",
        {"numpy": {"forward": SpeedModel(1e-3, 0.0, 0.0, 0.0, 1e-9, 4, 0.1)}},
        (Timing("numpy", "forward", 2, 1, 3, 2, 0.5),),
        7.0,
    )
    path = save_profile(profile)
    assert path.parent == profile_dir() == tmp_path / "router"
    assert load_profile("k1") == profile and load_profile("other") is None
    path.write_text(
        '{"format": "qstore.router-profile/2", "key": "k1", "models": {"numpy": {"forward": {"speed": 1}}}}'
    )
    with pytest.raises(CorruptDataError, match="qstore calibrate"):
        load_profile("k1")
