"""The plugin registers ``tf`` and ``tensorflow`` without importing TensorFlow; the package's lazy API."""

from __future__ import annotations

import subprocess
import sys

import qstore.tf
from qstore.core.plugins import get_backend, get_framework
from qstore.tf import TFBackend


def test_plugin_import_does_not_import_tensorflow() -> None:
    code = (
        "import sys, qstore.tf.plugin; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registry_builds_backend_and_framework() -> None:
    backend = get_backend("tf", precision="double")
    assert isinstance(backend, TFBackend) and backend.capabilities.name == "tf"
    assert get_framework("tensorflow") is qstore.tf


def test_public_names_resolve() -> None:
    for name in qstore.tf.__all__:
        assert getattr(qstore.tf, name) is not None
