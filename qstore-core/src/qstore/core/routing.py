"""The router: choose a backend for a `Workload` under a `Policy`, and say why.

`route` checks every candidate backend's `Capabilities` against the workload and the policy
(rejecting with a reason: not allowed, hardware without opt-in, too many qubits, missing gates or
gradient method, precision, memory, over budget), estimates seconds from the measured speed
models (`qstore.core.routing_speed`; documented defaults without a profile) and USD from the
backend's cost model, ranks the rest by the policy's priority and returns a frozen
`RoutingDecision` that lists every alternative with the reason it lost. A plugin implementing
``qstore_choose_backend`` (a ``firstresult`` hook) can override the choice.

`AutoBackend` (``get_backend``-free: `make_backend("auto")`) routes each call on first sight of its
circuit structure, batch size and shots, logs the decision on the ``qstore.routing`` logger, keeps
spend in a `CostLedger` and refuses a call that would cross the budget.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import numpy as np

from qstore.core.backend import (
    GENERIC_METHODS,
    GRADIENT_METHODS,
    NATIVE_METHODS,
    Backend,
    Capabilities,
    Request,
    Result,
)
from qstore.core.circuit import Circuit
from qstore.core.errors import BudgetExceededError, CapabilityError, GradientError
from qstore.core.routing_policy import CostLedger, Policy
from qstore.core.routing_speed import DEFAULTS, NATIVE_GRADIENT_FACTOR, Profile, load_profile, profile_key
from qstore.core.routing_workload import Workload
from qstore.core.statevector import _WORKING_COPIES, available_memory

__all__ = [
    "REMOTE_SECONDS_PER_SHOT",
    "AutoBackend",
    "Candidate",
    "RoutingDecision",
    "installed_backends",
    "route",
]

log = logging.getLogger("qstore.routing")
REMOTE_SECONDS_PER_SHOT = 1e-3
"""Default execution time per shot on a remote backend, added to `Policy.queue_seconds`."""
_REMOTE = frozenset({"cloud", "qpu"})
ProfileArg = Profile | None | Literal["auto"]


@attrs.frozen
class Candidate:
    """One backend considered: its estimates (whole workload) and why it lost or was rejected."""

    backend: str
    seconds: float | None = None
    usd: float | None = None
    method: str | None = None
    calibrated: bool = False
    reason: str = ""
    rejected: bool = False


@attrs.frozen
class RoutingDecision:
    """The chosen backend, its estimates, and every alternative with the reason it lost."""

    backend: str
    seconds: float
    usd: float
    method: str | None
    calibrated: bool
    workload: Workload
    policy: Policy = attrs.field(eq=False)
    candidates: tuple[Candidate, ...]
    chosen_by: str = "router"
    options: Mapping[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def alternatives(self) -> tuple[Candidate, ...]:
        """Usable backends that lost, best first."""
        return tuple(c for c in self.candidates if not c.rejected and c.backend != self.backend)

    @property
    def rejected(self) -> tuple[Candidate, ...]:
        """Backends that could not run the workload under the policy."""
        return tuple(c for c in self.candidates if c.rejected)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``qstore route --json`` and run manifests."""
        return {
            "backend": self.backend,
            "seconds": self.seconds,
            "usd": self.usd,
            "method": self.method,
            "estimates": "calibrated" if self.calibrated else "defaults",
            "chosen_by": self.chosen_by,
            "priority": self.policy.priority,
            "budget_usd": self.policy.budget_usd,
            "workload": {
                k: sorted(v) if isinstance(v, frozenset) else v
                for k, v in attrs.asdict(self.workload).items()
            },
            "candidates": [attrs.asdict(c) for c in self.candidates],
        }

    def __str__(self) -> str:
        w = self.workload
        source = "calibrated profile" if self.calibrated else "analytic defaults (run `qstore calibrate`)"
        head = (
            f"route: {self.backend} (by {self.chosen_by}, priority {self.policy.priority}); "
            f"{w.n_qubits} qubits, {w.n_gates} gates, batch {w.batch}, shots {w.shots or 'exact'}, "
            f"gradient {self.method or 'none'}, {w.calls} call(s); estimates from {source}"
        )
        rows = [("backend", "seconds", "usd", "method", "verdict")]
        for c in self.candidates:
            verdict = (
                "chosen"
                if c.backend == self.backend
                else ("rejected: " if c.rejected else "lost: ") + c.reason
            )
            rows.append((c.backend, "-" if c.seconds is None else f"{c.seconds:.4g}",
                         "-" if c.usd is None else f"{c.usd:.2f}", c.method or "-", verdict))  # fmt: skip
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        rows.insert(1, (*("-" * w for w in widths), "-" * 7))
        lines = [
            "  ".join(cell.ljust(wd) for cell, wd in zip(r[:4], widths, strict=True)) + "  " + r[4]
            for r in rows
        ]
        return "\n".join([head, *lines])


def _pricing_circuit(workload: Workload) -> Circuit:
    """A circuit with the workload's gate counts (RY per 1q gate, CNOT per 2q gate), for pricing."""
    n, c = workload.n_qubits, Circuit(workload.n_qubits)
    for i in range(workload.gates_1q):
        c = c.ry(f"p{i}", i % n)
    for i in range(workload.gates_2q if n > 1 else 0):
        c = c.cnot(i % n, (i + 1) % n)
    return c


def _rows(workload: Workload, method: str | None) -> int:
    """Circuits one call runs: the batch, expanded by the shifts of an execute-based gradient."""
    if method is None or method in NATIVE_METHODS:
        return workload.batch
    extra = 2 if method == "spsa" else 2 * workload.shift_sites
    return workload.batch * (1 + extra)


class _Estimator:
    """Seconds and USD per backend for one workload, from a profile or the defaults."""

    def __init__(
        self, workload: Workload, policy: Policy, profile: Profile | None, circuit: Circuit | None
    ) -> None:
        self.workload, self.policy, self.profile = workload, policy, profile
        self.circuit = circuit or _pricing_circuit(workload)

    def seconds(self, name: str, caps: Capabilities, method: str | None) -> tuple[float, bool]:
        w = self.workload
        rows = _rows(w, method)
        if set(caps.devices) & _REMOTE:
            per_call = self.policy.queue_seconds + rows * (w.shots or 1) * REMOTE_SECONDS_PER_SHOT
            return per_call * w.calls, False
        fwd = self.profile.model(name, "forward") if self.profile else None
        calibrated = fwd is not None
        fwd = fwd or DEFAULTS[caps.precision]
        size = (w.n_qubits, w.batch, w.n_gates, w.n_observables)
        per_call = fwd.predict(*size)
        if method in NATIVE_METHODS:
            grad = self.profile.model(name, method) if self.profile else None
            calibrated = calibrated and grad is not None
            per_call += grad.predict(*size) if grad else NATIVE_GRADIENT_FACTOR * per_call
        elif method is not None:
            per_call += fwd.predict(w.n_qubits, rows, w.n_gates, w.n_observables)
        return per_call * w.calls, calibrated

    def usd(self, caps: Capabilities, method: str | None) -> float:
        if caps.cost_model is None:
            return 0.0
        w = self.workload
        return float(caps.cost_model.estimate(self.circuit, _rows(w, method), w.shots)) * w.calls


def _rejection(
    caps: Capabilities, backend: Backend, workload: Workload, policy: Policy
) -> tuple[str | None, str]:
    """``(gradient method, "")`` when ``backend`` can run the workload, else ``(None, reason)``."""
    w, devices = workload, set(caps.devices)
    if "qpu" in devices and not policy.allow_hardware:
        return None, "quantum hardware needs an explicit opt-in: Policy(allow_hardware=True)"
    if devices & _REMOTE and policy.latency == "interactive":
        return None, (
            f"remote, queue ~{policy.queue_seconds / 60:.3g} min: too slow for latency='interactive' "
            "(use Policy(latency='batch'))"
        )
    if w.n_qubits > caps.max_qubits:
        return None, f"needs {w.n_qubits} qubits, runs at most {caps.max_qubits}"
    missing = sorted(w.gates - caps.gates)
    if missing:
        return None, f"lacks gate(s) {missing}"
    if w.shots is None and not caps.exact_expectations:
        return None, "only samples; exact expectations were asked for (shots=None)"
    if w.shots is not None and not caps.shots:
        return None, f"does not sample; shots={w.shots} were asked for"
    if w.noisy and not caps.noise:
        return None, "cannot simulate noise channels (its Capabilities.noise is empty)"
    if w.outputs & {"state", "probabilities"} and not caps.statevector:
        return None, "cannot return states or probabilities"
    wanted = w.precision or policy.precision
    if wanted is not None and caps.precision != wanted:
        return None, f"runs in {caps.precision} precision; {wanted} is required"
    method = None
    if w.gradient is not None:
        try:
            method = backend.gradient_method(w.gradient, w.shots)
        except GradientError:
            usable = [m for m in caps.gradient_methods if w.shots is None or m in GENERIC_METHODS]
            return None, f"lacks gradient method {w.gradient!r} with shots={w.shots}; it has {usable}"
    if not devices & _REMOTE:
        itemsize = 16 if caps.precision == "double" else 8
        density = w.noisy and "trajectories" not in caps.noise  # ρ holds 4**n entries
        need = _WORKING_COPIES * w.batch * itemsize * (4 if density else 2) ** w.n_qubits
        have = policy.memory_bytes if policy.memory_bytes is not None else available_memory()
        if need > have:
            return (
                None,
                f"does not fit in memory: needs {need / 2**30:.3g} GiB, {have / 2**30:.3g} GiB available",
            )
    return method, ""


def _rank(valid: list[Candidate], policy: Policy, precision: Mapping[str, str]) -> list[Candidate]:
    """``valid`` best first by the policy's priority, each loser with the reason it lost."""
    best_s = min(c.seconds or 0.0 for c in valid) or 1e-12
    best_usd = min(c.usd or 0.0 for c in valid)

    def key(c: Candidate) -> tuple[float, ...]:
        s, usd = c.seconds or 0.0, c.usd or 0.0
        if policy.priority == "cost":
            return (usd, s)
        if policy.priority == "balanced":
            return (math.log(max(s, 1e-12) / best_s) + math.log((usd + 0.01) / (best_usd + 0.01)), s)
        if policy.priority == "accuracy":
            return (
                precision[c.backend] != "double",
                c.method not in (None, *NATIVE_METHODS, "parameter-shift"),
                s,
            )
        return (s, usd)

    ranked = sorted(valid, key=lambda c: (key(c), c.backend))
    top = ranked[0]
    out = [top]
    for c in ranked[1:]:
        s, ts = c.seconds or 0.0, max(top.seconds or 0.0, 1e-12)
        parts = []
        if s > ts:
            parts.append(f"slower by {s / ts:.3g}x")
        if (c.usd or 0.0) > (top.usd or 0.0):
            parts.append(f"costs ${(c.usd or 0.0) - (top.usd or 0.0):.2f} more")
        if policy.priority == "accuracy" and precision[c.backend] != precision[top.backend]:
            parts.insert(0, f"{precision[c.backend]} precision")
        reason = ", ".join(parts) or f"tied; {top.backend} comes first by name"
        out.append(attrs.evolve(c, reason=reason))
    return out


def _registry() -> Any:
    from qstore.core.plugins import default_registry

    return default_registry()


def installed_backends(policy: Policy) -> dict[str, Backend | str]:
    """Every installed backend built with its policy options, or the reason it cannot be built."""
    registry = _registry()
    out: dict[str, Backend | str] = {}
    for name in registry.names("backend"):
        if name == "auto":
            continue
        try:
            out[name] = registry.get_backend(name, **dict(policy.backend_options.get(name, {})))
        except Exception as exc:
            out[name] = f"cannot be built: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return out


def _resolve_profile(profile: ProfileArg) -> Profile | None:
    return load_profile(profile_key()) if profile == "auto" else profile  # type: ignore[return-value]


def route(
    workload: Workload,
    policy: Policy | None = None,
    *,
    backends: Sequence[Backend] | Mapping[str, Backend | str] | None = None,
    profile: ProfileArg = "auto",
    ledger: CostLedger | None = None,
    circuit: Circuit | None = None,
) -> RoutingDecision:
    """Choose a backend for ``workload`` under ``policy``; raise if none can run it.

    ``backends`` defaults to every installed backend (built with ``policy.backend_options``); a
    mapping may give a reason string for a backend that could not be built. ``profile="auto"``
    loads this machine's calibration, None uses the defaults. ``ledger`` charges earlier spend
    against the budget; ``circuit`` (when known) is priced instead of a synthetic one.
    Raises `BudgetExceededError` when only the budget stands in the way, else `CapabilityError`.
    """
    policy = policy or Policy()
    if backends is None:
        pool: Mapping[str, Backend | str] = installed_backends(policy)
    elif isinstance(backends, Mapping):
        pool = backends
    else:
        pool = {b.name: b for b in backends}
    estimator = _Estimator(workload, policy, _resolve_profile(profile), circuit)
    remaining = policy.budget_usd if ledger is None else ledger.remaining_usd
    if ledger is not None and ledger.budget_usd is None:
        remaining = policy.budget_usd
    valid: list[Candidate] = []
    rejected: list[Candidate] = []
    precision: dict[str, str] = {}
    over_budget = False
    for name in sorted(pool):
        backend = pool[name]
        if policy.allowed is not None and name not in policy.allowed:
            rejected.append(
                Candidate(name, reason=f"not in Policy.allowed {sorted(policy.allowed)}", rejected=True)
            )
            continue
        if name in policy.forbidden:
            rejected.append(Candidate(name, reason="forbidden by Policy.forbidden", rejected=True))
            continue
        if isinstance(backend, str):
            rejected.append(Candidate(name, reason=backend, rejected=True))
            continue
        caps = backend.capabilities
        method, reason = _rejection(caps, backend, workload, policy)
        if reason:
            rejected.append(Candidate(name, reason=reason, rejected=True))
            continue
        seconds, calibrated = estimator.seconds(name, caps, method)
        usd = estimator.usd(caps, method)
        candidate = Candidate(name, seconds, usd, method, calibrated)
        if remaining is not None and usd > remaining + 1e-12:
            over_budget = True
            rejected.append(
                attrs.evolve(
                    candidate,
                    reason=f"over budget: estimated ${usd:.2f}, ${remaining:.2f} remains",
                    rejected=True,
                )
            )
            continue
        precision[name] = caps.precision
        valid.append(candidate)
    if not valid:
        table = "; ".join(f"{c.backend}: {c.reason}" for c in rejected) or "no backends installed"
        error = BudgetExceededError if over_budget else CapabilityError
        raise error(f"no backend can run this workload under the policy: {table}")
    ranked = _rank(valid, policy, precision)
    decision = _decide(ranked, rejected, workload, policy, "router")
    override = _registry().hook.qstore_choose_backend(workload=workload, policy=policy, decision=decision)
    if override is None or override == decision.backend:
        return decision
    names = [c.backend for c in ranked]
    if override not in names:
        raise CapabilityError(
            f"a qstore_choose_backend plugin chose {override!r}, which cannot run this workload; usable: {names}"
        )
    pick = next(c for c in ranked if c.backend == override)
    others = [attrs.evolve(c, reason=f"a plugin chose {override}") for c in ranked if c.backend != override]
    return _decide([attrs.evolve(pick, reason=""), *others], rejected, workload, policy, "plugin")


def _decide(
    ranked: list[Candidate], rejected: list[Candidate], workload: Workload, policy: Policy, by: str
) -> RoutingDecision:
    top = ranked[0]
    return RoutingDecision(
        top.backend, top.seconds or 0.0, top.usd or 0.0, top.method, top.calibrated, workload, policy,
        (*ranked, *rejected), by, policy.backend_options.get(top.backend, {}),
    )  # fmt: skip


def _bindings(request: Request) -> dict[str, np.ndarray]:
    batch = request.batch
    values = {
        k: np.broadcast_to(np.asarray(v, dtype=np.float64), (batch.size,)) for k, v in batch.values.items()
    }
    return {**values, **batch.vectors}


class AutoBackend(Backend):
    """A backend that routes every call: ``make_backend("auto")`` / ``QuantumLayer(backend="auto")``.

    Capabilities are the union of the candidates' (the precision is the policy's, else the
    weakest; ``backprop`` is left out: it belongs to a framework's in-graph engine); each call is routed once per (structure, batch, shots, outputs, gradient), the
    decision logged on ``qstore.routing`` and kept in `decisions`; spend goes to `ledger`.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        backends: Sequence[Backend] | Mapping[str, Backend | str] | None = None,
        profile: ProfileArg = "auto",
        ledger: CostLedger | None = None,
    ) -> None:
        self.policy = policy or Policy()
        if backends is None:
            self.backends: Mapping[str, Backend | str] = installed_backends(self.policy)
        elif isinstance(backends, Mapping):
            self.backends = dict(backends)
        else:
            self.backends = {b.name: b for b in backends}
        self.profile = _resolve_profile(profile)
        self.ledger = ledger or CostLedger(self.policy.budget_usd)
        self.decisions: dict[tuple[object, ...], RoutingDecision] = {}
        self._lock = threading.Lock()
        built = [b for b in self.backends.values() if isinstance(b, Backend)]
        if not built:
            raise CapabilityError("backend='auto' found no backend it can build; run `qstore backends`")
        caps = [b.capabilities for b in built]
        self._caps = Capabilities(
            name="auto",
            max_qubits=max(c.max_qubits for c in caps),
            gates=frozenset().union(*(c.gates for c in caps)),
            statevector=any(c.statevector for c in caps),
            exact_expectations=any(c.exact_expectations for c in caps),
            shots=any(c.shots for c in caps),
            native_state_prep=True,
            gradient_methods=tuple(
                m for m in GRADIENT_METHODS if m != "backprop" and any(m in c.gradient_methods for c in caps)
            ),
            devices=tuple(sorted({d for c in caps for d in c.devices})),
            precision=self.policy.precision or min(c.precision for c in caps),  # "double" < "single"
            description=f"routes each call among {sorted(b.name for b in built)}",
        )

    @property
    def capabilities(self) -> Capabilities:
        """The union of the candidates' capabilities."""
        return self._caps

    def decide(self, request: Request, gradient: str | None = None) -> RoutingDecision:
        """The (cached) routing decision for ``request``, forward only or with ``gradient``."""
        workload = Workload.from_circuit(
            request.circuit, _bindings(request), n_observables=len(request.observables), shots=request.shots,
            gradient=gradient, outputs=request.outputs, precision=self.policy.precision,
        )  # fmt: skip
        with self._lock:
            decision = self.decisions.get(workload.key)
            if decision is None:
                decision = route(workload, self.policy, backends=self.backends, profile=self.profile,
                                 ledger=self.ledger, circuit=request.circuit)  # fmt: skip
                self.decisions[workload.key] = decision
                log.info("%s", decision)
        return decision

    def _charged(self, decision: RoutingDecision, call: Any) -> Any:
        """Run ``call(backend)`` on the chosen backend (or, with fallback, the next that fits)."""
        order = [decision.backend, *(c.backend for c in decision.alternatives)]
        usd = {c.backend: c.usd or 0.0 for c in decision.candidates}
        if self.policy.fallback:
            order = [name for name in order if self.ledger.fits(usd[name])] or order[:1]
        name = order[0]
        row = self.ledger.reserve(name, usd[name])
        result = call(self.backends[name])
        meta = getattr(result, "metadata", None)
        self.ledger.settle(row, meta.cost_usd if meta is not None else usd[name])
        return result

    def execute(self, request: Request) -> Result:
        """Run on the backend routed for this request's structure, batch and shots."""
        decision = self.decide(request)
        outputs = request.outputs

        def call(backend: Backend) -> Result:
            return backend.run(request.circuit, _bindings(request), request.observables, request.shots,
                               seed=request.seed, outputs=outputs)  # fmt: skip

        result: Result = self._charged(decision, call)
        return attrs.evolve(
            result,
            info={
                **result.info,
                "routed_to": result.metadata.backend if result.metadata else decision.backend,
            },
        )

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Adjoint gradient (the one native method declared) on the backend routed for it."""
        method = "adjoint"
        decision = self.decide(request, gradient=method)

        def call(backend: Backend) -> dict[str, np.ndarray]:
            return backend.gradient(request.circuit, _bindings(request), request.observables, cotangent,
                                    method=method, seed=request.seed, wrt=wrt)  # fmt: skip

        grads: dict[str, np.ndarray] = self._charged(decision, call)
        return grads
