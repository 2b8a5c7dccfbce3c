"""Reference-workload throughput of qstore.tf beside qstore.torch, in one run: JSON lines.

Workload (core issue): angle encoding RY(x_i), 4 layers of RY(θ)/RZ(θ) on every qubit with a CNOT
chain, ⟨Z_i⟩ on all qubits — ``layer_circuit(n, 4, "linear", "angle", "Z")`` — at 8 qubits × batch
256, 12 and 16 qubits × batch 64. For the Keras `qstore.tf.QuantumLayer` on the ``tf`` engine it
measures forward and forward+gradient (to inputs and weights, TensorFlow autodiff) circuits/s,
eagerly and inside ``tf.function``. When ``qstore.torch`` is importable, its ``QuantumLayer``
(backprop, the torch engine) runs the same workload with the same weights in the same run, through
its public API only; each engine is measured in its own child process so the two frameworks'
thread pools do not compete, and ratio lines compare the best of each. Each measurement is the best of up to ``--repeats`` timed calls
within ``--budget`` seconds (at least one), after an untimed warm-up call that also traces
``tf.function``.

    python benchmarks/tf_throughput.py [--repeats 3] [--budget 4] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import TYPE_CHECKING

import numpy as np

from qstore.core.ansatz import layer_circuit

if TYPE_CHECKING:
    import tensorflow as tf

    from qstore.tf import QuantumLayer

WORKLOADS = ((8, 256), (12, 64), (16, 64))
ENGINES = ("qstore.tf", "qstore.torch")
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
    import tensorflow as tf

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
        layer.theta.copy_(torch.from_numpy(weights))
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


def measure(engine: str, quick: bool, repeats: int, budget: float) -> None:
    """Print one JSON line per measurement of ``engine`` (``qstore.tf`` or ``qstore.torch``)."""
    machine = {
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "machine": platform.machine(),
    }
    for n, batch in WORKLOADS[:1] if quick else WORKLOADS:
        rng = np.random.default_rng(0)
        x = rng.uniform(0, np.pi, size=(batch, n)).astype(np.float32)
        weights = rng.uniform(0, 2 * np.pi, size=layer_circuit(n, DEPTH).weight_shape).astype(np.float32)
        if engine == "qstore.tf":
            import tensorflow as tf

            from qstore.tf import QuantumLayer

            layer = QuantumLayer(n, DEPTH, "linear", "angle", "Z")
            layer.build((None, n))
            layer.theta.assign(weights)
            steps: dict[str, Callable[[], object]] | str = tf_steps(layer, tf.constant(x))
            versions = {"tensorflow": tf.__version__}
        else:
            steps = torch_steps(n, x, weights)
            versions = {}
        if isinstance(steps, str):
            emit({"benchmark": "tf_throughput", "engine": engine, "n_qubits": n, "skipped": steps})
            return
        for name, fn in steps.items():
            seconds, reps = best_time(fn, repeats, budget)
            mode, execution = name.split("/")
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
                    **versions,
                }
            )


def main() -> None:
    """Measure both engines, each in its own child process, relay their lines, then print ratios.

    Separate processes keep TensorFlow's and torch's thread pools from competing for the cores;
    ``--engine`` measures one engine in this process.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of timed calls per measurement")
    parser.add_argument("--quick", action="store_true", help="8 qubits only")
    parser.add_argument("--engine", choices=ENGINES, help="measure only this engine, in this process")
    args = parser.parse_args()
    if args.engine:
        measure(args.engine, args.quick, args.repeats, args.budget)
        return
    best: dict[tuple[str, str, int], float] = {}
    for engine in ENGINES:
        command = [sys.executable, __file__, "--engine", engine, "--repeats", str(args.repeats)]
        command += ["--budget", str(args.budget)] + (["--quick"] if args.quick else [])
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0:
            emit({"benchmark": "tf_throughput", "engine": engine, "failed": done.stderr[-500:]})
        for line in lines:
            print(line, flush=True)
            record = json.loads(line)
            if "circuits_per_s" in record:
                key = (engine, record["mode"], record["n_qubits"])
                best[key] = max(best.get(key, 0.0), record["circuits_per_s"])
    for n, _ in WORKLOADS:
        for mode in ("forward", "forward+gradient"):
            if ("qstore.tf", mode, n) in best and ("qstore.torch", mode, n) in best:
                emit(
                    {
                        "benchmark": "tf_throughput",
                        "ratio": "qstore.tf / qstore.torch (best execution each)",
                        "mode": mode,
                        "n_qubits": n,
                        "value": round(best[("qstore.tf", mode, n)] / best[("qstore.torch", mode, n)], 3),
                    }
                )


if __name__ == "__main__":
    main()
