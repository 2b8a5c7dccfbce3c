"""IonQ native-gate counts before and after compilation, next to qiskit-ionq's transpiler.

One JSON line per (workload, compiler, entangler): circuits, IR gate counts (one- and two-qubit),
native counts after compilation, and seconds per circuit. Workloads: random circuits over the
whole core gate table (1-4 qubits, 1-15 gates, seeded; the compiler's equivalence test uses the
same generator) and the shared layer ansatz (``layer_circuit``) at 4 and 8 qubits. The peer is
qiskit's ``transpile(optimization_level=1)`` to a GPI/GPI2/MS or GPI/GPI2/ZZ target with
qiskit-ionq's equivalence library; it needs qiskit and qiskit-ionq and is skipped without them.

    python benchmarks/ionq_compiler.py [--circuits 1000] [--peer-circuits 200]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from qstore.backends.ionq.compiler import compile_circuit, native_gate_counts
from qstore.core import Circuit, Operation
from qstore.core.ansatz import layer_circuit
from qstore.core.testing import random_circuit


def bind(circuit: Circuit, values: Mapping[str, float]) -> Circuit:
    """The circuit with every angle evaluated to a number."""
    ops = [
        Operation(op.gate, op.qubits, [float(p.evaluate(values)) for p in op.params])
        for op in circuit.operations
    ]
    return Circuit(circuit.n_qubits, ops)


def random_workload(count: int, seed: int = 20261122) -> list[Circuit]:
    """``count`` bound random circuits over the whole gate table."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        c = random_circuit(int(rng.integers(1, 5)), int(rng.integers(1, 16)), rng)
        out.append(bind(c, {s: float(rng.uniform(-np.pi, np.pi)) for s in c.symbols}))
    return out


def layer_workload(n_qubits: int, count: int, seed: int = 1) -> list[Circuit]:
    """``count`` random bindings of the shared layer ansatz (angle encoding, depth 2, linear CNOTs)."""
    circuit = layer_circuit(n_qubits, depth=2).circuit
    rng = np.random.default_rng(seed)
    return [
        bind(circuit, {s: float(rng.uniform(-np.pi, np.pi)) for s in circuit.symbols}) for _ in range(count)
    ]


def ours(entangler: str) -> Callable[[Circuit], dict[str, int]]:
    """Q-Store's compiler: native one- and two-qubit counts of one circuit."""

    def run(circuit: Circuit) -> dict[str, int]:
        return compile_circuit(circuit, None, entangler).counts()  # type: ignore[arg-type]

    return run


def peer(entangler: str) -> Callable[[Circuit], dict[str, int]] | None:
    """qiskit-ionq's transpiler path, or None when qiskit or qiskit-ionq is missing."""
    try:
        from qiskit import transpile
        from qiskit.circuit import Parameter
        from qiskit.transpiler import Target
        from qiskit_ionq import GPI2Gate, GPIGate, MSGate, ZZGate, ionq_equivalence_library

        from qstore.core.interop.qiskit import to_qiskit
    except ImportError:
        return None
    ionq_equivalence_library.add_equivalences()
    targets: dict[int, Any] = {}

    def target(n: int) -> Any:
        if n not in targets:
            t = Target(num_qubits=n)
            t.add_instruction(GPIGate(Parameter("p")))
            t.add_instruction(GPI2Gate(Parameter("p")))
            if entangler == "ms":
                t.add_instruction(MSGate(Parameter("a"), Parameter("b"), Parameter("t")))
            else:
                t.add_instruction(ZZGate(Parameter("t")))
            targets[n] = t
        return targets[n]

    def run(circuit: Circuit) -> dict[str, int]:
        out = transpile(to_qiskit(circuit), target=target(circuit.n_qubits), optimization_level=1)
        ops = out.count_ops()
        two = ops.get("ms", 0) + ops.get("zz", 0)
        return {"1q": sum(ops.values()) - two, "2q": two}

    return run


def measure(workload: str, compiler: str, entangler: str, circuits: list[Circuit], fn: Callable) -> dict:
    """Totals over ``circuits``: IR counts, native counts, seconds per circuit."""
    before = {"1q": 0, "2q": 0}
    after = {"1q": 0, "2q": 0}
    start = time.perf_counter()
    for c in circuits:
        for k, v in fn(c).items():
            after[k] += v
    seconds = (time.perf_counter() - start) / len(circuits)
    for c in circuits:
        for k, v in native_gate_counts(c).items():
            before[k] += v
    return {
        "benchmark": "ionq_compiler",
        "workload": workload,
        "compiler": compiler,
        "entangler": entangler,
        "circuits": len(circuits),
        "ir_1q": before["1q"],
        "ir_2q": before["2q"],
        "native_1q": after["1q"],
        "native_2q": after["2q"],
        "seconds_per_circuit": round(seconds, 6),
    }


def main() -> None:
    """Print one JSON line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", type=int, default=1000)
    parser.add_argument("--peer-circuits", type=int, default=200)
    args = parser.parse_args()
    random_all = random_workload(args.circuits)
    workloads = {
        f"random-{args.circuits}": random_all,
        **({f"random-{args.peer_circuits}": random_all[: args.peer_circuits]} if args.peer_circuits else {}),
        "layers-4q-depth2": layer_workload(4, 50),
        "layers-8q-depth2": layer_workload(8, 50),
    }
    for entangler in ("ms", "zz"):
        theirs = peer(entangler)
        for name, circuits in workloads.items():
            print(json.dumps(measure(name, "qstore", entangler, circuits, ours(entangler))), flush=True)
            if theirs is not None and 0 < len(circuits) <= args.peer_circuits:
                print(json.dumps(measure(name, "qiskit-ionq", entangler, circuits, theirs)), flush=True)


if __name__ == "__main__":
    main()
