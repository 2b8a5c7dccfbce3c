"""The executor against the fake IonQ server: overlap, coalescing into multi-circuit jobs, faults.

Overlap is shown by the server's own count of jobs in flight at once; duplicate paid jobs by its
count of created jobs. No assertion depends on wall-clock time.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from fake_ionq import FakeIonQ

from qstore.backends.ionq import IonQAPIError
from qstore.backends.ionq.jobs import SubmitOutcomeUnknown
from qstore.core import Circuit
from qstore.core.errors import BudgetExceededError, JobError
from qstore.core.executor import Executor, RetryPolicy

pytestmark = pytest.mark.timeout(90)

CIRCUIT = Circuit(2).ry("a", 0).cnot(0, 1)
FAST = RetryPolicy(retries=2, backoff=0.01)


def _requests(backend, n: int, seed: int | None = 0, shots: int = 200):
    return [
        backend.request(CIRCUIT, {"a": 0.2 * i}, ["Z0", "Z1"], shots, seed=None if seed is None else seed + i)
        for i in range(n)
    ]


def _created(fake: FakeIonQ) -> int:
    return len(fake.jobs)


def test_seeded_requests_overlap_and_match_sequential_runs(make_backend, fake: FakeIonQ) -> None:
    fake.latency = 0.3
    backend = make_backend(max_in_flight=4)
    requests = _requests(backend, 8)
    with Executor(backend, max_in_flight=4) as ex:
        results = ex.run_many(requests, timeout=60)
    assert 2 <= fake.max_in_flight <= 4  # jobs overlapped at IonQ, never more than K at once
    assert _created(fake) == 8
    fake.latency = 0.0
    for request, result in zip(requests, results, strict=True):
        alone = backend.execute(request)
        np.testing.assert_array_equal(result.samples, alone.samples)
        np.testing.assert_array_equal(result.expectations, alone.expectations)


def test_unseeded_requests_become_one_multi_circuit_job(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend()
    requests = _requests(backend, 10, seed=None, shots=2000)
    with Executor(backend) as ex:
        results = ex.run_many(requests, timeout=60)
    assert fake.count("POST", "/jobs$") == 1
    (job,) = fake.jobs.values()
    assert job.body["type"] == "ionq.multi-circuit.v1" and len(job.child_ids) == 10
    for i, result in enumerate(results):
        exact = [np.cos(0.2 * i), np.cos(0.2 * i)]  # <Z0> = <Z1> = cos(a) after RY(a), CNOT
        assert np.all(np.abs(result.expectations[0] - exact) < 5 / np.sqrt(2000))
        assert result.metadata.extra["ionq_job_ids"] == (job.id,)


def test_429_beyond_the_jobs_own_attempts_is_retried_without_duplicates(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend(submit_attempts=2)  # x 5 tries inside qiskit-ionq: 10 refusals per attempt
    fake.inject("POST", "/jobs$", "429", times=10, retry_after=0.01)
    with Executor(backend, retry=FAST) as ex:
        (result,) = ex.run_many(_requests(backend, 1), timeout=60)
        assert ex.metrics()["retries"] == 1
    assert result.expectations.shape == (1, 2)
    assert fake.count("POST", "/jobs$") == 11 and _created(fake) == 1


def test_persistent_429_ends_in_a_clear_error_after_bounded_retries(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend(submit_attempts=2)
    fake.inject("POST", "/jobs$", "429", times=1000, retry_after=0.01)
    with Executor(backend, retry=FAST) as ex, pytest.raises(JobError, match=r"429.*gave up after 3 attempts"):
        ex.run_many(_requests(backend, 1), timeout=60)
    assert fake.count("POST", "/jobs$") == 3 * 2 * 5 and _created(fake) == 0


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [("500", IonQAPIError, "500"), ("drop", SubmitOutcomeUnknown, "not resent")],
)
def test_submit_failures_that_may_have_created_a_job_are_not_retried(
    make_backend, fake: FakeIonQ, kind: str, error: type[Exception], message: str
) -> None:
    backend = make_backend()
    fake.inject("POST", "/jobs$", kind)
    with Executor(backend, retry=FAST) as ex:
        jobs = ex.map(_requests(backend, 2))  # two jobs: the fault hits whichever is sent first
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(job.result(60).expectations.shape)
            except error as exc:
                assert message in str(exc)
                outcomes.append("failed")
        assert sorted(map(str, outcomes)) == ["(1, 2)", "failed"]  # the other request is unaffected
        assert ex.metrics()["retries"] == 0
    assert fake.count("POST", "/jobs$") == 2


def test_a_failed_job_fails_its_requests_and_is_not_resubmitted(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend()
    fake.inject("POST", "/jobs$", "fail")
    with Executor(backend, retry=FAST) as ex:
        jobs = ex.map(_requests(backend, 4, seed=None))  # one coalesced job
        for job in jobs:
            with pytest.raises(IonQAPIError, match="failed: SimulationError: injected failure"):
                job.result(60)
    assert fake.count("POST", "/jobs$") == 1


def test_a_job_that_never_finishes_times_out_and_is_cancelled_at_ionq(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend()
    fake.inject("POST", "/jobs$", "stuck")
    with Executor(backend, timeout=0.3) as ex:
        (job,) = ex.map(_requests(backend, 1))
        with pytest.raises(JobError, match=r"did not finish within 0\.3 s; it was cancelled"):
            job.result(60)
    (remote,) = fake.jobs.values()
    assert remote.status == "canceled" and fake.count("PUT", "/status/cancel$") == 1


def test_cancelling_every_request_of_a_job_cancels_it_at_ionq(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend()
    fake.inject("POST", "/jobs$", "stuck")
    ex = Executor(backend)
    jobs = ex.map(_requests(backend, 3, seed=None))
    for _ in range(3000):  # until the coalesced job reaches the server
        if fake.jobs:
            break
        time.sleep(0.01)
    jobs[0].cancel()
    assert fake.count("PUT", "/status/cancel$") == 0  # two requests still want the result
    jobs[1].cancel()
    jobs[2].cancel()
    ex.close()
    (remote,) = fake.jobs.values()
    assert remote.status == "canceled" and fake.count("PUT", "/status/cancel$") == 1
    assert all(job.status() == "cancelled" for job in jobs)


def test_seeded_results_are_served_from_the_cache(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend()
    with Executor(backend, cache=True) as ex:
        first = ex.run_many(_requests(backend, 3), timeout=60)
        again = ex.run_many(_requests(backend, 3), timeout=60)
        assert ex.metrics()["cache_hits"] == 3
    assert _created(fake) == 3
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)


def test_the_budget_is_checked_before_every_submission(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend("forte-1", marketplace="aws", budget_usd=5.0)  # $8.30 per 100-shot circuit
    with Executor(backend, retry=FAST) as ex:
        jobs = ex.map(_requests(backend, 3, shots=100))
        for job in jobs:
            with pytest.raises(BudgetExceededError):
                job.result(60)
        assert ex.metrics()["retries"] == 0
    assert fake.count("POST", "/jobs$") == 0


def test_a_torch_layer_runs_through_the_executor_with_identical_results(make_backend, fake: FakeIonQ) -> None:
    torch = pytest.importorskip("torch")
    from qstore.torch import QuantumLayer

    backend = make_backend()
    x = torch.tensor(np.random.default_rng(0).uniform(-1, 1, (4, 2)), dtype=torch.float64)
    with Executor(backend, cache=True) as ex:
        layers = [
            QuantumLayer(2, depth=1, backend=b, shots=500, seed=3, diff_method="parameter-shift").double()
            for b in (backend, ex.as_backend())
        ]
        with torch.no_grad():
            layers[1].theta.copy_(layers[0].theta)
        outs = [layer(x) for layer in layers]
        for out in outs:
            out.sum().backward()
        assert ex.metrics()["requests"] == 2  # the forward batch and its shifted circuits
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=0)
    torch.testing.assert_close(layers[1].theta.grad, layers[0].theta.grad, rtol=0, atol=0)
