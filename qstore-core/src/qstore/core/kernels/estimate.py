"""`KernelEstimate`: what a kernel block would cost — circuits, shots, USD, seconds — before it runs.

Circuits follow the kernel's path: one simulation per sample on the statevector path, one overlap
circuit per entry (``i < j`` only when symmetric) on the overlap path. With a kernel ``store`` and
the data itself, `plan_kernel` counts what is already stored and only the rest is priced.

USD comes from the backend's `Capabilities.cost_model` (0 without one: local simulators are free).
Seconds come from the router (`qstore.core.routing.route` on this one backend): its calibrated
speed models when this machine has a profile (``qstore calibrate``), else its documented defaults,
and queue plus per-shot time on remote backends. They cover circuit execution only; the
statevector path's Gram product (``n·m·2**n_qubits`` complex multiply-adds) is not included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np

from qstore.core.circuit import Circuit
from qstore.core.kernels import overlap
from qstore.core.kernels.store import KernelStats
from qstore.core.routing import route
from qstore.core.routing_policy import Policy
from qstore.core.routing_workload import Workload

if TYPE_CHECKING:
    from qstore.core.kernels.kernel import QuantumKernel

__all__ = ["KernelEstimate", "estimate_block", "size_stats"]


@attrs.frozen
class KernelEstimate:
    """The price of one kernel block on one backend; ``str()`` is a one-line summary.

    ``stats`` counts entries, distinct pairs, reused (from a store), computed and circuits;
    ``shots`` is per circuit (None: exact) and ``total_shots`` over all circuits;
    ``calibrated`` says whether ``seconds`` come from a measured router profile or its defaults.
    """

    backend: str
    method: str
    shape: tuple[int, int]
    stats: KernelStats
    shots: int | None
    total_shots: int | None
    usd: float
    seconds: float
    calibrated: bool

    def __str__(self) -> str:
        n, m = self.shape
        s = self.stats
        shots = "exact" if self.shots is None else f"{self.shots:,} shots each, {self.total_shots:,} in all"
        reused = f"; {s.reused:,} of {s.unique:,} distinct entries reused from the store" if s.reused else ""
        source = "calibrated router profile" if self.calibrated else "router defaults"
        return (
            f"{n}×{m} kernel on {self.backend} ({self.method}): {s.circuits:,} circuits ({shots}), "
            f"${self.usd:,.2f}, ~{self.seconds:.3g} s ({source}){reused}"
        )


def size_stats(kernel: QuantumKernel, n_rows: int, n_cols: int | None) -> KernelStats:
    """What ``kernel`` pays for an ``n_rows × n_cols`` block without a store (``n_cols=None``: symmetric)."""
    entries = n_rows * (n_rows if n_cols is None else n_cols)
    unique = n_rows * (n_rows - 1) // 2 if n_cols is None else entries
    circuits = n_rows + (n_cols or 0) if kernel.resolved_method == "statevector" else unique
    return KernelStats(entries, unique, 0, unique, circuits)


def _circuit(kernel: QuantumKernel) -> Circuit:
    if kernel.resolved_method == "statevector":
        return kernel.feature_map.circuit
    return overlap.overlap_circuit(kernel.feature_map)


def _outputs(kernel: QuantumKernel) -> tuple[str, ...]:
    if kernel.resolved_method == "statevector":
        return ("state",)
    return ("probabilities",) if kernel.shots is None else ("samples",)


def estimate_block(kernel: QuantumKernel, shape: tuple[int, int], stats: KernelStats) -> KernelEstimate:
    """Price ``stats.circuits`` circuits of ``kernel``'s path on its backend (see the module)."""
    circuits, shots = stats.circuits, kernel.shots
    total_shots = None if shots is None else circuits * shots
    method = kernel.resolved_method
    if circuits == 0:
        return KernelEstimate(kernel.backend.name, method, shape, stats, shots, total_shots, 0.0, 0.0, False)
    circuit = _circuit(kernel)
    model = kernel.backend.capabilities.cost_model
    usd = 0.0 if model is None else float(model.estimate(circuit, circuits, shots))
    batch = min(kernel.batch_size, circuits)
    workload = Workload.from_circuit(
        circuit,
        {name: np.zeros(batch) for name in circuit.symbols},
        n_observables=0,
        shots=shots,
        outputs=_outputs(kernel),
        samples=circuits,
    )
    policy = Policy(allow_hardware=True, latency="batch")
    decision = route(workload, policy, backends=[kernel.backend], circuit=circuit)
    return KernelEstimate(
        kernel.backend.name,
        method,
        shape,
        stats,
        shots,
        total_shots,
        usd,
        decision.seconds,
        decision.calibrated,
    )
