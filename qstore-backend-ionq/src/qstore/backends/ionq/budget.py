"""Budgets for IonQ jobs on the core's one ledger (`qstore.core.routing_policy.CostLedger`).

A job *reserves* its estimate in every ledger that applies before it is sent — the backend's own
(``budget_usd=``, or a `CostLedger` shared with other backends or a router) and every ledger opened
with `ionq_budget` around the code — all or none; a refusal is a `BudgetExceededError` naming
what was spent, the budget and the estimate, and nothing is sent. When the job ends its rows are
*settled* (at the cost IonQ reports, else at the estimate) or *released* (it never ran: rejected
by the API, or cancelled while queued). A submission whose outcome is unknown (the connection
dropped mid-request) stays charged at its estimate as ``unknown``. If IonQ reports more than was
estimated, the difference is charged and later jobs see that much less remaining.

Set a budget on the backend (``get_backend("ionq.qpu.forte-1", budget_usd=50)``) or around code::

    with ionq_budget(25.0) as ledger:
        backend.run(circuit, shots=100)
    ledger.rows
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from qstore.core.errors import BudgetExceededError
from qstore.core.routing_policy import CostLedger, LedgerStatus

__all__ = ["IONQ_ADVICE", "Reservation", "active_ledgers", "ionq_budget", "reserve"]

IONQ_ADVICE = "raise the budget, use fewer shots or circuits, or use ionq.simulator"


class Reservation:
    """One job's rows in every ledger that tracks it; updated together."""

    def __init__(self, rows: list[tuple[CostLedger, int]]) -> None:
        self._rows = rows

    def update(
        self,
        *,
        status: LedgerStatus | None = None,
        job_id: str | None = None,
        reported_usd: float | None = None,
    ) -> None:
        """Apply the changes (see `CostLedger.update`) to every row."""
        for ledger, index in self._rows:
            ledger.update(index, status=status, job_id=job_id, reported_usd=reported_usd)

    def __repr__(self) -> str:
        return f"<Reservation in {len(self._rows)} ledger(s)>"


def reserve(
    ledgers: tuple[CostLedger, ...],
    backend: str,
    circuits: int,
    shots: int,
    estimate_usd: float,
    *,
    check: bool = True,
) -> Reservation:
    """Reserve in every ledger, all or none; ``check=False`` records without refusing (a job that
    already exists at IonQ, re-attached after a restart, is paid whatever the budget says)."""
    rows: list[tuple[CostLedger, int]] = []
    try:
        for ledger in ledgers:
            add = ledger.reserve if check else ledger.record
            rows.append((ledger, add(backend, estimate_usd, circuits=circuits, shots=shots)))
    except BudgetExceededError:
        Reservation(rows).update(status="released")
        raise
    return Reservation(rows)


_ACTIVE: contextvars.ContextVar[tuple[CostLedger, ...]] = contextvars.ContextVar(
    "qstore_ionq_budgets", default=()
)


def active_ledgers() -> tuple[CostLedger, ...]:
    """Ledgers opened with `ionq_budget` in the current context, outermost first."""
    return _ACTIVE.get()


@contextlib.contextmanager
def ionq_budget(limit_usd: float | CostLedger) -> Iterator[CostLedger]:
    """Within the block every IonQ job must also fit this budget (nested budgets all apply)."""
    ledger = limit_usd if isinstance(limit_usd, CostLedger) else CostLedger(limit_usd, advice=IONQ_ADVICE)
    token = _ACTIVE.set((*_ACTIVE.get(), ledger))
    try:
        yield ledger
    finally:
        _ACTIVE.reset(token)
