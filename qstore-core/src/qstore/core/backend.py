"""The backend contract: declared capabilities, batched `run`, asynchronous `submit`, and VJPs.

A backend subclasses `Backend` and implements `capabilities` and `_execute`; everything else —
input validation, state-preparation decomposition, timing, a thread-pool `submit`, and the
generic gradient methods — comes from the base class. Statevector engines also override
`_adjoint_vjp` and list ``"adjoint"`` among their gradient methods.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

import attrs
import numpy as np

from qstore.core.bindings import Batch, Bindings, resolve_bindings
from qstore.core.circuit import Circuit, StatePreparation
from qstore.core.errors import CapabilityError, GradientError, JobError
from qstore.core.observables import Observable, ObservableLike, as_observables

__all__ = [
    "GRADIENT_METHODS",
    "Backend",
    "Capabilities",
    "CostModel",
    "Job",
    "JobStatus",
    "Result",
    "RunMetadata",
]

GRADIENT_METHODS = ("adjoint", "parameter-shift", "finite-diff", "spsa")
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class CostModel(Protocol):
    """Anything that prices a batch of circuits in USD before it is sent."""

    def estimate(self, circuit: Circuit, batch_size: int, shots: int | None) -> float:
        """Estimated USD for running ``batch_size`` bindings of ``circuit``."""
        ...


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class Capabilities:
    """What a backend declares about itself; the router and adapters read this and nothing else."""

    name: str
    max_qubits: int
    gates: frozenset[str] = attrs.field(converter=_names)
    statevector: bool = True
    exact_expectations: bool = True
    shots: bool = True
    native_state_prep: bool = True
    gradient_methods: tuple[str, ...] = ("parameter-shift", "finite-diff", "spsa")
    devices: tuple[str, ...] = ("cpu",)
    cost_model: CostModel | None = attrs.field(default=None, eq=False)
    description: str = ""

    def best_gradient_method(self) -> str:
        """Adjoint when available, else parameter-shift, else SPSA, else finite differences."""
        for method in ("adjoint", "parameter-shift", "spsa", "finite-diff"):
            if method in self.gradient_methods:
                return method
        raise GradientError(f"backend {self.name!r} declares no gradient method")


@attrs.frozen
class RunMetadata:
    """Facts about one run."""

    backend: str
    n_qubits: int
    batch_size: int
    shots: int | None
    seconds: float
    seed: int | None = None
    cost_usd: float = 0.0
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(eq=False)
class Result:
    """What `Backend.run` returns; arrays are batch-first.

    * ``expectations``: ``(B, n_observables)`` (exact when ``shots`` is None, else estimates)
    * ``samples``: ``(B, shots)`` computational-basis indices, qubit 0 the most significant bit
    * ``probabilities``: ``(B, 2**n)``; ``statevectors``: ``(B, 2**n)`` when asked and supported
    """

    metadata: RunMetadata
    expectations: np.ndarray | None = None
    samples: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    statevectors: np.ndarray | None = None

    def counts(self, index: int = 0) -> dict[str, int]:
        """Histogram of the samples of batch element ``index``; bitstrings list qubit 0 first."""
        if self.samples is None:
            raise CapabilityError("this result has no samples: run with shots=<int>")
        values, freq = np.unique(self.samples[index], return_counts=True)
        n = self.metadata.n_qubits
        return {format(int(v), f"0{n}b"): int(c) for v, c in zip(values, freq, strict=True)}


class Job:
    """A running or finished `run`: poll `status`, block on `result`, `cancel`, or ``await`` it."""

    def __init__(self, future: concurrent.futures.Future[Result], job_id: str | None = None) -> None:
        self._future = future
        self.id = job_id or f"local-{id(future):x}"

    def status(self) -> JobStatus:
        """Where the job is now."""
        f = self._future
        if f.cancelled():
            return "cancelled"
        if f.done():
            return "failed" if f.exception() is not None else "done"
        return "running" if f.running() else "queued"

    def result(self, timeout: float | None = None) -> Result:
        """Wait up to ``timeout`` seconds for the result; raises `JobError` if none arrives."""
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise JobError(
                f"job {self.id} did not finish within {timeout} s (status: {self.status()})"
            ) from None
        except concurrent.futures.CancelledError:
            raise JobError(f"job {self.id} was cancelled") from None

    def cancel(self) -> bool:
        """Cancel if not yet started; returns whether it was cancelled."""
        return self._future.cancel()

    def done(self) -> bool:
        """True when finished, failed or cancelled."""
        return self._future.done()

    def __await__(self) -> Generator[Any, None, Result]:
        return asyncio.wrap_future(self._future).__await__()

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status()}>"


_POOL_LOCK = threading.Lock()
_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _shared_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="qstore-job")
        return _POOL


class Backend(abc.ABC):
    """Base class of every backend. Subclasses implement `capabilities` and `_execute`."""

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What this backend supports."""

    @property
    def name(self) -> str:
        """Registered name of the backend."""
        return self.capabilities.name

    @abc.abstractmethod
    def _execute(
        self,
        batch: Batch,
        observables: tuple[Observable, ...],
        shots: int | None,
        seed: int | None,
        return_state: bool,
    ) -> Result:
        """Run a validated batch. ``shots=None`` means exact."""

    # -- public API -----------------------------------------------------------------------------

    def run(
        self,
        circuit: Circuit,
        bindings: Bindings | None = None,
        observables: ObservableLike | Sequence[ObservableLike] = (),
        shots: int | None = None,
        *,
        seed: int | None = None,
        return_state: bool = False,
    ) -> Result:
        """Run every binding of ``circuit``; return expectations, samples and (optionally) states."""
        batch, obs = self.prepare(circuit, bindings, observables, shots, return_state)
        start = time.perf_counter()
        result = self._execute(batch, obs, shots, seed, return_state)
        meta = attrs.evolve(result.metadata, seconds=time.perf_counter() - start)
        return attrs.evolve(result, metadata=meta)

    def submit(
        self,
        circuit: Circuit,
        bindings: Bindings | None = None,
        observables: ObservableLike | Sequence[ObservableLike] = (),
        shots: int | None = None,
        *,
        seed: int | None = None,
        return_state: bool = False,
    ) -> Job:
        """Start `run` in the background and return its `Job`; input is validated now."""
        self.prepare(circuit, bindings, observables, shots, return_state)
        future = _shared_pool().submit(
            self.run, circuit, bindings, observables, shots, seed=seed, return_state=return_state
        )
        return Job(future)

    def vjp(
        self,
        circuit: Circuit,
        bindings: Bindings | None,
        observables: ObservableLike | Sequence[ObservableLike],
        cotangent: np.ndarray,
        *,
        method: str = "auto",
        shots: int | None = None,
        seed: int | None = None,
        wrt: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Vector–Jacobian product: ``{symbol: (B,)}`` with ``Σ_o cotangent[b, o] ∂E[b, o]/∂symbol``.

        ``method="auto"`` picks the best declared method. ``wrt`` limits the symbols (default all).
        """
        from qstore.core import gradients

        caps = self.capabilities
        chosen = caps.best_gradient_method() if method == "auto" else method
        if chosen not in caps.gradient_methods:
            raise GradientError(
                f"backend {self.name!r} does not support gradient method {chosen!r}; "
                f"it supports {list(caps.gradient_methods)}"
            )
        batch, obs = self.prepare(circuit, bindings, observables, shots, False)
        cot = gradients.check_cotangent(cotangent, batch.size, len(obs))
        names = gradients.check_wrt(circuit, wrt)
        if chosen == "adjoint":
            if shots is not None:
                raise GradientError("adjoint differentiation is exact; call it with shots=None")
            return self._adjoint_vjp(batch, obs, cot, names)
        return gradients.generic_vjp(self, chosen, batch, obs, cot, names, shots=shots, seed=seed)

    def _adjoint_vjp(
        self,
        batch: Batch,
        observables: tuple[Observable, ...],
        cotangent: np.ndarray,
        wrt: tuple[str, ...],
    ) -> dict[str, np.ndarray]:
        raise GradientError(f"backend {self.name!r} does not implement adjoint differentiation")

    # -- validation -----------------------------------------------------------------------------

    def prepare(
        self,
        circuit: Circuit,
        bindings: Bindings | None,
        observables: ObservableLike | Sequence[ObservableLike],
        shots: int | None,
        return_state: bool,
    ) -> tuple[Batch, tuple[Observable, ...]]:
        """Check a request against the capabilities; decompose state preparation if needed."""
        caps = self.capabilities
        if not isinstance(circuit, Circuit):
            raise TypeError(f"expected a qstore Circuit, got {type(circuit).__name__}")
        if circuit.n_qubits > caps.max_qubits:
            raise CapabilityError(
                f"backend {caps.name!r} runs at most {caps.max_qubits} qubits; the circuit has {circuit.n_qubits}"
            )
        obs = as_observables(observables)
        for o in obs:
            if o.max_qubit >= circuit.n_qubits:
                raise CapabilityError(
                    f"observable {o} acts on qubit {o.max_qubit}, beyond the circuit's {circuit.n_qubits}"
                )
        if shots is None:
            if not caps.exact_expectations:
                raise CapabilityError(f"backend {caps.name!r} only samples: pass shots=<positive int>")
        elif isinstance(shots, bool) or not isinstance(shots, int | np.integer) or shots < 1:
            raise CapabilityError(f"shots must be None (exact) or a positive integer, got {shots!r}")
        elif not caps.shots:
            raise CapabilityError(f"backend {caps.name!r} does not sample; use shots=None")
        if return_state and not caps.statevector:
            raise CapabilityError(f"backend {caps.name!r} cannot return statevectors")
        batch = resolve_bindings(circuit, bindings)
        if batch.circuit.vector_inputs and not caps.native_state_prep:
            from qstore.core.state_prep import decompose_state_preparation

            batch = decompose_state_preparation(batch)
        unsupported = sorted(
            {op.gate for op in batch.circuit.operations if not isinstance(op, StatePreparation)} - caps.gates
        )
        if unsupported:
            raise CapabilityError(
                f"backend {caps.name!r} does not support gate(s) {unsupported}; it supports {sorted(caps.gates)}"
            )
        return batch, obs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
