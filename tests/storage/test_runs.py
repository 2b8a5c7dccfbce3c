"""Runs on the disk drivers: Parquet metrics read while writing, a slow disk never slows a step,
corrupt parts do not break ``qstore runs show``, faiss embeddings, and the plot."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import qstore.storage.metrics
from qstore.core.cli import main
from qstore.core.runs import Run, load_report, read_manifest

pytest.importorskip("pyarrow")
pytest.importorskip("zarr")


def test_disk_drivers_are_chosen_and_rows_are_readable_while_the_run_writes(tmp_path: Path) -> None:
    run = Run.start("live", root=tmp_path)
    assert run.manifest.storage == {"metrics": "parquet", "checkpoints": "zarr", "vectors": "faiss"}
    for step in range(5):
        run.log(step, epoch=0, loss=1.0 / (step + 1), step_seconds=0.1)
    deadline = time.monotonic() + 10
    while load_report(tmp_path / "live").steps < 5:  # the idle writer flushes; no close needed
        assert time.monotonic() < deadline, "rows never became visible to a reader"
        time.sleep(0.1)
    assert read_manifest(tmp_path / "live").status == "running"
    run.close()
    assert read_manifest(tmp_path / "live").status == "completed"


def test_slow_disk_does_not_slow_the_step_and_no_row_is_lost(tmp_path: Path, monkeypatch) -> None:
    original = qstore.storage.metrics.ParquetMetricsSink.log

    def slow_log(self, step, **values):
        time.sleep(0.02)
        original(self, step, **values)

    monkeypatch.setattr(qstore.storage.metrics.ParquetMetricsSink, "log", slow_log)
    with Run.start("slow", root=tmp_path, queue_size=64) as run:
        waits = []
        for step in range(40):
            began = time.perf_counter()
            run.log(step, loss=float(step))
            waits.append(time.perf_counter() - began)
        assert max(waits) < 0.01 < 40 * 0.02  # enqueue time, not the 20 ms write
    rows = load_report(tmp_path / "slow")
    assert rows.steps == 40


def test_corrupt_metrics_part_and_torn_ledger_do_not_break_runs_show(tmp_path: Path, capsys) -> None:
    with Run.start("r", root=tmp_path) as run:
        run.log(0, loss=1.0, step_seconds=0.5)
        run.charge(0, "ionq.simulator", 4, 100, 0.25)
    (tmp_path / "r" / "metrics" / "part-zzzz.parquet").write_bytes(b"not parquet")
    with open(tmp_path / "r" / "ledger.jsonl", "a") as ledger:
        ledger.write('{"step": 1, "back')
    with pytest.warns(UserWarning, match="corrupt metrics part"):
        assert main(["runs", "show", "r", "--root", str(tmp_path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["steps"] == 1 and shown["cost_by_backend"] == {"ionq.simulator": 0.25}
    assert main(["runs", "list", "--root", str(tmp_path)]) == 0
    assert "completed" in capsys.readouterr().out


def test_nearest_on_faiss_matches_brute_force_and_survives_reopening(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    vectors = np.random.default_rng(1).normal(size=(40, 5))
    with Run.start("v", root=tmp_path) as run:
        run.add_embeddings([f"s{i}" for i in range(40)], vectors)
    with Run.start("v", root=tmp_path, resume=True) as run:
        ids, _ = run.nearest(vectors[3], 2)
    expected = np.argsort(((vectors - vectors[3]) ** 2).sum(axis=1))[:2]
    assert list(ids[0]) == [f"s{i}" for i in expected]


def test_plot_writes_a_png(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    with Run.start("p", root=tmp_path, budget_usd=1.0) as run:
        for step in range(3):
            run.log(step, loss=1.0 - 0.1 * step, circuits=8, step_seconds=0.1)
            run.charge(step, "ionq.simulator", 8, 100, 0.1)
        run.log(2, phase="validation", loss=0.9, accuracy=0.5)
    out = tmp_path / "plot.png"
    assert main(["runs", "plot", "p", "--root", str(tmp_path), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
