"""The main job: train the hybrid digits classifier as a durable run, interrupt it, resume it, report.

Steps: an 8-qubit `QuantumLayer` + linear head trains on the torch engine with `qstore.torch.Trainer`,
validating each epoch on a second backend (``numpy`` with shots); metrics go to Parquet, checkpoints
to zarr, under ``runs/<name>/``. After ``--interrupt-after`` epochs the process "dies" (the run is
closed as interrupted and the objects dropped); a fresh model and optimizer then resume from the last
checkpoint and finish. The quantum features of the training set go to the run's vector store, and
the script prints the report, the nearest training samples of a test digit and the plot's path::

    python examples/train_run.py --epochs 4 --interrupt-after 2
    qstore runs show digits            # the same report, from disk
    qstore runs plot digits --out runs/digits/loss.png
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from qstore.core.runs import Run, plot_run
from qstore.torch import QuantumLayer, Trainer

N_QUBITS = 8


def load(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits standardised and PCA-reduced to 8 unit-variance features, as train/test tensors."""
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    features = make_pipeline(StandardScaler(), PCA(N_QUBITS, whiten=True, random_state=seed))
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return (
        as_tensor(features.fit_transform(x_train)),
        torch.tensor(y_train),
        as_tensor(features.transform(x_test)),
        torch.tensor(y_test),
    )


def build(depth: int, lr: float, seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """QuantumLayer(8 qubits, X/Z readouts) -> Linear(16, 10), and its Adam optimizer."""
    torch.manual_seed(seed)
    model = nn.Sequential(QuantumLayer(N_QUBITS, depth=depth, bases="XZ"), nn.Linear(2 * N_QUBITS, 10))
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def main() -> None:
    """Train (with an interruption and a resume), then print the report and where the plot is."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="digits")
    parser.add_argument("--root", default="runs")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--interrupt-after", type=int, default=2, help="epochs before the simulated crash")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--shots", type=int, default=1000, help="shots of the validation backend")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shutil.rmtree(Path(args.root) / args.name, ignore_errors=True)  # the demo starts a fresh run
    x_train, y_train, x_test, y_test = load(args.seed)
    config = {k: v for k, v in vars(args).items() if k not in ("name", "root")}
    options = dict(
        batch_size=args.batch_size,
        seed=args.seed,
        checkpoint_every=10,
        validation_backend="numpy",
        validation_shots=args.shots,
    )

    run = Run.start(args.name, root=args.root, config=config, seed=args.seed, framework="torch")
    model, optimizer = build(args.depth, args.lr, args.seed)
    print(f"run {run.name} in {run.folder}; storage {run.manifest.storage}")
    Trainer(model, optimizer, nn.CrossEntropyLoss(), run=run, **options).fit(
        x_train, y_train, epochs=args.interrupt_after, validation_data=(x_test, y_test)
    )
    run.close("interrupted")
    print(f"-- interrupted after epoch {args.interrupt_after}; resuming from the last checkpoint --")

    run = Run.start(args.name, root=args.root, resume=True)
    model, optimizer = build(args.depth, args.lr, args.seed + 1)  # fresh objects: the checkpoint wins
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), run=run, **options)
    trainer.fit(x_train, y_train, epochs=args.epochs, validation_data=(x_test, y_test), resume=True)

    quantum = model[0]
    with torch.no_grad():
        run.add_embeddings(range(len(x_train)), quantum(x_train).numpy())
        ids, distances = run.nearest(quantum(x_test[:1]).numpy(), 5)
    print(
        f"test digit {int(y_test[0])}: nearest training samples in quantum-feature space are digits "
        f"{[int(y_train[i]) for i in ids[0]]} (squared distances {np.round(distances[0], 3).tolist()})"
    )
    print(run.report().table())
    run.close()
    print(f"plot: {plot_run(run.folder, run.folder / 'loss.png')}")
    print(f"inspect with: qstore runs show {args.name}   and   qstore runs plot {args.name} --out loss.png")


if __name__ == "__main__":
    main()
