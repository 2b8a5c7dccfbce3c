"""Cache keys for kernel matrices, used with any `qstore.core.storage.ResultCache`.

A kernel matrix is determined by the feature map, the data on both sides, the backend, the shots
(and the seed when sampling) and the numeric precision; the key hashes exactly those.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

__all__ = ["data_hash", "kernel_key"]


def data_hash(data: np.ndarray) -> str:
    """SHA-256 of a float64 matrix's shape and bytes."""
    arr = np.ascontiguousarray(data, dtype=np.float64)
    h = hashlib.sha256(repr(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def kernel_key(
    feature_map_hash: str,
    left: np.ndarray,
    right: np.ndarray | None,
    backend: str,
    shots: int | None,
    seed: int | None,
    precision: str,
    method: str,
) -> str:
    """``qstore.kernel/1:<sha256>`` for one kernel matrix."""
    spec = {
        "feature_map": feature_map_hash,
        "left": data_hash(left),
        "right": None if right is None else data_hash(right),
        "backend": backend,
        "shots": shots,
        "seed": seed if shots is not None else None,
        "precision": precision,
        "method": method,
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return f"qstore.kernel/1:{digest}"
