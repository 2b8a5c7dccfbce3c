"""The IonQ backends on qiskit-ionq 1.1.1: ``ionq.simulator`` and ``ionq.qpu.<system>``.

This is the only module that imports qiskit and qiskit-ionq. A batch of B bindings measured in S
basis settings becomes B·S circuits, each compiled to IonQ natives by
`qstore.backends.ionq.compiler` and sent as one ``ionq.multi-circuit.v1`` job (``gateset:
"native"``). Results come back as probabilities keyed IonQ's way (qubit i is bit 2**i) and are
mapped to Q-Store indices (qubit 0 most significant). The ideal simulator returns exact
probabilities, from which shots are drawn locally with the run's seed; QPUs and noise models
return measured frequencies, which become exactly ``shots`` samples.

Credentials: ``api_key=`` or the variables qiskit-ionq reads (``QISKIT_IONQ_API_TOKEN``,
``IONQ_API_KEY``, ``IONQ_API_TOKEN``; URL from ``QISKIT_IONQ_API_URL`` / ``IONQ_API_URL``).
qiskit-ionq 1.1.1 reads the URL from the environment for its qubit-count lookups whatever
``url=`` says, so set ``IONQ_API_URL`` when pointing at another server. The key is held in a
`qstore.core.secrets.Secret` and sent only to the API's origin (scheme, host and port of the
URL); errors are built from redacted text and raised without the vendor exception chained.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

import attrs
import numpy as np
import requests
import urllib3
from qiskit import QuantumCircuit
from qiskit_ionq import ErrorMitigation, GPI2Gate, GPIGate, IonQProvider, MSGate, ZZGate
from qiskit_ionq import exceptions as ionq_exceptions
from qiskit_ionq.exceptions import IonQTranspileLevelWarning
from qiskit_ionq.helpers import resolve_credentials

from qstore.backends.ionq import budget as budgets
from qstore.backends.ionq.compiler import SYSTEM_ENTANGLERS, CompiledCircuit, Entangler, compile_circuit
from qstore.backends.ionq.errors import (
    IonQAPIError,
    IonQAuthenticationError,
    IonQCredentialsError,
    IonQOriginError,
)
from qstore.backends.ionq.jobs import IonQJob, PollPolicy, SubmitOutcomeUnknown, TransientError, WorkerPool
from qstore.backends.ionq.measurement import (
    Settings,
    estimate_expectations,
    ionq_to_qstore_index,
    measurement_settings,
)
from qstore.backends.ionq.pricing import IonQCostModel, Price, estimate, price_for
from qstore.core.backend import Backend, Capabilities, Request, Result
from qstore.core.bindings import Batch, Bindings
from qstore.core.circuit import Circuit
from qstore.core.errors import CapabilityError
from qstore.core.gates import GATES
from qstore.core.observables import Observable, ObservableLike
from qstore.core.routing_policy import CostLedger
from qstore.core.secrets import Secret

__all__ = ["NOISE_MODELS", "QPU_QUBITS", "IonQBackend"]

logger = logging.getLogger("qstore.backends.ionq")

QPU_QUBITS: dict[str, int] = {"aria-1": 25, "forte-1": 36, "forte-enterprise-1": 36}
"""Qubits per QPU (Azure Quantum provider page, 2025-09-17)."""

SIMULATOR_QUBITS = 29
NOISE_MODELS = (
    "ideal",
    "harmony",
    "harmony-1",
    "harmony-2",
    "aria-1",
    "aria-2",
    "forte-1",
    "forte-enterprise-1",
)
MAX_CIRCUITS = 5000
QPU_MAX_SHOTS = 10_000
"""Shots per circuit on a QPU (qiskit-ionq 1.1.1's declared ``max_shots``)."""
MAX_GATES = 150_000
_LABELS = itertools.count()


_KEY_SOURCES = "the environment (QISKIT_IONQ_API_TOKEN, IONQ_API_KEY or IONQ_API_TOKEN, or a .env file)"


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (default ports filled in); where a key may be sent."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return f"{scheme}://{parts.hostname or ''}:{port}"


@attrs.frozen
class _Plan:
    """What decoding a job's results needs."""

    backend: str
    n_qubits: int
    batch_size: int
    shots: int
    seed: int | None
    sampled: bool
    observables: tuple[Observable, ...]
    settings: Settings
    native_counts: dict[str, int]


class IonQBackend(Backend):
    """IonQ's cloud simulator (``system="simulator"``) or a QPU (``"aria-1"``, ``"forte-1"``, …).

    Options: ``noise_model`` (simulator: ``"ideal"``, ``"aria-1"``, ``"forte-1"``, …),
    ``marketplace`` and ``prices`` (see `qstore.backends.ionq.pricing`), ``budget_usd`` (a number,
    or a `CostLedger` shared with other backends or a router; kept as ``ledger``), ``error_mitigation`` (None: IonQ's default), ``max_in_flight`` (jobs
    sent at once), ``poll_interval``/``max_poll_interval`` (seconds), ``timeout`` (seconds `run`
    waits; None waits as long as IonQ's queue takes), ``max_circuits_per_job`` and
    ``max_gates_per_job`` (IonQ's multi-circuit limits, 5,000 and 150,000: larger runs are sent
    as several jobs that succeed or fail together).
    """

    def __init__(
        self,
        system: str = "simulator",
        *,
        api_key: str | None = None,
        url: str | None = None,
        noise_model: str = "ideal",
        entangler: Entangler | None = None,
        marketplace: str = "azure",
        prices: Mapping[tuple[str, str], Price] | None = None,
        budget_usd: float | CostLedger | None = None,
        error_mitigation: bool | None = None,
        max_in_flight: int = 4,
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        submit_attempts: int = 5,
        max_retry_after: float = 60.0,
        timeout: float | None = None,
        max_circuits_per_job: int = MAX_CIRCUITS,
        max_gates_per_job: int = MAX_GATES,
    ) -> None:
        if system != "simulator" and system not in QPU_QUBITS:
            raise CapabilityError(
                f"unknown IonQ system {system!r}; choose 'simulator' or one of {sorted(QPU_QUBITS)}"
            )
        if noise_model not in NOISE_MODELS:
            raise CapabilityError(
                f"unknown IonQ noise model {noise_model!r}; choose one of {list(NOISE_MODELS)}"
            )
        if system != "simulator" and noise_model != "ideal":
            raise CapabilityError("noise models apply to the simulator only; QPUs have real noise")
        creds = resolve_credentials(api_key, url)
        if not creds["token"]:
            raise IonQCredentialsError(
                "no IonQ API key: pass api_key=... or set IONQ_API_KEY "
                "(also read: QISKIT_IONQ_API_TOKEN, IONQ_API_TOKEN)"
            )
        self._key = Secret(creds["token"], "api_key=" if api_key else _KEY_SOURCES)
        self.url: str = creds["url"]
        lookup_url = resolve_credentials()["url"]
        if lookup_url.rstrip("/") != self.url.rstrip("/"):
            warnings.warn(
                f"qiskit-ionq 1.1.1 looks up qubit counts at {lookup_url} (from IONQ_API_URL or its default) "
                f"although jobs go to {self.url}; set IONQ_API_URL={self.url} to keep them together",
                UserWarning,
                stacklevel=2,
            )
        self.system = system
        self.noise_model = noise_model
        family = system if system != "simulator" else noise_model
        self.entangler: Entangler = entangler or SYSTEM_ENTANGLERS.get(family, "ms")
        price_for(system, marketplace, prices)  # an unknown marketplace or system fails here, not at run time
        self.marketplace = marketplace
        self.prices = prices
        self.error_mitigation = error_mitigation
        self.ledger = (
            budget_usd
            if isinstance(budget_usd, CostLedger)
            else CostLedger(budget_usd, advice=budgets.IONQ_ADVICE)
        )
        self.timeout = timeout
        self._max_circuits_per_job = max_circuits_per_job  # declared in `capabilities`, read from there
        self.max_gates_per_job = max_gates_per_job
        self.policy = PollPolicy(
            interval=poll_interval,
            max_interval=max_poll_interval,
            submit_attempts=submit_attempts,
            max_retry_after=max_retry_after,
        )
        self._pool = WorkerPool(max_in_flight)
        self._lock = threading.Lock()
        self._qiskit_backend: Any = None
        self.capabilities  # noqa: B018 - validate the declared limits now, not at the first run

    # -- declared facts -------------------------------------------------------------------------

    @cached_property
    def capabilities(self) -> Capabilities:
        """Every gate of the core table (compiled to natives); shots only; parameter-shift gradients."""
        simulator = self.system == "simulator"
        name = "ionq.simulator" if simulator else f"ionq.qpu.{self.system}"
        noise = f", noise model {self.noise_model}" if simulator else ""
        return Capabilities(
            name=name,
            max_qubits=SIMULATOR_QUBITS if simulator else QPU_QUBITS[self.system],
            gates=frozenset(GATES),
            statevector=False,
            exact_expectations=False,
            shots=True,
            native_state_prep=False,
            gradient_methods=("parameter-shift", "finite-diff", "spsa"),
            devices=("cloud",) if simulator else ("qpu",),
            cost_model=self.cost_model,
            description=f"IonQ {'cloud simulator' if simulator else self.system} via qiskit-ionq{noise}; "
            f"native {self.entangler.upper()} entangler; priced as {self.marketplace}",
            max_circuits_per_job=self._max_circuits_per_job,
            max_shots=None if simulator else QPU_MAX_SHOTS,
        )

    @cached_property
    def cost_model(self) -> IonQCostModel:
        """Prices circuits before they are sent (see `qstore.backends.ionq.pricing`)."""
        return IonQCostModel(
            self.system, self.marketplace, self.entangler, self.error_mitigation, self.prices
        )

    # -- running --------------------------------------------------------------------------------

    def start(self, request: Request) -> IonQJob:
        """Compile, price and reserve now (errors raise here); send and poll in the background."""
        return self._job(request, ())

    def attach(self, request: Request, remote_ids: Sequence[str]) -> IonQJob:
        """The job IonQ already holds as ``remote_ids`` (its parts' ids, as `IonQJob.remote_ids`
        gave them) for ``request``: polls and fetches, never sends. Like qiskit-ionq's
        ``retrieve_job``, with Q-Store's decoding: ``request`` must be the one that was started
        (same circuit, bindings, observables, shots and seed), since the results are decoded by
        it. The job's estimate is recorded in the ledgers without a budget check: it is already
        paid for."""
        ids = tuple(str(i) for i in remote_ids)
        if not ids or not all(ids):
            raise CapabilityError(f"remote_ids must name at least one IonQ job id, got {list(remote_ids)!r}")
        return self._job(request, ids)

    def _job(self, request: Request, remote_ids: tuple[str, ...]) -> IonQJob:
        assert request.shots is not None  # the capabilities declare no exact expectations
        started = time.perf_counter()

        def finish(result: Result) -> Result:
            return self.stamp(request, result, time.perf_counter() - started)

        settings = measurement_settings(request.observables, samples=request.wants("samples"))
        return self._start(
            request.batch, settings, request.observables, request.shots, request.seed, finish, remote_ids
        )

    def execute(self, request: Request) -> Result:
        """Run as one IonQ job (or several parts) and wait up to ``timeout`` for the result."""
        return self.start(request).result_or_cancel(self.timeout)

    def estimate(
        self,
        circuit: Circuit,
        bindings: Bindings | None = None,
        observables: ObservableLike | Sequence[ObservableLike] = (),
        shots: int = 100,
    ) -> float:
        """USD this run would be charged: every bound circuit and basis setting, compiled and priced."""
        request = self.request(circuit, bindings, observables, shots)
        batch, obs = request.batch, request.observables
        settings = measurement_settings(obs)
        return self._price(self._compile(batch, settings), shots)

    def _compile(self, batch: Batch, settings: Settings) -> list[CompiledCircuit]:
        rotated = [settings.rotated(batch.circuit, s) for s in range(len(settings.bases))]
        names = batch.circuit.symbols
        out: list[CompiledCircuit] = []
        for b in range(batch.size):
            values = {name: float(batch.values[name][b]) for name in names}
            out.extend(compile_circuit(c, values, self.entangler) for c in rotated)
        return out

    def _price(self, compiled: list[CompiledCircuit], shots: int) -> float:
        return estimate(
            [c.circuit for c in compiled],
            shots,
            self.system,
            self.marketplace,
            error_mitigation=self.cost_model.mitigated(shots),
            prices=self.prices,
        )

    def _start(
        self,
        batch: Batch,
        settings: Settings,
        observables: tuple[Observable, ...],
        shots: int,
        seed: int | None,
        finish: Callable[[Result], Result],
        remote_ids: tuple[str, ...],
    ) -> IonQJob:
        compiled = self._compile(batch, settings)
        counts = {"1q": 0, "2q": 0}
        for c in compiled:
            for k, v in c.counts().items():
                counts[k] += v
        plan = _Plan(
            backend=self.name,
            n_qubits=batch.circuit.n_qubits,
            batch_size=batch.size,
            shots=shots,
            seed=seed,
            sampled=self.system != "simulator" or self.noise_model != "ideal",
            observables=observables,
            settings=settings,
            native_counts=counts,
        )
        parts = [_QiskitTransport(self, chunk, plan) for chunk in self._chunks(compiled)]
        if remote_ids and len(remote_ids) != len(parts):
            raise CapabilityError(
                f"this request is sent as {len(parts)} IonQ job part(s) but {len(remote_ids)} id(s) were given "
                f"({list(remote_ids)}); attach with the request and backend options the job was started with"
            )
        # reserve last: a request refused while being prepared is never charged
        cost = self._price(compiled, shots)
        ledgers = (self.ledger, *budgets.active_ledgers())
        reservation = budgets.reserve(ledgers, self.name, len(compiled), shots, cost, check=not remote_ids)
        if remote_ids:
            reservation.update(job_id=",".join(remote_ids))
        label = f"{self.name}-{next(_LABELS)}"
        logger.info(
            "IonQ job %s: %d circuit(s) in %d part(s) x %d shots, estimate $%.4f%s",
            label,
            len(compiled),
            len(parts),
            shots,
            cost,
            f", attached to {', '.join(remote_ids)}" if remote_ids else "",
        )
        return IonQJob(
            self._pool,
            parts,
            functools.partial(decode, plan=plan),
            finish,
            reservation,
            self.policy,
            label,
            cost,
            remote_ids,
        )

    def _chunks(self, compiled: list[CompiledCircuit]) -> list[list[CompiledCircuit]]:
        """Consecutive groups within one IonQ job's limits on circuits and gates."""
        chunks: list[list[CompiledCircuit]] = [[]]
        gates = 0
        limit = self.capabilities.max_circuits_per_job
        for c in compiled:
            size = len(c.circuit.operations)
            if size > self.max_gates_per_job:
                raise CapabilityError(
                    f"a compiled circuit has {size} native gates; one IonQ job holds at most {self.max_gates_per_job}"
                )
            if len(chunks[-1]) == limit or gates + size > self.max_gates_per_job:
                chunks.append([])
                gates = 0
            chunks[-1].append(c)
            gates += size
        return chunks

    def qiskit_backend(self) -> Any:
        """The qiskit-ionq backend (native gateset), created on first use."""
        with self._lock:
            if self._qiskit_backend is None:
                name = "simulator" if self.system == "simulator" else f"qpu.{self.system}"
                with warnings.catch_warnings():
                    # advice about qiskit's transpiler; circuits here are native and never transpiled
                    warnings.simplefilter("ignore", IonQTranspileLevelWarning)
                    provider = IonQProvider(token=self._key.reveal(), url=self.url)
                    self._qiskit_backend = provider.get_backend(name, gateset="native")
            return self._qiskit_backend

    def __repr__(self) -> str:
        return f"<IonQBackend {self.name!r} url={self.url!r}>"


def _qiskit_circuit(compiled: CompiledCircuit, name: str) -> QuantumCircuit:
    """A qiskit circuit of qiskit-ionq native gates measuring every qubit (qubit i to clbit i)."""
    n = compiled.circuit.n_qubits
    qc = QuantumCircuit(n, n, name=name)
    for op in compiled.circuit.operations:
        p = [float(x.const) for x in op.params]
        if op.gate == "gpi":
            qc.append(GPIGate(p[0]), list(op.qubits))
        elif op.gate == "gpi2":
            qc.append(GPI2Gate(p[0]), list(op.qubits))
        elif op.gate == "ms":
            qc.append(MSGate(p[0], p[1], p[2]), list(op.qubits))
        else:
            qc.append(ZZGate(p[0]), list(op.qubits))
    qc.measure(range(n), range(n))
    return qc


def _api_error(exc: Exception, doing: str, key: Secret) -> IonQAPIError:
    """A key-free error from a qiskit-ionq or requests exception.

    Vendor text is redacted, and callers raise the result outside their ``except`` block so the
    vendor exception (whose message may quote the request's headers) is not chained to it.
    """
    if isinstance(exc, ionq_exceptions.IonQRetriableError):
        cause = getattr(exc, "_cause", None)
        code = getattr(cause, "status_code", None)
        headers = getattr(cause, "headers", None) or {}
        retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
        try:
            delay = float(retry_after) if retry_after is not None else None
        except ValueError:
            delay = None
        if code is None:
            reason = type(cause).__name__ if cause is not None else "connection error"
            return TransientError(f"the connection to IonQ failed ({reason}) while {doing}")
        message = key.redact(str(getattr(cause, "message", "retriable error")))
        return TransientError(f"IonQ said {code}: {message} while {doing}", code, delay)
    if isinstance(exc, ionq_exceptions.IonQAPIError):
        code, message = exc.status_code, key.redact(str(exc.message))
        if code == 401:
            return IonQAuthenticationError(
                f"IonQ rejected the API key (HTTP 401) while {doing}: {message} Check api_key= or IONQ_API_KEY.",
                401,
            )
        if code == 429 or (code is not None and code >= 500 and doing != "submitting"):
            return TransientError(f"IonQ said {code}: {message} while {doing}", code)
        return IonQAPIError(f"IonQ said {code}: {message} while {doing}", code)
    if isinstance(exc, ionq_exceptions.IonQCredentialsError):
        return IonQAuthenticationError(
            f"IonQ credentials are incomplete while {doing}: {key.redact(str(exc.message))}"
        )
    return IonQAPIError(f"IonQ request failed while {doing}: {type(exc).__name__}: {key.redact(str(exc))}")


_VENDOR_ERRORS = (ionq_exceptions.IonQError, requests.exceptions.RequestException)
_UNSENT = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
)


def _never_sent(exc: requests.exceptions.RequestException) -> bool:
    """Whether a failed request provably never reached a server: refused, unresolved or malformed."""
    if isinstance(exc, _UNSENT):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class _QiskitTransport:
    """One job's HTTP exchanges through qiskit-ionq (see `qstore.backends.ionq.jobs.Transport`)."""

    def __init__(self, backend: IonQBackend, compiled: list[CompiledCircuit], plan: _Plan) -> None:
        self._backend = backend
        self._circuits = [_qiskit_circuit(c, f"c{i}") for i, c in enumerate(compiled)]
        self._plan = plan
        self._view: dict[str, Any] = {}

    def _client(self) -> Any:
        return self._backend.qiskit_backend().client

    def _run_options(self) -> dict[str, Any]:
        plan, backend = self._plan, self._backend
        options: dict[str, Any] = {"shots": plan.shots}
        if plan.seed is not None:
            options["sampler_seed"] = plan.seed
        if backend.system == "simulator":
            options["noise_model"] = backend.noise_model
            options["extra_query_params"] = {"noise": {"model": backend.noise_model, "seed": plan.seed}}
        if backend.error_mitigation is not None:
            options["error_mitigation"] = (
                ErrorMitigation.DEBIASING if backend.error_mitigation else ErrorMitigation.NO_DEBIASING
            )
        return options

    def submit(self) -> str:
        circuits = self._circuits if len(self._circuits) > 1 else self._circuits[0]
        try:
            job = self._backend.qiskit_backend().run(circuits, **self._run_options())
            return str(job.job_id())
        except requests.exceptions.RequestException as exc:
            if _never_sent(exc):
                error: IonQAPIError = TransientError(
                    f"could not reach IonQ at {_origin(self._backend.url)} ({type(exc).__name__}); "
                    "nothing was sent"
                )
            else:
                error = SubmitOutcomeUnknown(
                    f"the connection to IonQ failed while sending the job ({type(exc).__name__}); it was not "
                    "resent because IonQ may have created it, and its estimate stays charged to the budget"
                )
        except ionq_exceptions.IonQError as exc:
            error = _api_error(exc, "submitting", self._backend._key)
        raise error

    def _get(self, url: str, doing: str) -> Any:
        """One authenticated GET to the API origin, no retries: failures raise and the job's poll
        policy decides. (qiskit-ionq's own job and result GETs retry retriable errors forever.)
        """
        client = self._client()
        try:
            res = client.get_with_retry(url, headers=client.api_headers)
            ionq_exceptions.IonQAPIError.raise_for_status(res)
            return res.json()
        except _VENDOR_ERRORS as exc:
            error = _api_error(exc, doing, self._backend._key)
        except ValueError:
            error = TransientError(f"IonQ sent a body that is not JSON while {doing}")
        raise error

    def status(self, job_id: str) -> tuple[str, str]:
        view = self._get(self._client().make_path("jobs", job_id), f"polling job {job_id}")
        if not isinstance(view, dict):
            raise TransientError(f"IonQ sent an unexpected job description while polling job {job_id}")
        status = view.get("status")
        if status not in ("submitted", "ready", "started", "completed", "failed", "canceled"):
            raise IonQAPIError(f"IonQ reported an unknown status {status!r} for job {job_id}")
        self._view = view
        failure = view.get("failure") or {}
        text = f"{failure.get('code', '')}: {failure.get('error') or failure.get('message', '')}"
        return status, self._backend._key.redact(text)

    def results(self, job_id: str) -> list[Mapping[str, float]]:
        results = self._view.get("results") or {}
        url = (results.get("probabilities") or {}).get("url")
        if not url:
            raise IonQAPIError(f"IonQ job {job_id} completed without a probabilities result")
        if not url.startswith(("http://", "https://")):
            # results URLs carry the API version (/v0.4/jobs/...) that the base URL already ends in
            url = self._backend.url.rstrip("/") + re.sub(r"^/v\d+\.\d+(?=/)", "", url)
        api, target = _origin(self._backend.url), _origin(url)
        if target != api:
            raise IonQOriginError(
                f"IonQ job {job_id} points its results at {target}, but the API key is sent only to "
                f"{api} (the configured url) and results are fetched only from there, as qiskit-ionq "
                "does; nothing was requested. Check url= / IONQ_API_URL, or report the response to IonQ"
            )
        data = self._get(url, f"fetching results of job {job_id}")
        children = self._view.get("child_job_ids") or self._view.get("children")
        raw = [data[c] for c in children] if children else [data]
        if len(raw) != len(self._circuits):
            raise IonQAPIError(
                f"IonQ job {job_id} returned {len(raw)} results for {len(self._circuits)} circuits"
            )
        return raw

    def cancel(self, job_id: str) -> None:
        try:
            self._client().cancel_job(job_id)
        except _VENDOR_ERRORS as exc:
            error = _api_error(exc, "cancelling", self._backend._key)
            logger.warning("cancelling IonQ job %s failed: %s", job_id, error)

    def reported_cost(self, job_id: str) -> float | None:
        try:
            body = self._get(
                self._client().make_path("jobs", job_id, "cost"), f"fetching the cost of job {job_id}"
            )
        except IonQAPIError as exc:
            if exc.status_code == 404:  # no cost computed (yet), e.g. cancelled before it ran
                return None
            raise
        actual = body.get("actual_cost") if isinstance(body, dict) else None
        value = actual.get("value") if isinstance(actual, dict) else None
        return float(value) if isinstance(value, int | float) else None


def _counts(probs: np.ndarray, shots: int) -> np.ndarray:
    """Exactly ``shots`` counts from measured frequencies (largest remainder)."""
    scaled = probs / probs.sum() * shots
    counts = np.floor(scaled).astype(np.int64)
    short = shots - int(counts.sum())
    if short > 0:
        counts[np.argsort(counts - scaled, kind="stable")[:short]] += 1
    return counts


def decode(raw: list[Mapping[str, float]], plan: _Plan) -> Result:
    """Turn IonQ probabilities (one dict per circuit, batch-major) into a core `Result`."""
    n, s_count = plan.n_qubits, len(plan.settings.bases)
    rng = np.random.default_rng(plan.seed)
    samples = np.empty((plan.batch_size, s_count, plan.shots), dtype=np.int64)
    for i, probs in enumerate(raw):
        keys = ionq_to_qstore_index(np.array([int(k) for k in probs]), n)
        p = np.array([float(v) for v in probs.values()])
        if plan.sampled:
            draws = rng.permutation(np.repeat(keys, _counts(p, plan.shots)))
        else:
            draws = keys[rng.choice(len(keys), size=plan.shots, p=p / p.sum())]
        samples[i // s_count, i % s_count] = draws
    expectations = (
        estimate_expectations(samples, n, plan.observables, plan.settings) if plan.observables else None
    )
    return Result(
        info={"circuits": len(raw), "native_gates": plan.native_counts},
        expectations=expectations,
        samples=samples[:, 0, :] if plan.settings.computational else None,
    )
