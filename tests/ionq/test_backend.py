"""The IonQ backends through the real qiskit-ionq client against the fake server."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from fake_ionq import API_KEY, iter_gates

from qstore.backends.ionq import IonQAuthenticationError, IonQCredentialsError
from qstore.core import Circuit, NumpyBackend
from qstore.core.errors import CapabilityError, JobError
from qstore.core.plugins import isolated_registry

pytestmark = pytest.mark.timeout(60)


def _chi2_ok(counts: dict[str, int], expected: dict[str, float], shots: int) -> bool:
    """Pearson chi-square at a generous threshold (p ≈ 1e-4 for few degrees of freedom)."""
    stat = sum((counts.get(k, 0) - shots * p) ** 2 / (shots * p) for k, p in expected.items() if p > 0)
    unexpected = sum(v for k, v in counts.items() if expected.get(k, 0) == 0)
    return unexpected == 0 and stat < 25


@pytest.mark.parametrize("system", ["simulator", "aria-1", "forte-1"])
def test_bell_and_ghz_distributions(make_backend, fake, system) -> None:
    backend = make_backend(system, marketplace="aws")
    shots = 2000
    bell = backend.run(Circuit(2).h(0).cnot(0, 1), shots=shots, seed=3)
    assert sum(bell.counts().values()) == shots
    assert _chi2_ok(bell.counts(), {"00": 0.5, "11": 0.5}, shots)
    ghz = backend.run(Circuit(3).h(0).cnot(0, 1).cnot(1, 2), shots=shots, seed=4)
    assert _chi2_ok(ghz.counts(), {"000": 0.5, "111": 0.5}, shots)
    body = fake.bodies[-1]
    assert body["type"] == "ionq.circuit.v1" and body["input"]["gateset"] == "native"
    names = {g["gate"] for g in iter_gates(body)}
    native_2q = "zz" if system == "forte-1" else "ms"
    assert names <= {"gpi", "gpi2", native_2q} and native_2q in names


def test_bit_order_qubit_zero_is_most_significant(make_backend) -> None:
    backend = make_backend()
    result = backend.run(Circuit(3).x(0).x(2), None, ["Z0", "Z1", "Z2"], shots=50, seed=0)
    assert result.counts() == {"101": 50}
    np.testing.assert_allclose(result.expectations, [[-1, 1, -1]])
    lone = backend.run(Circuit(4).x(1), shots=10, seed=0)
    assert lone.counts() == {"0100": 10}


def test_batch_is_one_multi_circuit_job_with_basis_settings(make_backend, fake) -> None:
    backend = make_backend()
    circuit = Circuit(2).ry("a", 0).cnot(0, 1).rx("b", 1)
    a, b = np.array([0.3, 1.1, -0.7]), np.array([0.2, -0.4, 1.3])
    obs = ["Z0", "Z0 Z1", "X0 X1", "Y1", "0.5*X0 - 0.25*Z1"]
    posts = fake.count("POST")
    result = backend.run(circuit, {"a": a, "b": b}, obs, shots=4000, seed=11)
    assert fake.count("POST") == posts + 1
    body = fake.bodies[-1]
    assert body["type"] == "ionq.multi-circuit.v1"
    assert len(body["input"]["circuits"]) == 3 * 3  # Z setting, X0X1 setting, Y1 setting
    exact = NumpyBackend().run(circuit, {"a": a, "b": b}, obs).expectations
    assert np.all(np.abs(result.expectations - exact) < 5 * 1.2 / np.sqrt(4000))
    assert result.samples.shape == (3, 4000)
    assert result.metadata.extra["circuits"] == 9


def test_seeded_runs_are_reproducible_and_rows_independent(make_backend) -> None:
    backend = make_backend()
    circuit = Circuit(1).h(0)
    first = backend.run(circuit, None, ["Z0"], shots=300, seed=5).samples
    second = backend.run(circuit, None, ["Z0"], shots=300, seed=5).samples
    np.testing.assert_array_equal(first, second)
    batch = backend.run(Circuit(1).ry("t", 0), {"t": np.full(4, np.pi / 2)}, shots=200, seed=5).samples
    assert len({row.tobytes() for row in batch}) == 4


def test_noise_model_is_sent_and_results_are_frequencies(make_backend, fake) -> None:
    backend = make_backend(noise_model="forte-1")
    assert backend.entangler == "zz"
    result = backend.run(Circuit(2).h(0).cnot(0, 1), shots=500, seed=2)
    body = fake.bodies[-1]
    assert body["noise"] == {"model": "forte-1", "seed": 2}
    assert sum(result.counts().values()) == 500 and set(result.counts()) <= {"00", "11"}


def test_missing_key_is_a_clear_error_before_any_request(fake) -> None:
    from qstore.backends.ionq.backend import IonQBackend

    with pytest.raises(IonQCredentialsError, match="IONQ_API_KEY"):
        IonQBackend("simulator", url=fake.url)
    assert fake.requests == []


def test_key_from_environment(monkeypatch, fake) -> None:
    from qstore.backends.ionq.backend import IonQBackend

    monkeypatch.setenv("IONQ_API_KEY", API_KEY)
    backend = IonQBackend("simulator", poll_interval=0.005, timeout=30)
    assert backend.run(Circuit(1).x(0), shots=10, seed=0).counts() == {"1": 10}


def test_invalid_key_is_a_clear_error_and_never_leaks(make_backend, fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-" + "9" * 24
    backend = make_backend(api_key=wrong)
    with pytest.raises(IonQAuthenticationError, match="401") as info:
        backend.run(Circuit(1).h(0), shots=10)
    for text in (str(info.value), repr(info.value), repr(backend), caplog.text):
        assert wrong not in text and API_KEY not in text
    assert backend.ledger.rows[-1].status == "released"


def test_api_key_never_in_logs_reprs_or_errors(make_backend, fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    backend = make_backend("forte-1", marketplace="aws")
    job = backend.submit(Circuit(2).h(0).cnot(0, 1), None, ["Z0 Z1"], shots=100, seed=1)
    result = job.result(timeout=30)
    fake.inject("POST", "/jobs$", "500")
    with pytest.raises(JobError) as info:
        backend.run(Circuit(1).h(0), shots=10)
    texts = [caplog.text, repr(backend), repr(job), repr(result), str(result.metadata), repr(backend.ledger)]
    texts += [str(info.value), repr(info.value), repr(backend.capabilities), str(vars(backend))]
    for text in texts:
        assert API_KEY not in text


def test_unsupported_requests_are_refused_locally(make_backend, fake) -> None:
    backend = make_backend("aria-1")
    with pytest.raises(CapabilityError, match="shots"):
        backend.run(Circuit(1).h(0), None, ["Z0"])
    with pytest.raises(CapabilityError, match="25"):
        backend.run(Circuit(26).h(0), shots=10)
    with pytest.raises(CapabilityError, match="noise models apply to the simulator"):
        make_backend("forte-1", noise_model="aria-1")
    assert fake.count("POST") == 0


def test_plugin_registers_the_ionq_backends(fake) -> None:
    with isolated_registry("qstore.backends.ionq.plugin", strict=True, disabled=()) as registry:
        names = registry.names("backend")
        assert {
            "ionq.simulator",
            "ionq.qpu.aria-1",
            "ionq.qpu.forte-1",
            "ionq.qpu.forte-enterprise-1",
        } <= set(names)
        backend = registry.get_backend("ionq.qpu.forte-1", api_key=API_KEY, url=fake.url, poll_interval=0.005)
        assert backend.name == "ionq.qpu.forte-1" and backend.entangler == "zz"
        assert backend.capabilities.max_qubits == 36


def test_explicit_url_differing_from_lookup_url_warns(fake, monkeypatch) -> None:
    from qstore.backends.ionq.backend import IonQBackend

    monkeypatch.setenv("IONQ_API_URL", "http://127.0.0.1:9/v0.4")
    with pytest.warns(UserWarning, match="set IONQ_API_URL"):
        IonQBackend("simulator", api_key=API_KEY, url=fake.url)


def test_error_mitigation_setting_is_sent_and_priced(make_backend, fake) -> None:
    off = make_backend("aria-1", marketplace="azure", error_mitigation=False)
    on = make_backend("aria-1", marketplace="azure", error_mitigation=True)
    bell = Circuit(2).h(0).cnot(0, 1)
    assert on.estimate(bell, shots=100) - off.estimate(bell, shots=100) == pytest.approx(97.50 - 12.4166)
    off.run(bell, shots=20, seed=0)
    assert fake.bodies[-1]["settings"] == {"error_mitigation": {"debiasing": False}}


def test_warnings_on_retries_never_show_the_key(make_backend, fake) -> None:
    import warnings

    backend = make_backend()
    fake.inject("POST", "/jobs$", "429", times=6)
    fake.inject("GET", "/jobs/[^/]+$", "drop", times=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend.run(Circuit(1).h(0), shots=10, seed=0)
    assert caught and all(API_KEY not in str(w.message) for w in caught)


def test_samples_and_counts_without_a_z_observable(make_backend, fake) -> None:
    backend = make_backend()
    circuit = Circuit(2).ry("t", 0).cnot(0, 1)
    thetas = np.array([0.0, np.pi])
    result = backend.run(circuit, {"t": thetas}, ["X0 X1", "Y1"], shots=400, seed=7)
    assert result.samples.shape == (2, 400)
    assert result.counts(0) == {"00": 400} and result.counts(1) == {"11": 400}
    exact = NumpyBackend().run(circuit, {"t": thetas}, ["X0 X1", "Y1"]).expectations
    assert np.all(np.abs(result.expectations - exact) < 5 / np.sqrt(400))
    assert len(fake.bodies[-1]["input"]["circuits"]) == 2 * 3  # computational, X0X1, Y1 settings


def test_expectations_only_runs_send_and_charge_no_unrotated_circuit(make_backend, fake) -> None:
    backend = make_backend()
    circuit = Circuit(2).ry("t", 0).cnot(0, 1)
    thetas = np.array([0.3, 2.0])
    result = backend.run(circuit, {"t": thetas}, ["X0 X1", "Y1"], shots=400, seed=7, outputs=())
    assert result.samples is None
    assert len(fake.bodies[-1]["input"]["circuits"]) == 2 * 2  # X0X1 and Y1 settings only
    exact = NumpyBackend().run(circuit, {"t": thetas}, ["X0 X1", "Y1"]).expectations
    assert np.all(np.abs(result.expectations - exact) < 5 / np.sqrt(400))
    with_z = backend.run(circuit, {"t": thetas}, ["Z0", "X1"], shots=400, seed=7, outputs=())
    assert len(fake.bodies[-1]["input"]["circuits"]) == 2 * 2  # Z0 reads the computational basis
    assert with_z.samples is not None  # which was measured anyway, so its samples come along
