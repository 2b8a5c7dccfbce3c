"""examples/ionq_simulator.py runs against the fake server with the key from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_ionq import API_KEY

pytestmark = pytest.mark.timeout(120)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ionq_simulator.py"


def test_example_runs_and_never_prints_the_key(fake) -> None:
    env = {**os.environ, "IONQ_API_KEY": API_KEY, "IONQ_API_URL": fake.url, "NO_PROXY": "127.0.0.1,localhost"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--poll-interval", "0.01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    assert "three jobs at once" in done.stdout and "$" in done.stdout
    assert API_KEY not in done.stdout + done.stderr
    assert fake.count("POST") == 4
