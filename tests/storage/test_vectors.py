"""Storage ``faiss``: vectors on faiss, agreeing with the memory store, saved and reloaded without pickle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("faiss")

from qstore.core.errors import CorruptDataError, QstoreError
from qstore.core.plugins import get_storage, isolated_registry
from qstore.core.storage import MemoryVectorStore, VectorStore
from qstore.storage import vectors
from qstore.storage.vectors import FaissVectorStore


@pytest.fixture(params=["memory", "faiss", "faiss-saved"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A factory ``make_store(dim=None)`` for the memory store or the faiss driver (optionally on disk)."""

    def make(dim: int | None = None) -> Any:
        if request.param == "memory":
            return get_storage("memory", kind="vectors", dim=dim)
        path = tmp_path / "vectors" if request.param == "faiss-saved" else None
        return get_storage("faiss", dim=dim, path=path)

    with isolated_registry("qstore.core.builtin_plugin", "qstore.storage.plugin", strict=True, disabled=()):
        yield make


# -- the shared contract ------------------------------------------------------------------------


def test_search_matches_brute_force(make_store: Any) -> None:
    rng = np.random.default_rng(7)
    data = rng.normal(size=(300, 6))
    queries = rng.normal(size=(25, 6))
    store = make_store()
    assert isinstance(store, VectorStore)
    store.add([f"v{i}" for i in range(150)], data[:150])
    store.add(np.array([f"v{i}" for i in range(150, 300)]), data[150:])
    assert len(store) == 300 and store.dim == 6
    ids, dist = store.search(queries, k=5)
    assert ids.shape == dist.shape == (25, 5) and dist.dtype == np.float64
    truth = ((queries[:, None, :] - data[None, :, :]) ** 2).sum(axis=2)
    expected = np.argsort(truth, axis=1)[:, :5]
    assert ids.tolist() == [[f"v{i}" for i in row] for row in expected]
    np.testing.assert_allclose(dist, np.take_along_axis(truth, expected, axis=1), rtol=1e-5, atol=1e-5)
    assert (np.diff(dist, axis=1) >= 0).all()


def test_single_query_int_ids_and_ties_in_insertion_order(make_store: Any) -> None:
    store = make_store(dim=2)
    store.add([12, 10, 11], [[5.0, 5.0], [1.0, 0.0], [0.0, 1.0]])
    store.add([np.int64(13)], [[-1.0, 0.0]])
    ids, dist = store.search([0.0, 0.0], k=3)
    assert ids.tolist() == [[10, 11, 13]]
    assert dist.tolist() == [[1.0, 1.0, 1.0]]


@pytest.mark.parametrize(
    ("ids", "vectors", "error", "message"),
    [
        (["a"], [[1.0, 2.0], [3.0, 4.0]], ValueError, "got 1 ids for 2 vectors"),
        (["a", "a"], [[1.0, 2.0], [3.0, 4.0]], ValueError, "unique"),
        (["a"], [1.0, 2.0], ValueError, r"shape \(n, dim\)"),
        (["a"], [[1.0, 2.0, 3.0]], ValueError, "dim 3; this store holds dim 2"),
        (["a"], [[np.nan, 1.0]], ValueError, "nan or inf"),
        ([1.5], [[1.0, 2.0]], TypeError, "ints or strings"),
        ([True], [[1.0, 2.0]], TypeError, "ints or strings"),
        (["x"], [[1.0, 2.0]], ValueError, "already stored"),
        ([3], [[1.0, 2.0]], TypeError, "all be ints or all be strings"),
    ],
)
def test_add_rejects_bad_input(make_store: Any, ids: list, vectors: Any, error: type, message: str) -> None:
    store = make_store(dim=2)
    store.add(["x"], [[0.0, 0.0]])
    with pytest.raises(error, match=message):
        store.add(ids, vectors)
    assert len(store) == 1
    assert store.search([[0.0, 0.0]], k=1)[0].tolist() == [["x"]]


def test_search_rejects_bad_queries(make_store: Any) -> None:
    store = make_store()
    with pytest.raises(ValueError, match="k=1 exceeds the 0 vectors stored"):
        store.search([[1.0]], k=1)
    store.add([1, 2], [[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="k=3 exceeds the 2 vectors"):
        store.search([[0.0, 0.0]], k=3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        store.search([[0.0, 0.0]], k=0)
    with pytest.raises(ValueError, match="dim 3"):
        store.search([[0.0, 0.0, 0.0]], k=1)
    with pytest.raises(ValueError, match="nan or inf"):
        store.search([[np.inf, 0.0]], k=1)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        make_store(dim=0)


# -- faiss specifics ----------------------------------------------------------------------------


def test_saved_store_reloads_and_keeps_growing(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(size=(60, 4))
    store = FaissVectorStore(path=tmp_path)
    store.add([f"s{i}" for i in range(40)], data[:40])
    store.add([f"s{i}" for i in range(40, 50)], data[40:50])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[0] == "ids.json" and len(files) == 2 and files[1].endswith(".faiss")
    table = json.loads((tmp_path / "ids.json").read_text())
    assert table["ids"] == [f"s{i}" for i in range(50)] and table["dim"] == 4 and table["index"] == "flat"
    again = FaissVectorStore(path=tmp_path)
    assert len(again) == 50 and again.dim == 4 and again.index == "flat"
    np.testing.assert_array_equal(again.search(data[:50], k=3)[0], store.search(data[:50], k=3)[0])
    with pytest.raises(ValueError, match="already stored"):
        again.add(["s3"], data[:1])
    again.add([f"s{i}" for i in range(50, 60)], data[50:])
    assert len(FaissVectorStore(path=tmp_path)) == 60
    assert FaissVectorStore(path=tmp_path).search(data[55], k=1)[0].tolist() == [["s55"]]


def test_reopening_with_other_options_is_an_error(tmp_path: Path) -> None:
    FaissVectorStore(path=tmp_path).add([1, 2], [[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="saved with dim=2, not 3; omit dim"):
        FaissVectorStore(3, path=tmp_path)
    with pytest.raises(ValueError, match="saved with index='flat', not 'ivf'"):
        FaissVectorStore(index="ivf", path=tmp_path)
    (tmp_path / "ids.json").write_text(json.dumps({"format": "something/else"}))
    with pytest.raises(ValueError, match=r"is not a qstore\.faiss/1 id table"):
        FaissVectorStore(path=tmp_path)


def test_a_crash_before_the_id_table_is_replaced_keeps_the_previous_state(tmp_path: Path) -> None:
    store = FaissVectorStore(path=tmp_path)
    store.add(["a"], [[1.0, 2.0]])
    (tmp_path / "index-orphan.faiss").write_bytes(b"half-written")
    reloaded = FaissVectorStore(path=tmp_path)
    assert len(reloaded) == 1
    reloaded.add(["b"], [[3.0, 4.0]])
    assert "index-orphan.faiss" not in [p.name for p in tmp_path.iterdir()]


def test_ivf_index_is_close_to_exact_and_always_returns_k(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(size=(400, 8))
    queries = rng.normal(size=(20, 8))
    exact = MemoryVectorStore()
    exact.add(list(range(400)), data)
    ivf = FaissVectorStore(index="ivf", nlist=8, nprobe=4, path=tmp_path)
    ivf.add(list(range(400)), data)
    ids, _ = ivf.search(queries, k=10)
    truth, _ = exact.search(queries, k=10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)])
    assert recall > 0.7
    narrow = FaissVectorStore(nprobe=1, path=tmp_path)  # one list holds fewer than 300 vectors
    assert narrow.index == "ivf" and narrow.nprobe == 1
    assert vectors.faiss.extract_index_ivf(narrow._index).nprobe == 1
    ids, dist = narrow.search(queries[:3], k=300)
    assert (ids >= 0).all() and ids.shape == (3, 300) and (np.diff(dist, axis=1) >= 0).all()
    assert all(len(set(row)) == 300 for row in ids.tolist())


def test_ivf_needs_enough_vectors_to_train() -> None:
    store = FaissVectorStore(index="ivf", nlist=16)
    with pytest.raises(ValueError, match="nlist=16 is trained on the first add, which needs at least 16"):
        store.add(list(range(10)), np.zeros((10, 3)))
    assert len(store) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"index": "hnsw"}, r"index must be one of \['flat', 'ivf'\]"),
        ({"nlist": 0}, "nlist must be a positive integer"),
        ({"nprobe": 1.5}, "nprobe must be a positive integer"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaissVectorStore(**options)


def test_values_beyond_float32_are_refused() -> None:
    store = FaissVectorStore(2)
    with pytest.raises(ValueError, match="exceed the float32 range"):
        store.add(["big"], [[1e39, 0.0]])
    assert len(store) == 0 and "dim=2" in repr(store)


def test_an_add_that_cannot_be_saved_is_undone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FaissVectorStore(path=tmp_path)
    store.add(["a"], [[1.0, 2.0]])

    def full_disk(index: Any, path: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(vectors.faiss, "write_index", full_disk)
    with pytest.raises(OSError, match="disk full"):
        store.add(["b", "c"], [[3.0, 4.0], [5.0, 6.0]])
    assert len(store) == 1 and store.search([[5.0, 6.0]], k=1)[0].tolist() == [["a"]]
    monkeypatch.undo()
    store.add(["b"], [[3.0, 4.0]])
    assert len(FaissVectorStore(path=tmp_path)) == 2
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file; give a directory"):
        FaissVectorStore(path=tmp_path / "file")


def _saved(tmp_path: Path) -> dict[str, Any]:
    FaissVectorStore(path=tmp_path / "store").add(["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
    return json.loads((tmp_path / "store" / "ids.json").read_text())


@pytest.mark.parametrize(
    "index_file",
    [
        "../outside/index-0123456789abcdef0123456789abcdef.faiss",
        "/etc/passwd",
        "..",
        "sub/index-0123456789abcdef0123456789abcdef.faiss",
        "index-x.faiss",
    ],
)
def test_a_manifest_cannot_point_outside_the_store(tmp_path: Path, index_file: str) -> None:
    manifest = _saved(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "index-0123456789abcdef0123456789abcdef.faiss").write_bytes(
        (tmp_path / "store" / manifest["index_file"]).read_bytes()
    )
    (tmp_path / "store" / "ids.json").write_text(json.dumps({**manifest, "index_file": index_file}))
    with pytest.raises(
        CorruptDataError, match=r"ids\.json': key 'index_file' must name a file 'index-<32 hex>"
    ):
        FaissVectorStore(path=tmp_path / "store")


def test_a_symlinked_index_file_is_refused(tmp_path: Path) -> None:
    manifest = _saved(tmp_path)
    real = tmp_path / "store" / manifest["index_file"]
    moved = tmp_path / "elsewhere.faiss"
    real.rename(moved)
    real.symlink_to(moved)
    with pytest.raises(
        CorruptDataError, match="the manifest's index_file\\) is missing or not a regular file"
    ):
        FaissVectorStore(path=tmp_path / "store")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: "{not json", r"ids\.json' is not valid JSON"),
        (lambda m: "[1, 2]", r"is not a qstore\.faiss/1 id table \(format 'list'\)"),
        (lambda m: {k: v for k, v in m.items() if k != "ids"}, r"lacks the key 'ids'"),
        (lambda m: {k: v for k, v in m.items() if k != "dim"}, r"lacks the key 'dim' \(a positive integer\)"),
        (lambda m: {k: v for k, v in m.items() if k != "index_file"}, r"lacks the key 'index_file'"),
        (lambda m: {**m, "dim": "2"}, r"key 'dim' must be a positive integer, got '2'"),
        (lambda m: {**m, "nlist": 0}, r"key 'nlist' must be a positive integer, got 0"),
        (lambda m: {**m, "nprobe": True}, r"key 'nprobe' must be a positive integer, got True"),
        (lambda m: {**m, "index": "hnsw"}, r"key 'index' must be one of \['flat', 'ivf'\]"),
        (lambda m: {**m, "ids": ["a", 1]}, r"key 'ids' must be a list of all ints or all strings"),
        (lambda m: {**m, "ids": ["a", "a"]}, r"key 'ids' must be unique"),
        (lambda m: {**m, "ids": ["a"]}, r"is inconsistent: index holds 2 vectors of dim 2, id table 1 ids"),
        (lambda m: {**m, "index_file": "index-" + "0" * 32 + ".faiss"}, r"is missing or not a regular file"),
    ],
)
def test_a_garbage_or_incomplete_manifest_names_the_file_and_key(
    tmp_path: Path, edit: Any, message: str
) -> None:
    edited = edit(_saved(tmp_path))
    (tmp_path / "store" / "ids.json").write_text(edited if isinstance(edited, str) else json.dumps(edited))
    with pytest.raises(CorruptDataError, match=message) as info:
        FaissVectorStore(path=tmp_path / "store")
    assert isinstance(info.value, QstoreError) and str(tmp_path / "store") in str(info.value)


def test_a_garbage_index_file_is_an_error_naming_it(tmp_path: Path) -> None:
    manifest = _saved(tmp_path)
    (tmp_path / "store" / manifest["index_file"]).write_bytes(b"garbage")
    with pytest.raises(CorruptDataError, match=r"\.faiss' is not a readable faiss index"):
        FaissVectorStore(path=tmp_path / "store")


def test_ivf_nprobe_is_saved_and_restored(tmp_path: Path) -> None:
    data = np.random.default_rng(5).normal(size=(64, 4))
    FaissVectorStore(index="ivf", nlist=8, nprobe=3, path=tmp_path).add(list(range(64)), data)
    assert json.loads((tmp_path / "ids.json").read_text())["nprobe"] == 3
    again = FaissVectorStore(path=tmp_path)
    assert again.nprobe == 3 and vectors.faiss.extract_index_ivf(again._index).nprobe == 3
    wider = FaissVectorStore(nprobe=5, path=tmp_path)  # an explicit nprobe overrides the saved one
    assert wider.nprobe == 5 and vectors.faiss.extract_index_ivf(wider._index).nprobe == 5
