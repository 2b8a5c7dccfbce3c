"""``qstore serve``: arguments here, the server imported only when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["ServeCommand"]


class ServeCommand:
    """``qstore serve [--host H] [--port P] [--root DIR] [--token T] [--workers N]``."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the serve options."""
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
        parser.add_argument(
            "--root",
            type=Path,
            default=Path.home() / ".qstore" / "service",
            help="directory of jobs and the kernel store (default ~/.qstore/service)",
        )
        parser.add_argument(
            "--token", default=None, help="bearer token clients must send (or QSTORE_SERVICE_TOKEN)"
        )
        parser.add_argument("--workers", type=int, default=1, help="kernel jobs run at once (default 1)")

    def run(self, args: argparse.Namespace) -> int:
        """Serve until interrupted; a refused bind is an error (exit 1)."""
        from qstore.service.server import serve

        serve(args.root, host=args.host, port=args.port, token=args.token, workers=args.workers)
        return 0
