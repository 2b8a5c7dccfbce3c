"""Storage ``parquet``: metrics in Parquet, interchangeable with the memory sink, never dropping a row."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pyarrow")

import pyarrow as pa
import pyarrow.parquet as pq

from qstore.core.errors import CorruptDataError, StorageError
from qstore.core.plugins import get_storage, isolated_registry
from qstore.core.storage import MetricsSink
from qstore.storage import metrics
from qstore.storage.metrics import ParquetMetricsSink, read_metrics

Rows = list[dict[str, float | int]]

# name -> (get_storage options given tmp_path, how to read the rows back after close)
SINKS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "memory": lambda tmp: {"kind": "metrics"},
    "parquet-file": lambda tmp: {"path": tmp / "metrics.parquet", "flush_rows": 5},
    "parquet-dir": lambda tmp: {"path": tmp / "parts", "flush_rows": 5},
    "parquet-async": lambda tmp: {
        "path": tmp / "async",
        "flush_rows": 2,
        "asynchronous": True,
        "queue_size": 1,
    },
}


@pytest.fixture(params=list(SINKS))
def sink_and_rows(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Callable[[], Rows]]]:
    """A sink from the registry and a function returning every row it wrote."""
    options = SINKS[request.param](tmp_path)
    with isolated_registry("qstore.core.builtin_plugin", "qstore.storage.plugin", strict=True, disabled=()):
        sink = get_storage("memory" if request.param == "memory" else "parquet", **options)
    if request.param == "memory":
        yield sink, lambda: sink.rows
    else:
        yield sink, lambda: read_metrics(options["path"]).rows
    sink.close()


def same_rows(got: Rows, expected: Rows) -> bool:
    """Row equality where NaN equals NaN."""
    return len(got) == len(expected) and all(
        g.keys() == e.keys() and all(g[k] == e[k] or (math.isnan(g[k]) and math.isnan(e[k])) for k in g)
        for g, e in zip(got, expected, strict=True)
    )


# -- the shared contract ------------------------------------------------------------------------


def test_rows_keep_order_types_and_new_names(sink_and_rows: tuple[Any, Callable[[], Rows]]) -> None:
    sink, rows = sink_and_rows
    assert isinstance(sink, MetricsSink)
    sink.log(0, loss=1.5, acc=np.float32(0.25))
    sink.log(1, loss=np.array(0.5))
    sink.log(np.int64(2), loss=float("nan"))
    sink.log(3, val_loss=2.0, **{"train/acc": 1})
    sink.log(4, loss=0.25)
    sink.close()
    expected: Rows = [
        {"step": 0, "loss": 1.5, "acc": 0.25},
        {"step": 1, "loss": 0.5},
        {"step": 2, "loss": float("nan")},
        {"step": 3, "val_loss": 2.0, "train/acc": 1.0},
        {"step": 4, "loss": 0.25},
    ]
    got = rows()
    assert same_rows(got, expected), got
    assert all(type(r["step"]) is int for r in got)
    with pytest.raises(ValueError, match="closed"):
        sink.log(5, loss=1.0)
    sink.close()


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
def test_bad_rows_are_refused(
    sink_and_rows: tuple[Any, Callable[[], Rows]], step: Any, values: dict, error: type, message: str
) -> None:
    sink, rows = sink_and_rows
    sink.log(0, ok=1.0)
    with pytest.raises(error, match=message):
        sink.log(step, **values)
    sink.close()
    assert rows() == [{"step": 0, "ok": 1.0}]


def test_many_threads_lose_no_row(sink_and_rows: tuple[Any, Callable[[], Rows]]) -> None:
    sink, rows = sink_and_rows

    def worker(offset: int) -> None:
        for i in range(100):
            sink.log(offset + i, value=float(i))

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    assert sorted(r["step"] for r in rows()) == sorted(k * 1000 + i for k in range(4) for i in range(100))


# -- parquet specifics --------------------------------------------------------------------------


def test_async_writer_with_a_small_queue_writes_every_row(tmp_path: Path) -> None:
    sink = ParquetMetricsSink(tmp_path / "m", asynchronous=True, queue_size=4, flush_rows=97)

    def worker(offset: int) -> None:
        for i in range(2500):
            sink.log(offset + i, loss=float(i), **({"extra": 1.0} if i % 500 == 0 else {}))

    threads = [threading.Thread(target=worker, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    table = read_metrics(tmp_path / "m")
    assert len(table) == 10_000
    assert sorted(table.columns["step"]) == sorted(k * 10_000 + i for k in range(4) for i in range(2500))
    assert int(np.isfinite(table.columns["extra"]).sum()) == 20


def test_log_blocks_while_the_queue_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = metrics._write_atomic

    def slow_write(table: pa.Table, path: Path) -> None:
        release.wait()
        real(table, path)

    monkeypatch.setattr(metrics, "_write_atomic", slow_write)
    sink = ParquetMetricsSink(tmp_path / "m.parquet", asynchronous=True, queue_size=2, flush_rows=1)
    sink.log(0, x=0.0)  # taken by the writer, which then waits inside the write
    sink.log(1, x=1.0)
    sink.log(2, x=2.0)  # the queue now holds two rows
    logged = threading.Event()
    producer = threading.Thread(target=lambda: (sink.log(3, x=3.0), logged.set()))
    producer.start()
    assert not logged.wait(0.3), "log returned although the queue was full"
    release.set()
    producer.join(timeout=10)
    assert logged.is_set()
    sink.close()
    assert [r["step"] for r in read_metrics(tmp_path / "m.parquet").rows] == [0, 1, 2, 3]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_flush_makes_rows_visible_and_existing_files_are_appended(tmp_path: Path, asynchronous: bool) -> None:
    path = tmp_path / "run.parquet"
    sink = ParquetMetricsSink(path, asynchronous=asynchronous)
    sink.log(0, loss=1.0)
    sink.log(1, loss=0.5)
    assert not path.exists()
    sink.flush()
    assert read_metrics(path).rows == [{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}]
    sink.close()
    with ParquetMetricsSink(path, asynchronous=asynchronous) as resumed:
        resumed.log(2, acc=0.9)
    table = read_metrics(path)
    assert table.names == ["loss", "acc"]
    np.testing.assert_array_equal(table.columns["step"], [0, 1, 2])
    np.testing.assert_array_equal(table.columns["acc"], [np.nan, np.nan, 0.9])
    assert pq.read_table(path).column("acc").null_count == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run.parquet"]


def test_directory_parts_evolve_their_schema(tmp_path: Path) -> None:
    with ParquetMetricsSink(tmp_path / "parts", flush_rows=2) as sink:
        for step in range(5):
            sink.log(step, loss=float(step), **({"lr": 0.1} if step >= 3 else {}))
    with ParquetMetricsSink(tmp_path / "parts") as later:
        later.log(5, grad_norm=2.0)
    parts = sorted(p.name for p in (tmp_path / "parts").iterdir())
    assert len(parts) == 4 and all(p.startswith("part-") and p.endswith(".parquet") for p in parts)
    table = read_metrics(tmp_path / "parts")
    assert table.names == ["loss", "lr", "grad_norm"]
    assert table.rows[2:] == [
        {"step": 2, "loss": 2.0},
        {"step": 3, "loss": 3.0, "lr": 0.1},
        {"step": 4, "loss": 4.0, "lr": 0.1},
        {"step": 5, "grad_norm": 2.0},
    ]
    assert len(read_metrics(tmp_path / "parts")) == 6


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_failed_write_keeps_its_rows_and_flush_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asynchronous: bool
) -> None:
    real = metrics._write_atomic
    failures = [OSError("disk full")]

    def flaky(table: pa.Table, path: Path) -> None:
        if failures:
            raise failures.pop()
        real(table, path)

    monkeypatch.setattr(metrics, "_write_atomic", flaky)
    sink = ParquetMetricsSink(tmp_path / "m", asynchronous=asynchronous)
    sink.log(0, loss=1.0)
    with pytest.raises(StorageError, match="failed \\(OSError: disk full\\); the 1 rows logged before stay"):
        sink.flush()
    sink.flush()
    sink.log(1, loss=2.0)
    sink.close()
    assert [r["step"] for r in read_metrics(tmp_path / "m").rows] == [0, 1]
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_sink_left_open_is_written_at_exit(tmp_path: Path, asynchronous: bool) -> None:
    script = f"""
from qstore.storage.metrics import ParquetMetricsSink
sink = ParquetMetricsSink({str(tmp_path / "m.parquet")!r}, asynchronous={asynchronous}, queue_size=8)
for step in range(1000):
    sink.log(step, loss=step / 1000)
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert len(read_metrics(tmp_path / "m.parquet")) == 1000


def test_foreign_parquet_files_are_refused(tmp_path: Path) -> None:
    pq.write_table(pa.table({"name": ["a"]}), tmp_path / "other.parquet")
    pq.write_table(pa.table({"step": [1], "label": ["x"]}), tmp_path / "labels.parquet")
    with pytest.raises(ValueError, match="no integer 'step' column"):
        read_metrics(tmp_path / "other.parquet")
    with pytest.raises(ValueError, match=r"columns \['label'\] are not floating point"):
        ParquetMetricsSink(tmp_path / "labels.parquet")
    with pytest.raises(FileNotFoundError, match="no metrics at"):
        read_metrics(tmp_path / "missing.parquet")
    (tmp_path / "empty").mkdir()
    assert len(read_metrics(tmp_path / "empty")) == 0 and read_metrics(tmp_path / "empty").names == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"flush_rows": 0}, "flush_rows must be a positive integer"),
        ({"queue_size": True}, "queue_size must be a positive integer"),
        ({"queue_size": 2.5}, "queue_size must be a positive integer"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ParquetMetricsSink(tmp_path / "m.parquet", **options)


def test_two_sinks_on_one_file_keep_each_others_rows(tmp_path: Path) -> None:
    path = tmp_path / "shared.parquet"
    first, second = ParquetMetricsSink(path, flush_rows=1), ParquetMetricsSink(path, flush_rows=1)
    first.log(0, a=1.0)
    second.log(0, b=2.0)
    first.log(1, a=3.0)
    first.close()
    second.close()
    assert read_metrics(path).rows == [{"step": 0, "a": 1.0}, {"step": 0, "b": 2.0}, {"step": 1, "a": 3.0}]


def _failing_writes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Make part writes fail (disk full) while the returned list holds True."""
    real = metrics._write_atomic
    failing = [True]

    def write(table: pa.Table, path: Path) -> None:
        if failing[0]:
            raise OSError("disk full")
        real(table, path)

    monkeypatch.setattr(metrics, "_write_atomic", write)
    return failing


def test_a_refused_row_is_never_written_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = _failing_writes(monkeypatch)
    sink = ParquetMetricsSink(tmp_path / "m", flush_rows=3)
    sink.log(0, loss=1.0)
    sink.log(1, loss=0.9)  # accepted: buffered until the third row
    with pytest.raises(StorageError, match=r"the row of step 2 was NOT recorded .* the 2 rows logged before"):
        sink.log(2, loss=0.8)
    failing[0] = False
    sink.log(2, loss=0.8)  # the caller's retry is the only copy of step 2
    sink.close()
    assert read_metrics(tmp_path / "m").rows == [
        {"step": 0, "loss": 1.0},
        {"step": 1, "loss": 0.9},
        {"step": 2, "loss": 0.8},
    ]


def test_an_asynchronous_failure_refuses_the_next_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = _failing_writes(monkeypatch)
    sink = ParquetMetricsSink(tmp_path / "m", flush_rows=1, asynchronous=True)
    sink.log(0, loss=1.0)
    with pytest.raises(StorageError, match="disk full"):
        sink.flush()
    with pytest.raises(StorageError, match="the row of step 1 was NOT recorded"):
        sink.log(1, loss=0.5)
    failing[0] = False
    sink.flush()
    sink.log(1, loss=0.5)
    sink.close()
    assert [r["step"] for r in read_metrics(tmp_path / "m").rows] == [0, 1]


def test_a_corrupt_part_is_skipped_with_a_warning_and_reported(tmp_path: Path) -> None:
    with ParquetMetricsSink(tmp_path / "m", flush_rows=1) as sink:
        for step in range(3):
            sink.log(step, loss=float(step))
    parts = sorted((tmp_path / "m").iterdir())
    data = parts[1].read_bytes()
    parts[1].write_bytes(data[: len(data) // 2])  # a torn part
    (tmp_path / "m" / "part-zz-garbage.parquet").write_text("not parquet at all")
    with pytest.warns(UserWarning, match="skipping corrupt metrics part") as caught:
        table = read_metrics(tmp_path / "m")
    assert table.rows == [{"step": 0, "loss": 0.0}, {"step": 2, "loss": 2.0}]
    assert [s.path for s in table.skipped] == [parts[1], tmp_path / "m" / "part-zz-garbage.parquet"]
    assert all("not a readable Parquet file" in s.reason for s in table.skipped)
    assert sorted(str(w.message).split("'")[1] for w in caught) == sorted(str(s.path) for s in table.skipped)


def test_a_corrupt_single_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "m.parquet").write_bytes(b"PAR1 torn")
    with pytest.raises(CorruptDataError, match=r"m\.parquet' is not a readable Parquet file"):
        read_metrics(tmp_path / "m.parquet")
