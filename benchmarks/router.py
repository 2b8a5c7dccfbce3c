"""Predicted vs measured seconds per backend over a grid of workloads; prints JSON lines.

Calibrates the local backends on the default grid in this same run, then times the layer ansatz at
held-out sizes and prints one line per (backend, workload) plus a summary line per backend with
the median relative error of the prediction. Run: ``python benchmarks/router.py``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np

from qstore.core.routing import installed_backends
from qstore.core.routing_policy import Policy
from qstore.core.routing_speed import calibrate, time_backend

HELD_OUT = (
    (6, 32, "forward"),
    (10, 8, "forward"),
    (14, 1, "forward"),
    (8, 256, "native"),
    (18, 1, "forward"),
)


def main() -> None:
    """Calibrate, then compare each backend's prediction with its measured time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backends = [b for b in installed_backends(Policy()).values() if not isinstance(b, str)]
    local = [b for b in backends if not {"cloud", "qpu"} & set(b.capabilities.devices)]
    profile = calibrate(local)
    errors: dict[str, list[float]] = {}
    for backend in local:
        native = next(
            (m for m in ("adjoint", "backprop") if m in backend.capabilities.gradient_methods), None
        )
        for n, batch, kind in HELD_OUT:
            mode = "forward" if kind == "forward" else native
            model = profile.model(backend.name, mode) if mode else None
            if model is None:
                continue
            measured = time_backend(backend, n, batch, mode, repeats=2)
            predicted = model.predict(n, batch, measured.gates)
            rel = abs(predicted - measured.seconds) / measured.seconds
            errors.setdefault(backend.name, []).append(rel)
            print(json.dumps({"backend": backend.name, "mode": mode, "qubits": n, "batch": batch,
                              "measured_s": measured.seconds, "predicted_s": predicted, "rel_error": rel}))  # fmt: skip
    for name, rels in errors.items():
        print(json.dumps({"backend": name, "median_rel_error": float(np.median(rels)), "points": len(rels)}))


if __name__ == "__main__":
    main()
