"""A run's ``manifest.json``: what was run (config, versions, seed), where (backends, routing
decisions, storage drivers), and how it ended (status, resumes, last checkpoint).

Written atomically (temporary sibling, fsync, ``os.replace``), so a reader or a killed process never
sees half a manifest. Routing decisions are stored as plain dicts: anything with ``to_dict()`` (the
router's decision value) or a mapping is accepted.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import attrs

from qstore.core.errors import ArgumentTypeError, CorruptDataError

__all__ = ["FORMAT", "STATUSES", "Manifest", "package_versions", "plain", "read_manifest", "write_manifest"]

FORMAT = "qstore.run/1"
STATUSES = ("running", "completed", "failed", "interrupted")
MANIFEST = "manifest.json"
_PACKAGES = (
    "qstore-core",
    "qstore-torch",
    "qstore-tf",
    "qstore-storage",
    "qstore-backend-ionq",
    "qstore-backend-gpu",
    "numpy",
    "torch",
    "tensorflow",
    "keras",
    "pyarrow",
    "zarr",
    "faiss-cpu",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the qstore distributions and the libraries a run's numbers depend on."""
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def plain(what: str, value: Any) -> dict[str, Any]:
    """``value`` (a mapping or an object with ``to_dict()``) as a JSON-compatible dict."""
    data = value.to_dict() if hasattr(value, "to_dict") else value
    if not isinstance(data, Mapping):
        raise ArgumentTypeError(f"{what} must be a mapping or have to_dict(), got {type(value).__name__}")
    try:
        return dict(json.loads(json.dumps(dict(data), allow_nan=True)))
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{what} must be JSON-serialisable: {exc}") from None


@attrs.define
class Manifest:
    """The mutable in-memory manifest of an open run; `snapshot` is what goes to disk."""

    name: str
    created: float
    seed: int | None = None
    config: dict[str, Any] = attrs.field(factory=dict)
    framework: str | None = None
    status: str = "running"
    versions: dict[str, str] = attrs.field(factory=package_versions)
    storage: dict[str, str] = attrs.field(factory=dict)
    backends: list[str] = attrs.field(factory=list)
    decisions: list[dict[str, Any]] = attrs.field(factory=list)
    budget_usd: float | None = None
    resumes: list[dict[str, Any]] = attrs.field(factory=list)
    last_checkpoint: str | None = None
    updated: float = attrs.field(factory=time.time)

    def snapshot(self) -> dict[str, Any]:
        """The manifest as JSON-compatible data, stamped with the format."""
        data = attrs.asdict(self)
        data["updated"] = time.time()
        return {"format": FORMAT, **json.loads(json.dumps(data))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Manifest:
        """Rebuild from `snapshot` data; `CorruptDataError` naming ``where`` and the bad field."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise CorruptDataError(f"{where} is not a {FORMAT} manifest")
        fields = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - fields - {"format"})
        if unknown:
            raise CorruptDataError(f"{where}: unknown manifest fields {unknown}")
        if data.get("status") not in STATUSES:
            raise CorruptDataError(f"{where}: status {data.get('status')!r} is not one of {STATUSES}")
        try:
            return cls(**{k: v for k, v in data.items() if k != "format"})
        except TypeError as exc:
            raise CorruptDataError(f"{where}: {exc}") from None


def write_manifest(folder: Path, data: Mapping[str, Any]) -> None:
    """Replace ``folder/manifest.json`` atomically with ``data``."""
    path = folder / MANIFEST
    tmp = folder / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2, allow_nan=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the run in ``folder``; `FileNotFoundError` when there is none."""
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no run at {str(folder)!r}: {MANIFEST} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptDataError(f"{str(path)!r} is not valid JSON ({exc})") from None
    return Manifest.from_dict(data, repr(str(path)))
