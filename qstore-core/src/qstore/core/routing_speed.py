"""Measured speed models: time each backend on a small grid, fit, store the profile on disk.

Each backend gets one `SpeedModel` per mode — ``forward`` and its native gradient method
(``adjoint`` or ``backprop``) — a sum of six non-negative terms, each the cost of one way an
engine spends time (``ops = gates + observables``, ``amps = batch · 2**n``)::

    seconds = overhead                          per call (dispatch, conversions)
            + per_gate       · gates            per call: batched engines launch one kernel per gate
            + per_row        · batch            per circuit: engines that loop over the batch
            + per_row_gate   · batch · gates    per circuit and gate: engines that build each circuit
            + per_amp_op     · amps · ops       the state-vector work itself
            + per_amp_op_big · max(0, amps - CACHE_AMPLITUDES) · ops
                                                the same work once the states outgrow the cache

fitted by non-negative least absolute *relative* error (iteratively reweighted least squares over
the subsets of terms), so a fit is judged as the router uses it: by ratios. Generic gradient
methods (parameter shift, finite differences, SPSA) run on ``execute``, so their time is the
forward model at the batch they expand to; only native methods are timed separately.

`time_points` takes each point's best call over several interleaved passes through the grid: the
first calls of a structure pay compilation (``tf.function`` traces on its second call) and a shared
machine only adds delays, in bursts, so the minimum is the engine's own steady-state time.

`calibrate` writes a JSON profile to ``$QSTORE_CACHE_DIR/router/`` (default
``$XDG_CACHE_HOME/qstore/router/``, i.e. ``~/.cache/qstore/router/``), one file per machine,
package versions and profile format (`profile_key`). Without a profile the `DEFAULTS` below apply
and every decision says its estimates are defaults: 1 ms per call, 20 µs per gate, 10 µs per row,
and 2 ns (double) or 1 ns (single) per amplitude-operation; a native gradient costs 3 forward
passes; a remote backend adds `Policy.queue_seconds`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from qstore.core.ansatz import layer_circuit
from qstore.core.backend import NATIVE_METHODS, Backend
from qstore.core.errors import ArgumentError, CorruptDataError

__all__ = [
    "CACHE_AMPLITUDES",
    "DEFAULTS",
    "FORMAT",
    "GRID",
    "QUICK_GRID",
    "Point",
    "Profile",
    "SpeedModel",
    "Timing",
    "calibrate",
    "calibration_points",
    "fit",
    "fit_profile",
    "load_profile",
    "profile_dir",
    "profile_key",
    "save_profile",
    "time_backend",
    "time_points",
]

FORMAT = "qstore.router-profile/2"
QUICK_GRID: tuple[tuple[int, int], ...] = (
    (2, 1), (6, 1), (10, 1), (14, 1), (16, 1), (18, 1), (2, 32), (6, 8), (10, 8), (10, 32)
)  # fmt: skip
"""The ``--quick`` grid of (qubits, batch): batch 1 from 2 to 18 qubits separates the per-call,
per-gate and state-vector terms (16 and 18 past `CACHE_AMPLITUDES`); batches 8 and 32 the per-row
terms, on the same registers (each new register is one more structure to build or compile)."""
GRID: tuple[tuple[int, int], ...] = (
    *QUICK_GRID, (20, 1), (2, 256), (6, 64), (6, 256), (10, 64), (14, 8), (14, 32)
)  # fmt: skip
"""(qubits, batch) points `calibrate` times by default: the quick grid, more sizes and 20 qubits."""
CACHE_AMPLITUDES = 2**15
"""Amplitudes per call (512 KiB in double precision) beyond which `SpeedModel.per_amp_op_big` applies."""
_MAX_POINT_AMPLITUDES = 2**20
_DEPTH = 2
_CHEAP_SECONDS = 0.02
_MAX_REPEATS = 10


@attrs.frozen
class SpeedModel:
    """Seconds of one call as a sum of non-negative terms (see the module docstring)."""

    overhead: float
    per_gate: float
    per_row: float
    per_row_gate: float
    per_amp_op: float
    per_amp_op_big: float = 0.0
    points: int = 0
    median_rel_error: float | None = None

    @property
    def coefficients(self) -> np.ndarray:
        """The six coefficients, in the order of `features`."""
        return np.array(
            [
                self.overhead,
                self.per_gate,
                self.per_row,
                self.per_row_gate,
                self.per_amp_op,
                self.per_amp_op_big,
            ]
        )

    def predict(self, n_qubits: int, batch: int, gates: int, observables: int = 1) -> float:
        """Predicted seconds for one call of ``batch`` circuits of ``gates`` gates on ``n_qubits``."""
        return float(features(n_qubits, batch, gates, observables) @ self.coefficients)


def features(n_qubits: int, batch: int, gates: int, observables: int = 1) -> np.ndarray:
    """What each `SpeedModel` coefficient multiplies (see the module docstring)."""
    amps, ops = batch * 2.0**n_qubits, gates + observables
    return np.array([1.0, gates, batch, batch * gates, amps * ops, max(0.0, amps - CACHE_AMPLITUDES) * ops])


DEFAULTS: dict[str, SpeedModel] = {
    "double": SpeedModel(1e-3, 2e-5, 1e-5, 0.0, 2e-9),
    "single": SpeedModel(1e-3, 2e-5, 1e-5, 0.0, 1e-9),
}
"""Analytic models used for a backend with no calibration, by its precision."""
NATIVE_GRADIENT_FACTOR = 3.0
"""A native gradient (adjoint sweep, backprop) without calibration costs this many forward passes."""


@attrs.frozen
class Timing:
    """One measured point: backend, mode (``forward`` or a native method), sizes, seconds."""

    backend: str
    mode: str
    n_qubits: int
    batch: int
    gates: int
    observables: int
    seconds: float

    @property
    def features(self) -> np.ndarray:
        """This point's `features`."""
        return features(self.n_qubits, self.batch, self.gates, self.observables)


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Non-negative least squares over every subset of columns (few columns: exact and deterministic)."""
    n = a.shape[1]
    best: tuple[float, np.ndarray] | None = None
    for k in range(1, n + 1):
        for cols in itertools.combinations(range(n), k):
            coef, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
            if (coef < 0).any():
                continue
            full = np.zeros(n)
            full[list(cols)] = coef
            residual = float(np.sum((a @ full - b) ** 2))
            if best is None or residual < best[0] * (1 - 1e-12):
                best = (residual, full)
    assert best is not None  # a single positive column always fits with a positive coefficient
    return best[1]


def fit(timings: Sequence[Timing], iterations: int = 20) -> SpeedModel:
    """The non-negative model with the least absolute relative error over ``timings``.

    Iteratively reweighted least squares: relative residuals are weighted by ``1/|residual|``
    (floored at 1 %), so a few points slowed by a busy machine pull the fit less than squares would.
    """
    if not timings:
        raise ArgumentError("fit needs at least one timing")
    x = np.stack([t.features for t in timings])
    y = np.array([t.seconds for t in timings])
    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    a = x / scale / y[:, None]
    weights = np.ones(len(y))
    coef = np.zeros(x.shape[1])
    for _ in range(iterations):
        root = np.sqrt(weights)
        coef = _nnls(a * root[:, None], root)
        weights = 1.0 / np.maximum(np.abs(a @ coef - 1.0), 0.01)
    coef = coef / scale
    rel = np.abs(x @ coef - y) / y
    return SpeedModel(*(float(c) for c in coef), points=len(timings), median_rel_error=float(np.median(rel)))


@attrs.frozen
class Profile:
    """Fitted models per backend and mode, with the raw timings and the key they are valid for."""

    key: str
    models: Mapping[str, Mapping[str, SpeedModel]]
    timings: tuple[Timing, ...] = ()
    created: float = 0.0

    def model(self, backend: str, mode: str) -> SpeedModel | None:
        """The fitted model of ``backend`` in ``mode``, or None if it was not calibrated."""
        return self.models.get(backend, {}).get(mode)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (``"format": FORMAT``)."""
        return {
            "format": FORMAT,
            "key": self.key,
            "created": self.created,
            "models": {b: {m: attrs.asdict(s) for m, s in ms.items()} for b, ms in self.models.items()},
            "timings": [attrs.asdict(t) for t in self.timings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "profile") -> Profile:
        """Read `to_dict` output back; anything malformed is a `CorruptDataError` naming ``source``."""
        try:
            if data["format"] != FORMAT:
                raise CorruptDataError(
                    f"router profile {source} has format {data['format']!r}, expected {FORMAT!r}; "
                    "delete it and run `qstore calibrate`"
                )
            models = {
                str(b): {str(m): SpeedModel(**s) for m, s in ms.items()} for b, ms in data["models"].items()
            }
            timings = tuple(Timing(**t) for t in data.get("timings", ()))
            return cls(str(data["key"]), models, timings, float(data.get("created", 0.0)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptDataError(
                f"router profile {source} is not a valid {FORMAT} file ({type(exc).__name__}: {exc}); "
                "delete it and run `qstore calibrate`"
            ) from exc


def profile_dir() -> Path:
    """Where profiles live: ``$QSTORE_CACHE_DIR/router``, else ``$XDG_CACHE_HOME/qstore/router``."""
    root = os.environ.get("QSTORE_CACHE_DIR")
    if root:
        return Path(root) / "router"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "qstore" / "router"


def _distribution_versions() -> dict[str, str]:
    names = sorted(
        d.metadata["Name"]
        for d in importlib.metadata.distributions()
        if (d.metadata["Name"] or "").startswith("qstore-")
    )
    return {name: importlib.metadata.version(name) for name in names}


def profile_key() -> str:
    """A short hash of this machine (host, CPU, cores, Python), the qstore versions and `FORMAT`."""
    facts = {
        "host": platform.node(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "qstore": _distribution_versions(),
        "format": FORMAT,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def _path(key: str, directory: Path | None) -> Path:
    return (directory or profile_dir()) / f"profile-{key}.json"


def save_profile(profile: Profile, directory: Path | None = None) -> Path:
    """Write ``profile`` atomically as JSON; returns the file path."""
    path = _path(profile.key, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(profile.to_dict(), indent=1))
    os.replace(tmp, path)
    return path


def load_profile(key: str, directory: Path | None = None) -> Profile | None:
    """The stored profile for ``key``, or None when there is none."""
    path = _path(key, directory)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptDataError(
            f"router profile {path} is not JSON ({exc}); delete it and run `qstore calibrate`"
        ) from exc
    return Profile.from_dict(data, str(path))


def _grid(grid: Sequence[tuple[int, int]], max_qubits: int) -> list[tuple[int, int]]:
    return [(n, b) for n, b in grid if n <= max_qubits and (b == 1 or b * 2**n <= _MAX_POINT_AMPLITUDES)]


def time_backend(
    backend: Backend,
    n_qubits: int,
    batch: int,
    mode: str,
    repeats: int = 1,
    seed: int = 0,
    observables: int | None = None,
) -> Timing:
    """Best wall time of one call of the layer ansatz (depth 2, Z readouts of the first
    ``observables`` qubits, default all).

    At least ``repeats`` calls, and more (up to 10) while all of them together took under 20 ms.
    ``mode`` is ``"forward"`` or a gradient method the backend declares.
    """
    lc = layer_circuit(n_qubits, _DEPTH)
    readouts = lc.observables[: n_qubits if observables is None else observables]
    rng = np.random.default_rng(seed)
    bindings = {name: rng.uniform(0, np.pi, batch) for name in lc.circuit.symbols}

    def call() -> None:
        if mode == "forward":
            backend.run(lc.circuit, bindings, readouts, outputs=())
        else:
            backend.gradient(lc.circuit, bindings, readouts, method=mode)

    times: list[float] = []
    while len(times) < repeats or (sum(times) < _CHEAP_SECONDS and len(times) < _MAX_REPEATS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    gates = len(lc.circuit.operations)
    return Timing(backend.name, mode, n_qubits, batch, gates, len(readouts), min(times))


Point = tuple[Backend, str, int, int, int]
"""What `time_points` times: (backend, mode, qubits, batch, observables)."""


def time_points(
    points: Sequence[Point],
    rounds: int = 3,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> list[Timing]:
    """The best `time_backend` of each point over ``rounds`` passes through all of them.

    Every (backend, mode, qubits) is first called untimed at batch 1: engines build or compile per
    circuit structure (a ``tf.function`` traces on a structure's second call), which a run pays once.
    Interleaving then spreads each point's calls over the whole run, so a burst of load from other
    processes (seconds long on a shared machine) slows one pass of a point, not all of its calls.
    ``progress`` wraps the list of calls (e.g. ``tqdm``).
    """
    for backend, mode, n_qubits, observables in dict.fromkeys((b, m, n, o) for b, m, n, _, o in points):
        time_backend(backend, n_qubits, 1, mode, observables=observables)
    best: dict[int, Timing] = {}
    work = [i for _ in range(rounds) for i in range(len(points))]
    for i in progress(work) if progress else work:
        backend, mode, n_qubits, batch, observables = points[i]
        t = time_backend(backend, n_qubits, batch, mode, observables=observables)
        if i not in best or t.seconds < best[i].seconds:
            best[i] = t
    return [best[i] for i in range(len(points))]


def calibration_points(backends: Sequence[Backend], grid: Sequence[tuple[int, int]] = GRID) -> list[Point]:
    """What `calibrate` times: every local backend, forward and its native gradient, on ``grid``.

    Remote backends (devices ``cloud``/``qpu``) are skipped: their time is dominated by queues.
    """
    local = [b for b in backends if not set(b.capabilities.devices) & {"cloud", "qpu"}]
    work: list[Point] = []
    for b in local:
        caps = b.capabilities
        modes = ["forward", *(m for m in NATIVE_METHODS if m in caps.gradient_methods)]
        work += [(b, m, n, k, n) for m in modes for n, k in _grid(grid, caps.max_qubits)]
    return work


def fit_profile(timings: Sequence[Timing]) -> Profile:
    """A `Profile` for this machine with one fitted model per (backend, mode) of ``timings``."""
    models: dict[str, dict[str, SpeedModel]] = {}
    for (name, mode), group in itertools.groupby(
        sorted(timings, key=lambda t: (t.backend, t.mode)), key=lambda t: (t.backend, t.mode)
    ):
        models.setdefault(name, {})[mode] = fit(list(group))
    return Profile(profile_key(), models, tuple(timings), time.time())


def calibrate(
    backends: Sequence[Backend],
    grid: Sequence[tuple[int, int]] = GRID,
    *,
    rounds: int = 3,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> Profile:
    """Time the `calibration_points` (best of ``rounds`` interleaved passes, `time_points`) and fit."""
    return fit_profile(time_points(calibration_points(backends, grid), rounds, progress))
