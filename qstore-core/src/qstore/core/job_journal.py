"""The journal of remote jobs, ``jobs.jsonl``: what a restarted process needs to re-attach to them.

An `Executor` with a journal appends one JSON line each time a job it started on a remote backend
gains an id there, and when the job ends: the executor's group id, the backend's name, the request
key of every request packed into the job (in packing order; `qstore.core.result_cache.request_key`
over structure hash, bound values, observables, shots, seed and outputs), the remote ids, and the
status (`JOURNAL_STATUSES`). The last line of a group wins. Lines are fsynced as they are written,
so a process killed with SIGKILL leaves every job it had sent on record (up to the instant between
the service answering a submission and the line reaching the disk). A torn last line is skipped.

`Executor.recover` reads it: jobs recorded as ``sent``, ``completed`` or ``failed`` are re-attached
(`Backend.attach`) and never sent again; requests of ``cancelled`` jobs, or of jobs never recorded,
are sent anew. With a `qstore.core.runs.Run` the journal lives in the run's directory.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import attrs

from qstore.core.errors import CorruptDataError

__all__ = ["JOURNAL", "JOURNAL_STATUSES", "JobJournal", "JournalEntry"]

JOURNAL = "jobs.jsonl"
JournalStatus = Literal["sent", "completed", "failed", "cancelled"]
JOURNAL_STATUSES: tuple[str, ...] = ("sent", "completed", "failed", "cancelled")


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


@attrs.frozen
class JournalEntry:
    """One remote job of an executor: enough to find its requests again and re-attach to it."""

    group: str
    backend: str
    keys: tuple[str, ...] = attrs.field(converter=_strings)
    remote_ids: tuple[str, ...] = attrs.field(converter=_strings)
    status: JournalStatus = "sent"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the journal line."""
        return {**attrs.asdict(self), "keys": list(self.keys), "remote_ids": list(self.remote_ids)}


class JobJournal:
    """An append-only, fsynced ``jobs.jsonl`` at ``path`` (a directory gets ``path/jobs.jsonl``)."""

    def __init__(self, path: str | Path) -> None:
        target = Path(path)
        self.path = target / JOURNAL if target.is_dir() else target
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def record(self, entry: JournalEntry) -> None:
        """Append ``entry`` and fsync it before returning."""
        line = json.dumps(entry.to_dict()) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    def entries(self) -> list[JournalEntry]:
        """The latest entry of every group, in the order groups first appeared."""
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").split("\n")
        latest: dict[str, JournalEntry] = {}
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                entry = JournalEntry(**json.loads(line))
            except (ValueError, TypeError) as exc:
                if number == len(lines):  # a torn last line: the process died while appending it
                    break
                raise CorruptDataError(
                    f"{str(self.path)!r} line {number} is not a journal entry ({exc})"
                ) from None
            if entry.status not in JOURNAL_STATUSES:
                raise CorruptDataError(
                    f"{str(self.path)!r} line {number}: status {entry.status!r} is not one of {list(JOURNAL_STATUSES)}"
                )
            latest[entry.group] = entry
        return list(latest.values())

    def __repr__(self) -> str:
        return f"<JobJournal {str(self.path)!r}>"
