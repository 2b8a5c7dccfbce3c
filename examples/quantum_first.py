"""The quantum-first classifier on scikit-learn's digits, next to QuantumLayer + Linear and an MLP.

Quantum-first (every trainable stage but one bias-free projection is a circuit)::

    EncodingLayer(8, "none")         standardised PCA(8) components used as angles as they are
    QuantumFeatureExtractor(8)       (B, 8) -> (B, 24): X, Y, Z of 8 qubits after --depth layers
    DecodingLayer(24, units=8)       per-feature scale + bias-free projection back to 8 angles
    QuantumNonlinearity(8, "phase_damping")   √(1-γ)·sin x as the activation (trainable rates)
    QuantumPooling(8, keep=4)        measurement pooling to 4 qubits
    QuantumReadout(10, n_qubits=4)   class probabilities from the basis states of 4 qubits

compared with ``QuantumLayer(8, bases="XYZ") + Linear(24, 10)`` and a tanh MLP 8 -> h -> 10 whose
parameter count is closest to the quantum-first model's. All train with Adam on the same split and
print parameter counts and test accuracies.

Two choices matter for the quantum-first model (seed 0, 10 epochs: 0.65 -> 0.72): rows are not
l2-normalised (the norm of a digit's PCA vector is information, and the other two models see it),
and the activation is phase damping read in X, ``√(1-γ)·sin x``, which keeps the sign of its input,
where amplitude damping read in Z, ``γ + (1-γ)·cos x``, is even and maps ``x`` and ``-x`` together.

    python examples/quantum_first.py --epochs 10
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch_digits import fit, load, matching_hidden, n_parameters

from qstore.torch import (
    DecodingLayer,
    EncodingLayer,
    QuantumFeatureExtractor,
    QuantumLayer,
    QuantumNonlinearity,
    QuantumPooling,
    QuantumReadout,
)

N_FEATURES = 8
N_CLASSES = 10


class LogProbabilities(nn.Module):
    """``log p`` of class probabilities, for ``nn.NLLLoss`` (clamped away from log 0)."""

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return torch.log(p.clamp_min(1e-9))


def quantum_first_model(depth: int) -> nn.Module:
    """Encoding -> feature extractor -> (decoding) -> nonlinearity -> pooling -> readout, as log p."""
    return nn.Sequential(
        EncodingLayer(N_FEATURES, normalize="none"),
        QuantumFeatureExtractor(N_FEATURES, depth=depth),
        DecodingLayer(3 * N_FEATURES, units=N_FEATURES),
        QuantumNonlinearity(N_FEATURES, "phase_damping"),
        QuantumPooling(N_FEATURES, keep=4, method="measure"),
        QuantumReadout(N_CLASSES, n_qubits=4, depth=depth),
        LogProbabilities(),
    )


def hybrid_model(depth: int) -> nn.Module:
    """QuantumLayer (8 qubits, X/Y/Z readouts) followed by a linear head (log-softmax)."""
    layer = QuantumLayer(N_FEATURES, depth=depth, bases="XYZ")
    return nn.Sequential(layer, nn.Linear(layer.n_outputs, N_CLASSES), nn.LogSoftmax(dim=1))


def classical_model(hidden: int) -> nn.Module:
    """An MLP 8 -> hidden -> 10 (log-softmax)."""
    return nn.Sequential(
        nn.Linear(N_FEATURES, hidden), nn.Tanh(), nn.Linear(hidden, N_CLASSES), nn.LogSoftmax(dim=1)
    )


def main() -> None:
    """Train the three models and print parameters, test accuracies and training time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load(args.seed)
    torch.manual_seed(args.seed)
    first = quantum_first_model(args.depth)
    hybrid = hybrid_model(args.depth)
    hidden = matching_hidden(n_parameters(first))
    classical = classical_model(hidden)
    rows = []
    for label, model in (
        ("quantum-first (8 -> 4 qubits)", first),
        ("QuantumLayer(8) + Linear", hybrid),
        (f"MLP 8-{hidden}-10 (tanh)", classical),
    ):
        start = time.perf_counter()
        acc = fit(model, data, args.epochs, args.batch_size, args.lr, label, nn.NLLLoss())
        rows.append((label, n_parameters(model), acc, time.perf_counter() - start))
    print(f"{'model':<32}{'parameters':>11}{'test accuracy':>15}{'train s':>9}")
    for label, params, acc, seconds in rows:
        print(f"{label:<32}{params:>11}{acc:>15.3f}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
