"""qstore.tf.callbacks: Keras fit writes the run format the torch Trainer writes, and resumes."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from qstore.core.runs import SCHEMA, Run, load_report
from qstore.tf import QuantumLayer
from qstore.tf.callbacks import RunCheckpoint, RunLogger

pytest.importorskip("pyarrow")
pytest.importorskip("zarr")


def data() -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def build() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), QuantumLayer(3, depth=1, bases="Z"), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model: keras.Model, run: Run, epochs: int) -> keras.callbacks.History:
    x, y = data()
    callbacks = [RunLogger(run, batch_size=8), RunCheckpoint(run)]
    return model.fit(
        x,
        y,
        batch_size=8,
        epochs=epochs,
        shuffle=False,
        validation_data=(x, y),
        verbose=0,
        callbacks=callbacks,
    )


def test_keras_rows_follow_the_schema_and_the_report_reads_them(tmp_path: Path) -> None:
    with Run.start("k", root=tmp_path, framework="keras") as run:
        fit(build(), run, epochs=2)
        rows = run.metrics()
    train = [r for r in rows if r["phase"] == 0.0]
    assert [r["step"] for r in train] == list(range(8)) and [r["epoch"] for r in train] == [0.0] * 4 + [
        1.0
    ] * 4
    assert (
        {"loss", "accuracy", "circuits", "qubits", "step_seconds"}
        <= set(train[0])
        <= set(SCHEMA) | {"accuracy"}
    )
    assert train[0]["circuits"] == 8 and train[0]["qubits"] == 3
    assert len([r for r in rows if r["phase"] == 1.0]) == 2
    report = load_report(tmp_path / "k")
    assert report.framework == "keras" and report.steps == 8 and report.epochs == 2
    assert set(report.final["validation"]) == {"loss", "accuracy"}


def test_run_checkpoint_restores_and_skips_the_epochs_done(tmp_path: Path) -> None:
    with Run.start("straight", root=tmp_path) as run:
        straight = build()
        fit(straight, run, epochs=2)
    with Run.start("split", root=tmp_path) as run:
        fit(build(), run, epochs=1)
    with Run.start("split", root=tmp_path, resume=True) as run:
        resumed = build()
        resumed.layers[0].set_weights([np.zeros_like(w) for w in resumed.layers[0].get_weights()])
        history = fit(resumed, run, epochs=2)
    assert len(history.history["loss"]) == 1  # epoch 1 was restored, only epoch 2 ran
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert load_report(tmp_path / "split").steps == 8
