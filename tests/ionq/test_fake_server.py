"""The fake server against qiskit-ionq used directly: qis gateset, qiskit's own result decoding."""

from __future__ import annotations

import numpy as np
import pytest
from fake_ionq import API_KEY, STATUS_STEPS, FakeIonQ, ionq_probabilities

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def provider(fake: FakeIonQ):
    from qiskit_ionq import IonQProvider

    return IonQProvider(token=API_KEY, url=fake.url)


def test_qis_single_and_multi_circuit_jobs_through_qiskit(provider, fake: FakeIonQ) -> None:
    from qiskit import QuantumCircuit

    backend = provider.get_backend("simulator")
    bell = QuantumCircuit(2, 2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure([0, 1], [0, 1])
    one = QuantumCircuit(3, 3)
    one.x(0)
    one.ry(0.0, 2)
    one.measure([0, 1, 2], [0, 1, 2])
    job = backend.run(bell, shots=1000, sampler_seed=3)
    counts = job.result(wait=0.01).get_counts()
    assert set(counts) == {"00", "11"} and abs(counts["00"] - 500) < 100
    assert fake.bodies[-1]["input"]["gateset"] == "qis"
    multi = backend.run([bell, one], shots=100, sampler_seed=1)
    result = multi.result(wait=0.01)
    assert fake.bodies[-1]["type"] == "ionq.multi-circuit.v1"
    assert result.get_counts(1) == {"001": 100}  # qiskit: clbit 0 rightmost; IonQ key "1"


def test_native_gates_and_qis_controls_map_to_the_gate_table() -> None:
    native = [
        {"gate": "gpi2", "target": 0, "phase": 0.25},
        {"gate": "ms", "targets": [0, 1], "phases": [0, 0]},
    ]
    probs = ionq_probabilities(2, native, "native")
    assert probs.sum() == pytest.approx(1.0)
    toffoli = [
        {"gate": "x", "targets": [0]},
        {"gate": "x", "targets": [1]},
        {"gate": "x", "targets": [2], "controls": [0, 1]},
    ]
    np.testing.assert_allclose(ionq_probabilities(3, toffoli, "qis"), np.eye(8)[7])


def test_status_steps_never_say_running(provider, fake: FakeIonQ) -> None:
    assert "running" not in STATUS_STEPS
    import requests

    fake.polls_per_step = 1
    body = {"type": "ionq.circuit.v1", "backend": "simulator", "shots": 10,
            "input": {"gateset": "qis", "qubits": 1, "circuit": [{"gate": "h", "targets": [0]}]}}  # fmt: skip
    headers = {"Authorization": f"apiKey {API_KEY}"}
    job_id = requests.post(f"{fake.url}/jobs", json=body, headers=headers, timeout=5).json()["id"]
    seen = [
        requests.get(f"{fake.url}/jobs/{job_id}", headers=headers, timeout=5).json()["status"]
        for _ in range(4)
    ]
    assert seen == ["ready", "started", "completed", "completed"]
    assert requests.get(f"{fake.url}/jobs/{job_id}", timeout=5).status_code == 401
    assert requests.get(f"{fake.url}/backends", timeout=5).status_code == 200
