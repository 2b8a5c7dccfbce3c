"""Progress reporting and cancellation for long kernel computations.

A computation is a number of steps (tiles, circuit batches). `Progress` reports them to a callback
or, by default, to a one-line counter on stderr that appears only after ``delay`` seconds, so short
computations stay silent. Cancellation is cooperative: a `threading.Event` checked between steps;
a cancelled computation raises `KernelCancelledError` and returns or caches nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from qstore.core.errors import JobError

__all__ = ["KernelCancelledError", "Progress", "ProgressLike"]

ProgressLike = bool | Callable[[int, int], None]


class KernelCancelledError(JobError):
    """A kernel computation was cancelled; no partial kernel was returned or cached."""


class Progress:
    """Counts steps of one computation, reports them, and honours a cancel event."""

    def __init__(
        self,
        total: int,
        what: str,
        report: ProgressLike = True,
        cancel: threading.Event | None = None,
        delay: float = 1.0,
    ) -> None:
        self.total = max(int(total), 1)
        self.done = 0
        self.what = what
        self.report = report
        self.cancel = cancel
        self.delay = delay
        self._start = time.perf_counter()
        self._shown = False

    def check(self) -> None:
        """Raise `KernelCancelledError` if cancellation was requested."""
        if self.cancel is not None and self.cancel.is_set():
            raise KernelCancelledError(f"{self.what} cancelled after {self.done}/{self.total} steps")

    def step(self, n: int = 1) -> None:
        """Record ``n`` finished steps, report them, and check for cancellation."""
        self.done += n
        if callable(self.report):
            self.report(self.done, self.total)
        elif self.report and (self._shown or time.perf_counter() - self._start > self.delay):
            self._shown = True
            end = "\n" if self.done >= self.total else ""
            print(f"\r{self.what}: {self.done}/{self.total}", end=end, file=sys.stderr, flush=True)
        self.check()
