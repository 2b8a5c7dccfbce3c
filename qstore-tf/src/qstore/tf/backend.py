"""The ``tf`` backend: the TensorFlow statevector engine behind the core backend contract.

Same semantics as the reference engine (`qstore.core.NumpyBackend`), complex64 by default
(``dtype="complex128"`` for double precision). Exact expectations and statevectors come from the
TensorFlow kernels of `qstore.tf.statevector`; sampling reads the final state with the core's
seeded samplers, so a seed gives the same draws as the reference engine. A circuit that runs
again is executed as a cached `tf.function` (`qstore.tf.programs`). Gradients: ``adjoint``
is exact reverse-mode differentiation by TensorFlow autodiff through the simulation, and the
generic parameter-shift, finite-difference and SPSA methods come from `Backend`.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import tensorflow as tf

from qstore.core import statevector as core_sv
from qstore.core.backend import GRADIENT_METHODS, Backend, Capabilities, Result, RunMetadata
from qstore.core.bindings import Batch
from qstore.core.errors import CapabilityError
from qstore.core.gates import GATES
from qstore.core.observables import Observable
from qstore.tf import statevector as sv
from qstore.tf.gates import real_dtype
from qstore.tf.programs import ProgramCache, expectation_program, vjp_program

__all__ = ["TFBackend"]

_DTYPES = {"complex64": tf.complex64, "complex128": tf.complex128}
_WORKING_COPIES = 6


class TFBackend(Backend):
    """Batched TensorFlow statevector simulator (the ``tf`` backend).

    >>> from qstore.core import Circuit
    >>> TFBackend().run(Circuit(2).h(0).cnot(0, 1), observables=["Z0 Z1"]).expectations.round(6)
    array([[1.]])
    """

    def __init__(self, dtype: str = "complex64") -> None:
        if dtype not in _DTYPES:
            raise CapabilityError(f"tf backend dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.dtype: tf.DType = _DTYPES[dtype]
        self._programs = ProgramCache()

    @cached_property
    def capabilities(self) -> Capabilities:
        """Every gate of the table; qubits limited by this machine's memory."""
        per_state = _WORKING_COPIES * self.dtype.size
        max_qubits = int(math.log2(max(core_sv.available_memory() // per_state, 2)))
        devices = ("cpu", "gpu") if tf.config.list_physical_devices("GPU") else ("cpu",)
        return Capabilities(
            name="tf",
            max_qubits=max_qubits,
            gates=frozenset(GATES),
            gradient_methods=GRADIENT_METHODS,
            devices=devices,
            description=f"batched TensorFlow statevector engine ({self.dtype.name}), autodiff gradients",
        )

    def _tensors(self, batch: Batch) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        rdtype = real_dtype(self.dtype)
        values = {k: tf.constant(np.ascontiguousarray(v), dtype=rdtype) for k, v in batch.values.items()}
        vectors = {
            k: tf.constant(np.ascontiguousarray(v), dtype=self.dtype) for k, v in batch.vectors.items()
        }
        return values, vectors

    def _execute(
        self,
        batch: Batch,
        observables: tuple[Observable, ...],
        shots: int | None,
        seed: int | None,
        return_state: bool,
    ) -> Result:
        n = batch.circuit.n_qubits
        core_sv.check_memory(n, batch.size, self.dtype.as_numpy_dtype)
        values, vectors = self._tensors(batch)
        program = self._programs.get(
            ("run", batch.circuit, observables),
            lambda: expectation_program(batch.circuit, observables, self.dtype),
        )
        state, exact_values = program(values, vectors, tf.constant(batch.size))
        expectations = samples = None
        if observables and shots is None:
            expectations = exact_values.numpy().astype(np.float64)
        probs = (
            sv.probabilities(state).numpy().astype(np.float64) if shots is not None or return_state else None
        )
        if shots is not None:
            assert probs is not None
            rng = np.random.default_rng(seed)
            exact = state.numpy().astype(np.complex128).reshape((batch.size,) + (2,) * n)
            if observables:
                expectations = core_sv.shot_expectations(exact, observables, shots, rng)
            samples = core_sv.sample(probs, shots, rng)
        return Result(
            metadata=RunMetadata(
                self.name, n, batch.size, shots, 0.0, seed, extra={"dtype": self.dtype.name}
            ),
            expectations=expectations,
            samples=samples,
            probabilities=probs if return_state else None,
            statevectors=state.numpy() if return_state else None,
        )

    def _adjoint_vjp(
        self,
        batch: Batch,
        observables: tuple[Observable, ...],
        cotangent: np.ndarray,
        wrt: tuple[str, ...],
    ) -> dict[str, np.ndarray]:
        """Exact VJP by TensorFlow reverse-mode autodiff through the simulation."""
        values, vectors = self._tensors(batch)
        program = self._programs.get(
            ("vjp", batch.circuit, observables, wrt),
            lambda: vjp_program(batch.circuit, observables, wrt, self.dtype),
        )
        grads = program(values, vectors, tf.constant(batch.size), tf.constant(cotangent))
        return {name: g.numpy().astype(np.float64) for name, g in zip(wrt, grads, strict=True)}
