"""Keras callbacks writing to a `qstore.core.runs.Run`, the same format as the torch `Trainer`.

    run = Run.start("digits-keras", framework="keras", resume=True)
    model.fit(x, y, epochs=10, validation_split=0.1,
              callbacks=[RunLogger(run), RunCheckpoint(run)])

`RunLogger` logs one row per batch (loss and compiled metrics, step seconds, samples/s, circuits,
qubits, shots, backend) and one validation row per epoch. `RunCheckpoint` saves the model's weights
and the optimizer's variables at every epoch end and, like ``keras.callbacks.BackupAndRestore``,
restores the last checkpoint when training begins and makes ``fit`` start at the epoch after it.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np

from qstore.core.errors import ArgumentError
from qstore.core.runs import Run
from qstore.tf.layers import QuantumLayer

__all__ = ["RunCheckpoint", "RunLogger"]


def _quantum_layers(model: keras.Model) -> list[QuantumLayer]:
    return [layer for layer in model.layers if isinstance(layer, QuantumLayer)]


class RunLogger(keras.callbacks.Callback):
    """Log every training batch and every epoch's validation metrics to ``run``."""

    def __init__(self, run: Run, batch_size: int | None = None) -> None:
        super().__init__()
        self.run = run
        self.batch_size = batch_size
        self._epoch = 0
        self._step = 0
        self._began = 0.0
        self._last_storage = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Number this epoch's steps from ``epoch * steps``, so a restored fit continues the count."""
        self._epoch = epoch
        steps = self.params.get("steps")
        if steps:
            self._step = epoch * steps

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Start the step timer."""
        self._began = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Log the batch's loss and metrics with timing and circuit counts."""
        seconds = time.perf_counter() - self._began
        layers = _quantum_layers(self.model)
        rows = self.batch_size or 0
        values = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
        storage = self.run.storage_seconds
        self.run.log(
            self._step,
            epoch=self._epoch,
            backend="+".join(sorted({layer.spec.backend.name for layer in layers})) or "classical",
            step_seconds=seconds,
            storage_seconds=self._last_storage,
            circuits=float(rows * len(layers)) if rows else float("nan"),
            qubits=float(max((layer.spec.circuit.circuit.n_qubits for layer in layers), default=0)),
            shots=float(sum(layer.spec.shots or 0 for layer in layers)),
            samples_per_s=rows / seconds if rows and seconds > 0 else float("nan"),
            **values,
        )
        self._last_storage = self.run.storage_seconds - storage
        self._step += 1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Log the epoch's ``val_*`` metrics as a validation row (names without the prefix)."""
        values = {k.removeprefix("val_"): float(v) for k, v in (logs or {}).items() if k.startswith("val_")}
        if values:
            self.run.log(self._step - 1, epoch=epoch, phase="validation", **values)


class RunCheckpoint(keras.callbacks.Callback):
    """Checkpoint weights and optimizer variables to ``run`` every ``every_epochs`` epochs; with
    ``restore=True`` (default) load the last checkpoint at ``fit`` start and skip the epochs done."""

    def __init__(self, run: Run, every_epochs: int = 1, restore: bool = True) -> None:
        super().__init__()
        if isinstance(every_epochs, bool) or not isinstance(every_epochs, int) or every_epochs < 1:
            raise ArgumentError(f"every_epochs must be a positive integer, got {every_epochs!r}")
        self.run, self.every_epochs, self.restore = run, every_epochs, restore

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Restore the run's last checkpoint, as ``BackupAndRestore`` does with its backup."""
        if not self.restore:
            return
        checkpoint = self.run.latest_checkpoint()
        if checkpoint is None:
            return
        model = self.model
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        weights = [checkpoint.arrays[f"weight.{i}"] for i in range(checkpoint.metadata["n_weights"])]
        model.set_weights(weights)
        if model.optimizer is not None:
            for i, variable in enumerate(model.optimizer.variables):
                variable.assign(checkpoint.arrays[f"optimizer.{i}"])
        model._initial_epoch = checkpoint.metadata["epoch"]  # what BackupAndRestore sets

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Save weights and optimizer variables after every ``every_epochs``-th epoch."""
        if (epoch + 1) % self.every_epochs:
            return
        weights = self.model.get_weights()
        arrays = {f"weight.{i}": np.asarray(w) for i, w in enumerate(weights)}
        if self.model.optimizer is not None:
            arrays.update(
                {f"optimizer.{i}": np.asarray(v) for i, v in enumerate(self.model.optimizer.variables)}
            )
        self.run.checkpoint(f"epoch-{epoch + 1:06d}", arrays, {"epoch": epoch + 1, "n_weights": len(weights)})
