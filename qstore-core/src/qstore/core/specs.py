"""Resource reports: what a circuit needs (`circuit_specs`) and what it costs on a backend (`estimate`).

>>> print(Circuit(2).h(0).cnot(0, 1).ry("theta", 1).specs())
qubits: 2  depth: 3  operations: 3
gates: cnot 1, h 1, ry 1
by arity: 1-qubit 2, 2-qubit 1
parameters: 1 angle(s) over 1 symbol(s); inputs: none
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from qstore.core.errors import CircuitError

if TYPE_CHECKING:
    from qstore.core.backend import Backend
    from qstore.core.circuit import Circuit

__all__ = ["CircuitSpecs", "ResourceEstimate", "circuit_specs", "estimate"]


def _counts(value: Mapping) -> Mapping:  # type: ignore[type-arg]
    return dict(sorted(value.items()))


@attrs.frozen
class CircuitSpecs:
    """Qubits, depth, gate counts by name and by arity, parametrised angles, symbols and inputs.

    ``n_parameters`` counts gate angles that depend on a symbol; ``symbols`` are the scalar symbols;
    ``inputs`` are the symbols named as inputs plus state-preparation inputs; ``weights`` are the
    symbols that are not inputs.
    """

    n_qubits: int
    depth: int
    n_operations: int
    gate_counts: Mapping[str, int] = attrs.field(converter=_counts)
    arity_counts: Mapping[int, int] = attrs.field(converter=_counts)
    n_parameters: int
    symbols: tuple[str, ...]
    inputs: tuple[str, ...]

    @property
    def weights(self) -> tuple[str, ...]:
        """Symbols that are not inputs (the trainable ones in a layer)."""
        return tuple(s for s in self.symbols if s not in self.inputs)

    def __str__(self) -> str:
        gates = ", ".join(f"{name} {n}" for name, n in self.gate_counts.items()) or "none"
        arity = ", ".join(f"{k}-qubit {n}" for k, n in self.arity_counts.items()) or "none"
        inputs = ", ".join(self.inputs) or "none"
        return (
            f"qubits: {self.n_qubits}  depth: {self.depth}  operations: {self.n_operations}\n"
            f"gates: {gates}\n"
            f"by arity: {arity}\n"
            f"parameters: {self.n_parameters} angle(s) over {len(self.symbols)} symbol(s); inputs: {inputs}"
        )


def circuit_specs(circuit: Circuit, inputs: Sequence[str] = ()) -> CircuitSpecs:
    """The `CircuitSpecs` of ``circuit``; ``inputs`` names symbols fed from data (not weights)."""
    stray = sorted(set(inputs) - set(circuit.symbols) - set(circuit.vector_inputs))
    if stray:
        raise CircuitError(f"inputs {stray} do not appear in the circuit; it uses {sorted(circuit.symbols)}")
    named = tuple(inputs) + tuple(v for v in circuit.vector_inputs if v not in inputs)
    return CircuitSpecs(
        n_qubits=circuit.n_qubits,
        depth=circuit.depth,
        n_operations=len(circuit.operations),
        gate_counts=circuit.gate_counts(),
        arity_counts=Counter(len(op.qubits) for op in circuit.operations),
        n_parameters=sum(1 for op in circuit.operations for p in op.params if p.symbols),
        symbols=circuit.symbols,
        inputs=named,
    )


@attrs.frozen
class ResourceEstimate:
    """A circuit's specs plus what running ``batch_size`` bindings of it costs on one backend.

    ``usd`` is the backend's own `CostModel` price, None when it declares none. ``seconds`` stays
    None here: run time depends on measured throughput, which the router supplies.
    """

    specs: CircuitSpecs
    backend: str
    batch_size: int
    shots: int | None
    usd: float | None
    seconds: float | None = None

    def __str__(self) -> str:
        usd = "n/a (no cost model)" if self.usd is None else f"${self.usd:.2f}"
        seconds = "n/a (the router estimates run time)" if self.seconds is None else f"{self.seconds:.3g} s"
        shots = "exact" if self.shots is None else f"{self.shots} shots"
        return (
            f"{self.specs}\n"
            f"on {self.backend} ({self.batch_size} binding(s), {shots}): USD {usd}; time {seconds}"
        )


def estimate(
    circuit: Circuit,
    backend: Backend | str,
    batch_size: int = 1,
    shots: int | None = None,
    inputs: Sequence[str] = (),
) -> ResourceEstimate:
    """Specs of ``circuit`` and the price of ``batch_size`` bindings on ``backend`` (name or instance)."""
    from qstore.core.plugins import get_backend

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise CircuitError(f"batch_size must be a positive integer, got {batch_size!r}")
    instance = get_backend(backend) if isinstance(backend, str) else backend
    caps = instance.capabilities
    usd = None if caps.cost_model is None else float(caps.cost_model.estimate(circuit, batch_size, shots))
    return ResourceEstimate(circuit_specs(circuit, inputs), caps.name, batch_size, shots, usd)
