"""Quantum-first layers for PyTorch; the circuits and rules live in `qstore.core.quantum_first`.

Same arguments and numbers as the Keras layers in ``qstore.tf``::

    model = torch.nn.Sequential(
        EncodingLayer(4, pad=True),                  # (B, F) -> (B, 4), unit-norm rows
        QuantumFeatureExtractor(4, depth=1),         # (B, 4) -> (B, 12): X, Y, Z on each qubit
        DecodingLayer(12, units=4),                  # (B, 12) -> (B, 4), rescaled and projected
        QuantumNonlinearity(4),                      # (B, 4) -> (B, 4): amplitude damping
        QuantumPooling(4, keep=2),                   # (B, 4) -> (B, 2)
        QuantumReadout(3, n_qubits=2),               # (B, 2) -> (B, 3) class probabilities
    )
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from qstore.core.errors import BindingError
from qstore.core.quantum_first import (
    check_normalize,
    check_positive,
    check_resize,
    nonlinearity_circuit,
    pooling_circuit,
    readout_circuit,
    readout_matrix,
    readout_qubits,
)
from qstore.torch.layer import QuantumLayer
from torch import nn

__all__ = [
    "DecodingLayer",
    "EncodingLayer",
    "QuantumFeatureExtractor",
    "QuantumNonlinearity",
    "QuantumPooling",
    "QuantumReadout",
]

_EPS = 1e-12


def _check_matrix(x: torch.Tensor, width: int | None, layer: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise BindingError(f"{layer} expects a tensor of shape (batch, features), got {shape}")
    if width is not None and x.shape[1] != width:
        raise BindingError(f"{layer} expects input of shape (batch, {width}), got {tuple(x.shape)}")


class QuantumFeatureExtractor(QuantumLayer):
    """`QuantumLayer` read in several bases: ``(B, n_qubits)`` -> ``(B, n_qubits · len(bases))``,
    basis-major (``X0…X(n-1), Y0…, Z0…`` for the default ``"XYZ"``). Other arguments as `QuantumLayer`."""

    def __init__(
        self,
        n_qubits: int,
        depth: int = 2,
        entanglement: str = "linear",
        encoding: str = "angle",
        bases: str | Sequence[str] = "XYZ",
        **kwargs: Any,
    ) -> None:
        super().__init__(n_qubits, depth, entanglement, encoding, bases, **kwargs)


class QuantumNonlinearity(QuantumLayer):
    """Damping as an activation: ``(B, n_qubits)`` -> ``(B, n_qubits · len(bases))``, basis-major.

    Each feature ``x_q`` is ``RY(x_q)`` on its own qubit followed by ``channel``
    (``"amplitude_damping"``, read in Z by default: ``γ + (1-γ)·cos x``; or ``"phase_damping"``,
    read in X: ``√(1-γ)·sin x``) of trainable strength ``γ_q = sigmoid(raw_strength_q)``, starting
    at ``strength``. The qubits never interact, so one one-qubit density-matrix circuit runs on
    ``B·n_qubits`` rows (torch engine: autograd through ``γ``). Other arguments as `QuantumLayer`.
    """

    def __init__(
        self,
        n_qubits: int,
        channel: str = "amplitude_damping",
        bases: str | Sequence[str] | None = None,
        *,
        strength: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(circuit=nonlinearity_circuit(1, channel, bases), **kwargs)
        if not 0 < strength < 1:
            raise BindingError(f"strength must be strictly between 0 and 1, got {strength!r}")
        self.width = check_positive("n_qubits", n_qubits)
        self.channel = channel
        self.raw_strength = nn.Parameter(torch.full((n_qubits,), math.log(strength / (1 - strength))))

    @property
    def n_qubits(self) -> int:
        """Number of features (one qubit each)."""
        return self.width

    @property
    def n_outputs(self) -> int:
        """``n_qubits · len(bases)``."""
        return self.width * self.spec.n_outputs

    @property
    def strength(self) -> torch.Tensor:
        """Current damping strengths ``sigmoid(raw_strength)``, one per qubit."""
        return torch.sigmoid(self.raw_strength)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_qubits)`` features to ``(B, n_outputs)`` damped readouts (as `nonlinearity_rows`)."""
        _check_matrix(x, self.width, type(self).__name__)
        b, n = x.shape
        gamma = self.strength.to(x.dtype).repeat(b)
        out = super().forward(torch.stack([x.reshape(-1), gamma], dim=1))
        return out.view(b, n, self.spec.n_outputs).transpose(1, 2).reshape(b, -1)


class QuantumPooling(QuantumLayer):
    """``(B, n_qubits)`` -> ``(B, keep)``: angle encoding, ``depth`` trainable layers, then the
    register reduced to ``keep`` evenly spaced qubits by ``method`` ``"trace"`` (partial trace),
    ``"measure"`` (each discarded qubit measured into its kept partner) or ``"damping"`` (each
    discarded qubit amplitude-damped by ``strength``, default 0.5, before it is measured into its
    partner; a noisy circuit, on the torch density engine by default); Z readouts of the kept qubits."""

    def __init__(
        self,
        n_qubits: int,
        keep: int,
        method: str = "trace",
        depth: int = 1,
        entanglement: str = "linear",
        *,
        strength: float | None = None,
        **kwargs: Any,
    ) -> None:
        circuit = pooling_circuit(n_qubits, keep, method, depth, entanglement, strength)
        super().__init__(circuit=circuit, **kwargs)
        self.keep = keep
        self.method = method
        self.strength = strength


class QuantumReadout(QuantumLayer):
    """``(B, n_qubits)`` -> ``(B, n_classes)`` class probabilities (rows sum to 1).

    The ansatz runs on ``n_qubits`` (default ``⌈log2 n_classes⌉``); the class scores are the
    computational-basis probabilities of the first ``⌈log2 n_classes⌉`` qubits, the first
    ``n_classes`` of them renormalised (see `qstore.core.quantum_first.readout_matrix`). Feed them
    to ``nn.NLLLoss`` after a log.
    """

    _readout: torch.Tensor

    def __init__(
        self,
        n_classes: int,
        n_qubits: int | None = None,
        depth: int = 2,
        entanglement: str = "linear",
        **kwargs: Any,
    ) -> None:
        super().__init__(circuit=readout_circuit(n_classes, n_qubits, depth, entanglement), **kwargs)
        self.n_classes = n_classes
        self.register_buffer("_readout", torch.tensor(readout_matrix(n_classes)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_qubits)`` features to ``(B, n_classes)`` probabilities."""
        e = super().forward(x)
        p = ((1 + e @ self._readout.to(e.dtype)) / 2 ** readout_qubits(self.n_classes)).clamp_min(0)
        return p / p.sum(dim=1, keepdim=True).clamp_min(_EPS)


class EncodingLayer(nn.Module):
    """Classical-minimal encoding: ``(B, F)`` -> ``(B, width)``.

    Zero-pads (``pad=True``) or drops trailing columns (``truncate=True``) to ``width`` — only when
    asked — then normalises each row (``normalize="l2"``: unit norm, all-zero rows stay zero;
    ``"none"``). No trainable weights.
    """

    def __init__(self, width: int, normalize: str = "l2", pad: bool = False, truncate: bool = False) -> None:
        super().__init__()
        check_positive("width", width)
        self.width, self.normalize = width, check_normalize(normalize)
        self.pad, self.truncate = pad, truncate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Resize then normalise."""
        _check_matrix(x, None, "EncodingLayer")
        mode = check_resize(x.shape[1], self.width, self.pad, self.truncate)
        if mode == "pad":
            x = nn.functional.pad(x, (0, self.width - x.shape[1]))
        elif mode == "truncate":
            x = x[:, : self.width]
        if self.normalize == "l2":
            norms = x.norm(dim=1, keepdim=True)
            x = x / torch.where(norms > 0, norms, torch.ones_like(norms))
        return x

    def extra_repr(self) -> str:
        return f"width={self.width}, normalize={self.normalize!r}, pad={self.pad}, truncate={self.truncate}"


class DecodingLayer(nn.Module):
    """Classical-minimal decoding: ``(B, n_features)`` -> ``(B, units or n_features)``.

    Rescales each feature by a trainable ``scale`` (starting at 1), then, with ``units``, applies a
    bias-free linear projection ``weight`` of shape ``(units, n_features)``.
    """

    def __init__(self, n_features: int, units: int | None = None) -> None:
        super().__init__()
        check_positive("n_features", n_features)
        if units is not None:
            check_positive("units", units)
        self.n_features, self.units = n_features, units
        self.scale = nn.Parameter(torch.ones(n_features))
        self.projection = None if units is None else nn.Linear(n_features, units, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rescale, then project if ``units`` was given."""
        _check_matrix(x, self.n_features, "DecodingLayer")
        y = x * self.scale.to(x.dtype)
        return y if self.projection is None else self.projection(y)
