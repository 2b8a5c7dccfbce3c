"""Cache keys for kernel matrices, used with any `qstore.core.storage.ResultCache`.

A kernel matrix is determined by the feature map, the data on both sides, the backend, the shots
(and the seed when sampling) and the numeric precision; the key hashes exactly those.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from qstore.core.storage import MemoryResultCache, ResultCache

__all__ = ["SharedCache", "data_hash", "kernel_key"]


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


class SharedCache:
    """A `ResultCache` that stays one shared store when copied.

    scikit-learn's ``clone`` (used by ``GridSearchCV``) deep-copies every hyper-parameter; wrapping a
    store in `SharedCache` lets all clones of ``QSVC(cache=SharedCache())`` reuse the same kernels.
    """

    def __init__(self, store: ResultCache | None = None) -> None:
        self.store: ResultCache = MemoryResultCache() if store is None else store

    def get(self, key: str) -> Any | None:
        """The value cached under ``key``, or None."""
        return self.store.get(key)

    def put(self, key: str, value: Any) -> None:
        """Cache ``value`` under ``key``."""
        self.store.put(key, value)

    def keys(self) -> list[str]:
        """Keys currently held."""
        return self.store.keys()

    def __len__(self) -> int:
        return len(self.store.keys())

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedCache:
        return self

    def __repr__(self) -> str:
        return f"SharedCache({self.store!r})"
