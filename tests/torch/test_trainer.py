"""qstore.torch.Trainer on a real run (Parquet metrics, zarr checkpoints): bit-identical resume,
validation on a second backend, the metrics schema, and resume after SIGKILL at random moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from qstore.core.runs import SCHEMA, Run, load_report, read_manifest
from qstore.torch import QuantumLayer, Trainer

pytest.importorskip("pyarrow")
pytest.importorskip("zarr")


def data(n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, generator=g)
    return x, (x[:, 0] > 0).long()


def model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(QuantumLayer(3, depth=1, bases="Z"), nn.Dropout(0.2), nn.Linear(3, 2))


def trainer(net: nn.Module, run: Run | None, **options) -> Trainer:
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    return Trainer(net, opt, nn.CrossEntropyLoss(), run=run, batch_size=8, progress=False, **options)


def parameters(net: nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in net.parameters()]


def test_two_epochs_equal_one_then_resume_then_one_bit_for_bit(tmp_path: Path) -> None:
    x, y = data()
    with Run.start("straight", root=tmp_path) as run:
        straight = model(0)
        trainer(straight, run).fit(x, y, epochs=2)
    with Run.start("split", root=tmp_path) as run:
        trainer(model(0), run).fit(x, y, epochs=1)
    torch.manual_seed(12345)  # the resumed process starts from other weights and RNG state
    np.random.seed(5)
    with Run.start("split", root=tmp_path, resume=True) as run:
        resumed = model(7)
        trainer(resumed, run).fit(x, y, epochs=2, resume=True)
    for a, b in zip(parameters(straight), parameters(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    assert load_report(tmp_path / "split").steps == load_report(tmp_path / "straight").steps == 12


def test_mid_epoch_checkpoint_resume_is_bit_identical(tmp_path: Path) -> None:
    x, y = data()
    straight = model(0)
    trainer(straight, None).fit(x, y, epochs=2)
    with Run.start("r", root=tmp_path) as run:
        first = model(0)
        t = trainer(first, run, checkpoint_every=4)
        t.fit(x, y, epochs=2)
        checkpoint = run.load_checkpoint("step-000000004")  # epoch 0, after batch 4 of 6
    assert checkpoint.metadata["epoch"] == 0 and checkpoint.metadata["batch"] == 4
    with Run.start("r2", root=tmp_path) as run:
        run.checkpoint(checkpoint.name, checkpoint.arrays, checkpoint.metadata)
        resumed = model(3)
        trainer(resumed, run).fit(x, y, epochs=2, resume=True)
    for a, b in zip(parameters(straight), parameters(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_rows_follow_the_schema_and_validation_runs_on_the_second_backend(tmp_path: Path) -> None:
    x, y = data()
    with Run.start("r", root=tmp_path) as run:
        t = trainer(model(0), run, validation_backend="numpy", validation_shots=2000)
        history = t.fit(x, y, epochs=1, validation_data=(x, y))
        rows = run.metrics()
    train = [r for r in rows if r["phase"] == 0.0]
    assert len(train) == 6 and set(SCHEMA) <= set(train[0])
    assert all(r["circuits"] == 8 and r["qubits"] == 3 and r["grad_norm"] > 0 for r in train)
    (val,) = [r for r in rows if r["phase"] == 1.0]
    assert read_manifest(tmp_path / "r").backends == ["torch", "numpy"] and val["backend"] == 1.0
    assert val["accuracy"] == history[0]["val_accuracy"]
    exact = t.evaluate(x, y)
    assert abs(val["loss"] - exact["loss"]) < 0.05  # 2000 shots: standard error of <Z> about 0.02


def test_predict_on_another_backend_keeps_weights_and_training_rng(tmp_path: Path) -> None:
    x, _ = data()
    net = model(0)
    t = trainer(net, None)
    state = torch.get_rng_state()
    np.testing.assert_allclose(t.predict(x, backend="numpy").numpy(), t.predict(x).numpy(), atol=1e-5)
    assert torch.equal(state, torch.get_rng_state())


WORKER = textwrap.dedent(
    """
    import sys, time
    import torch
    from torch import nn
    sys.path.insert(0, {tests!r})
    from test_trainer import data, model, trainer
    from qstore.core.runs import Run

    class Slow(nn.Module):
        def forward(self, x):
            time.sleep(0.004)
            return x

    x, y = data(96)
    with Run.start("killed", root={root!r}, resume=True) as run:
        net = nn.Sequential(model(0), Slow())
        if run.manifest.last_checkpoint is not None:
            torch.manual_seed(1000 + int(sys.argv[1]))  # the resume must restore the RNG state
        print("ready", flush=True)
        trainer(net, run, checkpoint_every=3).fit(x, y, epochs=4, resume=True)
    torch.save([p.detach() for p in net.parameters()], {out!r})
    """
)


def kill_and_resume(tmp_path: Path, kills: int, max_delay: float = 0.5) -> None:
    """SIGKILL a training worker ``kills`` times at random moments (up to ``max_delay`` seconds after
    it is ready), checking the run after each."""
    script = tmp_path / "worker.py"
    out = tmp_path / "params.pt"
    script.write_text(
        WORKER.format(tests=str(Path(__file__).parent), root=str(tmp_path / "runs"), out=str(out))
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    landed = attempt = 0
    while not out.exists():
        attempt += 1
        assert attempt < kills + 20, "training never finished"
        proc = subprocess.Popen([sys.executable, str(script), str(attempt)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        if landed < kills:
            time.sleep(rng.uniform(0.0, max_delay))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                landed += 1
        assert proc.wait(120) in (0, -signal.SIGKILL)
        folder = tmp_path / "runs" / "killed"
        report = load_report(folder)  # the run always opens, whatever moment the kill hit
        manifest = read_manifest(folder)
        if manifest.last_checkpoint is not None:
            done = int(manifest.last_checkpoint.removeprefix("step-"))
            assert report.steps >= done  # every step before the last checkpoint has its row
    assert landed == kills
    straight = nn.Sequential(model(0))
    x, y = data(96)
    trainer(straight, None, checkpoint_every=3).fit(x, y, epochs=4)
    for a, b in zip(parameters(straight), torch.load(out), strict=True):
        np.testing.assert_array_equal(a, b.numpy())


def test_resume_after_sigkill_is_bit_identical(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, kills=3)


@pytest.mark.slow
def test_resume_after_thirty_sigkills_at_random_moments(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, kills=30, max_delay=0.03)  # short lives, so all 30 land before the end


def test_routing_decisions_of_auto_layers_are_kept_in_the_run(tmp_path: Path) -> None:
    from qstore.core import NumpyBackend
    from qstore.core.routing import AutoBackend
    from qstore.torch.backend import TorchBackend

    auto = AutoBackend(backends=[NumpyBackend(), TorchBackend(precision="double")], profile=None)
    torch.manual_seed(0)
    net = nn.Sequential(QuantumLayer(3, depth=1, backend=auto).double(), nn.Linear(3, 2).double())
    x, y = data(16)
    with Run.start("auto", root=tmp_path) as run:
        trainer(net, run).fit(x.double(), y, epochs=1)
    decisions = read_manifest(tmp_path / "auto").decisions
    assert decisions and {d["backend"] for d in decisions} <= {"numpy", "torch"}
    assert all(d["candidates"] for d in decisions)  # each decision keeps its reasons
    assert len(decisions) == len(auto.decisions)
