"""The reference engine: a batched NumPy statevector simulator registered as backend ``numpy``.

It is the default backend, the oracle every other engine is tested against, and exact: complex128
by default (``dtype="complex64"`` halves memory). Gradients: adjoint differentiation (one forward
and one backward sweep for any number of parameters), plus the generic methods of `Backend`.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from qstore.core import statevector as sv
from qstore.core.backend import GRADIENT_METHODS, Backend, Capabilities, Result, RunMetadata
from qstore.core.bindings import Batch
from qstore.core.circuit import Operation, StatePreparation
from qstore.core.errors import CapabilityError, GradientError
from qstore.core.gates import GATES
from qstore.core.observables import Observable

__all__ = ["NumpyBackend"]

_DTYPES = {"complex128": np.complex128, "complex64": np.complex64}
_WORKING_BYTES = 4


class NumpyBackend(Backend):
    """Batched NumPy statevector simulator (the ``numpy`` backend)."""

    def __init__(self, dtype: str = "complex128") -> None:
        if dtype not in _DTYPES:
            raise CapabilityError(f"numpy backend dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.dtype = np.dtype(_DTYPES[dtype])

    @cached_property
    def capabilities(self) -> Capabilities:
        """Every gate of the table; qubits limited by this machine's memory."""
        per_state = _WORKING_BYTES * self.dtype.itemsize
        max_qubits = int(math.log2(max(sv.available_memory() // per_state, 2)))
        return Capabilities(
            name="numpy",
            max_qubits=max_qubits,
            gates=frozenset(GATES),
            gradient_methods=GRADIENT_METHODS,
            devices=("cpu",),
            description=f"batched NumPy statevector reference engine ({self.dtype.name})",
        )

    def _execute(
        self,
        batch: Batch,
        observables: tuple[Observable, ...],
        shots: int | None,
        seed: int | None,
        return_state: bool,
    ) -> Result:
        state = sv.simulate(batch, self.dtype)
        rng = np.random.default_rng(seed)
        expectations = None
        if observables:
            expectations = (
                sv.expectations(state, observables)
                if shots is None
                else sv.shot_expectations(state, observables, shots, rng)
            )
        probs = sv.probabilities(state) if (shots is not None or return_state) else None
        return Result(
            metadata=RunMetadata(self.name, batch.circuit.n_qubits, batch.size, shots, 0.0, seed),
            expectations=expectations,
            samples=sv.sample(probs, shots, rng) if probs is not None and shots is not None else None,
            probabilities=probs if return_state else None,
            statevectors=state.reshape(batch.size, -1) if return_state else None,
        )

    def _adjoint_vjp(
        self,
        batch: Batch,
        observables: tuple[Observable, ...],
        cotangent: np.ndarray,
        wrt: tuple[str, ...],
    ) -> dict[str, np.ndarray]:
        """Adjoint method: sweep back through the circuit once, carrying ``<λ|`` and ``|ψ>``."""
        ops = batch.circuit.operations
        wanted = set(wrt)
        last_prep = max((i for i, op in enumerate(ops) if isinstance(op, StatePreparation)), default=-1)
        if any(op.symbols & wanted for op in ops[: max(last_prep, 0)]):
            raise GradientError(
                "adjoint differentiation needs state preparation before every differentiated gate"
            )
        psi = sv.simulate(batch, self.dtype)
        lam = np.zeros_like(psi)
        for j, obs in enumerate(observables):
            weight = cotangent[:, j].reshape((-1,) + (1,) * (psi.ndim - 1))
            lam += weight * sv.apply_observable(psi, obs)
        grads = {name: np.zeros(batch.size) for name in wrt}
        for op in reversed(ops[last_prep + 1 :]):
            assert isinstance(op, Operation)
            m = sv.op_matrix(op, batch)
            m_dag = np.conj(np.swapaxes(m, -1, -2))
            psi = sv.apply_matrix(psi, m_dag, op.qubits)
            if op.symbols & wanted:
                angles = batch.angles(op)
                for index, expr in enumerate(op.params):
                    used = expr.symbols & wanted
                    if not used:
                        continue
                    dm = op.spec.matrix_derivative(angles, index)
                    d_psi = sv.apply_matrix(psi, dm, op.qubits)
                    g = (
                        2
                        * np.einsum(
                            "bi,bi->b",
                            lam.reshape(batch.size, -1).conj(),
                            d_psi.reshape(batch.size, -1),
                        ).real
                    )
                    for name in used:
                        grads[name] += expr.coefficient(name) * g
            lam = sv.apply_matrix(lam, m_dag, op.qubits)
        return grads
