"""qstore.core.runs with the core alone (memory drivers): manifest, metrics, checkpoints, ledger,
report, embeddings, and the background writer's ordering, back-pressure and error reporting."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from qstore.core.errors import CorruptDataError, NotStoredError, StorageError
from qstore.core.plugins import isolated_registry
from qstore.core.runs import Run, RunWriter, latest_rows, load_report, read_ledger, read_manifest
from qstore.core.runs.ledger import LEDGER


@pytest.fixture
def core_only():
    with isolated_registry("qstore.core.builtin_plugin") as registry:
        yield registry


def test_without_disk_drivers_the_run_uses_memory_and_still_writes_manifest(
    core_only, tmp_path: Path
) -> None:
    with Run.start("r1", root=tmp_path, config={"lr": 0.1}, seed=3, framework="torch") as run:
        run.log(0, epoch=0, backend="numpy", loss=1.5, circuits=8)
        run.log(1, epoch=0, backend="numpy", loss=1.0, circuits=8)
        assert [r["loss"] for r in run.metrics()] == [1.5, 1.0]
    manifest = read_manifest(tmp_path / "r1")
    assert manifest.storage == {"metrics": "memory", "checkpoints": "memory", "vectors": "memory"}
    assert manifest.status == "completed" and manifest.seed == 3 and manifest.config == {"lr": 0.1}
    assert manifest.backends == ["numpy"] and manifest.versions["qstore-core"]


def test_checkpoint_round_trips_arrays_and_metadata(core_only, tmp_path: Path) -> None:
    with Run.start("r", root=tmp_path) as run:
        weights = np.arange(6.0).reshape(2, 3)
        run.checkpoint("step-1", {"w": weights}, {"epoch": 0})
        weights[0, 0] = 99.0  # copied at enqueue: later mutation does not leak into the checkpoint
        latest = run.latest_checkpoint()
        assert latest is not None and latest.name == "step-1" and latest.metadata == {"epoch": 0}
        np.testing.assert_array_equal(latest.arrays["w"], np.arange(6.0).reshape(2, 3))
        with pytest.raises(NotStoredError, match="step-1"):
            run.load_checkpoint("nope")
    assert read_manifest(tmp_path / "r").last_checkpoint == "step-1"


def test_existing_run_needs_resume_and_resume_is_recorded(core_only, tmp_path: Path) -> None:
    Run.start("r", root=tmp_path, seed=1).close()
    with pytest.raises(StorageError, match="resume=True"):
        Run.start("r", root=tmp_path)
    with Run.start("r", root=tmp_path, resume=True, seed=99) as run:
        assert run.manifest.seed == 1 and len(run.manifest.resumes) == 1


def test_report_time_split_cost_and_decisions(core_only, tmp_path: Path) -> None:
    class Decision:
        def to_dict(self):
            return {"backend": "numpy", "reason": "fastest installed"}

    with Run.start("r", root=tmp_path, budget_usd=1.0) as run:
        run.record_decision(Decision())
        for step in range(4):
            run.log(
                step,
                epoch=step // 2,
                step_seconds=1.0,
                circuit_seconds=0.25,
                storage_seconds=0.05,
                circuits=10,
                loss=1.0 / (step + 1),
            )
            run.charge(step, "ionq.simulator", circuits=10, shots=100, usd=0.1)
        run.log(3, epoch=1, phase="validation", loss=0.3, accuracy=0.9)
        report = run.report()
    assert report.steps == 4 and report.epochs == 2
    assert report.time_split == pytest.approx(
        {"classical": 2.8, "quantum execution": 1.0, "queue": 0.0, "storage": 0.2}
    )
    assert report.circuits == 40 and report.circuits_per_second == pytest.approx(10.0)
    assert report.cost_by_backend == {"ionq.simulator": pytest.approx(0.4)} and report.budget_usd == 1.0
    assert report.final["validation"] == {"loss": 0.3, "accuracy": 0.9}
    assert report.final["train"]["loss"] == 0.25
    assert "fastest installed" in report.table() and json.dumps(report.to_dict())
    assert load_report(tmp_path / "r").cost_usd == pytest.approx(0.4)  # from disk, metrics in memory


def test_latest_rows_keeps_the_last_row_per_step_and_phase() -> None:
    rows = [
        {"step": 0, "loss": 1.0},
        {"step": 1, "loss": 2.0},
        {"step": 1, "loss": 3.0},
        {"step": 1, "phase": 1.0, "loss": 9.0},
    ]
    assert latest_rows(rows) == [
        {"step": 0, "loss": 1.0},
        {"step": 1, "loss": 3.0},
        {"step": 1, "phase": 1.0, "loss": 9.0},
    ]


def test_embeddings_nearest_matches_brute_force(core_only, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 6))
    with Run.start("r", root=tmp_path) as run:
        with pytest.raises(NotStoredError):
            run.nearest(vectors[0], 1)
        run.add_embeddings(range(50), vectors)
        ids, dist = run.nearest(vectors[7] + 1e-3, 3)
    expected = np.argsort(((vectors - vectors[7] - 1e-3) ** 2).sum(axis=1))[:3]
    np.testing.assert_array_equal(ids[0], expected)
    assert dist[0, 0] == pytest.approx(6e-6)


def test_torn_last_ledger_line_is_skipped_but_a_torn_middle_line_is_corrupt(tmp_path: Path) -> None:
    good = json.dumps({"step": 0, "backend": "b", "circuits": 1, "shots": 0, "usd": 0.5, "phase": "train"})
    (tmp_path / LEDGER).write_text(good + "\n" + good[:10])
    assert [c.usd for c in read_ledger(tmp_path)] == [0.5]
    (tmp_path / LEDGER).write_text(good[:10] + "\n" + good + "\n")
    with pytest.raises(CorruptDataError, match="line 1"):
        read_ledger(tmp_path)


def test_corrupt_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CorruptDataError, match=r"manifest\.json"):
        read_manifest(tmp_path)


def test_writer_keeps_order_applies_back_pressure_and_never_drops() -> None:
    gate = threading.Event()
    done: list[int] = []
    writer = RunWriter(queue_size=2)
    writer.submit(gate.wait)  # the thread blocks here; the queue then fills
    writer.submit(lambda: done.append(0))
    writer.submit(lambda: done.append(1))
    blocked = threading.Thread(target=writer.submit, args=(lambda: done.append(2),))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # full queue: submit waits instead of dropping
    gate.set()
    blocked.join(5)
    writer.close()
    assert done == [0, 1, 2]


def test_writer_failure_is_raised_on_the_next_call_and_later_writes_still_happen() -> None:
    done: list[int] = []
    writer = RunWriter()

    def fail() -> None:
        raise OSError("disk full")

    writer.submit(fail)
    writer.submit(lambda: done.append(1))
    with pytest.raises(StorageError, match="disk full"):
        writer.flush()
    writer.close()
    assert done == [1]


def test_writer_refuses_after_close() -> None:
    writer = RunWriter()
    writer.close()
    with pytest.raises(StorageError, match="closed"):
        writer.submit(lambda: None)


def test_cli_runs_show_and_list(core_only, tmp_path: Path, capsys) -> None:
    from qstore.core.cli import main

    with Run.start("r", root=tmp_path, framework="torch") as run:
        run.charge(0, "numpy", 1, 0, 0.0)
    assert main(["runs", "show", "r", "--root", str(tmp_path)]) == 0
    assert "run r: completed (torch)" in capsys.readouterr().out
    assert main(["runs", "list", "--root", str(tmp_path), "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["r"]
    assert main(["runs", "show", "missing", "--root", str(tmp_path)]) == 1
