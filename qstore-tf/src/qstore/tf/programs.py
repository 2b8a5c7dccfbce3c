"""Per-circuit TensorFlow programs behind the ``tf`` backend, compiled once a circuit repeats.

A circuit's structure is static, so its simulation is a fixed TensorFlow program. The first run of
a circuit executes eagerly (tracing costs more than one small run); from the second run on the
program is a `tf.function` (with ``reduce_retracing``, so new batch sizes do not retrace), which
removes Python and eager-dispatch overhead from every later call. Programs are cached per
``(circuit, observables)`` with a bounded LRU. Each program executes the circuit's core plan, or,
for a noisy circuit, its density matrices (`qstore.tf.density`).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable
from typing import Any

import tensorflow as tf

from qstore.core.circuit import Circuit
from qstore.core.observables import Observable
from qstore.core.plan import compile_plan
from qstore.core.plan_readout import compile_readout
from qstore.tf import density
from qstore.tf import statevector as sv

__all__ = ["ProgramCache", "expectation_program", "vjp_program"]

Program = Callable[..., Any]


def expectation_program(circuit: Circuit, observables: tuple[Observable, ...], dtype: tf.DType) -> Program:
    """``(values (B, S), vectors) -> (states, expectations)``; expectations ``(B, 0)`` without observables.

    The states of a noisy circuit are its ``(B, 4**n)`` vectorised density matrices.
    """
    if circuit.has_noise:
        return lambda values, vectors: _density_run(circuit, observables, dtype, values, vectors)
    plan = compile_plan(circuit)
    readout = compile_readout(observables, circuit.n_qubits)

    def run(values: tf.Tensor, vectors: dict) -> tuple[tf.Tensor, tf.Tensor]:
        state = sv.simulate_plan(plan, values, vectors, dtype)
        if not observables:
            return state, tf.zeros([tf.shape(values)[0], 0], values.dtype)
        return state, sv.readout_expectations(readout, state)

    return run


def vjp_program(circuit: Circuit, observables: tuple[Observable, ...], dtype: tf.DType) -> Program:
    """``(values (B, S), vectors, cotangent) -> (B, S)`` gradient of ``Σ cotangent · expectations``."""

    def forward(values: tf.Tensor, vectors: dict) -> tf.Tensor:
        if circuit.has_noise:
            return density.expectations(circuit, values, vectors, observables, dtype)
        plan = compile_plan(circuit)
        readout = compile_readout(observables, circuit.n_qubits)
        return sv.readout_expectations(readout, sv.simulate_plan(plan, values, vectors, dtype))

    def vjp(values: tf.Tensor, vectors: dict, cotangent: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(values)
            value = forward(values, vectors)
            loss = tf.reduce_sum(value * tf.cast(cotangent, value.dtype))
        return tape.gradient(loss, values, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    return vjp


def _density_run(
    circuit: Circuit, observables: tuple[Observable, ...], dtype: tf.DType, values: tf.Tensor, vectors: dict
) -> tuple[tf.Tensor, tf.Tensor]:
    rho = density.simulate(circuit, values, vectors, dtype)
    return rho, density.readout(rho, observables, circuit.n_qubits)


class ProgramCache:
    """Eager on a key's first use, a cached `tf.function` from its second use on."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._compiled: collections.OrderedDict[Hashable, Program] = collections.OrderedDict()
        self._seen: collections.OrderedDict[Hashable, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Program]) -> Program:
        """The program for ``key``: ``build()`` run eagerly the first time, compiled afterwards."""
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                return self._compiled[key]
            if key not in self._seen:
                self._seen[key] = None
                if len(self._seen) > 4 * self.size:
                    self._seen.popitem(last=False)
                return build()
            program = tf.function(build(), reduce_retracing=True)
            self._compiled[key] = program
            if len(self._compiled) > self.size:
                self._compiled.popitem(last=False)
            return program
