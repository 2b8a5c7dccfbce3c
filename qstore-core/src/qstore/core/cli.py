"""The ``qstore`` command: inspect installed plugins, backends and the environment.

    qstore                           this help
    qstore --version                 the version of qstore-core
    qstore plugins list [--json]     every plugin: distribution, version, what it registers, status
    qstore plugins check [--json]    load every plugin and build every backend; flag mismatches
    qstore backends [--json]         build every backend and show its real capabilities
    qstore about [--json]            versions, devices, thread settings and plugin status
    qstore route --qubits N ...      choose a backend for a workload and say why (see routing_cli)
    qstore calibrate [--quick]       time the local backends and write the router's speed profile
    qstore <command> ...             commands registered by plugins (``qstore serve`` from qstore-service)
    qstore runs list|show NAME|plot NAME --out PNG   training runs (see qstore.core.runs.cli)

``plugins list`` and ``about`` never import torch, TensorFlow, cirq or qiskit; ``backends`` and
``plugins check`` build backends, so they import what those need.

Exit status: 0 on success, 1 on an error or when ``plugins check`` finds a problem, 2 on a usage
error (unknown command or flag; the message suggests the closest command). ``--debug`` shows the
traceback of an error.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import traceback
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

import attrs

from qstore.core import routing_cli
from qstore.core.about import environment_report
from qstore.core.errors import PluginError, QstoreError
from qstore.core.plugins import KINDS, PluginRegistry, Registration, default_registry
from qstore.core.runs.cli import add_runs_commands

__all__ = ["main"]

OK, FAILED, USAGE = 0, 1, 2


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


def _registry() -> PluginRegistry:
    """The default registry; its load failures are reported by the commands, not warned about."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\d+ qstore plugin", category=RuntimeWarning)
        return default_registry()


def _failed_plugins(registry: PluginRegistry) -> list[str]:
    return [f"{r.origin}: {r.error}" for r in registry.plugins() if r.status == "error"]


# -- commands -------------------------------------------------------------------------------------


def _plugins_list(args: argparse.Namespace) -> int:
    records = _registry().plugins()
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2))
        return OK
    rows = [
        [
            r.name,
            r.distribution or "-",
            r.version or "-",
            ", ".join(r.registers) or "(nothing)",
            f"error: {r.error}" if r.error else r.status,
        ]
        for r in records
    ]
    print(_table(["plugin", "distribution", "version", "registers", "status"], rows))
    return OK


def _capabilities(reg: Registration, registry: PluginRegistry) -> tuple[dict[str, Any] | None, str | None]:
    """The built backend's capabilities as plain data, or why they could not be read."""
    missing = reg.missing_requires()
    if missing:
        return None, f"not installed: needs {', '.join(missing)}"
    try:
        backend = registry.get_backend(reg.name)
        caps = backend.capabilities
    except Exception as exc:
        return None, f"cannot build: {type(exc).__name__}: {exc}"
    data = {
        k: sorted(v) if isinstance(v, frozenset) else list(v) if isinstance(v, tuple) else v
        for k, v in attrs.asdict(caps, recurse=False).items()
        if k not in ("gates", "cost_model")
    }
    data["n_gates"], data["cost_model"] = len(caps.gates), caps.cost_model is not None
    if backend.name != reg.name:
        return data, f"registered as {reg.name!r} but the backend's name is {backend.name!r}"
    return data, None


def _backends(args: argparse.Namespace) -> int:
    registry = _registry()
    rows = []
    for reg in registry.entries("backend"):
        caps, problem = _capabilities(reg, registry)
        rows.append(
            {
                "name": reg.name,
                "plugin": reg.plugin,
                "distribution": reg.distribution,
                "requires": list(reg.requires),
                "description": reg.description,
                "capabilities": caps,
                "status": problem or "ok",
            }
        )
    failed = _failed_plugins(registry)
    if args.json:
        print(json.dumps({"backends": rows, "failed_plugins": failed}, indent=2))
        return OK

    def cell(row: dict[str, Any], key: str) -> str:
        value = (row["capabilities"] or {}).get(key)
        return "?" if value is None else ", ".join(value) if isinstance(value, list) else str(value)

    columns = ["max_qubits", "gradient_methods", "devices", "precision"]
    table = [
        [str(r["name"]), str(r["plugin"]), *(cell(r, c) for c in columns), str(r["status"])] for r in rows
    ]
    print(_table(["backend", "plugin", "max qubits", "gradients", "devices", "precision", "status"], table))
    for line in failed:
        print(f"plugin failed to load, its backends are missing: {line}", file=sys.stderr)
    return OK


def _check_entry(reg: Registration, registry: PluginRegistry) -> tuple[str, str]:
    """``(verdict, detail)`` for one registration; verdict is ok, problem, skipped or unchecked."""
    missing = reg.missing_requires()
    if missing:
        return "skipped", f"needs {', '.join(missing)}"
    try:
        if reg.kind == "backend":
            backend = registry.get_backend(reg.name)
            if backend.name != reg.name:
                return "problem", (
                    f"registered as {reg.name!r} but the backend's name is {backend.name!r}; "
                    "Capabilities.name must be the registered name"
                )
        elif reg.kind == "framework":
            registry.get_framework(reg.name)
        else:
            reg.load_factory()  # stores need options (paths, sizes): import the factory only
    except PluginError as exc:
        return "problem", str(exc)
    except Exception as exc:
        return "unchecked", f"could not be built without options: {type(exc).__name__}: {exc}"
    return "ok", reg.description


def _plugins_check(args: argparse.Namespace) -> int:
    registry = _registry()
    records = registry.plugins()
    results = [
        {"kind": reg.kind, "name": reg.name, "plugin": reg.plugin, "verdict": verdict, "detail": detail}
        for kind in KINDS
        for reg in registry.entries(kind)
        for verdict, detail in [_check_entry(reg, registry)]
    ]
    failed = [r for r in records if r.status == "error"]
    problems = len(failed) + sum(r["verdict"] == "problem" for r in results)
    if args.json:
        print(json.dumps({"plugins": [r.to_dict() for r in records], "registrations": results}, indent=2))
    else:
        for r in failed:
            print(f"plugin {r.origin}: {r.error}", file=sys.stderr)
        for result in results:
            stream = sys.stderr if result["verdict"] == "problem" else sys.stdout
            print(
                f"{result['verdict']:<9} {result['kind']} {result['name']}: {result['detail']}", file=stream
            )
        disabled = sum(r.status == "disabled" for r in records)
        print(
            f"{len(records)} plugin(s): {len(records) - len(failed) - disabled} ok, {len(failed)} failed, "
            f"{disabled} disabled; {problems} problem(s)"
        )
    return FAILED if problems else OK


def _about(args: argparse.Namespace) -> int:
    report = environment_report(_registry())
    if args.json:
        print(json.dumps(report, indent=2))
        return OK
    width = max(map(len, [*report["qstore"], *report["dependencies"], *report["threads"]]))
    devices = report["devices"]
    plugins = report["plugins"]
    lines = [f"Python {report['python']} on {report['platform']}", "", "qstore distributions:"]
    lines += [f"  {name:<{width}}  {v}" for name, v in report["qstore"].items()]
    lines += ["", "dependencies:"]
    lines += [f"  {name:<{width}}  {v or 'not installed'}" for name, v in report["dependencies"].items()]
    lines += [
        "",
        f"cpu: {devices['cpu']['logical_cores']} logical cores, {devices['cpu']['usable_cores']} usable",
        f"nvidia gpus (driver): {', '.join(devices['nvidia_gpus']) or 'none seen'}"
        + (
            f"; CUDA_VISIBLE_DEVICES={devices['CUDA_VISIBLE_DEVICES']}"
            if devices["CUDA_VISIBLE_DEVICES"]
            else ""
        ),
        "",
        "threads:",
    ]
    lines += [f"  {name:<{width}}  {v or 'unset'}" for name, v in report["threads"].items()]
    counts = ", ".join(f"{len(plugins[s])} {s}" for s in ("ok", "error", "disabled"))
    lines += ["", f"plugins: {counts}"]
    lines += [f"  {p['name']} ({p['distribution']} {p['version']}): {p['error']}" for p in plugins["error"]]
    print("\n".join(lines))
    return OK


# -- parsing --------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose unknown-command errors suggest the closest command."""

    commands: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        """Print this parser's usage and the message (plus a did-you-mean), then exit with status 2."""
        match = re.search(r"invalid choice: '([^']*)'", message)
        close = difflib.get_close_matches(match.group(1), self.commands, n=1) if match else []
        super().error(message + (f"; did you mean {close[0]!r}?" if close else ""))


def _parser() -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    as_json = _Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON")
    parser = _Parser(
        prog="qstore",
        description="Q-Store plugins, backends and environment.",
        epilog="Exit status: 0 ok, 1 error or failed check, 2 usage error.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"qstore {_version()}")
    parser.set_defaults(run=None, parser=parser)
    commands = parser.add_subparsers(metavar="COMMAND")

    plugins: _Parser = commands.add_parser("plugins", help="installed plugins", parents=[common])
    plugins.set_defaults(run=None, parser=plugins)
    actions = plugins.add_subparsers(metavar="ACTION")
    leaves = [
        (actions, "list", _plugins_list, "list every plugin and its status (imports no plugin dependency)"),
        (
            actions,
            "check",
            _plugins_check,
            "build every backend and adapter; exit 1 on a failure or mismatch",
        ),
        (commands, "backends", _backends, "build every backend and show its capabilities or why it cannot"),
        (commands, "about", _about, "versions, devices, thread settings and plugin status"),
        (commands, "route", routing_cli.route_command, "choose a backend for a workload and say why"),
        (
            commands,
            "calibrate",
            routing_cli.calibrate_command,
            "time local backends; write the router profile",
        ),
    ]
    for group, name, run, text in leaves:
        leaf = group.add_parser(name, help=text, description=text, parents=[common, as_json])
        leaf.set_defaults(run=run, parser=leaf)
    routing_cli.add_route_arguments(commands.choices["route"])
    routing_cli.add_calibrate_arguments(commands.choices["calibrate"])
    add_runs_commands(commands, [common])
    try:
        registry = _registry()
    except Exception:  # strict mode or a broken registry: the command that runs reports it
        registry = PluginRegistry(strict=False, disabled=())
    for reg in registry.entries("command"):
        if reg.name in commands.choices or reg.missing_requires():
            continue
        try:
            command = registry.create("command", reg.name)
        except PluginError:
            continue  # `qstore plugins check` reports it
        leaf = commands.add_parser(
            reg.name, help=reg.description, description=reg.description, parents=[common]
        )
        command.configure(leaf)
        leaf.set_defaults(run=command.run, parser=leaf)
    parser.commands = list(commands.choices)
    plugins.commands = list(actions.choices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``qstore`` command line; returns the exit status (usage errors exit with 2)."""
    args, extra = _parser().parse_known_args(argv)
    if extra:
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.run is None:
        args.parser.print_help()
        return OK
    try:
        return int(args.run(args))
    except Exception as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        message = str(exc) if isinstance(exc, QstoreError) else f"{type(exc).__name__}: {exc}"
        print(f"qstore: error: {message}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
