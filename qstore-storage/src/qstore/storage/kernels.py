"""`ParquetKernelStore`: kernel entries in append-only Parquet part files, safe for many writers.

Layout: ``<path>/<sha256 of the space>/part-<time>-<pid>-<uuid>.parquet`` with columns ``a``, ``b``
(sample hashes) and ``value``. A writer writes a hidden temporary file and renames it into place,
so a reader (in any process) sees a part completely or not at all, and two writers never touch the
same file: no locks are needed across processes. Readers load new parts incrementally; when parts
disagree on an entry (two writers paid for it at once), the oldest part wins, the same for every
reader. `clear` renames the space directory away before deleting it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from qstore.core.errors import CorruptDataError
from qstore.core.storage import kernel_entries

__all__ = ["ParquetKernelStore"]

_SCHEMA = pa.schema([("a", pa.string()), ("b", pa.string()), ("value", pa.float64())])
_SPACE_FILE = "space.txt"


class _Space:
    """The entries of one space loaded so far, and which part files they came from."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], float] = {}
        self.parts: set[str] = set()


class ParquetKernelStore:
    """A persistent `KernelStore` in a directory of Parquet parts (``get_storage("parquet-kernels", path=...)``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._spaces: dict[str, _Space] = {}

    def _dir(self, space: str) -> Path:
        return self.path / hashlib.sha256(space.encode()).hexdigest()

    def _refresh(self, space: str) -> _Space:
        """Load parts written since the last look (by this or any other process), oldest first."""
        loaded = self._spaces.setdefault(space, _Space())
        directory = self._dir(space)
        if not directory.is_dir():
            loaded.entries.clear()
            loaded.parts.clear()
            return loaded
        for part in sorted(p.name for p in directory.glob("part-*.parquet")):
            if part in loaded.parts:
                continue
            try:
                table = pq.read_table(directory / part, schema=_SCHEMA)
            except FileNotFoundError:
                continue  # cleared concurrently
            except (pa.ArrowException, OSError) as exc:
                raise CorruptDataError(f"kernel store part {directory / part} is unreadable: {exc}") from exc
            columns = table.to_pydict()
            for pair in zip(zip(columns["a"], columns["b"], strict=True), columns["value"], strict=True):
                loaded.entries.setdefault(*pair)
            loaded.parts.add(part)
        return loaded

    def get(self, space: str, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Stored values of ``(a[k], b[k])``, nan where missing (parts written elsewhere included)."""
        with self._lock:
            entries = self._refresh(space).entries
            return np.array([entries.get(pair, np.nan) for pair in zip(a, b, strict=True)], dtype=np.float64)

    def put(self, space: str, a: Sequence[str], b: Sequence[str], values: Any) -> None:
        """Write the entries not yet stored as one new part file (atomic rename); first value wins."""
        a, b, array = kernel_entries(a, b, values)
        with self._lock:
            entries = self._refresh(space).entries
            keep = [k for k, pair in enumerate(zip(a, b, strict=True)) if pair not in entries]
            if not keep:
                return
            directory = self._dir(space)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / _SPACE_FILE).write_text(space + "\n")
            table = pa.table(
                {"a": [a[k] for k in keep], "b": [b[k] for k in keep], "value": array[keep]}, schema=_SCHEMA
            )
            name = f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex}.parquet"
            tmp = directory / f".{name}.tmp"
            pq.write_table(table, tmp)
            os.replace(tmp, directory / name)
            self._refresh(space)

    def spaces(self) -> list[str]:
        """Names of the spaces with entries on disk."""
        return sorted(
            (d / _SPACE_FILE).read_text().strip() for d in self.path.iterdir() if (d / _SPACE_FILE).is_file()
        )

    def count(self, space: str | None = None) -> int:
        """Distinct entries stored in ``space`` or in every space."""
        with self._lock:
            names = self.spaces() if space is None else [space]
            return sum(len(self._refresh(name).entries) for name in names)

    def clear(self, space: str | None = None) -> int:
        """Delete ``space`` (or every space) from disk; returns the number of entries removed."""
        with self._lock:
            names = self.spaces() if space is None else [space]
            removed = 0
            for name in names:
                removed += len(self._refresh(name).entries)
                directory = self._dir(name)
                trash = self.path / f".trash-{uuid.uuid4().hex}"
                try:
                    os.replace(directory, trash)
                except FileNotFoundError:
                    continue
                shutil.rmtree(trash)
                self._spaces.pop(name, None)
            return removed

    def __repr__(self) -> str:
        return f"ParquetKernelStore({str(self.path)!r})"
