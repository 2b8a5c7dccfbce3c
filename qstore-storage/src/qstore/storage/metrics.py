"""Storage ``parquet``: a `MetricsSink` writing rows to Parquet with pyarrow; no row is ever dropped.

``path`` ending in ``.parquet`` (and not an existing directory) is one file, rewritten atomically
(temporary sibling, then ``os.replace``) by every flush. Any other path is a directory to which each
flush adds one part file, also atomically; prefer it for long runs, since a single file is rewritten
whole, and when several processes log (each sink writes its own parts). Either way an existing file or
directory is appended to, rows are buffered and written every ``flush_rows`` rows, and `flush` makes
them visible to `read_metrics` (or any Parquet reader).

Columns are ``step`` (int64) and one float64 column per metric name. The schema evolves: a name
first logged after other rows gets its column then, and rows that did not log a name hold null
there (a logged NaN stays NaN), so `read_metrics` rows match what was logged.

With ``asynchronous=True`` a writer thread does the Parquet work. Rows pass through a queue of at
most ``queue_size`` rows: when it is full, `log` blocks until the writer catches up (back-pressure),
and `flush` / `close` return only after every row logged before them is written. A sink left open is
closed when it is garbage-collected or the interpreter exits, so buffered rows still reach disk.

Every `log` call either records its row or raises `StorageError` and records nothing, so a caller
that retries a refused row never duplicates it. A failed write (disk full, say) raises from the call
that wrote or, asynchronously, from the next `log`, `flush` or `close`: the row of a `log` that
raises is refused; rows of earlier `log` calls that returned stay buffered, and `flush` and `close`
write them (or raise again). Part files are fsynced and renamed into place, directory included.

`read_metrics` on a directory reads every good part: a part that is not valid Parquet or not a
metrics file is skipped with a warning naming it, and listed in `MetricsTable.skipped`.
"""

from __future__ import annotations

import numbers
import os
import queue
import threading
import time
import uuid
import warnings
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from qstore.core.errors import ArgumentError, ArgumentTypeError, CorruptDataError, StorageError

__all__ = ["MetricsTable", "ParquetMetricsSink", "SkippedPart", "read_metrics"]

_STEP = "step"
_Row = dict[str, float | int]


def _row(step: Any, values: dict[str, Any]) -> _Row:
    """One validated row, with the memory sink's rules and messages."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ArgumentError(f"step must be a non-negative integer, got {step!r}")
    if not values:
        raise ArgumentError("log at least one named value, e.g. log(step, loss=0.5)")
    row: _Row = {_STEP: int(step)}
    for key, value in values.items():
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ArgumentTypeError(f"metric {key!r} must be a real number, got {value!r}")
        row[key] = float(value)
    return row


def _table(rows: list[_Row]) -> pa.Table:
    names = dict.fromkeys(key for row in rows for key in row if key != _STEP)
    columns = {_STEP: pa.array(np.array([row[_STEP] for row in rows], dtype=np.int64))}
    for name in names:
        values = np.array([row.get(name, np.nan) for row in rows], dtype=np.float64)
        columns[name] = pa.array(values, mask=np.array([name not in row for row in rows], dtype=bool))
    return pa.table(columns)


def _concat(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables, promote_options="default")


def _read_file(path: Path) -> pa.Table:
    """One metrics file; `CorruptDataError` naming it when it is not valid Parquet or not metrics."""
    try:
        table = pq.read_table(path)
    except pa.ArrowException as exc:
        raise CorruptDataError(f"{str(path)!r} is not a readable Parquet file ({exc})") from exc
    fields = {field.name: field.type for field in table.schema}
    if _STEP not in fields or not pa.types.is_integer(fields[_STEP]):
        raise CorruptDataError(f"{str(path)!r} is not a metrics file: it has no integer 'step' column")
    bad = [name for name, kind in fields.items() if name != _STEP and not pa.types.is_floating(kind)]
    if bad:
        raise CorruptDataError(f"{str(path)!r} is not a metrics file: columns {bad} are not floating point")
    return table


def _fsync_directory(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on Windows; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as file:
            pq.write_table(table, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


class _Target(Protocol):
    path: Path

    def write(self, table: pa.Table) -> None: ...


class _FileTarget:
    """One Parquet file holding every row: each write reads it, appends, and replaces it atomically."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            _read_file(path)  # refuse a file that is not metrics now rather than at the first flush
        self.path = path

    def write(self, table: pa.Table) -> None:
        if self.path.exists():
            table = _concat([_read_file(self.path), table])
        _write_atomic(table, self.path)


class _DirectoryTarget:
    """A directory of part files; names sort by sink creation time, then write order."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._prefix = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        self._parts = 0

    def write(self, table: pa.Table) -> None:
        self._parts += 1
        _write_atomic(table, self.path / f"{self._prefix}-{self._parts:06d}.parquet")


class _Writer:
    """Buffers rows and writes them to a target, in the caller's thread or in its own."""

    def __init__(self, target: _Target, flush_rows: int, queue_size: int | None) -> None:
        self._target = target
        self._flush_rows = flush_rows
        self._buffer: list[_Row] = []
        self._lock = threading.Lock()
        self._closed = False
        self._error: Exception | None = None
        self._queue: queue.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        if queue_size is not None:
            self._queue = queue.Queue(maxsize=queue_size)
            self._thread = threading.Thread(target=self._run, name="qstore-parquet-writer", daemon=True)
            self._thread.start()

    def _write(self) -> None:
        if self._buffer:
            self._target.write(_table(self._buffer))
            self._buffer = []

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:  # close: the caller writes what is left once this thread has ended
                return
            if isinstance(item, dict):
                self._buffer.append(item)
                if len(self._buffer) < self._flush_rows:
                    continue
            try:
                self._write()
                self._error = None
            except Exception as exc:
                self._error = exc
            if isinstance(item, threading.Event):
                item.set()

    def _failed(self, exc: Exception, refused: _Row | None = None) -> StorageError:
        kept = len(self._buffer)
        head = (
            "" if refused is None else f"the row of step {refused[_STEP]} was NOT recorded (log it again); "
        )
        return StorageError(
            f"writing metrics to {str(self._target.path)!r} failed ({type(exc).__name__}: {exc}); "
            f"{head}the {kept} rows logged before stay buffered, and flush() or close() tries again"
        )

    def _write_or_raise(self) -> None:
        try:
            self._write()
        except Exception as exc:
            raise self._failed(exc) from exc

    def _raise_pending(self, refused: _Row | None = None) -> None:
        if self._error is not None:
            raise self._failed(self._error, refused) from self._error

    def log(self, row: _Row) -> None:
        with self._lock:
            if self._closed:
                raise ArgumentError("this metrics sink is closed")
            if self._queue is None:
                self._buffer.append(row)
                if len(self._buffer) >= self._flush_rows:
                    try:
                        self._write()
                    except Exception as exc:
                        self._buffer.pop()  # refused: it must not be written by a later flush
                        raise self._failed(exc, row) from exc
            else:
                self._raise_pending(row)
                self._queue.put(row)  # blocks while the queue is full: back-pressure

    def flush(self) -> None:
        if self._queue is None:
            with self._lock:
                self._write_or_raise()
            return
        done = threading.Event()
        with self._lock:
            if self._closed:
                return
            self._queue.put(done)
        done.wait()
        self._raise_pending()

    def close(self) -> None:
        with self._lock:
            if not self._closed and self._queue is not None:
                self._queue.put(None)
            self._closed = True
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._write_or_raise()


class ParquetMetricsSink:
    """`MetricsSink` writing Parquet: one file (``*.parquet``) or a directory of part files.

    >>> sink = ParquetMetricsSink("runs/metrics", asynchronous=True)  # doctest: +SKIP
    >>> sink.log(0, loss=0.9); sink.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flush_rows: int = 10_000,
        asynchronous: bool = False,
        queue_size: int = 1024,
    ) -> None:
        for option, value in (("flush_rows", flush_rows), ("queue_size", queue_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(f"{option} must be a positive integer, got {value!r}")
        self.path = Path(path)
        single = self.path.suffix == ".parquet" and not self.path.is_dir()
        target = _FileTarget(self.path) if single else _DirectoryTarget(self.path)
        # Convert once now: pyarrow imports pandas lazily on its first conversion, and importing it
        # while the interpreter exits (when an unclosed sink is flushed) fails.
        _table([{_STEP: 0, "warm-up": 0.0}, {_STEP: 1}])
        self._writer = _Writer(target, flush_rows, queue_size if asynchronous else None)
        self._finalizer = weakref.finalize(self, self._writer.close)

    def __repr__(self) -> str:
        return f"ParquetMetricsSink({str(self.path)!r})"

    def log(self, step: int, **values: float) -> None:
        """Record one row: ``step`` a non-negative int, values real numbers (NaN allowed).

        Blocks while an asynchronous sink's queue is full.
        """
        self._writer.log(_row(step, values))

    def flush(self) -> None:
        """Write every row logged so far before returning."""
        self._writer.flush()

    def close(self) -> None:
        """Write every remaining row and stop the writer; logging afterwards is an error."""
        self._writer.close()
        self._finalizer.detach()

    @staticmethod
    def read(path: str | os.PathLike[str]) -> MetricsTable:
        """`read_metrics` of ``path``: lets code holding only the registered driver read rows back."""
        return read_metrics(path)

    def __enter__(self) -> ParquetMetricsSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@attrs.frozen
class SkippedPart:
    """A part file `read_metrics` could not use, and why."""

    path: Path
    reason: str


@attrs.frozen(eq=False)
class MetricsTable:
    """Metrics read back by `read_metrics`; ``table`` is the pyarrow Table (nulls where not logged).

    ``skipped`` lists the part files left out because they were corrupt (empty when none were).
    """

    table: pa.Table
    skipped: tuple[SkippedPart, ...] = ()

    @property
    def names(self) -> list[str]:
        """Metric names, in order of first appearance (``step`` excluded)."""
        return [name for name in self.table.column_names if name != _STEP]

    @property
    def rows(self) -> list[dict[str, float | int]]:
        """One dict per row with only the metrics that row logged, like `MemoryMetricsSink.rows`."""
        return [{k: v for k, v in row.items() if v is not None} for row in self.table.to_pylist()]

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """``step`` as int64 and each metric as float64, NaN where a row did not log it."""
        out = {_STEP: self.table.column(_STEP).to_numpy().astype(np.int64)}
        for name in self.names:
            out[name] = self.table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        return out

    def __len__(self) -> int:
        return self.table.num_rows


def read_metrics(path: str | os.PathLike[str]) -> MetricsTable:
    """Every row written by `ParquetMetricsSink` at ``path`` (a file or a directory of parts).

    Rows keep their logging order; in a directory, the rows of earlier-created sinks come first.
    Parts with different metric names are merged, with null where a row did not log a name. A
    corrupt part is skipped with a warning and listed in ``skipped``; a corrupt single file is a
    `CorruptDataError`.
    """
    where = Path(path)
    skipped: list[SkippedPart] = []
    if where.is_dir():
        parts = sorted(
            p for p in where.iterdir() if p.suffix == ".parquet" and not p.name.startswith((".", "_"))
        )
        tables = []
        for part in parts:
            try:
                tables.append(_read_file(part))
            except CorruptDataError as exc:
                skipped.append(SkippedPart(part, str(exc)))
                warnings.warn(f"skipping corrupt metrics part: {exc}", stacklevel=2)
    elif where.is_file():
        tables = [_read_file(where)]
    else:
        raise FileNotFoundError(f"no metrics at {str(where)!r}: not a file or directory")
    return MetricsTable(_concat(tables) if tables else _table([]), tuple(skipped))
