"""Training runs that keep everything: `Run` (a directory with manifest, Parquet metrics, zarr
checkpoints, faiss embeddings and a cost ledger, written by one background thread) and the readers
behind ``qstore runs`` (`load_report`, `list_runs`, `plot_run`). See ``docs/runs.md``.
"""

from __future__ import annotations

from qstore.core.runs.ledger import Charge, read_ledger
from qstore.core.runs.manifest import Manifest, read_manifest
from qstore.core.runs.report import RunReport, build_report, list_runs, load_report, plot_run
from qstore.core.runs.run import PHASES, SCHEMA, Run, latest_rows, read_rows
from qstore.core.runs.writer import RunWriter

__all__ = [
    "PHASES",
    "SCHEMA",
    "Charge",
    "Manifest",
    "Run",
    "RunReport",
    "RunWriter",
    "build_report",
    "latest_rows",
    "list_runs",
    "load_report",
    "plot_run",
    "read_ledger",
    "read_manifest",
    "read_rows",
]
