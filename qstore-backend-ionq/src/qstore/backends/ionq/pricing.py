"""IonQ prices: a small, dated price table per marketplace and system, and `estimate`.

Every figure names its source and date. A price the sources do not give is absent, and asking for
it is an error that says so — pass your own `Price` (``prices={...}``) to override or extend.

* ``azure`` (Azure Quantum pricing page, ms.date 2025-02-26): per program
  ``m + 0.000220·N1q·C + 0.000975·N2q·C`` USD, C = shots, with m = $97.50 when error mitigation
  is on (the default) and $12.4166 when off; the same rates for Aria and Forte.
* ``aws`` (Amazon Braket pricing page, snapshot date unknown): $0.30 per task plus $0.03 per
  shot on Aria and $0.08 per shot on Forte; gate count does not matter. Forte Enterprise is
  priced as Forte — an assumption, Braket lists "Forte" only.
* The ideal and noisy simulators are free (Azure); taken as free in every marketplace.
* IonQ's direct prices are not published in any source we hold, so there is no ``ionq`` row.

Each circuit of a batch is priced as its own task/program. That is the conservative reading for a
multi-circuit job, and a budget must never be exceeded.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

import attrs

from qstore.backends.ionq.compiler import compile_circuit, native_gate_counts
from qstore.core.circuit import Circuit
from qstore.core.errors import CapabilityError

__all__ = ["PRICES", "IonQCostModel", "Price", "estimate", "price_for"]


@attrs.frozen
class Price:
    """USD rates for one system in one marketplace; every circuit is a task.

    ``cost = per_task + per_shot·C + per_1q_gate_shot·N1q·C + per_2q_gate_shot·N2q·C``
    per circuit, with ``per_task`` replaced by ``per_task_mitigated`` when error mitigation is on.
    """

    marketplace: str
    system: str
    per_task: float = 0.0
    per_task_mitigated: float | None = None
    per_shot: float = 0.0
    per_1q_gate_shot: float = 0.0
    per_2q_gate_shot: float = 0.0
    as_of: datetime.date | None = None
    source: str = ""
    assumption: str = ""

    def task_cost(self, counts: Mapping[str, int], shots: int, error_mitigation: bool) -> float:
        """USD for one circuit with native gate ``counts`` (``{"1q", "2q"}``) run ``shots`` times."""
        base = (
            self.per_task_mitigated
            if error_mitigation and self.per_task_mitigated is not None
            else self.per_task
        )
        gates = self.per_1q_gate_shot * counts.get("1q", 0) + self.per_2q_gate_shot * counts.get("2q", 0)
        return base + shots * (self.per_shot + gates)


_AZURE = "Azure Quantum pricing (learn.microsoft.com/azure/quantum/pricing), ms.date 2025-02-26"
_AWS = "Amazon Braket pricing (aws.amazon.com/braket/pricing), snapshot date unknown"
_AZURE_DATE = datetime.date(2025, 2, 26)


def _azure(system: str) -> Price:
    return Price(
        "azure",
        system,
        per_task=12.4166,
        per_task_mitigated=97.50,
        per_1q_gate_shot=0.000220,
        per_2q_gate_shot=0.000975,
        as_of=_AZURE_DATE,
        source=_AZURE,
    )


def _simulator(marketplace: str, source: str) -> Price:
    return Price(
        marketplace, "simulator", as_of=_AZURE_DATE if marketplace == "azure" else None, source=source
    )


PRICES: dict[tuple[str, str], Price] = {
    ("azure", "simulator"): _simulator("azure", _AZURE),
    ("azure", "aria-1"): _azure("aria-1"),
    ("azure", "forte-1"): _azure("forte-1"),
    ("azure", "forte-enterprise-1"): _azure("forte-enterprise-1"),
    ("aws", "simulator"): _simulator("aws", _AWS),
    ("aws", "aria-1"): Price("aws", "aria-1", per_task=0.30, per_shot=0.03, source=_AWS),
    ("aws", "forte-1"): Price("aws", "forte-1", per_task=0.30, per_shot=0.08, source=_AWS),
    ("aws", "forte-enterprise-1"): Price(
        "aws",
        "forte-enterprise-1",
        per_task=0.30,
        per_shot=0.08,
        source=_AWS,
        assumption="priced as Forte-1: Braket lists one Forte price",
    ),
}
"""The built-in table, keyed by ``(marketplace, system)``; system ``"simulator"`` covers noise models."""


def price_for(system: str, marketplace: str, prices: Mapping[tuple[str, str], Price] | None = None) -> Price:
    """The `Price` of ``system`` in ``marketplace``; user ``prices`` override the built-in table."""
    table = {**PRICES, **(prices or {})}
    if (marketplace, system) in table:
        return table[(marketplace, system)]
    if system == "simulator":
        return Price(marketplace, "simulator", source=_AZURE, assumption="the simulator is free everywhere")
    known = sorted(f"{m}/{s}" for m, s in table)
    raise CapabilityError(
        f"no price for IonQ system {system!r} in marketplace {marketplace!r}; known: {known}. "
        "IonQ's direct prices are not published in our sources: pass prices={(marketplace, system): Price(...)}"
    )


def estimate(
    circuits: Iterable[Circuit],
    shots: int,
    system: str = "simulator",
    marketplace: str = "azure",
    *,
    error_mitigation: bool = True,
    prices: Mapping[tuple[str, str], Price] | None = None,
) -> float:
    """USD to run every native-gate circuit ``shots`` times on ``system`` bought via ``marketplace``.

    Gate counts are read from the circuits as given, so pass compiled (native) circuits; see
    `qstore.backends.ionq.compiler.compile_circuit`.
    """
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise CapabilityError(f"shots must be a positive integer, got {shots!r}")
    price = price_for(system, marketplace, prices)
    return float(sum(price.task_cost(native_gate_counts(c), shots, error_mitigation) for c in circuits))


@attrs.frozen
class IonQCostModel:
    """The `CostModel` an IonQ backend declares: compile, count natives, price every bound circuit.

    Symbols are bound to generic values: special angles (0, π/2, …) can only let the compiler
    drop gates, so generic values price the usual worst case of a binding.
    """

    system: str
    marketplace: str
    entangler: str
    error_mitigation: bool | None = None
    prices: Mapping[tuple[str, str], Price] | None = attrs.field(default=None, eq=False)

    def mitigated(self, shots: int) -> bool:
        """Whether error mitigation applies (IonQ's default: on for QPU jobs of ≥ 500 shots)."""
        if self.error_mitigation is not None:
            return self.error_mitigation
        return self.system != "simulator" and shots >= 500

    def estimate(self, circuit: Circuit, batch_size: int, shots: int | None) -> float:
        """Estimated USD for running ``batch_size`` bindings of ``circuit`` with ``shots`` each."""
        if shots is None:
            raise CapabilityError("IonQ backends sample: price a run with shots=<positive int>")
        generic = {name: 0.7390851332 + i for i, name in enumerate(circuit.symbols)}
        compiled = compile_circuit(circuit, generic, self.entangler).circuit  # type: ignore[arg-type]
        one = estimate([compiled], shots, self.system, self.marketplace,
                       error_mitigation=self.mitigated(shots), prices=self.prices)  # fmt: skip
        return one * batch_size
