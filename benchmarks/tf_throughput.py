"""Reference-workload throughput of qstore.tf beside qstore.torch, in one run: JSON lines.

Workload (core issue): angle encoding RY(x_i), 4 layers of RY(θ)/RZ(θ) on every qubit with a CNOT
chain, ⟨Z_i⟩ on all qubits — ``layer_circuit(n, 4, "linear", "angle", "Z")`` — at 8 qubits × batch
256, 12 and 16 qubits × batch 64. For the Keras `qstore.tf.QuantumLayer` on the ``tf`` engine it
measures forward and forward+gradient (to inputs and weights, TensorFlow autodiff) circuits/s,
eagerly and inside ``tf.function``. When ``qstore.torch`` is importable, its ``QuantumLayer``
(backprop, the torch engine) runs the same workload with the same weights in the same process,
through its public API only. Each measurement is the best of up to ``--repeats`` timed calls
within ``--budget`` seconds (at least one), after an untimed warm-up call that also traces
``tf.function``.

    python benchmarks/tf_throughput.py [--repeats 3] [--budget 4] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

from qstore.core.ansatz import layer_circuit
from qstore.tf import QuantumLayer

WORKLOADS = ((8, 256), (12, 64), (16, 64))
DEPTH = 4


def best_time(fn: Callable[[], object], repeats: int, budget: float) -> tuple[float, int]:
    """Fastest of up to ``repeats`` timed calls (at least one) after an untimed warm-up call.

    The warm-up traces ``tf.function`` and fills caches, so it is never the measurement.
    """
    fn()
    times: list[float] = []
    deadline = time.perf_counter() + budget
    while len(times) < repeats and (not times or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), len(times)


def tf_steps(layer: QuantumLayer, x: tf.Tensor) -> dict[str, Callable[[], object]]:
    """Forward and forward+gradient of the Keras layer, eager and as ``tf.function``."""

    def forward() -> tf.Tensor:
        return layer(x)

    def both() -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x))
        return tape.gradient(loss, [x, layer.theta])

    graph_forward, graph_both = tf.function(forward), tf.function(both)
    return {
        "forward/eager": forward,
        "forward/tf.function": lambda: graph_forward().numpy(),
        "forward+gradient/eager": both,
        "forward+gradient/tf.function": lambda: [g.numpy() for g in graph_both()],
    }


def torch_steps(n: int, x: np.ndarray, weights: np.ndarray) -> dict[str, Callable[[], object]] | str:
    """The same workload on ``qstore.torch.QuantumLayer`` (backprop), or why it is skipped."""
    try:
        import torch

        from qstore.torch import QuantumLayer as TorchQuantumLayer
    except ImportError as exc:
        return repr(exc)
    layer = TorchQuantumLayer(n, DEPTH, "linear", "angle", "Z", diff_method="backprop")
    with torch.no_grad():
        layer.weights.copy_(torch.from_numpy(weights))
    xt = torch.from_numpy(x).requires_grad_(True)

    def forward() -> object:
        with torch.no_grad():
            return layer(xt)

    def both() -> object:
        layer.zero_grad(set_to_none=True)
        xt.grad = None
        layer(xt).sum().backward()
        return None

    return {"forward/eager": forward, "forward+gradient/eager": both}


def emit(record: dict) -> None:
    """Print one JSON line."""
    print(json.dumps(record), flush=True)


def main() -> None:
    """Measure every configuration and print one JSON line each, then tf/torch ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of timed calls per measurement")
    parser.add_argument("--quick", action="store_true", help="8 qubits only")
    args = parser.parse_args()
    machine = {
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "machine": platform.machine(),
        "tensorflow": tf.__version__,
    }
    for n, batch in WORKLOADS[:1] if args.quick else WORKLOADS:
        rng = np.random.default_rng(0)
        x = rng.uniform(0, np.pi, size=(batch, n)).astype(np.float32)
        weights = rng.uniform(0, 2 * np.pi, size=layer_circuit(n, DEPTH).weight_shape).astype(np.float32)
        layer = QuantumLayer(n, DEPTH, "linear", "angle", "Z")
        layer.build((None, n))
        layer.theta.assign(weights)
        engines: dict[str, dict[str, Callable[[], object]] | str] = {
            "qstore.tf": tf_steps(layer, tf.constant(x)),
            "qstore.torch": torch_steps(n, x, weights),
        }
        best: dict[tuple[str, str], float] = {}
        for engine, steps in engines.items():
            if isinstance(steps, str):
                emit({"benchmark": "tf_throughput", "engine": engine, "n_qubits": n, "skipped": steps})
                continue
            for name, fn in steps.items():
                seconds, reps = best_time(fn, args.repeats, args.budget)
                mode, execution = name.split("/")
                best[(engine, mode)] = max(best.get((engine, mode), 0.0), batch / seconds)
                emit(
                    {
                        "benchmark": "tf_throughput",
                        "engine": engine,
                        "mode": mode,
                        "execution": execution,
                        "n_qubits": n,
                        "batch": batch,
                        "circuits_per_s": round(batch / seconds, 1),
                        "seconds": round(seconds, 5),
                        "repeats": reps,
                        **machine,
                    }
                )
        for mode in ("forward", "forward+gradient"):
            if ("qstore.tf", mode) in best and ("qstore.torch", mode) in best:
                emit(
                    {
                        "benchmark": "tf_throughput",
                        "ratio": "qstore.tf / qstore.torch (best execution each)",
                        "mode": mode,
                        "n_qubits": n,
                        "value": round(best[("qstore.tf", mode)] / best[("qstore.torch", mode)], 3),
                    }
                )


if __name__ == "__main__":
    main()
