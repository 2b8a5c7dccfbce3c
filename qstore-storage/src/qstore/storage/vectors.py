"""Storage ``faiss``: a `VectorStore` on a faiss index, exact by default, optionally saved to disk.

Vectors go to faiss as float32 under int64 ids 0, 1, 2, ... in insertion order; the user's int or
string ids live in a side table. ``index="flat"`` (the default) is an exact ``IndexFlatL2`` wrapped in
``IndexIDMap2``. ``index="ivf"`` is an ``IndexIVFFlat`` of ``nlist`` lists, trained on the first add
(which must hold at least ``nlist`` vectors), searching ``nprobe`` lists; a query that finds fewer
than ``k`` neighbours that way is searched again over every list, so results always have ``k`` entries.
Distances are squared L2 like `MemoryVectorStore`'s, but computed in float32 (relative error about
1e-6); equal distances are ordered by insertion.

With ``path`` (a directory) every add is saved, or undone if saving fails: the index goes with
``faiss.write_index`` into a new file, then ``ids.json`` (format, options, the index file's name and
the ids) is replaced atomically. Since ``ids.json`` names its index file, a crash between the two
leaves the previous state. Creating a store on an existing ``path`` reloads it; nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qstore.core.storage import vector_ids, vector_matrix

__all__ = ["FaissVectorStore"]

FORMAT = "qstore.faiss/1"
INDEX_KINDS = ("flat", "ivf")
_MANIFEST = "ids.json"
_DEFAULT_NLIST = 100
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _positive(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option} must be a positive integer, got {value!r}")
    return value


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump(data, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class FaissVectorStore:
    """`VectorStore` on faiss: ``get_storage("faiss", dim=64, path="runs/vectors")``.

    ``index`` is ``"flat"`` (exact) or ``"ivf"`` (approximate, with ``nlist`` and ``nprobe``);
    ``index`` and ``nlist`` default to what ``path`` was saved with, else ``"flat"`` and 100.
    """

    def __init__(
        self,
        dim: int | None = None,
        *,
        index: str | None = None,
        nlist: int | None = None,
        nprobe: int = 8,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ValueError(f"dim must be a positive integer or None, got {dim!r}")
        if index is not None and index not in INDEX_KINDS:
            raise ValueError(f"index must be one of {list(INDEX_KINDS)}, got {index!r}")
        if nlist is not None:
            _positive("nlist", nlist)
        self._nprobe = _positive("nprobe", nprobe)
        self.path = None if path is None else Path(path)
        if self.path is not None and self.path.exists() and not self.path.is_dir():
            raise ValueError(f"faiss store path {str(self.path)!r} is a file; give a directory")
        self._lock = threading.Lock()
        self._dim = dim
        self._kind = index or "flat"
        self._nlist = nlist or _DEFAULT_NLIST
        self._ids: list[Hashable] = []
        self._taken: set[Hashable] = set()
        self._id_array: np.ndarray | None = None
        self._index: Any = None
        if self.path is not None and (self.path / _MANIFEST).exists():
            self._load(dim, index, nlist)
        elif dim is not None:
            self._index = self._new_index(dim)

    def __repr__(self) -> str:
        where = "" if self.path is None else f", path={str(self.path)!r}"
        return f"FaissVectorStore(dim={self._dim}, index={self._kind!r}{where})"

    @property
    def dim(self) -> int | None:
        """Vector length, fixed by the constructor, the saved store or the first `add`."""
        return self._dim

    @property
    def index(self) -> str:
        """``"flat"`` (exact) or ``"ivf"``."""
        return self._kind

    @property
    def nprobe(self) -> int:
        """Lists an ``"ivf"`` index searches first (capped at ``nlist``); unused by ``"flat"``."""
        return min(self._nprobe, self._nlist)

    def _new_index(self, dim: int) -> Any:
        if self._kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatL2(dim))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, self._nlist, faiss.METRIC_L2)
        ivf.nprobe = self.nprobe
        return ivf

    def _matrix(self, what: str, vectors: Any) -> np.ndarray:
        array = vector_matrix(what, vectors, self._dim)
        if np.abs(array).max(initial=0.0) > _FLOAT32_MAX:
            raise ValueError(f"{what} exceed the float32 range faiss computes in (about 3.4e38)")
        return np.ascontiguousarray(array, dtype=np.float32)

    def add(self, ids: Sequence[Any], vectors: Any) -> None:
        """Add ``vectors`` ``(n, dim)`` under ``n`` unique int or str ids not already stored."""
        array = self._matrix("vectors", vectors)
        ids = vector_ids(ids, array.shape[0])
        with self._lock:
            kinds = {type(i) for i in ids} | {type(i) for i in self._ids[:1]}
            if len(kinds) > 1:
                raise TypeError("ids must all be ints or all be strings")
            taken = [i for i in ids if i in self._taken]
            if taken:
                raise ValueError(f"ids already stored: {taken[:5]}")
            if self._index is None:
                self._index = self._new_index(array.shape[1])
            if not self._index.is_trained:
                if array.shape[0] < self._nlist:
                    raise ValueError(
                        f"an ivf index with nlist={self._nlist} is trained on the first add, which "
                        f"needs at least {self._nlist} vectors; got {array.shape[0]}. Add more at "
                        "once, or lower nlist"
                    )
                self._index.train(array)
            internal = np.arange(len(self._ids), len(self._ids) + len(ids), dtype=np.int64)
            self._index.add_with_ids(array, internal)
            self._dim = array.shape[1]
            self._ids.extend(ids)
            self._taken.update(ids)
            self._id_array = None
            if self.path is not None:
                try:
                    self._save()
                except BaseException:  # all or nothing: forget the vectors that could not be saved
                    self._index.remove_ids(internal)
                    del self._ids[int(internal[0]) :]
                    self._taken.difference_update(ids)
                    raise

    def search(self, vectors: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest stored ids and squared L2 distances, ``(m, k)`` each, nearest first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        with self._lock:
            if k > len(self._ids):
                raise ValueError(f"k={k} exceeds the {len(self._ids)} vectors stored")
            query = np.asarray(vectors, dtype=np.float64)
            query = self._matrix("query vectors", query[None, :] if query.ndim == 1 else query)
            dist, labels = self._index.search(query, k)
            short = (labels < 0).any(axis=1)
            if short.any():  # ivf probed too few lists for k results: search every list
                every = faiss.SearchParametersIVF()
                every.nprobe = self._nlist
                dist[short], labels[short] = self._index.search(query[short], k, params=every)
            if self._id_array is None:
                self._id_array = np.asarray(self._ids)
            ids = self._id_array
        dist = np.maximum(dist.astype(np.float64), 0.0)
        order = np.lexsort((labels, dist), axis=-1)
        return ids[np.take_along_axis(labels, order, axis=1)], np.take_along_axis(dist, order, axis=1)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def _save(self) -> None:
        assert self.path is not None
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"index-{uuid.uuid4().hex}.faiss"
        faiss.write_index(self._index, str(self.path / name))
        with open(self.path / name, "rb") as file:
            os.fsync(file.fileno())
        manifest = {
            "format": FORMAT,
            "index": self._kind,
            "dim": self._dim,
            "nlist": self._nlist,
            "index_file": name,
            "ids": self._ids,
        }
        _write_json_atomic(self.path / _MANIFEST, manifest)
        for old in self.path.glob("index-*.faiss"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def _load(self, dim: int | None, index: str | None, nlist: int | None) -> None:
        assert self.path is not None
        manifest_path = self.path / _MANIFEST
        with open(manifest_path, encoding="utf-8") as file:
            saved = json.load(file)
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            raise ValueError(f"{str(manifest_path)!r} is not a {FORMAT} id table")
        for option, given in (("dim", dim), ("index", index), ("nlist", nlist)):
            if given is not None and given != saved[option]:
                raise ValueError(
                    f"{str(self.path)!r} holds a store saved with {option}={saved[option]!r}, "
                    f"not {given!r}; omit {option} to reopen it as saved"
                )
        ids = saved["ids"]
        if not (all(isinstance(i, int) for i in ids) or all(isinstance(i, str) for i in ids)):
            raise ValueError(f"{str(manifest_path)!r}: ids must all be ints or all be strings")
        loaded = faiss.read_index(str(self.path / saved["index_file"]))
        if loaded.ntotal != len(ids) or loaded.d != saved["dim"] or len(set(ids)) != len(ids):
            raise ValueError(
                f"{str(self.path)!r} is inconsistent: index holds {loaded.ntotal} vectors of dim "
                f"{loaded.d}, id table {len(ids)} ids ({len(set(ids))} unique) of dim {saved['dim']}"
            )
        self._kind, self._dim, self._nlist = saved["index"], saved["dim"], saved["nlist"]
        if self._kind == "ivf":
            faiss.extract_index_ivf(loaded).nprobe = self.nprobe
        self._index = loaded
        self._ids, self._taken = list(ids), set(ids)
