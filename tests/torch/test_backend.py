"""The torch engine passes the core conformance kit in both precisions, plus engine specifics."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from qstore.core import Circuit, NumpyBackend
from qstore.core.errors import CapabilityError, CircuitError
from qstore.core.testing import BackendConformance, random_bindings, random_circuit
from qstore.torch.backend import TorchBackend


class TestTorchComplex128(BackendConformance):
    atol = 1e-10

    @pytest.fixture
    def backend(self) -> TorchBackend:
        return TorchBackend(precision="double")


class TestTorchComplex64(BackendConformance):
    atol = 1e-5

    @pytest.fixture
    def backend(self) -> TorchBackend:
        return TorchBackend()


def test_unknown_precision_is_rejected_with_the_choices() -> None:
    with pytest.raises(CapabilityError, match=r"\['single', 'double'\], got 'complex64'"):
        TorchBackend(precision="complex64")
    with pytest.raises(CapabilityError, match="device must be 'cpu', 'cuda' or 'cuda:N', got 'gpu'"):
        TorchBackend(device="gpu")


def test_states_keep_the_engine_precision_and_match_the_reference() -> None:
    rng = np.random.default_rng(3)
    circuit = random_circuit(6, 30, rng)
    bindings = random_bindings(circuit, 16, rng)
    got = TorchBackend().run(circuit, bindings, ["Z0", "X3 Y5"], outputs=("state",))
    want = NumpyBackend().run(circuit, bindings, ["Z0", "X3 Y5"], outputs=("state",))
    assert got.statevectors.dtype == np.complex64
    np.testing.assert_allclose(got.statevectors, want.statevectors, atol=1e-5)
    np.testing.assert_allclose(got.expectations, want.expectations, atol=1e-5)


def test_state_preparation_after_gates_on_its_qubits_is_refused() -> None:
    circuit = Circuit(2).h(0).prepare_state("v", [0])
    with pytest.raises(CircuitError, match="before any gate"):
        TorchBackend().run(circuit, {"v": [1.0, 0.0]}, ["Z0"])


def test_plugin_registers_backend_and_framework_without_importing_torch() -> None:
    code = (
        "import sys, qstore.torch.plugin as p\n"
        "from qstore.core.plugins import isolated_registry, list_backends, list_frameworks\n"
        "assert 'torch' not in sys.modules\n"
        "with isolated_registry(p):\n"
        "    assert list_backends() == ['torch', 'torch.distributed'] and list_frameworks() == ['torch']\n"
        "    assert 'torch' not in sys.modules\n"
        "    from qstore.core import get_backend, get_framework\n"
        "    assert get_backend('torch', precision='double').dtype is get_framework('torch').TorchBackend(precision='double').dtype\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
