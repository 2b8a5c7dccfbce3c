"""The qsim backend passes the conformance kit and keeps its own promises (sweeps, seeds, devices)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qsimcirq")

from qstore.backends.gpu.qsim_backend import QsimBackend, qsim_devices
from qstore.core import CapabilityError, Circuit, NumpyBackend
from qstore.core.testing import BackendConformance, random_bindings, random_circuit


class TestQsimConformance(BackendConformance):
    atol = 2e-5  # qsim computes in complex64
    n_random_circuits = 3

    @pytest.fixture
    def backend(self) -> QsimBackend:
        return QsimBackend(threads=1)


def test_a_batch_is_one_qsimcirq_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    import qsimcirq

    calls: list[int] = []
    original = qsimcirq.QSimSimulator.simulate_expectation_values_sweep

    def counting(self, program, observables, params, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(list(params)))
        return original(self, program, observables, params, *args, **kwargs)

    monkeypatch.setattr(qsimcirq.QSimSimulator, "simulate_expectation_values_sweep", counting)
    circuit = Circuit(2).ry("a", 0).rzz("2*a - b", 0, 1).u3("b", 0.2, "a", 1)
    values = QsimBackend().run(circuit, {"a": np.linspace(0, 1, 17), "b": 0.3}, ["Z0", "X1"]).expectations
    assert calls == [17]
    want = NumpyBackend().run(circuit, {"a": np.linspace(0, 1, 17), "b": 0.3}, ["Z0", "X1"]).expectations
    np.testing.assert_allclose(values, want, atol=2e-6)


def test_samples_are_seeded_and_qubit_zero_most_significant() -> None:
    backend = QsimBackend()
    circuit = Circuit(3).x(0).h(2)
    first = backend.run(circuit, shots=200, seed=11).samples
    assert set(np.unique(first)) == {0b100, 0b101}
    np.testing.assert_array_equal(first, backend.run(circuit, shots=200, seed=11).samples)
    assert not np.array_equal(first, backend.run(circuit, shots=200, seed=12).samples)


def test_threads_and_fusion_options_do_not_change_results() -> None:
    rng = np.random.default_rng(4)
    circuit = random_circuit(6, 40, rng)
    bindings = random_bindings(circuit, 3, rng)
    one = QsimBackend(threads=1, max_fused_gate_size=2).run(circuit, bindings, ["Z0 Z5", "X3"])
    two = QsimBackend(threads=2, max_fused_gate_size=4).run(circuit, bindings, ["Z0 Z5", "X3"])
    np.testing.assert_allclose(one.expectations, two.expectations, atol=1e-5)
    assert two.metadata.extra["threads"] == 2
    auto = QsimBackend()
    assert auto.threads_for(8) == 1 and auto.threads_for(24) >= 1
    assert auto.run(circuit, bindings, ["Z0"]).metadata.extra["threads"] == 1


def test_missing_gpu_is_a_clear_error() -> None:
    if "cuda" in qsim_devices():
        pytest.skip("this machine has qsim CUDA support")
    with pytest.raises(CapabilityError, match=r"qsim device 'cuda' is not available.*device='cpu'"):
        QsimBackend(device="cuda")
    with pytest.raises(CapabilityError, match="custatevec=True needs device='cuda'"):
        QsimBackend(custatevec=True)
    with pytest.raises(CapabilityError, match="single precision only"):
        QsimBackend(precision="double")


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(CapabilityError, match="'cpu' or 'cuda', got 'tpu'"):
        QsimBackend(device="tpu")
    with pytest.raises(CapabilityError, match="threads"):
        QsimBackend(threads=0)
