"""Fixtures for every test: only this repository's plugins are registered, whatever else is installed.

A third-party ``qstore`` plugin in the environment (or a ``QSTORE_*_PLUGINS`` switch in the
caller's shell) must not change what the tests see, so every test runs with a default registry
holding exactly the entry points of this repository's distributions.
"""

from __future__ import annotations

import importlib.metadata
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qstore.core.plugins import ENTRY_POINT_GROUP, PluginRegistry, use_registry

REPO_DISTRIBUTIONS = frozenset(
    {
        "qstore-core",
        "qstore-torch",
        "qstore-tf",
        "qstore-backend-gpu",
        "qstore-backend-ionq",
        "qstore-storage",
        "qstore-service",
    }
)
SWITCHES = ("QSTORE_STRICT_PLUGINS", "QSTORE_DISABLE_PLUGINS", "QSTORE_TRACE_PLUGINS")


def repo_registry() -> PluginRegistry:
    """A registry of this repository's installed entry points and nothing else."""
    registry = PluginRegistry(strict=False, disabled=(), trace=False)
    eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in sorted(eps, key=lambda e: e.name):
        if ep.dist is not None and ep.dist.name in REPO_DISTRIBUTIONS:
            registry.add_plugin(ep.value, name=ep.name, distribution=ep.dist.name, version=ep.dist.version)
    return registry


@pytest.fixture(scope="session")
def _repo_registry() -> PluginRegistry:
    return repo_registry()


@pytest.fixture(autouse=True)
def only_repo_plugins(
    _repo_registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PluginRegistry]:
    """Make the default registry hold only this repository's plugins, with no switches set."""
    for name in SWITCHES:
        monkeypatch.delenv(name, raising=False)
    with use_registry(_repo_registry):
        yield _repo_registry


@pytest.fixture
def make_distribution() -> Callable[..., Path]:
    """Write an installed-looking distribution (``*.dist-info`` with entry points, plus modules).

    ``make_distribution(root, "qstore-x", "1.0", {"ep": "module"}, {"module": source})``; put
    ``root`` on ``sys.path`` (or ``PYTHONPATH``) and `importlib.metadata` finds it, no install needed.
    """

    def write(
        root: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]
    ) -> Path:
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
        for module, source in modules.items():
            (root / f"{module}.py").write_text(textwrap.dedent(source))
        return root

    return write
