"""The executor on local backends: order, coalescing, K in flight, backpressure, retries, cancel.

Concurrency is asserted by counting what runs at once inside a backend whose ``execute`` waits on
a gate, never by wall-clock thresholds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import attrs
import numpy as np
import pytest

from qstore.core import Circuit, NumpyBackend
from qstore.core.backend import Capabilities, Request, Result
from qstore.core.errors import CapabilityError, JobError, RetryableJobError
from qstore.core.executor import DEFAULT_ROWS_PER_JOB, Executor, RetryPolicy

pytestmark = pytest.mark.timeout(60)

CIRCUIT = Circuit(2).ry("a", 0).rx("b", 1).cnot(0, 1)
OBS = ["Z0", "Z1", "X0 X1"]
FAST = RetryPolicy(retries=2, backoff=0.0)


class GatedBackend(NumpyBackend):
    """The NumPy engine, except that ``execute`` waits for ``gate`` and records what runs at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.executed: list[int] = []
        self.started = threading.Semaphore(0)

    def execute(self, request: Request) -> Result:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.executed.append(request.size)
        self.started.release()
        try:
            assert self.gate.wait(30), "gate never opened"
            return super().execute(request)
        finally:
            with self.lock:
                self.active -= 1


class FlakyBackend(NumpyBackend):
    """Refuses the first ``refusals`` jobs with a `RetryableJobError`, then runs normally."""

    def __init__(self, refusals: int, error: type[Exception] = RetryableJobError) -> None:
        super().__init__()
        self.refusals = refusals
        self.error = error
        self.attempts = 0

    def execute(self, request: Request) -> Result:
        self.attempts += 1
        if self.attempts <= self.refusals:
            raise self.error(f"refused attempt {self.attempts}")
        return super().execute(request)


def _requests(backend: NumpyBackend, n: int, shots: int | None = None, seed=None) -> list[Request]:
    rng = np.random.default_rng(7)
    return [
        backend.request(
            CIRCUIT,
            {"a": rng.uniform(-3, 3, size=1 + i % 3), "b": rng.uniform(-3, 3)},
            OBS,
            shots,
            seed=None if seed is None else seed + i,
        )
        for i in range(n)
    ]


def _wait_started(backend: GatedBackend, count: int) -> None:
    for _ in range(count):
        assert backend.started.acquire(timeout=30)


def test_results_come_back_in_request_order_and_match_single_runs() -> None:
    backend = NumpyBackend()
    requests = _requests(backend, 12)
    with Executor(backend) as ex:
        results = ex.run_many(requests)
        assert ex.metrics()["jobs"] == 1  # all twelve compatible requests coalesced into one job
    for request, result in zip(requests, results, strict=True):
        alone = backend.execute(request)
        assert result.expectations.shape == (request.size, len(OBS))
        np.testing.assert_allclose(result.expectations, alone.expectations, rtol=0, atol=1e-12)
        assert result.metadata.batch_size == request.size
        assert result.metadata.extra["coalesced_rows"] == sum(r.size for r in requests)


def test_coalescing_respects_max_rows_per_job() -> None:
    backend = GatedBackend()
    backend.gate.set()
    requests = [backend.request(CIRCUIT, {"a": [0.1, 0.2], "b": 0.3}, OBS) for _ in range(10)]
    with Executor(backend, max_rows_per_job=6) as ex:
        ex.run_many(requests)
        assert ex.metrics()["jobs"] == 4  # 20 rows, three requests (6 rows) per job
    assert sorted(backend.executed) == [2, 6, 6, 6]


def test_a_backend_without_a_job_limit_gets_packs_of_the_default_size() -> None:
    backend = GatedBackend()
    backend.gate.set()
    rows = DEFAULT_ROWS_PER_JOB // 2 + 1
    requests = [backend.request(CIRCUIT, {"a": np.zeros(rows), "b": 0.3}, OBS) for _ in range(3)]
    with Executor(backend) as ex:
        assert ex.max_rows_per_job == DEFAULT_ROWS_PER_JOB
        ex.run_many(requests)
    assert backend.executed == [rows] * 3  # two such requests would overflow one job


class LimitedBackend(GatedBackend):
    """A gated backend whose capabilities allow 5 circuits per job and 1000 shots per circuit."""

    @property
    def capabilities(self) -> Capabilities:
        return attrs.evolve(super().capabilities, max_circuits_per_job=5, max_shots=1000)


def test_packing_reads_the_limit_from_the_backends_capabilities() -> None:
    backend = LimitedBackend()
    backend.gate.set()
    requests = [backend.request(CIRCUIT, {"a": [0.1, 0.2], "b": 0.3}, OBS) for _ in range(7)]
    with Executor(backend) as ex:
        assert ex.max_rows_per_job == 5
        ex.run_many(requests)
    assert sorted(backend.executed) == [2, 4, 4, 4]  # 14 rows, two requests (4 rows) per job
    with pytest.raises(CapabilityError, match=r"max_rows_per_job=6 exceeds the 5 circuits"):
        Executor(backend, max_rows_per_job=6)
    with pytest.raises(CapabilityError, match=r"at most 1000 shots per circuit, got shots=1001"):
        backend.request(CIRCUIT, {"a": 0.1, "b": 0.3}, OBS, 1001)


@pytest.mark.parametrize("field", ["max_circuits_per_job", "max_shots"])
def test_capability_limits_are_validated(field: str) -> None:
    with pytest.raises(
        CapabilityError, match=rf"{field} must be None \(no limit\) or a positive integer, got 0"
    ):
        attrs.evolve(NumpyBackend().capabilities, **{field: 0})


def test_seeded_shot_requests_keep_their_own_job_and_samples() -> None:
    backend = NumpyBackend()
    requests = _requests(backend, 5, shots=200, seed=11)
    with Executor(backend) as ex:
        results = ex.run_many(requests)
        assert ex.metrics()["jobs"] == 5
    for request, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result.samples, backend.execute(request).samples)


def test_unseeded_shot_requests_coalesce_and_stay_within_statistical_bounds() -> None:
    backend = NumpyBackend()
    request = backend.request(CIRCUIT, {"a": 0.7, "b": -0.4}, OBS, 4000)
    with Executor(backend) as ex:
        results = ex.run_many([request] * 4)
        assert ex.metrics()["jobs"] == 1
    exact = backend.run(CIRCUIT, {"a": 0.7, "b": -0.4}, OBS).expectations
    for result in results:
        assert np.all(np.abs(result.expectations - exact) < 5 / np.sqrt(4000))
    assert not np.array_equal(results[0].samples, results[1].samples)  # independent draws


def test_at_most_max_in_flight_jobs_run_at_once() -> None:
    backend = GatedBackend()
    requests = _requests(backend, 8, shots=10, seed=0)  # seeded: one job each
    with Executor(backend, max_in_flight=3) as ex:
        jobs = ex.map(requests)
        _wait_started(backend, 3)
        assert backend.active == 3 and sum(job.done() for job in jobs) == 0
        backend.gate.set()
        assert all(isinstance(job.result(30), Result) for job in jobs)
    assert backend.max_active == 3
    assert len(backend.executed) == 8


def test_max_pending_blocks_producers_until_workers_take_work() -> None:
    backend = GatedBackend()
    requests = _requests(backend, 6, shots=10, seed=0)
    ex = Executor(backend, max_in_flight=1, max_pending=2)
    jobs: list = []
    producer = threading.Thread(target=lambda: jobs.extend(ex.map(requests)))
    producer.start()
    _wait_started(backend, 1)  # the worker holds request 0; requests 1 and 2 fill the queue
    producer.join(0.2)
    assert producer.is_alive() and not jobs and len(backend.executed) == 1
    backend.gate.set()
    producer.join(30)
    assert not producer.is_alive()
    assert [j.result(30).samples.shape for j in jobs] == [(r.size, 10) for r in requests]
    ex.close()


def test_retryable_failures_are_retried_a_bounded_number_of_times() -> None:
    backend = FlakyBackend(refusals=2)
    request = backend.request(CIRCUIT, {"a": 0.3, "b": 0.1}, OBS)
    with Executor(backend, retry=FAST) as ex:
        result = ex.run_many([request])[0]
        assert ex.metrics()["retries"] == 2 and ex.metrics()["jobs"] == 3
    np.testing.assert_allclose(result.expectations, NumpyBackend().execute(request).expectations)

    stubborn = FlakyBackend(refusals=10)
    with Executor(stubborn, retry=FAST) as ex, pytest.raises(JobError, match="gave up after 3 attempts"):
        ex.run_many([request])
    assert stubborn.attempts == 3


def test_other_failures_are_not_retried_and_reach_every_request() -> None:
    backend = FlakyBackend(refusals=1, error=CapabilityError)
    requests = _requests(backend, 3)
    with Executor(backend, retry=FAST) as ex:
        jobs = ex.map(requests)
        for job in jobs:
            with pytest.raises(CapabilityError, match="refused attempt 1"):
                job.result(30)
        assert job.status() == "failed"
    assert backend.attempts == 1


def test_a_job_past_the_timeout_fails_with_a_clear_error() -> None:
    backend = GatedBackend()
    request = backend.request(CIRCUIT, {"a": 0.3, "b": 0.1}, OBS)
    ex = Executor(backend, timeout=0.05)
    job = ex.map([request])[0]
    with pytest.raises(JobError, match=r"did not finish within 0\.05 s; it could not be cancelled"):
        job.result(30)
    backend.gate.set()
    ex.close()


def test_cancelled_requests_are_never_sent() -> None:
    backend = GatedBackend()
    requests = _requests(backend, 3, shots=10, seed=0)
    ex = Executor(backend, max_in_flight=1)
    first, second, third = ex.map(requests)
    _wait_started(backend, 1)
    assert second.cancel() and second.status() == "cancelled"
    backend.gate.set()
    assert first.result(30).samples is not None and third.result(30).samples is not None
    with pytest.raises(JobError, match="cancelled"):
        second.result(1)
    ex.close()
    assert len(backend.executed) == 2
    assert ex.metrics()["cancelled"] == 1


def test_exact_results_are_cached_and_identical() -> None:
    backend = GatedBackend()
    backend.gate.set()
    requests = _requests(backend, 4)
    with Executor(backend, cache=True) as ex:
        first = ex.run_many(requests)
        again = ex.run_many(_requests(backend, 4))  # equal requests, built anew
        counts = ex.metrics()
    assert counts["cache_misses"] == 4 and counts["cache_hits"] == 4 and counts["jobs"] == 1
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.expectations, b.expectations)
        assert b.metadata.extra["cached"] is True and b.metadata.cost_usd == 0.0


def test_shot_results_are_reused_only_with_a_seed() -> None:
    backend = NumpyBackend()
    unseeded = backend.request(CIRCUIT, {"a": 0.3, "b": 0.1}, OBS, 100)
    seeded = backend.request(CIRCUIT, {"a": 0.3, "b": 0.1}, OBS, 100, seed=5)
    with Executor(backend, cache=True) as ex:
        draws = [ex.run_many([unseeded])[0].samples for _ in range(3)]
        assert ex.metrics()["cache_hits"] == 0 and ex.metrics()["cache_misses"] == 0
        assert ex.metrics()["jobs"] == 3
        assert not (np.array_equal(draws[0], draws[1]) and np.array_equal(draws[1], draws[2]))
        a, b = ex.run_many([seeded])[0], ex.run_many([seeded])[0]
        np.testing.assert_array_equal(a.samples, b.samples)
        assert ex.metrics()["cache_hits"] == 1


def test_cache_keys_tell_backends_and_values_apart() -> None:
    double, single = NumpyBackend(), NumpyBackend(precision="single")
    cache = Executor(double, cache=True).cache
    r = double.request(CIRCUIT, {"a": 0.3, "b": 0.1}, OBS)
    with Executor(double, cache=cache) as ex:
        ex.run_many([r])
    with Executor(single, cache=cache) as ex:
        ex.run_many([single.request(CIRCUIT, {"a": 0.3, "b": 0.1}, OBS)])
        ex.run_many([single.request(CIRCUIT, {"a": 0.3, "b": np.nextafter(0.1, 1)}, OBS)])
        assert ex.metrics()["cache_hits"] == 0
    assert len(cache) == 3


def test_cache_is_bounded_lru() -> None:
    backend = NumpyBackend()
    with Executor(backend, cache=True, cache_size=2) as ex:
        ex.run_many([backend.request(CIRCUIT, {"a": float(i), "b": 0.0}, OBS) for i in range(3)])
        assert len(ex.cache) == 2
        ex.run_many([backend.request(CIRCUIT, {"a": 0.0, "b": 0.0}, OBS)])  # evicted: a miss
        assert ex.metrics()["cache_hits"] == 0


def test_rate_limit_spaces_job_starts() -> None:
    backend = NumpyBackend()
    requests = _requests(backend, 5, shots=10, seed=0)  # five jobs
    began = time.monotonic()
    with Executor(backend, rate_limit=20.0, max_in_flight=5) as ex:
        ex.run_many(requests)
        assert ex.metrics()["jobs"] == 5
    assert time.monotonic() - began >= 4 / 20.0  # the fifth start is scheduled 4 slots after the first


def test_gather_awaits_results_in_order() -> None:
    backend = NumpyBackend()
    requests = _requests(backend, 5)

    async def main() -> list[Result]:
        with Executor(backend) as ex:
            return await ex.gather(requests)

    results = asyncio.run(main())
    for request, result in zip(requests, results, strict=True):
        np.testing.assert_allclose(result.expectations, backend.execute(request).expectations, atol=1e-12)


def test_submit_validates_like_backend_submit() -> None:
    with Executor(NumpyBackend()) as ex:
        job = ex.submit(Circuit(1).rx("t", 0), {"t": [0.0, np.pi]}, "Z0")
        np.testing.assert_allclose(job.result(30).expectations, [[1.0], [-1.0]], atol=1e-12)
        with pytest.raises(CapabilityError, match="samples need shots"):
            ex.submit(Circuit(1).rx("t", 0), {"t": 0.0}, "Z0", outputs=("samples",))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("max_in_flight", 0, "max_in_flight must be a positive integer, got 0"),
        ("max_rows_per_job", -1, "max_rows_per_job must be a positive integer or None"),
        ("rate_limit", 0, "rate_limit must be None or jobs per second > 0"),
        ("timeout", -1.0, "timeout must be a non-negative number"),
        ("cache", "yes", "cache must be True, False or a ResultCache"),
    ],
)
def test_bad_options_are_refused(option: str, value: object, message: str) -> None:
    with pytest.raises(CapabilityError, match=message):
        Executor(NumpyBackend(), **{option: value})


def test_closed_executor_refuses_work() -> None:
    backend = NumpyBackend()
    ex = Executor(backend)
    ex.close()
    with pytest.raises(JobError, match="executor is closed"):
        ex.map(_requests(backend, 1))


def test_as_backend_routes_runs_and_gradients_through_the_executor() -> None:
    backend = NumpyBackend()
    bindings = [{"a": np.linspace(-1, 1, 4) + k, "b": 0.3 * k} for k in range(6)]
    with Executor(backend, cache=True) as ex:
        view = ex.as_backend()
        assert view.capabilities == backend.capabilities
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            grads = list(
                pool.map(lambda b: view.gradient(CIRCUIT, b, OBS, method="parameter-shift"), bindings)
            )
        forward = view.submit(CIRCUIT, bindings[0], OBS).result(30)
        assert ex.metrics()["requests"] == 6 + 1  # each gradient is one request of all shifted rows
    for b, grad in zip(bindings, grads, strict=True):
        want = backend.gradient(CIRCUIT, b, OBS, method="parameter-shift")
        for name in ("a", "b"):
            np.testing.assert_allclose(grad[name], want[name], atol=1e-12)
    np.testing.assert_allclose(forward.expectations, backend.run(CIRCUIT, bindings[0], OBS).expectations)
