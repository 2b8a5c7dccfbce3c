"""A fake IonQ v0.4 API on 127.0.0.1 for running the real qiskit-ionq client in tests.

It is a real HTTP server (``http.server`` in a thread) speaking what qiskit-ionq 1.1.1 uses:
``GET /v0.4/backends`` and ``/backends/{id}``, ``POST /jobs`` (``ionq.circuit.v1`` and
``ionq.multi-circuit.v1``, ``qis`` and ``native`` gatesets), ``GET /jobs/{id}`` stepping through
``submitted -> ready -> started -> completed`` (never ``running``), results at
``/jobs/{id}/results/probabilities`` (``/aggregated`` for multi-circuit jobs), ``GET
/jobs/{id}/cost``, and ``PUT /jobs/{id}/status/cancel``. Every job endpoint checks
``Authorization: apiKey <key>``.

Results are true: the submitted IonQ gate JSON is mapped onto the core gate table and run by the
NumPy reference engine; probabilities are keyed IonQ's way (qubit i is bit 2**i). QPU jobs and
noisy-simulator jobs return frequencies of ``shots`` seeded samples, as a device would.

``latency`` (seconds) keeps every job from completing until that long after it was created,
like a device that takes time to run it.

Faults are queued with `FakeIonQ.inject` and consumed by the matching requests, so none lasts
forever (qiskit-ionq retries some GETs without end): HTTP 401/429/500 (429 optionally with
``Retry-After``), a dropped connection, a job that fails, a job that stays queued, and a 400
whose message echoes the request's ``Authorization`` header (as a careless proxy might).
Setting ``results_origin`` makes job views give absolute results URLs on that origin; every
request's ``Authorization`` header is recorded in ``authorizations``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import numpy as np

from qstore.core import Circuit, NumpyBackend
from qstore.core.circuit import Operation

API_KEY = "sk-test-5f0c1d2e-DO-NOT-LEAK"
"""The key the tests' fake accepts; tests assert it never shows up in logs, errors or reprs."""

API_PREFIX = "/v0.4"
STATUS_STEPS = ("submitted", "ready", "started", "completed")
FINAL = ("completed", "failed", "canceled")

_QIS_1Q = {"x": "x", "y": "y", "z": "z", "h": "h", "s": "s", "si": "sdg", "t": "t", "ti": "tdg",
           "v": "sx", "vi": "sxdg", "rx": "rx", "ry": "ry", "rz": "rz", "not": "x"}  # fmt: skip
_QIS_CONTROLLED = {"x": "cnot", "not": "cnot", "cnot": "cnot", "y": "cy", "z": "cz",
                   "rx": "crx", "ry": "cry", "rz": "crz"}  # fmt: skip
_QIS_2Q = {"swap": "swap", "xx": "rxx", "yy": "ryy", "zz": "rzz"}


class InvalidInput(ValueError):
    """A submitted circuit the fake cannot run (mapped to HTTP 400)."""


def _targets(gate: dict[str, Any]) -> list[int]:
    if "targets" in gate:
        return [int(t) for t in gate["targets"]]
    return [int(gate["target"])]


def _controls(gate: dict[str, Any]) -> list[int]:
    if "controls" in gate:
        return [int(c) for c in gate["controls"]]
    return [int(gate["control"])] if "control" in gate else []


def ionq_gate_to_ops(gate: dict[str, Any], gateset: str) -> list[Operation]:
    """One IonQ gate JSON object as core IR operations (phases stay in turns)."""
    name = gate.get("gate")
    targets, controls = _targets(gate), _controls(gate)
    if gateset == "native":
        if name == "gpi":
            return [Operation("gpi", targets, (float(gate["phase"]),))]
        if name == "gpi2":
            return [Operation("gpi2", targets, (float(gate["phase"]),))]
        if name == "ms":
            phases = [float(p) for p in gate.get("phases", (0.0, 0.0))]
            return [Operation("ms", targets, (*phases, float(gate.get("angle", 0.25))))]
        if name == "zz":
            return [Operation("zz", targets, (float(gate["angle"]),))]
        raise InvalidInput(f"unsupported native gate {name!r}")
    rotation = (float(gate["rotation"]),) if "rotation" in gate else ()
    if controls:
        if name in ("x", "not", "cnot") and len(controls) == 2:
            return [Operation("ccx", (*controls, *targets), ())]
        if name in _QIS_CONTROLLED and len(controls) == 1:
            return [Operation(_QIS_CONTROLLED[name], (*controls, *targets), rotation)]
        raise InvalidInput(f"unsupported controlled gate {name!r} with controls {controls}")
    if name in _QIS_1Q:
        return [Operation(_QIS_1Q[name], (t,), rotation) for t in targets]
    if name in _QIS_2Q:
        return [Operation(_QIS_2Q[name], targets, rotation)]
    raise InvalidInput(f"unsupported qis gate {name!r}")


def ionq_probabilities(n_qubits: int, circuit: list[dict[str, Any]], gateset: str) -> np.ndarray:
    """Probabilities indexed IonQ's way (qubit i is bit 2**i), from the reference engine."""
    ops = [op for gate in circuit for op in ionq_gate_to_ops(gate, gateset)]
    for op in ops:
        if max(op.qubits) >= n_qubits:
            raise InvalidInput(f"gate on qubit {max(op.qubits)} but input.qubits is {n_qubits}")
    result = NumpyBackend().run(Circuit(n_qubits, tuple(ops)), outputs=("probabilities",))
    assert result.probabilities is not None
    probs = result.probabilities[0]
    index = np.arange(2**n_qubits)
    little = np.zeros_like(index)
    for q in range(n_qubits):
        little |= ((index >> (n_qubits - 1 - q)) & 1) << q
    out = np.zeros_like(probs)
    out[little] = probs
    return out


@attrs.define
class Fault:
    """A fault served to the next ``times`` requests matching ``method`` and ``path`` (a regex)."""

    method: str
    path: str
    kind: str
    times: int = 1
    retry_after: float | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault still applies to a request."""
        return self.times > 0 and self.method == method and re.search(self.path, path) is not None


@attrs.define
class FakeJob:
    """Server-side state of one job."""

    id: str
    body: dict[str, Any]
    probabilities: list[dict[str, float]]
    child_ids: list[str]
    steps: int = 0
    status: str = "submitted"
    created: float = attrs.field(factory=time.monotonic)
    fail: bool = False
    stuck: bool = False


class FakeIonQ:
    """The fake server: ``with FakeIonQ(api_key="k") as fake: fake.url`` → ``http://127.0.0.1:P/v0.4``."""

    def __init__(
        self, api_key: str = API_KEY, *, polls_per_step: int = 1, qubits: int = 25, latency: float = 0.0
    ) -> None:
        self.api_key = api_key
        self.polls_per_step = polls_per_step
        self.latency = latency
        self.qubits = qubits
        self.jobs: dict[str, FakeJob] = {}
        self.children: dict[str, tuple[str, int]] = {}
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []
        self.results_origin = ""
        self.bodies: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """Base URL to give the client (ends in ``/v0.4``, as qiskit-ionq needs)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{API_PREFIX}"

    def __enter__(self) -> FakeIonQ:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(
        self, method: str, path: str, kind: str, times: int = 1, retry_after: float | None = None
    ) -> Fault:
        """Queue a fault: kind is an HTTP code (``"401"``, ``"429"``, ``"500"``), ``"drop"``,
        ``"fail"`` or ``"stuck"`` (the last two apply to jobs created by matching POSTs), or
        ``"echo"`` (HTTP 400 quoting the request's Authorization header)."""
        fault = Fault(method, path, kind, times, retry_after)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching the request, if any."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def in_flight(self) -> int:
        """Jobs accepted and not yet final."""
        return sum(1 for j in self.jobs.values() if j.status not in FINAL)

    def count(self, method: str, pattern: str = "") -> int:
        """How many requests matched ``method`` and the path regex ``pattern``."""
        return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    # -- job life cycle --------------------------------------------------------------------------

    def create_job(self, body: dict[str, Any], fault: Fault | None) -> FakeJob:
        """Validate a ``POST /jobs`` body, run every circuit, and store the job."""
        for key in ("type", "backend", "input"):
            if key not in body:
                raise InvalidInput(f'"{key}" is required')
        spec = body["input"]
        gateset = spec.get("gateset", "qis")
        n = int(spec["qubits"])
        if body["type"] == "ionq.multi-circuit.v1":
            circuits = [c["circuit"] for c in spec["circuits"]]
        elif body["type"] == "ionq.circuit.v1":
            circuits = [spec["circuit"]]
        else:
            raise InvalidInput(f'"type" {body["type"]!r} is not supported by the fake')
        sampled = body["backend"] != "simulator" or (body.get("noise") or {}).get("model", "ideal") != "ideal"
        seed = (body.get("noise") or {}).get("seed")
        rng = np.random.default_rng(seed)
        shots = int(body.get("shots") or 100)
        probabilities = []
        for circuit in circuits:
            probs = ionq_probabilities(n, circuit, gateset)
            if sampled:
                probs = np.bincount(
                    rng.choice(probs.size, shots, p=probs / probs.sum()), minlength=probs.size
                )
                probs = probs / shots
            probabilities.append({str(k): float(p) for k, p in enumerate(probs) if p > 1e-12})
        job = FakeJob(str(uuid.uuid4()), body, probabilities, [])
        if body["type"] == "ionq.multi-circuit.v1":
            job.child_ids = [str(uuid.uuid4()) for _ in circuits]
            for i, child in enumerate(job.child_ids):
                self.children[child] = (job.id, i)
        if fault is not None:
            job.fail = fault.kind == "fail"
            job.stuck = fault.kind == "stuck"
        with self.lock:
            self.jobs[job.id] = job
            self.max_in_flight = max(self.max_in_flight, self.in_flight())
        return job

    def advance(self, job: FakeJob) -> None:
        """One status poll: move through the status steps every ``polls_per_step`` polls."""
        if job.status in FINAL:
            return
        job.steps += 1
        index = min(job.steps // self.polls_per_step, len(STATUS_STEPS) - 1)
        if job.stuck:
            index = min(index, 1)
        elif time.monotonic() - job.created < self.latency:  # still running: not completed yet
            index = min(index, len(STATUS_STEPS) - 2)
        status = STATUS_STEPS[index]
        job.status = "failed" if job.fail and status == "completed" else status

    def job_view(self, job: FakeJob) -> dict[str, Any]:
        """The ``GET /jobs/{id}`` body, in the legacy v0.4 ``results.*.url`` form qiskit-ionq reads."""
        multi = bool(job.child_ids)
        base = f"{self.results_origin}{API_PREFIX}/jobs/{job.id}/results"
        view: dict[str, Any] = {
            "id": job.id,
            "status": job.status,
            "type": job.body["type"],
            "backend": job.body["backend"],
            "dry_run": False,
            "metadata": job.body.get("metadata", {}),
            "stats": {"qubits": job.body["input"]["qubits"], "circuits": len(job.probabilities)},
            "execution_duration_ms": 12,
            "child_job_ids": job.child_ids or None,
            "failure": None,
            "results": None,
        }
        if job.status == "completed":
            view["results"] = {
                "probabilities": {"url": f"{base}/probabilities" + ("/aggregated" if multi else "")},
                "histogram": {"url": f"{base}/histogram"},
            }
        if job.status == "failed":
            view["failure"] = {
                "code": "SimulationError",
                "error": "injected failure",
                "message": "injected failure",
            }
        return view

    def cost(self, job: FakeJob) -> dict[str, Any]:
        """``GET /jobs/{id}/cost``; the fake bills $0.01 per circuit on QPUs once completed."""
        value = 0.0 if job.body["backend"] == "simulator" else 0.01 * len(job.probabilities)
        out: dict[str, Any] = {"dry_run": False, "estimated_cost": {"unit": "usd", "value": value}}
        if job.status == "completed":
            out["actual_cost"] = {"unit": "usd", "value": value}
        return out


def _handler(fake: FakeIonQ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
            self._send(code, {"statusCode": code, "error": error, "message": message}, headers)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _dispatch(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            with fake.lock:  # one index in both lists
                fake.requests.append((method, path))
                fake.authorizations.append(self.headers.get("Authorization"))
            body = self._body() if method in ("POST", "PUT") else {}
            if method == "POST":
                fake.bodies.append(body)
            fault = fake.take_fault(method, path)
            if fault is not None and fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault is not None and fault.kind == "echo":
                received = self.headers.get("Authorization")
                self._error(400, "Bad Request", f"malformed header Authorization: {received}")
                return
            if fault is not None and fault.kind.isdigit():
                code = int(fault.kind)
                headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
                messages = {401: "Invalid key provided.", 429: "Too Many Requests", 500: "Internal error"}
                self._error(code, {401: "Unauthorized Error", 429: "Too Many Requests"}.get(code, "Error"),
                            messages.get(code, "Injected error"), headers)  # fmt: skip
                return
            if not path.startswith(API_PREFIX + "/"):
                self._error(404, "Not Found Error", "the fake serves only /v0.4")
                return
            parts = path[len(API_PREFIX) + 1 :].split("/")
            if parts[0] == "backends" and method == "GET":
                self._backends(parts)
                return
            if self.headers.get("Authorization") != f"apiKey {fake.api_key}":
                self._error(401, "Unauthorized Error", "Invalid key provided. Check your API key.")
                return
            try:
                self._jobs(method, parts, body, fault)
            except InvalidInput as exc:
                self._send(400, {"statusCode": 400, "error": "Bad Request", "message": str(exc)})

        def _backends(self, parts: list[str]) -> None:
            catalog = {
                "simulator": {"backend": "simulator", "status": "available", "qubits": 29,
                              "noise_models": ["ideal", "aria-1", "forte-1", "forte-enterprise-1"]},
                "qpu.aria-1": {"backend": "qpu.aria-1", "status": "available", "qubits": 25,
                               "supported_native_gates": ["gpi", "gpi2", "ms"]},
                "qpu.forte-1": {"backend": "qpu.forte-1", "status": "available", "qubits": 36,
                                "supported_native_gates": ["gpi", "gpi2", "zz"]},
                "qpu.forte-enterprise-1": {"backend": "qpu.forte-enterprise-1", "status": "available",
                                           "qubits": 36, "supported_native_gates": ["gpi", "gpi2", "zz"]},
            }  # fmt: skip
            if len(parts) == 1:
                self._send(200, list(catalog.values()))
            elif parts[1] in catalog:
                self._send(200, catalog[parts[1]])
            else:
                self._error(404, "Not Found Error", f"no backend {parts[1]!r}")

        def _jobs(self, method: str, parts: list[str], body: dict[str, Any], fault: Fault | None) -> None:
            if parts == ["jobs"] and method == "POST":
                job = fake.create_job(body, fault)
                self._send(201, {"id": job.id, "status": "submitted", "session_id": None})
                return
            if len(parts) < 2 or parts[0] != "jobs":
                self._error(404, "Not Found Error", "unknown path")
                return
            job_id = parts[1]
            child = fake.children.get(job_id)
            job = fake.jobs.get(child[0] if child else job_id)
            if job is None:
                self._error(404, "Not Found Error", f"no job {job_id}")
                return
            rest = parts[2:]
            if method == "GET" and not rest:
                with fake.lock:
                    if child is None:
                        fake.advance(job)
                    view = fake.job_view(job)
                if child is not None:
                    view = {**view, "id": job_id, "child_job_ids": None}
                self._send(200, view)
            elif method == "GET" and rest[:2] == ["results", "probabilities"]:
                if job.status != "completed":
                    self._error(404, "Not Found Error", "results are not ready")
                elif rest[2:] == ["aggregated"]:
                    self._send(200, dict(zip(job.child_ids, job.probabilities, strict=True)))
                else:
                    self._send(200, job.probabilities[child[1] if child else 0])
            elif method == "GET" and rest == ["cost"]:
                self._send(200, fake.cost(job))
            elif method == "PUT" and rest == ["status", "cancel"]:
                with fake.lock:
                    if job.status not in FINAL:
                        job.status = "canceled"
                self._send(200, {"id": job.id, "status": job.status})
            else:
                self._error(404, "Not Found Error", "unknown path")

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

    return Handler


def iter_gates(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every gate of a submitted job body (single or multi-circuit)."""
    spec = body["input"]
    for circuit in [c["circuit"] for c in spec["circuits"]] if "circuits" in spec else [spec["circuit"]]:
        yield from circuit
