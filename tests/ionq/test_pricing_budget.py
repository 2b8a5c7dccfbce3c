"""Prices, estimates, budgets as hard limits, and the ledger."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fake_ionq import FakeIonQ

from qstore.backends.ionq import Price, compile_circuit, estimate, ionq_budget, price_for
from qstore.core import Circuit
from qstore.core.errors import BudgetExceededError, CapabilityError, JobError
from qstore.core.routing_policy import CostLedger

pytestmark = pytest.mark.timeout(60)

BELL = Circuit(2).h(0).cnot(0, 1)


def test_azure_gate_shot_formula() -> None:
    native = compile_circuit(BELL, entangler="zz").circuit
    n1, n2 = native.gate_counts().get("gpi2", 0) + native.gate_counts().get("gpi", 0), 1
    want = 97.50 + 1000 * (0.000220 * n1 + 0.000975 * n2)
    assert estimate([native], 1000, "forte-1", "azure") == pytest.approx(want)
    assert estimate([native], 1000, "forte-1", "azure", error_mitigation=False) == pytest.approx(
        want - 97.50 + 12.4166
    )


def test_aws_per_task_and_per_shot() -> None:
    native = compile_circuit(BELL).circuit
    assert estimate([native, native], 100, "aria-1", "aws") == pytest.approx(2 * (0.30 + 100 * 0.03))
    assert estimate([native], 100, "forte-1", "aws") == pytest.approx(0.30 + 100 * 0.08)
    assert price_for("forte-enterprise-1", "aws").assumption
    assert estimate([native], 100, "simulator", "aws") == 0.0


def test_unknown_prices_are_errors_and_overridable() -> None:
    with pytest.raises(CapabilityError, match="not published"):
        price_for("forte-1", "ionq")
    mine = {("ionq", "forte-1"): Price("ionq", "forte-1", per_task=1.0, per_2q_gate_shot=0.01)}
    native = compile_circuit(BELL, entangler="zz").circuit
    assert estimate([native], 10, "forte-1", "ionq", prices=mine) == pytest.approx(1.0 + 10 * 0.01)


def test_backend_estimate_counts_bindings_and_basis_settings(make_backend) -> None:
    backend = make_backend("aria-1", marketplace="aws")
    circuit = Circuit(2).ry("a", 0).cnot(0, 1)
    cost = backend.estimate(circuit, {"a": np.zeros(3)}, ["Z0", "X0 X1"], shots=100)
    assert cost == pytest.approx(3 * 2 * (0.30 + 100 * 0.03))
    model = backend.capabilities.cost_model
    assert model.estimate(circuit, 3, 100) == pytest.approx(3 * (0.30 + 100 * 0.03))


def test_budget_refuses_with_estimate_and_remaining(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend("forte-1", marketplace="aws", budget_usd=5.0)
    with pytest.raises(
        BudgetExceededError,
        match=r"job of 1 circuit\(s\) x 100 shots estimated at \$8\.3000 would cross the budget: \$0\.0000 spent of \$5\.00; raise the budget",
    ):
        backend.run(BELL, shots=100)
    assert fake.count("POST") == 0
    backend.run(BELL, shots=20, seed=1)  # $1.90 estimate, the fake reports $0.01
    entry = backend.ledger.rows[-1]
    assert (entry.estimate_usd, entry.reported_usd, entry.status) == (pytest.approx(1.90), 0.01, "settled")
    assert backend.ledger.remaining_usd == pytest.approx(4.99)
    assert backend.ledger.reported_usd == pytest.approx(0.01)


def test_context_manager_budget_applies_to_every_backend(make_backend, fake: FakeIonQ) -> None:
    a = make_backend("forte-1", marketplace="aws")
    b = make_backend("aria-1", marketplace="aws")
    fake.inject("POST", "/jobs$", "stuck")
    with ionq_budget(3.0) as budget:
        held = a.submit(BELL, shots=20)  # $1.90 reserved while it sits in the queue
        with pytest.raises(
            BudgetExceededError,
            match=r"estimated at \$1\.5000 would cross the budget: \$1\.9000 spent of \$3\.00",
        ):
            b.run(BELL, shots=40)  # $0.30 + 40 x $0.03
        held.cancel()
        with pytest.raises(JobError, match="cancelled"):
            held.result(timeout=10)
        b.run(BELL, shots=40, seed=1)
    assert [e.status for e in budget.rows] == ["released", "settled"]
    a.run(BELL, shots=20, seed=1)  # outside the block: only the backend's own (absent) budget applies
    assert len(budget.rows) == 2 and len(a.ledger.rows) == 2


def test_budget_reservations_are_atomic_under_concurrency() -> None:
    budget = CostLedger(10.0)
    refused = []

    def grab() -> None:
        try:
            budget.reserve("x", 1.0, circuits=1, shots=1)
        except BudgetExceededError:
            refused.append(1)

    threads = [threading.Thread(target=grab) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(budget.rows) == 10 and len(refused) == 15
    assert budget.remaining_usd == pytest.approx(0.0)


def test_in_flight_jobs_hold_their_reservation(make_backend, fake: FakeIonQ) -> None:
    backend = make_backend("forte-1", marketplace="aws", budget_usd=3.0)
    fake.inject("POST", "/jobs$", "stuck")
    job = backend.submit(BELL, shots=20)
    with pytest.raises(BudgetExceededError):
        backend.submit(BELL, shots=20)
    job.cancel()
    with pytest.raises(Exception, match="cancelled"):
        job.result(timeout=10)
    assert backend.ledger.remaining_usd == pytest.approx(3.0)


def test_unknown_marketplace_fails_when_the_backend_is_built(make_backend) -> None:
    with pytest.raises(CapabilityError, match="no price"):
        make_backend("forte-1", marketplace="ionq")
    assert make_backend("simulator", marketplace="ionq").estimate(BELL, shots=10) == 0.0
