"""Noise channels in the IR: Kraus table, superoperator basis, validation, JSON, gradient rules."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import CHANNELS, Channel, Circuit
from qstore.core.channels import basis_values, check_kraus, superoperator, superoperator_basis
from qstore.core.errors import BindingError, CircuitError, CircuitFormatError, GradientError
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.serialization import circuit_from_json

STRENGTHS = [0.0, 0.13, 0.5, 0.87, 1.0]


@pytest.mark.parametrize("name", sorted(CHANNELS))
@pytest.mark.parametrize("p", STRENGTHS)
def test_kraus_operators_are_complete(name: str, p: float) -> None:
    ops = np.stack(CHANNELS[name].kraus(p))
    assert np.allclose(np.einsum("kji,kjl->il", ops.conj(), ops), np.eye(2), atol=1e-12)


@pytest.mark.parametrize("name", sorted(CHANNELS))
@pytest.mark.parametrize("p", [0.02, 0.31, 0.66, 0.999])
def test_superoperator_basis_reproduces_the_kraus_sum(name: str, p: float) -> None:
    direct = sum(np.kron(k, k.conj()) for k in CHANNELS[name].kraus(p))
    rebuilt = np.einsum("j,jkl->kl", basis_values(np.array(p)), superoperator_basis(name))
    assert np.allclose(rebuilt, direct, atol=1e-13)


def test_depolarizing_closed_form_is_nielsen_chuang() -> None:
    rho = np.array([[0.7, 0.2 - 0.1j], [0.2 + 0.1j, 0.3]])
    out = sum(k @ rho @ k.conj().T for k in CHANNELS["depolarizing"].kraus(0.4))
    assert np.allclose(out, 0.6 * rho + 0.4 * np.eye(2) / 2)


def test_kraus_channel_checks_completeness_and_shape() -> None:
    check_kraus([np.eye(2)], 1)
    with pytest.raises(CircuitError, match="not complete"):
        Circuit(1).kraus([0.9 * np.eye(2)], 0)
    with pytest.raises(CircuitError, match="4x4"):
        Circuit(2).kraus([np.eye(2)], 0, 1)
    with pytest.raises(CircuitError, match="no strengths"):
        Channel("kraus", (0,), (0.1,), kraus=[np.eye(2)])


def test_channel_arguments_are_validated() -> None:
    with pytest.raises(CircuitError, match="unknown channel 'dampen'"):
        Circuit(1).channel("dampen", 0, strength=0.1)
    with pytest.raises(CircuitError, match=r"strength must be in \[0, 1\], got 1.5"):
        Circuit(1).amplitude_damping(1.5, 0)
    with pytest.raises(CircuitError, match="acts on 1 qubit"):
        Channel("bit_flip", (0, 1), (0.1,))
    with pytest.raises(CircuitError, match="takes 1 strength"):
        Circuit(1).channel("bit_flip", 0)
    with pytest.raises(CircuitError, match="not invertible"):
        Circuit(1).h(0).phase_flip(0.1, 0).inverse()


def test_symbolic_strength_is_checked_when_bound() -> None:
    c = Circuit(1).amplitude_damping("g", 0)
    with pytest.raises(BindingError, match=r"strength 1.2 in batch row 1.*\[0, 1\]"):
        NumpyBackend().run(c, {"g": [0.5, 1.2]}, "Z0")


def test_superoperator_of_a_named_channel_is_batched() -> None:
    op = Channel("phase_damping", (0,), ("lam",))
    s = superoperator(op, [np.array([0.0, 0.36])])
    assert s.shape == (2, 4, 4)
    assert np.allclose(np.diag(s[1]), [1, 0.8, 0.8, 1])


def test_json_round_trip_with_channels_is_version_2() -> None:
    kraus = [np.sqrt(0.5) * np.eye(2), np.sqrt(0.5) * np.array([[0, -1j], [1j, 0]])]
    c = Circuit(2).h(0).amplitude_damping("2*g", 0).depolarizing(0.1, 1).kraus(kraus, 1)
    assert c.to_dict()["format"] == "qstore.circuit/2"
    back = Circuit.from_json(c.to_json())
    assert back == c
    assert back.hash == c.hash


def test_old_format_documents_still_load_and_cannot_hold_channels() -> None:
    old = '{"format": "qstore.circuit/1", "n_qubits": 1, "operations": [{"gate": "rx", "qubits": [0], "params": [0.5]}]}'
    assert circuit_from_json(old) == Circuit(1).rx(0.5, 0)
    noisy = '{"format": "qstore.circuit/1", "n_qubits": 1, "operations": [{"gate": "bit_flip", "qubits": [0], "params": [0.1]}]}'
    with pytest.raises(CircuitFormatError, match=r"operations\[0\]\.gate: channel 'bit_flip' needs format"):
        circuit_from_json(noisy)


def test_bad_channel_json_names_the_field() -> None:
    head = '{"format": "qstore.circuit/2", "n_qubits": 1, "operations": ['
    with pytest.raises(CircuitFormatError, match=r"operations\[0\]\.params: channel 'phase_flip' takes one"):
        circuit_from_json(head + '{"gate": "phase_flip", "qubits": [0], "params": []}]}')
    with pytest.raises(CircuitFormatError, match=r"operations\[0\]\.kraus: expected a list of matrices"):
        circuit_from_json(head + '{"gate": "kraus", "qubits": [0], "kraus": [[1, 0], [0, 1]]}]}')
    with pytest.raises(CircuitFormatError, match="not complete"):
        circuit_from_json(
            head + '{"gate": "kraus", "qubits": [0], "kraus": [[[[1, 0], [0, 0]], [[0, 0], [0, 0]]]]}]}'
        )


def test_parameter_shift_refuses_channel_strengths() -> None:
    c = Circuit(1).rx("t", 0).amplitude_damping("g", 0)
    with pytest.raises(GradientError, match="no parameter-shift rule"):
        NumpyBackend().gradient(c, {"t": 0.3, "g": 0.2}, "Z0", method="parameter-shift")
    grads = NumpyBackend().gradient(c, {"t": 0.3, "g": 0.2}, "Z0", method="parameter-shift", wrt=["t"])
    assert np.allclose(grads["t"], -np.sin(0.3) * 0.8)


def test_drawing_labels_channels() -> None:
    text = Circuit(1).amplitude_damping("g", 0).kraus([np.eye(2)], 0).draw(width=80)
    assert "AD(g)" in text and "KRAUS" in text
