"""Backend ``lightning``: PennyLane Lightning (``lightning.qubit``, ``.gpu``, ``.kokkos``).

A batch becomes one list of PennyLane tapes (one per binding, built from a per-circuit template
whose parameters are vectorised expressions of the IR symbols) executed in one call: the device's
own ``execute`` when exact (every operation is native, so no preprocessing is needed), and
``qml.execute`` with PennyLane's preprocessing when sampling. Exact expectations, states and seeded sampling come from Lightning; its adjoint Jacobian,
``device.compute_vjp`` with ``gradient_method="adjoint"``, is this backend's ``adjoint``
gradient method, mapped back to IR symbols by the chain rule.
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache
from importlib.metadata import entry_points
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.devices import ExecutionConfig

from qstore.core import statevector as sv
from qstore.core.backend import Backend, Capabilities, Request, Result, check_precision
from qstore.core.bindings import Batch
from qstore.core.circuit import Circuit, Operation
from qstore.core.errors import CapabilityError
from qstore.core.gates import GATES
from qstore.core.observables import Observable

from .pennylane_ops import PennyLaneOp, pennylane_ops

__all__ = ["LightningBackend", "lightning_devices"]

DEVICES: dict[str, str] = {"lightning.qubit": "cpu", "lightning.gpu": "cuda", "lightning.kokkos": "cpu"}
_PRECISIONS = {"double": np.complex128, "single": np.complex64}
_WORKING_COPIES = 4  # state, adjoint bra and ket, one observable application
_PAULIS = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
_ADJOINT = ExecutionConfig(gradient_method="adjoint")


def lightning_devices() -> tuple[str, ...]:
    """The Lightning devices installed here (their PennyLane plugins are registered)."""
    names = {ep.name for ep in entry_points(group="pennylane.plugins")}
    return tuple(d for d in DEVICES if d in names)


@lru_cache(maxsize=64)
def _template(circuit: Circuit) -> tuple[PennyLaneOp, ...]:
    ops: list[PennyLaneOp] = []
    for op in circuit.operations:
        assert isinstance(op, Operation)  # state preparation is decomposed by Backend.prepare
        ops.extend(pennylane_ops(op))
    return tuple(ops)


def _observable(observable: Observable) -> Any:
    terms, coeffs = [], []
    for term in observable.terms:
        factors = [_PAULIS[p](q) for q, p in term.paulis] or [qml.Identity(0)]
        terms.append(factors[0] if len(factors) == 1 else qml.prod(*factors))
        coeffs.append(term.coeff)
    if len(terms) == 1 and coeffs[0] == 1:
        return terms[0]
    return qml.Hamiltonian(coeffs, terms)


class LightningBackend(Backend):
    """PennyLane Lightning statevector simulator (the ``lightning`` backend).

    ``device`` is ``"lightning.qubit"`` (CPU, default), ``"lightning.gpu"`` (NVIDIA cuStateVec) or
    ``"lightning.kokkos"`` (OpenMP/CUDA/HIP, as built); asking for one that is not installed or has
    no GPU is a `CapabilityError`. ``precision`` is ``"double"`` (complex128) or ``"single"``.
    Lightning's CPU kernels use OpenMP: set ``OMP_NUM_THREADS`` before import to bound threads.
    """

    def __init__(self, device: str = "lightning.qubit", precision: str = "double") -> None:
        if device not in DEVICES:
            raise CapabilityError(f"lightning device must be one of {sorted(DEVICES)}, got {device!r}")
        self.precision = check_precision(precision)
        installed = lightning_devices()
        if device not in installed:
            package = "pennylane-lightning-" + device.split(".")[1]
            raise CapabilityError(
                f"PennyLane device {device!r} is not installed (installed: {list(installed)}); "
                f"install {package} (with its GPU runtime) on a machine that has the hardware, "
                "or use device='lightning.qubit'"
            )
        self.device = device
        self.dtype = np.dtype(_PRECISIONS[self.precision])
        try:
            self._device(1)
        except Exception as error:  # the plugin is present but its hardware or runtime is not
            raise CapabilityError(f"PennyLane device {device!r} cannot start here: {error}") from error

    def _device(self, n_qubits: int, seed: int | None = None, sampling: bool = False) -> Any:
        if sampling:
            return qml.device(self.device, wires=n_qubits, c_dtype=self.dtype, seed=seed)
        return _exact_device(self.device, n_qubits, self.dtype)

    @cached_property
    def capabilities(self) -> Capabilities:
        """Every gate of the table; qubits limited by free host memory; adjoint gradients."""
        per_state = _WORKING_COPIES * self.dtype.itemsize
        max_qubits = int(math.log2(max(sv.available_memory() // per_state, 2)))
        return Capabilities(
            name="lightning",
            max_qubits=max_qubits,
            gates=frozenset(GATES),
            native_state_prep=False,
            gradient_methods=("adjoint", "parameter-shift", "finite-diff", "spsa"),
            devices=(DEVICES[self.device],),
            precision=self.precision,
            description=f"PennyLane {self.device} statevector simulator ({self.dtype.name}), adjoint Jacobians",
        )

    def _tapes(
        self,
        batch: Batch,
        measurements: list[Any],
        shots: int | None = None,
        wrt: frozenset[str] = frozenset(),
    ) -> list[qml.tape.QuantumScript]:
        """One tape per binding; operations without symbols are built once and shared."""
        template = _template(batch.circuit)
        fixed = [
            None
            if any(p.symbols for p in op.params)
            else op.cls(*(p.const for p in op.params), wires=op.wires)
            for op in template
        ]
        values = [
            [np.broadcast_to(p.evaluate(batch.values), (batch.size,)) for p in op.params] for op in template
        ]
        trainable = [i for i, p in enumerate(p for op in template for p in op.params) if p.symbols & wrt]
        return [
            qml.tape.QuantumScript(
                [
                    shared if shared is not None else op.cls(*(float(v[b]) for v in vals), wires=op.wires)
                    for op, vals, shared in zip(template, values, fixed, strict=True)
                ],
                measurements,
                shots=shots,
                trainable_params=trainable,
            )
            for b in range(batch.size)
        ]

    def execute(self, request: Request) -> Result:
        """The batch as one list of tapes: exact expvals and states, or seeded samples."""
        batch, shots, seed = request.batch, request.shots, request.seed
        observables = request.observables if request.wants("expectations") else ()
        return_state = request.wants("state") or request.wants("probabilities")
        n = batch.circuit.n_qubits
        expvals = [qml.expval(_observable(o)) for o in observables]
        expectations = states = samples = None
        if shots is None or return_state:
            exact = expvals if shots is None else []
            wanted = [*exact, qml.state()] if return_state else exact
            if return_state:
                sv.check_memory(n, batch.size, self.dtype)  # the batch's final states are kept together
            rows = self._device(n).execute(self._tapes(batch, wanted)) if wanted else []
            rows = [row if isinstance(row, tuple) else (row,) for row in rows]
            if return_state:
                states = np.stack([np.asarray(row[-1]) for row in rows])
            if exact:
                expectations = np.array([[float(np.real(v)) for v in row[: len(exact)]] for row in rows])
        if shots is not None:
            device = self._device(n, seed=seed, sampling=True)
            rows = qml.execute(self._tapes(batch, [*expvals, qml.sample(wires=range(n))], shots), device)
            rows = [row if isinstance(row, tuple) else (row,) for row in rows]
            bits = np.stack([np.asarray(row[-1]).reshape(shots, n) for row in rows]).astype(np.int64)
            samples = bits @ (1 << np.arange(n - 1, -1, -1, dtype=np.int64))
            if expvals:
                expectations = np.array([[float(v) for v in row[:-1]] for row in rows])
        return Result(
            expectations=expectations,
            samples=samples if request.wants("samples") else None,
            probabilities=np.abs(states) ** 2
            if request.wants("probabilities") and states is not None
            else None,
            statevectors=states if request.wants("state") else None,
            info={"device": self.device},
        )

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Lightning's adjoint VJP per PennyLane parameter, chained onto the IR symbols."""
        batch, observables = request.batch, request.observables
        grads = {name: np.zeros(batch.size) for name in wrt}
        wanted = frozenset(wrt)
        params = [p for op in _template(batch.circuit) for p in op.params]
        trainable = [p for p in params if p.symbols & wanted]
        if not trainable or not observables:
            return grads
        tapes = self._tapes(batch, [qml.expval(_observable(o)) for o in observables], wrt=wanted)
        cots = [cotangent[b] if len(observables) > 1 else cotangent[b, 0] for b in range(batch.size)]
        vjps = self._device(batch.circuit.n_qubits).compute_vjp(tapes, cots, _ADJOINT)
        per_param = np.array([np.atleast_1d(np.asarray(v, dtype=float)).reshape(-1) for v in vjps])
        for j, expr in enumerate(trainable):
            for name in expr.symbols & wanted:
                grads[name] += expr.coefficient(name) * per_param[:, j]
        return grads


@lru_cache(maxsize=32)
def _exact_device(name: str, n_qubits: int, dtype: np.dtype) -> Any:
    return qml.device(name, wires=n_qubits, c_dtype=dtype)
