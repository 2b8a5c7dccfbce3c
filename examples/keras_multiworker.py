"""Train a Keras model with a QuantumLayer on two local workers with MultiWorkerMirroredStrategy.

Run ``python examples/keras_multiworker.py``: it starts two worker processes on loopback
(``TF_CONFIG`` with ``127.0.0.1`` ports), each builds the same model inside
``tf.distribute.MultiWorkerMirroredStrategy`` and trains on its shard of every global batch with a
``strategy.run`` step (Keras 3's ``model.fit`` does not drive this strategy, keras-team/keras#20585);
gradients are all-reduced over gRPC, so both workers end with identical weights. The launcher
prints each worker's losses, checks that their weights agree, and that the losses equal plain
``model.fit`` in one process. On a real cluster, set
``TF_CONFIG`` on each machine and run only the worker part (``--worker <index>``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from typing import Any

N_WORKERS = 2
GLOBAL_BATCH = 32


def free_ports(count: int) -> list[int]:
    """Ports the OS reports free on 127.0.0.1."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def make_data() -> tuple[Any, Any]:
    """128 points in [-π, π]^4 labelled by the sign of cos(x0)·cos(x1)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(-np.pi, np.pi, size=(128, 4)).astype("float32")
    return x, (np.cos(x[:, :1]) * np.cos(x[:, 1:2]) > 0).astype("float32")


def make_model() -> Any:
    """The same seeded model everywhere: a 4-qubit QuantumLayer and a sigmoid Dense head."""
    import keras

    from qstore.tf import QuantumLayer

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((4,)), QuantumLayer(4, depth=2, bases="XZ"), keras.layers.Dense(1, activation="sigmoid")]
    )


def single_process(epochs: int) -> list[float]:
    """The same training with ``model.fit`` in this process, for comparison."""
    import keras

    x, y = make_data()
    model = make_model()
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    return model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=epochs, shuffle=False, verbose=0).history["loss"]


def worker(index: int, ports: list[int], epochs: int) -> None:
    """One worker: join the cluster, train, print a JSON line with its losses and weights."""
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    )
    import keras
    import numpy as np
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    x, y = make_data()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH).with_options(options)
    batches = strategy.experimental_distribute_dataset(data)
    with strategy.scope():
        model = make_model()
        optimizer = keras.optimizers.Adam(0.05)

    def replica_step(features: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            per_example = keras.losses.binary_crossentropy(labels, model(features, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(batch: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        return strategy.reduce("SUM", strategy.run(replica_step, args=batch), axis=None)

    losses = []
    for _ in range(epochs):
        total = sum(float(train_step(batch)) for batch in batches)
        losses.append(total / (len(x) // GLOBAL_BATCH))
    weights = np.concatenate([w.reshape(-1) for w in model.get_weights()])
    print(
        json.dumps(
            {
                "worker": index,
                "replicas": strategy.num_replicas_in_sync,
                "loss": [round(v, 6) for v in losses],
                "weights": weights.tolist(),
            }
        ),
        flush=True,
    )


def launch(epochs: int, timeout: float) -> int:
    """Start the workers, collect their reports, and check they trained in lockstep."""
    ports = free_ports(N_WORKERS)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                str(i),
                "--ports",
                ",".join(map(str, ports)),
                "--epochs",
                str(epochs),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(N_WORKERS)
    ]
    reports = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                print(f"worker exited with {proc.returncode}", file=sys.stderr)
                return 1
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for r in reports:
        print(f"worker {r['worker']}: {r['replicas']} replicas in sync, loss per epoch {r['loss']}")
    spread = max(abs(a - b) for a, b in zip(reports[0]["weights"], reports[1]["weights"], strict=True))
    reference = single_process(epochs)
    gap = max(abs(a - b) for a, b in zip(reports[0]["loss"], reference, strict=True))
    print(f"one process, model.fit: loss per epoch {[round(v, 6) for v in reference]}")
    print(
        json.dumps(
            {"workers": N_WORKERS, "max_weight_difference": spread, "max_loss_gap_vs_one_process": gap}
        )
    )
    return 0 if spread < 1e-6 and gap < 1e-4 else 1


def main() -> int:
    """Launcher by default; ``--worker i --ports a,b`` runs one worker."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=int)
    parser.add_argument("--ports", type=lambda s: [int(p) for p in s.split(",")])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.worker is not None:
        worker(args.worker, args.ports, args.epochs)
        return 0
    return launch(args.epochs, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
