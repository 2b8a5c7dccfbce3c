"""Circuit drawings: text wrapped to the terminal, and matplotlib figures.

Operations are packed into columns as early as possible; a multi-qubit operation draws a vertical
bar across the qubits between its targets. Measured observables, when given, close each row:
``┤ ⟨Z0⟩`` lists every observable that acts on that qubit. Long circuits wrap into blocks that each
fit ``width`` (the terminal width by default), separated by a blank line.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qstore.core.errors import CircuitError, MissingDependencyError
from qstore.core.observables import ObservableLike, as_observables

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from qstore.core.circuit import Circuit

__all__ = ["draw", "draw_mpl"]

_MIN_WIDTH = 8


def _cells(op: Any) -> dict[int, str]:
    """Symbol drawn on each qubit an operation touches."""
    from qstore.core.circuit import Operation

    qubits = op.qubits
    if isinstance(op, Operation) and op.spec.n_controls:
        n = op.spec.n_controls
        target = "X" if op.gate in ("cnot", "ccx") else op.label()[1:]
        return {**{q: "●" for q in qubits[:n]}, **{q: target for q in qubits[n:]}}
    if isinstance(op, Operation) and op.gate == "swap":
        return {q: "x" for q in qubits}
    label = op.label()
    if len(qubits) == 1:
        return {qubits[0]: label}
    return {q: f"{label}[{i}]" for i, q in enumerate(qubits)}


def _layout(circuit: Circuit) -> list[list[Any]]:
    """Operations packed into columns as early as possible; a span blocks the qubits it crosses."""
    columns: list[list[Any]] = []
    level = [0] * circuit.n_qubits
    for op in circuit.operations:
        lo, hi = min(op.qubits), max(op.qubits)
        col = max(level[q] for q in range(lo, hi + 1))
        while len(columns) <= col:
            columns.append([])
        columns[col].append(op)
        for q in range(lo, hi + 1):
            level[q] = col + 1
    return columns


def _text_column(ops: list[Any]) -> dict[int, str]:
    """The cell drawn on each qubit of one column (bars ``│`` on qubits a span crosses)."""
    column: dict[int, str] = {}
    for op in ops:
        cells = _cells(op)
        for q in range(min(op.qubits), max(op.qubits) + 1):
            column[q] = cells.get(q, "│")
    return column


def _measurements(n: int, observables: ObservableLike | Sequence[ObservableLike]) -> dict[int, str]:
    """Per qubit, the observables acting on it, as ``⟨…⟩`` labels."""
    labels: dict[int, list[str]] = {q: [] for q in range(n)}
    for obs in as_observables(observables):
        if obs.max_qubit >= n:
            raise CircuitError(f"observable {str(obs)!r} acts on qubit {obs.max_qubit}; the circuit has {n}")
        for q in sorted({q for term in obs.terms for q in term.qubits}):
            labels[q].append(f"⟨{obs}⟩")
    return {q: ", ".join(ls) for q, ls in labels.items() if ls}


def _gate_block(column: dict[int, str], n: int) -> list[str]:
    w = max((len(c) for c in column.values()), default=1)
    return ["─" + (column[q].center(w, "─") if q in column else "─" * w) + "─" for q in range(n)]


def _measure_block(cells: dict[int, str], n: int) -> list[str]:
    w = max(len(c) for c in cells.values())
    return [f"┤ {cells[q].ljust(w)}" if q in cells else " " * (w + 2) for q in range(n)]


def _fit(block: list[str], room: int) -> list[str]:
    """A block cut to ``room`` characters (an ellipsis marks the cut) when it alone is too wide."""
    if len(block[0]) <= room:
        return block
    return [row[: room - 1] + "…" for row in block]


def draw(
    circuit: Circuit,
    width: int | None = None,
    observables: ObservableLike | Sequence[ObservableLike] = (),
) -> str:
    """Render ``circuit`` as text no wider than ``width`` (default: the terminal's columns).

    ``observables`` (Pauli strings or observables, as the backends take them) are drawn at the right
    end of the rows they act on. A column wider than ``width`` on its own is cut with ``…``.
    """
    if width is None:
        width = shutil.get_terminal_size().columns
    n = circuit.n_qubits
    labels = [f"q{q}: " for q in range(n)]
    label_width = max(len(r) for r in labels)
    if isinstance(width, bool) or not isinstance(width, int) or width < label_width + _MIN_WIDTH:
        raise CircuitError(f"width must be an integer of at least {label_width + _MIN_WIDTH}, got {width!r}")
    room = width - label_width
    blocks = [_fit(_gate_block(_text_column(ops), n), room) for ops in _layout(circuit)]
    measured = _measurements(n, observables)
    if measured:
        blocks.append(_fit(_measure_block(measured, n), room))
    chunks: list[list[list[str]]] = [[]]
    used = 0
    for block in blocks:
        if chunks[-1] and used + len(block[0]) > room:
            chunks.append([])
            used = 0
        chunks[-1].append(block)
        used += len(block[0])
    return "\n\n".join(
        "\n".join(labels[q].ljust(label_width) + "".join(b[q] for b in chunk) for q in range(n))
        for chunk in chunks
    )


def draw_mpl(circuit: Circuit, observables: ObservableLike | Sequence[ObservableLike] = ()) -> Figure:
    """A matplotlib `Figure` of ``circuit``: one wire per qubit, boxed gates, controls as dots.

    Needs matplotlib (``pip install 'qstore-core[draw]'``); it is imported only here.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Circle, Rectangle
    except ImportError as exc:
        raise MissingDependencyError(
            "draw_mpl needs matplotlib: pip install 'qstore-core[draw]' (or matplotlib itself)"
        ) from exc
    from qstore.core.circuit import Operation

    n = circuit.n_qubits
    columns = _layout(circuit)
    measured = _measurements(n, observables)
    length = len(columns) + 1 + (2 if measured else 0)
    fig = Figure(figsize=(max(3.0, 1.0 + 0.9 * length), max(1.5, 0.7 * n + 0.5)))
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_xlim(-1.0, length)
    ax.set_ylim(n - 0.5, -0.7)
    for q in range(n):
        ax.plot([-0.4, len(columns) + 0.2], [q, q], color="black", lw=1, zorder=0, gid=f"wire-{q}")
        ax.text(-0.5, q, f"q{q}", ha="right", va="center")
    for x, ops in enumerate(columns, start=1):
        for op in ops:
            cells = _cells(op)
            if len(op.qubits) > 1:
                ax.plot([x, x], [min(op.qubits), max(op.qubits)], color="black", lw=1, zorder=1)
            controls = op.qubits[: op.spec.n_controls] if isinstance(op, Operation) else ()
            for q in op.qubits:
                if q in controls:
                    ax.add_patch(Circle((x, q), 0.09, color="black", zorder=3))
                    continue
                ax.add_patch(Rectangle((x - 0.4, q - 0.3), 0.8, 0.6, fc="white", ec="black", zorder=2))
                ax.text(x, q, cells[q], ha="center", va="center", fontsize=8, zorder=4, gid="gate")
    for q, text in measured.items():
        ax.text(len(columns) + 0.4, q, text, ha="left", va="center", fontsize=8, gid="measurement")
    return fig
