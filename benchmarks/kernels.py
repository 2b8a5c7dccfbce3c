"""Training-kernel time of the ZZ feature map (reps 2, linear, 8 features): one JSON line per result.

Q-Store on every installed statevector backend in double and single precision (every backend
executes the same compiled plan; the Gram product runs in the backend's framework), plus the latency
of one 8-qubit feature-map circuit per backend, against the peers in the same run when installed
(the ``bench`` extra):

* Qiskit Machine Learning ``FidelityStatevectorKernel`` on Qiskit's own ``zz_feature_map``;
* PennyLane ``default.qubit`` used competently: the feature map broadcast over all samples in one
  QNode call, ``qml.state()``, then one Gram product ``|S S^†|²``.

Each backend and each peer runs in a fresh process of its own (spawned one after the other), so
TensorFlow's, torch's and OpenBLAS's thread pools never spin against each other on a small
machine. Timed lines carry ``seconds`` (fastest wall time) and ``cpu_seconds`` (fastest process time, all
threads summed: the steadier figure on a shared, loaded machine; run with ``OMP_NUM_THREADS=1`` to
compare engines' arithmetic). Each peer line carries ``max_abs_diff`` against Q-Store's kernel; each ``summary`` line the
speed-up over every peer and over the fastest one, and each backend's ratio to the fastest backend.
``--quick`` is W2 of the performance notes: N = 500 and the single circuit only.

``reuse`` lines (always printed; ``--reuse-only`` prints nothing else): a 200×200 training kernel,
then the 300×300 kernel containing it, with and without a kernel store, on the statevector and the
overlap path of the numpy backend. Each line gives the second kernel's seconds and the circuits the
backend ran for it (an overlap circuit per entry, or a state per sample), and ``max_abs_diff``
between the two.

    python benchmarks/kernels.py [--quick] [--reuse-only] [--sizes 500 2000 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from qstore.core import get_backend, list_backends
from qstore.core.backend import Request, Result
from qstore.core.errors import CapabilityError
from qstore.core.kernels import QuantumKernel, zz_feature_map
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.storage import MemoryKernelStore

N_FEATURES, REPS, ENTANGLEMENT = 8, 2, "linear"
TARGETS = {500: 0.004, 5000: 0.15}
"""Issue 11's single-precision targets (seconds) for N = 500 and N = 5000."""


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Fastest wall and CPU seconds (process time, all threads) of ``repeats`` timed calls after
    one warm-up call, and the last value. CPU time is the steadier figure on a shared, loaded machine."""
    value = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        value = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), value


def qiskit_kernel() -> Callable[[np.ndarray], np.ndarray] | None:
    """Qiskit ML's FidelityStatevectorKernel on the identical ZZ circuit, if installed."""
    try:
        from qiskit.circuit.library import zz_feature_map as qiskit_zz
        from qiskit_machine_learning.kernels import FidelityStatevectorKernel
    except ImportError:
        return None
    kernel = FidelityStatevectorKernel(
        feature_map=qiskit_zz(N_FEATURES, reps=REPS, entanglement=ENTANGLEMENT)
    )
    return kernel.evaluate


def pennylane_kernel() -> Callable[[np.ndarray], np.ndarray] | None:
    """PennyLane default.qubit: broadcast the ZZ map over all samples, take states, one Gram product."""
    try:
        import pennylane as qml
    except ImportError:
        return None
    pairs = [(i, i + 1) for i in range(N_FEATURES - 1)]
    device = qml.device("default.qubit", wires=N_FEATURES)

    @qml.qnode(device)
    def states(x: np.ndarray) -> Any:
        for _ in range(REPS):
            for q in range(N_FEATURES):
                qml.Hadamard(q)
            for q in range(N_FEATURES):
                qml.PhaseShift(2 * x[:, q], wires=q)
            for i, j in pairs:
                qml.CNOT([i, j])
                qml.PhaseShift(2 * (np.pi - x[:, i]) * (np.pi - x[:, j]), wires=j)
                qml.CNOT([i, j])
        return qml.state()

    def kernel(x: np.ndarray) -> np.ndarray:
        s = np.asarray(states(x))
        return np.abs(s.conj() @ s.T) ** 2

    return kernel


PEERS: dict[str, Callable[[], Callable[[np.ndarray], np.ndarray] | None]] = {
    "qiskit-ml FidelityStatevectorKernel": qiskit_kernel,
    "pennylane default.qubit": pennylane_kernel,
}


def statevector_backends() -> list[str]:
    """Installed backends that return statevectors (numpy first)."""
    names = []
    for name in list_backends():
        try:
            if get_backend(name).capabilities.statevector:
                names.append(name)
        except Exception as exc:  # a broken plugin must not stop the benchmark
            print(json.dumps({"benchmark": "kernels", "backend": name, "skipped": repr(exc)}), flush=True)
    return sorted(names, key=lambda n: (n != "numpy", n))


def single_circuit(fm: Any, name: str, x: np.ndarray, repeats: int) -> list[dict[str, Any]]:
    """Latency of one feature-map circuit (one sample ``x``, statevector out) on backend ``name``."""
    bindings = fm.bindings(x)
    lines: list[dict[str, Any]] = []
    for precision in ("double", "single"):
        try:
            backend = get_backend(name, precision=precision)
        except CapabilityError as exc:  # e.g. qsim computes in single precision only
            lines.append({"benchmark": "kernels", "backend": name, "skipped": str(exc)})
            continue
        run = functools.partial(backend.run, fm.circuit, bindings, outputs=("state",))
        seconds, cpu, _ = best_time(run, max(repeats, 20))
        line = {"benchmark": "kernels", "impl": f"qstore {name} {precision}", "single_circuit": True}
        lines.append(
            line | {"n_qubits": N_FEATURES, "seconds": round(seconds, 6), "cpu_seconds": round(cpu, 6)}
        )
    return lines


def measure_backend(
    name: str, sample: np.ndarray, xs: list[np.ndarray], refs: list[str], repeats: int
) -> list[dict[str, Any]]:
    """Every line of backend ``name`` (run in a fresh process of its own): the single circuit on
    ``sample`` ``(1, features)``, then the kernel of each data set in ``xs`` in both precisions, with ``max_abs_diff`` to the reference
    kernel saved at the matching path of ``refs``."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    fm = zz_feature_map(N_FEATURES, reps=REPS, entanglement=ENTANGLEMENT)
    lines = single_circuit(fm, name, sample, repeats)
    for x, ref in zip(xs, refs, strict=True):
        for precision in ("double", "single"):
            try:
                qk = QuantumKernel(fm, name, precision=precision, progress=False)  # type: ignore[arg-type]
            except CapabilityError:
                continue  # reported by single_circuit
            seconds, cpu, k = best_time(functools.partial(qk, x), repeats)
            line = {"impl": f"qstore {name} {precision}", "n": len(x), "seconds": round(seconds, 5)}
            line |= {"cpu_seconds": round(cpu, 5), "max_abs_diff": float(np.abs(k - np.load(ref)).max())}
            lines.append(line)
    return lines


def measure_peer(label: str, xs: list[np.ndarray], refs: list[str], repeats: int) -> list[dict[str, Any]]:
    """The kernel of each data set by peer ``label`` (in a fresh process of its own), if installed."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    fn = PEERS[label]()
    lines: list[dict[str, Any]] = []
    for x, ref in zip(xs, refs, strict=True):
        if fn is None:
            break
        seconds, cpu, k = best_time(functools.partial(fn, x), 1 if len(x) > 2000 else repeats)
        line = {"impl": label, "n": len(x), "seconds": round(seconds, 5), "cpu_seconds": round(cpu, 5)}
        lines.append(line | {"max_abs_diff": float(np.abs(k - np.load(ref)).max())})
    return lines


def isolated(fn: Callable[..., list[dict[str, Any]]], *args: Any) -> list[dict[str, Any]]:
    """``fn(*args)`` in a fresh interpreter: each framework's thread pools (TensorFlow's, torch's
    OpenMP, OpenBLAS's) then run alone instead of spinning against each other on a small machine."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


class CountingBackend(NumpyBackend):
    """The numpy backend, counting the circuits (bindings) it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.circuits = 0

    def execute(self, request: Request) -> Result:
        self.circuits += request.size
        return super().execute(request)


def reuse(
    fm: Any, machine: dict[str, Any], rng: np.random.Generator, first: int = 200, second: int = 300
) -> None:
    """The ``second``-sample kernel after the ``first``-sample one it contains, with and without a store."""
    x = rng.uniform(0, 2 * np.pi, size=(second, N_FEATURES))
    for method in ("statevector", "overlap"):
        base = {"benchmark": "kernels", "reuse": True, "method": method, "n_first": first, "n_second": second}
        kernels = {}
        for label, store in (("no store", None), ("store", MemoryKernelStore())):
            backend = CountingBackend()
            qk = QuantumKernel(fm, backend, method=method, store=store, progress=False)  # type: ignore[arg-type]
            qk(x[:first])
            backend.circuits = 0
            start = time.perf_counter()
            kernels[label] = qk(x)
            seconds = time.perf_counter() - start
            line = {**base, "impl": f"qstore numpy {label}", "seconds": round(seconds, 5)}
            line["circuits"] = backend.circuits
            if qk.last_stats is not None:
                line["reused_entries"] = qk.last_stats.reused
            line["max_abs_diff"] = float(np.abs(kernels[label] - kernels["no store"]).max())
            print(json.dumps({**line, **machine}), flush=True)


def main() -> None:
    """Time every implementation at every size and print JSON lines with ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 5000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--qiskit-max-n", type=int, default=2000, help="skip Qiskit ML above this N")
    parser.add_argument("--pennylane-max-n", type=int, default=5000, help="skip PennyLane above this N")
    parser.add_argument(
        "--backend-max-n", type=int, default=2000, help="skip non-numpy backends above this N"
    )
    parser.add_argument("--quick", action="store_true", help="N = 500 and the single circuit only")
    parser.add_argument("--reuse-only", action="store_true", help="only the kernel-store reuse lines")
    args = parser.parse_args()
    if args.quick:
        args.sizes = [500]
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    machine = {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    fm = zz_feature_map(N_FEATURES, reps=REPS, entanglement=ENTANGLEMENT)
    rng = np.random.default_rng(0)
    reuse(fm, machine, rng)
    if args.reuse_only:
        return
    peer_max_n = {
        "qiskit-ml FidelityStatevectorKernel": args.qiskit_max_n,
        "pennylane default.qubit": args.pennylane_max_n,
    }
    sample = rng.uniform(0, 2 * np.pi, size=(1, N_FEATURES))
    datasets = [rng.uniform(0, 2 * np.pi, size=(n, N_FEATURES)) for n in args.sizes]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        refs = []
        for x in datasets:
            refs.append(os.path.join(tmp, f"reference_{len(x)}.npy"))
            np.save(refs[-1], QuantumKernel(fm, progress=False)(x))
        for name in statevector_backends():
            keep = [i for i, x in enumerate(datasets) if name == "numpy" or len(x) <= args.backend_max_n]
            sets, paths = [datasets[i] for i in keep], [refs[i] for i in keep]
            for line in isolated(measure_backend, name, sample, sets, paths, args.repeats):
                if "n" in line:
                    results.append(line)
                else:  # the single circuit, or why a precision was skipped
                    print(json.dumps({**line, **machine}), flush=True)
        for label, max_n in peer_max_n.items():
            keep = [i for i, x in enumerate(datasets) if len(x) <= max_n]
            sets, paths = [datasets[i] for i in keep], [refs[i] for i in keep]
            results += isolated(measure_peer, label, sets, paths, args.repeats)
    for n in args.sizes:
        base = {"benchmark": "kernels", "feature_map": f"zz reps={REPS} {ENTANGLEMENT}", "n": n, **machine}
        ours: dict[str, float] = {}
        peer_times: dict[str, float] = {}
        for result in results:
            if result.get("n") != n:
                continue
            line = {**base, **result}
            if result["impl"] in PEERS:
                peer_times[result["impl"]] = result["seconds"]
            else:
                ours[result["impl"]] = result["seconds"]
                if n in TARGETS and result["impl"].endswith("single"):
                    line["target_seconds"] = TARGETS[n]
                    line["meets_target"] = result["seconds"] < TARGETS[n]
            print(json.dumps(line), flush=True)
        for precision in ("double", "single"):
            mine = {label: t for label, t in ours.items() if label.endswith(precision)}
            if not mine:
                continue
            fastest = min(mine, key=mine.__getitem__)
            for label, t in mine.items():
                ratio = {**base, "impl": label, "ratio_to_fastest_backend": round(t / mine[fastest], 2)}
                print(
                    json.dumps({**ratio, "fastest_backend": fastest, "within_1.5x": t <= 1.5 * mine[fastest]})
                )
        if not peer_times or not ours:
            continue
        fastest_peer = min(peer_times, key=peer_times.__getitem__)
        for label in ours:
            summary = {
                **base,
                "impl": label,
                "summary": True,
                "seconds": round(ours[label], 5),
                "fastest_peer": fastest_peer,
                "speedup_vs_fastest_peer": round(peer_times[fastest_peer] / ours[label], 2),
                "speedup": {peer: round(t / ours[label], 2) for peer, t in peer_times.items()},
                "meets_3x": peer_times[fastest_peer] / ours[label] >= 3.0,
            }
            print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
