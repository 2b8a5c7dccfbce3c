"""`Trainer`: fit / evaluate / predict for a PyTorch model, recorded as a `qstore.core.runs.Run`.

Every step logs a metrics row (loss, gradient norm/max/min, circuits, qubits, shots, backend,
circuit seconds, cost, samples/s, ...); every ``checkpoint_every`` steps and at every epoch end it
checkpoints the model, the optimizer, the RNG states (torch, NumPy, Python), the quantum layers'
seed counters and the data position. ``fit(..., resume=True)`` continues from the run's last
checkpoint **bit-identically on CPU**: the shuffling of epoch ``e`` comes from its own generator
seeded with ``seed + e``, so the position ``(epoch, batch)`` is all a resume needs.

While a step runs (and waits on a remote backend's jobs), the next ``prefetch`` batches are
gathered by a background thread, and the run's writes (metrics rows, checkpoints, ledger lines)
are done by the run's own writer thread behind a bounded queue; an error in either is raised in
the training loop at the next batch or write. Neither thread touches a random generator, so
training is bit-identical with any ``prefetch``.

For a hand-written loop, `training_state` / `restore_training_state` turn the same state into
checkpoint arrays and back, next to ``run.log(...)`` and ``run.checkpoint(...)``.
"""

from __future__ import annotations

import copy
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
from tqdm import tqdm

import torch
from qstore.core.errors import ArgumentError
from qstore.core.routing import AutoBackend
from qstore.core.runs import Run
from qstore.core.storage import Checkpoint
from qstore.torch.layer import QuantumLayer
from torch import nn

__all__ = ["Trainer", "restore_training_state", "training_state"]

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose argmax is the target class."""
    return float((outputs.argmax(dim=1) == targets).float().mean())


def _quantum_layers(model: nn.Module) -> list[QuantumLayer]:
    return [m for m in model.modules() if isinstance(m, QuantumLayer)]


def training_state(
    model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Checkpoint arrays and JSON metadata for the model, optimizer, RNG states and seed counters."""
    arrays = {f"model.{k}": v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    scalars: dict[str, Any] = {}
    opt = optimizer.state_dict()
    for index, state in opt["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                arrays[f"optimizer.{index}.{key}"] = value.detach().cpu().numpy()
            else:
                scalars[f"{index}.{key}"] = value
    groups = [
        {k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in group.items()}
        for group in opt["param_groups"]
    ]
    arrays["rng.torch"] = torch.get_rng_state().numpy()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    arrays["rng.numpy"] = np.asarray(keys)
    py_version, py_state, py_gauss = random.getstate()
    arrays["rng.python"] = np.asarray(py_state, dtype=np.uint64)
    metadata = {
        "optimizer_param_groups": groups,
        "optimizer_scalars": scalars,
        "rng_numpy": [kind, int(pos), int(has_gauss), float(cached)],
        "rng_python": [py_version, py_gauss],
        "layer_calls": [layer._call.calls for layer in _quantum_layers(model)],
    }
    return arrays, metadata


def restore_training_state(
    checkpoint: Checkpoint, model: nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Load a `training_state` checkpoint into ``model`` and ``optimizer``; returns its metadata."""
    arrays, meta = checkpoint.arrays, checkpoint.metadata
    model.load_state_dict(
        {
            k.removeprefix("model."): torch.from_numpy(np.array(v))
            for k, v in arrays.items()
            if k.startswith("model.")
        }
    )
    state: dict[int, dict[str, Any]] = {}
    for key, value in arrays.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = torch.from_numpy(np.array(value))
    for key, value in meta["optimizer_scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer_param_groups"]})
    torch.set_rng_state(torch.from_numpy(np.array(arrays["rng.torch"])))
    kind, pos, has_gauss, cached = meta["rng_numpy"]
    np.random.set_state((kind, np.array(arrays["rng.numpy"]), pos, has_gauss, cached))
    py_version, py_gauss = meta["rng_python"]
    random.setstate((py_version, tuple(int(v) for v in arrays["rng.python"]), py_gauss))
    layers = _quantum_layers(model)
    if len(layers) != len(meta["layer_calls"]):
        raise ArgumentError(
            f"checkpoint {checkpoint.name!r} was saved from a model with {len(meta['layer_calls'])} "
            f"quantum layers; this model has {len(layers)}"
        )
    for layer, calls in zip(layers, meta["layer_calls"], strict=True):
        layer._call.calls = calls
    return dict(meta)


def on_backend(model: nn.Module, backend: str, shots: int | None, seed: int | None) -> nn.Module:
    """A copy of ``model`` whose quantum layers run on ``backend`` with ``shots`` (same weights)."""
    copied = copy.deepcopy(model)
    for parent in list(copied.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, QuantumLayer):
                theta = child.theta.detach().clone()
                replacement = QuantumLayer(
                    circuit=child.layer_circuit,
                    backend=backend,
                    shots=shots,
                    seed=seed,
                    init=_copy_from(theta),
                )
                setattr(parent, child_name, replacement)
    return copied


def _copy_from(theta: torch.Tensor) -> Callable[[torch.Tensor], None]:
    """A layer ``init`` that copies trained weights (and draws nothing from the torch RNG)."""

    def init(weights: torch.Tensor) -> None:
        with torch.no_grad():
            weights.copy_(theta.to(weights.dtype))

    return init


class _CircuitMeter:
    """Counts circuits and times forward and backward passes of the model's quantum layers."""

    def __init__(self, model: nn.Module) -> None:
        self.layers = _quantum_layers(model)
        self.reset()
        self._started: dict[int, float] = {}
        for layer in self.layers:
            layer.register_forward_pre_hook(self._start)
            layer.register_forward_hook(self._stop_forward)
            layer.theta.register_hook(self._stop_backward_hook(layer))

    def reset(self) -> None:
        self.circuits, self.seconds, self.cost = 0, 0.0, 0.0

    def _start(self, module: nn.Module, args: Any) -> None:
        self._started[id(module)] = time.perf_counter()

    def _stop_forward(self, module: nn.Module, args: Any, output: Any) -> None:
        self.seconds += time.perf_counter() - self._started.pop(id(module))
        batch = int(args[0].shape[0])
        self.circuits += batch
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(self._start_backward(module))
        spec = module.spec  # type: ignore[union-attr]
        model = spec.backend.capabilities.cost_model
        if model is not None and not spec.in_graph:
            self.cost += float(model.estimate(spec.circuit.circuit, batch, spec.shots))

    def _start_backward(self, module: nn.Module) -> Callable[[torch.Tensor], None]:
        """A hook on the layer's output gradient: the layer's backward starts when it is computed."""

        def start(grad: torch.Tensor) -> None:
            self._started[id(module)] = time.perf_counter()

        return start

    def _stop_backward_hook(self, module: nn.Module) -> Callable[[torch.Tensor], None]:
        """A hook on the weights' gradient: the layer's backward ends when it is computed."""

        def stop(grad: torch.Tensor) -> None:
            self.seconds += time.perf_counter() - self._started.pop(id(module), time.perf_counter())

        return stop

    @property
    def qubits(self) -> int:
        return max((layer.n_qubits for layer in self.layers), default=0)

    @property
    def shots(self) -> int:
        return sum(layer.shots or 0 for layer in self.layers)

    @property
    def backend(self) -> str:
        names = sorted({layer.backend.name for layer in self.layers})
        return "+".join(names) if names else "classical"


Batch = tuple[int, torch.Tensor, torch.Tensor]
_END = object()


class _Prefetcher:
    """Runs ``batches`` ``depth`` items ahead in a daemon thread; its errors re-raise in `__next__`.

    The queue is bounded, so at most ``depth`` prepared batches wait; `close` stops the thread
    when the loop ends early (an error in a step).
    """

    def __init__(self, batches: Iterator[Batch], depth: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._fill, args=(batches,), name="qstore-prefetch", daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, batches: Iterator[Batch]) -> None:
        try:
            for batch in batches:
                if not self._put(batch):
                    return
        except BaseException as exc:  # handed to the training loop, raised there
            self._put(exc)
            return
        self._put(_END)

    def __iter__(self) -> _Prefetcher:
        return self

    def __next__(self) -> Batch:
        item = self._queue.get()
        if item is _END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop preparing batches (the thread ends at its next queue operation)."""
        self._stop.set()


class Trainer:
    """Train ``model`` with ``optimizer`` on ``loss``; record everything in ``run`` when given.

    Args:
        model: the PyTorch module to train.
        optimizer: its optimizer.
        loss: ``loss(outputs, targets)`` returning a scalar.
        run: a `qstore.core.runs.Run` to log metrics and checkpoints to (None: nothing is kept).
        batch_size: rows per step; the last batch of an epoch may be smaller.
        seed: shuffling of epoch ``e`` uses a generator seeded with ``seed + e``.
        checkpoint_every: also checkpoint every this many steps (epoch ends always checkpoint).
        metrics: extra ``name -> fn(outputs, targets)`` reported by `evaluate` (accuracy by default).
        validation_backend: run validation on another backend (e.g. a shot-based simulator while
            training on the torch engine); None validates on the model as it is.
        validation_shots: shots for that validation backend.
        progress: show a tqdm bar per epoch.
        prefetch: batches gathered ahead by a background thread while a step runs (default 1;
            0 gathers each batch in the loop). Results are identical either way.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        *,
        run: Run | None = None,
        batch_size: int = 32,
        seed: int = 0,
        checkpoint_every: int | None = None,
        metrics: Mapping[str, Metric] | None = None,
        validation_backend: str | None = None,
        validation_shots: int | None = None,
        progress: bool = True,
        prefetch: int = 1,
    ) -> None:
        for option, value in (("batch_size", batch_size), ("checkpoint_every", checkpoint_every or 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(f"{option} must be a positive integer, got {value!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
            raise ArgumentError(
                f"prefetch must be a non-negative integer (0: no prefetching), got {prefetch!r}"
            )
        self.prefetch = prefetch
        self.model, self.optimizer, self.loss, self.run = model, optimizer, loss, run
        self.batch_size, self.seed, self.checkpoint_every = batch_size, seed, checkpoint_every
        self.metrics = dict(metrics) if metrics is not None else {"accuracy": accuracy}
        self.validation_backend, self.validation_shots = validation_backend, validation_shots
        self.progress = progress
        self._meter = _CircuitMeter(model)
        self._last_storage = 0.0  # enqueue seconds of the previous step's writes, logged with the next
        self._recorded: set[tuple[int, object]] = set()

    def _record_routing(self) -> None:
        """Keep every new decision of layers routed with ``backend="auto"`` in the run."""
        for layer in self.model.modules():
            backend = getattr(getattr(layer, "spec", None), "backend", None)
            if isinstance(backend, AutoBackend):
                for key, decision in backend.decisions.items():
                    if (id(backend), key) not in self._recorded:
                        self._recorded.add((id(backend), key))
                        self.run.record_decision(decision)  # type: ignore[union-attr]

    def _checkpoint(self, step: int, epoch: int, batch: int) -> None:
        if self.run is None:
            return
        self._record_routing()
        arrays, meta = training_state(self.model, self.optimizer)
        meta.update(
            {"epoch": epoch, "batch": batch, "step": step, "seed": self.seed, "batch_size": self.batch_size}
        )
        self.run.checkpoint(f"step-{step:09d}", arrays, meta)

    def _resume(self) -> tuple[int, int, int]:
        """``(epoch, batch, step)`` to start from: the last checkpoint's, or zeros."""
        checkpoint = self.run.latest_checkpoint() if self.run is not None else None
        if checkpoint is None:
            return 0, 0, 0
        meta = restore_training_state(checkpoint, self.model, self.optimizer)
        if (meta["seed"], meta["batch_size"]) != (self.seed, self.batch_size):
            raise ArgumentError(
                f"checkpoint {checkpoint.name!r} was trained with seed={meta['seed']}, batch_size="
                f"{meta['batch_size']}; resume with the same values (got {self.seed}, {self.batch_size})"
            )
        return meta["epoch"], meta["batch"], meta["step"]

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, dict[str, float]]:
        self.model.train()
        self.optimizer.zero_grad()
        loss = self.loss(self.model(x), y)
        loss.backward()
        grads = [p.grad.detach().reshape(-1).abs() for p in self.model.parameters() if p.grad is not None]
        flat = torch.cat(grads) if grads else torch.zeros(1)
        self.optimizer.step()
        stats = {
            "grad_norm": float(flat.norm()),
            "grad_max": float(flat.max()),
            "grad_min": float(flat.min()),
        }
        return float(loss.detach()), stats

    def fit(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        epochs: int,
        validation_data: tuple[torch.Tensor, torch.Tensor] | None = None,
        resume: bool = False,
    ) -> list[dict[str, float]]:
        """Train until ``epochs`` epochs are done; returns one summary dict per epoch run now.

        With ``resume=True`` it first restores the run's last checkpoint (if any) and continues
        from its position; the result is bit-identical to an uninterrupted fit on CPU.
        """
        if len(x) != len(y):
            raise ArgumentError(f"x has {len(x)} rows but y has {len(y)}")
        start_epoch, start_batch, step = self._resume() if resume else (0, 0, 0)
        n_batches = -(-len(x) // self.batch_size)
        history = []
        for epoch in range(start_epoch, epochs):
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed + epoch))
            bar = tqdm(
                total=n_batches,
                initial=start_batch,
                desc=f"epoch {epoch + 1}/{epochs}",
                disable=not self.progress,
            )
            losses = []
            batches = self._batches(x, y, order, range(start_batch, n_batches))
            source = _Prefetcher(batches, self.prefetch) if self.prefetch else batches
            try:
                for batch, xb, yb in source:
                    self._meter.reset()
                    began = time.perf_counter()
                    loss, grads = self._step(xb, yb)
                    seconds = time.perf_counter() - began
                    losses.append(loss)
                    self._log_step(step, epoch, len(xb), loss, grads, seconds)
                    step += 1
                    if self.checkpoint_every and step % self.checkpoint_every == 0 and batch + 1 < n_batches:
                        self._checkpoint(step, epoch, batch + 1)
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}")
            finally:
                if isinstance(source, _Prefetcher):
                    source.close()
            bar.close()
            start_batch = 0
            summary = {"epoch": float(epoch), "loss": float(np.mean(losses)) if losses else float("nan")}
            if validation_data is not None:
                values = self.evaluate(
                    *validation_data,
                    backend=self.validation_backend,
                    shots=self.validation_shots,
                    seed=self.seed + epoch,
                )
                summary.update({f"val_{k}": v for k, v in values.items()})
                if self.run is not None:
                    self.run.log(
                        step - 1,
                        epoch=epoch,
                        phase="validation",
                        backend=self.validation_backend or self._meter.backend,
                        **values,
                    )
            self._checkpoint(step, epoch + 1, 0)
            history.append(summary)
        return history

    def _batches(
        self, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor, batches: range
    ) -> Iterator[Batch]:
        """``(batch index, inputs, targets)`` of each batch, gathered in ``order``."""
        for batch in batches:
            idx = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            yield batch, x[idx], y[idx]

    def _log_step(
        self, step: int, epoch: int, rows: int, loss: float, grads: dict[str, float], seconds: float
    ) -> None:
        if self.run is None:
            return
        meter = self._meter
        backend = meter.backend
        storage = self.run.storage_seconds
        self.run.log(
            step,
            epoch=epoch,
            backend=backend,
            loss=loss,
            **grads,
            circuits=meter.circuits,
            qubits=meter.qubits,
            shots=meter.shots,
            circuit_seconds=meter.seconds,
            queue_seconds=0.0,
            step_seconds=seconds,
            cost_usd=meter.cost,
            samples_per_s=rows / seconds if seconds > 0 else float("nan"),
            storage_seconds=self._last_storage,
        )
        if meter.cost:
            self.run.charge(step, backend, meter.circuits, meter.shots, meter.cost)
        self._last_storage = self.run.storage_seconds - storage

    def evaluate(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        backend: str | None = None,
        shots: int | None = None,
        seed: int | None = None,
    ) -> dict[str, float]:
        """``loss`` and every metric on ``(x, y)``, optionally on another backend with shots."""
        outputs = self.predict(x, backend=backend, shots=shots, seed=seed)
        values = {"loss": float(self.loss(outputs, y))}
        values.update({name: float(fn(outputs, y)) for name, fn in self.metrics.items()})
        return values

    def predict(
        self,
        x: torch.Tensor,
        *,
        backend: str | None = None,
        shots: int | None = None,
        seed: int | None = None,
    ) -> torch.Tensor:
        """Model outputs for ``x`` without gradients; on ``backend``/``shots`` when given."""
        model = (
            self.model
            if backend is None and shots is None
            else on_backend(self.model, backend or "torch", shots, seed)
        )
        model.eval()
        with torch.no_grad():
            return model(x)
