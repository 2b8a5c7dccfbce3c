"""The Keras digits example runs end to end (one epoch) and its reloaded model predicts the same."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_keras_digits_example(tmp_path: Path) -> None:
    out = tmp_path / "digits.keras"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "keras_digits.py"), "--epochs", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "identical predictions = True" in done.stdout
    assert out.exists()
