"""Quantum kernel methods: feature maps, fidelity kernels, Nyström, and scikit-learn estimators.

``QSVC`` and ``QKernelRidge`` need scikit-learn (the ``sklearn`` extra) and import it only when
first used; everything else needs NumPy alone.
"""

from __future__ import annotations

from typing import Any

from qstore.core.kernels.cache import SharedCache, data_hash, kernel_key
from qstore.core.kernels.estimate import KernelEstimate
from qstore.core.kernels.feature_maps import (
    FeatureMap,
    PairProduct,
    angle_feature_map,
    entangler_pairs,
    reuploading_feature_map,
    zz_feature_map,
)
from qstore.core.kernels.gram import fidelity_gram
from qstore.core.kernels.kernel import QuantumKernel
from qstore.core.kernels.nystrom import Nystrom, NystromError
from qstore.core.kernels.overlap import overlap_circuit
from qstore.core.kernels.progress import KernelCancelledError
from qstore.core.kernels.similarity import FidelityIndex

__all__ = [
    "QSVC",
    "FeatureMap",
    "FidelityIndex",
    "KernelCancelledError",
    "KernelEstimate",
    "Nystrom",
    "NystromError",
    "PairProduct",
    "QKernelRidge",
    "QuantumKernel",
    "SharedCache",
    "angle_feature_map",
    "data_hash",
    "entangler_pairs",
    "fidelity_gram",
    "kernel_key",
    "overlap_circuit",
    "reuploading_feature_map",
    "zz_feature_map",
]

_LAZY = {"QSVC": "qstore.core.kernels.estimators", "QKernelRidge": "qstore.core.kernels.estimators"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        try:
            module = importlib.import_module(_LAZY[name])
        except ImportError as exc:
            raise ImportError(
                f"{name} needs scikit-learn ({exc}); install it with: pip install 'qstore-core[sklearn]'"
            ) from exc
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
