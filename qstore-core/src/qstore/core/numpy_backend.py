"""The reference engine: a batched NumPy statevector simulator registered as backend ``numpy``.

It is the default backend, the oracle every other engine is tested against, and exact: complex128
by default (``precision="single"``, complex64, halves memory). Gradients: adjoint differentiation (one forward
and one backward sweep for any number of parameters), plus the generic methods of `Backend`.

Noisy circuits (`qstore.core.channels`) run on density matrices (`qstore.core.density`, exact, with
adjoint gradients through gate angles and channel strengths) or, with ``noise="trajectories"``, as
seeded Monte-Carlo trajectories (`qstore.core.trajectories`; their standard errors are returned as
``info["stderr"]``). Noiseless circuits always take the statevector path.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from qstore.core import density
from qstore.core import statevector as sv
from qstore.core import trajectories as tj
from qstore.core.backend import NOISE_METHODS, Backend, Capabilities, Request, Result, check_precision
from qstore.core.circuit import StatePreparation
from qstore.core.errors import CapabilityError, GradientError
from qstore.core.gates import GATES
from qstore.core.plan import compile_plan
from qstore.core.plan_adjoint import angle_grads, reverse_sweep

__all__ = ["NumpyBackend"]

_DTYPES = {"double": np.complex128, "single": np.complex64}
_WORKING_BYTES = 4


class NumpyBackend(Backend):
    """Batched NumPy statevector simulator (the ``numpy`` backend).

    ``noise`` chooses how noisy circuits run: ``"density"`` (exact) or ``"trajectories"``
    (``trajectories`` seeded pure-state samples per row).
    """

    def __init__(
        self, precision: str = "double", noise: str = "density", trajectories: int = tj.DEFAULT_TRAJECTORIES
    ) -> None:
        self.precision = check_precision(precision)
        self.dtype = np.dtype(_DTYPES[self.precision])
        if noise not in NOISE_METHODS:
            raise CapabilityError(f"noise must be one of {list(NOISE_METHODS)}, got {noise!r}")
        self.noise = noise
        self.trajectories = tj.check_trajectories(trajectories)

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
            description=f"batched NumPy statevector reference engine ({self.dtype.name}); noise: {self.noise}",
            noise=(self.noise,),
        )

    def execute(self, request: Request) -> Result:
        """Simulate the batch once; read expectations, samples, probabilities from that state."""
        if request.circuit.has_noise:
            return self._execute_noisy(request)
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

    def _execute_noisy(self, request: Request) -> Result:
        """Density matrices (exact) or trajectories; states are not returned for mixed states."""
        if request.wants("state"):
            raise CapabilityError(
                "a noisy circuit has a mixed state, not a statevector; ask for probabilities or expectations"
            )
        batch, shots, obs = request.batch, request.shots, request.observables
        rng = np.random.default_rng(request.seed)
        info: dict[str, object] = {"noise": self.noise}
        expectations = None
        if self.noise == "density":
            rho = density.simulate(batch, self.dtype)
            probs = density.probabilities(rho)
            if request.wants("expectations"):
                expectations = (
                    density.expectations(rho, obs)
                    if shots is None
                    else density.shot_expectations(rho, obs, shots, rng)
                )
        else:
            runs = tj.simulate(batch, self.trajectories, rng, self.dtype)
            probs = runs.probabilities()
            info["trajectories"] = runs.count
            if request.wants("expectations"):
                expectations, info["stderr"] = runs.expectations(obs)
        return Result(
            expectations=expectations,
            samples=sv.sample(probs, shots, rng) if request.wants("samples") and shots is not None else None,
            probabilities=probs if request.wants("probabilities") else None,
            info=info,
        )

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Adjoint method: one reverse sweep over the plan's steps carrying ``<λ|`` and ``|ψ>``
        (`qstore.core.plan_adjoint`), then the chain rule from step matrices to the symbols; for
        noisy circuits, ``<<Λ|`` and the stored density matrices (see `qstore.core.density`)."""
        batch, observables = request.batch, request.observables
        if batch.circuit.has_noise:
            if self.noise != "density":
                raise GradientError(
                    "trajectories are stochastic and have no adjoint gradient; use NumpyBackend(noise='density')"
                )
            return density.vjp(batch, observables, cotangent, wrt, self.dtype)
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
