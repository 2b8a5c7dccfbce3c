"""`QuantumKernel.estimate`: circuits, shots, USD from the cost model, seconds from the router."""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path

import attrs
import numpy as np
import pytest

from qstore.core.backend import Capabilities
from qstore.core.circuit import Circuit
from qstore.core.errors import ArgumentError, ArgumentTypeError, CapabilityError
from qstore.core.kernels import QuantumKernel, overlap_circuit, zz_feature_map
from qstore.core.kernels.estimate import KernelEstimate
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.routing import REMOTE_SECONDS_PER_SHOT
from qstore.core.routing_policy import Policy
from qstore.core.routing_speed import DEFAULTS
from qstore.core.storage import MemoryKernelStore

FM = zz_feature_map(3, reps=1)
PER_CIRCUIT, PER_SHOT = 0.30, 0.01


@attrs.frozen
class LinearPrice:
    """$0.30 per circuit plus $0.01 per shot, recording the circuits it was asked to price."""

    seen: list[Circuit] = attrs.field(factory=list, eq=False)

    def estimate(self, circuit: Circuit, batch_size: int, shots: int | None) -> float:
        self.seen.append(circuit)
        return batch_size * (PER_CIRCUIT + PER_SHOT * (shots or 0))


class CloudBackend(NumpyBackend):
    """The numpy engine declared as a priced, sampling-only cloud service."""

    price = LinearPrice()

    @cached_property
    def capabilities(self) -> Capabilities:
        caps = super().capabilities
        return attrs.evolve(caps, name="cloud", statevector=False, devices=("cloud",), cost_model=self.price)


@pytest.fixture(autouse=True)
def _no_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No calibration profile: the router's documented defaults apply."""
    monkeypatch.setenv("QSTORE_CACHE_DIR", str(tmp_path))


def test_sizes_on_the_statevector_path() -> None:
    qk = QuantumKernel(FM, batch_size=64, progress=False)
    sym, rect = qk.estimate(300), qk.estimate(300, 200)
    assert (sym.stats.circuits, sym.stats.entries, sym.stats.unique) == (300, 90_000, 300 * 299 // 2)
    assert rect.stats.circuits == 500 and rect.shape == (300, 200)
    assert sym.usd == 0.0 and sym.shots is None and sym.total_shots is None and not sym.calibrated
    gates = len(FM.circuit.operations)
    per_call = DEFAULTS["double"].predict(FM.n_qubits, 64, gates, 0)  # states only: no observables
    assert sym.seconds == pytest.approx(math.ceil(300 / 64) * per_call)
    assert qk.estimate(1, 1).stats.circuits == 2


def test_overlap_circuits_shots_usd_and_remote_seconds() -> None:
    qk = QuantumKernel(FM, shots=1000, batch_size=100, progress=False)
    backend = CloudBackend()
    est = qk.estimate(30, backend=backend)
    pairs = 30 * 29 // 2
    assert (est.backend, est.method, est.stats.circuits) == ("cloud", "overlap", pairs)
    assert est.total_shots == pairs * 1000
    assert est.usd == pytest.approx(pairs * (PER_CIRCUIT + PER_SHOT * 1000))
    assert backend.price.seen[-1] == overlap_circuit(FM)
    calls = math.ceil(pairs / 100)
    per_call = Policy().queue_seconds + 100 * 1000 * REMOTE_SECONDS_PER_SHOT
    assert est.seconds == pytest.approx(calls * per_call)
    text = str(est)
    assert "30×30 kernel on cloud (overlap)" in text and "435 circuits" in text and "$4,480.50" in text


def test_with_a_store_only_missing_entries_are_priced() -> None:
    X = np.random.default_rng(0).uniform(0, 2 * np.pi, (30, FM.n_features))
    store = MemoryKernelStore()
    QuantumKernel(FM, shots=1000, seed=1, store=store, backend=CloudBackend(), progress=False)(X[:20])
    qk = QuantumKernel(FM, shots=1000, store=store, progress=False)
    est = qk.estimate(X, backend=CloudBackend())
    assert est.stats == QuantumKernel(FM, CloudBackend(), shots=1000, store=store, progress=False).plan(X)
    assert (est.stats.reused, est.stats.computed) == (190, 435 - 190)
    assert est.stats.circuits == 435 - 190
    assert est.usd == pytest.approx(245 * (PER_CIRCUIT + PER_SHOT * 1000))
    assert "190 of 435 distinct entries reused" in str(est)
    paid = qk.estimate(X[:20], backend=CloudBackend())
    assert paid.stats.circuits == 0 and paid.usd == 0.0 and paid.seconds == 0.0
    # The numpy backend is another kernel space: nothing is stored there.
    assert qk.estimate(X).stats.reused == 0


def test_estimate_is_a_frozen_value_and_checks_its_arguments() -> None:
    qk = QuantumKernel(FM, progress=False)
    est = qk.estimate(4)
    assert isinstance(est, KernelEstimate)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        est.usd = 1.0  # type: ignore[misc]
    with pytest.raises(ArgumentError, match="positive number of rows"):
        qk.estimate(0)
    with pytest.raises(ArgumentTypeError, match="Y must be one too"):
        qk.estimate(3, np.zeros((2, 3)))
    with pytest.raises(CapabilityError, match="statevector"):
        QuantumKernel(FM, method="statevector", progress=False).estimate(3, backend=CloudBackend())
