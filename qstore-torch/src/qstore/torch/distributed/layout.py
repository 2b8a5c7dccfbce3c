"""Qubit layouts of a sharded state and the exchange schedule that keeps gates local.

A state of ``n`` qubits on ``P = 2**k`` ranks is stored with its qubits in some order: positions
``0 … k-1`` are *global* (they select the rank, position 0 its most significant bit), positions
``k … n-1`` are *local* axes of each rank's ``2**(n-k)`` shard. A gate whose qubits must be local
first swaps its global qubits with local ones in one all-to-all (`Exchange`), as qHiPSTER,
mpiQulacs and cuStateVec do. The victims are the local qubits needed furthest in the future
(Belady's rule), which minimises the number of exchanges for a fixed gate order.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import attrs

from qstore.core.errors import CapabilityError

__all__ = ["Exchange", "Schedule", "initial_layout", "schedule"]


@attrs.frozen
class Exchange:
    """Swap global position ``g`` with local position ``l`` for every pair, in one all-to-all.

    Pairs are sorted by global position, so the destination ranks increase with the chunk index.
    """

    pairs: tuple[tuple[int, int], ...]


@attrs.frozen
class Schedule:
    """Exchanges to perform before each op (by op index), and the layout after the last op.

    ``start``/``end`` map each qubit to its position.
    """

    start: tuple[int, ...]
    before: dict[int, Exchange]
    end: tuple[int, ...]

    @property
    def count(self) -> int:
        """Number of all-to-all exchanges the schedule performs."""
        return len(self.before)


def _uses(needs: Sequence[frozenset[int]], n_qubits: int) -> list[list[int]]:
    uses: list[list[int]] = [[] for _ in range(n_qubits)]
    for i, need in enumerate(needs):
        for q in need:
            uses[q].append(i)
    return uses


def _next_use(uses: list[list[int]], q: int, i: int) -> float:
    j = bisect.bisect_left(uses[q], i)
    return uses[q][j] if j < len(uses[q]) else float("inf")


def initial_layout(needs: Sequence[frozenset[int]], n_qubits: int, n_global: int) -> tuple[int, ...]:
    """Positions for a register still in ``|0…0>`` (any layout is free there): the ``n_global``
    qubits first needed latest become global; both groups keep ascending qubit order."""
    uses = _uses(needs, n_qubits)
    latest = sorted(range(n_qubits), key=lambda q: (-_next_use(uses, q, 0), -q))[:n_global]
    order = sorted(latest) + [q for q in range(n_qubits) if q not in latest]
    pos = [0] * n_qubits
    for p, q in enumerate(order):
        pos[q] = p
    return tuple(pos)


def schedule(needs: Sequence[frozenset[int]], start: Sequence[int], n_global: int) -> Schedule:
    """Plan the exchanges that make ``needs[i]`` local before op ``i``, starting from ``start``."""
    n = len(start)
    uses = _uses(needs, n)
    pos = list(start)
    before: dict[int, Exchange] = {}
    for i, need in enumerate(needs):
        wanted = sorted(q for q in need if pos[q] < n_global)
        if not wanted:
            continue
        free = [q for q in range(n) if pos[q] >= n_global and q not in need]
        if len(free) < len(wanted):
            raise CapabilityError(
                f"an operation on qubits {sorted(need)} needs {len(need)} local qubits but each shard "
                f"holds only {n - n_global}; use fewer ranks (world size {2**n_global}) for {n} qubits"
            )
        free.sort(key=lambda q: -_next_use(uses, q, i))
        pairs = sorted((pos[g], pos[v]) for g, v in zip(wanted, free, strict=False))
        for g, v in zip(wanted, free, strict=False):
            pos[g], pos[v] = pos[v], pos[g]
        before[i] = Exchange(tuple(pairs))
    return Schedule(tuple(start), before, tuple(pos))
