"""Backends whose capabilities declare no noise refuse noisy circuits with a clear error."""

from __future__ import annotations

import pytest

pytest.importorskip("qsimcirq")

from qstore.backends.gpu.qsim_backend import QsimBackend
from qstore.core import CapabilityError, Circuit


def test_qsim_refuses_a_noisy_circuit_and_names_the_channels() -> None:
    backend = QsimBackend()
    assert backend.capabilities.noise == ()
    noisy = Circuit(2).h(0).amplitude_damping(0.1, 0).depolarizing("p", 1)
    with pytest.raises(
        CapabilityError, match=r"does not simulate noise channels \['amplitude_damping', 'depolarizing'\]"
    ):
        backend.run(noisy, {"p": 0.2}, "Z0")
