"""The package's public names resolve lazily, and importing the package does not import torch."""

from __future__ import annotations

import subprocess
import sys

import qstore.torch


def test_every_public_name_resolves() -> None:
    for name in qstore.torch.__all__:
        assert getattr(qstore.torch, name) is not None, name
    assert set(qstore.torch.__all__) <= set(dir(qstore.torch))


def test_importing_the_package_does_not_import_torch() -> None:
    code = "import sys, qstore.torch; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_framework_adapter_is_the_package() -> None:
    assert qstore.torch.framework() is qstore.torch
