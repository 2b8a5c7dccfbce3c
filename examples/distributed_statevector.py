"""One register sharded over torch.distributed ranks: exact <Z0> and an adjoint gradient.

Run on CPUs (gloo) or GPUs (NCCL, one per rank), e.g.::

    torchrun --nproc-per-node 4 examples/distributed_statevector.py --qubits 24

Every rank runs the same script and gets the same numbers; rank 0 prints them with the time, the
number of all-to-all exchanges and the bytes each rank sent, and (with ``--check``) compares with
the single-process torch engine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch.distributed as dist

from qstore.core import get_backend
from qstore.core.ansatz import layer_circuit
from qstore.torch.distributed import init


def main() -> None:
    """Build the layered benchmark circuit, run it sharded, print one JSON-like line on rank 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=20)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--precision", choices=("single", "double"), default="single")
    parser.add_argument("--check", action="store_true", help="compare with the single-process torch engine")
    args = parser.parse_args()
    device = init()
    lc = layer_circuit(args.qubits, args.depth)
    rng = np.random.default_rng(0)
    bindings = {name: rng.uniform(0, 2 * np.pi) for name in lc.circuit.symbols}
    backend = get_backend("torch.distributed", precision=args.precision, device=str(device))
    start = time.perf_counter()
    result = backend.run(lc.circuit, bindings, "Z0")
    forward = time.perf_counter() - start
    start = time.perf_counter()
    grads = backend.gradient(lc.circuit, bindings, "Z0", method="adjoint", wrt=lc.weights[:4])
    backward = time.perf_counter() - start
    if dist.get_rank() == 0:
        info = result.metadata.extra
        line = {
            "qubits": args.qubits,
            "ranks": dist.get_world_size(),
            "z0": float(result.expectations[0, 0]),
            "forward_s": round(forward, 3),
            "adjoint_s": round(backward, 3),
            "exchanges": info.get("exchanges"),
            "bytes_exchanged": info.get("bytes_exchanged"),
            "dz0/d" + lc.weights[0]: float(grads[lc.weights[0]][0]),
        }
        if args.check:
            single = get_backend("torch", precision=args.precision).run(lc.circuit, bindings, "Z0")
            line["single_process_z0"] = float(single.expectations[0, 0])
        print(line)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
