"""The sharded statevector on 1, 2 and 4 CPU ranks (gloo on 127.0.0.1): one JSON line per result.

Workload: ``layer_circuit(n, depth)`` (RY encoding, ``depth`` layers of RY·RZ and a CNOT chain),
batch 1, complex64, ⟨Z⟩ on the first, middle and last qubit, so the time is the gate sweep and its
exchanges rather than the readout. Every (ranks, qubits) point runs once in fresh processes started
by `qstore.torch.distributed.spawn`, after a 10-qubit warm-up. Each line reports:

* ``seconds``: the forward (``run``), between two barriers;
* ``peak_rss_gib`` per rank: the process's high-water mark (``ru_maxrss``) after the run, next to
  ``shard_gib`` (the 1/P of the state each rank owns) and ``rss_before_gib`` (torch and the
  interpreter, measured before the run);
* ``exchanges`` and ``bytes_sent`` per rank (from the result's info), ``bytes_exchanged`` summed;
* ``torch`` lines: the single-process torch engine on the same circuit, as the peer.

A ``weak-scaling`` line follows: ``qubits + 1`` per doubling of ranks from the largest-but-two
grid size, so each rank's share stays the same. ``--big`` runs the shallow 30-qubit complex64 forward
(8 GiB of state) on 4 ranks, after recording the single-process engine's refusals (``run`` refuses
the register against the capabilities' memory-derived ``max_qubits``; the engine's own memory check,
which ``execute`` runs first, says how much memory it would need); it skips itself
when the machine has less than 14 GiB available. Load averages are in every line: the numbers are
only comparable within a run.

    python benchmarks/distributed.py [--qubits 22,24,26,28] [--ranks 1,2,4] [--depth 1] [--big]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
import torch
import torch.distributed as dist

from qstore.core.ansatz import layer_circuit
from qstore.core.errors import QstoreError
from qstore.core.memory import available_memory
from qstore.core.statevector import check_memory
from qstore.torch.backend import TorchBackend
from qstore.torch.distributed import DistributedBackend, spawn

GIB = 2**30
BIG_QUBITS = 30
BIG_MIN_AVAILABLE = 14 * GIB


def workload(n: int, depth: int) -> tuple[object, dict[str, float], list[str]]:
    """The layered circuit on ``n`` qubits with fixed random inputs and weights, and its readout."""
    lc = layer_circuit(n, depth)
    rng = np.random.default_rng(n)
    bindings = {name: float(rng.uniform(0, 2 * np.pi)) for name in lc.circuit.symbols}
    return lc.circuit, bindings, [f"Z{q}" for q in sorted({0, n // 2, n - 1})]


def _rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def _measure(rank: int, world: int, n: int, depth: int, engine: str, label: str) -> None:
    """One timed forward on every rank; rank 0 prints the line (peak memory gathered from all ranks)."""
    backend = (
        TorchBackend(precision="single") if engine == "torch" else DistributedBackend(precision="single")
    )
    circuit, bindings, observables = workload(10, depth)
    backend.run(circuit, bindings, observables)
    circuit, bindings, observables = workload(n, depth)
    before = _rss()
    dist.barrier()
    start = time.perf_counter()
    result = backend.run(circuit, bindings, observables)
    dist.barrier()
    seconds = time.perf_counter() - start
    info = result.metadata.extra if result.metadata is not None else {}
    mine = torch.tensor(
        [before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, info.get("bytes_exchanged", 0)],
        dtype=torch.float64,
    )
    parts = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(parts, mine)
    if rank == 0:
        table = torch.stack(parts).numpy()
        line = {
            "benchmark": label,
            "engine": engine,
            "ranks": world,
            "qubits": n,
            "depth": depth,
            "precision": "single",
            "seconds": round(seconds, 3),
            "shard_gib": round(8 * 2**n / world / GIB, 3),
            "rss_before_gib": [round(v / GIB, 3) for v in table[:, 0]],
            "peak_rss_gib": [round(v / GIB, 3) for v in table[:, 1]],
            "exchanges": info.get("exchanges", 0),
            "bytes_sent": [int(v) for v in table[:, 2]],
            "bytes_exchanged": int(table[:, 2].sum()),
            "expectations": [round(float(v), 6) for v in result.expectations[0]],
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "omp_threads": torch.get_num_threads(),
        }
        print(json.dumps(line), flush=True)


def point(world: int, n: int, depth: int, engine: str = "torch.distributed", label: str = "grid") -> None:
    """Run one (ranks, qubits) point in ``world`` fresh processes."""
    spawn(_measure, world, n, depth, engine, label, timeout=3600)


def big(depth: int) -> None:
    """The 30-qubit complex64 forward: the single-process refusal, then 4 ranks if memory allows."""
    circuit, bindings, observables = workload(BIG_QUBITS, depth)
    refusals = {}
    for what, attempt in (
        ("run", lambda: TorchBackend(precision="single").run(circuit, bindings, observables)),
        ("engine_memory_check", lambda: check_memory(BIG_QUBITS, 1, np.complex64)),
    ):
        try:
            attempt()
            refusals[what] = None
        except QstoreError as error:
            refusals[what] = f"{type(error).__name__}: {error}"
    line = {"benchmark": "big", "engine": "torch", "ranks": 1, "qubits": BIG_QUBITS, "refused": refusals}
    print(json.dumps(line), flush=True)
    have = available_memory()
    if have < BIG_MIN_AVAILABLE:
        skipped = (
            f"only {have / GIB:.1f} GiB available, the 4-rank run needs about {BIG_MIN_AVAILABLE // GIB}"
        )
        print(
            json.dumps({"benchmark": "big", "ranks": 4, "qubits": BIG_QUBITS, "skipped": skipped}), flush=True
        )
        return
    point(4, BIG_QUBITS, depth, label="big")


def main() -> None:
    """The grid, its torch peers and the weak-scaling points; then ``--big``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", default="22,24,26,28", help="comma-separated register sizes")
    parser.add_argument("--ranks", default="1,2,4", help="comma-separated world sizes (powers of two)")
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--big", action="store_true", help="only the 30-qubit run on 4 ranks")
    args = parser.parse_args()
    if args.big:
        big(args.depth)
        return
    sizes = [int(v) for v in args.qubits.split(",")]
    worlds = [int(v) for v in args.ranks.split(",")]
    for n in sizes:
        point(1, n, args.depth, engine="torch", label="peer")
        for world in worlds:
            point(world, n, args.depth)
    base = sizes[-1] - (len(worlds) - 1)
    for i, world in enumerate(worlds):
        if base + i not in sizes:
            point(world, base + i, args.depth, label="weak-scaling")
    summary = {"benchmark": "weak-scaling", "points": [[w, base + i] for i, w in enumerate(worlds)]}
    summary["note"] = "qubits + 1 per doubling of ranks; the grid lines above give the other points' times"
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
