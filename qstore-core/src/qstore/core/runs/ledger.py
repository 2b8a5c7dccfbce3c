"""A run's cost ledger, ``ledger.jsonl``: one JSON line per charge (backend, circuits, shots, USD).

Lines are appended and fsynced by the run's writer thread. A process killed mid-line leaves a torn
last line; `read_ledger` skips it (and only a last line may be torn), so the ledger always opens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs

from qstore.core.errors import CorruptDataError

__all__ = ["Charge", "append_charge", "read_ledger"]

LEDGER = "ledger.jsonl"


@attrs.frozen
class Charge:
    """What one step (or evaluation) cost on one backend."""

    step: int
    backend: str
    circuits: int
    shots: int
    usd: float
    phase: str = "train"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the ledger line."""
        return attrs.asdict(self)


def append_charge(folder: Path, charge: Charge) -> None:
    """Append one line for ``charge`` to ``folder/ledger.jsonl`` and fsync it."""
    with open(folder / LEDGER, "a", encoding="utf-8") as file:
        file.write(json.dumps(charge.to_dict()) + "\n")
        file.flush()
        os.fsync(file.fileno())


def read_ledger(folder: Path) -> list[Charge]:
    """Every complete charge in ``folder/ledger.jsonl`` (none when the file does not exist)."""
    path = folder / LEDGER
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    charges = []
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        try:
            charges.append(Charge(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            if number == len(lines):  # a torn last line: the process died while appending it
                break
            raise CorruptDataError(f"{str(path)!r} line {number} is not a charge ({exc})") from None
    return charges
