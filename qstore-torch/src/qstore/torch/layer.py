"""`QuantumLayer`: a quantum circuit as an ``nn.Module`` — inputs in, per-qubit readouts out.

The circuit comes from `qstore.core.ansatz.layer_circuit` (the same IR the Keras layer builds), or
from a researcher's own `LayerCircuit`. On the torch engine it differentiates by autograd
(``backprop``) or by the adjoint method; on any other backend, or with shots, gradients come
from the backend's own vector–Jacobian products (`qstore.torch.bridge`).

    layer = QuantumLayer(4, depth=2, bases="XZ")       # (B, 4) -> (B, 8)
    model = torch.nn.Sequential(layer, torch.nn.Linear(8, 1))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import torch
from qstore.core.adapter import (
    DIFF_METHODS,
    BackendCall,
    Engine,
    LayerSpec,
    build_layer_circuit,
    check_feature_shape,
    layer_spec,
    make_backend,
)
from qstore.core.ansatz import LayerCircuit
from qstore.core.backend import Backend
from qstore.core.circuit import StatePreparation
from qstore.core.errors import BindingError, CapabilityError, GradientError
from qstore.core.memory import rows_that_fit
from qstore.core.plan import compile_plan
from qstore.core.specs import CircuitSpecs
from qstore.torch.backend import TorchBackend, expectations
from qstore.torch.bridge import backend_expectations
from torch import nn

__all__ = ["DIFF_METHODS", "ENGINE", "QuantumLayer"]

ENGINE = Engine("torch", ("backprop", "adjoint"))
_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}
"""The torch engine runs in graph and differentiates by autograd (backprop) or its adjoint sweep."""
_BACKPROP_BUDGET_BYTES = 2**31
_STATES_PER_STEP = 3


def uniform_angles(weights: torch.Tensor) -> None:
    """Default initialisation: angles uniform in ``[0, 2π)``, as PennyLane's ``TorchLayer`` does."""
    with torch.no_grad():
        weights.uniform_(0.0, 2 * math.pi)


class QuantumLayer(nn.Module):
    """Encode ``(B, features)`` inputs, run ``depth`` trainable layers, return ``(B, n_outputs)``.

    Args (the same as ``qstore.tf.QuantumLayer``; see `qstore.core.adapter`):
        n_qubits: register size (omit when passing ``circuit``).
        depth: number of RY·RZ + CNOT layers.
        entanglement: ``"linear"``, ``"circular"`` or ``"full"`` CNOT pattern.
        encoding: ``"angle"`` (RY(x_i) on qubit i), ``"amplitude"`` (``2**n`` features, normalised
            per row) or ``"reuploading"`` (angle encoding before every layer).
        bases: measurement bases, any of ``"X"``, ``"Y"``, ``"Z"``; outputs are basis-major,
            ``n_qubits × len(bases)`` wide.
        n_features, pad: take fewer features than the encoding holds, by the documented
            padding of `layer_circuit` (only with ``pad=True``).
        circuit: a user-built `LayerCircuit` (`LayerCircuit.from_circuit`) instead of the ansatz.
        backend: a registered backend name or a `Backend`; ``"torch"`` (default) is the torch engine
            in graph, on the device and precision of the layer's weights unless a `TorchBackend` or
            ``backend_options`` fix them.
        backend_options: options for ``get_backend(backend, **options)``.
        shots: ``None`` for exact expectations, else estimates from this many shots; a list of
            shot counts (a shot vector) gives one block of outputs per count.
        output: ``"expectation"`` (default), ``"variance"``, ``"probabilities"`` (of
            ``output_qubits``, default all: ``2**k`` columns), ``"samples"`` (``(B, shots,
            n_qubits)`` bits, qubit 0 first) or ``"state"`` (``(B, 2**n)`` complex amplitudes).
            The first three are differentiable by every method; samples and states are not.
        output_qubits: the qubits whose joint probabilities ``output="probabilities"`` returns.
        diff_method: ``"auto"`` (on the torch engine: backprop, or adjoint when autograd would keep
            more than 2 GiB of intermediate states for the batch; elsewhere the backend's best),
            ``"backprop"``, ``"adjoint"``, ``"parameter-shift"``, ``"spsa"``, ``"finite-diff"``.
        seed: seeds shot sampling and SPSA directions (call k, forward or backward, uses ``seed + k``).
        init: callable filling the weight tensor in place; default uniform in ``[0, 2π)``.

    Weights are one ``nn.Parameter`` named ``theta`` of ``circuit.weight_shape`` (``(depth,
    n_qubits, 2)`` for the ansatz: RY then RZ angle per qubit and layer), float32 by default;
    ``.double()`` switches the torch engine to complex128.
    """

    _columns: torch.Tensor

    def __init__(
        self,
        n_qubits: int | None = None,
        depth: int = 2,
        entanglement: str = "linear",
        encoding: str = "angle",
        bases: str | Sequence[str] = "Z",
        *,
        n_features: int | None = None,
        pad: bool = False,
        circuit: LayerCircuit | None = None,
        backend: str | Backend = "torch",
        backend_options: Mapping[str, Any] | None = None,
        shots: int | Sequence[int] | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        output: str = "expectation",
        output_qubits: Sequence[int] | None = None,
        init: Callable[[torch.Tensor], None] | None = None,
    ) -> None:
        super().__init__()
        lc = build_layer_circuit(n_qubits, depth, entanglement, encoding, bases, n_features, pad, circuit)
        self._weights_pick_engine = backend == "torch" and not backend_options
        self.spec: LayerSpec = layer_spec(
            lc,
            make_backend(backend, backend_options),
            shots,
            diff_method,
            seed,
            ENGINE,
            output,
            output_qubits,
        )
        self._call = BackendCall(self.spec)
        self.theta = nn.Parameter(torch.empty(lc.weight_shape))
        (init or uniform_angles)(self.theta)
        self.register_buffer("_columns", _symbol_columns(lc), persistent=False)
        weights = set(lc.weights)
        self._shared = np.array([s in weights for s in lc.circuit.symbols], dtype=bool)
        self._amplitude_dim = _amplitude_dim(lc)
        self._engines: dict[tuple[str, str], TorchBackend] = {}

    @property
    def layer_circuit(self) -> LayerCircuit:
        """The circuit with its input and weight symbols and observables."""
        return self.spec.circuit

    @property
    def n_qubits(self) -> int:
        """Register size."""
        return self.spec.circuit.circuit.n_qubits

    @property
    def n_outputs(self) -> int:
        """Width of the output (per sample for ``output="samples"``)."""
        return self.spec.n_outputs

    @property
    def shots(self) -> int | tuple[int, ...] | None:
        """Shots per circuit, or None for exact expectations."""
        return self.spec.shots

    @property
    def seed(self) -> int | None:
        """Seed of the first backend call (call k uses ``seed + k``)."""
        return self.spec.seed

    @property
    def diff_method(self) -> str:
        """The resolved differentiation method."""
        return self.spec.diff_method

    @property
    def backend(self) -> Backend:
        """The backend running the circuit (on the default in-graph path: the torch engine in the
        precision and device of the weights)."""
        return self._engine() if self._weights_pick_engine else self.spec.backend

    def draw(self, width: int | None = None) -> str:
        """The layer's circuit as text, wrapped to ``width`` (default: the terminal), readouts at the right."""
        return self.spec.circuit.draw(width)

    def specs(self) -> CircuitSpecs:
        """Resource report of the layer's circuit; the layer's input symbols count as inputs."""
        return self.spec.circuit.specs()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_features)`` inputs to ``(B, n_outputs)`` outputs (see ``output``)."""
        x = self._check_input(x)
        out = self.spec.output
        if x.shape[0] == 0:
            return self.theta.new_zeros((0, self.spec.n_outputs)) + 0 * self.theta.sum()
        if self._weights_pick_engine:
            self._call.backend = self._engine()
        if not out.differentiable:
            raw = self._call.raw(
                x.detach().cpu().double().numpy(), self.theta.detach().cpu().double().numpy()
            )
            dtype = self.theta.dtype if out.kind == "samples" else _COMPLEX[self.theta.dtype]
            return torch.as_tensor(raw, device=self.theta.device).to(dtype)
        measured = self._measured(x)
        walsh = (
            None
            if out.walsh is None
            else torch.as_tensor(out.walsh, dtype=measured.dtype, device=measured.device)
        )
        blocks = measured.reshape(x.shape[0], len(self.spec.shot_counts), -1)
        return out.finish(blocks, walsh).reshape(x.shape[0], self.spec.n_outputs)

    def _measured(self, x: torch.Tensor) -> torch.Tensor:
        """Expectations of the measured observables, in graph or through the backend."""
        lc = self.spec.circuit
        if not self.spec.in_graph:
            if lc.encoding == "amplitude" and x.requires_grad:
                raise GradientError(
                    f"backend {self.spec.backend.name!r} cannot differentiate amplitude-encoded "
                    "inputs; use the torch engine with shots=None, or detach the input"
                )
            return backend_expectations(self._call, x, self.theta.reshape(-1))
        engine = self._engine()
        method = self._engine_method(x.shape[0], engine.dtype)
        per_row = self._bytes_per_row(method, engine.dtype)
        rows = rows_that_fit(x.shape[0], per_row, f"QuantumLayer on {self.n_qubits} qubits ({method})")
        if rows < x.shape[0]:  # rows are independent: chunks give the very same outputs and gradients
            return torch.cat(
                [self._in_graph(x[i : i + rows], engine, method) for i in range(0, x.shape[0], rows)]
            )
        return self._in_graph(x, engine, method)

    def _bytes_per_row(self, method: str, dtype: torch.dtype) -> int:
        """Working memory of one row: every step's states for backprop, a few states for adjoint."""
        circuit = self.spec.circuit.circuit
        if circuit.has_noise:  # density matrices (4**n entries), every operation kept by autograd
            return _STATES_PER_STEP * len(circuit.operations) * 4**self.n_qubits * dtype.itemsize
        states = _STATES_PER_STEP * len(compile_plan(circuit).steps) if method == "backprop" else 4
        return states * 2**self.n_qubits * dtype.itemsize

    def _in_graph(self, x: torch.Tensor, engine: TorchBackend, method: str) -> torch.Tensor:
        lc = self.spec.circuit
        b = x.shape[0]
        vectors: dict[str, torch.Tensor] = {}
        flat = self.theta.reshape(1, -1).expand(b, -1)
        if lc.encoding == "amplitude":
            vectors[lc.inputs[0]] = _amplitude_rows(x, self._amplitude_dim)
            scalars = flat
        else:
            scalars = torch.cat([x, flat], dim=1)
        values = scalars[:, self._columns]
        out = expectations(
            lc.circuit,
            values,
            vectors,
            lc.observables,
            engine.dtype,
            method,
            self._shared,
        )
        return out.to(self.theta.dtype)

    def _engine(self) -> TorchBackend:
        """The torch engine: the user's, or one in the weights' precision and device."""
        if not self._weights_pick_engine:
            assert isinstance(self.spec.backend, TorchBackend)
            return self.spec.backend
        precision = "double" if self.theta.dtype == torch.float64 else "single"
        key = (precision, str(self.theta.device))
        if key not in self._engines:
            self._engines[key] = TorchBackend(device=self.theta.device, precision=precision)
        return self._engines[key]

    def _engine_method(self, batch_size: int, dtype: torch.dtype) -> str:
        """The torch engine's method for this call: ``"auto"`` picks by autograd's memory need."""
        if self.spec.diff_method != "auto":
            return self.spec.diff_method
        if self.spec.circuit.circuit.has_noise:  # density matrices, differentiated by autograd
            return "backprop"
        n_steps = len(compile_plan(self.spec.circuit.circuit).steps)
        need = _STATES_PER_STEP * n_steps * batch_size * 2**self.n_qubits * dtype.itemsize
        return "adjoint" if need > _BACKPROP_BUDGET_BYTES else "backprop"

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise BindingError(
                f"QuantumLayer expects a torch.Tensor of shape (batch, features), got {type(x).__name__}"
            )
        if self.theta.dtype not in (torch.float32, torch.float64):
            raise CapabilityError(
                f"QuantumLayer computes in float32 or float64, but its weights are {self.theta.dtype}; "
                "keep the layer in float32 (.float()) or float64 (.double()) — torch.autocast leaves it "
                "alone — and cast its output if the rest of the model runs in half precision"
            )
        check_feature_shape(self.spec.circuit, tuple(x.shape), "QuantumLayer")
        if not x.is_floating_point():
            raise BindingError(f"QuantumLayer inputs must be floating point, got {x.dtype}; use x.float()")
        if x.dtype != self.theta.dtype:
            raise BindingError(
                f"input dtype {x.dtype} does not match the layer's {self.theta.dtype}; convert the input "
                f"(x.to({self.theta.dtype})) or the layer (.double() / .float())"
            )
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            row, column = (int(i) for i in (~finite).nonzero()[0])
            raise BindingError(
                f"QuantumLayer input has a non-finite value (NaN or inf) at row {row}, column {column}"
            )
        if x.device != self.theta.device:
            raise CapabilityError(
                f"input is on {x.device} but the layer is on {self.theta.device}; move one with .to()"
            )
        return x

    def __prepare_scriptable__(self) -> QuantumLayer:
        raise CapabilityError(
            "QuantumLayer cannot be compiled by torch.jit.script: its circuit plans are Python objects. "
            "Use torch.compile(model) or plain eager mode instead"
        )

    def extra_repr(self) -> str:
        backend = "torch engine" if self.spec.in_graph else self.spec.backend.name
        return (
            f"n_qubits={self.n_qubits}, encoding={self.spec.circuit.encoding!r}, "
            f"theta={tuple(self.theta.shape)}, outputs={self.n_outputs}, backend={backend!r}, "
            f"diff_method={self.diff_method!r}, shots={self.shots}"
        )


def _symbol_columns(circuit: LayerCircuit) -> torch.Tensor:
    """Column of each circuit symbol in ``cat([scalar inputs, flat weights])``."""
    scalar_inputs = () if circuit.encoding == "amplitude" else circuit.inputs
    position = {name: i for i, name in enumerate((*scalar_inputs, *circuit.weights))}
    return torch.tensor([position[s] for s in circuit.circuit.symbols], dtype=torch.int64)


def _amplitude_dim(circuit: LayerCircuit) -> int:
    """Length of the amplitude vector the circuit prepares (0 without amplitude encoding)."""
    if circuit.encoding != "amplitude":
        return 0
    prep = next(op for op in circuit.circuit.operations if isinstance(op, StatePreparation))
    return 2 ** len(prep.qubits)


def _amplitude_rows(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Zero-pad rows to ``dim`` and normalise them (differentiably); all-zero rows are errors."""
    padded = torch.nn.functional.pad(x, (0, dim - x.shape[1]))
    norms = padded.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        row = int((norms[:, 0] == 0).nonzero()[0, 0])
        raise BindingError(f"amplitude encoding cannot normalise an all-zero input (row {row})")
    return padded / norms
