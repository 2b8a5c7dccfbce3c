"""Held-out check: on the reference workloads the router picks the backend that is actually
fastest when every installed local backend is timed in the same run (or one within 15 % of it)."""

from __future__ import annotations

import warnings

import pytest

from qstore.core.routing import installed_backends, route
from qstore.core.routing_policy import Policy
from qstore.core.routing_speed import QUICK_GRID, calibrate, time_backend
from qstore.core.routing_workload import Workload

REFERENCE = [(8, 256, "auto"), (20, 1, None), (24, 1, None)]


@pytest.mark.slow
def test_the_router_picks_the_measured_fastest_backend() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pool = installed_backends(Policy())
    local = [
        b
        for b in pool.values()
        if not isinstance(b, str) and not {"cloud", "qpu"} & set(b.capabilities.devices)
    ]
    profile = calibrate(local, [*QUICK_GRID, (18, 1), (20, 1)])
    for n, batch, gradient in REFERENCE:
        work = Workload.from_layer(n, 2, batch=batch, gradient=gradient)
        decision = route(work, Policy(), backends=local, profile=profile)
        measured = {}
        for c in decision.candidates:
            if c.rejected:
                continue
            backend = next(b for b in local if b.name == c.backend)
            seconds = time_backend(backend, n, batch, "forward", repeats=2).seconds
            if c.method is not None:  # a training step: forward, then the gradient call
                seconds += time_backend(backend, n, batch, c.method, repeats=1).seconds
            measured[c.backend] = seconds
        fastest = min(measured.values())
        assert measured[decision.backend] <= 1.15 * fastest, (n, batch, decision.backend, measured)
