"""`QuantumKernel`: fidelity kernels ``K(x, y) = |<φ(x)|φ(y)>|²`` at scale.

On a backend that gives statevectors, each sample is simulated once (batched, through the public
backend API, see `backend_states`) and the kernel is one tiled complex matrix product: N simulations,
not N² circuits, in the precision of the backend's states (a backend named by string is built with
the kernel's ``precision``) and in its framework (`Backend.native_array`: torch tensors on the torch
backend's device). On a backend that only samples, the kernel is estimated from
overlap circuits with shots.

    qk = QuantumKernel(zz_feature_map(8, reps=2, entanglement="linear"))
    K_train = qk(X_train)              # symmetric, PSD, unit diagonal
    K_test = qk(X_test, X_train)
    SVC(kernel="precomputed").fit(K_train, y)   # or SVC(kernel=qk)
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Literal

import numpy as np

from qstore.core.backend import Backend, check_precision, check_seed, check_shots
from qstore.core.bindings import Bindings
from qstore.core.circuit import Circuit
from qstore.core.errors import ArgumentError, ArgumentTypeError, CapabilityError, ResourceError
from qstore.core.kernels import gram, overlap
from qstore.core.kernels.cache import kernel_key
from qstore.core.kernels.estimate import KernelEstimate, estimate_block, size_stats
from qstore.core.kernels.feature_maps import FeatureMap
from qstore.core.kernels.progress import Progress, ProgressLike
from qstore.core.kernels.store import KernelStats, plan_kernel, stored_kernel
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.statevector import available_memory
from qstore.core.storage import KernelStore, ResultCache

__all__ = ["Method", "Precision", "QuantumKernel", "backend_states"]

Method = Literal["auto", "statevector", "overlap"]
Precision = Literal["double", "single"]
_DTYPES = {"double": np.complex128, "single": np.complex64}
_STATE_MEMORY_FRACTION = 0.25


def backend_states(backend: Backend, circuit: Circuit, bindings: Bindings) -> np.ndarray:
    """Statevectors ``(B, 2**n)`` of a bound batch through the public backend contract.

    The kernel's only call into a backend's simulation; the backend's own precision is kept.
    """
    result = backend.run(circuit, bindings, outputs=("state",))
    if result.statevectors is None:
        raise CapabilityError(f"backend {backend.name!r} returned no statevectors; use method='overlap'")
    return result.statevectors


def _is_size(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _size(name: str, value: int) -> int:
    if value < 1:
        raise ArgumentError(f"{name} must be a positive number of rows (or the data), got {value!r}")
    return int(value)


class QuantumKernel:
    """Fidelity kernel of a feature map on a backend; callable as ``kernel(X)`` or ``kernel(X, Y)``.

    Args:
        feature_map: the encoding (`zz_feature_map`, `angle_feature_map`, …).
        backend: a `Backend`, a registered backend name, or None for the ``numpy`` backend.
        method: ``"statevector"`` (N simulations and a Gram product), ``"overlap"`` (one circuit
            per pair, the only choice for sampling-only backends), or ``"auto"``.
        shots: None for exact kernels; an int estimates each overlap from that many shots.
        seed: seed of the shot sampling.
        precision: ``"double"`` (complex128) or ``"single"`` (complex64, about 2× faster Gram
            products; kernel entries accurate to about 1e-6); None (default) follows the backend
            (double on the default numpy backend). A backend named by string is built in it.
        cache: a `ResultCache`; kernels are stored under (feature-map hash, data hash, backend,
            shots, …) and reused whole.
        store: a `KernelStore` (``get_storage("parquet-kernels", path=...)`` persists it): each
            entry is paid for once and reused by any block that contains it; ``last_stats`` says
            how many entries a call reused and computed. Exclusive with ``cache``.
        progress: None (default) for a tqdm bar with rate and ETA on stderr when it is a terminal
            and the computation takes over a second, True to show it on any stream, False for
            silence, or a callable ``(done, total)``.
        tile: rows per tile of the Gram product (working memory a few ``tile²`` real blocks); 512
            keeps the blocks in cache and runs BLAS faster than larger tiles (measured on 2 cores).
        batch_size: samples per simulation batch, or circuits per batch on the overlap path.

    ``cache`` and ``store`` are kept apart on purpose. The cache answers "this exact matrix
    again" with one hash and one lookup, which is what a simulator kernel needs (a repeated
    1000×1000 statevector kernel: about 1 ms from the cache, 0.4 s to recompute). The store
    answers "any entry ever paid for" by hashing every sample and looking up every pair, which
    costs far more than simulating on a CPU (2 s for the same repeated kernel, 13 s the first
    time, on the numpy backend under load) and far less than one QPU circuit. Use ``cache`` for simulators, ``store`` when entries
    are paid circuits.
    """

    def __init__(
        self,
        feature_map: FeatureMap,
        backend: Backend | str | None = None,
        *,
        method: Method = "auto",
        shots: int | None = None,
        seed: int | None = None,
        precision: Precision | None = None,
        cache: ResultCache | None = None,
        store: KernelStore | None = None,
        progress: ProgressLike = None,
        tile: int = 512,
        batch_size: int = 4096,
    ) -> None:
        if not isinstance(feature_map, FeatureMap):
            raise CapabilityError(f"feature_map must be a FeatureMap, got {type(feature_map).__name__}")
        options = {} if precision is None else {"precision": check_precision(precision)}
        if isinstance(backend, str):
            from qstore.core.plugins import get_backend

            backend = get_backend(backend, **options)
        elif backend is None:
            backend = NumpyBackend(**options)
        elif precision is not None and backend.capabilities.precision != precision:
            raise CapabilityError(
                f"precision={precision!r} but backend {backend.name!r} computes in "
                f"{backend.capabilities.precision} precision; build the backend with precision={precision!r}"
            )
        self.feature_map = feature_map
        self.backend: Backend = backend
        if method not in ("auto", "statevector", "overlap"):
            raise CapabilityError(f"method must be 'auto', 'statevector' or 'overlap', got {method!r}")
        shots = check_shots(shots)
        seed = check_seed(seed)
        for name, value in (("tile", tile), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CapabilityError(f"{name} must be a positive integer, got {value!r}")
        if cache is not None and store is not None:
            raise CapabilityError("give either cache= (whole matrices) or store= (entries), not both")
        if store is not None and not isinstance(store, KernelStore):
            raise CapabilityError(f"store must be a KernelStore, got {type(store).__name__}")
        caps = self.backend.capabilities
        if method == "statevector" and not caps.statevector:
            raise CapabilityError(
                f"backend {caps.name!r} gives no statevectors; use method='overlap' with shots"
            )
        if method == "statevector" and shots is not None:
            raise CapabilityError(
                "the statevector method is exact; use method='overlap' to estimate with shots"
            )
        self.method = method
        self.shots = shots
        self.seed = seed
        self.precision: Precision = backend.capabilities.precision  # type: ignore[assignment]
        self.cache = cache
        self.store = store
        self.last_stats: KernelStats | None = None
        self.progress = progress
        self.tile = tile
        self.batch_size = batch_size

    @property
    def resolved_method(self) -> Literal["statevector", "overlap"]:
        """The path ``"auto"`` takes: statevectors when exact and available, else overlaps."""
        if self.method != "auto":
            return self.method
        if self.shots is None and self.backend.capabilities.statevector:
            return "statevector"
        return "overlap"

    def __call__(self, X: Any, Y: Any = None) -> np.ndarray:
        """``K(X)`` or ``K(X, Y)``; usable as a scikit-learn callable kernel (``SVC(kernel=qk)``)."""
        return self.evaluate(X, Y)

    def evaluate(self, X: Any, Y: Any = None, *, cancel: threading.Event | None = None) -> np.ndarray:
        """Kernel matrix ``(N, M)``; ``Y=None`` (or ``Y is X``) gives the symmetric training kernel.

        Setting ``cancel`` stops the computation at the next tile or batch with
        `KernelCancelledError`; nothing partial is returned or cached (a ``store`` keeps the
        batches already paid for).
        """
        left = self.feature_map.check_data(X, "X")
        right = None if Y is None or Y is X else self.feature_map.check_data(Y, "Y")
        if self.store is not None:
            kernel, self.last_stats = stored_kernel(self, self.store, left, right, cancel)
            return kernel
        key = None
        if self.cache is not None:
            key = kernel_key(
                self.feature_map.hash,
                left,
                right,
                self.backend.name,
                self.shots,
                self.seed,
                self.precision,
                self.resolved_method,
            )
            hit = self.cache.get(key)
            if hit is not None:
                return np.array(hit, dtype=np.float64)
        if self.resolved_method == "statevector":
            kernel = self._statevector_kernel(left, right, cancel)
        else:
            kernel = self._overlap_kernel(left, right, cancel)
        if self.cache is not None and key is not None:
            stored = kernel.copy()
            stored.setflags(write=False)
            self.cache.put(key, stored)
        return kernel

    def plan(self, X: Any, Y: Any = None) -> KernelStats:
        """What ``evaluate(X, Y)`` would pay now with this kernel's ``store``; runs nothing."""
        if self.store is None:
            raise CapabilityError("plan needs a kernel built with store=<KernelStore>")
        left = self.feature_map.check_data(X, "X")
        right = None if Y is None or Y is X else self.feature_map.check_data(Y, "Y")
        return plan_kernel(self, self.store, left, right)

    def estimate(self, X: Any, Y: Any = None, *, backend: Backend | str | None = None) -> KernelEstimate:
        """Price ``evaluate(X, Y)`` before running it: circuits, shots, USD and seconds.

        ``X`` and ``Y`` are the data, or just their numbers of rows (``Y=None``: the symmetric
        kernel of ``X``). Given the data, a kernel with a ``store`` prices only what `plan` says is
        missing. ``backend`` prices the same kernel (feature map, method, shots, store) on another
        backend, e.g. a QPU, without building a second kernel by hand. Runs nothing.
        """
        kernel = self if backend is None else self._on(backend)
        if _is_size(X):
            if Y is not None and not _is_size(Y):
                raise ArgumentTypeError(f"X is a number of rows, so Y must be one too (or None), got {Y!r}")
            n_rows, n_cols = _size("X", X), None if Y is None else _size("Y", Y)
            stats = size_stats(kernel, n_rows, n_cols)
        else:
            left = self.feature_map.check_data(X, "X")
            right = None if Y is None or Y is X else self.feature_map.check_data(Y, "Y")
            n_rows, n_cols = len(left), None if right is None else len(right)
            if kernel.store is None:
                stats = size_stats(kernel, n_rows, n_cols)
            else:
                stats = plan_kernel(kernel, kernel.store, left, right)
        return estimate_block(kernel, (n_rows, n_rows if n_cols is None else n_cols), stats)

    def _on(self, backend: Backend | str) -> QuantumKernel:
        """This kernel's configuration on another backend (in that backend's precision)."""
        return QuantumKernel(
            self.feature_map,
            backend,
            method=self.method,
            shots=self.shots,
            seed=self.seed,
            cache=self.cache,
            store=self.store,
            progress=self.progress,
            tile=self.tile,
            batch_size=self.batch_size,
        )

    def states(self, X: Any, *, cancel: threading.Event | None = None) -> np.ndarray:
        """Feature statevectors ``(N, 2**n_qubits)`` (qubit 0 the most significant bit)."""
        data = self.feature_map.check_data(X, "X")
        progress = Progress(self._state_batches(len(data)), "quantum kernel states", self.progress, cancel)
        return self._states(data, progress)

    def _state_batches(self, n: int) -> int:
        return -(-n // self.batch_size)

    def _states(self, data: np.ndarray, progress: Progress) -> np.ndarray:
        dtype = np.dtype(_DTYPES[self.precision])
        dim = 2**self.feature_map.n_qubits
        need = data.shape[0] * dim * dtype.itemsize
        budget = _STATE_MEMORY_FRACTION * available_memory()
        if need > budget:
            raise ResourceError(
                f"{data.shape[0]} states of {self.feature_map.n_qubits} qubits need {need / 2**30:.2f} GiB "
                f"(budget {budget / 2**30:.2f} GiB); use precision='single', fewer samples, or Nystrom"
            )
        circuit = self.feature_map.circuit
        single = data.shape[0] <= self.batch_size
        out = None if single else np.empty((data.shape[0], dim), dtype=dtype)
        for start in range(0, data.shape[0], self.batch_size):
            progress.check()
            chunk = data[start : start + self.batch_size]
            states = backend_states(self.backend, circuit, self.feature_map.bindings(chunk))
            if out is None:  # one batch: the backend's array as it is, without a copy
                out = np.asarray(states, dtype)
            else:
                out[start : start + len(chunk)] = states
            progress.step()
        assert out is not None
        return out

    def _statevector_kernel(
        self, left: np.ndarray, right: np.ndarray | None, cancel: threading.Event | None
    ) -> np.ndarray:
        n_right = None if right is None else len(right)
        total = (
            self._state_batches(len(left))
            + (0 if right is None else self._state_batches(len(right)))
            + gram.gram_tiles(len(left), n_right, self.tile)
        )
        progress = Progress(total, "quantum kernel", self.progress, cancel)
        states_left = self.backend.native_array(self._states(left, progress))
        states_right = None if right is None else self.backend.native_array(self._states(right, progress))
        return gram.fidelity_gram(states_left, states_right, tile=self.tile, progress=progress)

    def _overlap_kernel(
        self, left: np.ndarray, right: np.ndarray | None, cancel: threading.Event | None
    ) -> np.ndarray:
        n_right = None if right is None else len(right)
        total = overlap.overlap_batches(len(left), n_right, self.batch_size)
        progress = Progress(total, "quantum kernel (overlap circuits)", self.progress, cancel)
        return overlap.overlap_kernel(
            self.feature_map,
            self.backend,
            left,
            right,
            shots=self.shots,
            seed=self.seed,
            batch_size=self.batch_size,
            progress=progress,
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> QuantumKernel:
        """Configuration is immutable; copies (e.g. scikit-learn's ``clone``) share backend and cache."""
        return copy.copy(self)

    def __repr__(self) -> str:
        return (
            f"QuantumKernel({self.feature_map.name}, n_qubits={self.feature_map.n_qubits}, "
            f"backend={self.backend.name!r}, method={self.resolved_method!r}, shots={self.shots})"
        )
