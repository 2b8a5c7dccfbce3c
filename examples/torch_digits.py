"""Hybrid quantum classifier on scikit-learn's digits, next to a classical model of equal size.

Pipeline: standardise the 64 pixels, PCA to 8 features (standardised again), an 8-qubit
`qstore.torch.QuantumLayer` (angle encoding, ``--depth`` RY/RZ + CNOT layers, X/Y/Z readouts of
every qubit) and a linear head to 10 classes. The classical baseline is an MLP 8 → 16 → 10, which
has exactly as many trainable parameters (314 at the default depth 4). Both train with Adam on
the same split; the script prints both test accuracies. The dataset ships with scikit-learn.

    python examples/torch_digits.py --epochs 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn
from tqdm import tqdm

from qstore.torch import QuantumLayer

N_QUBITS = 8


def load(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train/test tensors: standardised pixels -> PCA(8) -> standardised components."""
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    pixels = StandardScaler().fit(x_train)
    pca = PCA(N_QUBITS, random_state=seed).fit(pixels.transform(x_train))
    components = StandardScaler().fit(pca.transform(pixels.transform(x_train)))

    def features(x: np.ndarray) -> torch.Tensor:
        return torch.tensor(components.transform(pca.transform(pixels.transform(x))), dtype=torch.float32)

    return features(x_train), torch.tensor(y_train), features(x_test), torch.tensor(y_test)


def quantum_model(depth: int) -> nn.Module:
    """QuantumLayer (8 qubits, X/Y/Z readouts) followed by a linear head."""
    layer = QuantumLayer(N_QUBITS, depth=depth, entanglement="linear", encoding="angle", bases="XYZ")
    return nn.Sequential(layer, nn.Linear(layer.n_outputs, 10))


def classical_model(hidden: int) -> nn.Module:
    """An MLP 8 -> hidden -> 10."""
    return nn.Sequential(nn.Linear(N_QUBITS, hidden), nn.Tanh(), nn.Linear(hidden, 10))


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def matching_hidden(target: int) -> int:
    """The MLP width whose parameter count (19·h + 10) is closest to ``target``."""
    return max(1, round((target - 10) / 19))


def fit(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    epochs: int,
    batch_size: int,
    lr: float,
    label: str,
    loss_fn: nn.Module | None = None,
) -> float:
    """Train with Adam on ``loss_fn`` (default cross-entropy); returns test accuracy."""
    x_train, y_train, x_test, y_test = data
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    bar = tqdm(range(epochs), desc=label, unit="epoch")
    for _ in bar:
        model.train()
        order = torch.randperm(len(x_train))
        total = 0.0
        for start in range(0, len(x_train), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        bar.set_postfix(loss=f"{total / len(x_train):.3f}", test_acc=f"{accuracy(model, x_test, y_test):.3f}")
    return accuracy(model, x_test, y_test)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of correct argmax predictions."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def main() -> None:
    """Train both models and print their test accuracies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load(args.seed)
    torch.manual_seed(args.seed)
    quantum = quantum_model(args.depth)
    hidden = matching_hidden(n_parameters(quantum))
    classical = classical_model(hidden)
    start = time.perf_counter()
    q_acc = fit(quantum, data, args.epochs, args.batch_size, args.lr, "quantum  ")
    q_time = time.perf_counter() - start
    start = time.perf_counter()
    c_acc = fit(classical, data, args.epochs, args.batch_size, args.lr, "classical")
    c_time = time.perf_counter() - start
    print(f"{'model':<34}{'parameters':>11}{'test accuracy':>15}{'train s':>9}")
    print(f"{'QuantumLayer(8 qubits) + Linear':<34}{n_parameters(quantum):>11}{q_acc:>15.3f}{q_time:>9.1f}")
    print(f"{f'MLP 8-{hidden}-10 (tanh)':<34}{n_parameters(classical):>11}{c_acc:>15.3f}{c_time:>9.1f}")


if __name__ == "__main__":
    main()
