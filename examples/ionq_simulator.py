"""IonQ from Q-Store: compile to native gates, price a QPU run before sending it, keep a budget,
run on IonQ's cloud simulator, and keep several jobs in flight with asyncio.

Needs an IonQ API key in the environment (never pass it on the command line)::

    IONQ_API_KEY=... python examples/ionq_simulator.py

Nothing is sent to a QPU: the QPU backend is only asked for prices.
"""

from __future__ import annotations

import argparse
import asyncio

import numpy as np

from qstore.backends.ionq import compile_circuit, ionq_budget
from qstore.core import Circuit, get_backend


def build_circuit() -> Circuit:
    """A two-qubit variational circuit with one trainable symbol."""
    return Circuit(2).h(0).cnot(0, 1).ry("theta", 0).rzz("0.5*theta", 0, 1)


async def several_jobs(backend, circuit: Circuit) -> list[float]:
    """Three jobs in flight at once; awaiting them leaves the event loop free."""
    jobs = [
        backend.submit(circuit, {"theta": t}, ["Z0 Z1"], shots=500, seed=i)
        for i, t in enumerate((0.1, 0.7, 1.3))
    ]
    results = await asyncio.gather(*jobs)
    return [float(r.expectations[0, 0]) for r in results]


def main() -> None:
    """Print native gate counts, a QPU price, a budgeted simulator run and three async jobs."""
    parser = argparse.ArgumentParser(description="Q-Store on IonQ's cloud simulator")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between status polls")
    args = parser.parse_args()

    circuit = build_circuit()
    for entangler in ("ms", "zz"):
        compiled = compile_circuit(circuit, {"theta": 0.3}, entangler=entangler)
        print(f"natives for {entangler.upper()} systems: {compiled.circuit.gate_counts()}")

    qpu = get_backend("ionq.qpu.forte-1", marketplace="aws")
    thetas = np.linspace(0, np.pi, 8)
    price = qpu.estimate(circuit, {"theta": thetas}, ["Z0", "X0 X1"], shots=1000)
    print(f"8 bindings x 2 basis settings x 1000 shots on Forte-1 via Braket: ${price:,.2f}")

    simulator = get_backend("ionq.simulator", poll_interval=args.poll_interval)
    with ionq_budget(1.00) as ledger:
        result = simulator.run(circuit, {"theta": thetas}, ["Z0", "X0 X1"], shots=1000, seed=7)
    print("simulator <Z0>, <X0 X1>:")
    print(np.round(result.expectations, 3))
    print(f"spent ${ledger.spent_usd:.2f} of ${ledger.budget_usd:.2f} (the simulator is free)")
    print("three jobs at once:", np.round(asyncio.run(several_jobs(simulator, circuit)), 3))


if __name__ == "__main__":
    main()
