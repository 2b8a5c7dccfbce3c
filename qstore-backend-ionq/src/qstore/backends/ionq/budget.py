"""Budgets and the spend ledger: a hard USD limit checked before any job is sent.

A job *reserves* its estimate before submission; the reservation is refused with
`BudgetExceededError` when it exceeds what remains. When the job ends the reservation is
*settled* (at the reported cost when IonQ reports one, else at the estimate) or *released* (the
job never ran: rejected by the API, or cancelled while queued). A submission whose outcome is
unknown (the connection dropped mid-request) stays charged at its estimate. The limit is enforced
on estimates before anything is sent; if IonQ later reports more than was estimated, the
difference is charged too and later jobs see that much less remaining.

Set a budget on the backend (``get_backend("ionq.qpu.forte-1", budget_usd=50)``) or around code::

    with ionq_budget(25.0) as budget:
        backend.run(circuit, shots=100)
    budget.ledger.entries
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import threading
from collections.abc import Iterator
from typing import Literal

import attrs

from qstore.core.errors import ArgumentError, BudgetExceededError

__all__ = ["Budget", "Ledger", "LedgerEntry", "Reservation", "active_budgets", "ionq_budget", "reserve"]

EntryStatus = Literal["reserved", "settled", "released", "unknown"]


@attrs.frozen
class LedgerEntry:
    """One job's spend: the estimate made before sending it, and the cost IonQ reported."""

    entry_id: int
    backend: str
    circuits: int
    shots: int
    estimate_usd: float
    status: EntryStatus = "reserved"
    job_id: str | None = None
    reported_usd: float | None = None
    time: datetime.datetime = attrs.field(factory=lambda: datetime.datetime.now(datetime.UTC))

    @property
    def charged_usd(self) -> float:
        """What counts against a budget: nothing once released, else reported or estimated."""
        if self.status == "released":
            return 0.0
        return self.reported_usd if self.reported_usd is not None else self.estimate_usd


class Ledger:
    """A thread-safe list of `LedgerEntry`, one per job, updated as jobs progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, LedgerEntry] = {}
        self._next = 0

    def open(self, backend: str, circuits: int, shots: int, estimate_usd: float) -> LedgerEntry:
        """Record a reservation and return its entry."""
        with self._lock:
            entry = LedgerEntry(self._next, backend, circuits, shots, float(estimate_usd))
            self._entries[entry.entry_id] = entry
            self._next += 1
            return entry

    def update(self, entry_id: int, **changes: object) -> LedgerEntry:
        """Replace fields of an entry (status, job_id, reported_usd)."""
        with self._lock:
            entry = attrs.evolve(self._entries[entry_id], **changes)  # type: ignore[arg-type]
            self._entries[entry_id] = entry
            return entry

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        """Every entry, oldest first."""
        with self._lock:
            return tuple(self._entries.values())

    @property
    def estimated_usd(self) -> float:
        """Sum of the estimates of jobs that were (or may have been) sent."""
        return sum(e.estimate_usd for e in self.entries if e.status != "released")

    @property
    def reported_usd(self) -> float:
        """Sum of the costs IonQ reported."""
        return sum(e.reported_usd or 0.0 for e in self.entries)

    @property
    def charged_usd(self) -> float:
        """What counts against a budget (see `LedgerEntry.charged_usd`)."""
        return sum(e.charged_usd for e in self.entries)

    def __repr__(self) -> str:
        return f"<Ledger {len(self.entries)} entries, charged ${self.charged_usd:.4f}>"


class Budget:
    """A hard USD limit with its own ledger; share one between backends to cap them together."""

    def __init__(self, limit_usd: float) -> None:
        limit = float(limit_usd)
        if not limit >= 0:
            raise ArgumentError(f"a budget must be a non-negative number of USD, got {limit_usd!r}")
        self.limit_usd = limit
        self.ledger = Ledger()
        self._lock = threading.Lock()

    @property
    def remaining_usd(self) -> float:
        """The limit minus everything charged or reserved."""
        return self.limit_usd - self.ledger.charged_usd

    def reserve(self, backend: str, circuits: int, shots: int, estimate_usd: float) -> LedgerEntry:
        """Reserve ``estimate_usd`` or raise `BudgetExceededError` stating estimate and remainder."""
        with self._lock:
            remaining = self.remaining_usd
            if estimate_usd > remaining + 1e-12:
                raise BudgetExceededError(
                    f"refused: this {backend} job ({circuits} circuit(s) x {shots} shots) is estimated at "
                    f"${estimate_usd:.4f} but only ${max(remaining, 0.0):.4f} of the ${self.limit_usd:.2f} "
                    "budget remains; raise the budget, use fewer shots/circuits, or use ionq.simulator"
                )
            return self.ledger.open(backend, circuits, shots, estimate_usd)

    def __repr__(self) -> str:
        return f"<Budget ${self.remaining_usd:.4f} of ${self.limit_usd:.2f} remaining>"


class Reservation:
    """One job's entries in every ledger that tracks it; updated together."""

    def __init__(self, items: list[tuple[Ledger, int]]) -> None:
        self._items = items

    def update(self, **changes: object) -> None:
        """Apply ``changes`` (status, job_id, reported_usd) to every entry."""
        for ledger, entry_id in self._items:
            ledger.update(entry_id, **changes)

    def __repr__(self) -> str:
        return f"<Reservation in {len(self._items)} ledger(s)>"


def reserve(
    budgets: tuple[Budget, ...], ledger: Ledger, backend: str, circuits: int, shots: int, estimate_usd: float
) -> Reservation:
    """Reserve in every budget (all or none) and record the job in ``ledger``."""
    items: list[tuple[Ledger, int]] = []
    try:
        for budget in budgets:
            entry = budget.reserve(backend, circuits, shots, estimate_usd)
            items.append((budget.ledger, entry.entry_id))
    except BudgetExceededError:
        Reservation(items).update(status="released")
        raise
    items.append((ledger, ledger.open(backend, circuits, shots, estimate_usd).entry_id))
    return Reservation(items)


_ACTIVE: contextvars.ContextVar[tuple[Budget, ...]] = contextvars.ContextVar(
    "qstore_ionq_budgets", default=()
)


def active_budgets() -> tuple[Budget, ...]:
    """Budgets opened with `ionq_budget` in the current context, outermost first."""
    return _ACTIVE.get()


@contextlib.contextmanager
def ionq_budget(limit_usd: float | Budget) -> Iterator[Budget]:
    """Within the block every IonQ job must also fit this budget (nested budgets all apply)."""
    budget = limit_usd if isinstance(limit_usd, Budget) else Budget(limit_usd)
    token = _ACTIVE.set((*_ACTIVE.get(), budget))
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)
