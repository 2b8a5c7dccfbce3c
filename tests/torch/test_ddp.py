"""DistributedDataParallel on 2 CPU processes (gloo, loopback) equals single-process training."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch_ddp.py"


@pytest.mark.slow
def test_two_process_ddp_matches_single_process_training(tmp_path: Path) -> None:
    out = tmp_path / "ddp.npy"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--world", "2", "--steps", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    spec = importlib.util.spec_from_file_location("torch_ddp_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    single = example.build_model()
    untrained = example.flat_parameters(single)
    x, y = example.make_data()
    example.train(single, x, y, 3)
    distributed = np.load(out, allow_pickle=False)
    np.testing.assert_allclose(distributed, example.flat_parameters(single), atol=1e-10)
    assert np.abs(distributed - untrained).max() > 1e-3
