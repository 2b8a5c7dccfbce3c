"""Text drawings of circuits: one row per qubit, operations packed into columns as early as possible."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qstore.core.circuit import Circuit

__all__ = ["draw"]


def _cells(op: object) -> dict[int, str]:
    """Symbol drawn on each qubit an operation touches."""
    from qstore.core.circuit import Operation

    qubits = op.qubits  # type: ignore[attr-defined]
    if isinstance(op, Operation) and op.spec.n_controls:
        n = op.spec.n_controls
        target = "X" if op.gate in ("cnot", "ccx") else op.label()[1:]
        return {**{q: "●" for q in qubits[:n]}, **{q: target for q in qubits[n:]}}
    if isinstance(op, Operation) and op.gate == "swap":
        return {q: "x" for q in qubits}
    label = op.label()  # type: ignore[attr-defined]
    if len(qubits) == 1:
        return {qubits[0]: label}
    return {q: f"{label}[{i}]" for i, q in enumerate(qubits)}


def draw(circuit: Circuit) -> str:
    """Render ``circuit`` as text; vertical bars join the qubits of a multi-qubit operation."""
    n = circuit.n_qubits
    columns: list[dict[int, str]] = []
    level = [0] * n
    for op in circuit.operations:
        lo, hi = min(op.qubits), max(op.qubits)
        col = max(level[q] for q in range(lo, hi + 1))
        while len(columns) <= col:
            columns.append({})
        cells = _cells(op)
        for q in range(lo, hi + 1):
            columns[col][q] = cells.get(q, "│")
            level[q] = col + 1
    rows = [f"q{q}: " for q in range(n)]
    width = max(len(r) for r in rows)
    rows = [r.ljust(width) for r in rows]
    for column in columns:
        w = max((len(c) for c in column.values()), default=1)
        for q in range(n):
            cell = column.get(q)
            rows[q] += "─" + (cell.center(w, "─") if cell else "─" * w) + "─"
    return "\n".join(rows)
