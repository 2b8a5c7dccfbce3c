"""What ``qstore about`` reports: versions, devices, thread settings and plugin status.

Everything is read from package metadata, the operating system and the environment; nothing here
imports torch, TensorFlow, cirq or qiskit, so the report is fast and safe to paste into an issue.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from qstore.core.plugins import PluginRegistry

__all__ = ["KEY_DEPENDENCIES", "THREAD_VARIABLES", "environment_report"]

KEY_DEPENDENCIES = (
    "numpy",
    "attrs",
    "pluggy",
    "torch",
    "tensorflow",
    "keras",
    "cirq-core",
    "qsimcirq",
    "pennylane",
    "pennylane-lightning",
    "qiskit",
    "qiskit-ionq",
    "faiss-cpu",
    "zarr",
    "pyarrow",
    "tqdm",
)
"""Distributions whose versions matter for reproducing a Q-Store result."""

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)
"""Environment variables that set the thread pools of numpy's BLAS, torch, TensorFlow and qsim."""

_NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _qstore_distributions() -> dict[str, str]:
    names = {dist.metadata["Name"] for dist in importlib.metadata.distributions()}
    return {
        n: importlib.metadata.version(n) for n in sorted(n for n in names if n and n.startswith("qstore-"))
    }


def _devices() -> dict[str, Any]:
    """CPU cores, and NVIDIA GPUs as the driver lists them (no CUDA library is loaded)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = sorted(p.name for p in _NVIDIA_GPUS.iterdir()) if _NVIDIA_GPUS.is_dir() else []
    return {
        "cpu": {"logical_cores": os.cpu_count(), "usable_cores": usable},
        "nvidia_gpus": gpus,
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def environment_report(registry: PluginRegistry) -> dict[str, Any]:
    """Plain data describing this environment; ``registry`` supplies the plugin status."""
    records = registry.plugins()
    return {
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "qstore": _qstore_distributions(),
        "dependencies": {name: _version(name) for name in KEY_DEPENDENCIES},
        "devices": _devices(),
        "threads": {name: os.environ.get(name) for name in THREAD_VARIABLES},
        "plugins": {
            status: [r.to_dict() for r in records if r.status == status]
            for status in ("ok", "error", "disabled")
        },
    }
