"""Storage ``faiss``: a `VectorStore` on a faiss index, exact by default, optionally saved to disk.

Vectors go to faiss as float32 under int64 ids 0, 1, 2, ... in insertion order; the user's int or
string ids live in a side table. ``index="flat"`` (the default) is an exact ``IndexFlatL2`` wrapped in
``IndexIDMap2``. ``index="ivf"`` is an ``IndexIVFFlat`` of ``nlist`` lists, trained on the first add
(which must hold at least ``nlist`` vectors), searching ``nprobe`` lists; a query that finds fewer
than ``k`` neighbours that way is searched again over every list, so results always have ``k`` entries.
Distances are squared L2 like `MemoryVectorStore`'s, but computed in float32 (relative error about
1e-6); equal distances are ordered by insertion.

With ``path`` (a directory) every add is saved, or undone if saving fails: the index goes with
``faiss.write_index`` into a new file, then ``ids.json`` (format, options incl. ``nprobe``, the index
file's name and the ids) is replaced atomically. Since ``ids.json`` names its index file, a crash
between the two leaves the previous state. Creating a store on an existing ``path`` reloads it;
nothing is unpickled. The reader trusts nothing in ``ids.json``: every key is checked, and the index
file must be a regular file named ``index-<32 hex>.faiss`` directly in ``path`` (no other path, no
symlink), so a crafted manifest cannot make faiss read a file elsewhere. A bad manifest or index is
a `CorruptDataError` naming the file and the key.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qstore.core.errors import ArgumentError, ArgumentTypeError, CorruptDataError
from qstore.core.storage import vector_ids, vector_matrix

__all__ = ["FaissVectorStore"]

FORMAT = "qstore.faiss/1"
INDEX_KINDS = ("flat", "ivf")
_MANIFEST = "ids.json"
_DEFAULT_NLIST = 100
_DEFAULT_NPROBE = 8
_INDEX_FILE = re.compile(r"index-[0-9a-f]{32}\.faiss\Z")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _positive(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"{option} must be a positive integer, got {value!r}")
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
    ``index``, ``nlist`` and ``nprobe`` default to what ``path`` was saved with, else ``"flat"``,
    100 and 8. A given ``nprobe`` overrides the saved one (it only changes searches).
    """

    def __init__(
        self,
        dim: int | None = None,
        *,
        index: str | None = None,
        nlist: int | None = None,
        nprobe: int | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ArgumentError(f"dim must be a positive integer or None, got {dim!r}")
        if index is not None and index not in INDEX_KINDS:
            raise ArgumentError(f"index must be one of {list(INDEX_KINDS)}, got {index!r}")
        if nlist is not None:
            _positive("nlist", nlist)
        self._nprobe = _DEFAULT_NPROBE if nprobe is None else _positive("nprobe", nprobe)
        self.path = None if path is None else Path(path)
        if self.path is not None and self.path.exists() and not self.path.is_dir():
            raise ArgumentError(f"faiss store path {str(self.path)!r} is a file; give a directory")
        self._lock = threading.Lock()
        self._dim = dim
        self._kind = index or "flat"
        self._nlist = nlist or _DEFAULT_NLIST
        self._ids: list[Hashable] = []
        self._taken: set[Hashable] = set()
        self._id_array: np.ndarray | None = None
        self._index: Any = None
        if self.path is not None and (self.path / _MANIFEST).exists():
            self._load(dim, index, nlist, nprobe)
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
            raise ArgumentError(f"{what} exceed the float32 range faiss computes in (about 3.4e38)")
        return np.ascontiguousarray(array, dtype=np.float32)

    def add(self, ids: Sequence[Any], vectors: Any) -> None:
        """Add ``vectors`` ``(n, dim)`` under ``n`` unique int or str ids not already stored."""
        array = self._matrix("vectors", vectors)
        ids = vector_ids(ids, array.shape[0])
        with self._lock:
            kinds = {type(i) for i in ids} | {type(i) for i in self._ids[:1]}
            if len(kinds) > 1:
                raise ArgumentTypeError("ids must all be ints or all be strings")
            taken = [i for i in ids if i in self._taken]
            if taken:
                raise ArgumentError(f"ids already stored: {taken[:5]}")
            if self._index is None:
                self._index = self._new_index(array.shape[1])
            if not self._index.is_trained:
                if array.shape[0] < self._nlist:
                    raise ArgumentError(
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
            raise ArgumentError(f"k must be a positive integer, got {k!r}")
        with self._lock:
            if k > len(self._ids):
                raise ArgumentError(f"k={k} exceeds the {len(self._ids)} vectors stored")
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
            "nprobe": self._nprobe,
            "index_file": name,
            "ids": self._ids,
        }
        _write_json_atomic(self.path / _MANIFEST, manifest)
        for old in self.path.glob("index-*.faiss"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def _load(self, dim: int | None, index: str | None, nlist: int | None, nprobe: int | None) -> None:
        assert self.path is not None
        saved = _read_manifest(self.path / _MANIFEST)
        for option, given in (("dim", dim), ("index", index), ("nlist", nlist)):
            if given is not None and given != saved[option]:
                raise ArgumentError(
                    f"{str(self.path)!r} holds a store saved with {option}={saved[option]!r}, "
                    f"not {given!r}; omit {option} to reopen it as saved"
                )
        ids = saved["ids"]
        index_path = _index_file(self.path, saved["index_file"])
        try:
            loaded = faiss.read_index(str(index_path))
        except RuntimeError as exc:
            raise CorruptDataError(f"{str(index_path)!r} is not a readable faiss index ({exc})") from exc
        if loaded.ntotal != len(ids) or loaded.d != saved["dim"]:
            raise CorruptDataError(
                f"{str(self.path)!r} is inconsistent: index holds {loaded.ntotal} vectors of dim "
                f"{loaded.d}, id table {len(ids)} ids of dim {saved['dim']}"
            )
        self._kind, self._dim, self._nlist = saved["index"], saved["dim"], saved["nlist"]
        if nprobe is None:
            self._nprobe = saved.get("nprobe", _DEFAULT_NPROBE)
        if self._kind == "ivf":
            faiss.extract_index_ivf(loaded).nprobe = self.nprobe
        self._index = loaded
        self._ids, self._taken = list(ids), set(ids)


def _read_manifest(path: Path) -> dict[str, Any]:
    """``ids.json`` parsed and checked key by key; `CorruptDataError` naming the file and key."""
    try:
        with open(path, encoding="utf-8") as file:
            saved = json.load(file)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CorruptDataError(f"{str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        raise CorruptDataError(f"{str(path)!r} is not a {FORMAT} id table (format {found!r})")

    def bad(key: str, what: str) -> CorruptDataError:
        if key not in saved:
            return CorruptDataError(f"{str(path)!r} lacks the key {key!r} ({what})")
        return CorruptDataError(f"{str(path)!r}: key {key!r} must be {what}, got {saved[key]!r}")

    if saved.get("index") not in INDEX_KINDS:
        raise bad("index", f"one of {list(INDEX_KINDS)}")
    for key in ("dim", "nlist", "nprobe"):
        value = saved.get(key)
        if (key != "nprobe" or key in saved) and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise bad(key, "a positive integer")
    if not isinstance(saved.get("index_file"), str):
        raise bad("index_file", "the index file name")
    ids = saved.get("ids")
    if not isinstance(ids, list) or not (
        all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        or all(isinstance(i, str) for i in ids)
    ):
        raise bad("ids", "a list of all ints or all strings")
    if len(set(ids)) != len(ids):
        raise bad("ids", "unique")
    return saved


def _index_file(folder: Path, name: str) -> Path:
    """The index file ``name`` inside ``folder``, refusing any other path, a symlink or a non-file."""
    path = folder / name
    if not _INDEX_FILE.match(name):
        raise CorruptDataError(
            f"{str(folder / _MANIFEST)!r}: key 'index_file' must name a file 'index-<32 hex>.faiss' in "
            f"the store directory, got {name!r}"
        )
    if path.is_symlink() or not path.is_file():
        raise CorruptDataError(f"{str(path)!r} (the manifest's index_file) is missing or not a regular file")
    return path
