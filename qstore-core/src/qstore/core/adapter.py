"""What the torch and Keras layers share, so that one layer definition means the same in both.

`LayerSpec` holds the arguments both layers take (circuit, backend, shots, diff method, seed),
resolved once by `layer_spec`: one rule picks the differentiation method, and one `BackendCall`
runs the circuit on a backend (forward and vector–Jacobian product) with one seed counter —
call ``k`` (forward or backward) uses ``seed + k``. `qstore.torch` and `qstore.tf` add only
framework glue: ``autograd.Function`` / ``tf.custom_gradient``, weights, configs.

A layer runs *in graph* when its backend is the framework's own engine (`Engine`), shots are
off, and the method is one the engine differentiates itself (autograd/autodiff ``backprop``,
the torch engine's ``adjoint``); otherwise it calls the backend through `BackendCall`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from qstore.core.ansatz import LayerCircuit, layer_circuit
from qstore.core.backend import GRADIENT_METHODS, Backend, check_seed, check_shots
from qstore.core.errors import BindingError, CapabilityError, CircuitError, GradientError
from qstore.core.layer_outputs import LayerOutput, layer_output

__all__ = [
    "DIFF_METHODS",
    "BackendCall",
    "Engine",
    "LayerSpec",
    "build_layer_circuit",
    "check_feature_shape",
    "layer_spec",
    "make_backend",
]

DIFF_METHODS = ("auto", *GRADIENT_METHODS)


@attrs.frozen
class Engine:
    """A framework's in-graph engine: its backend name and the methods it differentiates itself."""

    backend: str
    methods: tuple[str, ...]


@attrs.frozen
class LayerSpec:
    """The resolved arguments of a quantum layer, identical for torch and Keras.

    ``circuit`` measures what ``output`` needs (`qstore.core.layer_outputs`); ``shot_counts`` has
    one entry per shot count (several for a shot vector, ``(None,)`` when exact). ``diff_method``
    is a concrete method, or ``"auto"`` on the in-graph path where the framework glue picks per
    call (the torch engine switches to adjoint when backprop would need too much memory);
    ``in_graph`` says whether the framework's own engine runs the circuit.
    """

    circuit: LayerCircuit
    backend: Backend
    shot_counts: tuple[int | None, ...]
    diff_method: str
    seed: int | None
    in_graph: bool
    output: LayerOutput

    @property
    def shots(self) -> int | tuple[int, ...] | None:
        """Shots as given: None (exact), an int, or a tuple for a shot vector."""
        if len(self.shot_counts) == 1:
            return self.shot_counts[0]
        return tuple(int(s) for s in self.shot_counts if s is not None)

    @property
    def n_outputs(self) -> int:
        """Output columns: the output's width for each shot count, shot-count-major."""
        return self.output.width * len(self.shot_counts)


def build_layer_circuit(
    n_qubits: int | None,
    depth: int,
    entanglement: str,
    encoding: str,
    bases: str | Sequence[str],
    n_features: int | None,
    pad: bool,
    circuit: LayerCircuit | None,
) -> LayerCircuit:
    """The built-in ansatz (`layer_circuit`) from the layer arguments, or the user's `LayerCircuit`."""
    if circuit is None:
        if n_qubits is None:
            raise CircuitError("a quantum layer needs n_qubits, or a LayerCircuit via circuit=")
        return layer_circuit(n_qubits, depth, entanglement, encoding, bases, n_features, pad)
    if not isinstance(circuit, LayerCircuit):
        raise CircuitError(
            f"circuit must be a qstore.core.ansatz.LayerCircuit (see LayerCircuit.from_circuit), "
            f"got {type(circuit).__name__}"
        )
    if n_qubits is not None:
        raise CircuitError("pass either n_qubits (the built-in ansatz) or circuit=, not both")
    return circuit


def check_feature_shape(circuit: LayerCircuit, shape: Sequence[int | None], layer: str) -> None:
    """Refuse inputs that are not ``(batch, n_features)``: no column is silently ignored."""
    want = circuit.n_features
    if len(shape) != 2:
        raise BindingError(
            f"{layer} expects input of shape (batch, {want}), got {tuple(shape)}; "
            "add a batch axis for a single sample"
        )
    if shape[1] is not None and shape[1] != want:
        short = shape[1] < want and circuit.encoding != "custom"
        hint = " (or build the layer with n_features=..., pad=True to use fewer)" if short else ""
        raise BindingError(
            f"{circuit.encoding} encoding on {circuit.circuit.n_qubits} qubits takes {want} features, "
            f"got input of shape {tuple(shape)}{hint}"
        )


def make_backend(backend: str | Backend, options: Mapping[str, Any] | None = None) -> Backend:
    """A backend instance from a registered name (built with ``options``) or an instance.

    ``"auto"`` is the router (`qstore.core.routing.AutoBackend`; options: ``policy``, ``profile``).
    """
    if isinstance(backend, Backend):
        if options:
            raise CapabilityError(
                f"backend_options {sorted(options)} apply only to a backend given by name, "
                f"not to the instance {backend!r}"
            )
        return backend
    if not isinstance(backend, str):
        raise CapabilityError(
            f"backend must be a registered name or a qstore Backend, got {type(backend).__name__}"
        )
    if backend == "auto":
        from qstore.core.routing import AutoBackend

        return AutoBackend(**dict(options or {}))
    from qstore.core.plugins import get_backend

    return get_backend(backend, **dict(options or {}))


def _shot_counts(shots: int | Sequence[int] | None) -> tuple[int | None, ...]:
    if isinstance(shots, Sequence) and not isinstance(shots, str):
        if not shots:
            raise CapabilityError("a shot vector needs at least one shot count, got []")
        return tuple(check_shots(s) or _no_exact_in_vector() for s in shots)
    return (check_shots(shots),)


def _no_exact_in_vector() -> int:
    raise CapabilityError("a shot vector lists positive shot counts; use shots=None for exact results")


def layer_spec(
    circuit: LayerCircuit,
    backend: Backend,
    shots: int | Sequence[int] | None,
    diff_method: str,
    seed: int | None,
    engine: Engine,
    output: str = "expectation",
    output_qubits: Sequence[int] | None = None,
) -> LayerSpec:
    """Validate the shared layer arguments against the backend and choose how to differentiate.

    ``shots`` may be a list of shot counts (a shot vector): the output then holds one block of
    columns per count, each estimated from its own shots.
    """
    shot_counts = _shot_counts(shots)
    shots = shot_counts[0]
    seed = check_seed(seed)
    out = layer_output(output, circuit.observables, circuit.circuit.n_qubits, output_qubits)
    if out.kind == "samples" and (shots is None or len(shot_counts) > 1):
        raise CapabilityError("output='samples' needs shots=<one positive integer>")
    if out.kind == "state" and shots is not None:
        raise CapabilityError("output='state' is exact: use shots=None")
    if out.kind == "state" and not backend.capabilities.statevector:
        raise CapabilityError(
            f"backend {backend.name!r} cannot return states; use output='samples' with shots"
        )
    measured = attrs.evolve(circuit, observables=out.measured)
    caps = backend.capabilities
    if circuit.circuit.n_qubits > caps.max_qubits:
        raise CapabilityError(
            f"backend {caps.name!r} runs at most {caps.max_qubits} qubits; the layer has {circuit.circuit.n_qubits}"
        )
    if shots is not None and not caps.shots:
        raise CapabilityError(f"backend {caps.name!r} does not sample; use shots=None")
    if circuit.circuit.has_noise and not caps.noise:
        raise CapabilityError(
            f"the layer's circuit has noise channels but backend {caps.name!r} does not simulate noise; "
            "use a backend whose capabilities declare noise (e.g. 'numpy' or 'torch')"
        )
    if shots is None and not caps.exact_expectations:
        raise CapabilityError(f"backend {caps.name!r} only samples: pass shots=<positive int>")
    if diff_method not in DIFF_METHODS:
        raise GradientError(f"diff_method must be one of {list(DIFF_METHODS)}, got {diff_method!r}")
    in_graph = backend.name == engine.backend and shots is None and out.differentiable
    if in_graph and diff_method in ("auto", *engine.methods):
        return LayerSpec(measured, backend, shot_counts, diff_method, seed, True, out)
    if diff_method == "backprop" and "backprop" not in caps.gradient_methods:
        raise GradientError(
            f"diff_method='backprop' needs the framework's own engine (backend={engine.backend!r}) with "
            f"shots=None; backend {caps.name!r} with shots={shots} supports {list(caps.gradient_methods)}"
        )
    method = backend.gradient_method(diff_method, shots) if out.differentiable else "none"
    return LayerSpec(measured, backend, shot_counts, method, seed, False, out)


@attrs.define
class BackendCall:
    """Runs a layer's circuit on its backend: NumPy features and flat weights in, NumPy out.

    Forward passes and gradients share one seed counter: with a ``seed``, call ``k`` uses
    ``seed + k``, so repeated passes draw fresh shots reproducibly; without one, every call is
    freshly random. ``backend`` starts as the spec's; a layer whose engine follows its weights'
    precision and device (the torch layer's default) swaps it, keeping the seed counter.
    """

    spec: LayerSpec
    backend: Backend = attrs.field()
    calls: int = 0

    @backend.default
    def _spec_backend(self) -> Backend:
        return self.spec.backend

    def next_seed(self) -> int | None:
        """The seed of the next backend call (and count the call)."""
        seed = None if self.spec.seed is None else self.spec.seed + self.calls
        self.calls += 1
        return seed

    def bindings(self, features: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Bindings of ``(B, n_features)`` inputs and a flat weight vector."""
        lc = self.spec.circuit
        flat = np.asarray(weights, dtype=np.float64).reshape(-1)
        if flat.size != lc.n_weights:
            raise BindingError(f"the layer has {lc.n_weights} weights, got {flat.size}")
        out = lc.input_bindings(np.asarray(features, dtype=np.float64))
        out.update({name: flat[k] for k, name in enumerate(lc.weights)})
        return out

    def forward(self, features: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``(B, len(shot_counts) · n_measured)`` float64 measured expectations, one block per shot
        count (estimates with shots); `LayerOutput.finish` turns them into the layer's output."""
        spec = self.spec
        bindings = self.bindings(features, weights)
        blocks = []
        for shots in spec.shot_counts:
            result = self.backend.run(
                spec.circuit.circuit,
                bindings,
                spec.circuit.observables,
                shots,
                seed=self.next_seed(),
                outputs=(),
            )
            assert result.expectations is not None
            blocks.append(result.expectations)
        return np.concatenate(blocks, axis=1)

    def raw(self, features: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The non-differentiable outputs: ``samples`` as ``(B, shots, n_qubits)`` bits (qubit 0
        first) or ``state`` as ``(B, 2**n)`` amplitudes."""
        spec = self.spec
        kind = spec.output.kind
        result = self.backend.run(
            spec.circuit.circuit,
            self.bindings(features, weights),
            shots=spec.shot_counts[0],
            seed=self.next_seed(),
            outputs=("samples",) if kind == "samples" else ("state",),
        )
        if kind == "state":
            assert result.statevectors is not None
            return result.statevectors
        assert result.samples is not None
        n = spec.circuit.circuit.n_qubits
        return (result.samples[..., None] >> np.arange(n - 1, -1, -1)) & 1

    def backward(
        self, features: np.ndarray, weights: np.ndarray, cotangent: np.ndarray, input_grads: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Gradients of ``Σ cotangent·E``: ``(B, n_features)`` for scalar inputs (None for amplitude
        inputs, which have no shift rule, or when ``input_grads`` is off) and the flat weights."""
        spec, lc = self.spec, self.spec.circuit
        scalar_inputs = lc.inputs if input_grads and lc.encoding != "amplitude" else ()
        bindings = self.bindings(features, weights)
        wrt = (*scalar_inputs, *lc.weights)
        cot = np.asarray(cotangent, dtype=np.float64)
        m = len(lc.observables)
        grads = {name: np.zeros(cot.shape[0]) for name in wrt}
        for k, shots in enumerate(spec.shot_counts):
            block = self.backend.gradient(
                lc.circuit,
                bindings,
                lc.observables,
                cot[:, k * m : (k + 1) * m],
                method=spec.diff_method,
                shots=shots,
                seed=self.next_seed(),
                wrt=wrt,
            )
            for name in wrt:
                grads[name] += block[name]
        d_weights = np.array([grads[name].sum() for name in lc.weights], dtype=np.float64)
        if not scalar_inputs:
            return None, d_weights
        return np.stack([grads[name] for name in scalar_inputs], axis=1), d_weights
