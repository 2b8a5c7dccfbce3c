"""The job journal: last entry per group wins, a torn last line is skipped, corruption is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from qstore.core.errors import CorruptDataError
from qstore.core.job_journal import JOURNAL, JobJournal, JournalEntry


def test_entries_keep_the_latest_line_of_each_group_in_first_seen_order(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path)
    assert journal.path == tmp_path / JOURNAL and journal.entries() == []
    journal.record(JournalEntry("g1", "ionq.simulator", ["k1", "k2"], ["a"]))
    journal.record(JournalEntry("g2", "ionq.simulator", ["k3"], ["b"]))
    journal.record(JournalEntry("g1", "ionq.simulator", ["k1", "k2"], ["a", "c"], "completed"))
    assert JobJournal(tmp_path).entries() == [
        JournalEntry("g1", "ionq.simulator", ("k1", "k2"), ("a", "c"), "completed"),
        JournalEntry("g2", "ionq.simulator", ("k3",), ("b",), "sent"),
    ]


def test_a_torn_last_line_is_skipped_and_a_torn_middle_line_is_an_error(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "sub" / "jobs.jsonl")
    journal.record(JournalEntry("g1", "x", ["k"], ["a"]))
    with open(journal.path, "a", encoding="utf-8") as file:
        file.write('{"group": "g2", "backe')
    assert [e.group for e in journal.entries()] == ["g1"]
    with open(journal.path, "a", encoding="utf-8") as file:
        file.write("\n")
    journal.record(JournalEntry("g3", "x", ["k"], ["b"]))
    with pytest.raises(CorruptDataError, match="line 2 is not a journal entry"):
        journal.entries()


def test_an_unknown_status_is_refused(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path)
    journal.record(JournalEntry("g1", "x", ["k"], ["a"], "lost"))  # type: ignore[arg-type]
    with pytest.raises(CorruptDataError, match="status 'lost' is not one of"):
        journal.entries()
