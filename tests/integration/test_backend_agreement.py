"""Every installed statevector backend runs one random-circuit suite and must agree with the reference.

Backends are discovered through the plugin registry (``numpy``, ``torch``, ``tf``, ``qsim``,
``lightning``; those not registered are skipped). A table of the largest differences from the
complex128 NumPy reference — expectations, statevectors (up to global phase) and vector–Jacobian
products by each backend's best exact gradient method (allowed 20x the tolerance) — is printed, and
any excess, or any backend raising, fails the test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qstore.core import Backend, NumpyBackend, get_backend, list_backends
from qstore.core.circuit import Circuit
from qstore.core.observables import Observable, PauliString
from qstore.core.testing import random_bindings, random_circuit

CANDIDATES = ("numpy", "torch", "tf", "qsim", "lightning")
DOUBLE_PRECISION = {"numpy": 1e-9, "lightning": 1e-9}
SINGLE_PRECISION = 5e-5  # torch and tf default to complex64; qsim always computes in complex64
GRADIENT_SLACK = 20  # a VJP sums derivatives over every observable and parameter slot
EXACT_GRADIENTS = ("adjoint", "parameter-shift")
Suite = list[tuple[Circuit, dict[str, np.ndarray], list[Observable]]]


def _observables(n: int, rng: np.random.Generator) -> list[Observable]:
    obs = [Observable((PauliString(((q, "Z"),)),)) for q in range(n)]
    paulis = [(q, "XYZ"[int(rng.integers(3))]) for q in range(n)]
    obs.append(Observable((PauliString(paulis, 0.7), PauliString(paulis[:1], -0.3))))
    return obs


def _suite(gates: frozenset[str]) -> Suite:
    rng = np.random.default_rng(20261122)
    suite = []
    for n in (1, 2, 3, 5, 7):
        for _ in range(3):
            circuit = random_circuit(n, 5 * n + 3, rng, gates)
            suite.append((circuit, random_bindings(circuit, 4, rng), _observables(n, rng)))
    return suite


def _state_distance(got: np.ndarray, want: np.ndarray) -> float:
    """Largest amplitude difference after aligning each row's global phase to the reference."""
    overlap = np.einsum("bi,bi->b", np.conj(got), want)
    aligned = got * (overlap / np.maximum(np.abs(overlap), 1e-300))[:, None]
    return float(np.abs(aligned - want).max())


@pytest.fixture(scope="module")
def backends() -> dict[str, Backend]:
    installed = set(list_backends())
    found = {name: get_backend(name) for name in CANDIDATES if name in installed}
    if len(found) < 2:
        pytest.skip(f"fewer than two backends installed: {sorted(found)}")
    return found


def _compare(backend: Backend, suite: Suite, reference: NumpyBackend) -> dict[str, Any]:
    d_exp = d_state = d_grad = 0.0
    caps = backend.capabilities
    method = next((m for m in EXACT_GRADIENTS if m in caps.gradient_methods), None)
    for circuit, bindings, obs in suite:
        got = backend.run(circuit, bindings, obs, outputs=("state",) if caps.statevector else None)
        want = reference.run(circuit, bindings, obs, outputs=("state",))
        d_exp = max(d_exp, float(np.abs(got.expectations - want.expectations).max()))
        if caps.statevector:
            d_state = max(d_state, _state_distance(np.asarray(got.statevectors), want.statevectors))
        if method is not None and circuit.symbols:
            cot = np.ones((4, len(obs)))
            g = backend.gradient(circuit, bindings, obs, cot, method=method)
            r = reference.gradient(circuit, bindings, obs, cot, method="adjoint")
            d_grad = max(d_grad, max(float(np.abs(g[s] - r[s]).max()) for s in r))
    return {"exp": d_exp, "state": d_state if caps.statevector else None, "grad": d_grad, "method": method}


@pytest.mark.slow
def test_installed_backends_agree_on_random_circuits(backends: dict[str, Backend]) -> None:
    common = frozenset.intersection(*(b.capabilities.gates for b in backends.values()))
    suite = _suite(common)
    reference = NumpyBackend()
    rows, failures = [], []
    for name, backend in backends.items():
        tol = DOUBLE_PRECISION.get(name, SINGLE_PRECISION)
        try:
            diff = _compare(backend, suite, reference)
        except Exception as error:  # report every backend, then fail
            rows.append(f"{name:<10} raised {type(error).__name__}: {str(error).splitlines()[0][:90]}")
            failures.append(f"{name}: {type(error).__name__}: {error}")
            continue
        worst = max(diff["exp"], diff["state"] or 0.0, diff["grad"] / GRADIENT_SLACK)
        ok = worst <= tol
        state = "-" if diff["state"] is None else f"{diff['state']:.1e}"
        grad = "-" if diff["method"] is None else f"{diff['grad']:.1e} ({diff['method']})"
        rows.append(
            f"{name:<10} {diff['exp']:>10.1e} {state:>10} {grad:>26} {tol:>8.0e}  {'ok' if ok else 'FAIL'}"
        )
        if not ok:
            failures.append(f"{name}: max difference {worst:.3g} > {tol:g}")
    header = (
        f"{'backend':<10} {'max|dE|':>10} {'max|dpsi|':>10} {'max|dgrad| (method)':>26} {'tol':>8}  status"
    )
    table = "\n".join([f"{len(suite)} random circuits on gates {sorted(common)}", header, *rows])
    print("\n" + table)
    assert not failures, "backends disagree with the reference:\n" + "\n".join(failures) + "\n" + table
