"""Result caching for the executor: which requests may be reused, under what key, stored how.

A key covers everything that decides a result: the circuit's content hash, the exact bound
values (float64 bytes, per symbol and state input), the observables, shots, seed, outputs and the
backend (name, precision and description, which names e.g. a noise model). Exact requests are
cached freely; a shot-based request is cached only with a fixed seed, because without one every
run must be a fresh, independent sample.

Values are plain data — ``{output: array}`` plus the result's ``info`` — so any `ResultCache`
of the storage ``cache`` kind can hold them (in memory: `qstore.core.storage.MemoryResultCache`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from qstore.core.backend import Backend, Request, Result

__all__ = ["ARRAY_FIELDS", "backend_key", "cacheable", "from_entry", "request_key", "to_entry"]

ARRAY_FIELDS = ("expectations", "samples", "probabilities", "statevectors")


def cacheable(request: Request) -> bool:
    """Exact requests, and shot-based ones with a fixed seed (otherwise samples must stay fresh)."""
    return request.shots is None or request.seed is not None


def backend_key(backend: Backend) -> str:
    """What identifies a backend's results: its name, precision and description."""
    caps = backend.capabilities
    return f"{caps.name}|{caps.precision}|{caps.description}"


def request_key(request: Request, backend: str) -> str:
    """SHA-256 over everything that decides ``request``'s result on the backend keyed ``backend``."""
    digest = hashlib.sha256()
    batch = request.batch
    parts: list[str] = [
        backend,
        batch.circuit.hash,
        str(batch.size),
        repr(request.observables),
        repr(request.shots),
        repr(request.seed),
        repr(sorted(request.outputs)),
    ]
    digest.update("\x1f".join(parts).encode())
    for kind, arrays in (("v", batch.values), ("s", batch.vectors)):
        for name in sorted(arrays):
            digest.update(f"\x1e{kind}:{name}".encode())
            value = np.ascontiguousarray(arrays[name])
            digest.update(str(value.dtype).encode())
            digest.update(value.tobytes())
    return digest.hexdigest()


def to_entry(result: Result) -> dict[str, Any]:
    """The plain data a cache holds for ``result``: its arrays and its info."""
    entry: dict[str, Any] = {
        name: getattr(result, name) for name in ARRAY_FIELDS if getattr(result, name) is not None
    }
    entry["info"] = dict(result.info)
    return entry


def from_entry(entry: Mapping[str, Any]) -> Result:
    """A `Result` (without metadata) from a cache entry; arrays are copies, so callers may mutate them."""
    arrays: dict[str, Any] = {name: np.array(entry[name]) for name in ARRAY_FIELDS if name in entry}
    return Result(info=dict(entry.get("info", {})), **arrays)
