"""Fixtures for the IonQ plugin's tests: a fake IonQ server on loopback and backends pointed at it.

Every test runs with IonQ variables cleared, ``NO_PROXY`` for loopback, ``IONQ_API_URL`` at the
fake (qiskit-ionq reads it for qubit lookups whatever ``url=`` says) and the working directory
in a temporary folder; qiskit-ionq's ``.env`` lookup is disabled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_ionq import API_KEY, FakeIonQ

_IONQ_VARS = (
    "QISKIT_IONQ_API_TOKEN",
    "IONQ_API_KEY",
    "IONQ_API_TOKEN",
    "QISKIT_IONQ_API_URL",
    "IONQ_API_URL",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import qiskit_ionq.helpers

    # qiskit-ionq finds a .env by walking up from its own install directory, and .env beats
    # os.environ: a developer's real key or URL must never reach these tests
    monkeypatch.setattr(qiskit_ionq.helpers, "dotenv_values", lambda *a, **k: {})
    for var in _IONQ_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIonQ]:
    """A running fake IonQ server accepting `API_KEY`."""
    with FakeIonQ(api_key=API_KEY) as server:
        monkeypatch.setenv("IONQ_API_URL", server.url)
        yield server


@pytest.fixture
def make_backend(fake: FakeIonQ) -> Callable[..., Any]:
    """Build an `IonQBackend` against the fake with fast polling; options override."""
    from qstore.backends.ionq.backend import IonQBackend

    def make(system: str = "simulator", **options: Any) -> IonQBackend:
        defaults: dict[str, Any] = {
            "api_key": API_KEY,
            "url": fake.url,
            "poll_interval": 0.005,
            "max_poll_interval": 0.05,
            "timeout": 60.0,
        }
        return IonQBackend(system, **{**defaults, **options})

    return make
