"""What the router routes: a `Workload`, derived from a circuit or described directly.

A workload is the shape of one backend call (qubits, depth, gate counts, batch, shots, gradient)
plus, for planning a whole run, how many calls it takes (samples, epochs, circuits per sample).
The speed models read only these numbers, so a workload described on the command line and one
derived from a real circuit are routed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import attrs

from qstore.core.ansatz import layer_circuit
from qstore.core.backend import GRADIENT_METHODS, OUTPUTS, check_precision, check_shots
from qstore.core.bindings import Bindings, resolve_bindings
from qstore.core.circuit import Circuit, Operation
from qstore.core.errors import CapabilityError

__all__ = ["Workload"]


def _positive(name: str) -> object:
    def check(_instance: object, _attribute: object, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CapabilityError(f"{name} must be a positive integer, got {value!r}")

    return check


def _count(name: str) -> object:
    def check(_instance: object, _attribute: object, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CapabilityError(f"{name} must be a non-negative integer, got {value!r}")

    return check


def _gradient(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and value not in ("auto", *GRADIENT_METHODS):
        raise CapabilityError(
            f"gradient must be None, 'auto' or one of {list(GRADIENT_METHODS)}, got {value!r}"
        )


def _outputs(_instance: object, _attribute: object, value: frozenset[str]) -> None:
    bad = sorted(value - set(OUTPUTS))
    if bad:
        raise CapabilityError(f"unknown output(s) {bad}; choose from {list(OUTPUTS)}")


def _precision(value: str | None) -> str | None:
    return None if value is None else check_precision(value)


@attrs.frozen
class Workload:
    """One backend call's shape, and how many such calls a run makes.

    ``gradient`` is None (forward only), ``"auto"`` (the backend's best method) or a method name;
    ``shift_sites`` is how many gate angles depend on differentiated symbols (what parameter shift
    multiplies). ``precision`` None accepts either. ``samples``/``epochs``/``circuits_per_sample``
    plan a whole run: ``calls`` = ⌈samples / batch⌉ · epochs · circuits_per_sample. ``noisy``: the
    circuit has noise channels, which only backends declaring ``Capabilities.noise`` run.
    """

    n_qubits: int = attrs.field(validator=_positive("n_qubits"))
    depth: int = attrs.field(validator=_count("depth"))
    gates_1q: int = attrs.field(validator=_count("gates_1q"))
    gates_2q: int = attrs.field(validator=_count("gates_2q"))
    batch: int = attrs.field(default=1, validator=_positive("batch"))
    shots: int | None = attrs.field(default=None, converter=check_shots)
    gradient: str | None = attrs.field(default=None, validator=_gradient)
    shift_sites: int = attrs.field(default=0, validator=_count("shift_sites"))
    n_observables: int = attrs.field(default=1, validator=_count("n_observables"))
    outputs: frozenset[str] = attrs.field(
        default=frozenset({"expectations"}), converter=frozenset, validator=_outputs
    )
    gates: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    precision: str | None = attrs.field(default=None, converter=_precision)
    samples: int | None = attrs.field(default=None)
    epochs: int = attrs.field(default=1, validator=_positive("epochs"))
    circuits_per_sample: int = attrs.field(default=1, validator=_positive("circuits_per_sample"))
    structure: str = ""
    noisy: bool = False

    @samples.validator
    def _check_samples(self, _attribute: object, value: int | None) -> None:
        if value is not None:
            _positive("samples")(self, _attribute, value)

    @property
    def n_gates(self) -> int:
        """Gates applied per circuit."""
        return self.gates_1q + self.gates_2q

    @property
    def calls(self) -> int:
        """Backend calls the planned run makes (1 when no run is planned)."""
        if self.samples is None:
            return self.epochs * self.circuits_per_sample
        return math.ceil(self.samples / self.batch) * self.epochs * self.circuits_per_sample

    @property
    def key(self) -> tuple[object, ...]:
        """What makes two workloads route alike: structure, batch, shots, gradient, outputs."""
        return (self.structure or (self.n_qubits, self.depth, self.gates_1q, self.gates_2q), self.batch,
                self.shots, self.gradient, self.outputs, self.precision, self.noisy)  # fmt: skip

    @classmethod
    def from_circuit(
        cls,
        circuit: Circuit,
        bindings: Bindings | None = None,
        *,
        n_observables: int = 1,
        shots: int | None = None,
        gradient: str | None = None,
        wrt: Collection[str] | None = None,
        outputs: Collection[str] = ("expectations",),
        precision: str | None = None,
        samples: int | None = None,
        epochs: int = 1,
        circuits_per_sample: int = 1,
    ) -> Workload:
        """The workload of running ``circuit`` on ``bindings`` (their batch size) once per call.

        ``wrt`` names the differentiated symbols (default all), which sets ``shift_sites``.
        """
        batch = resolve_bindings(circuit, bindings).size
        ops = [op for op in circuit.operations if isinstance(op, Operation)]
        wanted = frozenset(circuit.symbols if wrt is None else wrt)
        sites = sum(1 for op in ops for p in op.params if p.symbols & wanted) if gradient else 0
        return cls(
            n_qubits=circuit.n_qubits,
            depth=circuit.depth,
            gates_1q=sum(1 for op in ops if len(op.qubits) == 1),
            gates_2q=sum(1 for op in ops if len(op.qubits) > 1),
            batch=batch,
            shots=shots,
            gradient=gradient,
            shift_sites=sites,
            n_observables=n_observables,
            outputs=frozenset(outputs),
            gates=frozenset(op.gate for op in ops),
            precision=precision,
            samples=samples,
            epochs=epochs,
            circuits_per_sample=circuits_per_sample,
            structure=circuit.hash,
            noisy=circuit.has_noise,
        )

    @classmethod
    def from_layer(cls, n_qubits: int, depth: int, **kwargs: object) -> Workload:
        """The workload of the built-in layer ansatz (`layer_circuit`) with ``n_qubits`` readouts.

        ``batch`` and the other keywords are those of `Workload`; gradients are taken with respect
        to every weight and input, as a training step does.
        """
        lc = layer_circuit(n_qubits, depth)
        batch = kwargs.pop("batch", 1)
        bindings = {name: [0.0] * int(batch) for name in lc.circuit.symbols}  # type: ignore[call-overload]
        return cls.from_circuit(lc.circuit, bindings, n_observables=len(lc.observables), **kwargs)  # type: ignore[arg-type]
