"""Kernel progress: a tqdm bar on terminals, silence on pipes unless asked, callbacks, cancellation."""

from __future__ import annotations

import io
import threading

import pytest

from qstore.core.kernels.progress import KernelCancelledError, Progress


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def _run(progress: Progress, steps: int) -> None:
    for _ in range(steps):
        progress.step()


def test_default_is_silent_on_a_pipe_or_file() -> None:
    stream = io.StringIO()
    _run(Progress(50, "quantum kernel", delay=0.0, file=stream), 50)
    assert stream.getvalue() == ""


def test_default_on_a_terminal_shows_count_rate_and_eta_and_ends_the_line() -> None:
    stream = _Terminal()
    _run(Progress(4, "quantum kernel", delay=0.0, file=stream), 4)
    text = stream.getvalue()
    assert "quantum kernel" in text and "4/4" in text and "step/s" in text
    assert "<00:00" in text  # tqdm's "elapsed<remaining" ETA field
    assert text.endswith("\n")


def test_short_computations_stay_silent_even_on_a_terminal() -> None:
    stream = _Terminal()
    _run(Progress(4, "quantum kernel", delay=60.0, file=stream), 4)
    assert stream.getvalue() == ""


def test_asked_for_explicitly_it_shows_on_a_pipe_too() -> None:
    stream = io.StringIO()
    _run(Progress(3, "overlap", report=True, delay=0.0, file=stream), 3)
    assert "3/3" in stream.getvalue()


def test_false_is_silent_everywhere_and_a_callback_gets_every_step() -> None:
    stream = _Terminal()
    _run(Progress(3, "k", report=False, delay=0.0, file=stream), 3)
    assert stream.getvalue() == ""
    seen: list[tuple[int, int]] = []
    _run(Progress(3, "k", report=lambda d, t: seen.append((d, t))), 3)
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_cancellation_raises_and_closes_the_bar() -> None:
    stream = _Terminal()
    cancel = threading.Event()
    progress = Progress(10, "quantum kernel", cancel=cancel, delay=0.0, file=stream)
    progress.step()
    cancel.set()
    with pytest.raises(KernelCancelledError, match="quantum kernel cancelled after 2/10 steps"):
        progress.step()
    assert stream.getvalue().endswith("\n")
