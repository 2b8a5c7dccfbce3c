"""Kernel jobs: specs, persisted records, and the runner that computes them through the kernel store.

A job is one kernel block ``K(X, Y)`` of a feature map on a registered backend. Its record is a
JSON file under ``<root>/jobs`` (written atomically) and its result a ``.npy`` (no pickle), so
finished jobs survive a restart, and queued or interrupted jobs are resumed on start: entries
already paid for are in the kernel store, so resuming pays only for the rest.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np

from qstore.core.errors import JobError, NotStoredError, QstoreError
from qstore.core.kernels import (
    FeatureMap,
    KernelCancelledError,
    QuantumKernel,
    angle_feature_map,
    reuploading_feature_map,
    zz_feature_map,
)
from qstore.core.kernels.store import KernelStats
from qstore.core.plugins import get_backend
from qstore.core.storage import KernelStore

__all__ = ["FEATURE_MAPS", "JobManager", "JobRecord", "KernelJobSpec", "ServiceError"]

Status = Literal["queued", "running", "done", "failed", "cancelled"]
FINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})
FEATURE_MAPS: dict[str, Callable[..., FeatureMap]] = {
    "zz": zz_feature_map,
    "angle": angle_feature_map,
    "reuploading": reuploading_feature_map,
}
_SAVE_EVERY = 0.25  # seconds between progress writes of a running job


class ServiceError(QstoreError):
    """A request the kernel service cannot accept (bad spec, unknown job, refused bind)."""


@attrs.frozen
class KernelJobSpec:
    """What to compute: feature map (builder name and options), data, backend and sampling."""

    feature_map: str
    options: Mapping[str, Any]
    x: tuple[tuple[float, ...], ...]
    y: tuple[tuple[float, ...], ...] | None = None
    backend: str = "numpy"
    method: str = "auto"
    shots: int | None = None
    seed: int | None = None
    batch_size: int = 4096

    def build_feature_map(self) -> FeatureMap:
        """The feature map, or a `ServiceError` naming the known builders."""
        if self.feature_map not in FEATURE_MAPS:
            raise ServiceError(
                f"featureMap {self.feature_map!r} is unknown; use one of {sorted(FEATURE_MAPS)}"
            )
        try:
            return FEATURE_MAPS[self.feature_map](**self.options)
        except TypeError as exc:
            raise ServiceError(
                f"featureMap {self.feature_map!r}: bad options {dict(self.options)}: {exc}"
            ) from None

    def kernel(
        self, store: KernelStore, progress: Callable[[int, int], None] | bool = False
    ) -> QuantumKernel:
        """A `QuantumKernel` on the registered backend, reading and filling ``store``."""
        return QuantumKernel(
            self.build_feature_map(),
            get_backend(self.backend),
            method=self.method,  # type: ignore[arg-type]
            shots=self.shots,
            seed=self.seed,
            store=store,
            progress=progress,
            batch_size=self.batch_size,
        )

    def data(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``X`` and ``Y`` (None for the symmetric kernel) as float arrays."""
        return np.asarray(self.x, dtype=np.float64), None if self.y is None else np.asarray(
            self.y, dtype=np.float64
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (floats round-trip exactly through JSON)."""
        return attrs.asdict(self, recurse=False) | {"options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KernelJobSpec:
        """Inverse of `to_dict`."""
        rows = lambda m: None if m is None else tuple(tuple(map(float, r)) for r in m)  # noqa: E731
        return cls(**{**data, "x": rows(data["x"]), "y": rows(data.get("y"))})


@attrs.frozen
class JobRecord:
    """A job's persisted state: status, progress and what the block cost."""

    id: str
    spec: KernelJobSpec
    status: Status = "queued"
    created: float = attrs.field(factory=time.time)
    done: int = 0
    total: int = 0
    stats: KernelStats | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the job reached done, failed or cancelled."""
        return self.status in FINAL

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        data = attrs.asdict(self, recurse=False)
        data["spec"] = self.spec.to_dict()
        data["stats"] = None if self.stats is None else attrs.asdict(self.stats)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobRecord:
        """Inverse of `to_dict`."""
        stats = None if data.get("stats") is None else KernelStats(**data["stats"])
        return cls(**{**data, "spec": KernelJobSpec.from_dict(data["spec"]), "stats": stats})


def _write_atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, mode) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class JobManager:
    """Runs kernel jobs on ``workers`` threads, persists them under ``root``, resumes them on start."""

    def __init__(self, root: str | os.PathLike[str], store: KernelStore, workers: int = 1) -> None:
        self.root = Path(root)
        self.store = store
        self._dir = self.root / "jobs"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._saved: dict[str, float] = {}
        self._closing = False
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="qstore-job")
        for path in sorted(self._dir.glob("*.json")):
            record = JobRecord.from_dict(json.loads(path.read_text()))
            self._jobs[record.id] = record
            if not record.finished:
                self._start(attrs.evolve(record, status="queued"))

    def submit(self, spec: KernelJobSpec) -> JobRecord:
        """Validate ``spec`` (feature map, data, backend) and queue it; returns the queued record."""
        kernel = spec.kernel(self.store)
        x, y = spec.data()
        kernel.feature_map.check_data(x, "x")
        if y is not None:
            kernel.feature_map.check_data(y, "y")
        return self._start(JobRecord(uuid.uuid4().hex, spec))

    def _start(self, record: JobRecord) -> JobRecord:
        with self._lock:
            self._cancel[record.id] = threading.Event()
        self._save(record, force=True)
        self._pool.submit(self._run, record.id)
        return record

    def get(self, job_id: str) -> JobRecord:
        """The record of ``job_id``; `ServiceError` if there is none."""
        with self._lock:
            if job_id not in self._jobs:
                raise ServiceError(f"no job with id {job_id!r}")
            return self._jobs[job_id]

    def list(self) -> list[JobRecord]:
        """Every job, oldest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda r: r.created)

    def result(self, job_id: str) -> np.ndarray:
        """The kernel matrix of a finished job."""
        record = self.get(job_id)
        if record.status != "done":
            raise JobError(f"job {job_id} is {record.status}; its result exists only when done")
        path = self._dir / f"{job_id}.npy"
        if not path.is_file():
            raise NotStoredError(f"job {job_id} is done but its result file {path} is missing")
        return np.load(path, allow_pickle=False)

    def cancel(self, job_id: str) -> JobRecord:
        """Stop ``job_id`` at its next batch (entries already paid stay stored); finished jobs are unchanged."""
        record = self.get(job_id)
        with self._lock:
            event = self._cancel.get(job_id)
        if event is not None:
            event.set()
        if record.status == "queued":
            self._save(attrs.evolve(record, status="cancelled"), force=True)
        return self.get(job_id)

    def _save(self, record: JobRecord, force: bool = False) -> None:
        with self._lock:
            current = self._jobs.get(record.id)
            if current is not None and current.finished and current.status != record.status:
                return  # a job cancelled while queued stays cancelled
            self._jobs[record.id] = record
            now = time.monotonic()
            if not force and now - self._saved.get(record.id, 0.0) < _SAVE_EVERY:
                return
            self._saved[record.id] = now
            text = json.dumps(record.to_dict())
            _write_atomic(self._dir / f"{record.id}.json", lambda f: f.write(text), "w")

    def _run(self, job_id: str) -> None:
        record = self.get(job_id)
        event = self._cancel[job_id]
        if record.finished or event.is_set():
            return
        self._save(attrs.evolve(record, status="running"), force=True)

        def progress(done: int, total: int) -> None:
            self._save(attrs.evolve(self.get(job_id), done=done, total=total))

        try:
            kernel = record.spec.kernel(self.store, progress)
            x, y = record.spec.data()
            matrix = kernel.evaluate(x, y, cancel=event)
        except KernelCancelledError as exc:
            after = {"status": "queued"} if self._closing else {"status": "cancelled", "error": str(exc)}
            self._save(attrs.evolve(self.get(job_id), **after), force=True)
            return
        except Exception as exc:
            message = str(exc) if isinstance(exc, QstoreError) else f"{type(exc).__name__}: {exc}"
            self._save(attrs.evolve(self.get(job_id), status="failed", error=message), force=True)
            return
        _write_atomic(self._dir / f"{job_id}.npy", lambda f: np.save(f, matrix, allow_pickle=False), "wb")
        current = self.get(job_id)
        total = max(current.total, 1)
        self._save(
            attrs.evolve(current, status="done", done=total, total=total, stats=kernel.last_stats), force=True
        )

    def close(self) -> None:
        """Stop running jobs (they resume on the next start) and wait for the workers."""
        self._closing = True
        with self._lock:
            running = [i for i, r in self._jobs.items() if not r.finished]
        for job_id in running:
            self._cancel[job_id].set()
        self._pool.shutdown(wait=True)
