"""The backend contract: one frozen `Request` in, one `Result` out.

A backend implements two things: the `capabilities` property and `execute(request)`, which runs an
always-batched, already validated request. Backends that differentiate natively (``"adjoint"``
sweeps, framework ``"backprop"``) also implement `vjp(request, cotangent, wrt)`; the generic
methods (parameter shift, finite differences, SPSA) are built on `execute` by the core. Remote
backends may override `start(request)` to return their own `Job`.

Everything users call — `run`, `submit`, `gradient`, `request` — lives in the base class: it
validates once, decomposes state preparation where the backend has none, and stamps `RunMetadata`
(backend name, sizes, wall time, cost), so an implementer never fills in bookkeeping.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import re
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

import attrs
import numpy as np

from qstore.core.bindings import Batch, Bindings, resolve_bindings
from qstore.core.channels import Channel
from qstore.core.circuit import Circuit, Operation
from qstore.core.errors import CapabilityError, GradientError, JobError
from qstore.core.observables import Observable, ObservableLike, as_observables

__all__ = [
    "GENERIC_METHODS",
    "GRADIENT_METHODS",
    "NATIVE_METHODS",
    "NOISE_METHODS",
    "OUTPUTS",
    "PRECISIONS",
    "Backend",
    "Capabilities",
    "CostModel",
    "Job",
    "JobStatus",
    "Request",
    "Result",
    "RunMetadata",
    "check_precision",
    "check_seed",
    "check_shots",
]

NATIVE_METHODS = ("adjoint", "backprop")
"""Gradient methods a backend implements itself, through `Backend.vjp`."""
GENERIC_METHODS = ("parameter-shift", "finite-diff", "spsa")
"""Gradient methods the core builds on `Backend.execute` for any backend that declares them."""
GRADIENT_METHODS = (*NATIVE_METHODS, *GENERIC_METHODS)
OUTPUTS = ("expectations", "samples", "probabilities", "state")
"""What a request can ask for: expectations of its observables, shot samples, probabilities, states."""
NOISE_METHODS = ("density", "trajectories")
"""How a backend simulates noise channels: exact density matrices, or seeded Monte-Carlo trajectories."""
PRECISIONS = ("single", "double")
"""Numeric precision of a simulator: complex64 (``single``) or complex128 (``double``) amplitudes."""
MAX_SHOTS = 10**9
_DEVICE = re.compile(r"(cpu|cuda|cuda:\d+|qpu|cloud)")
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class CostModel(Protocol):
    """Anything that prices a batch of circuits in USD before it is sent."""

    def estimate(self, circuit: Circuit, batch_size: int, shots: int | None) -> float:
        """Estimated USD for running ``batch_size`` bindings of ``circuit``."""
        ...


def check_shots(shots: object) -> int | None:
    """``None`` (exact) or a positive integer up to `MAX_SHOTS`; anything else is a `CapabilityError`."""
    if shots is None:
        return None
    if isinstance(shots, bool) or not isinstance(shots, int | np.integer) or not 1 <= shots <= MAX_SHOTS:
        raise CapabilityError(
            f"shots must be None (exact) or an integer from 1 to {MAX_SHOTS:.0e}, got {shots!r}"
        )
    return int(shots)


def check_seed(seed: object) -> int | None:
    """``None`` (fresh randomness) or a non-negative integer; anything else is a `CapabilityError`."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise CapabilityError(f"seed must be None or a non-negative integer, got {seed!r}")
    return int(seed)


def check_precision(precision: object) -> str:
    """``"single"`` or ``"double"``; anything else is a `CapabilityError` naming the choices."""
    if precision not in PRECISIONS:
        raise CapabilityError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    return str(precision)


def _one_of(kind: str, allowed: Sequence[str]) -> Any:
    def check(_instance: object, _attribute: object, values: Iterable[str]) -> None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise CapabilityError(f"unknown {kind} {bad}; valid {kind}s are {list(allowed)}")

    return check


def _check_devices(_instance: object, _attribute: object, values: tuple[str, ...]) -> None:
    bad = [v for v in values if not isinstance(v, str) or not _DEVICE.fullmatch(v)]
    if bad or not values:
        raise CapabilityError(
            f"devices must be a non-empty list of 'cpu', 'cuda', 'cuda:N', 'qpu' or 'cloud', got {list(values)}"
        )


def _limit(name: str) -> Any:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise CapabilityError(f"{name} must be None (no limit) or a positive integer, got {value!r}")

    return check


@attrs.frozen
class Capabilities:
    """What a backend declares about itself; the router, the adapters and the CLI read only this.

    ``gradient_methods`` ⊂ `GRADIENT_METHODS` (native ones need `Backend.vjp`); ``devices`` name
    where it runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"qpu"`` or ``"cloud"``); ``precision`` is the
    amplitude precision of this instance (``"single"`` = complex64, ``"double"`` = complex128);
    ``noise`` ⊂ `NOISE_METHODS` lists how it simulates noise channels (empty: it refuses noisy circuits).
    ``max_circuits_per_job`` is the most bound circuits one job may hold (None: no limit; the
    executor packs at most that many batch rows into a job) and ``max_shots`` the most shots per
    circuit (None: up to `MAX_SHOTS`); `Backend.request` refuses more.
    """

    name: str
    max_qubits: int
    gates: frozenset[str] = attrs.field(converter=frozenset)
    statevector: bool = True
    exact_expectations: bool = True
    shots: bool = True
    native_state_prep: bool = True
    gradient_methods: tuple[str, ...] = attrs.field(
        default=GENERIC_METHODS, converter=tuple, validator=_one_of("gradient method", GRADIENT_METHODS)
    )
    devices: tuple[str, ...] = attrs.field(default=("cpu",), converter=tuple, validator=_check_devices)
    precision: str = attrs.field(default="double", converter=check_precision)
    cost_model: CostModel | None = attrs.field(default=None, eq=False)
    description: str = ""
    noise: tuple[str, ...] = attrs.field(
        default=(), converter=tuple, validator=_one_of("noise method", NOISE_METHODS)
    )
    max_circuits_per_job: int | None = attrs.field(default=None, validator=_limit("max_circuits_per_job"))
    max_shots: int | None = attrs.field(default=None, validator=_limit("max_shots"))

    def best_gradient_method(self, shots: int | None = None) -> str:
        """The most accurate declared method usable with ``shots``: adjoint, backprop, then
        parameter-shift, SPSA, finite differences (native methods are exact, so not with shots)."""
        for method in ("adjoint", "backprop", "parameter-shift", "spsa", "finite-diff"):
            if method in self.gradient_methods and (shots is None or method not in NATIVE_METHODS):
                return method
        raise GradientError(f"backend {self.name!r} declares no gradient method usable with shots={shots}")


@attrs.frozen(eq=False)
class Request:
    """One validated, always-batched unit of work for `Backend.execute`.

    ``batch`` is the circuit with every symbol bound (``batch.size`` circuits of one structure);
    ``outputs`` ⊂ `OUTPUTS` says what to return; ``shots=None`` means exact. Build requests with
    `Backend.request`, which validates them against the backend's capabilities.
    """

    batch: Batch
    observables: tuple[Observable, ...] = ()
    shots: int | None = None
    seed: int | None = None
    outputs: frozenset[str] = frozenset({"expectations"})

    @property
    def circuit(self) -> Circuit:
        """The circuit every row of the batch runs."""
        return self.batch.circuit

    @property
    def size(self) -> int:
        """Number of circuits (rows) in the batch."""
        return self.batch.size

    def wants(self, output: str) -> bool:
        """Whether ``output`` (one of `OUTPUTS`) was asked for."""
        return output in self.outputs

    def with_batch(self, batch: Batch, seed: int | None = None) -> Request:
        """The same request for another batch (and seed), e.g. shifted rows of a gradient."""
        return attrs.evolve(self, batch=batch, seed=seed)


@attrs.frozen
class RunMetadata:
    """Facts about one run, stamped by `Backend.run`: who ran what, how long it took, what it cost."""

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
    """Outputs of a request; arrays are batch-first.

    * ``expectations``: ``(B, n_observables)`` (exact when ``shots`` is None, else estimates)
    * ``samples``: ``(B, shots)`` computational-basis indices, qubit 0 the most significant bit
    * ``probabilities``: ``(B, 2**n)``; ``statevectors``: ``(B, 2**n)`` when asked and supported
    * ``info``: backend-specific facts (job ids, dtype, measured cost as ``cost_usd``)
    * ``metadata``: stamped by `Backend.run`/`Backend.submit`; backends leave it unset
    """

    expectations: np.ndarray | None = None
    samples: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    statevectors: np.ndarray | None = None
    info: Mapping[str, Any] = attrs.field(factory=dict)
    metadata: RunMetadata | None = None

    def counts(self, index: int = 0) -> dict[str, int]:
        """Histogram of the samples of batch element ``index``; bitstrings list qubit 0 first."""
        if self.samples is None:
            raise CapabilityError("this result has no samples: run with shots=<int>")
        if self.metadata is None:
            raise CapabilityError("counts() needs a result from Backend.run (it knows the register size)")
        values, freq = np.unique(self.samples[index], return_counts=True)
        n = self.metadata.n_qubits
        return {format(int(v), f"0{n}b"): int(c) for v, c in zip(values, freq, strict=True)}


class Job:
    """A running or finished `run`: poll `status`, block on `result`, `cancel`, or ``await`` it."""

    def __init__(self, future: concurrent.futures.Future[Result], job_id: str | None = None) -> None:
        self._future = future
        self.id = job_id or f"local-{id(future):x}"
        self._remote_ids: tuple[str, ...] = ()
        self._listeners: list[Callable[[tuple[str, ...]], None]] = []
        self._remote_lock = threading.Lock()

    @property
    def remote_ids(self) -> tuple[str, ...]:
        """The job's ids at a remote service (e.g. IonQ job ids) once sent; empty for local jobs."""
        return self._remote_ids

    def on_sent(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        """Call ``callback(remote_ids)`` now if the job has remote ids, and again whenever one is
        added (every id so far): what a journal needs so a restarted process can re-attach with
        `Backend.attach` instead of paying again. Local jobs never call it."""
        with self._remote_lock:
            self._listeners.append(callback)
            ids = self._remote_ids
        if ids:
            callback(ids)

    def _add_remote_id(self, remote_id: str) -> None:
        """Record that (a part of) the job now exists remotely as ``remote_id``; tells listeners."""
        with self._remote_lock:
            self._remote_ids = (*self._remote_ids, remote_id)
            ids, listeners = self._remote_ids, list(self._listeners)
        for listener in listeners:
            listener(ids)

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


def _check_outputs(outputs: Collection[str]) -> frozenset[str]:
    if isinstance(outputs, str):
        outputs = (outputs,)
    bad = sorted(set(outputs) - set(OUTPUTS))
    if bad:
        raise CapabilityError(f"unknown output(s) {bad}; choose from {list(OUTPUTS)}")
    return frozenset(outputs)


class Backend(abc.ABC):
    """Base class of every backend. Subclasses implement `capabilities` and `execute`."""

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What this backend supports."""

    @property
    def name(self) -> str:
        """Registered name of the backend (its `Capabilities.name`)."""
        return self.capabilities.name

    @abc.abstractmethod
    def execute(self, request: Request) -> Result:
        """Run a validated request and return what ``request.outputs`` asks for.

        ``expectations`` are returned when asked and the request has observables; ``samples``
        whenever ``shots`` is set; ``probabilities`` and ``state`` (as ``statevectors``) when asked.
        Leave ``metadata`` unset: `run` stamps it.
        """

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Native vector–Jacobian product, for backends declaring ``"adjoint"`` or ``"backprop"``.

        Returns ``{symbol: (B,)}`` with ``Σ_o cotangent[b, o] ∂E[b, o]/∂symbol`` for each name in
        ``wrt``; ``cotangent`` is ``(B, n_observables)`` float64 and the request is exact.
        """
        raise GradientError(f"backend {self.name!r} implements no native gradient method")

    def native_array(self, array: np.ndarray) -> Any:
        """``array`` as the backend's own framework holds it (same precision, on its device), so
        linear algebra on results (a kernel's Gram product) runs where the states were made.
        NumPy backends return it unchanged."""
        return array

    def start(self, request: Request) -> Job:
        """Begin executing ``request`` in the background. Remote backends override this."""
        return Job(_shared_pool().submit(self._timed, request))

    def attach(self, request: Request, remote_ids: Sequence[str]) -> Job:
        """A `Job` for ``request`` already sent to a remote service as ``remote_ids`` (a job's
        `Job.remote_ids`, e.g. from a journal written before a crash): it fetches the status and
        result without sending anything again. Remote backends override this; local ones refuse."""
        raise CapabilityError(
            f"backend {self.name!r} runs locally and has no remote jobs to attach to (ids {list(remote_ids)})"
        )

    # -- public API -----------------------------------------------------------------------------

    def request(
        self,
        circuit: Circuit,
        bindings: Bindings | None = None,
        observables: ObservableLike | Sequence[ObservableLike] = (),
        shots: int | None = None,
        *,
        seed: int | None = None,
        outputs: Collection[str] | None = None,
    ) -> Request:
        """Validate a run against the capabilities and build its `Request`.

        Expectations are returned whenever ``observables`` are given; ``outputs`` adds any of
        ``"samples"``, ``"probabilities"``, ``"state"`` (default: samples when ``shots`` is set).
        State preparation is decomposed into gates when the backend has none natively.
        """
        caps = self.capabilities
        if not isinstance(circuit, Circuit):
            raise CapabilityError(f"circuit must be a qstore Circuit, got {type(circuit).__name__}")
        if circuit.n_qubits > caps.max_qubits:
            local = any(d == "cpu" or d.startswith("cuda") for d in caps.devices)
            hint = " (a local simulator's limit: what fits in free memory)" if local else ""
            raise CapabilityError(
                f"backend {caps.name!r} runs at most {caps.max_qubits} qubits; the circuit has "
                f"{circuit.n_qubits}{hint}"
            )
        obs = as_observables(observables)
        for o in obs:
            if o.max_qubit >= circuit.n_qubits:
                raise CapabilityError(
                    f"observable {o} acts on qubit {o.max_qubit}, beyond the circuit's {circuit.n_qubits}"
                )
        shots = check_shots(shots)
        seed = check_seed(seed)
        if shots is None and not caps.exact_expectations:
            raise CapabilityError(f"backend {caps.name!r} only samples: pass shots=<positive int>")
        if shots is not None and not caps.shots:
            raise CapabilityError(f"backend {caps.name!r} does not sample; use shots=None")
        if shots is not None and caps.max_shots is not None and shots > caps.max_shots:
            raise CapabilityError(
                f"backend {caps.name!r} runs at most {caps.max_shots} shots per circuit, got shots={shots}"
            )
        wanted = {"expectations"} if obs else set()
        if outputs is None and shots is not None:
            wanted.add("samples")
        chosen = frozenset(wanted) | _check_outputs(outputs or ())
        if chosen & {"state", "probabilities"} and not caps.statevector:
            raise CapabilityError(
                f"backend {caps.name!r} cannot return states or exact probabilities; "
                "ask for outputs=('samples',) with shots"
            )
        if "samples" in chosen and shots is None:
            raise CapabilityError("samples need shots=<positive int>")
        if "expectations" in chosen and not obs:
            raise CapabilityError("expectations were asked for but no observables were given")
        batch = resolve_bindings(circuit, bindings)
        if batch.circuit.vector_inputs and not caps.native_state_prep:
            from qstore.core.state_prep import decompose_state_preparation

            batch = decompose_state_preparation(batch)
        if circuit.has_noise and not caps.noise:
            channels = sorted({op.gate for op in circuit.operations if isinstance(op, Channel)})
            raise CapabilityError(
                f"backend {caps.name!r} does not simulate noise channels {channels}; use a backend whose "
                "capabilities declare noise (e.g. 'numpy' or 'torch'), or remove the channels"
            )
        unsupported = sorted(
            {op.gate for op in batch.circuit.operations if isinstance(op, Operation)} - caps.gates
        )
        if unsupported:
            raise CapabilityError(
                f"backend {caps.name!r} does not support gate(s) {unsupported}; it supports {sorted(caps.gates)}"
            )
        return Request(batch, obs, shots, seed, chosen)

    def run(
        self,
        circuit: Circuit,
        bindings: Bindings | None = None,
        observables: ObservableLike | Sequence[ObservableLike] = (),
        shots: int | None = None,
        *,
        seed: int | None = None,
        outputs: Collection[str] | None = None,
    ) -> Result:
        """Run every binding of ``circuit``; return expectations, samples and (if asked) states.

        >>> from qstore.core import Circuit, get_backend
        >>> get_backend("numpy").run(Circuit(1).rx("t", 0), {"t": [0.0, 3.14159265]}, "Z0").expectations.round(6)
        array([[ 1.],
               [-1.]])
        """
        return self._timed(self.request(circuit, bindings, observables, shots, seed=seed, outputs=outputs))

    def submit(
        self,
        circuit: Circuit,
        bindings: Bindings | None = None,
        observables: ObservableLike | Sequence[ObservableLike] = (),
        shots: int | None = None,
        *,
        seed: int | None = None,
        outputs: Collection[str] | None = None,
    ) -> Job:
        """Validate now, run in the background, and return the `Job` (await it or call ``result``)."""
        return self.start(self.request(circuit, bindings, observables, shots, seed=seed, outputs=outputs))

    def gradient(
        self,
        circuit: Circuit,
        bindings: Bindings | None,
        observables: ObservableLike | Sequence[ObservableLike],
        cotangent: np.ndarray | None = None,
        *,
        method: str = "auto",
        shots: int | None = None,
        seed: int | None = None,
        wrt: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Vector–Jacobian product ``{symbol: (B,)}``: ``Σ_o cotangent[b, o] ∂E[b, o]/∂symbol``.

        ``cotangent`` defaults to ones (the gradient of the summed expectations); ``method="auto"``
        picks the best declared method for ``shots``; ``wrt`` limits the symbols (default all).
        """
        from qstore.core import gradients

        chosen = self.gradient_method(method, check_shots(shots))
        request = self.request(circuit, bindings, observables, shots, seed=seed)
        if cotangent is None:
            cotangent = np.ones((request.size, len(request.observables)))
        cot = gradients.check_cotangent(cotangent, request.size, len(request.observables))
        names = gradients.check_wrt(circuit, wrt)
        if chosen in NATIVE_METHODS:
            return self.vjp(request, cot, names)
        return gradients.generic_vjp(self, chosen, request, cot, names)

    def gradient_method(self, method: str, shots: int | None) -> str:
        """Resolve ``method`` (``"auto"`` or a name) to a declared method usable with ``shots``."""
        caps = self.capabilities
        if method == "auto":
            return caps.best_gradient_method(shots)
        if method not in GRADIENT_METHODS:
            raise GradientError(
                f"unknown gradient method {method!r}; choose from {['auto', *GRADIENT_METHODS]}"
            )
        if method not in caps.gradient_methods:
            raise GradientError(
                f"backend {self.name!r} does not support gradient method {method!r}; "
                f"it supports {list(caps.gradient_methods)}"
            )
        if method in NATIVE_METHODS and shots is not None:
            raise GradientError(
                f"{method} differentiation is exact: use shots=None, or parameter-shift/spsa with shots"
            )
        return method

    def _timed(self, request: Request) -> Result:
        start = time.perf_counter()
        result = self.execute(request)
        return self.stamp(request, result, time.perf_counter() - start)

    def stamp(self, request: Request, result: Result, seconds: float) -> Result:
        """``result`` with its `RunMetadata`: sizes, wall time, and cost (``info["cost_usd"]`` when
        the backend measured it, else its cost model's estimate). Remote jobs call this on completion."""
        cost = result.info.get("cost_usd")
        model = self.capabilities.cost_model
        if cost is None:
            cost = model.estimate(request.circuit, request.size, request.shots) if model is not None else 0.0
        meta = RunMetadata(
            self.name,
            request.circuit.n_qubits,
            request.size,
            request.shots,
            seconds,
            request.seed,
            float(cost),
            dict(result.info),
        )
        return attrs.evolve(result, metadata=meta)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
