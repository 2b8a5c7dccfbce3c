"""`RunWriter`: one background thread doing a run's disk writes, behind a bounded queue.

A training step only enqueues; the thread writes metrics rows, checkpoints, ledger entries and
manifest snapshots in the order they were enqueued. When the queue is full, `submit` blocks until
the thread catches up (back-pressure): nothing is ever dropped. A failed write is kept and raised by
the next `submit`, `flush` or `close`, so an error cannot pass unseen.

Order is the durability guarantee a resume relies on: a checkpoint item first flushes the metrics
sink, so a checkpoint on disk implies every row logged before it is on disk too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from qstore.core.errors import ArgumentError, StorageError

__all__ = ["RunWriter"]

_IDLE_SECONDS = 0.5


class RunWriter:
    """Runs submitted write callables in one thread, in order, with a queue of ``queue_size`` items.

    ``on_idle`` is called by the thread whenever the queue has been empty for half a second (the
    run uses it to flush buffered metrics, so a reader sees a live run's rows).
    """

    def __init__(self, queue_size: int = 256, on_idle: Callable[[], None] | None = None) -> None:
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ArgumentError(f"queue_size must be a positive integer, got {queue_size!r}")
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._on_idle = on_idle
        self._error: BaseException | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="qstore-run-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                item = self._on_idle
                if item is None:
                    continue
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                item()
            except BaseException as exc:  # kept and raised in the caller's thread
                self._error = self._error or exc

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise StorageError(
                f"a background run write failed ({type(error).__name__}: {error}); later writes were "
                "still attempted, in order"
            ) from error

    def submit(self, write: Callable[[], None]) -> None:
        """Queue ``write`` (blocks while the queue is full); raises a pending earlier failure first."""
        with self._lock:
            if self._closed:
                raise StorageError("this run is closed; open it again with Run.open(...) to write more")
        self._raise_pending()
        self._queue.put(write)

    @property
    def pending(self) -> int:
        """Items queued and not yet taken by the writer thread."""
        return self._queue.qsize()

    def flush(self) -> None:
        """Return once every write submitted before this call has been done; raise if one failed."""
        if self._thread.is_alive():
            done = threading.Event()
            self._queue.put(done)
            done.wait()
        self._raise_pending()

    def close(self) -> None:
        """Do every queued write, stop the thread, and raise if a write failed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._raise_pending()


_STOP = object()
