"""``model.fit`` under tf.distribute: two mirrored CPU replicas train exactly like one device.

Logical devices must be configured before TensorFlow initialises, so each check runs in a fresh
interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MIRRORED = """
import json, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from qstore.tf import QuantumLayer

rng = np.random.default_rng(0)
x = rng.uniform(-3, 3, size=(64, 3)).astype("float32")
y = np.cos(x[:, :1]) * np.sin(x[:, 1:2])

def build():
    return keras.Sequential([keras.Input((3,)), QuantumLayer(3, depth=2, bases="XZ"), keras.layers.Dense(1)])

keras.utils.set_random_seed(0)
initial = build().get_weights()

def train(strategy):
    with strategy.scope():
        model = build()
        model.set_weights(initial)
        model.compile(keras.optimizers.SGD(0.2), "mse")
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]
    return model, history

one, h1 = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
two, h2 = train(mirrored)
diff = max(float(np.abs(a - b).max()) for a, b in zip(one.get_weights(), two.get_weights()))
moved = max(float(np.abs(a - b).max()) for a, b in zip(one.get_weights(), initial))
print(json.dumps({"replicas": mirrored.num_replicas_in_sync, "max_weight_diff": diff, "moved": moved,
                  "loss_one": h1, "loss_two": h2}))
"""


def _run(code: str, timeout: float) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_equals_one_device() -> None:
    report = _run(MIRRORED, timeout=300)
    assert report["replicas"] == 2
    assert report["moved"] > 1e-3, "training did not change the weights"
    assert report["max_weight_diff"] < 1e-5, report
    assert report["loss_two"] == pytest.approx(report["loss_one"], abs=1e-5)


@pytest.mark.slow
def test_multiworker_example_trains_in_lockstep_with_one_process() -> None:
    script = ROOT / "examples" / "keras_multiworker.py"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, str(script), "--epochs", "1", "--timeout", "300"],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["workers"] == 2
    assert report["max_weight_difference"] < 1e-6
    assert report["max_loss_gap_vs_one_process"] < 1e-4
