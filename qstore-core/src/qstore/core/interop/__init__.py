"""Conversions between the Q-Store IR and other SDKs: `qstore.core.interop.cirq`, `.qiskit`.

Each submodule imports its SDK when it is imported, so ``import qstore.core`` never does; install
the matching extra (``qstore-core[cirq]``, ``qstore-core[qiskit]``) to use one. Symbols become
``sympy.Symbol`` / ``qiskit.circuit.Parameter`` objects of the same name, linear angle expressions
stay expressions, and a gate the other side cannot express is a `CircuitError` naming the gate.
"""

__all__: list[str] = []
