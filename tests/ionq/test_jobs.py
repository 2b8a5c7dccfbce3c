"""Asynchronous IonQ jobs: await, result(timeout), cancel, concurrency limit, a free event loop."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from fake_ionq import FakeIonQ

from qstore.core import Circuit
from qstore.core.errors import JobError

pytestmark = pytest.mark.timeout(60)

BELL = Circuit(2).h(0).cnot(0, 1)


def test_submit_returns_at_once_and_result_waits(make_backend, fake: FakeIonQ) -> None:
    fake.polls_per_step = 5
    backend = make_backend()
    start = time.monotonic()
    job = backend.submit(BELL, None, ["Z0 Z1"], shots=100, seed=1)
    assert time.monotonic() - start < 0.5
    assert job.status() in ("queued", "running")
    result = job.result(timeout=30)
    assert job.status() == "done" and job.ionq_id in fake.jobs
    np.testing.assert_allclose(result.expectations, [[1.0]])
    assert "ionq.simulator" in repr(job)


def test_awaiting_jobs_does_not_block_the_event_loop(make_backend, fake: FakeIonQ) -> None:
    fake.polls_per_step = 4
    backend = make_backend()

    async def main() -> tuple[list, int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        jobs = [backend.submit(BELL, None, ["Z0 Z1"], shots=50, seed=i) for i in range(3)]
        results = await asyncio.gather(*jobs)
        stop.set()
        await task
        return results, ticks

    results, ticks = asyncio.run(main())
    assert len(results) == 3 and ticks > 3


def test_concurrency_limit_holds_jobs_locally(make_backend, fake: FakeIonQ) -> None:
    fake.polls_per_step = 3
    backend = make_backend(max_in_flight=2)
    jobs = [backend.submit(BELL, shots=30, seed=i) for i in range(5)]
    for job in jobs:
        job.result(timeout=30)
    assert fake.max_in_flight <= 2
    assert len(fake.jobs) == 5


def test_cancel_a_job_waiting_locally_never_sends_it(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend("forte-1", marketplace="aws", max_in_flight=1, budget_usd=10.0)
    fake.inject("POST", "/jobs$", "stuck")
    blocker = backend.submit(BELL, shots=20)
    waiting = backend.submit(BELL, shots=20)
    assert waiting.cancel()
    assert waiting.status() == "cancelled"
    with pytest.raises(JobError, match="cancelled"):
        waiting.result(timeout=5)
    blocker.cancel()
    with pytest.raises(JobError, match="cancelled"):
        blocker.result(timeout=10)
    assert len(fake.jobs) == 1
    assert backend.ledger.remaining_usd == pytest.approx(10.0)


def test_cancel_after_completion_is_refused(make_backend) -> None:
    job = make_backend().submit(BELL, shots=10)
    job.result(timeout=30)
    assert job.cancel() is False and job.status() == "done"


def test_runs_beyond_one_job_limit_are_split_and_reassembled(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend(max_circuits_per_job=4)
    assert backend.capabilities.max_circuits_per_job == 4  # declared where the executor reads it
    assert backend.capabilities.max_shots is None and make_backend("aria-1").capabilities.max_shots == 10_000
    thetas = np.linspace(0, np.pi, 5)
    result = backend.run(Circuit(1).ry("t", 0), {"t": thetas}, ["Z0", "X0"], shots=4000, seed=2)
    assert fake.count("POST") == 3  # 5 bindings x 2 settings = 10 circuits in parts of 4, 4, 2
    assert [len(b["input"]["circuits"]) for b in fake.bodies] == [4, 4, 2]
    want = np.stack([np.cos(thetas), np.sin(thetas)], axis=1)
    assert np.all(np.abs(result.expectations - want) < 5 / np.sqrt(4000))
    assert len(result.metadata.extra["ionq_job_ids"]) == 3


def test_a_failing_part_fails_the_whole_job_and_cancels_the_rest(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend("forte-1", marketplace="aws", max_circuits_per_job=1, budget_usd=100.0)
    fake.inject("POST", "/jobs$", "fail")
    with pytest.raises(JobError, match="failed"):
        backend.run(Circuit(1).ry("t", 0), {"t": [0.1, 0.2, 0.3]}, shots=20)
    assert fake.count("POST") == 3
    assert fake.count("PUT", "/status/cancel$") == 2
    assert backend.ledger.rows[-1].status == "settled"
