"""Every injected fault ends in a result or a clear error within bounded time, within the budget."""

from __future__ import annotations

import socket
import time

import pytest
from fake_ionq import FakeIonQ

from qstore.backends.ionq import IonQAPIError, IonQAuthenticationError
from qstore.backends.ionq.jobs import SubmitOutcomeUnknown
from qstore.core import Circuit
from qstore.core.errors import CapabilityError, JobError, QstoreError
from qstore.core.routing_policy import CostLedger

pytestmark = pytest.mark.timeout(60)

BELL = Circuit(2).h(0).cnot(0, 1)


@pytest.fixture
def qpu(make_backend):
    """A Forte-1 QPU priced on Braket ($0.30 + $0.08/shot per circuit) with a $10 budget."""
    return make_backend("forte-1", marketplace="aws", budget_usd=10.0)


def _ok(result) -> None:
    assert set(result.counts()) <= {"00", "11"} and sum(result.counts().values()) == 20


def test_401_on_submit(qpu, fake: FakeIonQ) -> None:
    fake.inject("POST", "/jobs$", "401")
    with pytest.raises(IonQAuthenticationError, match="401"):
        qpu.run(BELL, shots=20)
    assert qpu.ledger.remaining_usd == pytest.approx(10.0)


def test_429_without_retry_after_is_retried_with_backoff(qpu, fake: FakeIonQ) -> None:
    fake.inject("POST", "/jobs$", "429", times=6)  # qiskit-ionq retries 5 times at once, then we back off
    _ok(qpu.run(BELL, shots=20, seed=1))
    assert fake.count("POST") == 7
    assert qpu.ledger.remaining_usd == pytest.approx(10.0 - 0.01)  # the fake reports $0.01


def test_429_with_retry_after_is_honoured(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend("forte-1", marketplace="aws", budget_usd=10.0, max_retry_after=5.0)
    fake.inject("POST", "/jobs$", "429", times=5, retry_after=0.4)
    start = time.monotonic()
    _ok(backend.run(BELL, shots=20, seed=1))
    assert time.monotonic() - start >= 0.4


def test_persistent_429_gives_up_with_a_clear_error(qpu, fake: FakeIonQ) -> None:
    fake.inject("POST", "/jobs$", "429", times=1000)
    with pytest.raises(IonQAPIError, match="429"):
        qpu.run(BELL, shots=20)
    assert qpu.ledger.remaining_usd == pytest.approx(10.0)


def test_500_on_submit_is_a_clear_error(qpu, fake: FakeIonQ) -> None:
    fake.inject("POST", "/jobs$", "500")
    with pytest.raises(IonQAPIError, match="500"):
        qpu.run(BELL, shots=20)
    assert qpu.ledger.remaining_usd == pytest.approx(10.0)


def test_500_while_polling_is_retried(qpu, fake: FakeIonQ) -> None:
    fake.inject("GET", "/jobs/[^/]+$", "500", times=2)
    _ok(qpu.run(BELL, shots=20, seed=1))


def test_500_while_polling_forever_fails_after_bounded_attempts(qpu, fake: FakeIonQ) -> None:
    fake.inject("GET", "/jobs/[^/]+$", "500", times=1000)
    with pytest.raises(IonQAPIError, match="status unavailable"):
        qpu.run(BELL, shots=20)
    entry = qpu.ledger.rows[-1]
    assert entry.status == "reserved" and entry.job_id is not None  # sent, fate unknown: still charged


def test_dropped_connection_on_submit_is_not_resent(qpu, fake: FakeIonQ) -> None:
    fake.inject("POST", "/jobs$", "drop")
    with pytest.raises(SubmitOutcomeUnknown, match="not resent"):
        qpu.run(BELL, shots=20)
    assert fake.count("POST") == 1
    assert qpu.ledger.rows[-1].status == "unknown"
    assert qpu.ledger.remaining_usd == pytest.approx(10.0 - 1.90)


def test_dropped_connection_while_polling_recovers(qpu, fake: FakeIonQ) -> None:
    fake.inject("GET", "/jobs/[^/]+$", "drop", times=2)
    _ok(qpu.run(BELL, shots=20, seed=1))


def test_failed_job_is_a_clear_error(qpu, fake: FakeIonQ) -> None:
    fake.inject("POST", "/jobs$", "fail")
    with pytest.raises(IonQAPIError, match="failed: SimulationError: injected failure"):
        qpu.run(BELL, shots=20)


def test_job_that_stays_queued_times_out_and_cancels(qpu, fake: FakeIonQ) -> None:
    fake.inject("POST", "/jobs$", "stuck")
    job = qpu.submit(BELL, shots=20)
    with pytest.raises(JobError, match=r"did not finish within 0\.3 s"):
        job.result(timeout=0.3)
    assert job.status() == "queued"
    assert job.cancel()
    with pytest.raises(JobError, match="cancelled"):
        job.result(timeout=10)
    assert job.status() == "cancelled"
    assert fake.count("PUT", "/status/cancel$") == 1
    assert qpu.ledger.rows[-1].status == "released"
    assert qpu.ledger.remaining_usd == pytest.approx(10.0)


def test_faults_never_exceed_the_budget(make_backend, fake: FakeIonQ) -> None:
    budget = CostLedger(5.0)  # room for two $1.90 jobs
    backend = make_backend("forte-1", marketplace="aws", budget_usd=budget)
    faults = ["429", "drop", "500", "fail", None, None, None]
    outcomes = []
    for kind in faults:
        if kind is not None:
            fake.inject("POST", "/jobs$", kind, times=6 if kind == "429" else 1)
        try:
            backend.run(BELL, shots=20, seed=1)
            outcomes.append("ok")
        except QstoreError as exc:
            outcomes.append(type(exc).__name__)
        assert budget.spent_usd <= budget.budget_usd + 1e-9
    assert outcomes[:4] == ["ok", "SubmitOutcomeUnknown", "IonQAPIError", "IonQAPIError"]
    assert "BudgetExceededError" in outcomes
    assert [e.status for e in budget.rows][:2] == ["settled", "unknown"]


def test_errors_fetching_results_are_retried(qpu, fake: FakeIonQ) -> None:
    fake.inject("GET", "/results/", "500", times=2)
    fake.inject("GET", "/results/", "drop", times=1)
    _ok(qpu.run(BELL, shots=20, seed=1))


def test_a_server_that_keeps_dropping_status_polls_fails_in_bounded_time(qpu, fake: FakeIonQ) -> None:
    fake.inject("GET", "/jobs/[^/]+$", "drop", times=1000)
    start = time.monotonic()
    with pytest.raises(IonQAPIError, match="connection to IonQ failed"):
        qpu.run(BELL, shots=20)
    assert time.monotonic() - start < 20


def test_run_timeout_cancels_the_remote_job_and_releases_the_reservation(
    make_backend, fake: FakeIonQ
) -> None:
    backend = make_backend("forte-1", marketplace="aws", budget_usd=10.0, timeout=0.3)
    fake.inject("POST", "/jobs$", "stuck")
    with pytest.raises(JobError, match=r"did not finish within 0\.3 s; it was cancelled"):
        backend.run(BELL, shots=20)
    assert fake.count("PUT", "/status/cancel$") == 1
    assert [job.status for job in fake.jobs.values()] == ["canceled"]
    assert [e.status for e in backend.ledger.rows] == ["released"]
    assert backend.ledger.remaining_usd == pytest.approx(10.0)


def test_run_timeout_while_waiting_locally_never_sends_the_job(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend("forte-1", marketplace="aws", budget_usd=10.0, timeout=0.3, max_in_flight=1)
    fake.inject("POST", "/jobs$", "stuck")
    blocker = backend.submit(BELL, shots=20)
    with pytest.raises(JobError, match="did not finish within"):
        backend.run(BELL, shots=20)
    assert fake.count("POST") == 1
    assert blocker.cancel()
    with pytest.raises(JobError, match="cancelled"):
        blocker.result(timeout=10)
    assert [e.status for e in backend.ledger.rows] == ["released", "released"]


def test_refused_connection_sends_nothing_and_charges_nothing(make_backend, fake: FakeIonQ) -> None:
    with socket.socket() as probe:  # a loopback port with no listener
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v0.4"
    with pytest.warns(UserWarning, match="set IONQ_API_URL"):
        backend = make_backend("forte-1", marketplace="aws", budget_usd=10.0, url=closed)
    with pytest.raises(
        IonQAPIError, match=r"could not reach IonQ at http://127\.0\.0\.1:\d+ .*nothing was sent"
    ) as info:
        backend.run(BELL, shots=20)
    assert not isinstance(info.value, SubmitOutcomeUnknown)
    assert [e.status for e in backend.ledger.rows] == ["released"]
    assert backend.ledger.remaining_usd == pytest.approx(10.0)
    assert fake.count("POST") == 0


def test_a_request_refused_while_being_prepared_is_never_charged(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend("forte-1", marketplace="aws", budget_usd=10.0, max_gates_per_job=3)
    with pytest.raises(CapabilityError, match="one IonQ job holds at most 3"):
        backend.run(BELL, shots=20)
    assert backend.ledger.rows == ()
    assert backend.ledger.remaining_usd == pytest.approx(10.0)
    assert fake.count("POST") == 0


def test_a_submission_the_api_rejects_as_invalid_is_released(qpu, fake: FakeIonQ) -> None:
    fake.inject("POST", "/jobs$", "400")
    with pytest.raises(IonQAPIError, match="400"):
        qpu.run(BELL, shots=20)
    assert [e.status for e in qpu.ledger.rows] == ["released"]
    assert qpu.ledger.remaining_usd == pytest.approx(10.0)
