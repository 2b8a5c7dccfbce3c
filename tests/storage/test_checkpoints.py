"""Storage ``zarr``: checkpoints on disk, interchangeable with the memory store, saved atomically."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zarr")

import zarr

from qstore.core.errors import CorruptDataError, QstoreError
from qstore.core.plugins import get_storage, isolated_registry
from qstore.core.storage import CheckpointStore
from qstore.storage import checkpoints
from qstore.storage.checkpoints import ZarrCheckpointStore


@pytest.fixture(params=["memory", "zarr"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The same behavioural checks run against the memory store and the zarr driver."""
    with isolated_registry("qstore.core.builtin_plugin", "qstore.storage.plugin", strict=True, disabled=()):
        if request.param == "memory":
            yield get_storage("memory", kind="checkpoints")
        else:
            yield get_storage("zarr", path=tmp_path / "ckpt")


class Unconvertible:
    """An array-like whose conversion fails, as a tensor on a lost device would."""

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise RuntimeError("device lost")


# -- the shared contract ------------------------------------------------------------------------


def test_round_trip_order_and_read_only_arrays(store: Any) -> None:
    assert isinstance(store, CheckpointStore)
    assert store.latest() is None and store.list() == []
    weights = np.arange(6.0).reshape(2, 3)
    arrays = {
        "weights": weights,
        "bias": [1, 2],
        "flags": np.array([True, False]),
        "phase": np.array([1 + 2j], np.complex64),
        "scale": 3.5,
        "empty": np.zeros((0, 4), np.float32),
    }
    store.save("step-1", arrays, {"epoch": 1, "loss": float("nan"), "tags": ["a"]})
    weights[0, 0] = 99.0
    store.save("step-2", {"weights": np.zeros(3)})
    assert store.list() == ["step-1", "step-2"] and store.latest() == "step-2"
    ckpt = store.load("step-1")
    assert ckpt.name == "step-1" and list(ckpt.arrays) == list(arrays)
    for key, value in arrays.items():
        expected = np.asarray(value) if key != "weights" else np.arange(6.0).reshape(2, 3)
        np.testing.assert_array_equal(ckpt.arrays[key], expected)
        assert ckpt.arrays[key].dtype == expected.dtype and ckpt.arrays[key].shape == expected.shape
        assert not ckpt.arrays[key].flags.writeable
    assert ckpt.metadata["epoch"] == 1 and np.isnan(ckpt.metadata["loss"]) and ckpt.metadata["tags"] == ["a"]
    ckpt.metadata["epoch"] = 7
    assert store.load("step-1").metadata["epoch"] == 1
    assert store.load("step-2").metadata == {}


def test_saving_an_existing_name_replaces_it_and_makes_it_latest(store: Any) -> None:
    store.save("best", {"w": [1.0]})
    store.save("last", {"w": [2.0]})
    store.save("best", {"w": [3.0]}, {"v": 2})
    assert store.list() == ["last", "best"] and store.latest() == "best"
    np.testing.assert_array_equal(store.load("best").arrays["w"], [3.0])
    assert store.load("best").metadata == {"v": 2}


@pytest.mark.parametrize(
    ("name", "arrays", "metadata", "error", "message"),
    [
        ("", {"w": [1.0]}, None, ValueError, "invalid checkpoint name"),
        ("../up", {"w": [1.0]}, None, ValueError, "invalid checkpoint name"),
        (".tmp-x", {"w": [1.0]}, None, ValueError, "invalid checkpoint name"),
        ("ok", {"a/b": [1.0]}, None, ValueError, "invalid array name"),
        ("ok", {"w": [1.0], "..": [1.0]}, None, ValueError, "invalid array name '..'"),
        ("ok", [1.0], None, TypeError, "arrays must be a mapping"),
        ("ok", {"w": np.array([object()])}, None, TypeError, "dtype object"),
        ("ok", {"w": ["a", "b"]}, None, TypeError, "only bool, integer, float and complex"),
        ("ok", {"w": [1.0]}, {"f": object()}, TypeError, "JSON-serialisable"),
        ("ok", {"w": [1.0]}, [1, 2], TypeError, "metadata must be a mapping"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    store: Any, name: Any, arrays: Any, metadata: Any, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        store.save(name, arrays, metadata)
    assert store.list() == []


def test_loading_a_missing_checkpoint_names_what_exists(store: Any) -> None:
    store.save("a", {"w": [1.0]})
    with pytest.raises(KeyError, match="no checkpoint named 'b'; saved: \\['a'\\]"):
        store.load("b")
    with pytest.raises(KeyError, match=r"no checkpoint named '\.\./a'"):
        store.load("../a")


def test_a_save_that_fails_midway_changes_nothing(store: Any) -> None:
    store.save("good", {"w": np.ones(3)}, {"epoch": 1})
    with pytest.raises(RuntimeError, match="device lost"):
        store.save("good", {"a": np.zeros(2), "b": np.zeros(2), "c": Unconvertible()}, {"epoch": 2})
    with pytest.raises(RuntimeError, match="device lost"):
        store.save("next", {"a": np.zeros(2), "c": Unconvertible()})
    assert store.list() == ["good"] and store.latest() == "good"
    np.testing.assert_array_equal(store.load("good").arrays["w"], np.ones(3))
    assert store.load("good").metadata == {"epoch": 1}


# -- zarr specifics -----------------------------------------------------------------------------


def test_checkpoints_persist_and_are_plain_zarr_groups(tmp_path: Path) -> None:
    first = ZarrCheckpointStore(tmp_path)
    first.save("a", {"w": np.arange(4)}, {"lr": 0.1})
    first.save("b", {"w": np.arange(2)})
    again = ZarrCheckpointStore(tmp_path)
    assert again.list() == ["a", "b"] and again.latest() == "b"
    again.save("c", {"w": [0]})
    assert first.list() == ["a", "b", "c"]
    group = zarr.open_group(tmp_path / "1@a", mode="r")
    np.testing.assert_array_equal(group["w"][...], np.arange(4))
    assert group.attrs["metadata"] == {"lr": 0.1}


def test_failed_writes_leave_no_directories_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ZarrCheckpointStore(tmp_path)
    store.save("good", {"w": np.ones(3)})
    written: list[str] = []

    def crash_on_second(group: zarr.Group, key: str, array: np.ndarray) -> None:
        if written:
            raise OSError("disk full")
        written.append(key)
        group.create_array(key, data=array)

    monkeypatch.setattr(checkpoints, "_write_array", crash_on_second)
    with pytest.raises(OSError, match="disk full"):
        store.save("good", {"a": np.zeros(2), "b": np.zeros(2)})
    assert written == ["a"]
    assert sorted(os.listdir(tmp_path)) == ["1@good"]
    np.testing.assert_array_equal(store.load("good").arrays["w"], np.ones(3))


def test_a_killed_process_leaves_the_last_good_checkpoint(tmp_path: Path) -> None:
    store = ZarrCheckpointStore(tmp_path)
    store.save("epoch-1", {"w": np.ones(3)}, {"epoch": 1})
    script = f"""
import os, numpy as np
from qstore.storage import checkpoints
real = checkpoints._write_array
def die_after_first(group, key, array):
    real(group, key, array)
    os._exit(3)
checkpoints._write_array = die_after_first
store = checkpoints.ZarrCheckpointStore({str(tmp_path)!r})
store.save("epoch-1", {{"w": np.zeros(3), "v": np.zeros(2)}}, {{"epoch": 2}})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    leftovers = sorted(p for p in os.listdir(tmp_path) if p.startswith(".tmp-"))
    assert len(leftovers) == 2 and leftovers[1] == f"{leftovers[0]}.lock"  # dead process's group + lock
    again = ZarrCheckpointStore(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["1@epoch-1"]  # opening removed what the dead save left
    assert again.list() == ["epoch-1"] and again.latest() == "epoch-1"
    ckpt = again.load("epoch-1")
    np.testing.assert_array_equal(ckpt.arrays["w"], np.ones(3))
    assert ckpt.metadata == {"epoch": 1}
    again.save("epoch-2", {"w": np.zeros(3)})
    assert again.list() == ["epoch-1", "epoch-2"]


def test_an_interrupted_replacement_keeps_the_newest_version(tmp_path: Path) -> None:
    store = ZarrCheckpointStore(tmp_path)
    store.save("last", {"w": [1.0]})
    store.save("other", {"w": [0.0]})
    os.rename(tmp_path / "1@last", tmp_path / "keep")
    store.save("last", {"w": [2.0]})
    os.rename(tmp_path / "keep", tmp_path / "1@last")  # as if the old version's removal never ran
    assert store.list() == ["other", "last"]
    np.testing.assert_array_equal(store.load("last").arrays["w"], [2.0])
    store.save("last", {"w": [3.0]})
    assert sorted(os.listdir(tmp_path)) == ["2@other", "4@last"]


def test_loads_stay_consistent_while_another_thread_replaces_the_name(tmp_path: Path) -> None:
    store = ZarrCheckpointStore(tmp_path)
    store.save("last", {"a": np.zeros(50), "b": np.zeros(50)}, {"i": 0})
    reader = ZarrCheckpointStore(tmp_path)
    failures: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                ckpt = reader.load("last")
            except Exception as exc:
                failures.append(repr(exc))
                return
            i = ckpt.metadata["i"]
            if not (ckpt.arrays["a"] == i).all() or not (ckpt.arrays["b"] == i).all():
                failures.append(f"torn read at {i}")

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for i in range(1, 9):
            store.save("last", {"a": np.full(50, i), "b": np.full(50, i)}, {"i": i})
    finally:
        done.set()
        thread.join()
    assert failures == []
    assert store.load("last").metadata == {"i": 8}


def test_non_numeric_arrays_on_disk_are_refused(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "1@odd", mode="w-", zarr_format=3)
    with pytest.warns(Warning, match="does not have a Zarr V3 specification"):
        group.create_array("s", data=np.array(["x", "y"]))
    header = {"format": checkpoints.FORMAT, "arrays": ["s"], "sha256": {"s": ""}, "chunks": {"s": 1}}
    group.attrs.update({"qstore": header, "metadata": {}})
    zarr.open_group(tmp_path / "2@alien", mode="w-", zarr_format=3)
    store = ZarrCheckpointStore(tmp_path)
    assert store.list() == ["odd", "alien"]
    with pytest.raises(CorruptDataError, match=r"checkpoint 'odd' .* array 's' is not a numeric zarr array"):
        store.load("odd")
    with pytest.raises(
        CorruptDataError, match=r"checkpoint 'alien' .* is not a qstore\.checkpoint/2 checkpoint"
    ):
        store.load("alien")


def test_zarr_metadata_file_name_is_reserved(tmp_path: Path) -> None:
    store = ZarrCheckpointStore(tmp_path)
    with pytest.raises(ValueError, match=r"invalid array name 'ZARR\.json': zarr keeps its metadata"):
        store.save("a", {"w": [1.0], "ZARR.json": [2.0]})
    assert store.list() == [] and os.listdir(tmp_path) == []


def test_path_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file; give a directory"):
        ZarrCheckpointStore(tmp_path / "file")
    assert repr(ZarrCheckpointStore(tmp_path / "new" / "dir")).startswith("ZarrCheckpointStore(")
    assert (tmp_path / "new" / "dir").is_dir()


# -- integrity ----------------------------------------------------------------------------------


def _chunk_files(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "c").rglob("*") if p.is_file())


def test_a_deleted_chunk_is_an_error_naming_checkpoint_and_array(tmp_path: Path) -> None:
    store = ZarrCheckpointStore(tmp_path)
    store.save("epoch-3", {"bias": np.ones(2), "weights": np.arange(1.0, 7.0)})
    chunks = _chunk_files(tmp_path / "1@epoch-3" / "weights")
    assert len(chunks) == 1
    chunks[0].unlink()  # zarr alone would read the array back as its fill value, zeros
    with pytest.raises(
        CorruptDataError, match=r"checkpoint 'epoch-3' .* array 'weights': 1 chunk file"
    ) as info:
        store.load("epoch-3")
    assert isinstance(info.value, QstoreError) and "1@epoch-3" in str(info.value)


def test_altered_chunk_bytes_are_an_error(tmp_path: Path) -> None:
    store = ZarrCheckpointStore(tmp_path)
    store.save("a", {"w": np.arange(8.0)})
    store.save("b", {"w": np.arange(8.0) + 0.5})
    # a well-formed chunk holding other numbers: only the checksum can tell
    (chunk_a,) = _chunk_files(tmp_path / "1@a" / "w")
    (chunk_b,) = _chunk_files(tmp_path / "2@b" / "w")
    chunk_a.write_bytes(chunk_b.read_bytes())
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "1@a" / "w")[...], np.arange(8.0) + 0.5)
    with pytest.raises(
        CorruptDataError, match=r"checkpoint 'a' .* array 'w': data does not match its saved SHA-256"
    ):
        store.load("a")
    raw = bytearray(chunk_b.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk_b.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match=r"checkpoint 'b' .* array 'w'"):
        store.load("b")


def test_a_tampered_header_is_an_error(tmp_path: Path) -> None:
    store = ZarrCheckpointStore(tmp_path)
    store.save("a", {"w": np.arange(3.0)})
    group = zarr.open_group(tmp_path / "1@a", mode="r+")
    header = dict(group.attrs["qstore"])
    group.attrs["qstore"] = {**header, "sha256": {}}
    with pytest.raises(
        CorruptDataError, match=r"checkpoint 'a' .* header 'sha256' must have an entry per array"
    ):
        store.load("a")
    sha256, chunks = {**header["sha256"], "gone": ""}, {**header["chunks"], "gone": 1}
    group.attrs["qstore"] = {**header, "arrays": ["w", "gone"], "sha256": sha256, "chunks": chunks}
    with pytest.raises(CorruptDataError, match=r"checkpoint 'a' .* array 'gone' is missing"):
        store.load("a")
    (tmp_path / "1@a" / "zarr.json").write_text("{not json")
    with pytest.raises(CorruptDataError, match=r"checkpoint 'a' .* group metadata unreadable"):
        store.load("a")


def test_checkpoints_from_before_checksums_load_with_a_warning(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "1@old", mode="w-", zarr_format=3)
    group.create_array("w", data=np.arange(3.0))
    group.attrs.update({"qstore": {"format": checkpoints.UNVERIFIED_FORMAT, "arrays": ["w"]}, "metadata": {}})
    with pytest.warns(
        UserWarning, match=r"checkpoint 'old' .* without checksums; its arrays cannot be verified"
    ):
        ckpt = ZarrCheckpointStore(tmp_path).load("old")
    np.testing.assert_array_equal(ckpt.arrays["w"], np.arange(3.0))


def test_stale_save_directories_are_removed_but_live_ones_kept(tmp_path: Path) -> None:
    import fcntl

    ZarrCheckpointStore(tmp_path).save("a", {"w": [1.0]})
    (tmp_path / ".old-dead").mkdir()
    (tmp_path / ".tmp-dead").mkdir()  # no lock file: its process died before this format, or after rename
    (tmp_path / ".tmp-orphan.lock").write_text("")  # a lock whose save died before making its directory
    (tmp_path / ".tmp-live").mkdir()
    with open(tmp_path / ".tmp-live.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a save in another process holds it
        store = ZarrCheckpointStore(tmp_path)
        assert sorted(os.listdir(tmp_path)) == [".tmp-live", ".tmp-live.lock", "1@a"]
        store.save("b", {"w": [2.0]})
        assert sorted(os.listdir(tmp_path)) == [".tmp-live", ".tmp-live.lock", "1@a", "2@b"]
    store.save("c", {"w": [3.0]})  # the lock was released: that save is gone too
    assert sorted(os.listdir(tmp_path)) == ["1@a", "2@b", "3@c"]
