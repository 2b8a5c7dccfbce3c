"""``qstore route`` and ``qstore calibrate``: the router's command-line face.

    qstore route --qubits 20 --depth 10 --batch 64 --gradients adjoint --shots 1000 --budget 50
                 [--samples 1000 --epochs 5] [--priority speed] [--allow-hardware] [--json]
    qstore calibrate [--quick] [--json]

``route`` builds every installed backend (so it imports what they need), reads this machine's
profile if ``calibrate`` wrote one, and prints the decision table; ``calibrate`` times the local
backends with a progress bar and writes the profile.
"""

from __future__ import annotations

import argparse
import json

from tqdm import tqdm

from qstore.core.routing import installed_backends, route
from qstore.core.routing_policy import LATENCIES, PRIORITIES, Policy
from qstore.core.routing_speed import GRID, QUICK_GRID, calibrate, profile_dir, save_profile
from qstore.core.routing_workload import Workload

__all__ = ["add_calibrate_arguments", "add_route_arguments", "calibrate_command", "route_command"]


def add_route_arguments(parser: argparse.ArgumentParser) -> None:
    """The workload and policy flags of ``qstore route``."""
    parser.add_argument("--qubits", type=int, required=True, help="register size")
    parser.add_argument("--depth", type=int, default=2, help="layers of the built-in ansatz")
    parser.add_argument("--batch", type=int, default=1, help="circuits per call")
    parser.add_argument(
        "--gradients", default=None, help="gradient method, or 'auto' (default: forward only)"
    )
    parser.add_argument("--shots", type=int, default=None, help="shots per circuit (default: exact)")
    parser.add_argument("--budget", type=float, default=None, help="USD budget for the run")
    parser.add_argument("--samples", type=int, default=None, help="training samples per epoch")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the planned run")
    parser.add_argument("--priority", choices=PRIORITIES, default="speed")
    parser.add_argument("--latency", choices=LATENCIES, default="interactive")
    parser.add_argument("--allow-hardware", action="store_true", help="consider QPU backends")


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``qstore calibrate``."""
    parser.add_argument("--quick", action="store_true", help="a small grid (about a minute)")


def route_command(args: argparse.Namespace) -> int:
    """Print the routing decision for the described workload (table, or JSON with ``--json``)."""
    workload = Workload.from_layer(
        args.qubits, args.depth, batch=args.batch, shots=args.shots, gradient=args.gradients,
        samples=args.samples, epochs=args.epochs,
    )  # fmt: skip
    policy = Policy(
        priority=args.priority,
        budget_usd=args.budget,
        latency=args.latency,
        allow_hardware=args.allow_hardware,
    )
    decision = route(workload, policy)
    print(json.dumps(decision.to_dict(), indent=2) if args.json else decision)
    return 0


def calibrate_command(args: argparse.Namespace) -> int:
    """Time every local backend, fit its speed models and write this machine's profile."""
    backends = [b for b in installed_backends(Policy()).values() if not isinstance(b, str)]
    grid = QUICK_GRID if args.quick else GRID
    profile = calibrate(backends, grid, progress=lambda items: tqdm(items, desc="calibrating", unit="point"))
    path = save_profile(profile)
    summary = {
        "path": str(path),
        "models": {b: {m: s.median_rel_error for m, s in ms.items()} for b, ms in profile.models.items()},
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"profile written to {path} (directory: {profile_dir()})")
        for backend, modes in summary["models"].items():
            fits = ", ".join(f"{m} median error {e:.0%}" for m, e in modes.items())
            print(f"  {backend}: {fits}")
    return 0
