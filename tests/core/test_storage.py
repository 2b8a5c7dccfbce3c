"""Storage contracts and their in-memory implementations."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from qstore.core.plugins import isolated_registry
from qstore.core.storage import (
    CheckpointStore,
    MemoryCheckpointStore,
    MemoryMetricsSink,
    MemoryResultCache,
    MemoryVectorStore,
    MetricsSink,
    ResultCache,
    VectorStore,
    is_store,
    memory_storage,
)


@pytest.mark.parametrize(
    ("kind", "cls", "protocol"),
    [
        ("checkpoints", MemoryCheckpointStore, CheckpointStore),
        ("metrics", MemoryMetricsSink, MetricsSink),
        ("vectors", MemoryVectorStore, VectorStore),
        ("cache", MemoryResultCache, ResultCache),
    ],
)
def test_memory_storage_through_the_registry(kind: str, cls: type, protocol: type) -> None:
    with isolated_registry("qstore.core.builtin_plugin", strict=False, disabled=()) as registry:
        store = registry.get_storage("memory", kind=kind)
    assert type(store) is cls
    assert isinstance(store, protocol)
    assert is_store(store)


def test_memory_storage_rejects_unknown_kind_and_options() -> None:
    with pytest.raises(ValueError, match="unknown storage kind 'tables'"):
        memory_storage("tables")
    with pytest.raises(TypeError):
        memory_storage("metrics", path="/tmp/x")
    assert isinstance(memory_storage("vectors", dim=3), MemoryVectorStore)
    assert not is_store(object())


# -- checkpoints --------------------------------------------------------------------------------


def test_checkpoint_round_trip_copies_and_orders() -> None:
    store = MemoryCheckpointStore()
    assert store.latest() is None
    weights = np.arange(6.0).reshape(2, 3)
    store.save("step-1", {"weights": weights, "bias": [1, 2]}, {"epoch": 1, "loss": 0.5})
    weights[0, 0] = 99.0
    store.save("step-2", {"weights": np.zeros(3)})
    assert store.list() == ["step-1", "step-2"]
    assert store.latest() == "step-2"
    ckpt = store.load("step-1")
    assert ckpt.name == "step-1"
    np.testing.assert_array_equal(ckpt.arrays["weights"], np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(ckpt.arrays["bias"], [1, 2])
    assert ckpt.metadata == {"epoch": 1, "loss": 0.5}
    assert not ckpt.arrays["weights"].flags.writeable
    ckpt.metadata["epoch"] = 7  # type: ignore[index]
    assert store.load("step-1").metadata["epoch"] == 1
    assert store.load("step-2").metadata == {}


def test_saving_an_existing_name_replaces_it_and_makes_it_latest() -> None:
    store = MemoryCheckpointStore()
    store.save("best", {"w": [1.0]})
    store.save("last", {"w": [2.0]})
    store.save("best", {"w": [3.0]})
    assert store.list() == ["last", "best"]
    assert store.latest() == "best"
    np.testing.assert_array_equal(store.load("best").arrays["w"], [3.0])


@pytest.mark.parametrize(
    ("name", "arrays", "metadata", "error", "message"),
    [
        ("", {"w": [1.0]}, None, ValueError, "invalid checkpoint name"),
        ("../up", {"w": [1.0]}, None, ValueError, "invalid checkpoint name"),
        ("ok", {"a/b": [1.0]}, None, ValueError, "invalid array name"),
        ("ok", [1.0], None, TypeError, "arrays must be a mapping"),
        ("ok", {"w": np.array([object()])}, None, TypeError, "dtype object"),
        ("ok", {"w": ["a", "b"]}, None, TypeError, "only bool, integer, float and complex"),
        ("ok", {"w": [1.0]}, {"f": object()}, TypeError, "JSON-serialisable"),
        ("ok", {"w": [1.0]}, [1, 2], TypeError, "metadata must be a mapping"),
    ],
)
def test_checkpoint_rejects_bad_input(
    name: str, arrays: object, metadata: object, error: type, message: str
) -> None:
    store = MemoryCheckpointStore()
    with pytest.raises(error, match=message):
        store.save(name, arrays, metadata)  # type: ignore[arg-type]
    assert store.list() == []


def test_loading_a_missing_checkpoint_names_what_exists() -> None:
    store = MemoryCheckpointStore()
    store.save("a", {"w": [1.0]})
    with pytest.raises(KeyError, match="no checkpoint named 'b'; saved: \\['a'\\]"):
        store.load("b")


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_rows_keep_order_and_types() -> None:
    sink = MemoryMetricsSink()
    sink.log(0, loss=1.5, acc=np.float32(0.25))
    sink.log(1, loss=np.array(0.5))
    sink.log(np.int64(2), loss=float("nan"))
    sink.flush()
    rows = sink.rows
    assert rows[:2] == [{"step": 0, "loss": 1.5, "acc": 0.25}, {"step": 1, "loss": 0.5}]
    assert rows[2]["step"] == 2 and np.isnan(rows[2]["loss"])
    rows[0]["loss"] = 0.0
    assert sink.rows[0]["loss"] == 1.5


@pytest.mark.parametrize(
    ("step", "values", "error", "message"),
    [
        (-1, {"loss": 1.0}, ValueError, "non-negative integer"),
        (1.5, {"loss": 1.0}, ValueError, "non-negative integer"),
        (True, {"loss": 1.0}, ValueError, "non-negative integer"),
        (0, {}, ValueError, "at least one named value"),
        (0, {"loss": "low"}, TypeError, "must be a real number"),
        (0, {"loss": 1j}, TypeError, "must be a real number"),
        (0, {"loss": np.ones(2)}, TypeError, "must be a real number"),
    ],
)
def test_metrics_reject_bad_rows(step: object, values: dict, error: type, message: str) -> None:
    sink = MemoryMetricsSink()
    with pytest.raises(error, match=message):
        sink.log(step, **values)  # type: ignore[arg-type]
    assert sink.rows == []


def test_metrics_never_drop_rows_from_many_threads_and_refuse_after_close() -> None:
    sink = MemoryMetricsSink()

    def worker(offset: int) -> None:
        for i in range(500):
            sink.log(offset + i, value=float(i))

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    assert sorted(r["step"] for r in sink.rows) == sorted(k * 1000 + i for k in range(8) for i in range(500))
    with pytest.raises(ValueError, match="closed"):
        sink.log(0, loss=1.0)


# -- vectors ------------------------------------------------------------------------------------


def test_vector_search_matches_brute_force_distances() -> None:
    rng = np.random.default_rng(7)
    data = rng.normal(size=(200, 5))
    queries = rng.normal(size=(7, 5))
    store = MemoryVectorStore()
    store.add([f"v{i}" for i in range(100)], data[:100])
    store.add([f"v{i}" for i in range(100, 200)], data[100:])
    assert len(store) == 200 and store.dim == 5
    ids, dist = store.search(queries, k=4)
    assert ids.shape == dist.shape == (7, 4)
    truth = np.linalg.norm(queries[:, None, :] - data[None, :, :], axis=2) ** 2
    expected = np.argsort(truth, axis=1)[:, :4]
    assert ids.tolist() == [[f"v{i}" for i in row] for row in expected]
    np.testing.assert_allclose(dist, np.take_along_axis(truth, expected, axis=1), rtol=1e-12)
    assert (np.diff(dist, axis=1) >= 0).all()


def test_vector_search_single_query_int_ids_and_ties() -> None:
    store = MemoryVectorStore(dim=2)
    store.add([10, 11, 12], [[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    ids, dist = store.search([0.0, 0.0], k=2)
    assert ids.tolist() == [[10, 11]]
    assert dist.tolist() == [[1.0, 1.0]]


def test_vector_search_is_exact_for_near_duplicates() -> None:
    # Offsets are exact multiples of the float spacing at 1e8, so the true distances are exact;
    # |q|^2 + |x|^2 - 2 q.x would lose them entirely (|q|^2 is about 3e16).
    store = MemoryVectorStore()
    base = np.full(3, 1e8)
    store.add(["far", "near"], [base + 2.0**-13, base + 2.0**-20])
    ids, dist = store.search(base, k=2)
    assert ids.tolist() == [["near", "far"]]
    assert dist.tolist() == [[3 * 2.0**-40, 3 * 2.0**-26]]


@pytest.mark.parametrize(
    ("ids", "vectors", "error", "message"),
    [
        (["a"], [[1.0, 2.0], [3.0, 4.0]], ValueError, "got 1 ids for 2 vectors"),
        (["a", "a"], [[1.0, 2.0], [3.0, 4.0]], ValueError, "unique"),
        (["a"], [1.0, 2.0], ValueError, r"shape \(n, dim\)"),
        (["a"], [[1.0, 2.0, 3.0]], ValueError, "dim 3; this store holds dim 2"),
        (["a"], [[np.nan, 1.0]], ValueError, "nan or inf"),
        ([1.5], [[1.0, 2.0]], TypeError, "ints or strings"),
        (["x"], [[1.0, 2.0]], ValueError, "already stored"),
        ([3], [[1.0, 2.0]], TypeError, "all be ints or all be strings"),
    ],
)
def test_vector_add_rejects_bad_input(ids: list, vectors: object, error: type, message: str) -> None:
    store = MemoryVectorStore(dim=2)
    store.add(["x"], [[0.0, 0.0]])
    with pytest.raises(error, match=message):
        store.add(ids, vectors)
    assert len(store) == 1


def test_vector_search_rejects_bad_queries() -> None:
    store = MemoryVectorStore()
    with pytest.raises(ValueError, match="k=1 exceeds the 0 vectors stored"):
        store.search([[1.0]], k=1)
    store.add([1, 2], [[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="k=3 exceeds the 2 vectors"):
        store.search([[0.0, 0.0]], k=3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        store.search([[0.0, 0.0]], k=0)
    with pytest.raises(ValueError, match="dim 3"):
        store.search([[0.0, 0.0, 0.0]], k=1)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        MemoryVectorStore(dim=0)


# -- result cache -------------------------------------------------------------------------------


def test_cache_lru_eviction_and_refresh_on_get() -> None:
    cache = MemoryResultCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.keys() == ["a", "c"]
    assert cache.get("b") is None
    cache.put("a", 10)
    assert cache.keys() == ["c", "a"] and cache.get("a") == 10
    assert len(cache) == 2


def test_unbounded_cache_keeps_everything() -> None:
    cache = MemoryResultCache()
    for i in range(1000):
        cache.put(f"k{i}", i)
    assert len(cache) == 1000 and cache.get("k0") == 0


@pytest.mark.parametrize(
    ("key", "value", "error", "message"),
    [
        ("", 1, TypeError, "non-empty strings"),
        (3, 1, TypeError, "non-empty strings"),
        ("k", None, ValueError, "None cannot be cached"),
    ],
)
def test_cache_rejects_bad_entries(key: object, value: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        MemoryResultCache().put(key, value)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_cache_rejects_bad_max_entries(bad: object) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryResultCache(max_entries=bad)  # type: ignore[arg-type]
