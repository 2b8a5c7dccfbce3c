"""A statevector sharded over the ranks of a torch.distributed process group, and its kernels.

Each rank holds ``(B, 2**L)`` amplitudes, ``L = n - k``, of ``B`` states in the qubit order of a
layout (`qstore.torch.distributed.layout`). Gates act on local axes with the torch engine's
kernels; a qubit in a global position contributes a fixed bit (this rank's), so a gate that does
not flip it (a control, a diagonal) runs without communication. `Sharded.exchange` is the only
communication of the gate sweep: one remapping, one ``all_to_all_single`` per block.

Gates and exchanges work in place, block by block (`Sharded.blocks`, at most `BLOCK` amplitudes), so
a forward pass holds one shard plus a few blocks of scratch: a 30-qubit complex64 register
(8 GiB) fits four ranks of one 24 GiB machine.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import attrs

import torch
import torch.distributed as dist
from qstore.torch.distributed.layout import Exchange
from qstore.torch.engine import apply_block

__all__ = ["BLOCK", "Block", "Comm", "Sharded"]

BLOCK = 2**22
"""Amplitudes per block of an in-place kernel or exchange (32 MiB at complex64)."""


@attrs.frozen
class Block:
    """A view of part of a shard: ``view`` is ``(B, 2, …, 2)`` over the local axes not in ``fixed``
    (axis -> this block's bit); ``axis`` maps each of those local axes to its dimension - 1."""

    view: torch.Tensor
    fixed: dict[int, int]
    axis: dict[int, int]


def _gate(view: torch.Tensor, matrix: torch.Tensor, at: Sequence[int]) -> torch.Tensor:
    """``matrix`` on dimensions ``1 + at`` of ``view`` ``(B, 2, …, 2)``, out of place (one block)."""
    b = view.shape[0]
    if list(at) == list(range(at[0], at[0] + len(at))) and view.is_contiguous():
        return apply_block(view.reshape(b, -1), matrix, at[0], len(at)).view(view.shape)
    front = list(range(1, len(at) + 1))
    moved = view.movedim([1 + a for a in at], front)
    out = matrix @ moved.reshape(b, 2 ** len(at), -1)
    return out.view(moved.shape).movedim(front, [1 + a for a in at])


@attrs.define
class Comm:
    """The process group a state is sharded over, and what crossed it (exchanges, bytes sent)."""

    group: dist.ProcessGroup | None
    rank: int
    world: int
    exchanges: int = 0
    bytes_sent: int = 0

    @property
    def n_global(self) -> int:
        """Number of global qubits, ``log2(world)``."""
        return self.world.bit_length() - 1

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the ranks in place (complex tensors as their real view)."""
        dist.all_reduce(torch.view_as_real(tensor) if tensor.is_complex() else tensor, group=self.group)
        return tensor

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """``(world, *tensor.shape)``: every rank's ``tensor``, in rank order."""
        out = torch.empty((self.world, *tensor.shape), dtype=tensor.dtype, device=tensor.device)
        real = torch.view_as_real if tensor.is_complex() else (lambda t: t)
        dist.all_gather(list(real(out).unbind(0)), real(tensor.contiguous()), group=self.group)
        return out


class Sharded:
    """This rank's shard ``tensor`` ``(B, 2**L)`` of ``B`` states, with ``pos[q]`` each qubit's position."""

    def __init__(self, tensor: torch.Tensor, pos: Sequence[int], comm: Comm) -> None:
        self.tensor = tensor
        self.pos = list(pos)
        self.comm = comm
        self.n = len(self.pos)
        self.k = comm.n_global
        self.local = self.n - self.k

    @classmethod
    def zero(
        cls,
        n_qubits: int,
        batch: int,
        pos: Sequence[int],
        comm: Comm,
        dtype: torch.dtype,
        device: torch.device,
    ) -> Sharded:
        """``|0…0>`` for every row: amplitude 1 at local index 0 of rank 0."""
        tensor = torch.zeros(batch, 2 ** (n_qubits - comm.n_global), dtype=dtype, device=device)
        if comm.rank == 0:
            tensor[:, 0] = 1
        return cls(tensor, pos, comm)

    def copy(self, tensor: torch.Tensor | None = None) -> Sharded:
        """A shard with the same layout and ``tensor`` (default: a copy of this one's)."""
        return Sharded(self.tensor.clone() if tensor is None else tensor, self.pos, self.comm)

    def is_global(self, q: int) -> bool:
        """Whether qubit ``q`` is in a global (rank-selecting) position."""
        return self.pos[q] < self.k

    def rank_bit(self, q: int) -> int:
        """This rank's bit of global qubit ``q``."""
        return (self.comm.rank >> (self.k - 1 - self.pos[q])) & 1

    def axis(self, q: int) -> int:
        """Local axis (0 = most significant bit of the shard index) of local qubit ``q``."""
        return self.pos[q] - self.k

    def bits(self, q: int) -> torch.Tensor | int:
        """Qubit ``q``'s bit for every local index (an int when ``q`` is global)."""
        if self.is_global(q):
            return self.rank_bit(q)
        idx = torch.arange(2**self.local, device=self.tensor.device)
        return (idx >> (self.local - 1 - self.axis(q))) & 1

    def canonical(self, local_index: torch.Tensor) -> torch.Tensor:
        """Basis indices (qubit 0 most significant) of local indices of this rank's shard."""
        out = torch.zeros_like(local_index)
        for q in range(self.n):
            bit = (
                self.rank_bit(q)
                if self.is_global(q)
                else (local_index >> (self.local - 1 - self.axis(q))) & 1
            )
            out |= bit << (self.n - 1 - q)
        return out

    # -- kernels ---------------------------------------------------------------------------------

    def _moved(self, tensor: torch.Tensor, axes: Sequence[int]) -> torch.Tensor:
        b = tensor.shape[0]
        view = tensor.reshape((b,) + (2,) * self.local)
        return view.movedim([1 + a for a in axes], list(range(1, len(axes) + 1))).reshape(
            b, 2 ** len(axes), -1
        )

    def _restore(self, moved: torch.Tensor, axes: Sequence[int]) -> torch.Tensor:
        b = moved.shape[0]
        view = moved.reshape((b,) + (2,) * self.local)
        return view.movedim(list(range(1, len(axes) + 1)), [1 + a for a in axes]).reshape(b, -1)

    def restricted(self, matrix: torch.Tensor, qubits: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        """``matrix`` on ``qubits`` with their global bits fixed to this rank's, and the local axes.

        Valid for matrices that do not flip a global qubit (controls, diagonals, local targets).
        """
        glob = [(j, self.rank_bit(q)) for j, q in enumerate(qubits) if self.is_global(q)]
        local = [j for j, q in enumerate(qubits) if not self.is_global(q)]
        if glob:
            width = len(qubits)
            sel = []
            for s in range(2 ** len(local)):
                index = 0
                for j, bit in glob:
                    index |= bit << (width - 1 - j)
                for i, j in enumerate(local):
                    index |= ((s >> (len(local) - 1 - i)) & 1) << (width - 1 - j)
                sel.append(index)
            idx = torch.tensor(sel, device=matrix.device)
            matrix = matrix[..., idx, :][..., :, idx]
        return matrix, [self.axis(qubits[j]) for j in local]

    def blocks(self, tensor: torch.Tensor, keep: Sequence[int]) -> Iterator[Block]:
        """Views of ``tensor`` of at most about `BLOCK` amplitudes that each hold local ``keep`` axes whole.

        The most significant other axes are fixed block by block, so a kernel working block by
        block in place needs scratch memory of one block, not of the shard.
        """
        b = tensor.shape[0]
        view = tensor.view((b,) + (2,) * self.local)
        free = [a for a in range(self.local) if a not in keep]
        fixed = free[: max(0, min(len(free), self.local - max(BLOCK // b, 1).bit_length() + 1))]
        rest = [a for a in range(self.local) if a not in fixed]
        moved = view.movedim([1 + a for a in fixed], list(range(len(fixed))))
        for bits in itertools.product((0, 1), repeat=len(fixed)):
            yield Block(moved[bits], dict(zip(fixed, bits, strict=True)), {a: i for i, a in enumerate(rest)})

    def apply(
        self, matrix: torch.Tensor, qubits: Sequence[int], tensor: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``matrix`` (``(d, d)`` or ``(B, d, d)``) applied in place on ``qubits`` of ``tensor`` (default: the shard)."""
        state = self.tensor if tensor is None else tensor
        m, axes = self.restricted(matrix, qubits)
        if not axes:
            return state.mul_(m[..., 0, :1] if m.dim() == 3 else m[0, 0])
        for block in self.blocks(state, axes):
            at = [block.axis[a] for a in axes]
            block.view.copy_(_gate(block.view, m, at))
        return state

    def spread(self, values: torch.Tensor, qubits: Sequence[int]) -> torch.Tensor:
        """``(B, 2**len(qubits))`` values of a diagonal on ``qubits`` (this rank's global bits fixed),
        shaped to broadcast against the shard viewed as ``(B, 2, …, 2)``."""
        table = values.reshape((values.shape[0],) + (2,) * len(qubits))
        table = table[
            (slice(None), *(self.rank_bit(q) if self.is_global(q) else slice(None) for q in qubits))
        ]
        local = [q for q in qubits if not self.is_global(q)]
        order = sorted(range(len(local)), key=lambda i: self.axis(local[i]))
        shape = [table.shape[0]] + [1] * self.local
        for q in local:
            shape[1 + self.axis(q)] = 2
        return table.permute([0] + [1 + i for i in order]).reshape(shape)

    def apply_diagonal(
        self, phases: torch.Tensor, qubits: Sequence[int], tensor: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Multiply in place by ``phases`` ``(B, 2**len(qubits))`` of a diagonal gate on ``qubits``; no communication."""
        state = self.tensor if tensor is None else tensor
        state.view((state.shape[0],) + (2,) * self.local).mul_(self.spread(phases, qubits))
        return state

    def load(self, amplitudes: torch.Tensor, qubits: Sequence[int]) -> torch.Tensor:
        """Load ``(B, 2**p)`` amplitudes into local ``qubits`` that are still ``|0…0>``."""
        axes = [self.axis(q) for q in qubits]
        rest = self._moved(self.tensor, axes)[:, :1, :]
        return self._restore(amplitudes.to(self.tensor.dtype)[:, :, None] * rest, axes)

    def matrix_grad(self, lam: torch.Tensor, psi: torch.Tensor, qubits: Sequence[int]) -> torch.Tensor:
        """This rank's part of ``2·Σ λ ψᴴ`` over the other qubits: ``(B, d, d)`` for local ``qubits``."""
        axes = [self.axis(q) for q in qubits]
        return 2 * self._moved(lam, axes) @ self._moved(psi, axes).mH

    def diagonal_grad(self, lam: torch.Tensor, psi: torch.Tensor, qubits: Sequence[int]) -> torch.Tensor:
        """This rank's part of the gradient of ``2·Re<λ|D ψ>`` with respect to the phases of ``D``."""
        b = lam.shape[0]
        out = torch.zeros((b,) + (2,) * len(qubits), dtype=lam.dtype, device=lam.device)
        local = [q for q in qubits if not self.is_global(q)]
        axes = {self.axis(q) for q in local}
        product = (2 * lam * psi.conj()).view((b,) + (2,) * self.local)
        others = [1 + a for a in range(self.local) if a not in axes]
        summed = product.sum(dim=others) if others else product
        by_axis = sorted(local, key=self.axis)
        summed = summed.reshape((b,) + (2,) * len(local)).permute([0] + [1 + by_axis.index(q) for q in local])
        out[(slice(None), *(self.rank_bit(q) if self.is_global(q) else slice(None) for q in qubits))] = summed
        return out.reshape(b, -1)

    # -- communication ---------------------------------------------------------------------------

    def exchange(self, exchange: Exchange, tensors: Sequence[torch.Tensor] | None = None) -> None:
        """Swap the exchange's global/local position pairs in place, block by block (`blocks`).

        ``tensors`` (default: the shard) share this layout; the layout is updated once for all.
        The part of a block whose exchanged local bits equal ``c`` goes to the rank whose global
        bits equal ``c``, and that rank's part with local bits equal to this rank's global bits
        lands in its place: one ``all_to_all_single`` per block, scratch memory of two blocks.
        """
        comm = self.comm
        m = len(exchange.pairs)
        axes = [p - self.k for _, p in exchange.pairs]
        bits = [self.k - 1 - g for g, _ in exchange.pairs]
        base = comm.rank
        for b in bits:
            base &= ~(1 << b)
        dests = []
        for c in range(2**m):
            d = base
            for i, b in enumerate(bits):
                d |= ((c >> (m - 1 - i)) & 1) << b
            dests.append(d)
        for tensor in [self.tensor] if tensors is None else tensors:
            for block in self.blocks(tensor, axes):
                moved = block.view.movedim([1 + block.axis[a] for a in axes], list(range(m)))
                send = moved.contiguous()
                received = torch.empty_like(send)
                chunk = 2 * send.numel() // 2**m
                splits = [0] * comm.world
                for d in dests:
                    splits[d] = chunk
                dist.all_to_all_single(
                    torch.view_as_real(received).reshape(-1),
                    torch.view_as_real(send).reshape(-1),
                    splits,
                    splits,
                    group=comm.group,
                )
                moved.copy_(received)
                comm.bytes_sent += (2**m - 1) * chunk * send.real.element_size()
        at = {p: q for q, p in enumerate(self.pos)}
        for g, p in exchange.pairs:
            self.pos[at[g]], self.pos[at[p]] = p, g
        comm.exchanges += 1

    def full(self, tensor: torch.Tensor | None = None) -> torch.Tensor:
        """The whole ``(B, 2**n)`` states in canonical qubit order, on every rank (small registers only)."""
        parts = self.comm.all_gather(self.tensor if tensor is None else tensor)
        b = parts.shape[1]
        view = parts.reshape((2,) * self.k + (b,) + (2,) * self.local)
        dims = [self.k] + [p if p < self.k else p + 1 for p in self.pos]
        return view.permute(dims).reshape(b, -1)
