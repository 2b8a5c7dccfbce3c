"""Backend ``qsim``: Google's qsim (through qsimcirq) running Q-Store batches as Cirq sweeps.

A batch becomes one parameterised Cirq circuit, built once per circuit structure, and one sweep
(``cirq.Zip`` of ``cirq.Points``) with a symbol per symbolic angle slot whose values Q-Store
evaluates vectorised; each run is one qsimcirq call for the whole batch: exact expectations via
``simulate_expectation_values_sweep`` (or from the states when those are returned anyway), states
via ``simulate_sweep``, samples via ``run_sweep``. qsimcirq itself resolves and translates every
sweep point in Python, which costs a few milliseconds per circuit: qsim pays off from ~16 qubits.
qsim simulates in single precision (complex64). ``device="cuda"`` uses qsim's CUDA kernels (with
``custatevec=True``, NVIDIA cuStateVec), when qsimcirq was built with them and a GPU is present.

Noise channels with constant strengths become Cirq's channels (`qstore.core.interop.cirq`) and run
as qsim's Monte-Carlo trajectories: expectations are means over ``trajectories`` per row, computed
in `_GROUPS` seeded groups whose spread gives the standard error ``info["stderr"]`` (batch means);
samples take one trajectory per shot. Symbolic strengths cannot be expressed in Cirq's channels and
are refused (the ``numpy`` and ``torch`` backends train them).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from functools import cached_property, lru_cache
from typing import Any

import cirq
import numpy as np
import qsimcirq
import sympy

from qstore.core import statevector as sv
from qstore.core.backend import Backend, Capabilities, Request, Result
from qstore.core.bindings import Batch
from qstore.core.channels import Channel
from qstore.core.circuit import Circuit, Operation
from qstore.core.errors import CapabilityError
from qstore.core.gates import GATES
from qstore.core.interop.cirq import channel_to_cirq, operation_to_cirq
from qstore.core.observables import Observable
from qstore.core.trajectories import DEFAULT_TRAJECTORIES, check_trajectories

__all__ = ["QsimBackend", "qsim_devices"]

_STATE_BYTES = 8  # complex64
_PARALLEL_FROM_QUBITS = 18
_WORKING_COPIES = 3
_PAULIS = {"X": cirq.X, "Y": cirq.Y, "Z": cirq.Z}
_GROUPS = 10


def qsim_devices() -> tuple[str, ...]:
    """Devices this qsimcirq build can use: ``cpu``, plus ``cuda`` when built with CUDA kernels."""
    return ("cpu", "cuda") if qsimcirq.qsim_gpu is not None else ("cpu",)


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _Program:
    """A circuit structure as a Cirq circuit whose symbolic angles are slots ``s0, s1, …``."""

    def __init__(self, circuit: Circuit) -> None:
        self.qubits = cirq.LineQubit.range(circuit.n_qubits)
        self.slots: list[Any] = []
        ops: list[cirq.Operation] = []
        for op in circuit.operations:
            if isinstance(op, Channel):
                ops.append(channel_to_cirq(op, self.qubits))
                continue
            assert isinstance(op, Operation)  # state preparation is decomposed by Backend.prepare
            angles = []
            for expr in op.params:
                if expr.is_constant:
                    angles.append(expr.const)
                else:
                    angles.append(sympy.Symbol(f"s{len(self.slots)}"))
                    self.slots.append(expr)
            ops.extend(operation_to_cirq(op, self.qubits, angles))
        self.circuit = cirq.Circuit(ops)
        self.measured = self.circuit + cirq.measure(*self.qubits, key="m")

    def sweep(self, batch: Batch) -> cirq.Sweepable:
        """One sweep point per batch element."""
        if not self.slots:
            return [cirq.ParamResolver({})] * batch.size
        points = [
            cirq.Points(f"s{i}", np.broadcast_to(expr.evaluate(batch.values), (batch.size,)).tolist())
            for i, expr in enumerate(self.slots)
        ]
        return cirq.Zip(*points)


@lru_cache(maxsize=64)
def _program(circuit: Circuit) -> _Program:
    return _Program(circuit)


def _pauli_sum(observable: Observable, qubits: Sequence[cirq.Qid]) -> cirq.PauliSum:
    strings: list[cirq.PauliString[Any]] = [
        cirq.PauliString({qubits[q]: _PAULIS[p] for q, p in term.paulis}, coefficient=term.coeff)
        for term in observable.terms
    ]
    return cirq.PauliSum.from_pauli_strings(strings)


class QsimBackend(Backend):
    """qsim statevector simulator (the ``qsim`` backend), CPU or GPU.

    ``threads=None`` (auto) uses one thread below 18 qubits, where OpenMP start-up costs more than
    it saves (measured: 50x slower at 16 qubits with two busy cores), and every CPU this process may
    use from 18 qubits on; an integer fixes the count. ``max_fused_gate_size`` is qsim's gate
    fusion width (2–4; larger helps beyond ~20 qubits). ``device`` is ``"cpu"`` or ``"cuda"``
    (``custatevec=True`` picks NVIDIA cuStateVec over qsim's own CUDA kernels); asking for a device
    this build or machine lacks is a `CapabilityError`. ``precision`` is ``"single"`` only: qsim
    computes in complex64.
    Gradients are parameter-shift (exact) and SPSA; finite differences are not offered because
    complex64 rounding swamps them, and qsim has no adjoint method. Noisy circuits run as
    ``trajectories`` Monte-Carlo trajectories per row (see the module docstring).
    """

    def __init__(
        self,
        threads: int | None = None,
        device: str = "cpu",
        *,
        custatevec: bool = False,
        precision: str = "single",
        max_fused_gate_size: int = 2,
        gpu_state_threads: int = 512,
        gpu_data_blocks: int = 16,
        trajectories: int = DEFAULT_TRAJECTORIES,
    ) -> None:
        if precision != "single":
            raise CapabilityError(
                f"qsim computes in single precision only (complex64), got precision={precision!r}; "
                "use the numpy, torch or lightning backend with precision='double'"
            )
        if device not in ("cpu", "cuda"):
            raise CapabilityError(f"qsim device must be 'cpu' or 'cuda', got {device!r}")
        if device == "cuda" and "cuda" not in qsim_devices():
            raise CapabilityError(
                "qsim device 'cuda' is not available: this qsimcirq build has no CUDA kernels or sees no "
                "GPU; install a CUDA-enabled qsimcirq on a GPU machine, or use device='cpu'"
            )
        if custatevec and (device != "cuda" or qsimcirq.qsim_custatevec is None):
            raise CapabilityError(
                "custatevec=True needs device='cuda' and a qsimcirq build with NVIDIA cuStateVec"
            )
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise CapabilityError(f"threads must be a positive integer, got {threads!r}")
        if max_fused_gate_size not in (1, 2, 3, 4, 5, 6):
            raise CapabilityError(f"max_fused_gate_size must be 1..6, got {max_fused_gate_size!r}")
        self.trajectories = max(_GROUPS, check_trajectories(trajectories)) // _GROUPS * _GROUPS
        self.device = device
        self.custatevec = custatevec
        self.threads = threads
        self.options = qsimcirq.QSimOptions(
            max_fused_gate_size=max_fused_gate_size,
            use_gpu=device != "cpu",
            gpu_mode=1 if custatevec else 0,
            gpu_state_threads=gpu_state_threads,
            gpu_data_blocks=gpu_data_blocks,
        )

    def threads_for(self, n_qubits: int) -> int:
        """CPU threads qsim uses for an ``n_qubits`` circuit (see the class docstring)."""
        if self.threads is not None:
            return self.threads
        return 1 if n_qubits < _PARALLEL_FROM_QUBITS else _usable_cpus()

    @cached_property
    def capabilities(self) -> Capabilities:
        """Every gate of the table; qubits limited by free host memory (complex64 states)."""
        per_state = _WORKING_COPIES * _STATE_BYTES
        max_qubits = int(math.log2(max(sv.available_memory() // per_state, 2)))
        return Capabilities(
            name="qsim",
            max_qubits=max_qubits,
            gates=frozenset(GATES),
            native_state_prep=False,
            gradient_methods=("parameter-shift", "spsa"),
            devices=(self.device,),
            precision="single",
            noise=("trajectories",),
            description=f"qsim statevector simulator (complex64) on {self.device}, "
            f"{'auto' if self.threads is None else self.threads} CPU thread(s)",
        )

    def _simulator(
        self, n_qubits: int, seed: int | None = None, repetitions: int = 1
    ) -> qsimcirq.QSimSimulator:
        options = dataclasses.replace(
            self.options, cpu_threads=self.threads_for(n_qubits), ev_noisy_repetitions=repetitions
        )
        return qsimcirq.QSimSimulator(options, seed=seed)

    def _execute_noisy(self, request: Request) -> Result:
        """Trajectory estimates of expectations (with standard errors) and samples of a noisy batch."""
        symbolic = [op for op in request.circuit.operations if isinstance(op, Channel) and op.symbols]
        if symbolic:
            raise CapabilityError(
                f"qsim runs noise channels with constant strengths only (Cirq channels take numbers); "
                f"channel {symbolic[0].gate!r} has strength {symbolic[0].params[0]}; use backend 'numpy' or "
                "'torch' for symbolic or trainable strengths"
            )
        if request.wants("state") or request.wants("probabilities"):
            raise CapabilityError(
                "qsim simulates noisy circuits by trajectories: it returns expectation estimates and samples, "
                "not states or exact probabilities (use backend 'numpy' for density matrices)"
            )
        if request.wants("expectations") and request.shots is not None:
            raise CapabilityError(
                "qsim estimates noisy expectations from trajectories: use shots=None (the estimate's standard "
                "error is in info['stderr']), or ask for outputs=('samples',)"
            )
        batch, n = request.batch, request.circuit.n_qubits
        program = _program(batch.circuit)
        rng = np.random.default_rng(request.seed)
        info: dict[str, Any] = {"device": self.device, "threads": self.threads_for(n)}
        expectations = None
        if request.wants("expectations"):
            sums: list[cirq.PauliSumLike] = [_pauli_sum(o, program.qubits) for o in request.observables]
            per_group = self.trajectories // _GROUPS
            groups = []
            for _ in range(_GROUPS):
                simulator = self._simulator(n, seed=int(rng.integers(2**31 - 1)), repetitions=per_group)
                values = simulator.simulate_expectation_values_sweep(
                    program.circuit, sums, program.sweep(batch), qubit_order=program.qubits
                )
                groups.append(np.real(np.asarray(values, dtype=np.complex128)))
            stacked = np.stack(groups)
            expectations = stacked.mean(axis=0)
            info.update(trajectories=self.trajectories, stderr=stacked.std(axis=0, ddof=1) / np.sqrt(_GROUPS))
        samples = self._samples(request, program, rng) if request.wants("samples") else None
        return Result(expectations=expectations, samples=samples, info=info)

    def _samples(self, request: Request, program: _Program, rng: np.random.Generator) -> np.ndarray:
        assert request.shots is not None
        n = request.circuit.n_qubits
        sampler = self._simulator(n, seed=int(rng.integers(2**31 - 1)))
        runs = sampler.run_sweep(program.measured, program.sweep(request.batch), repetitions=request.shots)
        weights = 1 << np.arange(n - 1, -1, -1, dtype=np.int64)
        return np.stack([r.measurements["m"].astype(np.int64) @ weights for r in runs])

    def execute(self, request: Request) -> Result:
        """One qsimcirq sweep for the batch: expectations, states and samples as asked."""
        if request.circuit.has_noise:
            return self._execute_noisy(request)
        batch, shots = request.batch, request.shots
        observables = request.observables if request.wants("expectations") else ()
        return_state = request.wants("state") or request.wants("probabilities")
        program = _program(batch.circuit)
        sweep = program.sweep(batch)
        n = batch.circuit.n_qubits
        rng = np.random.default_rng(request.seed)
        states = None
        if return_state or (shots is not None and observables):
            sv.check_memory(n, batch.size, np.complex64)  # the batch's final states are kept together
            results = self._simulator(n).simulate_sweep(program.circuit, sweep, qubit_order=program.qubits)
            states = np.stack([r.final_state_vector for r in results])
        expectations = None
        if observables and shots is None and states is not None:
            expectations = sv.expectations(states.reshape((-1,) + (2,) * n), observables)
        elif observables and shots is None:
            sums: list[cirq.PauliSumLike] = [_pauli_sum(o, program.qubits) for o in observables]
            values = self._simulator(n).simulate_expectation_values_sweep(
                program.circuit, sums, sweep, qubit_order=program.qubits
            )
            expectations = np.real(np.asarray(values, dtype=np.complex128))
        elif observables:
            assert states is not None and shots is not None
            expectations = sv.shot_expectations(states.reshape((-1,) + (2,) * n), observables, shots, rng)
        samples = self._samples(request, program, rng) if request.wants("samples") else None
        return Result(
            expectations=expectations,
            samples=samples,
            probabilities=np.abs(states) ** 2
            if request.wants("probabilities") and states is not None
            else None,
            statevectors=states if request.wants("state") else None,
            info={"device": self.device, "threads": self.threads_for(n)},
        )
