"""Asynchronous IonQ jobs: submit with retries, poll with backoff, cancel, settle the budget.

Each `IonQJob` runs its life cycle on its backend's worker pool, whose size is the concurrency
limit (``max_in_flight``): further jobs wait locally, unsent. Waiting happens in worker threads,
so ``await job`` never blocks an event loop, and `IonQJob.result` takes a timeout. The transport
(HTTP through qiskit-ionq) is a `Transport` supplied by the backend; this module imports no
vendor code. A process that exits with jobs in flight leaves them running at IonQ: the worker
threads are daemons and nothing is cancelled on exit. Their ids are `Job.remote_ids` as soon as
IonQ answers; an executor with a journal records them, and `IonQBackend.attach` builds a job for
them again after a restart.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

import attrs

from qstore.backends.ionq.budget import Reservation
from qstore.backends.ionq.errors import IonQAPIError, IonQAuthenticationError, IonQOriginError
from qstore.core.backend import Job, JobStatus, Result
from qstore.core.errors import ArgumentError, JobError, RetryableJobError

__all__ = [
    "IonQJob",
    "PollPolicy",
    "SubmitOutcomeUnknown",
    "SubmitRefused",
    "TransientError",
    "Transport",
    "WorkerPool",
]

logger = logging.getLogger("qstore.backends.ionq")


class TransientError(IonQAPIError):
    """A refusal worth retrying (HTTP 429/5xx); ``retry_after`` in seconds when the server gave one."""

    def __init__(
        self, message: str, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code)
        self.retry_after = retry_after


class SubmitRefused(IonQAPIError, RetryableJobError):
    """IonQ refused every attempt to send a job (429/transient errors) and nothing was created."""


class SubmitOutcomeUnknown(IonQAPIError):
    """The connection failed mid-submission: the job may or may not exist, so it is not resent."""


class Transport(Protocol):
    """What a job needs from the API; raises `IonQAPIError` subclasses."""

    def submit(self) -> str:
        """Send the job; return its IonQ id."""
        ...

    def status(self, job_id: str) -> tuple[str, str]:
        """IonQ status (``submitted|ready|started|completed|failed|canceled``) and failure text."""
        ...

    def results(self, job_id: str) -> list[Mapping[str, float]]:
        """Probabilities of each circuit of a completed job, keyed IonQ's way."""
        ...

    def cancel(self, job_id: str) -> None:
        """Ask IonQ to cancel the job."""
        ...

    def reported_cost(self, job_id: str) -> float | None:
        """The USD cost IonQ reports for the job, if it reports one."""
        ...


@attrs.frozen
class PollPolicy:
    """Timing of submission retries and status polls (seconds)."""

    interval: float = 1.0
    max_interval: float = 30.0
    factor: float = 1.5
    max_poll_errors: int = 20
    submit_attempts: int = 5
    max_retry_after: float = 60.0

    def delays(self) -> Iterator[float]:
        """Growing poll delays: interval, interval·factor, …, capped at ``max_interval``."""
        delay = self.interval
        while True:
            yield delay
            delay = min(delay * self.factor, self.max_interval)


class WorkerPool:
    """Runs at most ``size`` callables at once on daemon threads, so exit never waits on a queue."""

    def __init__(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ArgumentError(f"max_in_flight must be a positive integer, got {size!r}")
        self.size = size
        self._queue: queue.SimpleQueue[tuple[concurrent.futures.Future[Result], Callable[[], Result]]] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], Result], future: concurrent.futures.Future[Result]) -> None:
        """Queue ``fn`` to resolve ``future``, which can be cancelled until a worker takes it."""
        self._queue.put((future, fn))
        with self._lock:
            if len(self._threads) < self.size:
                thread = threading.Thread(target=self._work, name="qstore-ionq-job", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            future, fn = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)


class IonQJob(Job):
    """A job on IonQ: ``status()``, ``result(timeout)``, ``cancel()``, ``await job``, ``job.id``.

    A run larger than one IonQ job allows is sent as several *parts* (one transport each) that
    succeed, fail or are cancelled together; ``remote_ids`` lists their IonQ ids as they are sent.
    Given ``remote_ids``, the job *attaches* to parts IonQ already has: nothing is sent, their
    status and results are fetched (`IonQBackend.attach`).
    """

    def __init__(
        self,
        pool: WorkerPool,
        parts: Sequence[Transport],
        decode: Callable[[list[Mapping[str, float]]], Result],
        finish: Callable[[Result], Result],
        reservation: Reservation,
        policy: PollPolicy,
        label: str,
        estimate_usd: float,
        remote_ids: Sequence[str] = (),
    ) -> None:
        self._parts = list(parts)
        self._decode = decode
        self._finish = finish
        self._reservation = reservation
        self._policy = policy
        self._cancel = threading.Event()
        self._remote_status = "local"
        self._started = False
        self._attached = bool(remote_ids)
        self._final: set[str] = set()
        self._cancel_sent: set[str] = set()
        self.estimate_usd = estimate_usd
        future: concurrent.futures.Future[Result] = concurrent.futures.Future()
        super().__init__(future, job_id=label)  # before the worker starts: it names and records the job
        for remote_id in remote_ids:
            self._add_remote_id(remote_id)
        pool.submit(self._lifecycle, future)

    # -- public ---------------------------------------------------------------------------------

    @property
    def ionq_id(self) -> str | None:
        """IonQ's id of the (first) part, once sent."""
        return self.remote_ids[0] if self.remote_ids else None

    def status(self) -> JobStatus:
        """``queued`` (waiting locally or in IonQ's queue), ``running``, ``done``, ``failed``, ``cancelled``."""
        if self._future.done():
            if self._future.cancelled() or (self._cancel.is_set() and self._future.exception() is not None):
                return "cancelled"
            return "failed" if self._future.exception() is not None else "done"
        return "running" if self._remote_status == "started" else "queued"

    def cancel(self) -> bool:
        """Cancel: a job still waiting locally is never sent; a sent one is cancelled at IonQ."""
        if self._future.done():
            return False
        self._cancel.set()
        if self._future.cancel():
            self._reservation.update(status="released")
        return True

    def result_or_cancel(self, timeout: float | None) -> Result:
        """`result`, except that a job still unfinished after ``timeout`` seconds is cancelled.

        What ``run`` needs: nobody else holds the job, so one that outlives its timeout must not
        keep running at IonQ nor keep its cost reserved. The cancellation is awaited for up to the
        poll policy's ``max_interval`` so the ledger is settled by the time this raises.
        """
        try:
            return self.result(timeout)
        except JobError:
            if self._future.done():
                raise
        self.cancel()
        grace = self._policy.max_interval
        done, _ = concurrent.futures.wait([self._future], timeout=grace)
        outcome = (
            "it was cancelled, and its reservation released unless IonQ reports a cost"
            if done
            else f"cancellation was requested but IonQ had not confirmed it after {grace:g} s; "
            "the ledger settles when it does"
        )
        raise JobError(f"job {self.id} did not finish within {timeout} s; {outcome}")

    def __repr__(self) -> str:
        remote = f" ionq={','.join(self.remote_ids)}" if self.remote_ids else ""
        return f"<IonQJob {self.id}{remote} {self.status()}>"

    # -- life cycle (worker thread) -------------------------------------------------------------

    def _lifecycle(self) -> Result:
        if self._cancel.is_set():
            self._reservation.update(status="released")
            raise IonQAPIError(f"job {self.id} was cancelled before it was sent")
        for part in self._parts if not self._attached else ():
            try:
                self._add_remote_id(self._submit(part))
            except SubmitOutcomeUnknown:
                self._abandon()
                self._reservation.update(status="unknown")
                raise
            except IonQAPIError:
                self._abandon()
                self._settle_cancelled()
                raise
            self._reservation.update(job_id=",".join(self.remote_ids))
        verb = "attached to" if self._attached else "submitted as"
        logger.info("IonQ job %s %s %s", self.id, verb, ", ".join(self.remote_ids))
        for part, job_id in zip(self._parts, self.remote_ids, strict=True):
            if self._wait(part, job_id) == "canceled":
                self._abandon()
                self._settle_cancelled()
                raise IonQAPIError(f"job {self.id} (IonQ {', '.join(self.remote_ids)}) was cancelled")
        try:
            raw = [
                p
                for part, job_id in zip(self._parts, self.remote_ids, strict=True)
                for p in self._fetch(part, job_id)
            ]
            result = self._decode(raw)
        finally:
            reported = self._settle()
        logger.info("IonQ job %s (%s) completed", self.id, ", ".join(self.remote_ids))
        cost = reported if reported is not None else self.estimate_usd
        info = {
            **result.info,
            "cost_usd": cost,
            "ionq_job_ids": self.remote_ids,
            "estimate_usd": self.estimate_usd,
        }
        return self._finish(attrs.evolve(result, info=info))

    def _submit(self, part: Transport) -> str:
        for attempt in range(1, self._policy.submit_attempts + 1):
            try:
                return part.submit()
            except TransientError as exc:
                if attempt == self._policy.submit_attempts:
                    # a first part refused outright created nothing: resending the job is safe
                    refused = SubmitRefused if not self.remote_ids else IonQAPIError
                    raise refused(
                        f"job {self.id} was refused {attempt} times, last: {exc}", exc.status_code
                    ) from None
                wait = self._policy.interval * self._policy.factor ** (attempt - 1)
                if exc.retry_after is not None:
                    wait = max(wait, min(exc.retry_after, self._policy.max_retry_after))
                logger.warning("IonQ refused job %s (%s); retrying in %.2f s", self.id, exc, wait)
                if self._cancel.wait(wait):
                    raise IonQAPIError(f"job {self.id} was cancelled before it was sent") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, part: Transport, job_id: str) -> str:
        delay = self._policy.delays()
        errors = 0
        while True:
            if self._cancel.is_set():
                self._cancel_part(part, job_id)
            try:
                status, failure = part.status(job_id)
                errors = 0
            except IonQAuthenticationError:
                raise
            except IonQAPIError as exc:
                errors += 1
                if errors >= self._policy.max_poll_errors:
                    raise IonQAPIError(
                        f"job {self.id} (IonQ {job_id}): status unavailable after {errors} attempts: {exc}",
                        exc.status_code,
                    ) from None
                status, failure = self._remote_status, ""
            self._remote_status = status
            self._started = self._started or status == "started"
            if status in ("completed", "canceled"):
                self._final.add(job_id)
                return status
            if status == "failed":
                self._final.add(job_id)
                self._abandon()
                self._settle()
                raise IonQAPIError(f"job {self.id} (IonQ {job_id}) failed: {failure}")
            if job_id in self._cancel_sent:  # the event stays set: sleep, or polls would spin
                time.sleep(next(delay))
            else:
                self._cancel.wait(next(delay))

    def _fetch(self, part: Transport, job_id: str) -> list[Mapping[str, float]]:
        """A completed part's results, retried like status polls (the job already ran)."""
        delay = self._policy.delays()
        for attempt in range(1, self._policy.max_poll_errors + 1):
            try:
                return part.results(job_id)
            except (IonQAuthenticationError, IonQOriginError):
                raise
            except IonQAPIError as exc:
                if attempt == self._policy.max_poll_errors:
                    raise IonQAPIError(
                        f"job {self.id} (IonQ {job_id}) completed but its results were unavailable "
                        f"after {attempt} attempts: {exc}",
                        exc.status_code,
                    ) from None
                time.sleep(next(delay))
        raise AssertionError("unreachable")  # pragma: no cover

    def _cancel_part(self, part: Transport, job_id: str) -> None:
        if job_id not in self._final and job_id not in self._cancel_sent:
            self._cancel_sent.add(job_id)
            part.cancel(job_id)

    def _abandon(self) -> None:
        """Cancel every part already sent and not yet final."""
        for part, job_id in zip(self._parts, self.remote_ids, strict=False):
            self._cancel_part(part, job_id)

    def _reported(self) -> float | None:
        costs = [self._cost(part, job_id) for part, job_id in zip(self._parts, self.remote_ids, strict=False)]
        return sum(c for c in costs if c is not None) if costs and None not in costs else None

    def _settle(self) -> float | None:
        reported = self._reported()
        self._reservation.update(status="settled", reported_usd=reported)
        return reported

    def _settle_cancelled(self) -> None:
        reported = self._reported() if self.remote_ids else None
        if reported is not None:
            self._reservation.update(status="settled", reported_usd=reported)
        elif not self._started:
            self._reservation.update(status="released")
        else:
            self._reservation.update(status="settled")

    def _cost(self, part: Transport, job_id: str) -> float | None:
        try:
            return part.reported_cost(job_id)
        except IonQAPIError as exc:
            logger.warning("no cost reported for IonQ job %s: %s", job_id, exc)
            return None
