"""The ``tf`` backend: the TensorFlow statevector engine behind the core backend contract.

Same semantics as the reference engine (`qstore.core.NumpyBackend`), single precision (complex64)
by default (``precision="double"`` for complex128). Exact expectations and statevectors come from the
TensorFlow kernels of `qstore.tf.statevector` executing the core plan; sampling reads the final state with the core's
seeded samplers, so a seed gives the same draws as the reference engine. A circuit that runs
again is executed as a cached `tf.function` (`qstore.tf.programs`). Gradients: ``backprop``
is exact reverse-mode differentiation by TensorFlow autodiff through the simulation, and the
generic parameter-shift, finite-difference and SPSA methods come from `Backend`. Noisy circuits run
on density matrices (`qstore.tf.density`) and differentiate by autodiff through channel strengths.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import tensorflow as tf

from qstore.core import density as core_dm
from qstore.core import statevector as core_sv
from qstore.core.backend import Backend, Capabilities, Request, Result, check_precision
from qstore.core.bindings import Batch
from qstore.core.errors import CapabilityError
from qstore.core.gates import GATES
from qstore.tf import density
from qstore.tf import statevector as sv
from qstore.tf.gates import real_dtype
from qstore.tf.programs import ProgramCache, expectation_program, vjp_program

__all__ = ["TFBackend"]

_DTYPES = {"single": tf.complex64, "double": tf.complex128}
_WORKING_COPIES = 6


class TFBackend(Backend):
    """Batched TensorFlow statevector simulator (the ``tf`` backend).

    >>> from qstore.core import Circuit
    >>> TFBackend().run(Circuit(2).h(0).cnot(0, 1), observables=["Z0 Z1"]).expectations.round(6)
    array([[1.]])
    """

    def __init__(self, precision: str = "single") -> None:
        self.precision = check_precision(precision)
        self.dtype: tf.DType = _DTYPES[self.precision]
        self._programs = ProgramCache()

    @cached_property
    def capabilities(self) -> Capabilities:
        """Every gate of the table; qubits limited by this machine's memory."""
        per_state = _WORKING_COPIES * self.dtype.size
        max_qubits = int(math.log2(max(core_sv.available_memory() // per_state, 2)))
        gpus = tf.config.list_physical_devices("GPU")
        devices = ("cpu", *(f"cuda:{i}" for i in range(len(gpus))))
        return Capabilities(
            name="tf",
            max_qubits=max_qubits,
            gates=frozenset(GATES),
            gradient_methods=("backprop", "parameter-shift", "finite-diff", "spsa"),
            devices=devices,
            precision=self.precision,
            noise=("density",),
            description=f"batched TensorFlow statevector engine ({self.dtype.name}), autodiff gradients",
        )

    def _tensors(self, batch: Batch) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Symbol values ``(B, S)`` in the circuit's symbol order, and state-preparation vectors."""
        symbols = batch.circuit.symbols
        stacked = (
            np.stack([batch.values[s] for s in symbols], axis=1) if symbols else np.zeros((batch.size, 0))
        )
        values = tf.constant(stacked, dtype=real_dtype(self.dtype))
        vectors = {
            k: tf.constant(np.ascontiguousarray(v), dtype=self.dtype) for k, v in batch.vectors.items()
        }
        return values, vectors

    def execute(self, request: Request) -> Result:
        """Run the cached program for this structure; sample from its state with the core samplers."""
        batch, observables, shots = request.batch, request.observables, request.shots
        n = batch.circuit.n_qubits
        if batch.circuit.has_noise:
            return self._execute_noisy(request)
        core_sv.check_memory(n, batch.size, self.dtype.as_numpy_dtype)
        values, vectors = self._tensors(batch)
        program = self._programs.get(
            ("run", batch.circuit, observables),
            lambda: expectation_program(batch.circuit, observables, self.dtype),
        )
        state, exact_values = program(values, vectors)
        expectations = samples = None
        if request.wants("expectations") and shots is None:
            expectations = exact_values.numpy().astype(np.float64)
        need_probs = request.wants("samples") or request.wants("probabilities")
        probs = sv.probabilities(state).numpy().astype(np.float64) if need_probs else None
        if shots is not None:
            rng = np.random.default_rng(request.seed)
            if request.wants("expectations"):
                exact = state.numpy().astype(np.complex128).reshape((batch.size,) + (2,) * n)
                expectations = core_sv.shot_expectations(exact, observables, shots, rng)
            if request.wants("samples"):
                samples = core_sv.sample(probs, shots, rng)
        return Result(
            expectations=expectations,
            samples=samples,
            probabilities=probs if request.wants("probabilities") else None,
            statevectors=state.numpy() if request.wants("state") else None,
            info={"dtype": self.dtype.name},
        )

    def _execute_noisy(self, request: Request) -> Result:
        """Density matrices in TensorFlow; shots are drawn as the NumPy reference draws them."""
        if request.wants("state"):
            raise CapabilityError(
                "a noisy circuit has a mixed state, not a statevector; ask for probabilities or expectations"
            )
        batch, observables, shots = request.batch, request.observables, request.shots
        n = batch.circuit.n_qubits
        core_sv.check_memory(2 * n, batch.size, self.dtype.as_numpy_dtype)
        values, vectors = self._tensors(batch)
        program = self._programs.get(
            ("run", batch.circuit, observables),
            lambda: expectation_program(batch.circuit, observables, self.dtype),
        )
        rho, exact_values = program(values, vectors)
        rng = np.random.default_rng(request.seed)
        expectations = None
        if request.wants("expectations"):
            if shots is None:
                expectations = exact_values.numpy().astype(np.float64)
            else:
                rho_np = rho.numpy().astype(np.complex128).reshape((batch.size,) + (2,) * (2 * n))
                expectations = core_dm.shot_expectations(rho_np, observables, shots, rng)
        probs = density.probabilities(rho).numpy().astype(np.float64)
        return Result(
            expectations=expectations,
            samples=core_sv.sample(probs, shots, rng)
            if request.wants("samples") and shots is not None
            else None,
            probabilities=probs if request.wants("probabilities") else None,
            info={"dtype": self.dtype.name, "noise": "density"},
        )

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Exact VJP (``backprop``): TensorFlow reverse-mode autodiff through the simulation."""
        batch, observables = request.batch, request.observables
        values, vectors = self._tensors(batch)
        program = self._programs.get(
            ("vjp", batch.circuit, observables),
            lambda: vjp_program(batch.circuit, observables, self.dtype),
        )
        grads = program(values, vectors, tf.constant(cotangent)).numpy().astype(np.float64)
        column = {s: i for i, s in enumerate(batch.circuit.symbols)}
        return {name: grads[:, column[name]] for name in wrt}
