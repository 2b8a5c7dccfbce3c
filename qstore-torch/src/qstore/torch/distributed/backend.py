"""The ``torch.distributed`` backend: one request executed collectively by every rank of a group.

Every rank calls the same `run` / `gradient` with the same arguments (SPMD, as under ``torchrun``)
and gets the same `Result`. Two modes:

* ``mode="state"``: each state is sharded over ``P = 2**k`` ranks (`qstore.torch.distributed.shards`),
  so a register larger than one process's memory runs; exchanges follow the plan's schedule.
* ``mode="batch"``: the batch's rows are split over the ranks, each simulates whole states with the
  torch engine, and the rows are gathered back in order (inference, kernel rows, training outside DDP).

``Result.info`` reports ``world_size``, ``mode``, ``exchanges`` and ``bytes_exchanged`` (sent by this rank).
"""

from __future__ import annotations

import math
import os
from functools import cached_property

import numpy as np

import torch
import torch.distributed as dist
from qstore.core import statevector as sv
from qstore.core.backend import Backend, Capabilities, Request, Result, check_precision
from qstore.core.bindings import Batch
from qstore.core.errors import CapabilityError, ResourceError
from qstore.core.gates import GATES
from qstore.core.plan import compile_plan
from qstore.torch.backend import DTYPES, TorchBackend
from qstore.torch.distributed import measure
from qstore.torch.distributed.program import adjoint_grads, forward, plan_schedule
from qstore.torch.distributed.shards import Comm, Sharded
from qstore.torch.engine import matrices

__all__ = ["MODES", "DistributedBackend"]

MODES = ("state", "batch")
_FORWARD_COPIES = 2
"""Shards held by a forward pass: the state, and a second one while state preparation loads it."""
_ADJOINT_COPIES = 4
"""Shards held by the adjoint pass: ``|ψ>``, ``|λ>`` and two temporaries of the readout and cotangents."""


class DistributedBackend(Backend):
    """Statevector simulation across the ranks of an initialised torch.distributed process group.

    ``device`` defaults to ``cuda:<LOCAL_RANK>`` under NCCL and ``cpu`` otherwise; ``group`` to the
    default group. ``precision`` is ``"single"`` (complex64) or ``"double"`` (complex128).
    """

    def __init__(
        self,
        precision: str = "single",
        mode: str = "state",
        device: str | torch.device | None = None,
        group: dist.ProcessGroup | None = None,
    ) -> None:
        if not dist.is_available() or not dist.is_initialized():
            raise CapabilityError(
                "backend 'torch.distributed' needs an initialised process group: launch with torchrun and "
                "call qstore.torch.distributed.init() first (or torch.distributed.init_process_group)"
            )
        if mode not in MODES:
            raise CapabilityError(f"mode must be one of {list(MODES)}, got {mode!r}")
        self.precision = check_precision(precision)
        self.mode = mode
        self.group = group
        world = dist.get_world_size(group)
        if mode == "state" and world & (world - 1):
            raise CapabilityError(
                f"mode 'state' shards over a power-of-two number of ranks; the group has {world}; "
                "use mode='batch' or 2, 4, 8, … ranks"
            )
        if device is None:
            nccl = dist.get_backend(group) == "nccl"
            device = f"cuda:{torch.cuda.current_device()}" if nccl else "cpu"
        self.engine = TorchBackend(device=device, precision=precision)
        self.device = self.engine.device
        self.dtype = DTYPES[self.precision]

    def comm(self) -> Comm:
        """A fresh communication record for one request."""
        return Comm(self.group, dist.get_rank(self.group), dist.get_world_size(self.group))

    @cached_property
    def capabilities(self) -> Capabilities:
        """Every gate; qubits limited by the memory of all ranks together (state mode)."""
        world = dist.get_world_size(self.group)
        if self.device.type == "cuda":
            free = torch.cuda.mem_get_info(self.device)[0]
        else:
            free = sv.available_memory() // int(os.environ.get("LOCAL_WORLD_SIZE", world))
        per_rank = int(math.log2(max(free // (_FORWARD_COPIES * self.dtype.itemsize), 2)))
        sharded = world.bit_length() - 1 if self.mode == "state" else 0
        return Capabilities(
            name="torch.distributed",
            max_qubits=per_rank + sharded,
            gates=frozenset(GATES),
            gradient_methods=("adjoint", "parameter-shift", "finite-diff", "spsa"),
            devices=(str(self.device),),
            precision=self.precision,
            description=f"torch statevector engine over {world} ranks ({self.mode} mode, "
            f"{str(self.dtype).removeprefix('torch.')}, {self.device})",
        )

    def _check_memory(self, n_qubits: int, batch: int, world: int, copies: int) -> None:
        need = copies * batch * self.dtype.itemsize * 2**n_qubits // world
        if self.device.type == "cuda":
            have = torch.cuda.mem_get_info(self.device)[0]
        else:
            have = sv.available_memory() // int(os.environ.get("LOCAL_WORLD_SIZE", world))
        if need > have:
            raise ResourceError(
                f"{batch} state(s) of {n_qubits} qubits need about {need / 2**30:.2f} GiB per rank on "
                f"{world} ranks but only {have / 2**30:.2f} GiB is available per rank; use more ranks, "
                "a smaller batch or precision='single'"
            )

    # -- state mode ------------------------------------------------------------------------------

    def _simulate(self, request: Request, comm: Comm, copies: int) -> tuple[Sharded, object]:
        plan = compile_plan(request.circuit, per_gate=True)
        self._check_memory(plan.n_qubits, request.size, comm.world, copies)
        values, vectors = self.engine.tensors(request.batch)
        m = matrices(plan, values, self.dtype)
        sched = plan_schedule(plan, comm.n_global)
        sh = Sharded.zero(plan.n_qubits, request.size, sched.start, comm, self.dtype, self.device)
        return forward(plan, m, vectors, sh, sched), (plan, values, m)

    def _execute_state(self, request: Request) -> Result:
        comm = self.comm()
        with torch.no_grad():
            sh, _ = self._simulate(request, comm, _FORWARD_COPIES)
            values = None
            if request.wants("expectations"):
                if request.shots is None:
                    values = measure.expectations(sh, request.observables)
                else:
                    values = measure.shot_expectations(sh, request.observables, request.shots, request.seed)
            samples = None
            if request.wants("samples"):
                assert request.shots is not None
                seed = None if request.seed is None else request.seed + 2**31
                samples = measure.sample(sh, request.shots, seed).cpu().numpy()
            probs = states = None
            if request.wants("probabilities"):
                probs = sh.full(sh.tensor.real**2 + sh.tensor.imag**2).double().cpu().numpy()
            if request.wants("state"):
                states = sh.full().cpu().numpy()
        info = {
            "world_size": comm.world,
            "mode": "state",
            "exchanges": comm.exchanges,
            "bytes_exchanged": comm.bytes_sent,
        }
        return Result(
            expectations=values, samples=samples, probabilities=probs, statevectors=states, info=info
        )

    def _vjp_state(
        self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]
    ) -> dict[str, np.ndarray]:
        comm = self.comm()
        with torch.no_grad():
            psi, (plan, values, _) = self._simulate(request, comm, _ADJOINT_COPIES)
            lam = measure.weighted_apply(psi, request.observables, cotangent)
        with torch.enable_grad():
            leaf = values.detach().requires_grad_(True)
            m = matrices(plan, leaf, self.dtype)
        with torch.no_grad():
            blocks, others = adjoint_grads(plan, m, psi, lam)
        outputs, grads = [], []
        for matrix, g in zip(m.blocks + m.others, blocks + others, strict=True):
            if g is not None and matrix.requires_grad:
                outputs.append(matrix)
                grads.append(g)
        grad = None
        if outputs:
            (grad,) = torch.autograd.grad(outputs, [leaf], grads, allow_unused=True)
        out = np.zeros((request.size, len(plan.symbols))) if grad is None else grad.double().cpu().numpy()
        column = {s: i for i, s in enumerate(plan.symbols)}
        return {name: out[:, column[name]] for name in wrt}

    # -- batch mode ------------------------------------------------------------------------------

    def _rows(self, size: int) -> slice:
        rank, world = dist.get_rank(self.group), dist.get_world_size(self.group)
        return slice(rank * size // world, (rank + 1) * size // world)

    def _local(self, request: Request) -> Request:
        rows = self._rows(request.size)
        batch = request.batch
        part = Batch(
            batch.circuit,
            len(range(request.size)[rows]),
            {k: np.broadcast_to(v, (batch.size,))[rows] for k, v in batch.values.items()},
            {k: np.asarray(v)[rows] for k, v in batch.vectors.items()},
        )
        rank = dist.get_rank(self.group)
        seed = (
            None
            if request.seed is None
            else int(np.random.SeedSequence([request.seed, rank]).generate_state(1)[0])
        )
        return request.with_batch(part, seed)

    def _gather_rows(self, array: np.ndarray, size: int) -> np.ndarray:
        """Concatenate every rank's rows (padded to one length for the collective) in rank order."""
        world = dist.get_world_size(self.group)
        longest = -(-size // world)
        tensor = torch.as_tensor(np.ascontiguousarray(array), device=self.device)
        padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype, device=self.device)
        padded[: tensor.shape[0]] = tensor
        comm = self.comm()
        parts = comm.all_gather(padded).cpu().numpy()
        counts = [len(range(size)[slice(r * size // world, (r + 1) * size // world)]) for r in range(world)]
        return np.concatenate([parts[r, :c] for r, c in enumerate(counts)])

    def _execute_batch(self, request: Request) -> Result:
        local = self._local(request)
        result = self.engine.execute(local) if local.size else self._empty(request)
        gathered = {
            name: None if value is None else self._gather_rows(value, request.size)
            for name, value in (
                ("expectations", result.expectations),
                ("samples", result.samples),
                ("probabilities", result.probabilities),
                ("statevectors", result.statevectors),
            )
        }
        info = {
            "world_size": dist.get_world_size(self.group),
            "mode": "batch",
            "exchanges": 0,
            "bytes_exchanged": 0,
        }
        return Result(**gathered, info=info)

    def _empty(self, request: Request) -> Result:
        dim = 2**request.circuit.n_qubits
        wants = request.wants
        return Result(
            expectations=np.zeros((0, len(request.observables))) if wants("expectations") else None,
            samples=np.zeros((0, request.shots or 0), np.int64) if wants("samples") else None,
            probabilities=np.zeros((0, dim)) if wants("probabilities") else None,
            statevectors=np.zeros((0, dim), np.complex64 if self.precision == "single" else np.complex128)
            if wants("state")
            else None,
        )

    # -- contract --------------------------------------------------------------------------------

    def execute(self, request: Request) -> Result:
        """Run the request collectively; every rank returns the same result."""
        return self._execute_state(request) if self.mode == "state" else self._execute_batch(request)

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Adjoint method: on the sharded state, or per rank on its rows (then gathered in order)."""
        if self.mode == "state":
            return self._vjp_state(request, cotangent, wrt)
        local = self._local(request)
        rows = self._rows(request.size)
        if local.size:
            grads = self.engine.vjp(local, cotangent[rows], wrt)
        else:
            grads = {name: np.zeros(0) for name in wrt}
        return {name: self._gather_rows(grads[name], request.size) for name in wrt}

    def __repr__(self) -> str:
        return f"<DistributedBackend {self.mode} mode, {self.precision} precision on {self.device}>"
