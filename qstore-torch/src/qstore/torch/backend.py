"""The ``torch`` backend: the batched torch statevector engine behind the core backend contract.

``TorchBackend(device="cpu" | "cuda" | "cuda:1", precision="single" | "double")`` runs on CPU or
CUDA through one code path (complex64 or complex128 amplitudes). NumPy in, NumPy out, like every backend; `expectations` is the
tensor-level entry point the torch layer uses (autograd or adjoint gradients). Noisy circuits run on
density matrices (`qstore.torch.density`, exact, differentiable) or, with ``noise="trajectories"``,
as seeded Monte-Carlo trajectories on the statevector kernels (`qstore.torch.trajectories`, with
standard errors in ``info["stderr"]``)::

    backend = TorchBackend(precision="double")
    backend.run(circuit, {"theta": np.linspace(0, 1, 256)}, ["Z0", "X1"])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cached_property

import numpy as np

import torch
from qstore.core import density as dm
from qstore.core import statevector as sv
from qstore.core import trajectories as core_tj
from qstore.core.backend import NOISE_METHODS, Backend, Capabilities, Request, Result, check_precision
from qstore.core.bindings import Batch
from qstore.core.circuit import Circuit
from qstore.core.errors import CapabilityError, GradientError
from qstore.core.gates import GATES
from qstore.core.observables import ObservableLike, as_observables
from qstore.core.plan import compile_plan
from qstore.core.plan_readout import compile_readout
from qstore.torch import density
from qstore.torch import readout as ro
from qstore.torch import trajectories as tj
from qstore.torch.adjoint import adjoint_expectations, adjoint_sweep
from qstore.torch.engine import real_dtype, sample, shot_expectations, simulate

__all__ = ["DTYPES", "TorchBackend", "expectations"]

DTYPES = {"single": torch.complex64, "double": torch.complex128}
_WORKING_COPIES = 4


def expectations(
    circuit: Circuit,
    values: torch.Tensor,
    vectors: Mapping[str, torch.Tensor],
    observables: ObservableLike | Sequence[ObservableLike],
    dtype: torch.dtype = torch.complex64,
    method: str = "backprop",
    shared: np.ndarray | None = None,
) -> torch.Tensor:
    """``(B, n_obs)`` exact expectations as a differentiable tensor.

    ``values`` is ``(B, S)`` in the order of ``circuit.symbols``; ``vectors`` maps state-preparation
    inputs to ``(B, 2**k)`` amplitudes; ``observables`` are objects or strings like ``"Z0 Z1"``.
    ``method`` is ``"backprop"`` (autograd through every step) or ``"adjoint"`` (O(state) memory,
    see `qstore.torch.adjoint`). ``shared`` marks symbols (a boolean per ``circuit.symbols``) whose
    value is the same in every row, such as a layer's weights: the engine reads them from the first
    row and builds their matrices once. Noisy circuits run on density matrices
    (`qstore.torch.density`) and always differentiate by autograd.
    """
    if circuit.has_noise:
        return density.expectations(circuit, values, vectors, as_observables(observables), dtype)
    plan = compile_plan(circuit)
    readout = compile_readout(as_observables(observables), circuit.n_qubits)
    if method == "adjoint":
        return adjoint_expectations(plan, readout, values, vectors, dtype, shared)
    if method != "backprop":
        raise GradientError(f"torch engine differentiates by 'backprop' or 'adjoint', not {method!r}")
    return ro.expectations(readout, simulate(plan, values, vectors, dtype, shared))


class TorchBackend(Backend):
    """Batched torch statevector simulator on CPU or CUDA (the ``torch`` backend).

    ``noise`` chooses how noisy circuits run: ``"density"`` (exact) or ``"trajectories"``
    (``trajectories`` seeded pure-state samples per row), as for `qstore.core.NumpyBackend`.
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        precision: str = "single",
        noise: str = "density",
        trajectories: int = core_tj.DEFAULT_TRAJECTORIES,
    ) -> None:
        self.precision = check_precision(precision)
        if noise not in NOISE_METHODS:
            raise CapabilityError(f"noise must be one of {list(NOISE_METHODS)}, got {noise!r}")
        self.noise = noise
        self.trajectories = core_tj.check_trajectories(trajectories)
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError):
            raise CapabilityError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
        if self.device.type not in ("cpu", "cuda"):
            raise CapabilityError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise CapabilityError("device 'cuda' was asked for but torch sees no CUDA device; use 'cpu'")
        self.dtype = DTYPES[self.precision]

    @cached_property
    def capabilities(self) -> Capabilities:
        """Every gate of the table; qubits limited by the device's free memory."""
        if self.device.type == "cuda":
            free = torch.cuda.mem_get_info(self.device)[0]
        else:
            free = sv.available_memory()
        per_state = _WORKING_COPIES * self.dtype.itemsize
        return Capabilities(
            name="torch",
            max_qubits=int(math.log2(max(free // per_state, 2))),
            gates=frozenset(GATES),
            gradient_methods=("adjoint", "parameter-shift", "finite-diff", "spsa"),
            devices=(str(self.device),),
            precision=self.precision,
            noise=(self.noise,),
            description=f"batched torch statevector engine ({str(self.dtype).removeprefix('torch.')}, "
            f"{self.device})",
        )

    @property
    def _numpy_dtype(self) -> type[np.complexfloating]:
        return np.complex64 if self.dtype == torch.complex64 else np.complex128

    def tensors(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The batch's symbol values ``(B, S)`` and state-preparation vectors as tensors."""
        symbols = batch.circuit.symbols
        if symbols:
            stacked = np.stack([batch.values[s] for s in symbols], axis=1)
        else:
            stacked = np.zeros((batch.size, 0))
        values = torch.as_tensor(stacked, dtype=real_dtype(self.dtype), device=self.device)
        vectors = {
            name: torch.as_tensor(np.array(v), device=self.device).to(self.dtype)
            for name, v in batch.vectors.items()
        }
        return values, vectors

    def execute(self, request: Request) -> Result:
        """Simulate the batch on the device; read expectations, samples and states from it."""
        batch, observables, shots, seed = request.batch, request.observables, request.shots, request.seed
        n = batch.circuit.n_qubits
        if self.device.type == "cpu":
            sv.check_memory(n, batch.size, self._numpy_dtype)
        values, vectors = self.tensors(batch)
        if batch.circuit.has_noise:
            return self._execute_noisy(request, values, vectors)
        generator = torch.Generator(device=self.device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        with torch.no_grad():
            state = simulate(compile_plan(batch.circuit), values, vectors, self.dtype)
            values_out = None
            if request.wants("expectations"):
                if shots is None:
                    readout = compile_readout(observables, n)
                    values_out = ro.expectations(readout, state).double().cpu().numpy()
                else:
                    values_out = shot_expectations(state, n, observables, shots, generator)
            need_probs = request.wants("samples") or request.wants("probabilities")
            probs = state.real**2 + state.imag**2 if need_probs else None
            samples = None
            if request.wants("samples"):
                assert probs is not None and shots is not None
                samples = sample(probs, shots, generator).cpu().numpy()
        return Result(
            expectations=values_out,
            samples=samples,
            probabilities=probs.double().cpu().numpy() if request.wants("probabilities") else None,
            statevectors=state.cpu().numpy() if request.wants("state") else None,
        )

    def _execute_noisy(
        self, request: Request, values: torch.Tensor, vectors: Mapping[str, torch.Tensor]
    ) -> Result:
        """Density matrices on the device; shots are drawn as the NumPy reference draws them."""
        if request.wants("state"):
            raise CapabilityError(
                "a noisy circuit has a mixed state, not a statevector; ask for probabilities or expectations"
            )
        shots, observables = request.shots, request.observables
        if self.noise == "trajectories":
            return self._execute_trajectories(request)
        with torch.no_grad():
            rho = density.simulate(request.circuit, values, vectors, self.dtype)
        rho_np = (
            rho.to(torch.complex128)
            .cpu()
            .numpy()
            .reshape((request.size,) + (2,) * (2 * request.circuit.n_qubits))
        )
        rng = np.random.default_rng(request.seed)
        expectations = None
        if request.wants("expectations"):
            expectations = (
                dm.expectations(rho_np, observables)
                if shots is None
                else dm.shot_expectations(rho_np, observables, shots, rng)
            )
        probs = dm.probabilities(rho_np)
        return Result(
            expectations=expectations,
            samples=sv.sample(probs, shots, rng) if request.wants("samples") and shots is not None else None,
            probabilities=probs if request.wants("probabilities") else None,
            info={"noise": "density"},
        )

    def _execute_trajectories(self, request: Request) -> Result:
        """Seeded trajectories on the device; means, standard errors and shots as the NumPy engine."""
        if self.device.type == "cpu":
            sv.check_memory(request.circuit.n_qubits, request.size * self.trajectories, self._numpy_dtype)
        rng = np.random.default_rng(request.seed)
        with torch.no_grad():
            runs = tj.simulate(request.batch, self.trajectories, rng, self.dtype, self.device)
            probs = runs.probabilities()
            info: dict[str, object] = {"noise": "trajectories", "trajectories": runs.count}
            expectations = None
            if request.wants("expectations"):
                expectations, info["stderr"] = runs.expectations(request.observables)
        shots = request.shots
        return Result(
            expectations=expectations,
            samples=sv.sample(probs, shots, rng) if request.wants("samples") and shots is not None else None,
            probabilities=probs if request.wants("probabilities") else None,
            info=info,
        )

    def vjp(self, request: Request, cotangent: np.ndarray, wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Adjoint method on the torch engine (autograd on density matrices for noisy circuits);
        returns ``{symbol: (B,)}`` for ``wrt``."""
        batch, observables = request.batch, request.observables
        if batch.circuit.has_noise:
            if self.noise != "density":
                raise GradientError(
                    "trajectories are stochastic and have no gradient; use TorchBackend(noise='density')"
                )
            values, vectors = self.tensors(batch)
            values.requires_grad_(True)
            out = density.expectations(batch.circuit, values, vectors, observables, self.dtype)
            cot = torch.as_tensor(cotangent, dtype=out.dtype, device=self.device)
            (grad,) = torch.autograd.grad(out, values, cot)
            column = {s: i for i, s in enumerate(batch.circuit.symbols)}
            return {name: grad[:, column[name]].double().cpu().numpy() for name in wrt}
        plan = compile_plan(batch.circuit)
        readout = compile_readout(observables, batch.circuit.n_qubits)
        values, vectors = self.tensors(batch)
        with torch.no_grad():
            state = simulate(plan, values, vectors, self.dtype)
        cot = torch.as_tensor(cotangent, dtype=real_dtype(self.dtype), device=self.device)
        grads, _ = adjoint_sweep(plan, readout, values, state, cot, self.dtype, vector_grads=False)
        column = {s: i for i, s in enumerate(plan.symbols)}
        out = grads.double().cpu().numpy()
        return {name: out[:, column[name]] for name in wrt}

    def native_array(self, array: np.ndarray) -> torch.Tensor:
        """``array`` as a tensor on this backend's device (no copy on CPU)."""
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def __repr__(self) -> str:
        return f"<TorchBackend {self.precision} precision on {self.device}>"
