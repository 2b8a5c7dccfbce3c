"""Q-Store for TensorFlow and Keras 3: quantum layers and a TensorFlow statevector engine.

    import keras
    from qstore.tf import QuantumLayer

    model = keras.Sequential([keras.Input((4,)), QuantumLayer(4, depth=2), keras.layers.Dense(1)])

Names are imported lazily, so ``import qstore.tf.plugin`` (plugin discovery) does not import
TensorFlow.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

from qstore.core.errors import ArgumentTypeError

__all__ = [
    "AmplitudeEncoding",
    "DecodingLayer",
    "EncodingLayer",
    "ExpectationValue",
    "QuantumFeatureExtractor",
    "QuantumLayer",
    "QuantumNonlinearity",
    "QuantumPooling",
    "QuantumReadout",
    "TFBackend",
    "framework",
    "gate_matrix",
    "simulate",
]

_LAZY = {
    "AmplitudeEncoding": "qstore.tf.layers",
    "DecodingLayer": "qstore.tf.quantum_first",
    "EncodingLayer": "qstore.tf.quantum_first",
    "ExpectationValue": "qstore.tf.layers",
    "QuantumFeatureExtractor": "qstore.tf.quantum_first",
    "QuantumLayer": "qstore.tf.layers",
    "QuantumNonlinearity": "qstore.tf.quantum_first",
    "QuantumPooling": "qstore.tf.quantum_first",
    "QuantumReadout": "qstore.tf.quantum_first",
    "TFBackend": "qstore.tf.backend",
    "gate_matrix": "qstore.tf.gates",
    "simulate": "qstore.tf.statevector",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qstore.tf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def framework(**options: Any) -> ModuleType:
    """The adapter registered as framework ``tensorflow``: this package (``.QuantumLayer`` etc.)."""
    if options:
        raise ArgumentTypeError(f"the tensorflow framework adapter takes no options, got {sorted(options)}")
    return sys.modules[__name__]
