"""Q-Store end to end on the core alone: build a circuit, run a batch on `numpy`, list plugins.

Run with ``make demo`` (or ``python examples/demo.py`` inside the venv).
"""

from __future__ import annotations

import numpy as np

from qstore.core import Circuit, get_backend, list_backends
from qstore.core.cli import main as qstore_cli


def build_circuit() -> Circuit:
    """A Bell pair, then a parameterised layer: RY(theta_q) on each qubit and an RZZ coupling."""
    return Circuit(2).h(0).cnot(0, 1).ry("theta_0", 0).ry("theta_1", 1).rzz("2*phi + 0.1", 0, 1)


def main() -> None:
    """Print the circuit, a batch of expectations, seeded counts and the installed plugins."""
    circuit = build_circuit()
    print(f"Circuit: {circuit.n_qubits} qubits, depth {circuit.depth}, symbols {circuit.symbols}")
    print(circuit.draw())

    backend = get_backend("numpy")
    print(f"\nBackends installed: {', '.join(list_backends())}; using {backend.name!r}")

    bindings = {
        "theta_0": np.linspace(0.0, np.pi, 5),
        "theta_1": np.linspace(0.0, np.pi / 2, 5),
        "phi": 0.3,
    }
    observables = ["Z0", "Z1", "Z0 Z1", "X0 X1"]
    result = backend.run(circuit, bindings, observables=observables)
    print(f"\nExpectations for a batch of {result.expectations.shape[0]} bindings:")
    print("  theta_0  " + "  ".join(f"{o:>7}" for o in observables))
    rows = np.round(result.expectations, 3) + 0.0  # + 0.0 turns -0.0 into 0.0 for printing
    for theta, row in zip(bindings["theta_0"], rows, strict=True):
        print(f"  {theta:7.3f}  " + "  ".join(f"{v:7.3f}" for v in row))

    shots = backend.run(circuit, {"theta_0": 0.0, "theta_1": 0.0, "phi": 0.0}, shots=1000, seed=7)
    print(f"\nCounts of the Bell state, 1000 shots, seed 7: {shots.counts()}")

    print("\nInstalled plugins (qstore plugins list):")
    qstore_cli(["plugins", "list"])


if __name__ == "__main__":
    main()
