"""Simulator throughput on every installed statevector backend, same run: one JSON line per result.

Workloads: the reference workload (``layer_circuit(n, 4, "linear", "angle", "Z")``: RY encoding,
4 layers of RY/RZ with a CNOT chain, ⟨Z_i⟩ on every qubit) at 8 qubits × batch 256 and 12, 16
qubits × batch 64, then the same layered circuit at 20 and 24 qubits with batch 1. Each result is
the fastest of ``--repeats`` timed forward runs after one warm-up (``--large-repeats`` for 20+
qubits, whose warm-up is a small circuit). These are the numbers the router uses to pick the
fastest backend for a workload. OpenMP engines (Lightning, and qsim from 18 qubits) suffer badly on
shared, busy cores; ``OMP_NUM_THREADS`` is recorded in every line so runs can be compared.

``--quick`` is W3 of the performance notes: one 24-qubit circuit, exact ⟨Z0⟩, on torch and qsim
(two runs each, the second timed, so plan compilation is not counted), with their ratio.

    python benchmarks/simulators.py [--quick] [--backends numpy,qsim,lightning] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from qstore.core import Backend, get_backend, list_backends
from qstore.core.ansatz import layer_circuit

CANDIDATES = ("numpy", "torch", "tf", "qsim", "lightning")
REFERENCE = ((8, 256), (12, 64), (16, 64))
LARGE = ((20, 1), (24, 1))


def timed(
    backend: Backend,
    n: int,
    batch: int,
    repeats: int,
    min_time: float,
    rng: np.random.Generator,
    observables: list[str] | None = None,
) -> tuple[float, np.ndarray]:
    """Fastest of up to ``repeats`` forward runs of the layered circuit on ``n`` qubits, and the
    expectations of the last run (``observables``, default ⟨Z_i⟩ on every qubit)."""
    layer = layer_circuit(n, 4, "linear", "angle", "Z")
    bindings = layer.input_bindings(rng.uniform(0, np.pi, size=(batch, n)))
    bindings.update({w: rng.uniform(0, 2 * np.pi) for w in layer.weights})
    times: list[float] = []
    values = np.zeros(0)
    while not times or (len(times) < repeats and sum(times) < min_time):
        start = time.perf_counter()
        values = backend.run(layer.circuit, bindings, observables or layer.observables).expectations
        times.append(time.perf_counter() - start)
    return min(times), values


def quick_w3() -> None:
    """W3: the 24-qubit circuit, exact ⟨Z0⟩, on torch and qsim; second of two runs timed."""
    installed = set(list_backends())
    seconds: dict[str, float] = {}
    for name in ("torch", "qsim"):
        if name not in installed:
            print(json.dumps({"benchmark": "W3", "backend": name, "skipped": "not installed"}), flush=True)
            continue
        backend = get_backend(name)
        runs = [timed(backend, 24, 1, 1, 0.0, np.random.default_rng(0), ["Z0"]) for _ in range(2)]
        seconds[name] = runs[1][0]
        record = {"benchmark": "W3", "backend": name, "n_qubits": 24, "seconds": round(runs[1][0], 4)}
        record.update(z0=float(runs[1][1][0, 0]), load_avg_1m=round(os.getloadavg()[0], 2))
        print(json.dumps(record), flush=True)
    if len(seconds) == 2:
        ratio = seconds["torch"] / seconds["qsim"]
        print(json.dumps({"benchmark": "W3", "ratio": "torch / qsim", "value": round(ratio, 2)}), flush=True)


def main() -> None:
    """Print one JSON line per (backend, workload)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(CANDIDATES), help="comma-separated names")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="W3 only: 24 qubits on torch and qsim")
    args = parser.parse_args()
    if args.quick:
        quick_w3()
        return
    installed = set(list_backends())
    names = [b for b in args.backends.split(",") if b in installed]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for name in names:
        backend = get_backend(name)
        rng = np.random.default_rng(0)
        timed(backend, 4, 2, 1, 0.0, rng)  # imports and compile paths once, before timing
        previous: tuple[int, int, float] | None = None
        for n, batch in REFERENCE + LARGE:
            record: dict[str, object] = {"backend": name, "n_qubits": n, "batch": batch, "cpu_count": cpus}
            record["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
            estimate = previous[2] * batch / previous[1] * 2 ** (n - previous[0]) if previous else 0.0
            if n > backend.capabilities.max_qubits:
                record["skipped"] = f"max_qubits is {backend.capabilities.max_qubits}"
            elif (n, batch) in LARGE and estimate > args.max_seconds:
                record["skipped"] = f"estimated {estimate:.0f} s per run > --max-seconds {args.max_seconds:g}"
            else:
                try:
                    seconds, _ = timed(backend, n, batch, args.repeats, args.min_time, rng)
                except Exception as error:  # report and go on with the other workloads
                    record["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                else:
                    record.update(seconds=round(seconds, 6), circuits_per_s=round(batch / seconds, 3))
                    previous = (n, batch, seconds)
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
