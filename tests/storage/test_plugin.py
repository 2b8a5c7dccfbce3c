"""qstore-storage's plugin: light registration, the three drivers through the registry, lazy exports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import qstore.storage
from qstore.core.plugins import isolated_registry
from qstore.core.storage import CheckpointStore, KernelStore, MetricsSink, VectorStore


def needs_storage_libraries() -> None:
    for module in ("zarr", "pyarrow", "faiss"):
        pytest.importorskip(module)


def test_registers_four_drivers_with_their_kinds_and_requirements() -> None:
    with isolated_registry("qstore.storage.plugin", strict=True, disabled=()) as registry:
        entries = {r.name: r for r in registry.entries("storage")}
        (record,) = registry.plugins()
    assert sorted(entries) == ["faiss", "parquet", "parquet-kernels", "zarr"]
    assert entries["zarr"].kinds == ("checkpoints",) and entries["zarr"].requires == ("zarr",)
    assert entries["parquet"].kinds == ("metrics",) and entries["parquet"].requires == ("pyarrow",)
    assert entries["faiss"].kinds == ("vectors",) and entries["faiss"].requires == ("faiss",)
    assert entries["parquet-kernels"].kinds == ("kernels",)
    assert entries["parquet-kernels"].requires == ("pyarrow",)
    assert all(r.description for r in entries.values())
    assert record.status == "ok" and record.registers == (
        "storage zarr",
        "storage parquet",
        "storage faiss",
        "storage parquet-kernels",
    )


def test_get_storage_builds_each_driver(tmp_path: Path) -> None:
    needs_storage_libraries()
    with isolated_registry("qstore.storage.plugin", strict=True, disabled=()) as registry:
        checkpoints = registry.get_storage("zarr", path=tmp_path / "ckpt")
        sink = registry.get_storage("parquet", path=tmp_path / "metrics.parquet", asynchronous=True)
        vectors = registry.get_storage("faiss", dim=4)
        kernels = registry.get_storage("parquet-kernels", path=tmp_path / "kernels")
    assert isinstance(checkpoints, qstore.storage.ZarrCheckpointStore)
    assert isinstance(sink, qstore.storage.ParquetMetricsSink)
    assert isinstance(vectors, qstore.storage.FaissVectorStore)
    assert isinstance(checkpoints, CheckpointStore) and isinstance(sink, MetricsSink)
    assert isinstance(vectors, VectorStore)
    assert isinstance(kernels, qstore.storage.ParquetKernelStore) and isinstance(kernels, KernelStore)
    sink.close()


def test_registration_imports_none_of_the_storage_libraries() -> None:
    script = (
        "import sys\n"
        "from qstore.core.plugins import PluginRegistry\n"
        "registry = PluginRegistry(strict=True, disabled=())\n"
        "registry.add_plugin('qstore.storage.plugin')\n"
        "assert registry.names('storage') == ['faiss', 'parquet', 'parquet-kernels', 'zarr']\n"
        "print(sorted(m for m in ('zarr', 'pyarrow', 'faiss', 'numcodecs') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_package_exports_resolve_lazily() -> None:
    needs_storage_libraries()
    assert qstore.storage.__all__ == sorted(qstore.storage.__all__)
    for name in qstore.storage.__all__:
        assert getattr(qstore.storage, name).__name__ == name
    assert set(qstore.storage.__all__) <= set(dir(qstore.storage))
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = qstore.storage.Nope  # type: ignore[attr-defined]
