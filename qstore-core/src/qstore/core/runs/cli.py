"""``qstore runs``: list runs, show one run's report, plot its curves (read-only; live runs too).

```text
qstore runs list [--root runs] [--json]
qstore runs show NAME [--root runs] [--json]
qstore runs plot NAME --out loss.png [--root runs]
```
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from qstore.core.runs.report import list_runs, load_report, plot_run

__all__ = ["add_runs_commands"]


def _list(args: argparse.Namespace) -> int:
    runs = list_runs(args.root)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print(f"no runs under {args.root!r}")
        return 0
    print(f"{'name':<24}{'status':<13}{'framework':<11}{'updated':<21}last checkpoint")
    for run in runs:
        updated = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["updated"])) if "updated" in run else "-"
        )
        print(
            f"{run['name']:<24}{run['status']:<13}{run.get('framework') or '-':<11}{updated:<21}"
            f"{run.get('last_checkpoint') or run.get('error') or '-'}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    report = load_report(Path(args.root) / args.name)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 0


def _plot(args: argparse.Namespace) -> int:
    print(plot_run(Path(args.root) / args.name, args.out))
    return 0


def add_runs_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``runs list|show|plot`` to the ``qstore`` parser's subcommands."""
    runs = commands.add_parser("runs", help="training runs: list, show, plot", parents=parents)
    runs.set_defaults(run=None, parser=runs)
    actions = runs.add_subparsers(metavar="ACTION")
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument("--root", default="runs", help="directory holding the runs (default: runs)")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON")
    leaf = actions.add_parser("list", help="every run under --root", parents=[*parents, root, as_json])
    leaf.set_defaults(run=_list, parser=leaf)
    leaf = actions.add_parser("show", help="a run's report", parents=[*parents, root, as_json])
    leaf.add_argument("name")
    leaf.set_defaults(run=_show, parser=leaf)
    leaf = actions.add_parser(
        "plot", help="loss/accuracy, circuits/s and cost as a PNG", parents=[*parents, root]
    )
    leaf.add_argument("name")
    leaf.add_argument("--out", required=True, help="PNG path to write")
    leaf.set_defaults(run=_plot, parser=leaf)
    runs.commands = list(actions.choices)  # type: ignore[attr-defined]
