"""Reference-workload throughput of qstore.torch against PennyLane, in one run: JSON lines.

Workload (core issue): angle encoding RY(x_i), 4 layers of RY(θ)/RZ(θ) on every qubit with a CNOT
chain, ⟨Z_i⟩ on all qubits — ``layer_circuit(n, 4, "linear", "angle", "Z")`` — at 8 qubits × batch
256, 12 and 16 qubits × batch 64. For each ``diff_method`` of `qstore.torch.QuantumLayer` it
measures forward and forward+backward (``loss.backward()`` to inputs and weights) circuits/s.
When importable, the identical circuit runs on PennyLane ``default.qubit`` (torch interface,
backprop, batch broadcast) and ``lightning.qubit`` (adjoint). Ratio lines compare qstore's
fastest exact method (backprop or adjoint; SPSA and parameter-shift are listed but not compared)
with the fastest peer. Each measurement is the best of up to ``--repeats`` timed
calls within a ``--budget`` of seconds, after one warm-up call. To keep the run to minutes, the
peers are timed on ``--peer-batch`` rows (``lightning.qubit`` always — it runs one circuit per
row, so circuits/s scale linearly — and ``default.qubit`` above 8 qubits, which if anything
understates it: its broadcast amortises per-call overhead over the rows); each record states the
rows it timed.

    python benchmarks/torch_throughput.py [--repeats 3] [--budget 4] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable

import torch

from qstore.core.ansatz import layer_circuit
from qstore.torch import QuantumLayer

WORKLOADS = ((8, 256), (12, 64), (16, 64))
DEPTH = 4
EXACT = ("backprop", "adjoint")


def best_time(fn: Callable[[], object], repeats: int, budget: float) -> tuple[float, int]:
    """Fastest of up to ``repeats`` timed calls after a warm-up, within ``budget`` seconds.

    A warm-up call that alone takes more than half the budget is the measurement (repeats 0).
    """
    start = time.perf_counter()
    fn()
    warm = time.perf_counter() - start
    if warm > budget / 2:
        return warm, 0
    times: list[float] = []
    deadline = time.perf_counter() + budget
    while len(times) < repeats and (not times or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), len(times)


def qstore_step(layer: QuantumLayer, x: torch.Tensor, backward: bool) -> Callable[[], object]:
    """One forward (no graph) or forward+backward call of the layer."""

    def forward() -> object:
        with torch.no_grad():
            return layer(x)

    def both() -> object:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).sum().backward()
        return None

    return both if backward else forward


def pennylane_steps(n: int, device: str, diff_method: str) -> Callable[[torch.Tensor, torch.Tensor], object]:
    """The identical circuit as a PennyLane QNode with the torch interface."""
    import pennylane as qml

    dev = qml.device(device, wires=n)

    @qml.qnode(dev, interface="torch", diff_method=diff_method)
    def circuit(x: torch.Tensor, w: torch.Tensor) -> list:
        for i in range(n):
            qml.RY(x[..., i], wires=i)
        for layer in range(DEPTH):
            for q in range(n):
                qml.RY(w[layer, q, 0], wires=q)
                qml.RZ(w[layer, q, 1], wires=q)
            for q in range(n - 1):
                qml.CNOT(wires=[q, q + 1])
        return [qml.expval(qml.PauliZ(q)) for q in range(n)]

    def run(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.stack(list(circuit(x, w)), dim=-1)

    return run


def emit(record: dict) -> None:
    """Print one JSON line."""
    print(json.dumps(record), flush=True)


def main() -> None:
    """Measure every configuration and print results and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of timed calls per measurement")
    parser.add_argument("--quick", action="store_true", help="8 qubits only")
    parser.add_argument("--peer-batch", type=int, default=16, help="rows timed on slow peers")
    args = parser.parse_args()
    machine = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "machine": platform.machine(),
        "torch": torch.__version__,
    }
    for n, batch in WORKLOADS[:1] if args.quick else WORKLOADS:
        torch.manual_seed(0)
        x = torch.rand(batch, n) * torch.pi
        weights = torch.rand(layer_circuit(n, DEPTH).weight_shape) * 2 * torch.pi
        best: dict[str, dict[str, float]] = {"forward": {}, "forward+backward": {}}
        methods = ["backprop", "adjoint", "spsa"] + (["parameter-shift"] if n <= 8 else [])
        for method in methods:
            layer = QuantumLayer(n, DEPTH, "linear", "angle", "Z", diff_method=method, seed=0)
            layer.theta.data.copy_(weights)
            xin = x.clone().requires_grad_(True)
            for mode, backward in (("forward", False), ("forward+backward", True)):
                if mode == "forward" and method not in ("backprop", "adjoint"):
                    continue
                seconds, reps = best_time(qstore_step(layer, xin, backward), args.repeats, args.budget)
                best[mode][f"qstore.torch/{method}"] = batch / seconds
                emit(
                    {
                        "benchmark": "torch_throughput",
                        "engine": "qstore.torch",
                        "diff_method": method,
                        "mode": mode,
                        "n_qubits": n,
                        "batch": batch,
                        "circuits_per_s": round(batch / seconds, 1),
                        "seconds": round(seconds, 5),
                        "repeats": reps,
                        **machine,
                    }
                )
        for device, method in (("default.qubit", "backprop"), ("lightning.qubit", "adjoint")):
            try:
                run = pennylane_steps(n, device, method)
            except Exception as exc:  # a peer that is not installed is reported, not fatal
                emit({"benchmark": "torch_throughput", "engine": f"pennylane/{device}", "skipped": repr(exc)})
                continue
            rows = batch if device == "default.qubit" and n <= 8 else min(batch, args.peer_batch)
            w = weights.clone().requires_grad_(True)
            xin = x[:rows].clone().requires_grad_(True)

            def fwd(run: Callable = run, xin: torch.Tensor = xin, w: torch.Tensor = w) -> object:
                with torch.no_grad():
                    return run(xin, w)

            def both(run: Callable = run, xin: torch.Tensor = xin, w: torch.Tensor = w) -> object:
                xin.grad, w.grad = None, None
                run(xin, w).sum().backward()
                return None

            for mode, fn in (("forward", fwd), ("forward+backward", both)):
                seconds, reps = best_time(fn, min(args.repeats, 2), args.budget)
                best[mode][f"pennylane/{device}/{method}"] = rows / seconds
                emit(
                    {
                        "benchmark": "torch_throughput",
                        "engine": f"pennylane/{device}",
                        "diff_method": method,
                        "mode": mode,
                        "n_qubits": n,
                        "batch": rows,
                        "circuits_per_s": round(rows / seconds, 1),
                        "seconds": round(seconds, 5),
                        "repeats": reps,
                        **machine,
                    }
                )
        for mode, results in best.items():
            ours = {k: v for k, v in results.items() if k.split("/")[-1] in EXACT and k.startswith("qstore")}
            peers = {k: v for k, v in results.items() if not k.startswith("qstore")}
            if ours and peers:
                mine, peer = max(ours, key=ours.__getitem__), max(peers, key=peers.__getitem__)
                emit(
                    {
                        "benchmark": "torch_throughput",
                        "ratio": f"{mine} / {peer}",
                        "mode": mode,
                        "n_qubits": n,
                        "batch": batch,
                        "speedup": round(ours[mine] / peers[peer], 2),
                    }
                )


if __name__ == "__main__":
    main()
