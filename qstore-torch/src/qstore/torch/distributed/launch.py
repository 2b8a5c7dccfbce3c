"""Starting ranks: `init` under ``torchrun``, `spawn` for scripts and tests on one machine.

Both use torch.distributed's own rendezvous (``env://`` from torchrun, or a TCP store on
127.0.0.1): NCCL with one GPU per rank where CUDA is present, gloo on CPUs.
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from qstore.core.errors import JobError

__all__ = ["init", "spawn"]


def init(backend: str | None = None, timeout: float = 600.0) -> torch.device:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``…).

    ``backend`` defaults to ``"nccl"`` when CUDA is available, else ``"gloo"``. Returns this rank's
    device (``cuda:<LOCAL_RANK>`` under NCCL, else ``cpu``).
    """
    if "RANK" not in os.environ:
        raise JobError(
            "qstore.torch.distributed.init() runs under torchrun (RANK is not set); use spawn() instead"
        )
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device("cpu")
    if backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    return device


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entry(rank: int, fn: Callable[..., Any], world: int, port: int, timeout: float, args: tuple) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=timeout),
    )
    try:
        fn(rank, world, *args)
    finally:
        dist.destroy_process_group()


def spawn(fn: Callable[..., Any], world_size: int, *args: Any, timeout: float = 300.0) -> None:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` new processes joined by gloo on loopback.

    ``fn`` must be importable (a module-level function). An exception in any rank is raised here;
    ranks still running after ``timeout`` seconds are terminated and a `JobError` is raised.
    """
    port = _free_port()
    context = mp.start_processes(
        _entry,
        args=(fn, world_size, port, timeout, args),
        nprocs=world_size,
        join=False,
        start_method="spawn",
    )
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
    while not context.join(timeout=1.0):
        if datetime.datetime.now() > deadline:
            for process in context.processes:
                if process.is_alive():
                    process.terminate()
            raise JobError(f"{world_size} ranks of {fn.__name__} did not finish within {timeout} s")
