"""The router's budget with a real IonQ backend against the fake server: nothing is sent that
would cross the budget, and a run crossing it mid-way stops with spend within the budget."""

from __future__ import annotations

import pytest
from fake_ionq import FakeIonQ

from qstore.core.circuit import Circuit
from qstore.core.errors import BudgetExceededError
from qstore.core.routing import AutoBackend
from qstore.core.routing_policy import Policy

BATCH_POLICY = {"latency": "batch", "allow_hardware": True}


def test_a_budget_smaller_than_one_job_never_submits(make_backend, fake: FakeIonQ) -> None:
    qpu = make_backend("aria-1", marketplace="aws")  # $0.30 + $0.03 per shot and circuit
    auto = AutoBackend(Policy(budget_usd=1.0, **BATCH_POLICY), backends=[qpu], profile=None)
    with pytest.raises(
        BudgetExceededError, match=r"ionq.qpu.aria-1: over budget: estimated \$3.30, \$1.00 remains"
    ):
        auto.run(Circuit(1).rx("t", 0), {"t": [0.4]}, "Z0", shots=100)
    assert fake.count("POST") == 0


def test_a_budget_crossed_mid_run_stops_with_spend_within_budget(make_backend, fake: FakeIonQ) -> None:
    qpu = make_backend("aria-1", marketplace="aws")
    auto = AutoBackend(Policy(budget_usd=3.5, **BATCH_POLICY), backends=[qpu], profile=None)
    c = Circuit(1).rx("t", 0)
    auto.run(c, {"t": [0.1]}, "Z0", shots=100)  # estimated $3.30; the fake reports $0.01
    assert auto.ledger.spent_usd == pytest.approx(0.01)
    with pytest.raises(BudgetExceededError, match=r"over budget: estimated \$6.30, \$3.49 remains"):
        auto.run(c, {"t": [0.2]}, "Z0", shots=200)
    assert fake.count("POST", "/jobs") == 1
    assert auto.ledger.spent_usd <= 3.5
