"""Storage contracts, and the in-memory implementations registered as storage ``memory``.

Five protocols, one per kind of data a training or research run keeps:

* `CheckpointStore` (``"checkpoints"``): named sets of arrays plus JSON metadata.
* `MetricsSink` (``"metrics"``): rows of ``step`` and named numbers; never drops a row.
* `VectorStore` (``"vectors"``): ids and vectors, exact k-nearest search by squared L2 distance.
* `ResultCache` (``"cache"``): values by key (e.g. a circuit's content hash).
* `KernelStore` (``"kernels"``): kernel entries by (space, sample hash, sample hash), each paid once.

Drivers in other distributions (``zarr``, ``parquet``, ``faiss``) implement the same protocols, so
``get_storage("memory", kind="metrics")`` and ``get_storage("parquet", path=...)`` are interchangeable.
"""

from __future__ import annotations

import json
import numbers
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np

from qstore.core.errors import ArgumentError, ArgumentTypeError, NotStoredError

__all__ = [
    "STORAGE_KINDS",
    "Checkpoint",
    "CheckpointStore",
    "KernelStore",
    "MemoryCheckpointStore",
    "MemoryKernelStore",
    "MemoryMetricsSink",
    "MemoryResultCache",
    "MemoryVectorStore",
    "MetricsSink",
    "ResultCache",
    "VectorStore",
    "is_store",
    "kernel_entries",
    "memory_storage",
    "vector_ids",
    "vector_matrix",
]

STORAGE_KINDS = ("checkpoints", "metrics", "vectors", "cache", "kernels")
_SEARCH_CHUNK = 2**22  # float64 elements per block of query-minus-stored differences
_CHECKPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


@attrs.frozen(eq=False)
class Checkpoint:
    """One saved checkpoint: its name, arrays and JSON-compatible metadata."""

    name: str
    arrays: Mapping[str, np.ndarray]
    metadata: Mapping[str, Any]


@runtime_checkable
class CheckpointStore(Protocol):
    """Named checkpoints; a save is all-or-nothing, and saving an existing name replaces it."""

    def save(self, name: str, arrays: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> None:
        """Store ``arrays`` (numeric, no object dtype) and JSON-serialisable ``metadata``."""
        ...

    def load(self, name: str) -> Checkpoint:
        """The checkpoint saved as ``name``; `NotStoredError` (a `KeyError`) if there is none."""
        ...

    def list(self) -> list[str]:
        """Checkpoint names, oldest save first."""
        ...

    def latest(self) -> str | None:
        """Name of the most recent save, or None when the store is empty."""
        ...


@runtime_checkable
class MetricsSink(Protocol):
    """Rows of metrics; ``log`` may buffer, but ``flush`` and ``close`` never drop a row."""

    def log(self, step: int, **values: float) -> None:
        """Record one row: an integer ``step`` and named finite-or-nan numbers."""
        ...

    def flush(self) -> None:
        """Make every logged row durable (or visible) before returning."""
        ...

    def close(self) -> None:
        """Flush and release resources; logging afterwards is an error."""
        ...


@runtime_checkable
class VectorStore(Protocol):
    """Vectors by id with exact or approximate k-nearest search by squared L2 distance."""

    def add(self, ids: Sequence[Any], vectors: Any) -> None:
        """Add ``vectors`` of shape ``(n, dim)`` under ``n`` new unique ids."""
        ...

    def search(self, vectors: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, distances)``, each ``(m, k)``, nearest first, for ``m`` query vectors."""
        ...

    def __len__(self) -> int: ...


@runtime_checkable
class ResultCache(Protocol):
    """Values by key; a cache may evict, so `get` returns None for anything not held."""

    def get(self, key: str) -> Any | None:
        """The value cached under ``key``, or None."""
        ...

    def put(self, key: str, value: Any) -> None:
        """Cache ``value`` under ``key`` (replacing any previous value)."""
        ...

    def keys(self) -> list[str]:
        """Keys currently held."""
        ...


@runtime_checkable
class KernelStore(Protocol):
    """Kernel entries ``K(a, b)`` by space and a pair of sample hashes; concurrent writers are safe.

    A space names everything that fixes a kernel's values except the samples (feature map, backend,
    precision, shots). Kernels are symmetric, so callers store each unordered pair once, ``a <= b``.
    """

    def get(self, space: str, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Values of the entries ``(a[k], b[k])`` as float64 ``(n,)``; nan where none is stored."""
        ...

    def put(self, space: str, a: Sequence[str], b: Sequence[str], values: Any) -> None:
        """Store ``values[k]`` under ``(a[k], b[k])``; an entry already stored keeps its first value."""
        ...

    def count(self, space: str | None = None) -> int:
        """Entries held in ``space``, or in every space."""
        ...

    def clear(self, space: str | None = None) -> int:
        """Remove the entries of ``space`` (every space when None); returns how many were removed."""
        ...


_PROTOCOLS: tuple[type, ...] = (CheckpointStore, MetricsSink, VectorStore, ResultCache, KernelStore)


def is_store(obj: object) -> bool:
    """Whether ``obj`` implements at least one of the storage protocols."""
    return any(isinstance(obj, p) for p in _PROTOCOLS)


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _CHECKPOINT_NAME.match(name):
        raise ArgumentError(
            f"invalid {kind} name {name!r}: use letters, digits and '._-', starting with a letter or digit"
        )
    return name


def _as_numeric_array(key: str, value: Any) -> np.ndarray:
    array = np.array(value, copy=True)
    if array.dtype.kind not in "biufc":
        raise ArgumentTypeError(
            f"checkpoint array {key!r} has dtype {array.dtype}; only bool, integer, float and "
            "complex arrays can be stored"
        )
    array.flags.writeable = False
    return array


def _json_copy(what: str, value: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{what} must be a mapping, got {type(value).__name__}")
    try:
        return dict(json.loads(json.dumps(dict(value), allow_nan=True)))
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{what} must be JSON-serialisable: {exc}") from None


class MemoryCheckpointStore:
    """`CheckpointStore` in memory; arrays are copied in and returned read-only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Checkpoint] = OrderedDict()

    def save(self, name: str, arrays: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> None:
        """Store a copy of ``arrays`` and ``metadata`` under ``name``; it becomes the latest."""
        _check_name("checkpoint", name)
        if not isinstance(arrays, Mapping):
            raise ArgumentTypeError(f"arrays must be a mapping of name to array, got {type(arrays).__name__}")
        for key in arrays:
            _check_name("array", key)
        copied = {key: _as_numeric_array(key, value) for key, value in arrays.items()}
        meta = _json_copy("checkpoint metadata", metadata or {})
        with self._lock:
            self._items.pop(name, None)
            self._items[name] = Checkpoint(name, copied, meta)

    def load(self, name: str) -> Checkpoint:
        """The checkpoint ``name`` (metadata is a fresh copy)."""
        with self._lock:
            if name not in self._items:
                raise NotStoredError(f"no checkpoint named {name!r}; saved: {list(self._items)}")
            found = self._items[name]
        return Checkpoint(found.name, dict(found.arrays), _json_copy("metadata", found.metadata))

    def list(self) -> list[str]:
        """Checkpoint names, oldest save first."""
        with self._lock:
            return list(self._items)

    def latest(self) -> str | None:
        """Name of the most recent save, or None."""
        with self._lock:
            return next(reversed(self._items), None)


class MemoryMetricsSink:
    """`MetricsSink` in memory; ``rows`` returns every logged row in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[dict[str, float | int]] = []
        self._closed = False

    def log(self, step: int, **values: float) -> None:
        """Append one row; ``step`` a non-negative int, values real numbers (nan allowed)."""
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ArgumentError(f"step must be a non-negative integer, got {step!r}")
        if not values:
            raise ArgumentError("log at least one named value, e.g. log(step, loss=0.5)")
        row: dict[str, float | int] = {"step": int(step)}
        for key, value in values.items():
            if isinstance(value, np.ndarray) and value.shape == ():
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ArgumentTypeError(f"metric {key!r} must be a real number, got {value!r}")
            row[key] = float(value)
        with self._lock:
            if self._closed:
                raise ArgumentError("this metrics sink is closed")
            self._rows.append(row)

    def flush(self) -> None:
        """Nothing is buffered in memory; present for the protocol."""

    def close(self) -> None:
        """Refuse further rows; the logged rows stay readable."""
        with self._lock:
            self._closed = True

    @property
    def rows(self) -> list[dict[str, float | int]]:
        """Copies of every row, in logging order."""
        with self._lock:
            return [dict(r) for r in self._rows]


def vector_matrix(what: str, vectors: Any, dim: int | None) -> np.ndarray:
    """Validate ``vectors`` as finite float64 ``(n, dim)``; every vector store shares these errors."""
    array = np.asarray(vectors, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ArgumentError(f"{what} must have shape (n, dim), got {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise ArgumentError(f"{what} have dim {array.shape[1]}; this store holds dim {dim}")
    if not np.isfinite(array).all():
        raise ArgumentError(f"{what} contain nan or inf")
    return array


def vector_ids(ids: Sequence[Any], n: int) -> list[Any]:
    """Validate the ids of one add: ``n`` unique ints or strings (NumPy scalars unwrapped)."""
    ids = list(ids)
    if len(ids) != n:
        raise ArgumentError(f"got {len(ids)} ids for {n} vectors")
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int | str | np.integer | np.str_):
            raise ArgumentTypeError(f"ids must be ints or strings, got {i!r}")
    ids = [i.item() if isinstance(i, np.generic) else i for i in ids]
    if len(set(ids)) != len(ids):
        raise ArgumentError("ids within one add must be unique")
    return ids


class MemoryVectorStore:
    """`VectorStore` in memory with exact (brute-force) search; ties keep insertion order."""

    def __init__(self, dim: int | None = None) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ArgumentError(f"dim must be a positive integer or None, got {dim!r}")
        self._lock = threading.Lock()
        self._dim = dim
        self._ids: list[Hashable] = []
        self._index: set[Hashable] = set()
        self._vectors = np.empty((0, dim or 0))

    @property
    def dim(self) -> int | None:
        """Vector length, fixed by the constructor or the first `add`."""
        return self._dim

    def add(self, ids: Sequence[Any], vectors: Any) -> None:
        """Add ``vectors`` ``(n, dim)`` under ``n`` unique int or str ids not already stored."""
        array = vector_matrix("vectors", vectors, self._dim)
        ids = vector_ids(ids, array.shape[0])
        with self._lock:
            kinds = {type(i) for i in ids} | {type(i) for i in self._ids[:1]}
            if len(kinds) > 1:
                raise ArgumentTypeError("ids must all be ints or all be strings")
            taken = [i for i in ids if i in self._index]
            if taken:
                raise ArgumentError(f"ids already stored: {taken[:5]}")
            self._dim = array.shape[1]
            self._vectors = np.concatenate([self._vectors.reshape(-1, self._dim), array])
            self._ids.extend(ids)
            self._index.update(ids)

    def search(self, vectors: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest stored ids and squared L2 distances, ``(m, k)`` each, nearest first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ArgumentError(f"k must be a positive integer, got {k!r}")
        with self._lock:
            stored, ids = self._vectors, np.asarray(self._ids)
        if k > len(ids):
            raise ArgumentError(f"k={k} exceeds the {len(ids)} vectors stored")
        query = np.asarray(vectors, dtype=np.float64)
        query = vector_matrix("query vectors", query[None, :] if query.ndim == 1 else query, self._dim)
        # Differences, not |q|^2 + |x|^2 - 2 q.x: exact for near-duplicates; chunked to bound memory.
        rows = max(1, _SEARCH_CHUNK // max(1, stored.size))
        dist = np.empty((query.shape[0], len(ids)))
        for start in range(0, query.shape[0], rows):
            diff = query[start : start + rows, None, :] - stored[None, :, :]
            dist[start : start + rows] = np.einsum("mnd,mnd->mn", diff, diff)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        return ids[order], np.take_along_axis(dist, order, axis=1)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)


class MemoryResultCache:
    """`ResultCache` in memory; with ``max_entries`` it evicts the least recently used key."""

    def __init__(self, max_entries: int | None = None) -> None:
        if max_entries is not None and (
            isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1
        ):
            raise ArgumentError(f"max_entries must be a positive integer or None, got {max_entries!r}")
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any | None:
        """The value under ``key`` (marking it recently used), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: str, value: Any) -> None:
        """Cache ``value`` under the string ``key``; evicts the oldest key when full."""
        if not isinstance(key, str) or not key:
            raise ArgumentTypeError(f"cache keys must be non-empty strings, got {key!r}")
        if value is None:
            raise ArgumentError("None cannot be cached: get() uses None to mean 'not cached'")
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            if self.max_entries is not None:
                while len(self._items) > self.max_entries:
                    self._items.popitem(last=False)

    def keys(self) -> list[str]:
        """Keys held, least recently used first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def kernel_entries(
    a: Sequence[str], b: Sequence[str], values: Any
) -> tuple[list[str], list[str], np.ndarray]:
    """Validate one `KernelStore.put`: equal lengths, string hashes, finite float64 values."""
    a, b = [str(h) for h in a], [str(h) for h in b]
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not len(a) == len(b) == array.size:
        raise ArgumentError(f"got {len(a)} and {len(b)} sample hashes for {array.size} kernel values")
    if not np.isfinite(array).all():
        raise ArgumentError("kernel values contain nan or inf")
    return a, b, array


class MemoryKernelStore:
    """`KernelStore` in memory (one process); see ``parquet-kernels`` for a persistent one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spaces: dict[str, dict[tuple[str, str], float]] = {}

    def get(self, space: str, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Stored values of ``(a[k], b[k])``, nan where missing."""
        with self._lock:
            entries = self._spaces.get(space, {})
            return np.array([entries.get(pair, np.nan) for pair in zip(a, b, strict=True)], dtype=np.float64)

    def put(self, space: str, a: Sequence[str], b: Sequence[str], values: Any) -> None:
        """Store the entries; existing ones keep their first value."""
        a, b, array = kernel_entries(a, b, values)
        with self._lock:
            entries = self._spaces.setdefault(space, {})
            for pair, value in zip(zip(a, b, strict=True), array.tolist(), strict=True):
                entries.setdefault(pair, value)

    def count(self, space: str | None = None) -> int:
        """Entries in ``space`` or in all spaces."""
        with self._lock:
            if space is not None:
                return len(self._spaces.get(space, {}))
            return sum(map(len, self._spaces.values()))

    def clear(self, space: str | None = None) -> int:
        """Drop ``space`` (or everything); returns the number of entries removed."""
        with self._lock:
            names = list(self._spaces) if space is None else [space] if space in self._spaces else []
            return sum(len(self._spaces.pop(name)) for name in names)


def memory_storage(kind: str, **options: Any) -> Any:
    """The ``memory`` storage driver: ``kind`` is one of `STORAGE_KINDS`; options go to the store.

    ``get_storage("memory", kind="vectors", dim=8)`` returns a `MemoryVectorStore`.
    """
    classes: dict[str, Any] = {
        "checkpoints": MemoryCheckpointStore,
        "metrics": MemoryMetricsSink,
        "vectors": MemoryVectorStore,
        "cache": MemoryResultCache,
        "kernels": MemoryKernelStore,
    }
    if kind not in classes:
        raise ArgumentError(f"unknown storage kind {kind!r}; memory storage provides {list(classes)}")
    return classes[kind](**options)
