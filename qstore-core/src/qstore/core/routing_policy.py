"""What the user wants from routing (`Policy`) and what has been spent (`CostLedger`).

A budget is a hard limit: the ledger refuses the call whose estimate would cross it, with a
`BudgetExceededError` naming what was spent, the budget and the estimate. Reported costs (a
result's ``metadata.cost_usd``, which a backend fills from what its service reported) replace
estimates once known; a call that fails stays charged at its estimate, since a remote service may
have billed it, unless it is *released* because it provably never ran. This one ledger serves the
router (`qstore.core.routing.AutoBackend`, one row per routed call) and backends that check a
budget before every submission (IonQ, one row per job); one ledger shared by several backends caps
them together.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from qstore.core.backend import check_precision
from qstore.core.errors import BudgetExceededError, CapabilityError

__all__ = ["LATENCIES", "PRIORITIES", "ROUTER_ADVICE", "CostLedger", "LedgerRow", "LedgerStatus", "Policy"]

PRIORITIES = ("speed", "cost", "balanced", "accuracy")
"""``speed``: fewest seconds; ``cost``: fewest USD; ``balanced``: product of both ratios to the
best; ``accuracy``: double precision and exact expectations first, then speed."""
LATENCIES = ("interactive", "batch")
"""``interactive`` excludes remote backends (their queues take minutes); ``batch`` allows them."""


def _choice(allowed: tuple[str, ...], name: str) -> Any:
    def check(_instance: object, _attribute: object, value: str) -> None:
        if value not in allowed:
            raise CapabilityError(f"{name} must be one of {list(allowed)}, got {value!r}")

    return check


def _budget(_instance: object, _attribute: object, value: float | None) -> None:
    if value is not None and not (isinstance(value, int | float) and value >= 0):
        raise CapabilityError(f"budget_usd must be None or a non-negative number of USD, got {value!r}")


def _names(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise CapabilityError(f"backend lists must be collections of names, got the string {value!r}")
    return frozenset(value)


@attrs.frozen
class Policy:
    """How to choose: priority, USD budget per run, allowed/forbidden backends, latency, hardware.

    ``allow_hardware`` must be set for any ``qpu`` backend to be considered (default: never).
    ``queue_seconds`` is the assumed queue of a remote backend whose API reports none.
    ``backend_options`` are passed to `get_backend` per name (API keys stay in the environment).
    ``fallback`` lets a call over budget go to the next candidate instead of raising.
    ``memory_bytes`` overrides the memory available (default: what the machine reports).
    """

    priority: str = attrs.field(default="speed", validator=_choice(PRIORITIES, "priority"))
    budget_usd: float | None = attrs.field(default=None, validator=_budget)
    allowed: frozenset[str] | None = attrs.field(default=None, converter=_names)
    forbidden: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    latency: str = attrs.field(default="interactive", validator=_choice(LATENCIES, "latency"))
    allow_hardware: bool = False
    precision: str | None = attrs.field(
        default=None, converter=lambda p: None if p is None else check_precision(p)
    )
    queue_seconds: float = 60.0
    fallback: bool = False
    memory_bytes: int | None = None
    backend_options: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, eq=False)


LedgerStatus = Literal["reserved", "settled", "released", "unknown"]
"""``reserved`` before and while a call runs; ``settled`` once it ended (at the reported cost when
known); ``released`` when it provably never ran (charged nothing); ``unknown`` when it may have run."""

ROUTER_ADVICE = "raise Policy(budget_usd=...), allow fallback to a cheaper backend, or use a simulator"


@attrs.frozen
class LedgerRow:
    """One call or job: backend, estimated USD, the USD reported (None until known), its status."""

    backend: str
    estimate_usd: float
    reported_usd: float | None = None
    status: LedgerStatus = "reserved"
    job_id: str | None = None
    circuits: int | None = None
    shots: int | None = None

    @property
    def charged_usd(self) -> float:
        """What counts against the budget: nothing once released, else reported or estimated."""
        if self.status == "released":
            return 0.0
        return self.estimate_usd if self.reported_usd is None else self.reported_usd


class CostLedger:
    """Spend per call (a routed call, an IonQ job) against an optional budget; thread-safe.

    ``advice`` ends the `BudgetExceededError` message: what the user can do about a refusal.
    """

    def __init__(self, budget_usd: float | None = None, *, advice: str = ROUTER_ADVICE) -> None:
        _budget(None, None, budget_usd)
        self.budget_usd = budget_usd
        self.advice = advice
        self._rows: list[LedgerRow] = []
        self._lock = threading.Lock()

    @property
    def rows(self) -> tuple[LedgerRow, ...]:
        """Every call, oldest first."""
        with self._lock:
            return tuple(self._rows)

    @property
    def spent_usd(self) -> float:
        """Charged so far (reported where known, else estimated; released calls count nothing)."""
        return sum(r.charged_usd for r in self.rows)

    @property
    def reported_usd(self) -> float:
        """Sum of the costs services reported."""
        return sum(r.reported_usd or 0.0 for r in self.rows)

    @property
    def remaining_usd(self) -> float | None:
        """Budget left, or None without a budget."""
        return None if self.budget_usd is None else self.budget_usd - self.spent_usd

    def fits(self, estimate_usd: float) -> bool:
        """Whether a call estimated at ``estimate_usd`` stays within the budget."""
        remaining = self.remaining_usd
        return remaining is None or estimate_usd <= remaining + 1e-12

    def reserve(
        self, backend: str, estimate_usd: float, *, circuits: int | None = None, shots: int | None = None
    ) -> int:
        """Record a call before it runs, or raise `BudgetExceededError`; returns the row index."""
        with self._lock:
            spent = sum(r.charged_usd for r in self._rows)
            if self.budget_usd is not None and spent + estimate_usd > self.budget_usd + 1e-12:
                what = f"a {backend} call" if circuits is None else (
                    f"a {backend} job of {circuits} circuit(s) x {shots} shots"
                )  # fmt: skip
                raise BudgetExceededError(
                    f"refused: {what} estimated at ${estimate_usd:.4f} would cross the budget: "
                    f"${spent:.4f} spent of ${self.budget_usd:.2f}; {self.advice}"
                )
            return self._append(LedgerRow(backend, float(estimate_usd), circuits=circuits, shots=shots))

    def record(
        self, backend: str, estimate_usd: float, *, circuits: int | None = None, shots: int | None = None
    ) -> int:
        """Record a call already under way (e.g. a re-attached remote job): counted, never refused."""
        with self._lock:
            return self._append(LedgerRow(backend, float(estimate_usd), circuits=circuits, shots=shots))

    def _append(self, row: LedgerRow) -> int:
        self._rows.append(row)
        return len(self._rows) - 1

    def settle(self, index: int, reported_usd: float | None = None) -> None:
        """The call ended: charge what it reported it cost (None: its estimate)."""
        reported = None if reported_usd is None else float(reported_usd)
        self.update(index, status="settled", reported_usd=reported)

    def update(
        self,
        index: int,
        *,
        status: LedgerStatus | None = None,
        job_id: str | None = None,
        reported_usd: float | None = None,
    ) -> None:
        """Set a row's ``status``, ``job_id`` or ``reported_usd`` (arguments left None are kept)."""
        changes: dict[str, Any] = {"status": status, "job_id": job_id, "reported_usd": reported_usd}
        with self._lock:
            row = self._rows[index]
            self._rows[index] = attrs.evolve(row, **{k: v for k, v in changes.items() if v is not None})

    def __repr__(self) -> str:
        budget = "no budget" if self.budget_usd is None else f"budget ${self.budget_usd:.2f}"
        return f"<CostLedger {len(self.rows)} calls, ${self.spent_usd:.4f} spent, {budget}>"
