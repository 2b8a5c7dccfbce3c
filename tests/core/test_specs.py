"""Resource reports against hand-counted circuits, and backend price estimates."""

from __future__ import annotations

import attrs
import pytest

from qstore.core import Capabilities, Circuit, CircuitError, NumpyBackend
from qstore.core.specs import circuit_specs, estimate


def test_hand_counted_circuit() -> None:
    # q0: H ─●─ RY(2a+1) ─────────●─
    # q1: ───X─ RZZ(b)[0] ─ CCX ──X─   (depth 5: H, CNOT, RY/RZZ, CCX, CNOT)
    # q2: ───── RZZ(b)[1] ─ CCX ── RX(0.5)
    circuit = Circuit(3).h(0).cnot(0, 1).ry("2*a + 1", 0).rzz("b", 1, 2).ccx(0, 2, 1).cnot(0, 1).rx(0.5, 2)
    s = circuit.specs()
    assert s == circuit_specs(circuit)
    assert (s.n_qubits, s.depth, s.n_operations) == (3, 5, 7)
    assert dict(s.gate_counts) == {"ccx": 1, "cnot": 2, "h": 1, "rx": 1, "ry": 1, "rzz": 1}
    assert dict(s.arity_counts) == {1: 3, 2: 3, 3: 1}
    assert s.n_parameters == 2  # RX(0.5) is a fixed angle
    assert s.symbols == ("a", "b") and s.inputs == () and s.weights == ("a", "b")


def test_inputs_split_symbols_and_state_preparation_counts_as_an_input() -> None:
    circuit = Circuit(3).prepare_state("amps", [0, 1]).ry("x_0", 2).rz("w", 2).rz("w", 0)
    s = circuit.specs(inputs=["x_0"])
    assert s.inputs == ("x_0", "amps") and s.weights == ("w",) and s.n_parameters == 3
    assert dict(s.arity_counts) == {1: 3, 2: 1} and s.gate_counts["state_prep"] == 1
    with pytest.raises(CircuitError, match=r"inputs \['y'\] do not appear in the circuit"):
        circuit.specs(inputs=["y"])


def test_str_is_readable() -> None:
    text = str(Circuit(2).h(0).cnot(0, 1).ry("theta", 1).specs())
    assert text.split("\n") == [
        "qubits: 2  depth: 3  operations: 3",
        "gates: cnot 1, h 1, ry 1",
        "by arity: 1-qubit 2, 2-qubit 1",
        "parameters: 1 angle(s) over 1 symbol(s); inputs: none",
    ]
    assert "gates: none" in str(Circuit(1).specs())


@attrs.frozen
class _PerGateShot:
    """A cost model pricing every gate execution of every shot."""

    usd_per_gate_shot: float

    def estimate(self, circuit: Circuit, batch_size: int, shots: int | None) -> float:
        return self.usd_per_gate_shot * len(circuit.operations) * (shots or 1) * batch_size


class _PricedNumpy(NumpyBackend):
    @property
    def capabilities(self) -> Capabilities:
        return attrs.evolve(super().capabilities, name="priced", cost_model=_PerGateShot(1e-4))


def test_estimate_prices_with_the_backends_cost_model_and_leaves_seconds_to_the_router() -> None:
    circuit = Circuit(2).h(0).cnot(0, 1).ry("t", 1)
    est = estimate(circuit, _PricedNumpy(), batch_size=10, shots=1000)
    assert est.usd == pytest.approx(1e-4 * 3 * 1000 * 10)
    assert est.seconds is None and est.backend == "priced" and est.specs == circuit.specs()
    assert "USD $3.00" in str(est) and "10 binding(s), 1000 shots" in str(est)


def test_estimate_without_a_cost_model_reports_no_price() -> None:
    est = estimate(Circuit(1).h(0), "numpy")
    assert est.usd is None and est.backend == "numpy"
    assert "n/a (no cost model)" in str(est) and "the router estimates run time" in str(est)
    with pytest.raises(CircuitError, match="batch_size must be a positive integer, got 0"):
        estimate(Circuit(1), "numpy", batch_size=0)
