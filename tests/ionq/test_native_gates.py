"""The core table's IonQ natives mean what qiskit-ionq's gates mean (its matrices, its bit order)."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import GATES

SWAP = GATES["swap"].matrix()


@pytest.mark.parametrize("phase", [0.0, 0.125, 0.3, -0.7])
def test_single_qubit_natives_match_qiskit_ionq(phase: float) -> None:
    from qiskit_ionq import GPI2Gate, GPIGate

    np.testing.assert_allclose(GATES["gpi"].matrix(phase), np.asarray(GPIGate(phase).to_matrix()), atol=1e-12)
    np.testing.assert_allclose(
        GATES["gpi2"].matrix(phase), np.asarray(GPI2Gate(phase).to_matrix()), atol=1e-12
    )


@pytest.mark.parametrize(("phi0", "phi1", "theta"), [(0.0, 0.0, 0.25), (0.1, 0.35, 0.2), (0.9, 0.5, 0.05)])
def test_two_qubit_natives_match_qiskit_ionq(phi0: float, phi1: float, theta: float) -> None:
    from qiskit_ionq import MSGate, ZZGate

    # qiskit matrices are little-endian (qubit 0 least significant); the core's first target is the MSB
    ms = np.asarray(MSGate(phi0, phi1, theta).to_matrix())
    np.testing.assert_allclose(GATES["ms"].matrix(phi0, phi1, theta), SWAP @ ms @ SWAP, atol=1e-12)
    zz = np.asarray(ZZGate(theta).to_matrix())
    np.testing.assert_allclose(GATES["zz"].matrix(theta), SWAP @ zz @ SWAP, atol=1e-12)
