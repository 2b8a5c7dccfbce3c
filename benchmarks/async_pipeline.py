"""Sequential submission versus the executor, on the fake IonQ server with per-job latency.

The workload is what a per-sample training step sends: for each of ``--rows`` inputs, a forward
run and its parameter-shift gradient (one job each), 200 shots. Three modes:

* ``sequential``: every job submitted and awaited one at a time (how a loop over blocking
  ``run``/``gradient`` calls behaves today);
* ``pipelined``: the same seeded requests through an `Executor` (``--in-flight`` jobs at once,
  gradients from a thread pool through ``Executor.as_backend``); results must be identical;
* ``coalesced``: the same requests without seeds, so the executor packs them into multi-circuit
  jobs (independent samples: compared statistically, not bit for bit).

One JSON line per mode and a summary line with the speed-ups. Needs qstore-backend-ionq and
the repository's ``tests/ionq/fake_ionq.py``.

    python benchmarks/async_pipeline.py [--rows 64] [--latency 0.5] [--in-flight 16]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ionq"))

from fake_ionq import API_KEY, FakeIonQ

from qstore.core import Circuit
from qstore.core.backend import Backend
from qstore.core.executor import Executor

CIRCUIT = (
    Circuit(3).ry("x0", 0).ry("x1", 1).ry("x2", 2).cnot(0, 1).cnot(1, 2).rz("w0", 0).ry("w1", 1).rx("w2", 2)
)
OBSERVABLES = ["Z0", "Z1", "Z2"]
SHOTS = 200


def rows(n: int) -> list[dict[str, float]]:
    """``n`` seeded input rows with fixed weights."""
    rng = np.random.default_rng(5)
    weights = {"w0": 0.3, "w1": -0.7, "w2": 1.1}
    return [
        {**{f"x{q}": float(v) for q, v in enumerate(rng.uniform(-np.pi, np.pi, 3))}, **weights}
        for _ in range(n)
    ]


def sequential(backend: Backend, data: list[dict[str, float]], seeded: bool) -> tuple[list[Any], list[Any]]:
    """Forward and gradient of every row, one blocking job at a time."""
    forward, grads = [], []
    for k, row in enumerate(data):
        seed = k if seeded else None
        forward.append(backend.run(CIRCUIT, row, OBSERVABLES, SHOTS, seed=seed).expectations)
        grads.append(
            backend.gradient(
                CIRCUIT,
                row,
                OBSERVABLES,
                method="parameter-shift",
                shots=SHOTS,
                seed=None if seed is None else seed + 10_000,
            )
        )
    return forward, grads


def pipelined(ex: Executor, data: list[dict[str, float]], seeded: bool) -> tuple[list[Any], list[Any]]:
    """The same work through the executor: forward requests queued at once, gradients from threads."""
    backend, view = ex.backend, ex.as_backend()
    requests = [
        backend.request(CIRCUIT, row, OBSERVABLES, SHOTS, seed=k if seeded else None)
        for k, row in enumerate(data)
    ]
    jobs = ex.map(requests)

    def gradient(k: int) -> Any:
        seed = k + 10_000 if seeded else None
        return view.gradient(CIRCUIT, data[k], OBSERVABLES, method="parameter-shift", shots=SHOTS, seed=seed)

    with concurrent.futures.ThreadPoolExecutor(len(data)) as pool:
        grads = list(pool.map(gradient, range(len(data))))
    return [job.result().expectations for job in jobs], grads


def measure(fake: FakeIonQ, name: str, work: Any) -> tuple[dict[str, Any], Any]:
    """Run ``work()`` against a fresh job table; time it and read the server's counters."""
    fake.jobs.clear()
    fake.max_in_flight = 0
    start = time.perf_counter()
    out = work()
    seconds = time.perf_counter() - start
    line = {
        "benchmark": "async_pipeline",
        "mode": name,
        "seconds": round(seconds, 3),
        "jobs_created": len(fake.jobs),
        "circuits_sent": sum(len(j.probabilities) for j in fake.jobs.values()),
        "server_max_in_flight": fake.max_in_flight,
    }
    return line, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args()

    from qstore.backends.ionq.backend import IonQBackend

    with FakeIonQ(latency=args.latency) as fake:
        os.environ["IONQ_API_URL"] = fake.url
        os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
        backend = IonQBackend(
            api_key=API_KEY,
            url=fake.url,
            poll_interval=0.05,
            max_poll_interval=0.1,
            max_in_flight=args.in_flight,
        )
        data = rows(args.rows)
        common = {"rows": args.rows, "latency_s": args.latency, "in_flight": args.in_flight, "shots": SHOTS}

        seq_line, (seq_f, seq_g) = measure(fake, "sequential", lambda: sequential(backend, data, True))
        print(json.dumps({**seq_line, **common}), flush=True)

        with Executor(backend, max_in_flight=args.in_flight) as ex:
            pipe_line, (pipe_f, pipe_g) = measure(fake, "pipelined", lambda: pipelined(ex, data, True))
        identical = all(np.array_equal(a, b) for a, b in zip(seq_f, pipe_f, strict=True)) and all(
            np.array_equal(a[s], b[s]) for a, b in zip(seq_g, pipe_g, strict=True) for s in a
        )
        print(json.dumps({**pipe_line, **common, "identical_to_sequential": identical}), flush=True)

        with Executor(backend, max_in_flight=args.in_flight) as ex:
            co_line, (co_f, _) = measure(fake, "coalesced", lambda: pipelined(ex, data, False))
        deviation = float(max(np.max(np.abs(a - b)) for a, b in zip(seq_f, co_f, strict=True)))
        print(
            json.dumps(
                {**co_line, **common, "max_abs_forward_difference_vs_sequential": round(deviation, 4)}
            ),
            flush=True,
        )

        print(
            json.dumps(
                {
                    "benchmark": "async_pipeline",
                    "mode": "summary",
                    **common,
                    "speedup_pipelined": round(seq_line["seconds"] / pipe_line["seconds"], 2),
                    "speedup_coalesced": round(seq_line["seconds"] / co_line["seconds"], 2),
                    "identical_results": identical,
                }
            )
        )


if __name__ == "__main__":
    main()
