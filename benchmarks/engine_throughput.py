"""Reference-workload throughput of the core NumPy engine: one JSON line per result.

Workload (core issue): angle encoding RY(x_i), 4 layers of RY(θ)/RZ(θ) on every qubit with a CNOT
chain, ⟨Z_i⟩ on all qubits; 8 qubits × batch 256, 12 and 16 qubits × batch 64. Forward is one
batched `run`; forward+gradient adds a VJP with respect to inputs and weights (adjoint, and
parameter-shift for comparison).

    python benchmarks/engine_throughput.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from qstore.core import NumpyBackend
from qstore.core.ansatz import LayerCircuit, layer_circuit

WORKLOADS = ((8, 256), (12, 64), (16, 64))


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` timed calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def step(backend: NumpyBackend, layer: LayerCircuit, bindings: dict, gradient: str | None) -> None:
    """One forward pass, plus a VJP over inputs and weights when ``gradient`` names a method."""
    backend.run(layer.circuit, bindings, layer.observables)
    if gradient:
        cot = np.ones((len(bindings["x_0"]), layer.circuit.n_qubits))
        backend.gradient(layer.circuit, bindings, layer.observables, cot, method=gradient)


def main() -> None:
    """Print forward and forward+gradient circuits/s for each workload and dtype."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    machine = {"cpu_count": os.cpu_count(), "machine": platform.machine()}
    for n, batch in WORKLOADS:
        layer = layer_circuit(n, depth=4, entanglement="linear", encoding="angle", bases="Z")
        bindings = layer.input_bindings(rng.uniform(0, np.pi, size=(batch, n)))
        bindings.update({w: rng.uniform(0, 2 * np.pi) for w in layer.weights})
        for dtype in ("complex128", "complex64"):
            backend = NumpyBackend(dtype=dtype)
            gradients: list[str | None] = [None, "adjoint"]
            if n == 8 and dtype == "complex128":
                gradients.append("parameter-shift")
            for gradient in gradients:
                repeats = 1 if gradient == "parameter-shift" else args.repeats
                seconds = best_time(partial(step, backend, layer, bindings, gradient), repeats)
                line = {
                    "benchmark": "engine_throughput",
                    "backend": "numpy",
                    "dtype": dtype,
                    "case": f"forward+{gradient}" if gradient else "forward",
                    "n_qubits": n,
                    "batch": batch,
                    "seconds": round(seconds, 5),
                    "circuits_per_s": round(batch / seconds, 1),
                    **machine,
                }
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
