"""The torch.distributed backend against the NumPy reference, on 2 and 4 gloo ranks (loopback)."""

from __future__ import annotations

import numpy as np
import pytest

from qstore.core import Circuit
from qstore.core.errors import CapabilityError
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.plan import compile_plan
from qstore.torch.distributed import DistributedBackend, plan_schedule, spawn
from qstore.torch.distributed.layout import initial_layout, schedule

ONE = ("rx", "ry", "rz", "h", "t", "sx")
TWO_PARAM = ("crx", "cry", "crz", "rzz", "rxx", "ryy")
FIXED = ("cnot", "cz", "swap", "cy", "iswap")


def random_circuit(n: int, depth: int, seed: int) -> Circuit:
    """Layers of random one-qubit gates, parametric two-qubit gates and fixed entanglers."""
    rng = np.random.default_rng(seed)
    c = Circuit(n)
    k = 0
    for _ in range(depth):
        for q in range(n):
            gate = ONE[rng.integers(len(ONE))]
            c = c.gate(gate, q, params=(f"t{k}",)) if gate in ("rx", "ry", "rz") else c.gate(gate, q)
            k += gate in ("rx", "ry", "rz")
        for _ in range(n // 2):
            a, b = (int(x) for x in rng.choice(n, 2, replace=False))
            c = c.gate(TWO_PARAM[rng.integers(len(TWO_PARAM))], a, b, params=(f"t{k}",))
            k += 1
            a, b = (int(x) for x in rng.choice(n, 2, replace=False))
            c = c.gate(FIXED[rng.integers(len(FIXED))], a, b)
        a, b, t = (int(x) for x in rng.choice(n, 3, replace=False))
        c = c.ccx(a, b, t)
    return c


def bindings(circuit: Circuit, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {s: rng.uniform(-np.pi, np.pi, batch) for s in circuit.symbols}


OBSERVABLES = ["Z0", "Z1 Z5", "X2", "0.5*Y3 X7 - 0.2*Z9", "X0 Y1 Z2"]


def _agree(rank: int, world: int, n: int, precision: str, block: int | None = None) -> None:
    if block is not None:
        monkeypatch_block(block)
    tol = 1e-10 if precision == "double" else 1e-5
    circuit = random_circuit(n, 3, seed=n)
    values = bindings(circuit, 3, seed=1)
    ref = NumpyBackend().run(circuit, values, OBSERVABLES, outputs=("state",))
    backend = DistributedBackend(precision=precision)
    got = backend.run(circuit, values, OBSERVABLES, outputs=("state",))
    np.testing.assert_allclose(got.statevectors, ref.statevectors, atol=tol)
    np.testing.assert_allclose(got.expectations, ref.expectations, atol=tol)
    assert got.metadata is not None and got.metadata.extra["exchanges"] > 0
    if precision == "double":
        cot = np.random.default_rng(2).normal(size=(3, len(OBSERVABLES)))
        want = NumpyBackend().gradient(circuit, values, OBSERVABLES, cot, method="parameter-shift")
        grads = backend.gradient(circuit, values, OBSERVABLES, cot, method="adjoint")
        for name in circuit.symbols:
            np.testing.assert_allclose(grads[name], want[name], atol=tol)


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 4])
def test_states_expectations_and_adjoint_gradients_match_numpy_double(world: int) -> None:
    spawn(_agree, world, 10, "double", timeout=300)


@pytest.mark.slow
def test_single_precision_matches_numpy_on_four_ranks() -> None:
    spawn(_agree, 4, 11, "single", timeout=300)


def monkeypatch_block(amplitudes: int) -> None:
    """Make in-place kernels and exchanges work in blocks of ``amplitudes`` (in this rank only)."""
    from qstore.torch.distributed import shards

    shards.BLOCK = amplitudes


@pytest.mark.slow
def test_kernels_and_exchanges_in_small_blocks_match_numpy() -> None:
    # 10 qubits on 2 ranks hold 512 amplitudes per row; blocks of 16 split every gate, diagonal,
    # readout and exchange into 32 in-place pieces, as a 30-qubit shard is split into 64
    spawn(_agree, 2, 10, "double", 16, timeout=300)


def _samples(rank: int, world: int) -> None:
    circuit = Circuit(6).h(0).ry(0.7, 1).cnot(0, 2).rx(1.1, 5).cnot(5, 3).ry(0.3, 4)
    probs = NumpyBackend().run(circuit, outputs=("probabilities",)).probabilities[0]
    shots = 40_000
    result = DistributedBackend(precision="double").run(circuit, shots=shots, seed=11)
    again = DistributedBackend(precision="double").run(circuit, shots=shots, seed=11)
    np.testing.assert_array_equal(result.samples, again.samples)
    counts = np.bincount(result.samples[0], minlength=64) / shots
    # five standard deviations of a binomial frequency, per outcome
    assert np.all(np.abs(counts - probs) <= 5 * np.sqrt(probs * (1 - probs) / shots) + 1e-12)
    est = DistributedBackend(precision="double").run(circuit, None, ["Z0 Z2", "X5"], shots=shots, seed=3)
    exact = NumpyBackend().run(circuit, None, ["Z0 Z2", "X5"]).expectations
    assert np.all(np.abs(est.expectations - exact) <= 5 / np.sqrt(shots))


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 4])
def test_samples_follow_the_reference_probabilities(world: int) -> None:
    spawn(_samples, world, timeout=300)


def layered(n: int) -> Circuit:
    """ry, an H layer, CNOTs on pairs, an RX layer: the plan has two 3-qubit blocks per layer."""
    c = Circuit(n).ry("a", 0)
    for q in range(n):
        c = c.h(q)
    for q in range(0, n, 2):
        c = c.cnot(q, q + 1)
    for q in range(n):
        c = c.rx(0.2, q)
    return c


def _exchange_count(rank: int, world: int) -> None:
    # 6 qubits on 4 ranks (4 local): each rotation layer is blocks (0,1,2) and (3,4,5), which
    # cannot be local at once, so each layer needs one exchange inside it, and the CNOT run in
    # between (targets 1, 3, 5 only) one more to bring (0,1,2) back: 3 is the minimum.
    circuit = layered(6)
    sched = plan_schedule(compile_plan(circuit, per_gate=True), 2)
    result = DistributedBackend(precision="double").run(circuit, {"a": [0.3]}, "Z5")
    assert result.metadata.extra["exchanges"] == sched.count == 3
    ref = NumpyBackend().run(circuit, {"a": [0.3]}, "Z5").expectations
    np.testing.assert_allclose(result.expectations, ref, atol=1e-12)


@pytest.mark.slow
def test_exchange_count_equals_the_planned_count() -> None:
    spawn(_exchange_count, 4, timeout=120)


def _batch_mode(rank: int, world: int) -> None:
    circuit = random_circuit(6, 2, seed=5)
    values = bindings(circuit, 7, seed=4)
    backend = DistributedBackend(precision="double", mode="batch")
    got = backend.run(circuit, values, OBSERVABLES[:3], outputs=("state",))
    ref = NumpyBackend().run(circuit, values, OBSERVABLES[:3], outputs=("state",))
    np.testing.assert_allclose(got.statevectors, ref.statevectors, atol=1e-10)
    np.testing.assert_allclose(got.expectations, ref.expectations, atol=1e-10)
    grads = backend.gradient(circuit, values, OBSERVABLES[:3], method="adjoint")
    want = NumpyBackend().gradient(circuit, values, OBSERVABLES[:3], method="parameter-shift")
    for name in circuit.symbols:
        np.testing.assert_allclose(grads[name], want[name], atol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
def test_batch_mode_gathers_rows_in_order(world: int) -> None:
    spawn(_batch_mode, world, timeout=300)


def test_schedule_makes_every_need_local_with_belady_victims() -> None:
    needs = [frozenset({q}) for q in (0, 1, 3, 2, 0, 1)]
    start = initial_layout(needs, 4, 1)
    assert start[2] == 0  # qubit 2 is first needed last, so it starts global
    sched = schedule(needs, start, 1)
    assert list(sched.before) == [3]
    (pair,) = sched.before[3].pairs
    assert pair == (0, start[3])  # qubit 3 is never needed again: it takes the global position
    assert sched.end[3] == 0 and sched.count == 1


def test_schedule_refuses_an_op_wider_than_a_shard() -> None:
    with pytest.raises(CapabilityError, match="needs 3 local qubits"):
        schedule([frozenset({0, 1, 2})], (0, 1, 2), 1)


def test_backend_needs_a_process_group() -> None:
    with pytest.raises(CapabilityError, match="torchrun"):
        DistributedBackend()


def test_registered_through_the_torch_plugin() -> None:
    from qstore.core.plugins import get_backend, list_backends

    assert "torch.distributed" in list_backends()
    with pytest.raises(CapabilityError, match="initialised process group"):
        get_backend("torch.distributed")


@pytest.mark.slow
def test_the_torchrun_example_agrees_with_the_single_process_engine() -> None:
    import ast
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "distributed_statevector.py"
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None
    result = subprocess.run(
        [torchrun, "--nproc-per-node", "2", str(example), "--qubits", "10", "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert line["ranks"] == 2 and line["exchanges"] >= 1
    assert abs(line["z0"] - line["single_process_z0"]) < 1e-5
