"""``ionq.simulator`` on the fake server passes the core conformance kit (statistically)."""

from __future__ import annotations

import pytest
from fake_ionq import API_KEY

from qstore.core.testing import BackendConformance

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


class TestIonQSimulatorConformance(BackendConformance):
    atol = 1e-9
    shots = 4000

    @pytest.fixture
    def backend(self, fake):
        from qstore.backends.ionq.backend import IonQBackend

        return IonQBackend(
            "simulator",
            api_key=API_KEY,
            url=fake.url,
            poll_interval=0.005,
            max_poll_interval=0.05,
            timeout=120,
        )
