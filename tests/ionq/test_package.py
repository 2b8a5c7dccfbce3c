"""The package's public surface: explicit `__all__`, and no qiskit import until a backend is built."""

from __future__ import annotations

import subprocess
import sys

import qstore.backends.ionq as ionq


def test_all_names_resolve() -> None:
    for name in ionq.__all__:
        assert getattr(ionq, name) is not None, name


def test_importing_the_package_and_plugin_does_not_import_qiskit() -> None:
    code = (
        "import sys, qstore.backends.ionq, qstore.backends.ionq.plugin\n"
        "from qstore.core import Circuit\n"
        "qstore.backends.ionq.compile_circuit(Circuit(2).h(0).cnot(0, 1))\n"
        "assert not any(m == 'qiskit' or m.startswith(('qiskit.', 'qiskit_ionq')) for m in sys.modules), "
        "sorted(m for m in sys.modules if 'qiskit' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
