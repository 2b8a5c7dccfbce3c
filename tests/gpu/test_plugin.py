"""qstore-backend-gpu's plugin registers qsim and lightning without importing their libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qstore.core import get_backend, list_backends
from qstore.core.plugins import isolated_registry


def test_plugin_registers_both_backends() -> None:
    pytest.importorskip("qsimcirq")
    pytest.importorskip("pennylane_lightning")
    with isolated_registry("qstore.backends.gpu.plugin"):
        assert list_backends() == ["lightning", "qsim"]
        assert type(get_backend("qsim", threads=1)).__name__ == "QsimBackend"
        lightning = get_backend("lightning")
        assert type(lightning).__name__ == "LightningBackend"
        assert "adjoint" in lightning.capabilities.gradient_methods


def test_plugin_import_is_light() -> None:
    code = (
        "import sys, qstore.backends.gpu, qstore.backends.gpu.plugin; "
        "heavy = {'cirq', 'qsimcirq', 'pennylane', 'pennylane_lightning', 'sympy'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
