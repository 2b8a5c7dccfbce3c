"""The router against the clock: predicted vs measured seconds, and held-out routing decisions.

Calibrates every local backend on the ``--quick`` grid (``--full``: the default grid), timing the
calibration points and the `ACCURACY` points in the same interleaved passes (so a change of load
from other processes during the run hits both alike), and prints JSON lines:

* ``{"calibration": ...}``: grid, seconds the passes took (calibration and accuracy points together);
* one line per (backend, workload) of `ACCURACY` with predicted and measured seconds, and one
  summary line per backend with the median relative error;
* one line per `REFERENCE` workload: the router's choice, the backend measured fastest when every
  usable candidate is timed in this run, the ratio chosen/fastest, and ``pass`` when the choice is
  the fastest or within 15 % of it. Candidates the router predicts at least `ONE_SHOT_RATIO` times
  slower than its choice are timed in one pass instead of the best of `ROUNDS` (a busy machine only
  adds time, so this can only flatter the choice if a prediction is off by that factor).

Every measurement is the best over interleaved passes (`time_points`), as calibration's are.

Timed assertions live here, not in the tests. Run: ``OMP_NUM_THREADS=2 python benchmarks/router.py``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import attrs
import numpy as np

from qstore.core.backend import NATIVE_METHODS, Backend
from qstore.core.routing import installed_backends, route
from qstore.core.routing_policy import Policy
from qstore.core.routing_speed import (
    GRID,
    QUICK_GRID,
    Point,
    Profile,
    Timing,
    calibration_points,
    fit_profile,
    time_points,
)
from qstore.core.routing_workload import Workload

ACCURACY = (
    (4, 128, "forward"),
    (8, 16, "forward"),
    (8, 64, "forward"),
    (12, 4, "forward"),
    (15, 1, "forward"),
    (17, 1, "forward"),
    (4, 32, "native"),
    (8, 256, "native"),
    (12, 8, "native"),
    (15, 1, "native"),
)
"""(qubits, batch, mode) on registers neither grid times; ``native``: the backend's native gradient."""
REFERENCE = (
    Workload.from_layer(8, 2, batch=256, gradient="auto"),
    Workload.from_layer(20, 2),
    attrs.evolve(Workload.from_layer(24, 2), n_observables=1),
)
"""The issue's reference workloads: 8 qubits x batch 256 forward+backward; 20 and 24 qubits forward
(24 with one readout: the numpy and tf engines' readout plans hold ``2**n`` floats per observable,
about 12 GB for 24 readouts of 24 qubits)."""
TOLERANCE = 1.15
ONE_SHOT_RATIO = 5.0
ROUNDS = 3


def _emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def _native(backend: Backend) -> str | None:
    return next((m for m in NATIVE_METHODS if m in backend.capabilities.gradient_methods), None)


def accuracy_points(local: list[Backend]) -> list[Point]:
    """`ACCURACY` for every local backend (native gradients where the backend has one)."""
    points: list[Point] = []
    for backend in local:
        for n, batch, kind in ACCURACY:
            mode = "forward" if kind == "forward" else _native(backend)
            if mode is not None:
                points.append((backend, mode, n, batch, n))
    return points


def accuracy(timings: list[Timing], profile: Profile) -> None:
    """Predicted vs measured seconds per point; a median relative error per backend."""
    errors: dict[str, list[float]] = {}
    for t in timings:
        model = profile.model(t.backend, t.mode)
        assert model is not None
        predicted = model.predict(t.n_qubits, t.batch, t.gates, t.observables)
        rel = abs(predicted - t.seconds) / t.seconds
        errors.setdefault(t.backend, []).append(rel)
        _emit(backend=t.backend, mode=t.mode, qubits=t.n_qubits, batch=t.batch, measured_s=t.seconds,
              predicted_s=predicted, rel_error=rel)  # fmt: skip
    for name, rels in errors.items():
        _emit(backend=name, median_rel_error=float(np.median(rels)), points=len(rels))


def held_out(local: list[Backend], profile: Profile) -> None:
    """Route each `REFERENCE` workload, then time every usable candidate on it in this run."""
    by_name = {b.name: b for b in local}
    for workload in REFERENCE:
        decision = route(workload, Policy(), backends=local, profile=profile)
        close: list[Point] = []
        far: list[Point] = []
        for c in (c for c in decision.candidates if not c.rejected):
            group = far if (c.seconds or 0.0) >= ONE_SHOT_RATIO * decision.seconds else close
            modes = ["forward", *([c.method] if c.method else [])]
            w = workload
            group += [(by_name[c.backend], m, w.n_qubits, w.batch, w.n_observables) for m in modes]
        measured: dict[str, float] = {}
        for t in [*time_points(close, ROUNDS), *time_points(far, 1)]:
            measured[t.backend] = measured.get(t.backend, 0.0) + t.seconds
        fastest = min(measured, key=measured.__getitem__)
        ratio = measured[decision.backend] / measured[fastest]
        _emit(workload=f"{workload.n_qubits} qubits x batch {workload.batch}, {workload.n_observables} "
                       + ("readouts, forward+backward" if workload.gradient else "readouts, forward"),
              chosen=decision.backend, fastest=fastest, ratio=ratio,
              result="pass" if ratio <= TOLERANCE else "fail",
              predicted_s={c.backend: c.seconds for c in decision.candidates if not c.rejected},
              measured_s=measured)  # fmt: skip


def main() -> None:
    """Calibrate, then print the accuracy and held-out lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="calibrate on the default grid, not --quick")
    parser.add_argument("--skip", nargs="*", default=(), help="parts to skip: accuracy, held-out")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backends = [b for b in installed_backends(Policy()).values() if not isinstance(b, str)]
    local = [b for b in backends if not {"cloud", "qpu"} & set(b.capabilities.devices)]
    grid = GRID if args.full else QUICK_GRID
    calibration = calibration_points(local, grid)
    held = [] if "accuracy" in args.skip else accuracy_points(local)
    start = time.perf_counter()
    timings = time_points([*calibration, *held], ROUNDS)
    profile = fit_profile(timings[: len(calibration)])
    _emit(calibration="full" if args.full else "quick", seconds=time.perf_counter() - start,
          points=len(calibration), accuracy_points=len(held), backends=[b.name for b in local])  # fmt: skip
    if held:
        accuracy(timings[len(calibration) :], profile)
    if "held-out" not in args.skip:
        held_out(local, profile)


if __name__ == "__main__":
    main()
