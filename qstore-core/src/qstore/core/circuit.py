"""The circuit IR: a qubit count and an ordered tuple of operations.

Circuits are immutable values; every builder method returns a new circuit, so a circuit can be
shared, hashed and used as a cache key::

    circuit = Circuit(2).h(0).cnot(0, 1).ry("2*theta + 0.5", 1)

Qubit 0 is the most significant bit of a statevector index (see `qstore.core.statevector`).
"""

from __future__ import annotations

import hashlib
import json
import numbers
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from qstore.core.channels import Channel
from qstore.core.errors import CircuitError
from qstore.core.expressions import Angle, Expr, as_expr
from qstore.core.gates import GateSpec, gate_spec

if TYPE_CHECKING:
    from qstore.core.observables import ObservableLike
    from qstore.core.specs import CircuitSpecs

__all__ = ["Circuit", "Operation", "StatePreparation"]


def _index(value: Any) -> Any:
    """NumPy integers (``for q in np.arange(n)``) become ints; anything else is left to validation."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value


def _qubits(value: Iterable[int]) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise CircuitError(f"qubits must be a sequence of qubit indices, got {value!r}")
    out = tuple(_index(q) for q in value)
    for q in out:
        if isinstance(q, bool) or not isinstance(q, int) or q < 0:
            raise CircuitError(f"qubit indices must be non-negative integers, got {q!r}")
    if len(set(out)) != len(out):
        raise CircuitError(f"an operation cannot act twice on one qubit: {out}")
    return out


@attrs.frozen
class Operation:
    """A gate from the gate table applied to target qubits with angles."""

    gate: str = attrs.field(converter=lambda name: gate_spec(name).name)
    qubits: tuple[int, ...] = attrs.field(converter=_qubits)
    params: tuple[Expr, ...] = attrs.field(default=(), converter=lambda ps: tuple(as_expr(p) for p in ps))

    def __attrs_post_init__(self) -> None:
        spec = self.spec
        if len(self.qubits) != spec.n_qubits:
            raise CircuitError(
                f"gate {self.gate!r} acts on {spec.n_qubits} qubit(s), got qubits {self.qubits}"
            )
        if len(self.params) != spec.n_params:
            raise CircuitError(f"gate {self.gate!r} takes {spec.n_params} angle(s), got {len(self.params)}")

    @property
    def spec(self) -> GateSpec:
        """The gate-table row of this operation."""
        return gate_spec(self.gate)

    @property
    def symbols(self) -> frozenset[str]:
        """Symbols its angles depend on."""
        return frozenset().union(*(p.symbols for p in self.params))

    def inverse(self) -> Operation:
        """The operation that undoes this one."""
        name, params = self.spec.inverse(self.params)
        return Operation(name, self.qubits, params)

    def label(self) -> str:
        """Short text for drawings: ``RY(2*x_0)``."""
        if not self.params:
            return self.gate.upper()
        return f"{self.gate.upper()}({', '.join(str(p) for p in self.params)})"


@attrs.frozen
class StatePreparation:
    """Prepare the normalised amplitudes bound to ``input`` on ``qubits`` (amplitude encoding).

    The binding for ``input`` has shape ``(B, 2**k)`` or ``(2**k,)``; qubit ``qubits[0]`` is the
    most significant bit of the amplitude index. It must act on qubits still in ``|0…0>``.
    """

    qubits: tuple[int, ...] = attrs.field(converter=_qubits)
    input: str = attrs.field()

    @qubits.validator
    def _check_qubits(self, _: Any, value: tuple[int, ...]) -> None:
        if not value:
            raise CircuitError("state preparation needs at least one qubit")

    @input.validator
    def _check_input(self, _: Any, value: str) -> None:
        if not isinstance(value, str) or not value.isidentifier():
            raise CircuitError(f"state preparation input must be a symbol name, got {value!r}")

    gate: ClassVar[str] = "state_prep"
    params: ClassVar[tuple[Expr, ...]] = ()
    symbols: ClassVar[frozenset[str]] = frozenset()

    def inverse(self) -> Operation:
        """State preparation is not unitary on arbitrary inputs, so it has no inverse."""
        raise CircuitError("a circuit with state preparation has no inverse; decompose it first")

    def label(self) -> str:
        """Short text for drawings."""
        return f"PREP({self.input})"


Op = Operation | StatePreparation | Channel


def _operations(value: Iterable[Op]) -> tuple[Op, ...]:
    if isinstance(value, Operation | StatePreparation | Channel | str) or not isinstance(value, Iterable):
        raise CircuitError(f"operations must be a sequence of Operation, got {value!r}")
    return tuple(value)


@attrs.frozen
class Circuit:
    """An ``n_qubits`` register and an ordered tuple of operations."""

    n_qubits: int = attrs.field(converter=_index)
    operations: tuple[Op, ...] = attrs.field(default=(), converter=_operations)

    @n_qubits.validator
    def _check_n(self, _: Any, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CircuitError(f"n_qubits must be a positive integer, got {value!r}")

    def __attrs_post_init__(self) -> None:
        for index, op in enumerate(self.operations):
            if not isinstance(op, Operation | StatePreparation | Channel):
                raise CircuitError(f"operations[{index}] is not an Operation: {op!r}")
            if max(op.qubits) >= self.n_qubits:
                raise CircuitError(
                    f"operations[{index}] ({op.gate}) uses qubit {max(op.qubits)} "
                    f"but the circuit has {self.n_qubits} qubits (0..{self.n_qubits - 1})"
                )

    # -- building -------------------------------------------------------------------------------

    def append(self, *ops: Op) -> Circuit:
        """A new circuit with ``ops`` appended."""
        return Circuit(self.n_qubits, self.operations + ops)

    def gate(self, name: str, *qubits: int, params: Sequence[Angle] = ()) -> Circuit:
        """Append any gate of the table by name."""
        if isinstance(params, str | Expr) or not isinstance(params, Sequence):
            raise CircuitError(f"params must be a sequence of angles, e.g. params=(0.5,), got {params!r}")
        return self.append(Operation(name, qubits, params))

    def i(self, q: int) -> Circuit:
        """Identity."""
        return self.gate("i", q)

    def x(self, q: int) -> Circuit:
        """Pauli X."""
        return self.gate("x", q)

    def y(self, q: int) -> Circuit:
        """Pauli Y."""
        return self.gate("y", q)

    def z(self, q: int) -> Circuit:
        """Pauli Z."""
        return self.gate("z", q)

    def h(self, q: int) -> Circuit:
        """Hadamard."""
        return self.gate("h", q)

    def s(self, q: int) -> Circuit:
        """S = sqrt(Z)."""
        return self.gate("s", q)

    def sdg(self, q: int) -> Circuit:
        """S dagger."""
        return self.gate("sdg", q)

    def t(self, q: int) -> Circuit:
        """T = fourth root of Z."""
        return self.gate("t", q)

    def tdg(self, q: int) -> Circuit:
        """T dagger."""
        return self.gate("tdg", q)

    def sx(self, q: int) -> Circuit:
        """sqrt(X)."""
        return self.gate("sx", q)

    def rx(self, angle: Angle, q: int) -> Circuit:
        """exp(-i angle X / 2)."""
        return self.gate("rx", q, params=(angle,))

    def ry(self, angle: Angle, q: int) -> Circuit:
        """exp(-i angle Y / 2)."""
        return self.gate("ry", q, params=(angle,))

    def rz(self, angle: Angle, q: int) -> Circuit:
        """exp(-i angle Z / 2)."""
        return self.gate("rz", q, params=(angle,))

    def phase(self, angle: Angle, q: int) -> Circuit:
        """diag(1, e^{i angle})."""
        return self.gate("phase", q, params=(angle,))

    def u3(self, theta: Angle, phi: Angle, lam: Angle, q: int) -> Circuit:
        """Qiskit's U(θ, φ, λ)."""
        return self.gate("u3", q, params=(theta, phi, lam))

    def cnot(self, control: int, target: int) -> Circuit:
        """Controlled X."""
        return self.gate("cnot", control, target)

    cx = cnot

    def cy(self, control: int, target: int) -> Circuit:
        """Controlled Y."""
        return self.gate("cy", control, target)

    def cz(self, control: int, target: int) -> Circuit:
        """Controlled Z."""
        return self.gate("cz", control, target)

    def swap(self, a: int, b: int) -> Circuit:
        """Swap two qubits."""
        return self.gate("swap", a, b)

    def iswap(self, a: int, b: int) -> Circuit:
        """iSWAP."""
        return self.gate("iswap", a, b)

    def crx(self, angle: Angle, control: int, target: int) -> Circuit:
        """Controlled RX."""
        return self.gate("crx", control, target, params=(angle,))

    def cry(self, angle: Angle, control: int, target: int) -> Circuit:
        """Controlled RY."""
        return self.gate("cry", control, target, params=(angle,))

    def crz(self, angle: Angle, control: int, target: int) -> Circuit:
        """Controlled RZ."""
        return self.gate("crz", control, target, params=(angle,))

    def rxx(self, angle: Angle, a: int, b: int) -> Circuit:
        """exp(-i angle X⊗X / 2)."""
        return self.gate("rxx", a, b, params=(angle,))

    def ryy(self, angle: Angle, a: int, b: int) -> Circuit:
        """exp(-i angle Y⊗Y / 2)."""
        return self.gate("ryy", a, b, params=(angle,))

    def rzz(self, angle: Angle, a: int, b: int) -> Circuit:
        """exp(-i angle Z⊗Z / 2)."""
        return self.gate("rzz", a, b, params=(angle,))

    def ccx(self, c0: int, c1: int, target: int) -> Circuit:
        """Toffoli."""
        return self.gate("ccx", c0, c1, target)

    def prepare_state(self, input: str, qubits: Sequence[int] | None = None) -> Circuit:
        """Amplitude-encode the vector bound to ``input`` on ``qubits`` (default: all)."""
        return self.append(StatePreparation(tuple(range(self.n_qubits)) if qubits is None else qubits, input))

    def channel(self, name: str, *qubits: int, strength: Angle | None = None) -> Circuit:
        """Append a named noise channel (see `qstore.core.channels`) with its strength."""
        return self.append(Channel(name, qubits, () if strength is None else (strength,)))

    def amplitude_damping(self, gamma: Angle, q: int) -> Circuit:
        """Amplitude damping: ``|1> -> |0>`` with probability ``gamma``."""
        return self.channel("amplitude_damping", q, strength=gamma)

    def phase_damping(self, lam: Angle, q: int) -> Circuit:
        """Phase damping: off-diagonal terms scaled by ``√(1-lam)``."""
        return self.channel("phase_damping", q, strength=lam)

    def depolarizing(self, p: Angle, q: int) -> Circuit:
        """Depolarising: ``(1-p)·ρ + p·I/2`` on qubit ``q``."""
        return self.channel("depolarizing", q, strength=p)

    def bit_flip(self, p: Angle, q: int) -> Circuit:
        """X with probability ``p``."""
        return self.channel("bit_flip", q, strength=p)

    def phase_flip(self, p: Angle, q: int) -> Circuit:
        """Z with probability ``p``."""
        return self.channel("phase_flip", q, strength=p)

    def kraus(self, matrices: Sequence[Any], *qubits: int) -> Circuit:
        """A general channel from fixed Kraus matrices (complete to 1e-10) on ``qubits``."""
        return self.append(Channel("kraus", qubits, kraus=matrices))

    # -- structure ------------------------------------------------------------------------------

    def compose(self, other: Circuit, qubits: Sequence[int] | None = None) -> Circuit:
        """This circuit followed by ``other``, whose qubit i is mapped to ``qubits[i]``."""
        if not isinstance(other, Circuit):
            raise CircuitError(f"can only compose a Circuit, got {type(other).__name__}")
        if qubits is None:
            if other.n_qubits > self.n_qubits:
                raise CircuitError(
                    f"cannot compose a {other.n_qubits}-qubit circuit onto {self.n_qubits} qubits"
                )
            return self.append(*other.operations)
        mapping = _qubits(qubits)
        if len(mapping) != other.n_qubits:
            raise CircuitError(f"qubits must map all {other.n_qubits} qubits, got {len(mapping)}")
        moved = [attrs.evolve(op, qubits=tuple(mapping[q] for q in op.qubits)) for op in other.operations]
        return self.append(*moved)

    def __add__(self, other: Circuit) -> Circuit:
        return self.compose(other)

    def inverse(self) -> Circuit:
        """The adjoint circuit: operations reversed and each inverted."""
        return Circuit(self.n_qubits, tuple(op.inverse() for op in reversed(self.operations)))

    @property
    def symbols(self) -> tuple[str, ...]:
        """Sorted names of the scalar symbols the angles use."""
        return tuple(sorted(frozenset().union(*(op.symbols for op in self.operations))))

    @property
    def has_noise(self) -> bool:
        """Whether the circuit contains a noise channel."""
        return any(isinstance(op, Channel) for op in self.operations)

    @property
    def vector_inputs(self) -> tuple[str, ...]:
        """Names of the state-preparation inputs, in order of appearance."""
        return tuple(op.input for op in self.operations if isinstance(op, StatePreparation))

    @property
    def depth(self) -> int:
        """Number of layers when every operation is placed as early as possible."""
        level = [0] * self.n_qubits
        for op in self.operations:
            d = max(level[q] for q in op.qubits) + 1
            for q in op.qubits:
                level[q] = d
        return max(level)

    def gate_counts(self) -> dict[str, int]:
        """How many times each gate appears."""
        return dict(Counter(op.gate for op in self.operations))

    def specs(self, inputs: Sequence[str] = ()) -> CircuitSpecs:
        """Resource report: qubits, depth, gate counts by name and arity, parameters, inputs."""
        from qstore.core.specs import circuit_specs

        return circuit_specs(self, inputs)

    # -- identity -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Versioned plain-data form (see `qstore.core.serialization`)."""
        from qstore.core.serialization import circuit_to_dict

        return circuit_to_dict(self)

    def to_json(self, **kwargs: Any) -> str:
        """Versioned JSON text, ``"format": "qstore.circuit/1"`` (``/2`` with channels); strict JSON (never ``Infinity``/``NaN``).

        ``kwargs`` go to `json.dumps` (``indent``, ...).
        """
        return json.dumps(self.to_dict(), **{**kwargs, "allow_nan": False})

    @classmethod
    def from_json(cls, text: str | bytes) -> Circuit:
        """Read and validate circuit JSON; errors name the offending field."""
        from qstore.core.serialization import circuit_from_json

        return circuit_from_json(text)

    @cached_property
    def hash(self) -> str:
        """Stable content hash (SHA-256 of the canonical JSON)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def draw(
        self, width: int | None = None, observables: ObservableLike | Sequence[ObservableLike] = ()
    ) -> str:
        """A text drawing wrapped to ``width`` (default: the terminal), observables at the right end."""
        from qstore.core.drawing import draw

        return draw(self, width, observables)

    def __str__(self) -> str:
        return self.draw()
