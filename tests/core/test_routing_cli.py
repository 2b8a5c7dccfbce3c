"""``qstore route`` and ``qstore calibrate`` against the core's own backend, in a temporary cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qstore.core import builtin_plugin
from qstore.core.cli import main
from qstore.core.plugins import isolated_registry
from qstore.core.routing_speed import load_profile, profile_key


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QSTORE_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_route_prints_the_decision_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    with isolated_registry(builtin_plugin):
        assert (
            main(["route", "--qubits", "6", "--batch", "8", "--gradients", "adjoint", "--samples", "32"]) == 0
        )
        table = capsys.readouterr().out
        assert table.startswith("route: numpy") and "analytic defaults" in table and "4 call(s)" in table
        assert main(["route", "--qubits", "40", "--json"]) == 1
        assert "needs 40 qubits" in capsys.readouterr().err
        assert main(["route", "--qubits", "4", "--shots", "100", "--budget", "5", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
    assert (data["backend"], data["budget_usd"], data["workload"]["shots"]) == ("numpy", 5.0, 100)


def test_calibrate_quick_writes_a_profile_that_route_then_uses(
    capsys: pytest.CaptureFixture[str], _cache: Path
) -> None:
    with isolated_registry(builtin_plugin):
        assert main(["calibrate", "--quick", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert Path(summary["path"]).parent == _cache / "router"
        profile = load_profile(profile_key())
        assert profile is not None and set(profile.models["numpy"]) == {"forward", "adjoint"}
        assert main(["route", "--qubits", "6"]) == 0
        assert "calibrated profile" in capsys.readouterr().out
