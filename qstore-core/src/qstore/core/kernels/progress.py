"""Progress reporting and cancellation for long kernel computations.

A computation is a number of steps (tiles, circuit batches). `Progress` reports them to a callback,
or to a tqdm bar (rate and ETA) on stderr: ``None`` (the default) shows it only on a terminal and
only for computations longer than ``delay`` seconds, ``True`` shows it whatever the stream is, and
``False`` is silent. Cancellation is cooperative: a `threading.Event` checked between steps; a
cancelled computation raises `KernelCancelledError` and returns or caches nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import IO

from tqdm.auto import tqdm

from qstore.core.errors import KernelCancelledError

__all__ = ["KernelCancelledError", "Progress", "ProgressLike"]

ProgressLike = bool | None | Callable[[int, int], None]


class Progress:
    """Counts steps of one computation, reports them, and honours a cancel event."""

    def __init__(
        self,
        total: int,
        what: str,
        report: ProgressLike = None,
        cancel: threading.Event | None = None,
        delay: float = 1.0,
        file: IO[str] | None = None,
    ) -> None:
        self.total = max(int(total), 1)
        self.done = 0
        self.what = what
        self.cancel = cancel
        self._callback = report if callable(report) else None
        self._bar = (
            None
            if callable(report) or report is False
            else tqdm(
                total=self.total,
                desc=what,
                unit="step",
                delay=delay,
                file=file,
                disable=None if report is None else False,
            )
        )

    def check(self) -> None:
        """Raise `KernelCancelledError` if cancellation was requested (closing the bar)."""
        if self.cancel is not None and self.cancel.is_set():
            self.close()
            raise KernelCancelledError(f"{self.what} cancelled after {self.done}/{self.total} steps")

    def step(self, n: int = 1) -> None:
        """Record ``n`` finished steps, report them, and check for cancellation."""
        self.done += n
        if self._callback is not None:
            self._callback(self.done, self.total)
        if self._bar is not None:
            self._bar.update(n)
            if self.done >= self.total:
                self.close()
        self.check()

    def close(self) -> None:
        """Finish the bar's line; further steps are still counted and checked."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
