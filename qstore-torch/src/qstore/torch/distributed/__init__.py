"""Distributed statevector simulation on torch.distributed (gloo on CPUs, NCCL on GPUs).

* `DistributedBackend` (registered as ``torch.distributed``): state sharded over ranks, or the batch
  split over ranks (``mode="batch"``); every rank calls it with the same arguments.
* `init` joins the process group under ``torchrun``; `spawn` starts ranks on one machine.
* `plan_schedule` gives a circuit's planned exchanges (qubit remappings), for inspection.
"""

from __future__ import annotations

from qstore.torch.distributed.backend import MODES, DistributedBackend
from qstore.torch.distributed.launch import init, spawn
from qstore.torch.distributed.layout import Exchange, Schedule
from qstore.torch.distributed.program import plan_schedule

__all__ = ["MODES", "DistributedBackend", "Exchange", "Schedule", "init", "plan_schedule", "spawn"]
