"""The async execution pipeline: many requests, few jobs, K in flight, results in request order.

A remote backend answers in seconds, so submitting circuits one by one and waiting on each wastes
the time. An `Executor` takes many requests at once and

* **coalesces** compatible ones (same circuit structure, observables, shots and outputs) into one
  backend job of at most the backend's ``Capabilities.max_circuits_per_job`` circuits (or a
  smaller ``max_rows_per_job``) — exact requests always, shot-based ones
  only without a seed (a seeded request keeps its own job, so its samples are the same as when run
  alone);
* keeps up to ``max_in_flight`` jobs running (`Backend.start`: IonQ jobs, or the local pool),
  starts at most ``rate_limit`` jobs per second, and blocks `submit` when ``max_pending`` requests
  already wait (backpressure);
* **retries** a job that failed with a `RetryableJobError` (nothing ran, nothing was charged) up
  to ``retries`` more times with exponential backoff; any other failure ends its requests with
  that error; a job unfinished after ``timeout`` seconds is cancelled and fails with `JobError`;
* answers each request with its own `Job` (``result``, ``cancel``, ``await``); cancelling every
  request of a running job cancels the backend job (for IonQ: at IonQ);
* reuses results from a `ResultCache` (see `qstore.core.result_cache` for what is cacheable) and
  counts hits, misses, jobs and retries in `metrics`, ready for a metrics sink;
* with a ``journal`` (a `qstore.core.runs.Run`, whose directory then holds ``jobs.jsonl``, or a
  path) records every remote job's ids as soon as they exist, so that after a crash — even
  SIGKILL — `recover` re-attaches to them: finished jobs are fetched, not paid again (see
  `qstore.core.job_journal`).

Examples:
    >>> from qstore.core import Circuit, NumpyBackend
    >>> with Executor(NumpyBackend()) as ex:
    ...     jobs = [ex.submit(Circuit(1).rx("t", 0), {"t": t}, "Z0") for t in (0.0, 3.14159265)]
    ...     [round(float(j.result().expectations[0, 0]), 6) for j in jobs]
    [1.0, -1.0]
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import attrs
import numpy as np

from qstore.core import result_cache
from qstore.core.backend import Backend, Capabilities, Job, Request, Result
from qstore.core.bindings import Batch, Bindings
from qstore.core.circuit import Circuit
from qstore.core.errors import CapabilityError, JobError, RetryableJobError
from qstore.core.job_journal import JOURNAL, JobJournal, JournalEntry, JournalStatus
from qstore.core.observables import ObservableLike
from qstore.core.runs import Run
from qstore.core.storage import MemoryResultCache, ResultCache

__all__ = ["DEFAULT_ROWS_PER_JOB", "Executor", "RetryPolicy"]

logger = logging.getLogger("qstore.core.executor")

CANCEL_GRACE = 30.0
"""Seconds a timed-out job's cancellation may take to be confirmed before its requests fail."""


def _positive_int(name: str, value: object, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "a positive integer or None" if allow_none else "a positive integer"
        raise CapabilityError(f"{name} must be {allowed}, got {value!r}")


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise CapabilityError(f"{name} must be a non-negative number of seconds, got {value!r}")
    return float(value)


@attrs.frozen
class RetryPolicy:
    """How often a job is resubmitted after a `RetryableJobError`, and how long to wait in between.

    Attempt ``k`` (1-based) waits ``backoff · factor**(k-1)`` seconds, at most ``max_backoff``.
    """

    retries: int = 3
    backoff: float = 0.5
    factor: float = 2.0
    max_backoff: float = 30.0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise CapabilityError(f"retries must be a non-negative integer, got {self.retries!r}")
        _non_negative("backoff", self.backoff)
        _non_negative("max_backoff", self.max_backoff)
        if isinstance(self.factor, bool) or not isinstance(self.factor, int | float) or self.factor < 1:
            raise CapabilityError(f"factor must be a number >= 1, got {self.factor!r}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return float(min(self.backoff * self.factor ** (attempt - 1), self.max_backoff))


@attrs.define(eq=False)
class _Item:
    """One submitted request and the future its caller holds."""

    request: Request
    future: concurrent.futures.Future[Result]
    key: str | None
    group: _Group | None = None


@attrs.define(eq=False)
class _Group:
    """Requests sent as one backend job; ``job`` is the current attempt.

    ``remote_ids`` is set for a group `Executor.recover` re-attaches; ``journal_id`` and ``keys``
    name it in the journal, and ``ended`` is set once its final status is recorded there.
    """

    items: list[_Item]
    request: Request
    job: Job | None = None
    cancelled: threading.Event = attrs.field(factory=threading.Event)
    remote_ids: tuple[str, ...] = ()
    journal_id: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    keys: tuple[str, ...] = ()
    ended: bool = False


def _merge_key(request: Request) -> tuple[object, ...] | None:
    """Requests with equal keys can share one job; None for a request that must run alone."""
    if request.shots is not None and request.seed is not None:
        return None
    return (
        request.circuit.hash,
        request.observables,
        request.shots,
        request.outputs,
        tuple(sorted(request.batch.vectors)),
    )


def _merge(requests: Sequence[Request]) -> Request:
    """One request whose batch is the rows of ``requests`` in order."""
    if len(requests) == 1:
        return requests[0]
    first = requests[0].batch
    size = sum(r.size for r in requests)
    values = {name: np.concatenate([r.batch.values[name] for r in requests]) for name in first.values}
    vectors = {name: np.concatenate([r.batch.vectors[name] for r in requests]) for name in first.vectors}
    return requests[0].with_batch(Batch(first.circuit, size, values, vectors), seed=requests[0].seed)


def _split(result: Result, requests: Sequence[Request]) -> list[Result]:
    """Each request's rows of a merged ``result``; cost and sizes apportioned by rows."""
    if len(requests) == 1:
        return [result]
    total = sum(r.size for r in requests)
    out: list[Result] = []
    start = 0
    for request in requests:
        rows = slice(start, start + request.size)
        start += request.size
        arrays = {
            name: getattr(result, name)[rows]
            for name in result_cache.ARRAY_FIELDS
            if getattr(result, name) is not None
        }
        meta = result.metadata
        if meta is not None:
            meta = attrs.evolve(
                meta,
                batch_size=request.size,
                seed=request.seed,
                cost_usd=meta.cost_usd * request.size / total,
                extra={**meta.extra, "coalesced_rows": total},
            )
        out.append(attrs.evolve(result, metadata=meta, **arrays))
    return out


DEFAULT_ROWS_PER_JOB = 1024
"""Rows one packed job holds on a backend that declares no ``max_circuits_per_job``."""


class Executor:
    """Runs many requests on one backend through few, concurrent, rate-limited jobs.

    ``max_rows_per_job``: None packs up to the backend's ``Capabilities.max_circuits_per_job``, or
    `DEFAULT_ROWS_PER_JOB` when it declares none (a local simulator holds a job's states in memory
    at once); a smaller number makes more, smaller jobs.
    ``cache``: True for an in-memory LRU of ``cache_size`` entries, a `ResultCache` (e.g. from
    ``get_storage(..., kind="cache")``) to share or persist results, or False. Use as a context
    manager, or call `close`, to stop its worker threads once the submitted work is done.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        max_in_flight: int = 8,
        max_rows_per_job: int | None = None,
        max_pending: int | None = None,
        rate_limit: float | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        cache: bool | ResultCache = False,
        cache_size: int = 4096,
        journal: Run | str | Path | JobJournal | None = None,
    ) -> None:
        if not isinstance(backend, Backend):
            raise CapabilityError(f"backend must be a qstore Backend, got {type(backend).__name__}")
        _positive_int("max_in_flight", max_in_flight)
        _positive_int("max_rows_per_job", max_rows_per_job, allow_none=True)
        _positive_int("max_pending", max_pending, allow_none=True)
        if rate_limit is not None and (
            isinstance(rate_limit, bool) or not isinstance(rate_limit, int | float) or not rate_limit > 0
        ):
            raise CapabilityError(f"rate_limit must be None or jobs per second > 0, got {rate_limit!r}")
        if timeout is not None:
            _non_negative("timeout", timeout)
        limit = backend.capabilities.max_circuits_per_job
        if max_rows_per_job is not None and limit is not None and max_rows_per_job > limit:
            raise CapabilityError(
                f"max_rows_per_job={max_rows_per_job} exceeds the {limit} circuits one job holds on "
                f"{backend.name!r} (its Capabilities.max_circuits_per_job); pass at most {limit} or None"
            )
        self.backend = backend
        self.max_in_flight = max_in_flight
        default = DEFAULT_ROWS_PER_JOB if limit is None else limit
        self.max_rows_per_job = max_rows_per_job if max_rows_per_job is not None else default
        self.max_pending = max_pending
        self.rate_limit = rate_limit
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = timeout
        if cache is True:
            self.cache: ResultCache | None = MemoryResultCache(cache_size)
        elif cache is False:
            self.cache = None
        elif all(callable(getattr(cache, m, None)) for m in ("get", "put")):
            self.cache = cache
        else:
            raise CapabilityError(f"cache must be True, False or a ResultCache, got {type(cache).__name__}")
        if journal is None or isinstance(journal, JobJournal):
            self.journal = journal
        elif isinstance(journal, Run):
            self.journal = JobJournal(journal.folder / JOURNAL)
        elif isinstance(journal, str | Path):
            self.journal = JobJournal(journal)
        else:
            raise CapabilityError(
                f"journal must be None, a Run, a path or a JobJournal, got {type(journal).__name__}"
            )
        self._backend_key = result_cache.backend_key(backend)
        self._ready: deque[_Group] = deque()
        self._pending: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._workers: list[threading.Thread] = []
        self._closed = False
        self._next_start = 0.0
        self._counts = dict.fromkeys(
            (
                "requests",
                "cache_hits",
                "cache_misses",
                "jobs",
                "recovered",
                "retries",
                "failed",
                "cancelled",
                "journal_errors",
            ),
            0,
        )

    # -- submitting -----------------------------------------------------------------------------

    def submit(
        self,
        circuit: Circuit,
        bindings: Bindings | None = None,
        observables: ObservableLike | Sequence[ObservableLike] = (),
        shots: int | None = None,
        *,
        seed: int | None = None,
        outputs: Collection[str] | None = None,
    ) -> Job:
        """Validate like `Backend.submit` and queue the run; returns its `Job` at once."""
        request = self.backend.request(circuit, bindings, observables, shots, seed=seed, outputs=outputs)
        return self.map([request])[0]

    def map(self, requests: Iterable[Request]) -> list[Job]:
        """Queue ``requests`` (from `Backend.request`) together; one `Job` per request, in order.

        Requests queued in one call are coalesced with each other and with any still waiting.
        Blocks while ``max_pending`` requests wait, so producers cannot outrun the backend.
        """
        items = [self._item(r) for r in requests]
        self._queue([item for item in items if not item.future.done()], [])
        return [Job(item.future, f"exec-{id(item.future):x}") for item in items]

    def recover(self, requests: Iterable[Request]) -> list[Job]:
        """`map` for the requests of an interrupted process, re-attaching instead of paying again.

        Pass the same requests the interrupted process had submitted (rebuild them the same way).
        Every job the journal records as ``sent``, ``completed`` or ``failed`` whose requests are
        all among them is re-attached with `Backend.attach`: a finished job's results are fetched,
        a running one is awaited, none is sent again. The remaining requests (their job was never
        recorded, or was cancelled) are queued as by `map`. One `Job` per request, in order.
        """
        if self.journal is None:
            raise CapabilityError(
                "recover needs the journal the interrupted executor wrote: Executor(..., journal=run or path)"
            )
        items = [self._item(r) for r in requests]
        waiting: dict[str, list[_Item]] = {}
        for item in items:
            if not item.future.done():
                waiting.setdefault(self._journal_key(item.request), []).append(item)
        groups: list[_Group] = []
        for entry in self.journal.entries():
            if entry.backend != self.backend.name or entry.status == "cancelled" or not entry.remote_ids:
                continue
            needed = {key: entry.keys.count(key) for key in entry.keys}
            if any(len(waiting.get(key, ())) < count for key, count in needed.items()):
                continue
            members = [waiting[key].pop(0) for key in entry.keys]
            group = _Group(
                members,
                _merge([m.request for m in members]),
                remote_ids=entry.remote_ids,
                journal_id=entry.group,
                keys=entry.keys,
            )
            for member in members:
                member.group = group
            groups.append(group)
        left = {id(item) for queue in waiting.values() for item in queue}
        fresh = [item for item in items if id(item) in left]
        self._queue(fresh, groups)
        return [Job(item.future, f"exec-{id(item.future):x}") for item in items]

    def _queue(self, items: list[_Item], groups: list[_Group]) -> None:
        """Queue re-attached ``groups`` and waiting ``items``; blocks while ``max_pending`` wait."""
        with self._cond:
            if self._closed:
                raise JobError("the executor is closed; create a new one to submit more work")
            for group in groups:
                self._ready.append(group)
                self._spawn_worker()
            for item in items:
                while self.max_pending is not None and len(self._pending) >= self.max_pending:
                    self._cond.notify_all()
                    self._cond.wait()
                self._pending.append(item)
                self._spawn_worker()
            self._cond.notify_all()

    def run_many(self, requests: Iterable[Request], timeout: float | None = None) -> list[Result]:
        """`map` and wait: results in request order (the first failure raises)."""
        return [job.result(timeout) for job in self.map(requests)]

    async def gather(self, requests: Iterable[Request]) -> list[Result]:
        """``await``-able `run_many`: queues in a thread (backpressure never blocks the loop)."""
        jobs = await asyncio.to_thread(self.map, list(requests))
        return list(await asyncio.gather(*jobs))

    def as_backend(self) -> Backend:
        """A `Backend` that runs everything through this executor, with the wrapped backend's
        capabilities: give it to a layer or call ``gradient`` on it from several threads, and their
        requests share the executor's jobs, in-flight limit, retries and cache."""
        return _ExecutorBackend(self)

    def metrics(self) -> dict[str, int]:
        """Counters since creation: requests, cache hits/misses, backend jobs, retries, failures."""
        with self._cond:
            return dict(self._counts)

    def close(self, wait: bool = True) -> None:
        """Refuse new work; with ``wait`` block until queued and running requests have finished."""
        with self._cond:
            self._closed = True
            while wait and self._workers:
                self._cond.wait()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _item(self, request: Request) -> _Item:
        if not isinstance(request, Request):
            raise CapabilityError(
                f"requests must be qstore Request values (see Backend.request), got {type(request).__name__}"
            )
        future: concurrent.futures.Future[Result] = concurrent.futures.Future()
        key = None
        if self.cache is not None and result_cache.cacheable(request):
            key = result_cache.request_key(request, self._backend_key)
        item = _Item(request, future, key)
        hit = self.cache.get(key) if self.cache is not None and key is not None else None
        with self._cond:
            self._counts["requests"] += 1
            if key is not None:
                self._counts["cache_hits" if hit is not None else "cache_misses"] += 1
        if hit is not None:
            cached = result_cache.from_entry(hit)
            info = {**cached.info, "cached": True, "cost_usd": 0.0}
            future.set_result(self.backend.stamp(request, attrs.evolve(cached, info=info), 0.0))
        else:
            future.add_done_callback(functools.partial(self._on_caller_done, item))
        return item

    # -- workers --------------------------------------------------------------------------------

    def _spawn_worker(self) -> None:
        """Start another worker if fewer than ``max_in_flight`` run (call with the lock held)."""
        if len(self._workers) < self.max_in_flight:
            worker = threading.Thread(target=self._work, name="qstore-executor", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _work(self) -> None:
        """Run jobs until nothing waits, then exit (`map` starts workers again as needed)."""
        me = threading.current_thread()
        while True:
            with self._cond:
                group = self._take_group()
                if group is None:
                    self._workers.remove(me)
                    self._cond.notify_all()
                    return
                self._cond.notify_all()  # room for producers blocked on max_pending
            self._run(group)

    def _take_group(self) -> _Group | None:
        """The next job: a re-attached group, else the first live request plus every compatible
        waiting one (lock held)."""
        while self._ready:
            group = self._ready.popleft()
            if not all(item.future.done() for item in group.items):
                return group
        while self._pending and self._pending[0].future.done():
            self._pending.popleft()
        if not self._pending:
            return None
        first = self._pending.popleft()
        items = [first]
        key = _merge_key(first.request)
        rows = first.request.size
        if key is not None:
            keep: deque[_Item] = deque()
            for item in self._pending:
                fits = self.max_rows_per_job is None or rows + item.request.size <= self.max_rows_per_job
                if not item.future.done() and fits and _merge_key(item.request) == key:
                    items.append(item)
                    rows += item.request.size
                elif not item.future.done():
                    keep.append(item)
            self._pending = keep
        group = _Group(items, _merge([i.request for i in items]))
        for item in items:
            item.group = group
        return group

    def _run(self, group: _Group) -> None:
        """Start, wait, retry and deliver one group's job (worker thread)."""
        attempt = 0
        while True:
            if group.cancelled.is_set():
                return
            self._wait_for_rate_limit()
            try:
                result = self._attempt(group)
            except RetryableJobError as exc:
                if attempt >= self.retry.retries:
                    self._fail(group, JobError(f"{exc} (gave up after {attempt + 1} attempts)"))
                    return
                attempt += 1
                delay = self.retry.delay(attempt)
                with self._cond:
                    self._counts["retries"] += 1
                logger.warning(
                    "job of %d request(s) failed (%s); retry %d in %.2f s",
                    len(group.items),
                    exc,
                    attempt,
                    delay,
                )
                if group.cancelled.wait(delay):
                    return
                continue
            except Exception as exc:
                self._fail(group, exc)
                return
            self._deliver(group, result)
            return

    def _attempt(self, group: _Group) -> Result:
        if group.remote_ids:
            job = self.backend.attach(group.request, group.remote_ids)
        else:
            job = self.backend.start(group.request)
        with self._cond:
            self._counts["recovered" if group.remote_ids else "jobs"] += 1
            group.job = job
        if self.journal is not None:
            job.on_sent(functools.partial(self._journal, group, "sent"))
        if group.cancelled.is_set():
            job.cancel()
        try:
            return job.result(self.timeout)
        except JobError:
            if job.done():
                raise
        cancelled = job.cancel()
        self._journal_end(group, "cancelled")
        if cancelled:  # let the backend confirm (IonQ: cancel at IonQ, settle the ledger) first
            with contextlib.suppress(JobError):
                job.result(CANCEL_GRACE)
        outcome = "it was cancelled" if cancelled else "it could not be cancelled and may still run"
        raise JobError(
            f"a job of {group.request.size} circuit(s) on {self.backend.name!r} did not finish within "
            f"{self.timeout} s; {outcome} (raise the executor's timeout= to wait longer)"
        )

    def _wait_for_rate_limit(self) -> None:
        if self.rate_limit is None:
            return
        with self._cond:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self.rate_limit
        time.sleep(start - now)

    # -- journal ---------------------------------------------------------------------------------

    def _journal_key(self, request: Request) -> str:
        return result_cache.request_key(request, self._backend_key)

    def _journal(self, group: _Group, status: JournalStatus, remote_ids: tuple[str, ...]) -> None:
        """Record ``group``'s job; a failing disk is logged and counted, never fails the job."""
        assert self.journal is not None
        if not group.keys:
            group.keys = tuple(self._journal_key(item.request) for item in group.items)
        entry = JournalEntry(group.journal_id, self.backend.name, group.keys, remote_ids, status)
        try:
            self.journal.record(entry)
        except OSError as exc:
            with self._cond:
                self._counts["journal_errors"] += 1
            logger.error(
                "could not journal job %s (%s) in %s: %s", remote_ids, status, self.journal.path, exc
            )

    def _journal_end(self, group: _Group, status: JournalStatus) -> None:
        """Record how a journaled group's job ended (once)."""
        remote_ids = group.job.remote_ids if group.job is not None else ()
        remote_ids = remote_ids or group.remote_ids
        if self.journal is None or not remote_ids or group.ended:
            return
        group.ended = True
        self._journal(group, status, remote_ids)

    def _deliver(self, group: _Group, result: Result) -> None:
        self._journal_end(group, "completed")
        for item, part in zip(group.items, _split(result, [i.request for i in group.items]), strict=True):
            if item.key is not None and self.cache is not None:
                self.cache.put(item.key, result_cache.to_entry(part))
            if not item.future.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled meanwhile
                    item.future.set_result(part)

    def _fail(self, group: _Group, error: BaseException) -> None:
        self._journal_end(group, "cancelled" if group.cancelled.is_set() else "failed")
        with self._cond:
            self._counts["failed"] += len(group.items)
        for item in group.items:
            if not item.future.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled meanwhile
                    item.future.set_exception(error)

    def _on_caller_done(self, item: _Item, _future: object) -> None:
        """A caller cancelled its request: cancel the backend job once no request of it is left."""
        if not item.future.cancelled():
            return
        with self._cond:
            self._counts["cancelled"] += 1
            group = item.group
            if group is None or not all(i.future.cancelled() for i in group.items):
                return
            group.cancelled.set()
            job = group.job
        if job is not None:
            job.cancel()


class _ExecutorBackend(Backend):
    """`Executor.as_backend`: the wrapped backend's capabilities, execution through the executor."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    @property
    def capabilities(self) -> Capabilities:
        """The wrapped backend's capabilities."""
        return self.executor.backend.capabilities

    def execute(self, request: Request) -> Result:
        """Queue ``request`` on the executor and wait for its result."""
        return self.executor.map([request])[0].result()

    def start(self, request: Request) -> Job:
        """Queue ``request`` on the executor; its `Job` resolves with the stamped result."""
        return self.executor.map([request])[0]

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The wrapped backend's native gradient (not queued: it is one local computation)."""
        return self.executor.backend.vjp(request, cotangent, wrt)

    def __repr__(self) -> str:
        return f"<{self.executor.backend!r} through an Executor>"
