"""Storage ``zarr``: a `CheckpointStore` keeping each checkpoint as a zarr v3 group in a directory.

Layout of ``path``::

    path/
      1@warmup/        one zarr group per checkpoint, named <save sequence>@<checkpoint name>
        zarr.json      group attributes: format, array names in order, a SHA-256 and the chunk
                       count of every array, the user's metadata (JSON)
        weights/       one zarr array per checkpoint array
      2@step-100/
      .tmp-<hex>/      a save in progress; never listed
      .tmp-<hex>.lock  held (``flock``) by the saving process while ``.tmp-<hex>/`` is in use
      .old-<hex>/      a replaced version being removed

A save writes its group into a hidden temporary sibling, fsyncs it, and renames it into place, so a
crash mid-write leaves every earlier checkpoint readable and the half-written one invisible. Saving
an existing name renames in a newer sequence number first and removes the older directory after, so
the name never disappears; `load` re-reads if a replacement removed the directory under it.
Opening a store and every save remove what killed saves left behind: ``.old-`` directories, and
``.tmp-`` directories whose lock no live process holds.

`load` verifies every array against its checksum and chunk count, so a deleted chunk (which zarr
would read back as zeros) or flipped bytes are a `CorruptDataError` naming the checkpoint, the
array and the directory, never different numbers. Only numeric arrays are written or read back (no
object dtypes, no pickle). Names follow the memory store's rules, except that an array may not be
called ``zarr.json``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

from qstore.core.errors import (
    ArgumentError,
    ArgumentTypeError,
    CorruptDataError,
    NotStoredError,
    StorageError,
)
from qstore.core.storage import Checkpoint

try:
    import fcntl
except ImportError:  # Windows: stale .tmp- directories are left for the user to delete
    fcntl = None  # type: ignore[assignment]

__all__ = ["ZarrCheckpointStore"]

FORMAT = "qstore.checkpoint/2"
UNVERIFIED_FORMAT = "qstore.checkpoint/1"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_ENTRY = re.compile(r"(\d+)@([A-Za-z0-9][A-Za-z0-9._-]*)\Z")
_LOAD_ATTEMPTS = 5


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ArgumentError(
            f"invalid {kind} name {name!r}: use letters, digits and '._-', starting with a letter or digit"
        )
    return name


def _numeric(key: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biufc":
        raise ArgumentTypeError(
            f"checkpoint array {key!r} has dtype {array.dtype}; only bool, integer, float and "
            "complex arrays can be stored"
        )
    return array


def _json_copy(what: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{what} must be a mapping, got {type(value).__name__}")
    try:
        return dict(json.loads(json.dumps(dict(value), allow_nan=True)))
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{what} must be JSON-serialisable: {exc}") from None


def _write_array(group: zarr.Group, key: str, array: np.ndarray) -> None:
    group.create_array(key, data=array)


def _digest(array: np.ndarray) -> str:
    """``sha256:<hex>`` of an array's dtype, shape and little-endian bytes (what a checkpoint stores)."""
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    h = hashlib.sha256(f"{little.dtype.str}{little.shape}".encode())
    h.update(little.tobytes())
    return f"sha256:{h.hexdigest()}"


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on Windows; rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for file in files:
            _fsync(Path(folder, file))
        _fsync(Path(folder))


class ZarrCheckpointStore:
    """`CheckpointStore` on a directory of zarr groups; saves are atomic, names validated as in memory.

    ``get_storage("zarr", path="runs/ckpt")`` creates the directory if needed and sees every
    checkpoint already in it, so a resumed run continues where the last one stopped.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise ArgumentError(f"zarr checkpoint path {str(self.path)!r} is a file; give a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._remove_stale()

    def __repr__(self) -> str:
        return f"ZarrCheckpointStore({str(self.path)!r})"

    def _entries(self) -> dict[str, list[tuple[int, str]]]:
        """Each checkpoint name with its directories ``(sequence, dirname)``, newest last."""
        found: dict[str, list[tuple[int, str]]] = {}
        with os.scandir(self.path) as it:
            for entry in it:
                match = _ENTRY.match(entry.name)
                if match and entry.is_dir():
                    found.setdefault(match[2], []).append((int(match[1]), entry.name))
        for versions in found.values():
            versions.sort()
        return found

    def _current(self) -> dict[str, tuple[int, str]]:
        return {name: versions[-1] for name, versions in self._entries().items()}

    def save(self, name: str, arrays: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> None:
        """Write ``arrays`` (numeric) and JSON ``metadata`` as checkpoint ``name``; it becomes the latest.

        All or nothing: on any error, including bad input found after some arrays were written,
        the store is left exactly as it was.
        """
        _check_name("checkpoint", name)
        if not isinstance(arrays, Mapping):
            raise ArgumentTypeError(f"arrays must be a mapping of name to array, got {type(arrays).__name__}")
        keys = [_check_name("array", key) for key in arrays]
        reserved = [key for key in keys if key.lower() == "zarr.json"]
        if reserved:
            raise ArgumentError(f"invalid array name {reserved[0]!r}: zarr keeps its metadata in 'zarr.json'")
        meta = _json_copy("checkpoint metadata", metadata or {})
        with self._lock:
            self._remove_stale()
            tmp = self.path / f".tmp-{uuid.uuid4().hex}"
            with _held(tmp.with_name(f"{tmp.name}.lock")):
                try:
                    group = zarr.open_group(store=LocalStore(tmp), mode="w-", zarr_format=3)
                    checksums, chunks = {}, {}
                    for key, value in arrays.items():
                        array = _numeric(key, value)
                        _write_array(group, key, array)
                        checksums[key] = _digest(array)
                        chunks[key] = _stored_chunks(tmp / key)
                    header = {"format": FORMAT, "arrays": keys, "sha256": checksums, "chunks": chunks}
                    group.attrs.update({"qstore": header, "metadata": meta})
                    _fsync_tree(tmp)
                    self._commit(tmp, name)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise

    def _remove_stale(self) -> None:
        """Delete ``.old-`` directories and ``.tmp-`` ones whose saving process is gone."""
        with os.scandir(self.path) as it:
            names = [entry.name for entry in it]
        for entry in names:
            if entry.startswith(".old-"):
                shutil.rmtree(self.path / entry, ignore_errors=True)
        if fcntl is not None:
            for stem in {entry.removesuffix(".lock") for entry in names if entry.startswith(".tmp-")}:
                _remove_if_abandoned(self.path / stem)

    def _commit(self, tmp: Path, name: str) -> None:
        """Rename ``tmp`` into place under the next sequence number, then drop older versions."""
        while True:
            entries = self._entries()
            sequence = 1 + max((v[-1][0] for v in entries.values()), default=0)
            try:
                os.rename(tmp, self.path / f"{sequence}@{name}")
                break
            except OSError as exc:  # another process took this sequence number for the same name
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        _fsync(self.path)
        for _, dirname in entries.get(name, []):
            trash = self.path / f".old-{uuid.uuid4().hex}"
            with contextlib.suppress(FileNotFoundError):  # a concurrent save removed it already
                os.rename(self.path / dirname, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def load(self, name: str) -> Checkpoint:
        """The checkpoint ``name`` with read-only arrays, each verified against its checksum.

        `NotStoredError` (a `KeyError`) names the saved checkpoints when ``name`` is not one;
        `CorruptDataError` names the checkpoint, the array and the directory when data on disk is
        missing, altered or not a checkpoint.
        """
        for _ in range(_LOAD_ATTEMPTS):
            current = self._current()
            if name not in current:
                raise NotStoredError(f"no checkpoint named {name!r}; saved: {self._ordered(current)}")
            folder = self.path / current[name][1]
            try:
                checkpoint = self._read(name, folder)
            except Exception:  # zarr reports a vanished node as KeyError or FileNotFoundError
                if folder.is_dir():
                    raise
                continue
            if folder.is_dir():  # not replaced while we read it, so no chunk was missing
                return checkpoint
        raise StorageError(
            f"checkpoint {name!r} in {str(self.path)!r} was replaced {_LOAD_ATTEMPTS} times while "
            "being read; try again"
        )

    def _read(self, name: str, folder: Path) -> Checkpoint:
        where = f"checkpoint {name!r} ({str(folder)!r})"
        try:
            group = zarr.open_group(store=LocalStore(folder, read_only=True), mode="r", zarr_format=3)
            attributes = group.attrs.asdict()
        except Exception as exc:
            raise CorruptDataError(
                f"{where}: group metadata unreadable ({type(exc).__name__}: {exc})"
            ) from exc
        header = _header(where, attributes.get("qstore"))
        arrays: dict[str, np.ndarray] = {}
        for key in header["arrays"]:
            arrays[key] = _read_array(f"{where} array {key!r}", group, folder / key, key, header)
        return Checkpoint(name, arrays, _json_copy("metadata", attributes.get("metadata", {})))

    @staticmethod
    def _ordered(current: dict[str, tuple[int, str]]) -> list[str]:
        return sorted(current, key=lambda n: current[n])

    def list(self) -> list[str]:
        """Checkpoint names, oldest save first."""
        return self._ordered(self._current())

    def latest(self) -> str | None:
        """Name of the most recent save, or None when the directory holds none."""
        current = self._current()
        return max(current, key=lambda n: current[n]) if current else None


@contextlib.contextmanager
def _held(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` for the block, then delete the file."""
    with open(lock_path, "w") as file:
        if fcntl is not None:
            fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)


def _remove_if_abandoned(tmp: Path) -> None:
    """Remove ``tmp`` (and its lock file) unless a live process holds the lock."""
    lock_path = tmp.with_name(f"{tmp.name}.lock")
    try:
        with open(lock_path, "r+") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            shutil.rmtree(tmp, ignore_errors=True)
            lock_path.unlink(missing_ok=True)
    except FileNotFoundError:  # a save creates its lock before its directory: this one is dead
        shutil.rmtree(tmp, ignore_errors=True)


def _stored_chunks(folder: Path) -> int:
    """Number of chunk files zarr wrote for one array (chunks equal to the fill value are skipped)."""
    return sum(len(files) for _, _, files in os.walk(folder / "c")) + int((folder / "c").is_file())


def _header(where: str, header: Any) -> dict[str, Any]:
    """The checked ``qstore`` attribute of a checkpoint group."""
    if not isinstance(header, dict) or header.get("format") not in (FORMAT, UNVERIFIED_FORMAT):
        raise CorruptDataError(f"{where} is not a {FORMAT} checkpoint (header {header!r})")
    keys = header.get("arrays")
    if not isinstance(keys, list) or not all(isinstance(k, str) and _NAME.match(k) for k in keys):
        raise CorruptDataError(f"{where}: header 'arrays' must list array names, got {keys!r}")
    if header["format"] == UNVERIFIED_FORMAT:
        warnings.warn(
            f"{where} was written in {UNVERIFIED_FORMAT}, without checksums; its arrays cannot be "
            "verified. Save it again to add them",
            stacklevel=4,
        )
        return header
    for field in ("sha256", "chunks"):
        table = header.get(field)
        if not isinstance(table, dict) or set(table) != set(keys):
            raise CorruptDataError(f"{where}: header {field!r} must have an entry per array {keys}")
    return header


def _read_array(where: str, group: zarr.Group, folder: Path, key: str, header: dict[str, Any]) -> np.ndarray:
    """One array read and checked against the header's checksum and chunk count."""
    try:
        node = group[key]
    except Exception as exc:
        raise CorruptDataError(f"{where} is missing ({type(exc).__name__}: {exc})") from exc
    if not isinstance(node, zarr.Array) or np.dtype(node.dtype).kind not in "biufc":
        raise CorruptDataError(f"{where} is not a numeric zarr array; refusing to read it")
    if header["format"] == FORMAT:
        found, expected = _stored_chunks(folder), header["chunks"][key]
        if found != expected:
            raise CorruptDataError(f"{where}: {expected} chunk file(s) saved, {found} found on disk")
    try:
        array = np.asarray(node[...])
    except Exception as exc:
        raise CorruptDataError(f"{where}: chunks unreadable ({type(exc).__name__}: {exc})") from exc
    if header["format"] == FORMAT and _digest(array) != header["sha256"][key]:
        raise CorruptDataError(f"{where}: data does not match its saved SHA-256 checksum")
    array.flags.writeable = False
    return array
