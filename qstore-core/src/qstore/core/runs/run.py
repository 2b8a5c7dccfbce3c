"""`Run`: a training run as a directory that keeps everything, written without blocking a step.

Layout of ``<root>/<name>/``::

    manifest.json     config, package versions, seed, backends, routing decisions, storage drivers,
                      status, resumes, last checkpoint (replaced atomically)
    metrics/          Parquet part files (driver ``parquet``), one row per step and phase
    checkpoints/      zarr groups (driver ``zarr``), one per checkpoint, saved atomically
    vectors/          a faiss index of embeddings (driver ``faiss``), when the run stores any
    ledger.jsonl      the cost ledger, one line per charge

Drivers come from the plugin registry: ``parquet``, ``zarr`` and ``faiss`` when qstore-storage is
installed, else the core's ``memory`` stores (the manifest says which were used). Every write goes
through one `RunWriter` thread; `log`, `checkpoint`, `charge` and `add_embeddings` only enqueue.

Metrics rows use the per-step schema (`SCHEMA`); ``backend`` is an index into the manifest's
``backends`` and ``phase`` is 0 for training, 1 for validation. A resumed run logs again the steps
after its last checkpoint; `metrics` keeps the last row logged for each ``(step, phase)``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from qstore.core.errors import ArgumentError, NotStoredError, StorageError
from qstore.core.plugins import default_registry
from qstore.core.runs.ledger import Charge, append_charge, read_ledger
from qstore.core.runs.manifest import Manifest, plain, read_manifest, write_manifest
from qstore.core.runs.writer import RunWriter
from qstore.core.storage import Checkpoint

__all__ = ["PHASES", "SCHEMA", "Run", "latest_rows", "read_rows"]

SCHEMA = (
    "epoch",
    "step",
    "phase",
    "time",
    "loss",
    "grad_norm",
    "grad_max",
    "grad_min",
    "circuits",
    "qubits",
    "shots",
    "backend",
    "circuit_seconds",
    "queue_seconds",
    "step_seconds",
    "storage_seconds",
    "cost_usd",
    "samples_per_s",
)
"""The per-step metrics columns (the seed's schema); a step may log more, e.g. ``accuracy``."""
PHASES = ("train", "validation")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_DISK = {"metrics": "parquet", "checkpoints": "zarr", "vectors": "faiss"}
_FLUSH_ROWS = 1_000_000  # the writer thread flushes on checkpoints, on idle and on close


def _usable(driver: str) -> bool:
    registry = default_registry()
    if driver not in registry.names("storage"):
        return False
    return not registry.entry("storage", driver).missing_requires()


def _choose_drivers(storage: str) -> dict[str, str]:
    if storage == "memory":
        return dict.fromkeys(_DISK, "memory")
    if storage == "auto":
        return {kind: driver if _usable(driver) else "memory" for kind, driver in _DISK.items()}
    raise ArgumentError(f"storage must be 'auto' (disk drivers when installed) or 'memory', got {storage!r}")


def _open_store(kind: str, driver: str, folder: Path, **options: Any) -> Any:
    registry = default_registry()
    if driver == "memory":
        return registry.get_storage("memory", kind=kind, **options)
    if kind == "metrics":
        return registry.get_storage(driver, path=folder / kind, flush_rows=_FLUSH_ROWS)
    return registry.get_storage(driver, path=folder / kind, **options)


def read_rows(folder: Path, driver: str) -> list[dict[str, float | int]]:
    """The metrics rows stored in the run ``folder`` by ``driver``, last per ``(step, phase)``.

    A run whose metrics went to memory stored none on disk (empty list). Works while the run is
    still writing: part files appear atomically.
    """
    if driver == "memory" or not (folder / "metrics").exists():
        return []
    sink_class: Any = default_registry().entry("storage", driver).load_factory()
    return latest_rows(sink_class.read(folder / "metrics").rows)


def latest_rows(rows: Sequence[Mapping[str, float | int]]) -> list[dict[str, float | int]]:
    """Keep the last row per ``(step, phase)`` (a resumed run re-logs steps), ordered by step."""
    last: dict[tuple[int, float], dict[str, float | int]] = {}
    for row in rows:
        last[(int(row["step"]), float(row.get("phase", 0.0)))] = dict(row)
    return [last[key] for key in sorted(last)]


class Run:
    """An open training run; create or resume it with `Run.start`, end it with `close`.

    >>> with Run.start("digits", config={"lr": 0.05}, seed=0) as run:  # doctest: +SKIP
    ...     run.log(0, epoch=0, loss=2.3)
    ...     run.checkpoint("step-0", {"w": np.zeros(3)}, {"epoch": 0})
    """

    def __init__(self, folder: Path, manifest: Manifest, queue_size: int) -> None:
        self.folder = folder
        self.manifest = manifest
        drivers = manifest.storage
        self._metrics = _open_store("metrics", drivers["metrics"], folder)
        self._checkpoints = _open_store("checkpoints", drivers["checkpoints"], folder)
        self._vectors: Any = None
        self._cost = sum(c.usd for c in read_ledger(folder))
        self.storage_seconds = 0.0
        write_manifest(folder, manifest.snapshot())  # once, before any step: the run is visible at once
        self._writer = RunWriter(queue_size, on_idle=self._metrics.flush)

    @classmethod
    def start(
        cls,
        name: str,
        *,
        root: str | Path = "runs",
        resume: bool = False,
        config: Mapping[str, Any] | None = None,
        seed: int | None = None,
        framework: str | None = None,
        budget_usd: float | None = None,
        storage: str = "auto",
        queue_size: int = 256,
    ) -> Run:
        """Create run ``name`` under ``root``, or with ``resume=True`` reopen it if it exists.

        A new run refuses an existing directory (pick another name, or resume). Resuming keeps the
        manifest (its ``config``, ``seed`` and drivers win) and records the resume.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ArgumentError(f"run name {name!r} is invalid: use letters, digits and '._-'")
        folder = Path(root) / name
        if (folder / "manifest.json").exists():
            if not resume:
                raise StorageError(
                    f"run {name!r} already exists at {str(folder)!r}; pass resume=True to continue "
                    "it, or choose another name"
                )
            manifest = read_manifest(folder)
            manifest.status = "running"
            manifest.resumes.append({"time": time.time(), "from_checkpoint": manifest.last_checkpoint})
        else:
            folder.mkdir(parents=True, exist_ok=True)
            manifest = Manifest(
                name=name,
                created=time.time(),
                seed=seed,
                config=plain("config", config or {}),
                framework=framework,
                storage=_choose_drivers(storage),
                budget_usd=budget_usd,
            )
        return cls(folder, manifest, queue_size)

    @property
    def name(self) -> str:
        """The run's name (its directory's name)."""
        return self.manifest.name

    def _submit(self, write: Any) -> None:
        start = time.perf_counter()
        self._writer.submit(write)
        self.storage_seconds += time.perf_counter() - start

    def _write_manifest(self) -> None:
        snapshot = self.manifest.snapshot()
        self._submit(lambda: write_manifest(self.folder, snapshot))

    def backend_id(self, backend: str) -> int:
        """The index of ``backend`` in the manifest's ``backends`` (added on first use)."""
        if backend not in self.manifest.backends:
            self.manifest.backends.append(backend)
            self._write_manifest()
        return self.manifest.backends.index(backend)

    def record_decision(self, decision: Any) -> None:
        """Keep a routing decision (the router's value, or any mapping / ``to_dict()`` object)."""
        self.manifest.decisions.append(plain("routing decision", decision))
        self._write_manifest()

    def log(
        self,
        step: int,
        *,
        epoch: int | None = None,
        phase: str = "train",
        backend: str | None = None,
        **values: float,
    ) -> None:
        """Queue one metrics row for ``step``; names of `SCHEMA` and any others, real numbers."""
        if phase not in PHASES:
            raise ArgumentError(f"phase must be one of {PHASES}, got {phase!r}")
        row: dict[str, float] = {"phase": float(PHASES.index(phase)), "time": time.time()}
        if epoch is not None:
            row["epoch"] = float(epoch)
        if backend is not None:
            row["backend"] = float(self.backend_id(backend))
        row.update(values)
        self._metrics_log(step, row)

    def _metrics_log(self, step: int, row: dict[str, float]) -> None:
        sink = self._metrics
        self._submit(lambda: sink.log(step, **row))

    def charge(
        self, step: int, backend: str, circuits: int, shots: int, usd: float, phase: str = "train"
    ) -> None:
        """Queue a cost-ledger line; the run's total is kept for the report and the budget."""
        entry = Charge(int(step), backend, int(circuits), int(shots), float(usd), phase)
        self._cost += entry.usd
        self.backend_id(backend)
        self._submit(lambda: append_charge(self.folder, entry))

    @property
    def cost_usd(self) -> float:
        """Total charged so far, resumed attempts included."""
        return self._cost

    def checkpoint(
        self, name: str, arrays: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Queue checkpoint ``name`` (arrays copied now); every row logged before it is written first."""
        copied = {key: np.array(value, copy=True) for key, value in arrays.items()}
        meta = dict(metadata or {})
        store, sink = self._checkpoints, self._metrics
        self.manifest.last_checkpoint = name
        snapshot = self.manifest.snapshot()

        def write() -> None:
            sink.flush()
            store.save(name, copied, meta)
            write_manifest(self.folder, snapshot)

        self._submit(write)

    def latest_checkpoint(self) -> Checkpoint | None:
        """The most recent complete checkpoint (after queued writes finish), or None."""
        self.flush()
        name = self._checkpoints.latest()
        return None if name is None else self._checkpoints.load(name)

    def load_checkpoint(self, name: str) -> Checkpoint:
        """Checkpoint ``name``; `NotStoredError` lists the saved ones."""
        self.flush()
        try:
            return self._checkpoints.load(name)
        except NotStoredError:
            raise
        except KeyError as exc:
            raise NotStoredError(str(exc.args[0] if exc.args else exc)) from None

    def add_embeddings(self, ids: Sequence[Any], vectors: Any) -> None:
        """Queue quantum-layer outputs ``(n, dim)`` of samples ``ids`` for `nearest` (faiss store)."""
        array = np.array(vectors, dtype=np.float64, copy=True)
        if array.ndim != 2:
            raise ArgumentError(f"embeddings must have shape (n, dim), got {array.shape}")
        if self._vectors is None:
            self._vectors = _open_store("vectors", self.manifest.storage["vectors"], self.folder)
        store, keys = self._vectors, list(ids)
        self._submit(lambda: store.add(keys, array))

    def nearest(self, x: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and squared distances ``(m, k)`` of the stored embeddings nearest to ``x``.

        Use: feed a sample through the quantum layer, then see which training samples the layer
        maps close to it — what the layer treats as similar.
        """
        self.flush()
        if self._vectors is None:
            if self.manifest.storage["vectors"] == "memory" or not (self.folder / "vectors").exists():
                raise NotStoredError(f"run {self.name!r} holds no embeddings; call add_embeddings first")
            self._vectors = _open_store("vectors", self.manifest.storage["vectors"], self.folder)
        return self._vectors.search(x, k)  # type: ignore[no-any-return]

    def metrics(self) -> list[dict[str, float | int]]:
        """Every row logged, the last per ``(step, phase)``, ordered by step (flushes first)."""
        self._submit(self._metrics.flush)
        self.flush()
        if self.manifest.storage["metrics"] == "memory":
            return latest_rows(self._metrics.rows)
        return read_rows(self.folder, self.manifest.storage["metrics"])

    def report(self) -> Any:
        """The `RunReport` of this run so far."""
        from qstore.core.runs.report import build_report

        rows = self.metrics()
        return build_report(self.manifest, rows, read_ledger(self.folder))

    def flush(self) -> None:
        """Return once every queued write is done."""
        self._writer.flush()

    def close(self, status: str = "completed") -> None:
        """Write everything queued, set ``status`` in the manifest, and stop the writer."""
        self.manifest.status = status
        self._write_manifest()
        self._submit(self._metrics.flush)
        self._writer.close()
        if hasattr(self._metrics, "close"):
            self._metrics.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close("completed")
        else:
            self.close("interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed")
