"""Q-Store for PyTorch: a quantum ``nn.Module`` and a batched torch statevector engine.

    import torch
    from qstore.torch import QuantumLayer

    model = torch.nn.Sequential(QuantumLayer(4, depth=2), torch.nn.Linear(4, 1))

Names are imported lazily, so ``import qstore.torch.plugin`` (plugin discovery) does not import
torch.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

from qstore.core.errors import ArgumentTypeError

__all__ = [
    "DecodingLayer",
    "EncodingLayer",
    "QuantumFeatureExtractor",
    "QuantumLayer",
    "QuantumNonlinearity",
    "QuantumPooling",
    "QuantumReadout",
    "TorchBackend",
    "TorchKernelRidge",
    "TorchKernelSVC",
    "Trainer",
    "expectations",
    "framework",
]

_LAZY = {
    "DecodingLayer": "qstore.torch.quantum_first",
    "EncodingLayer": "qstore.torch.quantum_first",
    "QuantumFeatureExtractor": "qstore.torch.quantum_first",
    "QuantumLayer": "qstore.torch.layer",
    "QuantumNonlinearity": "qstore.torch.quantum_first",
    "QuantumPooling": "qstore.torch.quantum_first",
    "QuantumReadout": "qstore.torch.quantum_first",
    "TorchBackend": "qstore.torch.backend",
    "TorchKernelRidge": "qstore.torch.kernels",
    "Trainer": "qstore.torch.trainer",
    "TorchKernelSVC": "qstore.torch.kernels",
    "expectations": "qstore.torch.backend",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qstore.torch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def framework(**options: Any) -> ModuleType:
    """The adapter registered as framework ``torch``: this package (``.QuantumLayer`` etc.)."""
    if options:
        raise ArgumentTypeError(f"the torch framework adapter takes no options, got {sorted(options)}")
    return sys.modules[__name__]
