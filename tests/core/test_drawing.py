"""Text drawings: one row per qubit, aligned columns, controls and spans."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Circuit, CircuitError
from qstore.core.drawing import draw, draw_mpl
from qstore.core.templates import strongly_entangling_layers
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
        assert str(circuit) == circuit.draw()
        rows = circuit.draw(width=10_000).split("\n")
        assert len(rows) == n
        assert [r[: len(f"q{q}: ")] for q, r in enumerate(rows)] == [f"q{q}: " for q in range(n)]
        assert len({len(r) for r in rows}) == 1


def _long_circuit() -> Circuit:
    return strongly_entangling_layers(4, n_layers=6, imprimitive="cz").circuit.swap(0, 3)


@pytest.mark.parametrize("width", [30, 57, 80, 124])
def test_wrapped_lines_never_exceed_the_width_and_every_gate_appears(width: int) -> None:
    circuit = _long_circuit()
    text = circuit.draw(width=width)
    assert max(len(line) for line in text.split("\n")) <= width
    chunks = text.split("\n\n")
    assert len(chunks) > 1
    rows = [chunk.split("\n") for chunk in chunks]
    assert all(len(r) == 4 and [line[:4] for line in r] == ["q0: ", "q1: ", "q2: ", "q3: "] for r in rows)
    unwrapped = "\n".join("".join(r[q][4:] for r in rows) for q in range(4))
    assert unwrapped == "\n".join(row[4:] for row in circuit.draw(width=10_000).split("\n"))
    for op in circuit.operations:
        if op.params:  # every rotation has its own symbol, so its label appears exactly once
            assert text.count(op.label()) == 1
    assert text.count("●") == 6 * 4 and text.count("Z") == 6 * 4 * 2 + 6 * 4 and text.count("x") == 2


def test_default_width_is_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    assert max(len(line) for line in draw(_long_circuit()).split("\n")) <= 40


def test_a_column_wider_than_the_width_is_cut_with_an_ellipsis() -> None:
    text = Circuit(1).rx("2*a_very_long_symbol_name + 0.5", 0).draw(width=20)
    assert text == "q0: ─RX(2*a_very_lo…"
    with pytest.raises(CircuitError, match="width must be an integer of at least 12, got 5"):
        Circuit(1).h(0).draw(width=5)


def test_measured_observables_close_the_rows_they_act_on() -> None:
    text = Circuit(3).h(0).cnot(0, 1).draw(observables=["Z0", "0.5*Z0 Z1", "X2"])
    assert text.split("\n") == [
        "q0: ─H──●─┤ ⟨Z0⟩, ⟨0.5*Z0 Z1⟩",
        "q1: ────X─┤ ⟨0.5*Z0 Z1⟩      ",
        "q2: ──────┤ ⟨X2⟩             ",
    ]
    with pytest.raises(CircuitError, match="acts on qubit 3; the circuit has 3"):
        Circuit(3).draw(observables=["Z3"])


def test_draw_mpl_has_one_wire_per_qubit_and_every_gate() -> None:
    pytest.importorskip("matplotlib", reason="draw_mpl needs matplotlib (qstore-core[draw])")
    from matplotlib.figure import Figure

    circuit = Circuit(3).h(0).cnot(0, 2).ry("theta", 1).crz("a", 1, 0).swap(1, 2)
    fig = draw_mpl(circuit, observables=["Z0", "X1 X2"])
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    wires = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("wire-")]
    assert sorted(line.get_gid() for line in wires) == ["wire-0", "wire-1", "wire-2"]
    gates = [t.get_text() for t in ax.texts if t.get_gid() == "gate"]
    assert sorted(gates) == sorted(["H", "X", "RY(theta)", "RZ(a)", "x", "x"])
    measured = {t.get_text() for t in ax.texts if t.get_gid() == "measurement"}
    assert measured == {"⟨Z0⟩", "⟨X1 X2⟩"}
