"""Durable jobs: a pipelined run killed with SIGKILL is recovered from its journal by a new process.

The fake IonQ server runs in the test process; the run in a subprocess. The server's own records
show what was paid: every job created is a paid job. No assertion depends on wall-clock time.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import recover_worker
from fake_ionq import FakeIonQ

from qstore.core.executor import Executor
from qstore.core.job_journal import JobJournal

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def _body_key(body: dict) -> str:
    return json.dumps(body, sort_keys=True)


def _wait_for(condition, what: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_sigkill_mid_run_then_recover_pays_no_finished_job_twice(fake: FakeIonQ, tmp_path: Path) -> None:
    fake.latency = 0.5
    journal = tmp_path / "jobs.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    worker = subprocess.Popen(
        [sys.executable, str(Path(recover_worker.__file__)), fake.url, str(journal)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # kill once a first wave has completed at the server and later jobs are still in flight
        def midway() -> bool:
            assert worker.poll() is None, worker.stderr.read().decode()  # type: ignore[union-attr]
            with fake.lock:
                done = sum(job.status == "completed" for job in fake.jobs.values())
                return done >= recover_worker.IN_FLIGHT and fake.in_flight() > 0

        _wait_for(midway, "a run with finished and running jobs")
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    assert worker.returncode == -signal.SIGKILL
    with fake.lock:
        before = dict(fake.jobs)
        finished = {job_id for job_id, job in before.items() if job.status == "completed"}
    entries = JobJournal(journal).entries()
    journaled = {remote for entry in entries for remote in entry.remote_ids}
    assert finished <= journaled  # every job the server had finished is on record
    assert len(finished) >= recover_worker.IN_FLIGHT and len(entries) < recover_worker.N_REQUESTS

    backend = recover_worker.make_backend(fake.url)
    requests = recover_worker.requests(backend)
    with Executor(backend, max_in_flight=recover_worker.IN_FLIGHT, journal=journal) as ex:
        recovered = [job.result(120) for job in ex.recover(requests)]
        metrics = ex.metrics()
    assert metrics["recovered"] == len(entries)
    assert metrics["jobs"] == recover_worker.N_REQUESTS - len(entries)  # only the never-recorded ones

    with fake.lock:
        paid = collections.Counter(_body_key(job.body) for job in fake.jobs.values())
        after = dict(fake.jobs)
    for job_id in finished:
        assert paid[_body_key(before[job_id].body)] == 1  # no finished job was paid twice
    assert len(after) == len(before) + metrics["jobs"]
    assert {e.status for e in JobJournal(journal).entries()} == {"completed"}
    assert len(JobJournal(journal).entries()) == recover_worker.N_REQUESTS

    fake.latency = 0.0
    for request, result in zip(requests, recovered, strict=True):
        straight = backend.execute(request)  # the uninterrupted run
        np.testing.assert_array_equal(result.samples, straight.samples)
        np.testing.assert_array_equal(result.expectations, straight.expectations)
