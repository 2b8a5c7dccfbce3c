"""The work of `test_recover.py`: a pipelined batch against the fake IonQ server, journaled.

Run as a script (``python recover_worker.py URL JOURNAL``) it submits `requests` through an
executor that journals its jobs and waits for them; the test kills it with SIGKILL midway.
"""

from __future__ import annotations

import sys
from typing import Any

from fake_ionq import API_KEY

from qstore.core import Circuit
from qstore.core.backend import Request

CIRCUIT = Circuit(2).ry("a", 0).rx("b", 1).cnot(0, 1)
N_REQUESTS = 12
IN_FLIGHT = 4


def make_backend(url: str) -> Any:
    """The IonQ simulator at ``url`` with fast polling."""
    from qstore.backends.ionq.backend import IonQBackend

    return IonQBackend(api_key=API_KEY, url=url, poll_interval=0.01, max_poll_interval=0.05, timeout=120.0)


def requests(backend: Any) -> list[Request]:
    """The batch: seeded, so each is its own job and its result is reproducible."""
    return [
        backend.request(CIRCUIT, {"a": 0.25 * i, "b": -0.1 * i}, ["Z0", "Z1", "X0 X1"], 300, seed=100 + i)
        for i in range(N_REQUESTS)
    ]


def main(url: str, journal: str) -> None:
    from qstore.core.executor import Executor

    backend = make_backend(url)
    with Executor(backend, max_in_flight=IN_FLIGHT, journal=journal) as ex:
        ex.run_many(requests(backend), timeout=120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
