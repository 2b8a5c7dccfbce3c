"""Measured speed models: time each backend on a small grid, fit, store the profile on disk.

Each backend gets one `SpeedModel` per mode — ``forward`` and its native gradient method
(``adjoint`` or ``backprop``) — of the form::

    seconds = overhead + per_row · batch + per_amp_gate · batch · 2**n_qubits · gates

fitted by least squares on *relative* error (every coefficient non-negative). Generic gradient
methods (parameter shift, finite differences, SPSA) run on ``execute``, so their time is the
forward model at the batch they expand to; only native methods are timed separately.

`calibrate` writes a JSON profile to ``$QSTORE_CACHE_DIR/router/`` (default
``$XDG_CACHE_HOME/qstore/router/``, i.e. ``~/.cache/qstore/router/``), one file per machine and
package versions (`profile_key`). Without a profile the `DEFAULTS` below apply and every
decision says its estimates are defaults: 1 ms per call, 10 µs per row, and 2 ns (double) or 1 ns
(single) per amplitude-gate; a native gradient costs 3 forward passes; a remote backend adds
`Policy.queue_seconds`.
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
    "DEFAULTS",
    "FORMAT",
    "GRID",
    "QUICK_GRID",
    "Profile",
    "SpeedModel",
    "Timing",
    "calibrate",
    "fit",
    "load_profile",
    "profile_dir",
    "profile_key",
    "save_profile",
    "time_backend",
]

FORMAT = "qstore.router-profile/1"
GRID: tuple[tuple[int, int], ...] = tuple(itertools.product((4, 8, 12, 16, 18, 20), (1, 16, 64)))
"""(qubits, batch) points `calibrate` times by default; 18+ qubits only at batch 1 (see `_grid`)."""
QUICK_GRID: tuple[tuple[int, int], ...] = ((4, 1), (4, 64), (8, 1), (8, 64), (12, 1), (12, 16), (16, 1))
"""The ``--quick`` grid: seconds per backend, enough to order the local engines."""
_MAX_POINT_AMPLITUDES = 2**20
_DEPTH = 2


@attrs.frozen
class SpeedModel:
    """Seconds of one call: ``overhead + per_row·batch + per_amp_gate·batch·2**n·gates``."""

    overhead: float
    per_row: float
    per_amp_gate: float
    points: int = 0
    median_rel_error: float | None = None

    def predict(self, n_qubits: int, batch: int, gates: int) -> float:
        """Predicted seconds for one call of ``batch`` circuits of ``gates`` gates on ``n_qubits``."""
        return (
            self.overhead + self.per_row * batch + self.per_amp_gate * batch * 2.0**n_qubits * max(gates, 1)
        )


DEFAULTS: dict[str, SpeedModel] = {
    "double": SpeedModel(1e-3, 1e-5, 2e-9),
    "single": SpeedModel(1e-3, 1e-5, 1e-9),
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
    seconds: float


def _features(t: Timing | tuple[int, int, int]) -> np.ndarray:
    n, batch, gates = (t.n_qubits, t.batch, t.gates) if isinstance(t, Timing) else t
    return np.array([1.0, batch, batch * 2.0**n * max(gates, 1)])


def fit(timings: Sequence[Timing]) -> SpeedModel:
    """The non-negative three-term model with the least relative squared error over ``timings``."""
    if not timings:
        raise ArgumentError("fit needs at least one timing")
    x = np.stack([_features(t) for t in timings])
    y = np.array([t.seconds for t in timings])
    xw, ones = x / y[:, None], np.ones(len(y))
    best: tuple[float, np.ndarray] | None = None
    for terms in itertools.chain.from_iterable(itertools.combinations(range(3), k) for k in (1, 2, 3)):
        cols = list(terms)
        coef, *_ = np.linalg.lstsq(xw[:, cols], ones, rcond=None)
        if (coef < 0).any():
            continue
        full = np.zeros(3)
        full[cols] = coef
        residual = float(np.sum((xw @ full - 1.0) ** 2))
        if best is None or residual < best[0]:
            best = (residual, full)
    assert best is not None  # a single positive column always fits with a positive coefficient
    coef = best[1]
    rel = np.abs(x @ coef - y) / y
    return SpeedModel(float(coef[0]), float(coef[1]), float(coef[2]), len(timings), float(np.median(rel)))


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
    """A short hash of this machine (host, CPU, cores, Python) and the installed qstore versions."""
    facts = {
        "host": platform.node(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "qstore": _distribution_versions(),
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
    backend: Backend, n_qubits: int, batch: int, mode: str, repeats: int = 2, seed: int = 0
) -> Timing:
    """Best of ``repeats`` wall times of one call of the layer ansatz (depth 2, Z readouts).

    ``mode`` is ``"forward"`` or a native gradient method the backend declares.
    """
    lc = layer_circuit(n_qubits, _DEPTH)
    rng = np.random.default_rng(seed)
    bindings = {name: rng.uniform(0, np.pi, batch) for name in lc.circuit.symbols}
    gates = len(lc.circuit.operations)

    def call() -> None:
        if mode == "forward":
            backend.run(lc.circuit, bindings, lc.observables, outputs=())
        else:
            backend.gradient(lc.circuit, bindings, lc.observables, method=mode)

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return Timing(backend.name, mode, n_qubits, batch, gates, best)


def calibrate(
    backends: Sequence[Backend],
    grid: Sequence[tuple[int, int]] = GRID,
    *,
    repeats: int = 2,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> Profile:
    """Time every local backend (forward, and its native gradient) on ``grid`` and fit the models.

    Remote backends (devices ``cloud``/``qpu``) are skipped: their time is dominated by queues.
    ``progress`` wraps the list of points (e.g. ``tqdm``).
    """
    local = [b for b in backends if not set(b.capabilities.devices) & {"cloud", "qpu"}]
    work: list[tuple[Backend, str, int, int]] = []
    for b in local:
        caps = b.capabilities
        modes = ["forward", *(m for m in NATIVE_METHODS if m in caps.gradient_methods)]
        work += [(b, m, n, k) for m in modes for n, k in _grid(grid, caps.max_qubits)]
    for b in local:  # the first call of an engine pays imports and compilation: keep it out
        time_backend(b, 2, 1, "forward", repeats=1)
    points = [time_backend(b, n, k, m, repeats) for b, m, n, k in (progress(work) if progress else work)]  # type: ignore[misc]
    models: dict[str, dict[str, SpeedModel]] = {}
    for (name, mode), group in itertools.groupby(
        sorted(points, key=lambda t: (t.backend, t.mode)), key=lambda t: (t.backend, t.mode)
    ):
        models.setdefault(name, {})[mode] = fit(list(group))
    return Profile(profile_key(), models, tuple(points), time.time())
