"""The ``qstore`` command: inspect installed plugins and backends.

    qstore --version
    qstore plugins list [--json]     every plugin: distribution, version, what it registers, status
    qstore plugins check             exit 1 if any plugin failed to load
    qstore backends [--json]         backends with qubits, gradients, devices and dependency status

Errors print one line and exit 1; ``--debug`` shows the traceback. Listing never imports torch or
TensorFlow: plugin modules only register names, and dependencies are checked with ``find_spec``.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from qstore.core.errors import QstoreError
from qstore.core.plugins import PluginRecord, PluginRegistry, Registration

__all__ = ["main"]


def _version() -> str:
    try:
        return version("qstore-core")
    except PackageNotFoundError:
        return "unknown (qstore-core is not installed)"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is never padded."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, ["-" * w for w in widths], *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, str(row[-1])]))
    return "\n".join(lines)


def _status(record: PluginRecord) -> str:
    return f"error: {record.error}" if record.error else record.status


def _plugins_list(registry: PluginRegistry, as_json: bool) -> int:
    records = registry.plugins()
    if as_json:
        print(json.dumps([r.to_dict() for r in records], indent=2))
        return 0
    rows = [
        [
            r.name,
            r.distribution or "-",
            r.version or "-",
            ", ".join(r.registers) or "(nothing)",
            _status(r),
        ]
        for r in records
    ]
    print(_table(["plugin", "distribution", "version", "registers", "status"], rows))
    return 0


def _plugins_check(registry: PluginRegistry) -> int:
    records = registry.plugins()
    failed = [r for r in records if r.status == "error"]
    for r in failed:
        where = f"{r.distribution} {r.version}" if r.distribution else r.module
        print(f"{r.name} ({where}): {r.error}", file=sys.stderr)
    loaded = sum(r.status == "ok" for r in records)
    print(f"{loaded} plugin(s) ok, {len(failed)} failed, {len(records) - loaded - len(failed)} disabled")
    return 1 if failed else 0


def _backend_row(registry: PluginRegistry, reg: Registration) -> dict[str, Any]:
    """Declared info first; undeclared fields come from building the backend, when it can be built."""
    missing = reg.missing_requires()
    info = dict(reg.info)
    note = ""
    if not missing and not {"max_qubits", "gradient_methods", "devices"} <= set(info):
        try:
            caps = registry.get_backend(reg.name).capabilities
        except Exception as exc:
            note = f"cannot build: {type(exc).__name__}: {exc}"
        else:
            info.setdefault("max_qubits", caps.max_qubits)
            info.setdefault("gradient_methods", caps.gradient_methods)
            info.setdefault("devices", caps.devices)
    return {
        "name": reg.name,
        "plugin": reg.plugin,
        "distribution": reg.distribution,
        "max_qubits": info.get("max_qubits"),
        "gradient_methods": list(info.get("gradient_methods", ())),
        "devices": list(info.get("devices", ())),
        "requires": list(reg.requires),
        "missing": list(missing),
        "available": not missing and not note,
        "note": note or None,
        "description": reg.description,
    }


def _backends(registry: PluginRegistry, as_json: bool) -> int:
    rows = [_backend_row(registry, reg) for reg in registry.entries("backend")]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0

    def deps(row: dict[str, Any]) -> str:
        if row["missing"]:
            return "missing: " + ", ".join(row["missing"])
        if row["note"]:
            return row["note"]
        return "ok" if not row["requires"] else "ok (" + ", ".join(row["requires"]) + ")"

    table = [
        [
            r["name"],
            r["plugin"],
            "?" if r["max_qubits"] is None else str(r["max_qubits"]),
            ", ".join(r["gradient_methods"]) or "?",
            ", ".join(r["devices"]) or "?",
            deps(r),
        ]
        for r in rows
    ]
    print(_table(["backend", "plugin", "max qubits", "gradients", "devices", "dependencies"], table))
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser = argparse.ArgumentParser(
        prog="qstore", description="Q-Store plugins and backends.", parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"qstore {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plugins = commands.add_parser("plugins", help="installed plugins", parents=[common])
    actions = plugins.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list every plugin and its status", parents=[common])
    listing.add_argument("--json", action="store_true", help="print JSON")
    actions.add_parser("check", help="exit 1 if any plugin failed to load", parents=[common])

    backends = commands.add_parser("backends", help="installed backends", parents=[common])
    backends.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``qstore`` command line; returns the exit status."""
    args = _parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        registry = PluginRegistry.from_entry_points(warn=False)
        if args.command == "backends":
            return _backends(registry, args.json)
        if args.action == "list":
            return _plugins_list(registry, args.json)
        return _plugins_check(registry)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        message = str(exc) if isinstance(exc, QstoreError) else f"{type(exc).__name__}: {exc}"
        print(f"qstore: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
