"""The backend contract: validation up front, typed results, jobs, and capability-driven choices."""

from __future__ import annotations

import asyncio
import threading

import attrs
import numpy as np
import pytest

from qstore.core import (
    Backend,
    BindingError,
    Capabilities,
    CapabilityError,
    Circuit,
    GradientError,
    Job,
    JobError,
    NumpyBackend,
    ObservableError,
    Result,
)
from qstore.core import backend as backend_module
from qstore.core.backend import Request
from qstore.core.gates import GATES


class SmallBackend(Backend):
    """The reference engine behind narrower capabilities: a few gates, a few qubits."""

    def __init__(self, **capabilities: object) -> None:
        self.engine = NumpyBackend()
        defaults: dict[str, object] = {"name": "small", "max_qubits": 3, "gates": {"h", "cnot", "ry", "rz"}}
        self._capabilities = Capabilities(**{**defaults, **capabilities})  # type: ignore[arg-type]

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def execute(self, request: Request) -> Result:
        return self.engine.execute(request)


class GatedBackend(SmallBackend):
    """Blocks in `execute` until its gate opens, so tests can see queued and running jobs."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(name="gated")
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)
        self.fail = fail

    def execute(self, request: Request) -> Result:
        self.started.release()
        if not self.gate.wait(timeout=30):
            raise RuntimeError("test gate never opened")
        if self.fail:
            raise RuntimeError("device on fire")
        return super().execute(request)


BELL = Circuit(2).h(0).cnot(0, 1)


# -- results -------------------------------------------------------------------------------------


def test_result_shapes_and_metadata() -> None:
    circuit = Circuit(3).h(0).ry("a", 1).cnot(0, 2)
    result = NumpyBackend().run(
        circuit, {"a": [0.1, 0.2]}, ["Z0", "X1", "Z0 Z2"], outputs=("state", "probabilities")
    )
    assert result.expectations.shape == (2, 3)
    assert result.statevectors.shape == (2, 8) and result.probabilities.shape == (2, 8)
    assert result.samples is None
    meta = result.metadata
    assert (meta.backend, meta.n_qubits, meta.batch_size, meta.shots) == ("numpy", 3, 2, None)
    assert meta.seconds > 0
    sampled = NumpyBackend().run(circuit, {"a": [0.1, 0.2]}, ["Z0"], shots=7, seed=3)
    assert sampled.samples.shape == (2, 7) and sampled.metadata.shots == 7 and sampled.metadata.seed == 3
    assert sampled.statevectors is None


def test_counts_bitstrings_list_qubit_zero_first() -> None:
    circuit = Circuit(3).x(0).ry("a", 2)
    result = NumpyBackend().run(circuit, {"a": [0.0, np.pi]}, shots=10, seed=0)
    assert result.counts(0) == {"100": 10}
    assert result.counts(1) == {"101": 10}
    bell = NumpyBackend().run(BELL, shots=1000, seed=1).counts()
    assert set(bell) == {"00", "11"} and sum(bell.values()) == 1000
    with pytest.raises(CapabilityError, match="no samples: run with shots=<int>"):
        NumpyBackend().run(BELL).counts()


# -- validation ----------------------------------------------------------------------------------


def test_unsupported_gates_are_rejected_with_the_supported_list() -> None:
    with pytest.raises(
        CapabilityError,
        match=r"'small' does not support gate\(s\) \['crx', 'x'\]; it supports \['cnot', 'h', 'ry', 'rz'\]",
    ):
        SmallBackend().run(Circuit(2).x(0).crx(0.1, 0, 1).h(1))
    result = SmallBackend().run(BELL, observables=["Z0 Z1"])
    np.testing.assert_allclose(result.expectations, [[1.0]])
    assert result.metadata.backend == "small"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"circuit": Circuit(4).h(3)}, CapabilityError, "runs at most 3 qubits; the circuit has 4"),
        ({"observables": ["Z2"]}, CapabilityError, "acts on qubit 2, beyond the circuit's 2"),
        ({"observables": ["Q0"]}, ObservableError, "bad factor"),
        ({"shots": 0}, CapabilityError, "an integer from 1 to 1e\\+09, got 0"),
        ({"shots": -5}, CapabilityError, "an integer from 1"),
        ({"shots": True}, CapabilityError, "an integer from 1 to 1e\\+09, got True"),
        ({"shots": 10.0}, CapabilityError, "got 10.0"),
        ({"shots": 10**11}, CapabilityError, "got 100000000000"),
        ({"seed": -1}, CapabilityError, "seed must be None or a non-negative integer, got -1"),
        ({"seed": 2.5}, CapabilityError, "got 2.5"),
        ({"seed": "x"}, CapabilityError, "got 'x'"),
        ({"outputs": ("statevector",)}, CapabilityError, r"unknown output\(s\) \['statevector'\]"),
        ({"outputs": ("samples",)}, CapabilityError, "samples need shots"),
        ({"bindings": {"a": 1.0}}, BindingError, "not symbols of this circuit"),
        ({"circuit": Circuit(2).ry("a", 0)}, BindingError, "no value bound"),
    ],
)
def test_run_and_submit_validate_input_before_running(kwargs: dict, error: type, message: str) -> None:
    backend = GatedBackend()
    call = {"circuit": BELL, "bindings": None, "observables": ["Z0"], "shots": None, **kwargs}
    with pytest.raises(error, match=message):
        backend.run(**call)
    with pytest.raises(error, match=message):
        backend.submit(**call)  # raises here, in the caller, not later in the job
    assert not backend.started.acquire(timeout=0.05)  # nothing ever reached execute


def test_capability_flags_are_enforced() -> None:
    with pytest.raises(CapabilityError, match="only samples: pass shots"):
        SmallBackend(exact_expectations=False).run(BELL, observables=["Z0"])
    with pytest.raises(CapabilityError, match="does not sample; use shots=None"):
        SmallBackend(shots=False).run(BELL, observables=["Z0"], shots=100)
    with pytest.raises(CapabilityError, match="cannot return states or exact probabilities"):
        SmallBackend(statevector=False).run(BELL, outputs=("state",))
    with pytest.raises(CapabilityError, match="circuit must be a qstore Circuit, got str"):
        SmallBackend().run("h 0")  # type: ignore[arg-type]


def test_numpy_backend_supports_every_gate() -> None:
    caps = NumpyBackend().capabilities
    assert caps.gates == frozenset(GATES)
    assert caps.max_qubits >= 20
    assert set(caps.gradient_methods) == {"adjoint", "parameter-shift", "finite-diff", "spsa"}
    assert repr(NumpyBackend()) == "<NumpyBackend 'numpy'>"


# -- capabilities --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("methods", "best"),
    [
        (("finite-diff", "spsa", "parameter-shift", "adjoint"), "adjoint"),
        (("finite-diff", "backprop", "parameter-shift"), "backprop"),
        (("finite-diff", "spsa", "parameter-shift"), "parameter-shift"),
        (("finite-diff", "spsa"), "spsa"),
        (("finite-diff",), "finite-diff"),
    ],
)
def test_best_gradient_method(methods: tuple[str, ...], best: str) -> None:
    assert Capabilities("x", 2, {"h"}, gradient_methods=methods).best_gradient_method() == best


def test_no_gradient_method_is_an_error() -> None:
    caps = Capabilities("nograd", 2, {"h"}, gradient_methods=())
    with pytest.raises(GradientError, match="'nograd' declares no gradient method"):
        caps.best_gradient_method()
    with pytest.raises(GradientError, match="declares no gradient method"):
        SmallBackend(gradient_methods=()).gradient(Circuit(1).ry("a", 0), {"a": 0.1}, ["Z0"], np.ones((1, 1)))


def test_vjp_uses_only_declared_methods() -> None:
    backend = SmallBackend()  # parameter-shift, finite-diff, spsa by default
    circuit = Circuit(1).ry("a", 0)
    with pytest.raises(
        GradientError, match=r"does not support gradient method 'adjoint'; it supports \['parameter-shift'"
    ):
        backend.gradient(circuit, {"a": 0.3}, ["Z0"], np.ones((1, 1)), method="adjoint")
    grads = backend.gradient(circuit, {"a": 0.3}, ["Z0"], np.ones((1, 1)))  # auto: parameter-shift
    np.testing.assert_allclose(grads["a"], [-np.sin(0.3)], atol=1e-12)


def test_declaring_adjoint_without_implementing_it_is_a_clear_error() -> None:
    backend = SmallBackend(gradient_methods=("adjoint",))
    with pytest.raises(GradientError, match="'small' implements no native gradient method"):
        backend.gradient(Circuit(1).ry("a", 0), {"a": 0.3}, ["Z0"], np.ones((1, 1)))


def test_capabilities_are_frozen_values() -> None:
    caps = Capabilities("x", 2, ["h", "cnot", "h"])
    assert caps.gates == frozenset({"h", "cnot"})
    assert caps == Capabilities("x", 2, {"cnot", "h"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        caps.max_qubits = 3  # type: ignore[misc]


# -- jobs ----------------------------------------------------------------------------------------


def test_job_result_status_and_timeout() -> None:
    backend = GatedBackend()
    try:
        job = backend.submit(BELL, observables=["Z0 Z1"])
        assert isinstance(job, Job)
        assert backend.started.acquire(timeout=5)
        assert job.status() == "running" and not job.done()
        with pytest.raises(JobError, match=r"did not finish within 0\.05 s \(status: running\)"):
            job.result(timeout=0.05)
        assert job.id in repr(job) and "running" in repr(job)
    finally:
        backend.gate.set()
    result = job.result(timeout=10)
    np.testing.assert_allclose(result.expectations, [[1.0]])
    assert job.status() == "done" and job.done()
    assert not job.cancel()  # too late


def test_queued_jobs_can_be_cancelled() -> None:
    backend = GatedBackend()
    workers = backend_module._shared_pool()._max_workers
    try:
        blockers = [backend.submit(BELL) for _ in range(workers)]
        for _ in range(workers):
            assert backend.started.acquire(timeout=5)
        queued = backend.submit(BELL)
        assert queued.status() == "queued"
        assert queued.cancel()
        assert queued.status() == "cancelled" and queued.done()
        with pytest.raises(JobError, match="was cancelled"):
            queued.result()
    finally:
        backend.gate.set()
    for job in blockers:
        assert job.result(timeout=10).metadata.backend == "gated"


def test_a_failing_job_reports_failed_and_reraises() -> None:
    backend = GatedBackend(fail=True)
    backend.gate.set()
    job = backend.submit(BELL)
    with pytest.raises(RuntimeError, match="device on fire"):
        job.result(timeout=10)
    assert job.status() == "failed"


def test_jobs_can_be_awaited() -> None:
    backend = NumpyBackend()

    async def main() -> list[Result]:
        jobs = [backend.submit(Circuit(1).ry("a", 0), {"a": a}, ["Z0"]) for a in (0.0, np.pi)]
        return list(await asyncio.gather(*jobs))

    results = asyncio.run(main())
    np.testing.assert_allclose([r.expectations[0, 0] for r in results], [1.0, -1.0], atol=1e-12)


def test_submit_passes_seed_and_outputs() -> None:
    backend = NumpyBackend()
    job = backend.submit(BELL, shots=50, seed=9, outputs=("state",))
    direct = backend.run(BELL, shots=50, seed=9, outputs=("state",))
    result = job.result(timeout=10)
    np.testing.assert_array_equal(result.samples, direct.samples)
    np.testing.assert_allclose(result.statevectors, direct.statevectors)


# -- the request contract ------------------------------------------------------------------------


def test_request_is_one_frozen_validated_value() -> None:
    backend = NumpyBackend()
    request = backend.request(Circuit(1).ry("a", 0), {"a": [0.1, 0.2]}, "Z0", shots=10, seed=4)
    assert (request.size, request.shots, request.seed) == (2, 10, 4)
    assert request.outputs == {"expectations", "samples"}
    assert request.wants("samples") and not request.wants("state")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.shots = 3  # type: ignore[misc]
    result = backend.execute(request)
    assert result.metadata is None  # implementers never fill metadata: run stamps it
    assert result.samples.shape == (2, 10)


def test_outputs_select_what_is_computed() -> None:
    backend = NumpyBackend()
    only_state = backend.run(BELL, outputs=("state",))
    assert only_state.expectations is None and only_state.probabilities is None
    np.testing.assert_allclose(np.abs(only_state.statevectors[0]) ** 2, [0.5, 0, 0, 0.5], atol=1e-12)
    no_samples = backend.run(BELL, observables="Z0 Z1", shots=100, seed=1, outputs=())
    assert no_samples.samples is None and no_samples.expectations.shape == (1, 1)
    probs = backend.run(BELL, outputs=("probabilities",)).probabilities
    np.testing.assert_allclose(probs, [[0.5, 0, 0, 0.5]], atol=1e-12)


class PricedBackend(SmallBackend):
    """Adds a cost model, and optionally reports a measured cost in ``info``."""

    def __init__(self, measured: float | None = None) -> None:
        super().__init__(name="priced", cost_model=self)
        self.measured = measured

    def estimate(self, circuit: Circuit, batch_size: int, shots: int | None) -> float:
        return 0.01 * batch_size * (shots or 1)

    def execute(self, request: Request) -> Result:
        result = super().execute(request)
        return result if self.measured is None else attrs.evolve(result, info={"cost_usd": self.measured})


def test_run_stamps_metadata_and_cost() -> None:
    modelled = PricedBackend().run(BELL, {}, "Z0", shots=100, seed=2)
    meta = modelled.metadata
    assert (meta.backend, meta.n_qubits, meta.batch_size, meta.shots, meta.seed) == ("priced", 2, 1, 100, 2)
    assert meta.cost_usd == pytest.approx(1.0) and meta.seconds > 0
    measured = PricedBackend(measured=0.25).run(BELL, {}, "Z0", shots=100)
    assert measured.metadata.cost_usd == 0.25 and measured.metadata.extra["cost_usd"] == 0.25
    job = PricedBackend().submit(BELL, {}, "Z0", shots=10)
    assert job.result(timeout=10).metadata.cost_usd == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gradient_methods", ("adjoint", "magic"), r"unknown gradient method \['magic'\]"),
        ("devices", ("gpu",), "devices must be a non-empty list of 'cpu', 'cuda', 'cuda:N'"),
        ("devices", (), "devices must be a non-empty list"),
        ("precision", "complex64", r"precision must be one of \['single', 'double'\]"),
    ],
)
def test_capabilities_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(CapabilityError, match=message):
        Capabilities("x", 2, {"h"}, **{field: value})  # type: ignore[arg-type]
    assert Capabilities("x", 2, {"h"}, devices=("cpu", "cuda", "cuda:1")).devices == ("cpu", "cuda", "cuda:1")


def test_native_methods_are_exact_only() -> None:
    circuit = Circuit(1).ry("a", 0)
    with pytest.raises(GradientError, match="adjoint differentiation is exact: use shots=None"):
        NumpyBackend().gradient(circuit, {"a": 0.3}, "Z0", method="adjoint", shots=100)
    with pytest.raises(GradientError, match="unknown gradient method 'magic'"):
        NumpyBackend().gradient(circuit, {"a": 0.3}, "Z0", method="magic")
    assert NumpyBackend().gradient_method("auto", 100) == "parameter-shift"
    grads = NumpyBackend().gradient(circuit, {"a": [0.3, 1.0]}, "Z0")  # cotangent defaults to ones
    np.testing.assert_allclose(grads["a"], -np.sin([0.3, 1.0]), atol=1e-12)
