"""Text drawings: one row per qubit, aligned columns, controls and spans."""

from __future__ import annotations

import numpy as np

from qstore.core import Circuit
from qstore.core.drawing import draw
from qstore.core.testing import random_circuit


def test_bell_circuit_drawing() -> None:
    assert Circuit(2).h(0).cnot(0, 1).draw() == "q0: ─H──●─\nq1: ────X─"


def test_empty_circuit_has_one_labelled_row_per_qubit() -> None:
    assert draw(Circuit(3)) == "q0: \nq1: \nq2: "


def test_parallel_gates_share_a_column_and_rows_are_aligned() -> None:
    text = Circuit(2).h(0).rx("2*theta + 0.5", 1).cnot(1, 0).draw()
    rows = text.split("\n")
    assert rows == ["q0: ─────────H──────────X─", "q1: ─RX(2*theta + 0.5)──●─"]
    assert len({len(r) for r in rows}) == 1
    assert rows[0].index("H") < rows[0].index("X")
    assert rows[1].index("●") == rows[0].index("X")


def test_spanning_operations_draw_bars_across_the_middle_qubits() -> None:
    rows = Circuit(3).cnot(0, 2).swap(2, 0).rzz("a", 0, 2).ccx(2, 0, 1).draw().split("\n")
    assert rows[0] == "q0: ─●──x──RZZ(a)[0]──●─"
    assert rows[1] == "q1: ─│──│──────│──────X─"
    assert rows[2] == "q2: ─X──x──RZZ(a)[1]──●─"


def test_controlled_rotations_and_state_preparation() -> None:
    rows = Circuit(3).prepare_state("amps", [1, 2]).crx("a", 1, 0).draw().split("\n")
    assert "PREP(amps)[0]" in rows[1] and "PREP(amps)[1]" in rows[2]
    assert "RX(a)" in rows[0] and "●" in rows[1]
    assert rows[1].index("●") > rows[1].index("PREP")


def test_str_is_the_drawing_and_every_random_circuit_draws_aligned_rows() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 3, 5):
        circuit = random_circuit(n, 12, rng)
        text = str(circuit)
        assert text == circuit.draw()
        rows = text.split("\n")
        assert len(rows) == n
        assert [r[: len(f"q{q}: ")] for q, r in enumerate(rows)] == [f"q{q}: " for q in range(n)]
        assert len({len(r) for r in rows}) == 1
