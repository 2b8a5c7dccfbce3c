"""`Executor.recover` on a stand-in remote backend: re-attach journaled jobs, send only the rest.

The stand-in's "server" runs each started job when the test releases it and keeps its results
under a remote id; `attach` reads them back. An executor dropped mid-run stands for a killed
process (its jobs stay unfinished on its side).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qstore.core import Circuit, NumpyBackend
from qstore.core.backend import Job, Request, Result
from qstore.core.errors import CapabilityError
from qstore.core.executor import Executor
from qstore.core.job_journal import JobJournal

pytestmark = pytest.mark.timeout(60)

CIRCUIT = Circuit(2).ry("a", 0).rx("b", 1).cnot(0, 1)
OBS = ["Z0", "Z1", "X0 X1"]


class Server:
    """What a remote service keeps: job ids, the jobs created (paid), and finished results."""

    def __init__(self) -> None:
        self.ids = itertools.count()
        self.submitted: list[str] = []
        self.finished: dict[str, Result] = {}


class RemoteStandIn(NumpyBackend):
    """Jobs get a remote id on ``server`` when started; with ``gated`` they finish only as
    ``release`` allows (a process that dies stops releasing)."""

    def __init__(self, server: Server, gated: bool = True) -> None:
        super().__init__()
        self.server = server
        self.gated = gated
        self.attached: list[tuple[str, ...]] = []
        self.release = threading.Semaphore(0)

    def start(self, request: Request) -> Job:
        future: concurrent.futures.Future[Result] = concurrent.futures.Future()
        job = Job(future)
        remote = f"r{next(self.server.ids)}"
        self.server.submitted.append(remote)
        job._add_remote_id(remote)

        def serve() -> None:
            if self.gated:
                self.release.acquire()
            self.server.finished[remote] = self.execute(request)
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled by the caller
                future.set_result(self.server.finished[remote])

        threading.Thread(target=serve, daemon=True).start()
        return job

    def attach(self, request: Request, remote_ids: Sequence[str]) -> Job:
        self.attached.append(tuple(remote_ids))
        future: concurrent.futures.Future[Result] = concurrent.futures.Future()
        (remote,) = remote_ids
        future.set_result(self.server.finished.get(remote) or self.execute(request))  # running: it finishes
        job = Job(future)
        job._add_remote_id(remote)
        return job


def _requests(backend: NumpyBackend, n: int) -> list[Request]:
    return [backend.request(CIRCUIT, {"a": 0.3 * i, "b": [0.1, -0.2]}, OBS) for i in range(n)]


def _until(condition) -> None:
    for _ in range(4000):
        if condition():
            return
        threading.Event().wait(0.005)
    raise AssertionError("condition never held")


def test_recover_reattaches_journaled_jobs_and_sends_only_the_rest(tmp_path: Path) -> None:
    server = Server()
    dying = RemoteStandIn(server)
    requests = _requests(dying, 8)  # 2 rows each; jobs of 4 rows: two requests per job, four jobs
    Executor(dying, max_rows_per_job=4, max_in_flight=2, journal=tmp_path).map(requests)
    dying.release.release()  # one job finishes; the freed worker sends the third; then the process "dies"
    _until(lambda: sorted(e.status for e in JobJournal(tmp_path).entries()) == ["completed", "sent", "sent"])
    assert len(server.submitted) == 3

    restarted = RemoteStandIn(server, gated=False)
    with Executor(restarted, max_rows_per_job=4, journal=tmp_path) as ex:
        results = [job.result(30) for job in ex.recover(requests)]
        assert ex.metrics()["recovered"] == 3 and ex.metrics()["jobs"] == 1
    assert sorted(restarted.attached) == [("r0",), ("r1",), ("r2",)]
    assert server.submitted == ["r0", "r1", "r2", "r3"]  # only the job never sent was sent
    for request, result in zip(requests, results, strict=True):
        want = NumpyBackend().execute(request).expectations
        np.testing.assert_allclose(result.expectations, want, atol=1e-12)
    assert [e.status for e in JobJournal(tmp_path).entries()] == ["completed"] * 4


def test_requests_of_cancelled_jobs_are_sent_again(tmp_path: Path) -> None:
    backend = RemoteStandIn(Server())
    requests = _requests(backend, 1)
    with Executor(backend, journal=tmp_path) as ex:
        (job,) = ex.map(requests)
        _until(lambda: JobJournal(tmp_path).entries())
        job.cancel()
        backend.release.release()
    assert [e.status for e in JobJournal(tmp_path).entries()] == ["cancelled"]
    with Executor(backend, journal=tmp_path) as ex:
        backend.release.release()
        (job,) = ex.recover(requests)
        job.result(30)
        assert ex.metrics()["recovered"] == 0 and ex.metrics()["jobs"] == 1
    assert backend.attached == []


def test_recover_needs_a_journal_and_local_backends_cannot_attach(tmp_path: Path) -> None:
    backend = NumpyBackend()
    with Executor(backend) as ex, pytest.raises(CapabilityError, match="recover needs the journal"):
        ex.recover(_requests(backend, 1))
    with pytest.raises(CapabilityError, match="runs locally and has no remote jobs"):
        backend.attach(_requests(backend, 1)[0], ["x"])
    with pytest.raises(CapabilityError, match="journal must be None, a Run, a path or a JobJournal"):
        Executor(backend, journal=3)  # type: ignore[arg-type]


def test_local_jobs_are_never_journaled(tmp_path: Path) -> None:
    backend = NumpyBackend()
    with Executor(backend, journal=tmp_path) as ex:
        ex.run_many(_requests(backend, 3))
    assert JobJournal(tmp_path).entries() == []
