"""Data-parallel training of a hybrid quantum model with DistributedDataParallel on CPU processes.

Each of ``--world`` processes (gloo backend, loopback 127.0.0.1) holds one replica of
``Linear -> QuantumLayer -> Linear`` and trains on its shard of every batch; DDP averages the
gradients, so the result equals single-process training on the whole batch. The script checks
exactly that and prints the largest parameter difference.

    python examples/torch_ddp.py --world 2 --steps 5
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from qstore.torch import QuantumLayer

N_QUBITS = 3


def build_model(seed: int = 0) -> nn.Module:
    """The hybrid model, identically initialised in every process (float64 for exact comparison)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(4, N_QUBITS), QuantumLayer(N_QUBITS, depth=2, bases="XZ"), nn.Linear(2 * N_QUBITS, 1)
    ).double()


def make_data(rows: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A small deterministic regression task."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(rows, 4, generator=g, dtype=torch.float64)
    return x, torch.sin(x.sum(dim=1, keepdim=True))


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 0.1) -> None:
    """Full-batch SGD on the mean-squared error."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def flat_parameters(model: nn.Module) -> np.ndarray:
    """Every parameter, flattened into one float64 vector."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()


def worker(rank: int, world: int, port: int, steps: int, out: str) -> None:
    """One DDP process: train on this rank's contiguous shard; rank 0 saves the parameters."""
    torch.set_num_threads(1)
    if sys.platform.startswith("linux"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # keep gloo's pairs on loopback too
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=120),
    )
    try:
        model = DistributedDataParallel(build_model())
        x, y = make_data()
        shard = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
        train(model, x[shard], y[shard], steps)
        if rank == 0:
            np.save(out, flat_parameters(model.module), allow_pickle=False)
        dist.barrier()  # no rank tears the group down while another still uses it
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_ddp(world: int, steps: int, out: Path) -> np.ndarray:
    """Train with ``world`` processes and return rank 0's final parameters."""
    mp.spawn(worker, args=(world, free_port(), steps, str(out)), nprocs=world, join=True)
    return np.load(out, allow_pickle=False)


def main() -> int:
    """Train both ways and compare; exit status 1 if they differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("ddp_parameters.npy"))
    args = parser.parse_args()
    distributed = run_ddp(args.world, args.steps, args.out)
    single = build_model()
    x, y = make_data()
    train(single, x, y, args.steps)
    diff = float(np.abs(distributed - flat_parameters(single)).max())
    print(
        f"{args.world} DDP processes vs one process after {args.steps} steps: max |Δparameter| = {diff:.2e}"
    )
    return 0 if diff < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
