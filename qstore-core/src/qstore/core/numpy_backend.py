"""The reference engine: a batched NumPy statevector simulator registered as backend ``numpy``.

It is the default backend, the oracle every other engine is tested against, and exact: complex128
by default (``precision="single"``, complex64, halves memory). Gradients: adjoint differentiation (one forward
and one backward sweep for any number of parameters), plus the generic methods of `Backend`.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from qstore.core import statevector as sv
from qstore.core.backend import Backend, Capabilities, Request, Result, check_precision
from qstore.core.circuit import StatePreparation
from qstore.core.errors import GradientError
from qstore.core.gates import GATES
from qstore.core.plan import compile_plan
from qstore.core.plan_adjoint import angle_grads, reverse_sweep

__all__ = ["NumpyBackend"]

_DTYPES = {"double": np.complex128, "single": np.complex64}
_WORKING_BYTES = 4


class NumpyBackend(Backend):
    """Batched NumPy statevector simulator (the ``numpy`` backend)."""

    def __init__(self, precision: str = "double") -> None:
        self.precision = check_precision(precision)
        self.dtype = np.dtype(_DTYPES[self.precision])

    @cached_property
    def capabilities(self) -> Capabilities:
        """Every gate of the table; qubits limited by this machine's memory."""
        per_state = _WORKING_BYTES * self.dtype.itemsize
        max_qubits = int(math.log2(max(sv.available_memory() // per_state, 2)))
        return Capabilities(
            name="numpy",
            max_qubits=max_qubits,
            gates=frozenset(GATES),
            gradient_methods=("adjoint", "parameter-shift", "finite-diff", "spsa"),
            devices=("cpu",),
            precision=self.precision,
            description=f"batched NumPy statevector reference engine ({self.dtype.name})",
        )

    def execute(self, request: Request) -> Result:
        """Simulate the batch once; read expectations, samples, probabilities from that state."""
        batch, shots = request.batch, request.shots
        state = sv.simulate(batch, self.dtype)
        rng = np.random.default_rng(request.seed)
        expectations = None
        if request.wants("expectations"):
            expectations = (
                sv.expectations(state, request.observables)
                if shots is None
                else sv.shot_expectations(state, request.observables, shots, rng)
            )
        need_probs = request.wants("samples") or request.wants("probabilities")
        probs = sv.probabilities(state) if need_probs else None
        return Result(
            expectations=expectations,
            samples=sv.sample(probs, shots, rng) if request.wants("samples") else None,
            probabilities=probs if request.wants("probabilities") else None,
            statevectors=state.reshape(batch.size, -1) if request.wants("state") else None,
        )

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Adjoint method: one reverse sweep over the plan's steps carrying ``<λ|`` and ``|ψ>``
        (`qstore.core.plan_adjoint`), then the chain rule from step matrices to the symbols."""
        batch, observables = request.batch, request.observables
        ops = batch.circuit.operations
        wanted = set(wrt)
        last_prep = max((i for i, op in enumerate(ops) if isinstance(op, StatePreparation)), default=-1)
        if any(op.symbols & wanted for op in ops[: max(last_prep, 0)]):
            raise GradientError(
                "adjoint differentiation needs state preparation before every differentiated gate"
            )
        plan = compile_plan(batch.circuit)
        m = sv.plan_matrices(plan, batch, self.dtype)
        state = sv.simulate(batch, self.dtype)
        lam = np.zeros_like(state)
        for j, obs in enumerate(observables):
            weight = cotangent[:, j].reshape((-1,) + (1,) * (state.ndim - 1))
            lam += weight * sv.apply_observable(state, obs)
        sweep = reverse_sweep(
            plan,
            state.reshape(batch.size, -1),
            lam.reshape(batch.size, -1),
            lambda step, x, inverse: sv.apply_step(step, x, m, inverse),
            sv.matrix_grad,
            start=plan.last_prepare + 1,
        )
        values = np.zeros((batch.size, len(plan.symbols)))
        for j, name in enumerate(plan.symbols):
            values[:, j] = batch.values[name]
        grads = angle_grads(plan, plan.angles(values), m, sweep) @ plan.angle_map.T
        column = {s: i for i, s in enumerate(plan.symbols)}
        return {name: grads[:, column[name]] for name in wrt}
