"""The GraphQL schema (strawberry): kernel jobs, progress subscription, estimates, stored entries.

    mutation { submitKernelJob(input: {featureMap: {name: "zz", nFeatures: 2}, x: [[0.1, 0.2], [0.3, 0.4]]})
               { id status } }
    subscription { jobProgress(id: "…") { status done total } }

Resolvers read the `JobManager` and the kernel store from the request context. Errors of Q-Store
(`QstoreError`) reach the client as GraphQL errors with their message; anything else is masked as
"Unexpected error." and never shows a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import attrs
import numpy as np
import strawberry
from strawberry.extensions import MaskErrors
from strawberry.scalars import JSON
from strawberry.types import Info

from qstore.core.errors import QstoreError
from qstore.core.kernels.store import kernel_space, sample_hashes
from qstore.service.jobs import JobManager, JobRecord, KernelJobSpec

__all__ = ["build_schema"]

_POLL = 0.05  # seconds between progress checks of a subscription


@strawberry.type
class KernelStats:
    """What a kernel block costs: requested entries, distinct pairs, reused, computed, backend circuits."""

    entries: int
    unique: int
    reused: int
    computed: int
    circuits: int


@strawberry.type
class Job:
    """A kernel job: its status, progress (steps), cost and, when done, its matrix."""

    id: strawberry.ID
    status: str
    done: int
    total: int
    created: float
    backend: str
    feature_map: str
    error: str | None
    stats: KernelStats | None

    @strawberry.field(description="The kernel matrix once the job is done, else null.")
    def result(self, info: Info) -> list[list[float]] | None:
        manager: JobManager = info.context["manager"]
        if self.status != "done":
            return None
        return manager.result(str(self.id)).tolist()  # type: ignore[no-any-return]


@strawberry.type
class Estimate:
    """The price of a kernel block now: entries to compute, backend circuits, shots, USD and the
    router's estimate of seconds (``calibrated``: from a measured profile rather than defaults)."""

    stats: KernelStats
    shots: int | None
    usd: float
    seconds: float
    calibrated: bool


@strawberry.input
class FeatureMapInput:
    """A feature-map builder by name (``zz``, ``angle``, ``reuploading``) and its options."""

    name: str
    n_features: int
    options: JSON | None = None


@strawberry.input
class KernelJobInput:
    """A kernel block ``K(x, y)`` (``y`` null for the symmetric ``K(x)``) and how to compute it."""

    feature_map: FeatureMapInput
    x: list[list[float]]
    y: list[list[float]] | None = None
    backend: str = "numpy"
    method: str = "auto"
    shots: int | None = None
    seed: int | None = None
    batch_size: int = 4096


def _spec(data: KernelJobInput) -> KernelJobSpec:
    fm = data.feature_map
    options = {"n_features": fm.n_features, **(fm.options or {})}
    rows = lambda m: None if m is None else tuple(map(tuple, m))  # noqa: E731
    return KernelJobSpec(
        fm.name,
        options,
        rows(data.x),
        rows(data.y),
        data.backend,
        data.method,
        data.shots,
        data.seed,
        data.batch_size,
    )


def _stats(stats: Any) -> KernelStats:
    return KernelStats(**attrs.asdict(stats))


def _job(record: JobRecord) -> Job:
    return Job(
        id=strawberry.ID(record.id),
        status=record.status,
        done=record.done,
        total=record.total,
        created=record.created,
        backend=record.spec.backend,
        feature_map=record.spec.feature_map,
        error=record.error,
        stats=None if record.stats is None else _stats(record.stats),
    )


@strawberry.type
class Query:
    @strawberry.field(description="One job by id.")
    def job(self, info: Info, id: strawberry.ID) -> Job:
        return _job(info.context["manager"].get(str(id)))

    @strawberry.field(description="Every job, oldest first.")
    def jobs(self, info: Info) -> list[Job]:
        return [_job(r) for r in info.context["manager"].list()]

    @strawberry.field(description="What a kernel job would pay now, given the entries already stored.")
    def estimate(self, info: Info, input: KernelJobInput) -> Estimate:
        manager: JobManager = info.context["manager"]
        spec = _spec(input)
        x, y = spec.data()
        price = spec.kernel(manager.store).estimate(x, y)
        return Estimate(
            stats=_stats(price.stats),
            shots=spec.shots,
            usd=float(price.usd),
            seconds=float(price.seconds),
            calibrated=price.calibrated,
        )

    @strawberry.field(description="A stored kernel entry K(x, y), or null when it was never computed.")
    def kernel_value(
        self,
        info: Info,
        feature_map: FeatureMapInput,
        x: list[float],
        y: list[float],
        backend: str = "numpy",
        shots: int | None = None,
    ) -> float | None:
        manager: JobManager = info.context["manager"]
        spec = _spec(KernelJobInput(feature_map=feature_map, x=[x], y=[y], backend=backend, shots=shots))
        kernel = spec.kernel(manager.store)
        left, right = spec.data()
        assert right is not None
        a, b = sorted(sample_hashes(kernel.feature_map.check_data(np.concatenate([left, right]), "x, y")))
        if a == b:
            return 1.0
        space = kernel_space(kernel.feature_map.hash, kernel.backend.name, kernel.precision, kernel.shots)
        value = float(manager.store.get(space, [a], [b])[0])
        return None if value != value else value


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Queue a kernel job; entries already stored are reused, not paid again.")
    def submit_kernel_job(self, info: Info, input: KernelJobInput) -> Job:
        return _job(info.context["manager"].submit(_spec(input)))

    @strawberry.mutation(description="Stop a job at its next batch; entries it already paid for stay stored.")
    def cancel_job(self, info: Info, id: strawberry.ID) -> Job:
        return _job(info.context["manager"].cancel(str(id)))

    @strawberry.mutation(
        description="Delete stored kernel entries of one kernel space, or of all; returns how many."
    )
    def clear_cache(
        self,
        info: Info,
        feature_map: FeatureMapInput | None = None,
        backend: str = "numpy",
        shots: int | None = None,
    ) -> int:
        manager: JobManager = info.context["manager"]
        if feature_map is None:
            return int(manager.store.clear())
        spec = _spec(
            KernelJobInput(
                feature_map=feature_map, x=[[0.0] * feature_map.n_features], backend=backend, shots=shots
            )
        )
        kernel = spec.kernel(manager.store)
        space = kernel_space(kernel.feature_map.hash, kernel.backend.name, kernel.precision, kernel.shots)
        return int(manager.store.clear(space))


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The job's state each time its progress changes, until it finishes.")
    async def job_progress(self, info: Info, id: strawberry.ID) -> AsyncGenerator[Job, None]:
        manager: JobManager = info.context["manager"]
        last = None
        while True:
            record = manager.get(str(id))
            if record != last:
                last = record
                yield _job(record)
            if record.finished:
                return
            await asyncio.sleep(_POLL)


def _masked(error: Any) -> bool:
    original = getattr(error, "original_error", None)
    return original is not None and not isinstance(original, QstoreError)


def build_schema() -> strawberry.Schema:
    """The service's schema; unexpected (non-Q-Store) errors are masked."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[lambda: MaskErrors(should_mask_error=_masked)],
    )
