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

import torch
from qstore.core.ansatz import LayerCircuit, layer_circuit
from qstore.core.backend import GRADIENT_METHODS, Backend
from qstore.core.circuit import StatePreparation
from qstore.core.errors import BindingError, CapabilityError, GradientError
from qstore.core.plan import compile_plan
from qstore.core.plugins import get_backend
from qstore.torch.backend import TorchBackend, expectations
from qstore.torch.bridge import BackendCall, backend_expectations
from torch import nn

__all__ = ["DIFF_METHODS", "QuantumLayer"]

DIFF_METHODS = ("auto", "backprop", "adjoint", "parameter-shift", "spsa", "finite-diff")
_BACKPROP_BUDGET_BYTES = 2**31
_STATES_PER_STEP = 3


def uniform_angles(weights: torch.Tensor) -> None:
    """Default initialisation: angles uniform in ``[0, 2π)``, as PennyLane's ``TorchLayer`` does."""
    with torch.no_grad():
        weights.uniform_(0.0, 2 * math.pi)


class QuantumLayer(nn.Module):
    """Encode ``(B, features)`` inputs, run ``depth`` trainable layers, return ``(B, n_outputs)``.

    Args:
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
            on the device and precision of the layer's weights.
        backend_options: options for ``get_backend(backend, **options)``.
        shots: ``None`` for exact expectations, else estimates from this many shots.
        diff_method: ``"auto"`` (on the torch engine: backprop, or adjoint when autograd would keep
            more than 2 GiB of intermediate states for the batch; elsewhere the backend's best), ``"backprop"``, ``"adjoint"``, ``"parameter-shift"``, ``"spsa"``,
            ``"finite-diff"``.
        seed: seeds shot sampling and SPSA directions (call k uses ``seed + k``).
        init: callable filling the weight tensor in place; default uniform in ``[0, 2π)``.

    Weights are one ``nn.Parameter`` of ``circuit.weight_shape`` (``(depth, n_qubits, 2)`` for the
    ansatz: RY then RZ angle per qubit and layer), float32 by default; ``.double()`` switches the
    torch engine to complex128.
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
        shots: int | None = None,
        diff_method: str = "auto",
        seed: int | None = None,
        init: Callable[[torch.Tensor], None] | None = None,
    ) -> None:
        super().__init__()
        if circuit is None:
            if n_qubits is None:
                raise ValueError("QuantumLayer needs n_qubits, or a LayerCircuit via circuit=")
            circuit = layer_circuit(n_qubits, depth, entanglement, encoding, bases, n_features, pad)
        elif not isinstance(circuit, LayerCircuit):
            raise TypeError(
                f"circuit must be a qstore.core.ansatz.LayerCircuit (see LayerCircuit.from_circuit), "
                f"got {type(circuit).__name__}"
            )
        elif n_qubits is not None:
            raise ValueError("pass either n_qubits (the built-in ansatz) or circuit=, not both")
        self.spec = circuit
        self.shots = shots
        self.seed = seed
        self._backend, self._engine = _resolve_backend(backend, backend_options)
        self.diff_method = _resolve_method(diff_method, self._engine, self._backend, shots)
        self._in_graph = (
            self._engine and shots is None and self.diff_method in ("auto", "backprop", "adjoint")
        )
        self.weights = nn.Parameter(torch.empty(circuit.weight_shape))
        (init or uniform_angles)(self.weights)
        self.register_buffer("_columns", _symbol_columns(circuit), persistent=False)
        self._amplitude_dim = _amplitude_dim(circuit)
        self._call: BackendCall | None = None
        self._engines: dict[tuple[str, str], TorchBackend] = {}

    @property
    def n_qubits(self) -> int:
        """Register size."""
        return self.spec.circuit.n_qubits

    @property
    def n_outputs(self) -> int:
        """Width of the output: one column per observable."""
        return len(self.spec.observables)

    @property
    def backend(self) -> Backend | None:
        """The backend running the circuit; None when it is the in-graph torch engine."""
        return None if self._in_graph else self._backend_instance()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_features)`` inputs to ``(B, n_outputs)`` expectation values."""
        x = self._check_input(x)
        weights = self.weights
        b = x.shape[0]
        vectors: dict[str, torch.Tensor] = {}
        if self.spec.encoding == "amplitude":
            vectors[self.spec.inputs[0]] = _amplitude_rows(x, self._amplitude_dim)
            scalars = weights.reshape(1, -1).expand(b, -1)
        else:
            scalars = torch.cat([x, weights.reshape(1, -1).expand(b, -1)], dim=1)
        values = scalars[:, self._columns]
        if self._in_graph:
            dtype = torch.complex128 if weights.dtype == torch.float64 else torch.complex64
            return expectations(
                self.spec.circuit,
                values,
                vectors,
                self.spec.observables,
                dtype,
                self._engine_method(b, dtype),
            )
        if vectors and x.requires_grad:
            raise GradientError(
                f"backend {self._backend_instance().name!r} cannot differentiate amplitude-encoded "
                "inputs; use the torch engine with shots=None, or detach the input"
            )
        return backend_expectations(self._backend_call(), values, vectors)

    def _engine_method(self, batch_size: int, dtype: torch.dtype) -> str:
        """The torch engine's method for this call: ``"auto"`` picks by autograd's memory need."""
        if self.diff_method != "auto":
            return self.diff_method
        n_steps = len(compile_plan(self.spec.circuit).steps)
        need = _STATES_PER_STEP * n_steps * batch_size * 2**self.n_qubits * dtype.itemsize
        return "adjoint" if need > _BACKPROP_BUDGET_BYTES else "backprop"

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"QuantumLayer expects a torch.Tensor of shape (batch, features), got {type(x).__name__}"
            )
        if x.dim() != 2:
            raise BindingError(
                f"QuantumLayer expects input of shape (batch, {self.spec.n_features}), got {tuple(x.shape)}; "
                "use x.unsqueeze(0) for a single sample"
            )
        if x.shape[1] != self.spec.n_features:
            hint = (
                " (or build the layer with n_features=..., pad=True to use fewer)"
                if x.shape[1] < self.spec.n_features and self.spec.encoding != "custom"
                else ""
            )
            raise BindingError(
                f"{self.spec.encoding} encoding on {self.n_qubits} qubits takes {self.spec.n_features} "
                f"features, got input of shape {tuple(x.shape)}{hint}"
            )
        if x.shape[0] == 0:
            raise BindingError("QuantumLayer got an empty batch (0 rows)")
        if not x.is_floating_point():
            raise TypeError(f"QuantumLayer inputs must be floating point, got {x.dtype}; use x.float()")
        if x.dtype != self.weights.dtype:
            raise TypeError(
                f"input dtype {x.dtype} does not match the layer's {self.weights.dtype}; convert the input "
                f"(x.to({self.weights.dtype})) or the layer (.double() / .float())"
            )
        if x.device != self.weights.device:
            raise RuntimeError(
                f"input is on {x.device} but the layer is on {self.weights.device}; move one with .to()"
            )
        return x

    def _backend_instance(self) -> Backend:
        """The user's backend, or the torch engine in the weights' precision and device."""
        if self._backend is not None:
            return self._backend
        dtype = "complex128" if self.weights.dtype == torch.float64 else "complex64"
        key = (dtype, str(self.weights.device))
        if key not in self._engines:
            self._engines[key] = TorchBackend(device=self.weights.device, dtype=dtype)
        return self._engines[key]

    def _backend_call(self) -> BackendCall:
        backend = self._backend_instance()
        if self._call is None or self._call.backend is not backend:
            calls = 0 if self._call is None else self._call.calls
            self._call = BackendCall(
                backend,
                self.spec.circuit,
                self.spec.observables,
                self.diff_method,
                self.shots,
                self.seed,
                calls,
            )
        return self._call

    def __prepare_scriptable__(self) -> QuantumLayer:
        raise RuntimeError(
            "QuantumLayer cannot be compiled by torch.jit.script: its circuit plans are Python objects. "
            "Use torch.compile(model) or plain eager mode instead"
        )

    def extra_repr(self) -> str:
        backend = "torch engine" if self._in_graph else self._backend_instance().name
        return (
            f"n_qubits={self.n_qubits}, encoding={self.spec.encoding!r}, weights={tuple(self.weights.shape)}, "
            f"outputs={self.n_outputs}, backend={backend!r}, diff_method={self.diff_method!r}, shots={self.shots}"
        )


def _resolve_backend(
    backend: str | Backend, options: Mapping[str, Any] | None
) -> tuple[Backend | None, bool]:
    """``(backend instance or None, runs on the in-graph torch engine)``."""
    if isinstance(backend, TorchBackend):
        return backend, True
    if isinstance(backend, Backend):
        return backend, False
    if not isinstance(backend, str):
        raise TypeError(
            f"backend must be a registered name or a qstore Backend, got {type(backend).__name__}"
        )
    if backend == "torch" and not options:
        return None, True
    return get_backend(backend, **dict(options or {})), backend == "torch"


def _resolve_method(method: str, engine: bool, backend: Backend | None, shots: int | None) -> str:
    if method not in DIFF_METHODS:
        raise GradientError(f"diff_method must be one of {DIFF_METHODS}, got {method!r}")
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise CapabilityError(f"shots must be None (exact) or a positive integer, got {shots!r}")
    declared = GRADIENT_METHODS if backend is None else backend.capabilities.gradient_methods
    if engine and shots is None and method in ("auto", "backprop", "adjoint"):
        return method
    if method == "backprop":
        raise GradientError(
            "diff_method='backprop' needs the torch engine (backend='torch') with shots=None; "
            f"this configuration supports {list(declared)}"
        )
    if method == "auto":
        for candidate in ("adjoint", "parameter-shift", "spsa", "finite-diff"):
            if candidate in declared and (shots is None or candidate != "adjoint"):
                return candidate
        raise GradientError(f"backend declares no gradient method usable with shots={shots}")
    if method not in declared:
        raise GradientError(f"backend does not support diff_method={method!r}; it supports {list(declared)}")
    if method == "adjoint" and shots is not None:
        raise GradientError("adjoint differentiation is exact: use shots=None, or parameter-shift/spsa")
    return method


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
